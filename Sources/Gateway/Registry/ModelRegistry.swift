public import CKKS
public import Foundation
public import GatewayAPI

/// A validated model ready to serve: its CKKS parameters and its compiled encrypted program.
public struct CompiledModel: Sendable {
  public let definition: ModelDefinition
  public let parameters: CKKSParameters
  public let program: ModelProgram
  /// The model in the reference contract's SEAL layout, when its file declares one.
  public let sealProgram: SEALFeatureSlotsProgram?
  let evaluator: Evaluator

  public var modelId: String { definition.modelId }
  public var version: String { definition.version }
  public var inputDimension: Int { program.inputDimension }
  public var outputDimension: Int { program.outputDimension }
  /// Samples one input ciphertext holds.
  public var samplesPerCiphertext: Int { program.samplesPerCiphertext }
  /// Ciphertexts needed for `batchSize` samples.
  public func ciphertextCount(batchSize: Int) -> Int {
    (batchSize + samplesPerCiphertext - 1) / samplesPerCiphertext
  }

  /// Plaintext scores of one sample (before the output transform), in float64.
  public func plainScores(_ sample: [Double]) -> [Double] { program.plainScores(sample) }
}

/// What the server evaluates for a model, by kind.
public enum ModelProgram: Sendable {
  case coefficientLinear(CoefficientLinearProgram)
  case slotMLP(SlotMLPProgram)

  var inputDimension: Int {
    switch self {
    case .coefficientLinear(let program): program.layout.inputDimension
    case .slotMLP(let program): program.layout.inputDimension
    }
  }

  var outputDimension: Int {
    switch self {
    case .coefficientLinear(let program): program.layout.outputDimension
    case .slotMLP(let program): program.layout.outputDimension
    }
  }

  var samplesPerCiphertext: Int {
    switch self {
    case .coefficientLinear(let program): program.layout.samplesPerCiphertext
    case .slotMLP(let program): program.layout.samplesPerCiphertext
    }
  }

  /// Level of input ciphertexts.
  public var inputLevel: Int {
    switch self {
    case .coefficientLinear(let program): program.inputLevel
    case .slotMLP(let program): program.inputLevel
    }
  }

  /// How results hide what is not a requested score; nil when the weights are public.
  public var resultPrivacy: LinearResultPrivacy? {
    if case .coefficientLinear(let program) = self { return program.privacy }
    return nil
  }

  /// Whether evaluation needs the client's public key (to re-randomize results).
  public var needsPublicKey: Bool { resultPrivacy != nil }

  /// Scale of decrypted results.
  public var resultScale: Double {
    switch self {
    case .coefficientLinear(let program): program.resultScale
    case .slotMLP(let program): program.resultScale
    }
  }

  /// Whether evaluation needs a relinearization key.
  public var needsRelinearizationKey: Bool {
    if case .slotMLP = self { return true }
    return false
  }

  /// Galois elements whose keys evaluation needs.
  public var requiredGaloisElements: [Int] {
    switch self {
    case .coefficientLinear: []
    case .slotMLP(let program): program.galoisElements
    }
  }

  func plainScores(_ sample: [Double]) -> [Double] {
    switch self {
    case .coefficientLinear(let program): program.plainScores(sample)
    case .slotMLP(let program): program.plainScores(sample)
    }
  }
}

/// A linear model as coefficient-encoded dot products (``CoefficientLinearLayout``).
public struct CoefficientLinearProgram: Sendable {
  public let layout: CoefficientLinearLayout
  /// Weights and biases with the (affine) activation folded in: scores = weights·x + bias.
  public let foldedWeights: [[Double]]
  public let foldedBias: [Double]
  /// Inputs arrive at the top level; results are rescaled down to level 0.
  public let inputLevel: Int
  /// Δx·Δw divided by every prime above the base prime.
  public let resultScale: Double
  /// Masking, re-randomization and flooding of results; nil when the weights are public.
  public let privacy: LinearResultPrivacy?
  /// W(X) at the weight scale and the biases at Δx·Δw, top level, evaluation form.
  let weightPlaintext: Plaintext
  let biasPlaintext: Plaintext

  func plainScores(_ sample: [Double]) -> [Double] {
    zip(foldedWeights, foldedBias).map { row, bias in zip(row, sample).reduce(bias) { $0 + $1.0 * $1.1 } }
  }

