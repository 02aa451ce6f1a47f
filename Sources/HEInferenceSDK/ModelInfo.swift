public import CKKS
public import GatewayAPI

/// What the SDK needs from a model's metadata (`GET /models`), checked once.
public struct ModelInfo: Sendable {
  /// Where samples sit in an input ciphertext and scores in the result.
  public enum Layout: Sendable, Equatable {
    /// Coefficient-encoded dot products (no evaluation keys).
    case coefficient(CoefficientLinearLayout)
    /// Slots with a replica (needs registered evaluation keys).
    case slot(SlotMLPLayout)

    public var samplesPerCiphertext: Int {
      switch self {
      case .coefficient(let layout): layout.samplesPerCiphertext
      case .slot(let layout): layout.samplesPerCiphertext
      }
    }
  }

  public let id: String
  public let version: String
  public let description: String
  public let inputDimension: Int
  public let outputDimension: Int
  /// The step applied to decrypted scores.
  public let transform: ScoreTransform
  /// The CKKS parameters to rebuild bit for bit.
  public let parameters: ParameterDescription
  /// The server's `parms_id`-style fingerprint of the top level, checked against ours.
  public let fingerprint: String
  public let layout: Layout
  public let inputScale: Double
  public let resultScale: Double
  public let inputLevel: Int
  /// Inputs should stay within ±inputBound.
  public let inputBound: Double
  public let maxBatchSize: Int
  public let needsRelinearizationKey: Bool
  public let galoisElements: [Int]
  /// Whether the server re-randomizes results with the client's public key (private weights).
  public let needsPublicKey: Bool
  /// The largest error a decrypted score carries by design (flooding), when the weights are
  /// private; nil otherwise.
  public let scoreErrorBound: Double?
  /// The contract's model object, for anything else.
  public let contract: Components.Schemas.Model

  /// Whether inference needs registered evaluation keys.
  public var needsEvaluationKeys: Bool { needsRelinearizationKey || !galoisElements.isEmpty || needsPublicKey }

  /// Reads and checks the contract's model object.
  /// - Throws: ``SDKError/incompatibleModel(_:)`` for an unknown layout or transform.
  public init(_ model: Components.Schemas.Model) throws(SDKError) {
    contract = model
    id = model.modelId
    version = model.version
    description = model.description
    inputDimension = model.inference.inputDimension
    outputDimension = model.inference.outputDimension
    guard let transform = ScoreTransform(rawValue: model.inference.outputTransform.rawValue) else {
      throw .incompatibleModel("unknown output transform \(model.inference.outputTransform.rawValue)")
    }
    self.transform = transform
    let encryption = model.encryptionParameters
    let shape = model.encryptedLayout
    parameters = ParameterDescription(
      degree: encryption.polyModulusDegree, ciphertextPrimeBits: encryption.coeffModulusBits,
      specialPrimeBits: encryption.specialModulusBits, defaultScale: shape.inputScale,
      keySwitchingDigits: encryption.keySwitchingDigits)
    fingerprint = encryption.parameterFingerprint
    inputScale = shape.inputScale
    resultScale = shape.resultScale
    inputLevel = shape.inputLevel
    inputBound = shape.inputBound
    maxBatchSize = model.constraints.maxBatchSize
    needsRelinearizationKey = shape.requiredEvaluationKeys.relinearization
    galoisElements = shape.requiredEvaluationKeys.galoisElements
    needsPublicKey = shape.requiredEvaluationKeys.publicKey
    scoreErrorBound = shape.resultPrivacy.resultsProtected ? shape.resultPrivacy.scoreErrorBound : nil
    switch shape.kind {
    case .coefficientLinear:
      let layout = CoefficientLinearLayout(
        degree: encryption.polyModulusDegree, inputDimension: inputDimension, outputDimension: outputDimension)
      guard layout.sampleStride == shape.sampleStride, layout.samplesPerCiphertext == shape.samplesPerCiphertext,
        layout.resultOffset == shape.resultOffset, layout.classStride == shape.classStride
      else { throw .incompatibleModel("the coefficient layout's strides differ from this SDK's") }
      self.layout = .coefficient(layout)
    case .slotMlp:
      guard let width = shape.inputReplicaOffset, shape.sampleStride == 2 * width else {
        throw .incompatibleModel("slot_mlp without a consistent input_replica_offset")
      }
      // The hidden width is the server's; any value ≤ m gives the same client layout.
      let layout = SlotMLPLayout(
        slotCount: encryption.polyModulusDegree / 2, inputDimension: inputDimension, hiddenDimension: width,
        outputDimension: outputDimension)
      guard layout.width == width, layout.samplesPerCiphertext == shape.samplesPerCiphertext else {
        throw .incompatibleModel("the slot layout differs from this SDK's")
      }
      self.layout = .slot(layout)
    }
  }
}
