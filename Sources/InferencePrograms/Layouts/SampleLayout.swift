public import CKKS

/// Where a model's samples sit in an input ciphertext and its scores in a result: the arithmetic
/// that server and client must do identically. A layout is sent on the wire as a
/// ``LayoutDescription`` and rebuilt from it with ``LayoutDescription/layout(degree:inputDimension:outputDimension:)``.
public protocol SampleLayout: Sendable {
  /// Features per sample.
  var inputDimension: Int { get }
  /// Scores per sample.
  var outputDimension: Int { get }
  /// Samples one group of ``ciphertextsPerGroup`` input ciphertexts holds (0 when a sample does
  /// not fit); a group is one ciphertext in every layout but ``ImageBatchLayout``.
  var samplesPerCiphertext: Int { get }
  /// Input ciphertexts that together hold ``samplesPerCiphertext`` samples (1 by default).
  var ciphertextsPerGroup: Int { get }
  /// Result ciphertexts one group gives (1 by default).
  var resultsPerGroup: Int { get }
  /// The layout's fields as the contract's `encrypted_layout` carries them.
  var layoutDescription: LayoutDescription { get }

  /// Encodes up to ``samplesPerCiphertext`` samples, each of ``inputDimension`` values, into the
  /// ``ciphertextsPerGroup`` plaintexts of one group, in order.
  /// - Throws: `EncodingError` when the values do not fit at `scale` and `level`.
  func encode(_ samples: [[Double]], with encoder: CKKSEncoder, scale: Double, level: Int) throws(EncodingError)
    -> [Plaintext]

  /// The scores of the first `count` samples of a decrypted result (one result per group).
  func scores(in plaintext: Plaintext, with encoder: CKKSEncoder, count: Int) -> [[Double]]

  /// The scores of the first `count` samples of a group's decrypted results (``resultsPerGroup``
  /// of them, in order).
  func scores(inResults plaintexts: [Plaintext], with encoder: CKKSEncoder, count: Int) -> [[Double]]
}

extension SampleLayout {
  public var ciphertextsPerGroup: Int { 1 }

  public var resultsPerGroup: Int { 1 }

  public func scores(inResults plaintexts: [Plaintext], with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    precondition(plaintexts.count == resultsPerGroup, "a group has \(resultsPerGroup) results")
    return scores(in: plaintexts[0], with: encoder, count: count)
  }

  /// Groups needed for `batchSize` samples (one result ciphertext each).
  public func groupCount(batchSize: Int) -> Int {
    (batchSize + samplesPerCiphertext - 1) / samplesPerCiphertext
  }

  /// Input ciphertexts needed for `batchSize` samples.
  public func ciphertextCount(batchSize: Int) -> Int {
    groupCount(batchSize: batchSize) * ciphertextsPerGroup
  }
}

/// A layout as the contract describes it (`encrypted_layout`: `kind`, strides and offsets).
public struct LayoutDescription: Sendable, Equatable {
  /// The layouts this library knows, by their contract names.
  public enum Kind: String, Sendable, CaseIterable {
    /// ``CoefficientLinearLayout``.
    case coefficientLinear = "coefficient_linear"
    /// ``SlotMLPLayout``.
    case slotMLP = "slot_mlp"
    /// ``ImageWindowsLayout``.
    case imageWindows = "image_windows"
    /// ``ImageBatchLayout``.
    case imageBatch = "image_batch"
    /// ``StridedSlotsLayout``: compiled networks.
    case stridedSlots = "strided_slots"
  }

  /// ``ImageWindowsLayout`` and ``ImageBatchLayout``: a square image and the convolution windows
  /// it is cut into.
  public struct ImageGeometry: Sendable, Equatable {
    /// Pixels per side.
    public var side: Int
    /// Kernel size (pixels per side of a window).
    public var kernel: Int
    /// Pixels between the starts of neighbouring windows.
    public var stride: Int

    public init(side: Int, kernel: Int, stride: Int) {
      self.side = side
      self.kernel = kernel
      self.stride = stride
    }
  }

  public var kind: Kind
  /// Samples per group of input ciphertexts.
  public var samplesPerCiphertext: Int
  /// Input ciphertexts per group.
  public var ciphertextsPerGroup: Int
  /// Result ciphertexts per group.
  public var resultsPerGroup: Int
  public var sampleStride: Int
  public var resultOffset: Int
  public var classStride: Int
  /// ``SlotMLPLayout`` only: the offset of the inputs' second copy.
  public var inputReplicaOffset: Int?
  /// ``ImageWindowsLayout`` and ``ImageBatchLayout`` only.
  public var image: ImageGeometry?
  /// ``StridedSlotsLayout`` only: slots after which the input pattern repeats.
  public var inputPeriod: Int?
  /// ``StridedSlotsLayout`` only: slots between neighbouring features of a sample.
  public var featureStride: Int?
  /// ``StridedSlotsLayout`` only: copy t of the input pattern is rotated left by
  /// t·copyRotation features (nil or 0: every copy alike).
  public var copyRotation: Int?