  /// One plaintext multiplication and one addition; for private weights, then the result
  /// protection revealing the scores of the first `sampleCount` samples only; then rescales to
  /// level 0.
  func evaluate(_ ciphertext: Ciphertext, sampleCount: Int, publicKey: PublicKey?, evaluator: Evaluator) throws
    -> Ciphertext
  {
    var result = try evaluator.add(evaluator.multiply(ciphertext, weightPlaintext), biasPlaintext)
    if let privacy {
      guard let publicKey else { throw GatewayError(.missingEvaluationKeys, "the public key vanished") }
      let revealed = (0..<min(sampleCount, layout.samplesPerCiphertext)).flatMap { b in
        (0..<layout.outputDimension).map { c in layout.scoreIndex(sample: b, score: c) }
      }
      result = try evaluator.sanitized(
        result, revealing: revealed, floodingBits: privacy.floodingBits, publicKey: publicKey)
    }
    while result.level > 0 { result = try evaluator.rescale(result) }
    return result
  }
}

/// How a private linear model's results reveal its scores and nothing else
/// (``CKKS/Evaluator/sanitized(_:revealing:floodingBits:publicKey:using:)``; the analysis is in
/// docs/threat-model.md, "Model privacy").
public struct LinearResultPrivacy: Sendable, Equatable {
  /// Statistical distance of one result from its simulation from the scores alone: 2^−bits.
  public static let statisticalSecurityBits = 40
  /// Largest coefficient of an honest input's encryption noise: public-key encryption with the
  /// 6σ-truncated Gaussian (|e| ≤ 19) and a ternary u, |e0 + e1·s + e·u| ≤ 19·(1 + 2N). Secret-key
  /// encryption (|e| ≤ 19) is far below it.
  public let inputNoiseBound: Double
  /// Largest noise at a score that depends on the weights: Σ_i |round(Δw·w_ci)| · inputNoiseBound.
  public let weightedNoiseBound: Double
  /// Flooding noise is uniform in [−2^floodingBits, 2^floodingBits), with
  /// 2^(floodingBits+1) ≥ 2^statisticalSecurityBits · revealed scores per ciphertext · weightedNoiseBound.
  public let floodingBits: Int
  /// The flooding noise's bound in score units: 2^floodingBits / (Δx·Δw).
  public let floodingScoreBound: Double
  /// The largest difference between a decrypted score and the float64 score, for inputs within
  /// ±input_bound: flooding, the weighted and re-randomization noise, the weights' rounding to
  /// multiples of 1/Δw, the rescale's rounding and the dropped result bits.
  public let scoreErrorBound: Double
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
  /// - Throws: ``ModelRegistryError`` for the first definition that breaks a rule.
  public init(definitions: [(source: String, definition: ModelDefinition)]) throws(ModelRegistryError) {
    var compiled: [CompiledModel] = []
    for (source, definition) in definitions {
      if compiled.contains(where: { $0.modelId == definition.modelId && $0.version == definition.version }) {
        throw ModelRegistryError(
          file: source, rule: "duplicate model \(definition.modelId) version \(definition.version)")
      }
      do {
        compiled.append(try ModelRegistry.compile(definition))
      } catch {
        throw ModelRegistryError(file: source, rule: error.rule)
      }
    }
    models = compiled.sorted { ($0.modelId, $0.version) < ($1.modelId, $1.version) }
  }

  /// Loads every `*.json` file of `folder`.
  /// - Throws: ``ModelRegistryError`` naming the file and the rule for the first bad file, or an
  ///   empty folder.
  public init(folder: URL) throws(ModelRegistryError) {
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
    try self.init(definitions: definitions)
  }

  /// The models bundled with the gateway (`Sources/Gateway/Models`).
  public static func bundled() throws(ModelRegistryError) -> ModelRegistry {
    guard let folder = Bundle.module.url(forResource: "Models", withExtension: nil) else {
      throw ModelRegistryError(file: "Models", rule: "the bundled models folder is missing")
    }
    return try ModelRegistry(folder: folder)
  }

  // MARK: Rules

  /// The contract's `maxItems` for `inputs`.
  static let maximumInputCiphertexts = 64

