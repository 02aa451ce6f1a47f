public import CKKS
public import Foundation
import GatewayAPI
public import InferencePrograms

/// A validated model ready to serve: its CKKS parameters and its compiled encrypted program.
public struct CompiledModel: Sendable {
  public let definition: ModelDefinition
  public let parameters: CKKSParameters
  public let program: any InferenceProgram
  /// The model in the reference contract's SEAL layout, when its file declares one.
  public let sealProgram: SEALFeatureSlotsProgram?
  /// The weights and bias of a model that publishes them (single-output linear models).
  public let publishedParameters: (weights: [Double], bias: Double)?
  let evaluator: Evaluator

  public var modelId: String { definition.modelId }
  public var version: String { definition.version }
  public var inputDimension: Int { program.layout.inputDimension }
  public var outputDimension: Int { program.layout.outputDimension }
  /// Whether the model file publishes its weights (`publish_parameters`); every other model's
  /// weights are private.
  public var weightsArePublished: Bool { definition.publishParameters == true }
  /// Samples one input ciphertext holds.
  public var samplesPerCiphertext: Int { program.layout.samplesPerCiphertext }
  /// Ciphertexts needed for `batchSize` samples.
  public func ciphertextCount(batchSize: Int) -> Int { program.layout.ciphertextCount(batchSize: batchSize) }

  /// Plaintext scores of one sample (before the output transform), in float64.
  public func plainScores(_ sample: [Double]) -> [Double] { program.plainScores(sample) }
}

/// The models the gateway serves, loaded from a folder of JSON files and validated at start-up.
public struct ModelRegistry: Sendable {
  /// Models by `model_id` then version, in a stable order.
  public let models: [CompiledModel]

  /// Looks a model up by id and version.
  public func model(id: String, version: String) -> CompiledModel? {
    models.first { $0.modelId == id && $0.version == version }
  }

  /// Whether any version of `id` exists (distinguishes an unknown model from an unknown version).
  public func hasModel(id: String) -> Bool { models.contains { $0.modelId == id } }

  /// Compiles already-decoded definitions.
  /// - Parameter evaluationThreads: threads each key switch of an evaluation may use (at least 1;
  ///   results are identical for every value).
  /// - Throws: ``ModelRegistryError`` for the first definition that breaks a rule.
  public init(definitions: [(source: String, definition: ModelDefinition)], evaluationThreads: Int = 1)
    throws(ModelRegistryError)
  {
    guard evaluationThreads >= 1 else {
      throw ModelRegistryError(file: "", rule: "evaluation threads must be at least 1")
    }
    var compiled: [CompiledModel] = []
    for (source, definition) in definitions {
      if compiled.contains(where: { $0.modelId == definition.modelId && $0.version == definition.version }) {
        throw ModelRegistryError(
          file: source, rule: "duplicate model \(definition.modelId) version \(definition.version)")
      }
      do {
        compiled.append(try ModelRegistry.compile(definition, evaluationThreads: evaluationThreads))
      } catch {
        throw ModelRegistryError(file: source, rule: error.rule)
      }
    }
    models = compiled.sorted { ($0.modelId, $0.version) < ($1.modelId, $1.version) }
  }

  /// Loads every `*.json` file of `folder`.
  /// - Parameter evaluationThreads: as in ``init(definitions:evaluationThreads:)``.
  /// - Throws: ``ModelRegistryError`` naming the file and the rule for the first bad file, or an
  ///   empty folder.
  public init(folder: URL, evaluationThreads: Int = 1) throws(ModelRegistryError) {
    let files: [URL]
    do {
      files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        .filter { $0.pathExtension == "json" }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
    } catch {
      throw ModelRegistryError(file: folder.path, rule: "cannot read the models folder")
    }
    guard !files.isEmpty else { throw ModelRegistryError(file: folder.path, rule: "no *.json model files") }
    var definitions: [(String, ModelDefinition)] = []
    for file in files {
      guard let data = try? Data(contentsOf: file) else {
        throw ModelRegistryError(file: file.lastPathComponent, rule: "cannot read the file")
      }
      do {
        definitions.append((file.lastPathComponent, try ModelDefinition.decode(data)))
      } catch {
        throw ModelRegistryError(file: file.lastPathComponent, rule: error.rule)
      }
    }
    try self.init(definitions: definitions, evaluationThreads: evaluationThreads)
  }