  public init(
    kind: Kind, samplesPerCiphertext: Int, ciphertextsPerGroup: Int = 1, resultsPerGroup: Int = 1, sampleStride: Int,
    resultOffset: Int, classStride: Int, inputReplicaOffset: Int? = nil, image: ImageGeometry? = nil,
    inputPeriod: Int? = nil, featureStride: Int? = nil, copyRotation: Int? = nil
  ) {
    self.copyRotation = copyRotation
    self.kind = kind
    self.samplesPerCiphertext = samplesPerCiphertext
    self.ciphertextsPerGroup = ciphertextsPerGroup
    self.resultsPerGroup = resultsPerGroup
    self.sampleStride = sampleStride
    self.resultOffset = resultOffset
    self.classStride = classStride
    self.inputReplicaOffset = inputReplicaOffset
    self.image = image
    self.inputPeriod = inputPeriod
    self.featureStride = featureStride
  }

  /// The layout this description names, for ring degree `degree`.
  /// - Throws: ``LayoutMismatch`` when the description's strides or offsets differ from the ones
  ///   this library computes for that kind (the two sides would not agree on where values sit).
  public func layout(degree: Int, inputDimension: Int, outputDimension: Int) throws(LayoutMismatch)
    -> any SampleLayout
  {
    let layout: any SampleLayout
    switch kind {
    case .coefficientLinear:
      layout = CoefficientLinearLayout(
        degree: degree, inputDimension: inputDimension, outputDimension: outputDimension,
        resultPerClass: resultsPerGroup > 1)
    case .slotMLP:
      guard let width = inputReplicaOffset, width >= 1 else {
        throw LayoutMismatch("slot_mlp needs input_replica_offset")
      }
      // The hidden width is the server's; any value up to the replica offset gives the same layout.
      layout = SlotMLPLayout(
        slotCount: degree / 2, inputDimension: inputDimension, hiddenDimension: width, outputDimension: outputDimension)
    case .imageWindows, .imageBatch:
      // Checked before any product, so that no geometry can overflow.
      guard let image, image.side >= 1, image.side <= degree / 2, image.kernel >= 1, image.kernel <= image.side,
        image.stride >= 1, image.stride <= image.side, image.side * image.side == inputDimension
      else {
        throw LayoutMismatch("\(kind.rawValue) needs the geometry of a square image of \(inputDimension) pixels")
      }
      layout =
        kind == .imageWindows
        ? ImageWindowsLayout(slotCount: degree / 2, geometry: image, outputDimension: outputDimension)
        : ImageBatchLayout(slotCount: degree / 2, geometry: image, outputDimension: outputDimension)
    case .stridedSlots:
      let slots = degree / 2
      let b = samplesPerCiphertext
      // Checked before any product, so that no geometry can overflow.
      guard b >= 1, b <= slots, b & (b - 1) == 0, let period = inputPeriod, period >= 1, period <= slots,
        slots % period == 0, period % b == 0, (period / b) & (period / b - 1) == 0,
        inputDimension >= 1, inputDimension <= period / b, outputDimension >= 1, outputDimension <= slots / b,
        (0...1).contains(copyRotation ?? 0)
      else {
        throw LayoutMismatch(
          "strided_slots needs a power-of-two samples_per_ciphertext, an input_period dividing \(slots) slots that holds \(inputDimension) features per sample, and a copy_rotation of 0 or 1"
        )
      }
      layout = StridedSlotsLayout(
        slotCount: slots, inputDimension: inputDimension, outputDimension: outputDimension, samplesPerCiphertext: b,
        inputPeriod: period, copyRotation: copyRotation ?? 0)
    }
    guard layout.samplesPerCiphertext >= 1 else {
      throw LayoutMismatch("a sample of the \(kind.rawValue) layout does not fit \(degree / 2) slots")
    }
    guard layout.layoutDescription == self else {
      throw LayoutMismatch("the \(kind.rawValue) layout's strides or offsets differ from this library's")
    }
    return layout
  }
}

/// A layout description that does not match what this library computes.
public struct LayoutMismatch: Error, Sendable, Equatable, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
