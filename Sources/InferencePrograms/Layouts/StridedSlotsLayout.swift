public import CKKS

/// The generic layout of compiled networks (`strided_slots`, docs/api.md): every position is an
/// affine function of the sample, feature and score indices, so a client reads it from the
/// description alone.
///
/// With b = ``samplesPerCiphertext`` (a power of two) and P = ``inputPeriod``, feature f of sample
/// j sits at slot `f·b + j`, and the whole pattern repeats every P slots across all N/2 slots (the
/// linear layers rotate the vector, and each copy supplies the wrap-around of the one before it).
/// Score c of sample j comes back at slot `c·b + j` (``classStride`` = b, ``sampleStride`` = 1).
/// With b = 1 a ciphertext holds one sample (lowest latency); larger b interleaves samples, which
/// share every rotation (highest throughput).
///
/// With ``copyRotation`` 1, copy t of the pattern (slots t·P ..< (t + 1)·P) is rotated left by t
/// features: feature f of sample j sits at slot `t·P + ((f − t) mod (P / b))·b + j`. The copies
/// then are the baby steps of the first linear layer (``LinearTransformation``'s rotated copies),
/// which the server no longer computes.
public struct StridedSlotsLayout: Sendable, Equatable {
  public let slotCount: Int
  public let inputDimension: Int
  public let outputDimension: Int
  /// b: samples per ciphertext, interleaved slot by slot.
  public let samplesPerCiphertext: Int
  /// P: slots after which the input pattern repeats (the padded input dimension times b).
  public let inputPeriod: Int
  /// Features by which copy t is rotated left, per t: 0 (copies alike) or 1.
  public let copyRotation: Int

  /// - Precondition: `samplesPerCiphertext` and `inputPeriod / samplesPerCiphertext` are powers
  ///   of two, `inputPeriod ≥ inputDimension · samplesPerCiphertext`, `inputPeriod` divides
  ///   `slotCount`, and `copyRotation` is 0 or 1.
  public init(
    slotCount: Int, inputDimension: Int, outputDimension: Int, samplesPerCiphertext: Int, inputPeriod: Int,
    copyRotation: Int = 0
  ) {
    precondition(samplesPerCiphertext >= 1 && samplesPerCiphertext & (samplesPerCiphertext - 1) == 0)
    precondition(inputPeriod >= inputDimension * samplesPerCiphertext && slotCount % inputPeriod == 0)
    precondition((0...1).contains(copyRotation))
    self.copyRotation = copyRotation
    self.slotCount = slotCount
    self.inputDimension = inputDimension
    self.outputDimension = outputDimension
    self.samplesPerCiphertext = samplesPerCiphertext
    self.inputPeriod = inputPeriod
  }

  /// Slots between feature f and f + 1 of a sample (b).
  public var featureStride: Int { samplesPerCiphertext }
  /// Slots between score c and c + 1 of a sample (b).
  public var classStride: Int { samplesPerCiphertext }

  /// The slot vector holding `samples` (each of `inputDimension` values), repeated with period P.
  public func inputSlots(_ samples: [[Double]]) -> [Double] {
    precondition(samples.count <= samplesPerCiphertext)
    var slots = [Double](repeating: 0, count: slotCount)
    let width = inputPeriod / samplesPerCiphertext
    for copy in 0..<(slotCount / inputPeriod) {
      let start = copy * inputPeriod
      let rotation = copy * copyRotation
      for (j, sample) in samples.enumerated() {
        for (f, x) in sample.enumerated() {
          slots[start + ((f - rotation) % width + width) % width * featureStride + j] = x
        }
      }
    }
    return slots
  }

  /// Reads the scores of the first `count` samples from decoded slots.
  public func scores(fromSlots slots: [Double], count: Int) -> [[Double]] {
    (0..<count).map { j in (0..<outputDimension).map { slots[$0 * classStride + j] } }
  }
}

extension StridedSlotsLayout: SampleLayout {
  public var layoutDescription: LayoutDescription {
    LayoutDescription(
      kind: .stridedSlots, samplesPerCiphertext: samplesPerCiphertext, sampleStride: 1, resultOffset: 0,
      classStride: classStride, inputPeriod: inputPeriod, featureStride: featureStride,
      copyRotation: copyRotation == 0 ? nil : copyRotation)
  }

  public func encode(_ samples: [[Double]], with encoder: CKKSEncoder, scale: Double, level: Int)
    throws(EncodingError) -> [Plaintext]
  {
    [try encoder.encode(inputSlots(samples), scale: scale, level: level)]
  }

  public func scores(in plaintext: Plaintext, with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    scores(fromSlots: encoder.decode(plaintext), count: count)
  }
}