  static func compile(_ model: ModelDefinition) throws(ModelDefinitionError) -> CompiledModel {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: rule) }
    guard ContractRules.isModelId(model.modelId) else {
      throw fail("model_id must match [a-z][a-z0-9_]{0,63}")
    }
    guard ContractRules.isSemanticVersion(model.version) else {
      throw fail("version must be a semantic version MAJOR.MINOR.PATCH")
    }
    let (k, _) = try checkMatrix(model.weights, bias: model.bias, name: "weights", biasName: "bias")
    switch model.outputTransform {
    case .sigmoid where k != 1: throw fail("output_transform sigmoid needs exactly one output")
    case .softmax where k < 2: throw fail("output_transform softmax needs at least two outputs")
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
          specialPrimeBits: encryption.specialModulusBits, defaultScale: encryption.inputScale))
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
    if model.kind == .mlp, weightsPrivate, model.resultProtection != ModelDefinition.ResultProtection.none {
      throw fail(
        "an mlp cannot protect the results of its private weights (docs/threat-model.md, \"Model privacy\"): "
          + "set result_protection to \"none\" to serve it with results that reveal weight-dependent noise")
    }
    if model.sealLayout != nil, model.publishParameters != true {
      throw fail("seal_layout needs publish_parameters: the reference contract publishes weights and bias")
    }
    let program: ModelProgram
    switch model.kind {
    case .linear:
      guard model.hiddenWeights == nil, model.hiddenBias == nil else {
        throw fail("hidden_weights and hidden_bias belong to kind mlp")
      }
      program = .coefficientLinear(try compileLinear(model, parameters: parameters))
    case .mlp:
      program = .slotMLP(try SlotMLPProgram(model, parameters: parameters))
    }
    guard
      (model.maxBatchSize + program.samplesPerCiphertext - 1) / program.samplesPerCiphertext
        <= maximumInputCiphertexts
    else {
      throw fail(
        "max_batch_size \(model.maxBatchSize) needs more than \(maximumInputCiphertexts) ciphertexts of "
          + "\(program.samplesPerCiphertext) samples")
    }
    // Dropped result bits: the worst-case extra error 2^bits · (1 + N) / scale must stay ≤ 1e-6, or
    // (private weights) ≤ 1/16 of the flooding noise the scores carry anyway.
    let basePrime = Double(parameters.ciphertextModuli[0])
    var allowedError = 1e-6
    if let privacy = program.resultPrivacy {
      allowedError = max(allowedError, privacy.floodingScoreBound / 16)
    }
    guard encryption.resultDroppedBits >= 0,
      Double(1 << min(encryption.resultDroppedBits, 62)) * Double(1 + parameters.degree) / program.resultScale
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
      guard case .coefficientLinear(let linear) = program, k == 1 else {
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
      evaluator: Evaluator(parameters: parameters))
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

  static func compileLinear(_ model: ModelDefinition, parameters: CKKSParameters) throws(ModelDefinitionError)
    -> CoefficientLinearProgram
  {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: rule) }
    let k = model.weights.count
    let d = model.weights[0].count
    // A linear model folds an affine activation into its weights.
    var slope = 1.0
    var intercept = 0.0
    if let activation = model.activation {
      let c = activation.coefficients
      guard !c.isEmpty, c.allSatisfy(\.isFinite) else { throw fail("activation.coefficients must be finite numbers") }
      if let high = c.indices.dropFirst(2).first(where: { c[$0] != 0 }) {
        throw fail(
          "a linear model takes an activation of degree at most 1 (activation.coefficients[\(high)] is \(c[high]))")
      }
      intercept = c[0]
      slope = c.count > 1 ? c[1] : 0
    }
    let foldedWeights = model.weights.map { $0.map { $0 * slope } }
    let foldedBias = model.bias.map { $0 * slope + intercept }
    let layout = CoefficientLinearLayout(degree: parameters.degree, inputDimension: d, outputDimension: k)
    guard layout.samplesPerCiphertext >= 1 else {
      throw fail(
        "a sample needs \(layout.sampleStride) coefficients ((outputs + 1) · inputs) but N is \(parameters.degree)")
    }
    guard let weightScale = model.encryption.weightScale, weightScale.isFinite, weightScale > 1 else {
      throw fail("a linear model needs encryption.weight_scale, finite and greater than 1")
    }
    // Scales: inputs and scores (plus the flooding noise) must fit in Q at the top level, and
    // the rescaled scores in the base prime.
    let inputScale = model.encryption.inputScale
    let top = parameters.maximumLevel
    let topModulus = parameters.ciphertextModuli.reduce(1.0) { $0 * Double($1) }
    let basePrime = Double(parameters.ciphertextModuli[0])
    let productScale = inputScale * weightScale
    let resultScale = parameters.ciphertextModuli.dropFirst().reduce(productScale) { $0 / Double($1) }
    let scoreBound = zip(foldedWeights, foldedBias).map { row, bias in
      row.reduce(abs(bias)) { $0 + abs($1) * model.inputBound }
    }.max()!
    guard model.inputBound * inputScale < topModulus / 4 else {
      throw fail("input_bound · input_scale must stay below a quarter of Q (2^\(log2(topModulus) - 2))")
    }
    let privacy =
      model.publishParameters == true || model.resultProtection == ModelDefinition.ResultProtection.none
      ? nil
      : LinearResultPrivacy(
        layout: layout, weights: foldedWeights, weightScale: weightScale, productScale: productScale,
        resultScale: resultScale, droppedBits: model.encryption.resultDroppedBits, inputBound: model.inputBound)
    let flooding = privacy.map { Double(sign: .plus, exponent: $0.floodingBits, significand: 1) } ?? 0
    guard scoreBound * productScale + flooding < topModulus / 4, scoreBound * resultScale < basePrime / 4 else {
      throw fail(
        "scores up to \(scoreBound) at scale input_scale · weight_scale = 2^\(log2(productScale))"
          + (privacy == nil ? "" : " plus flooding noise 2^\(privacy!.floodingBits)")
          + " overflow the modulus (2^\(log2(topModulus).rounded(.down)), base prime 2^\(log2(basePrime).rounded(.down))): "
          + "lower a scale or input_bound")
    }
    let encoder = CKKSEncoder(parameters: parameters)
    do {
      return CoefficientLinearProgram(
        layout: layout, foldedWeights: foldedWeights, foldedBias: foldedBias, inputLevel: top,
        resultScale: resultScale, privacy: privacy,
        weightPlaintext: try encoder.encodeCoefficients(
          layout.weightCoefficients(foldedWeights), scale: weightScale, level: top),
        biasPlaintext: try encoder.encodeCoefficients(
          layout.biasCoefficients(foldedBias), scale: productScale, level: top))
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
  }
}