  /// The models bundled with the gateway (`Sources/Gateway/Models`).
  /// - Parameter evaluationThreads: as in ``init(definitions:evaluationThreads:)``.
  public static func bundled(evaluationThreads: Int = 1) throws(ModelRegistryError) -> ModelRegistry {
    guard let folder = Bundle.module.url(forResource: "Models", withExtension: nil) else {
      throw ModelRegistryError(file: "Models", rule: "the bundled models folder is missing")
    }
    return try ModelRegistry(folder: folder, evaluationThreads: evaluationThreads)
  }

  // MARK: Rules

  /// The contract's `maxItems` for `inputs`.
  static let maximumInputCiphertexts = 64

  static func compile(_ model: ModelDefinition, evaluationThreads: Int = 1) throws(ModelDefinitionError)
    -> CompiledModel
  {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: rule) }
    guard ContractRules.isModelId(model.modelId) else {
      throw fail("model_id must match [a-z][a-z0-9_]{0,63}")
    }
    guard ContractRules.isSemanticVersion(model.version) else {
      throw fail("version must be a semantic version MAJOR.MINOR.PATCH")
    }
    // The output layer: `weights` and `bias` for the hand-written kinds, the network's last stage
    // for a compiled one.
    let outputWeights: [[Double]]
    let outputBias: [Double]
    let k: Int
    if model.kind == .network {
      guard model.weights == nil, model.bias == nil, model.hiddenWeights == nil, model.hiddenBias == nil,
        model.convolution == nil, model.valueBounds == nil, model.encryptedLayout == nil, model.activation == nil
      else {
        throw fail(
          "kind network carries its layers in network: weights, bias, hidden_weights, hidden_bias, convolution, "
            + "value_bounds, encrypted_layout and activation belong to the other kinds")
      }
      guard let network = model.network else { throw fail("kind network needs network") }
      (outputWeights, outputBias, k) = ([], [], network.stages.outputDimension)
    } else {
      guard model.network == nil else { throw fail("network belongs to kind network") }
      guard let weights = model.weights, let bias = model.bias else {
        throw fail("kind \(model.kind.rawValue) needs weights and bias")
      }
      (k, _) = try checkMatrix(weights, bias: bias, name: "weights", biasName: "bias")
      (outputWeights, outputBias) = (weights, bias)
    }
    switch model.outputTransform {
    case .sigmoid where k != 1: throw fail("output_transform sigmoid needs exactly one output")
    case .softmax where k < 2, .logSoftmax where k < 2:
      throw fail("output_transform \(model.outputTransform.rawValue) needs at least two outputs")
    default: break
    }
    guard model.maxBatchSize >= 1 else { throw fail("max_batch_size must be at least 1") }
    guard model.inputBound.isFinite, model.inputBound > 0 else { throw fail("input_bound must be positive") }
    let encryption = model.encryption
    guard encryption.inputScale.isFinite, encryption.inputScale > 1 else {
      throw fail("input_scale must be finite and greater than 1")
    }
    let parameters: CKKSParameters
    do {
      parameters = try CKKSParameters(
        ParameterDescription(
          degree: encryption.polyModulusDegree, ciphertextPrimeBits: encryption.coeffModulusBits,
          specialPrimeBits: encryption.specialModulusBits, defaultScale: encryption.inputScale,
          keySwitchingDigits: encryption.keySwitchingDigits))
    } catch {
      throw fail("encryption parameters refused: \(error)")
    }
    if model.publishParameters == true, model.kind != .linear || k != 1 {
      throw fail("publish_parameters is for single-output linear models")
    }
    let weightsPrivate = model.publishParameters != true
    if model.resultProtection != nil, !weightsPrivate {
      throw fail("result_protection is for models with private weights (publish_parameters is true)")
    }
    if model.sealLayout != nil, model.publishParameters != true {
      throw fail("seal_layout needs publish_parameters: the reference contract publishes weights and bias")
    }
    let program: any InferenceProgram
    switch model.kind {
    case .linear:
      guard model.hiddenWeights == nil, model.hiddenBias == nil, model.convolution == nil, model.valueBounds == nil,
        model.encryptedLayout == nil
      else {
        throw fail(
          "hidden_weights, hidden_bias, convolution, value_bounds and encrypted_layout belong to kinds mlp and cnn")
      }
      do {
        program = try CoefficientLinearProgram(
          parameters: parameters, weights: outputWeights, bias: outputBias,
          activation: model.activation?.coefficients, inputScale: encryption.inputScale,
          weightScale: encryption.weightScale, inputBound: model.inputBound,
          protectResults: weightsPrivate && model.resultProtection == nil, droppedBits: encryption.resultDroppedBits)
      } catch {
        throw fail(error.description)
      }
    case .mlp:
      guard model.convolution == nil, model.valueBounds == nil, model.encryptedLayout == nil else {
        throw fail("convolution, value_bounds and encrypted_layout belong to kind cnn")
      }
      guard let hiddenWeights = model.hiddenWeights, let hiddenBias = model.hiddenBias else {
        throw fail("kind mlp needs hidden_weights and hidden_bias")
      }
      _ = try checkMatrix(hiddenWeights, bias: hiddenBias, name: "hidden_weights", biasName: "hidden_bias")
      do {
        program = try SlotMLPProgram(
          parameters: parameters, hiddenWeights: hiddenWeights, hiddenBias: hiddenBias, outputWeights: outputWeights,
          outputBias: outputBias, activation: model.activation?.coefficients, inputScale: encryption.inputScale,
          inputBound: model.inputBound)
      } catch {
        throw fail(error.description)
      }
    case .cnn:
      program = try compileNetwork(model, outputWeights: outputWeights, outputBias: outputBias, parameters: parameters)
    case .network:
      guard let network = model.network else { throw fail("kind network needs network") }
      guard network.scoreBound.isFinite, network.scoreBound > 0 else {
        throw fail("network.score_bound must be positive")
      }
      do {
        program = try LayeredNetworkProgram(
          parameters: parameters, network: network.stages, inputScale: encryption.inputScale,
          samplesPerCiphertext: network.samplesPerCiphertext, scoreBound: network.scoreBound,
          rotationKeys: network.rotationKeys ?? .perBabyStep)
      } catch {
        throw fail(error.description)
      }
    }
    // The catalogue describes the layout in the contract's terms; a layout it has no name for
    // cannot be served.
    let kind = program.layout.layoutDescription.kind.rawValue
    guard Components.Schemas.EncryptedLayout.KindPayload(rawValue: kind) != nil else {
      throw fail("the \(kind) layout is not in the contract")
    }
    if weightsPrivate, model.resultProtection == nil, program.resultPrivacy == nil {
      throw fail(
        "kind \(model.kind.rawValue) cannot protect the results of its private weights (docs/threat-model.md, "
          + "\"Model privacy\"): set result_protection to \"none\" to serve it with results that reveal "
          + "weight-dependent noise")
    }
    guard
      program.layout.ciphertextCount(batchSize: model.maxBatchSize)
        <= maximumInputCiphertexts
    else {
      let perGroup = program.layout.ciphertextsPerGroup
      let groups =
        perGroup == 1
        ? "ciphertexts of \(program.layout.samplesPerCiphertext) samples"
        : "ciphertexts (groups of \(perGroup) holding \(program.layout.samplesPerCiphertext) samples)"
      throw fail("max_batch_size \(model.maxBatchSize) needs more than \(maximumInputCiphertexts) \(groups)")
    }
    if program.resultDroppedBits != nil, encryption.resultDroppedBits != 0 {
      throw fail("kind \(model.kind.rawValue) sizes its result's dropped bits itself: result_dropped_bits must be 0")
    }
    // Dropped result bits: the worst-case extra error 2^bits · (1 + N) / scale must stay ≤ 1e-6, or
    // (private weights) ≤ 1/16 of the flooding noise the scores carry anyway.
    let basePrime = Double(parameters.ciphertextModuli[0])
    var allowedError = 1e-6
    if let privacy = program.resultPrivacy {
      allowedError = max(allowedError, privacy.floodingScoreBound / 16)
    }
    guard encryption.resultDroppedBits >= 0,
      encryption.resultDroppedBits == 0
        || Double(1 << min(encryption.resultDroppedBits, 62)) * Double(1 + parameters.degree) / program.resultScale
          <= allowedError
    else {
      throw fail(
        "result_dropped_bits \(encryption.resultDroppedBits) would cost more than \(allowedError) of precision")
    }
    guard encryption.resultDroppedBits < Int(log2(basePrime)) - 1 else {
      throw fail("result_dropped_bits must leave at least one bit of the base prime")
    }
    var sealProgram: SEALFeatureSlotsProgram?
    if let layout = model.sealLayout {
      guard let linear = program as? CoefficientLinearProgram, k == 1 else {
        throw fail("seal_layout is for single-output linear models")
      }
      guard let activation = model.activation, activation.name == "polynomial_sigmoid_v1",
        activation.coefficients.count == 3
      else {
        throw fail("seal_layout needs the activation polynomial_sigmoid_v1 with three coefficients (the reference's)")
      }
      sealProgram = try SEALFeatureSlotsProgram(
        layout: layout, weights: linear.foldedWeights[0], bias: linear.foldedBias[0], activation: activation,
        inputBound: model.inputBound)
    }
    return CompiledModel(
      definition: model, parameters: parameters, program: program, sealProgram: sealProgram,
      publishedParameters: model.publishParameters == true ? (outputWeights[0], outputBias[0]) : nil,
      evaluator: Evaluator(parameters: parameters, threads: evaluationThreads))
  }

  /// A `cnn` definition as a ``ConvolutionalNetworkProgram`` (one image per ciphertext) or a
  /// ``BatchedConvolutionalNetworkProgram`` (`encrypted_layout: image_batch`).
  static func compileNetwork(
    _ model: ModelDefinition, outputWeights: [[Double]], outputBias: [Double], parameters: CKKSParameters
  ) throws(ModelDefinitionError) -> any InferenceProgram {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: rule) }
    guard let convolution = model.convolution, let hiddenWeights = model.hiddenWeights,
      let hiddenBias = model.hiddenBias, let bounds = model.valueBounds
    else {
      throw fail("kind cnn needs convolution, hidden_weights, hidden_bias and value_bounds")
    }
    guard model.activation == nil else { throw fail("kind cnn squares its layers and takes no activation") }
    guard [convolution.imageSide, convolution.kernel, convolution.stride].allSatisfy({ $0 >= 1 }),
      convolution.kernel <= convolution.imageSide, convolution.imageSide <= parameters.slotCount,
      convolution.stride <= convolution.imageSide
    else {
      throw fail("convolution needs N/2 ≥ image_side ≥ kernel ≥ 1 and image_side ≥ stride ≥ 1")
    }
    _ = try checkMatrix(
      convolution.weights, bias: convolution.bias, name: "convolution.weights", biasName: "convolution.bias")
    _ = try checkMatrix(hiddenWeights, bias: hiddenBias, name: "hidden_weights", biasName: "hidden_bias")
    guard [bounds.convolution, bounds.hidden, bounds.scores].allSatisfy({ $0.isFinite && $0 > 0 }) else {
      throw fail("value_bounds must be positive")
    }
    let weights = ConvolutionalNetworkWeights(
      geometry: LayoutDescription.ImageGeometry(
        side: convolution.imageSide, kernel: convolution.kernel, stride: convolution.stride),
      convolutionWeights: convolution.weights, convolutionBias: convolution.bias, hiddenWeights: hiddenWeights,
      hiddenBias: hiddenBias, outputWeights: outputWeights, outputBias: outputBias,
      inputScale: model.encryption.inputScale,
      bounds: NetworkValueBounds(
        input: model.inputBound, convolution: bounds.convolution, hidden: bounds.hidden, scores: bounds.scores))
    do {
      switch model.encryptedLayout ?? .imageWindows {
      case .imageWindows: return try ConvolutionalNetworkProgram(parameters: parameters, weights: weights)
      case .imageBatch: return try BatchedConvolutionalNetworkProgram(parameters: parameters, weights: weights)
      }
    } catch {
      throw fail(error.description)
    }
  }

  /// Checks a weight matrix and its bias: rows ≥ 1, equal non-empty rows, matching bias, finite.
  /// - Returns: (rows, columns).
  static func checkMatrix(_ weights: [[Double]], bias: [Double], name: String, biasName: String)
    throws(ModelDefinitionError) -> (Int, Int)
  {
    let rows = weights.count
    guard rows >= 1 else { throw ModelDefinitionError(rule: "\(name) must have at least one row") }
    let columns = weights[0].count
    guard columns >= 1 else { throw ModelDefinitionError(rule: "\(name) rows must not be empty") }
    guard weights.allSatisfy({ $0.count == columns }) else {
      throw ModelDefinitionError(rule: "every \(name) row must have \(columns) entries")
    }
    guard bias.count == rows else {
      throw ModelDefinitionError(rule: "\(biasName) must have \(rows) entries, one per \(name) row")
    }
    guard (weights.joined() + bias).allSatisfy(\.isFinite) else {
      throw ModelDefinitionError(rule: "\(name) and \(biasName) must be finite numbers")
    }
    return (rows, columns)
  }
}

/// A model file broke a start-up rule.
public struct ModelRegistryError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file (or folder) at fault.
  public let file: String
  /// The rule it broke.
  public let rule: String
  public var description: String { "model file \(file): \(rule)" }
}
