public import CKKS

/// Where samples and scores sit in the slots of a `slot_mlp` model (docs/api.md).
///
/// With m the smallest power of two ≥ max(inputs, hidden, outputs), sample b owns the 2m slots
/// starting at `b·2m`; the client writes feature i at `b·2m + i` **and** at `b·2m + m + i`. The
/// copy lets a rotation by k < m read features `i + k` of the same sample for every row i < m,
/// so a layer is Σ_k diag_k ⊙ rot(x, k) (the diagonal method) with no wrap into the next sample.
/// Score c of sample b comes back in slot `b·2m + c`.
public struct SlotMLPLayout: Sendable, Equatable {
  public let slotCount: Int
  public let inputDimension: Int
  public let hiddenDimension: Int
  public let outputDimension: Int

  public init(slotCount: Int, inputDimension: Int, hiddenDimension: Int, outputDimension: Int) {
    self.slotCount = slotCount
    self.inputDimension = inputDimension
    self.hiddenDimension = hiddenDimension
    self.outputDimension = outputDimension
  }

  /// m: the power of two every layer's rows and columns fit in.
  public var width: Int {
    var m = 1
    while m < max(inputDimension, hiddenDimension, outputDimension) { m *= 2 }
    return m
  }
  /// Slots per sample: 2m.
  public var sampleStride: Int { 2 * width }
  /// Samples one ciphertext holds.
  public var samplesPerCiphertext: Int { slotCount / sampleStride }

  /// The slot vector holding `samples` (each of length `inputDimension`), with the replica.
  public func inputSlots(_ samples: [[Double]]) -> [Double] {
    precondition(samples.count <= samplesPerCiphertext)
    var slots = [Double](repeating: 0, count: slotCount)
    for (b, sample) in samples.enumerated() {
      for (i, x) in sample.enumerated() {
        slots[b * sampleStride + i] = x
        slots[b * sampleStride + width + i] = x
      }
    }
    return slots
  }

  /// The slot of score c of sample b.
  public func scoreIndex(sample b: Int, score c: Int) -> Int { b * sampleStride + c }

  /// Reads the scores of the first `count` samples from decoded slots.
  public func scores(fromSlots slots: [Double], count: Int) -> [[Double]] {
    (0..<count).map { b in (0..<outputDimension).map { slots[scoreIndex(sample: b, score: $0)] } }
  }
}

extension SlotMLPLayout: SampleLayout {
  public var layoutDescription: LayoutDescription {
    LayoutDescription(
      kind: .slotMLP, samplesPerCiphertext: samplesPerCiphertext, sampleStride: sampleStride, resultOffset: 0,
      classStride: 1, inputReplicaOffset: width)
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
