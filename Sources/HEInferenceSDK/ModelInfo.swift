public import CKKS
import GatewayAPI
public import InferencePrograms

/// What the SDK needs from a model's metadata (`GET /models`), checked once.
public struct ModelInfo: Sendable {
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
  /// Where samples sit in an input ciphertext and scores in the result.
  public let layout: any SampleLayout
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
  /// Whether the server protects results (masking, flooding, re-randomization) because the
  /// weights are private.
  public let resultsProtected: Bool
  /// The largest error a decrypted score carries by design (flooding), when the weights are
  /// private; nil otherwise.
  public let scoreErrorBound: Double?
  /// The flooding's statistical security in bits (a result is within 2^−bits in statistical
  /// distance of one that depends on the scores alone), when results are protected.
  public let statisticalSecurityBits: Int?
  /// Whether the gateway serves this model on the plaintext route (`POST /infer/plain`): models
  /// that publish their weights, and the others only where the operator allows it.
  public let servesPlain: Bool
  /// The contract's model object as the gateway sent it.
  let contract: Components.Schemas.Model

  /// Whether inference needs registered evaluation keys.
  public var needsEvaluationKeys: Bool { needsRelinearizationKey || !galoisElements.isEmpty || needsPublicKey }

  /// Reads and checks the contract's model object.
  /// - Throws: ``SDKError/incompatibleModel(_:)`` for an unknown layout or transform, a layout
  ///   whose strides differ from the ones the programs layer computes, or a `max_batch_size` whose
  ///   requests would need more than 64 ciphertexts.
  init(_ model: Components.Schemas.Model) throws(SDKError) {
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
    resultsProtected = shape.resultPrivacy.resultsProtected
    scoreErrorBound = shape.resultPrivacy.resultsProtected ? shape.resultPrivacy.scoreErrorBound : nil
    statisticalSecurityBits = shape.resultPrivacy.resultsProtected ? shape.resultPrivacy.statisticalSecurityBits : nil
    servesPlain = model.plainInference
    guard let kind = LayoutDescription.Kind(rawValue: shape.kind.rawValue) else {
      throw .incompatibleModel("unknown layout \(shape.kind.rawValue)")
    }
    let description = LayoutDescription(
      kind: kind, samplesPerCiphertext: shape.samplesPerCiphertext, ciphertextsPerGroup: shape.ciphertextsPerGroup,
      resultsPerGroup: shape.resultsPerGroup, sampleStride: shape.sampleStride,
      resultOffset: shape.resultOffset, classStride: shape.classStride, inputReplicaOffset: shape.inputReplicaOffset,
      image: shape.image.map { .init(side: $0.side, kernel: $0.kernel, stride: $0.stride) },
      inputPeriod: shape.inputPeriod, featureStride: shape.featureStride, copyRotation: shape.copyRotation)
    do {
      layout = try description.layout(
        degree: encryption.polyModulusDegree, inputDimension: inputDimension, outputDimension: outputDimension)
    } catch {
      throw .incompatibleModel(error.description)
    }
    // A request carries at most 64 ciphertexts (the contract's `inputs`): a model whose batch
    // needs more could never be served, and encrypting it would only cost memory.
    let perGroup = layout.ciphertextsPerGroup
    guard maxBatchSize >= 1, perGroup <= 64, (maxBatchSize - 1) / layout.samplesPerCiphertext + 1 <= 64 / perGroup
    else {
      throw .incompatibleModel(
        "max_batch_size \(maxBatchSize) needs more than the 64 input ciphertexts a request may carry")
    }
  }
}