extension LinearResultPrivacy {
  /// Sizes the flooding for `weights` (folded) in `layout` (docs/threat-model.md, "Model privacy").
  init(
    layout: CoefficientLinearLayout, weights: [[Double]], weightScale: Double, productScale: Double,
    resultScale: Double, droppedBits: Int, inputBound: Double
  ) {
    let n = Double(layout.degree)
    inputNoiseBound = 19 * (1 + 2 * n)
    weightedNoiseBound =
      weights.map { row in row.reduce(0) { $0 + abs(($1 * weightScale).rounded()) } }.max()! * inputNoiseBound
    let revealedPerCiphertext = Double(layout.samplesPerCiphertext * layout.outputDimension)
    floodingBits =
      LinearResultPrivacy.statisticalSecurityBits
      + Int(log2(revealedPerCiphertext * weightedNoiseBound).rounded(.up)) - 1
    // At the top level: flooding + weighted noise + re-randomization noise (≤ inputNoiseBound);
    // then the rescale's rounding (≤ (1 + N)/2) and the dropped bits (≤ 2^d·(1 + N)) at the result scale.
    floodingScoreBound = Double(sign: .plus, exponent: floodingBits, significand: 1) / productScale
    let topLevel = Double(sign: .plus, exponent: floodingBits, significand: 1) + weightedNoiseBound + inputNoiseBound
    let afterRescale = (1 + n) / 2 + Double(sign: .plus, exponent: droppedBits, significand: 1) * (1 + n)
    // Rounding: each weight by ≤ 1/(2Δw) (times |x_i| ≤ input_bound), each input and the bias by
    // ≤ 1/2 at their scales.
    let rounding =
      Double(layout.inputDimension) * inputBound / (2 * weightScale) + 1 / productScale
      + weightedNoiseBound / inputNoiseBound / (2 * productScale)
    scoreErrorBound = topLevel / productScale + afterRescale / resultScale + rounding
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
