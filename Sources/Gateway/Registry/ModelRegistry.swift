public import CKKS
public import Foundation

/// A validated model ready to serve: its CKKS parameters, layout and precomputed plaintexts.
public struct CompiledModel: Sendable {
  public let definition: ModelDefinition
  public let parameters: CKKSParameters
  public let layout: CoefficientLinearLayout
  /// Weights and biases with the (affine) activation folded in: scores = weights·x + bias.
  public let foldedWeights: [[Double]]
  public let foldedBias: [Double]
  /// W(X) at the weight scale and the biases at the result scale, level 0, evaluation form.
  let weightPlaintext: Plaintext
  let biasPlaintext: Plaintext
  let evaluator: Evaluator

  public var modelId: String { definition.modelId }
  public var version: String { definition.version }
  /// Scale of decrypted results: Δx·Δw.
  public var resultScale: Double { definition.encryption.inputScale * definition.encryption.weightScale }

  /// Plaintext scores of one sample (before the output transform).
  public func plainScores(_ sample: [Double]) -> [Double] {
    zip(foldedWeights, foldedBias).map { row, bias in
      zip(row, sample).reduce(bias) { $0 + $1.0 * $1.1 }
    }
  }
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

  /// `[a-z][a-z0-9_]{0,63}`, the contract's `ModelId`.
  static func isValidIdentifier(_ id: String) -> Bool {
    let scalars = Array(id.unicodeScalars)
    guard (1...64).contains(scalars.count), ("a"..."z").contains(scalars[0]) else { return false }
    return scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
  }

  /// `MAJOR.MINOR.PATCH` without leading zeros, the contract's `SemanticVersion`.
  static func isValidVersion(_ version: String) -> Bool {
    let parts = version.split(separator: ".", omittingEmptySubsequences: false)
    return version.count <= 32 && parts.count == 3
      && parts.allSatisfy { part in
        !part.isEmpty && part.allSatisfy { ("0"..."9").contains($0) } && (part == "0" || part.first != "0")
      }
  }
  /// The contract's `maxItems` for `inputs`.
  static let maximumInputCiphertexts = 64

  static func compile(_ model: ModelDefinition) throws(ModelDefinitionError) -> CompiledModel {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: rule) }
    guard isValidIdentifier(model.modelId) else {
      throw fail("model_id must match [a-z][a-z0-9_]{0,63}")
    }
    guard isValidVersion(model.version) else {
      throw fail("version must be a semantic version MAJOR.MINOR.PATCH")
    }
    // Dimensions.
    let k = model.weights.count
    guard k >= 1 else { throw fail("weights must have at least one row (one per output)") }
    let d = model.weights[0].count
    guard d >= 1 else { throw fail("weights rows must not be empty") }
    guard model.weights.allSatisfy({ $0.count == d }) else { throw fail("every weights row must have \(d) entries") }
    guard model.bias.count == k else { throw fail("bias must have \(k) entries, one per weights row") }
    guard (model.weights.joined() + model.bias).allSatisfy(\.isFinite) else {
      throw fail("weights and bias must be finite numbers")
    }
    // Activation: a linear model folds an affine activation into its weights.
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
    // Output transform.
    switch model.outputTransform {
    case .sigmoid where k != 1: throw fail("output_transform sigmoid needs exactly one output")
    case .softmax where k < 2: throw fail("output_transform softmax needs at least two outputs")
    default: break
    }
    // Parameters: security and SEAL's prime rule.
    let encryption = model.encryption
    let parameters: CKKSParameters
    do {
      parameters = try CKKSParameters(
        ParameterDescription(
          degree: encryption.polyModulusDegree, ciphertextPrimeBits: encryption.coeffModulusBits,
          specialPrimeBits: encryption.specialModulusBits, defaultScale: encryption.inputScale))
    } catch {
      throw fail("encryption parameters refused: \(error)")
    }
    // Layout and batch.
    let layout = CoefficientLinearLayout(degree: parameters.degree, inputDimension: d, outputDimension: k)
    guard layout.samplesPerCiphertext >= 1 else {
      throw fail(
        "a sample needs \(layout.sampleStride) coefficients ((outputs + 1) · inputs) but N is \(parameters.degree)")
    }
    guard model.maxBatchSize >= 1 else { throw fail("max_batch_size must be at least 1") }
    guard layout.ciphertextCount(batchSize: model.maxBatchSize) <= maximumInputCiphertexts else {
      throw fail(
        "max_batch_size \(model.maxBatchSize) needs more than \(maximumInputCiphertexts) ciphertexts of "
          + "\(layout.samplesPerCiphertext) samples")
    }
    // Scales: the inputs, and every score, must fit in the base prime with room for the noise.
    guard model.inputBound.isFinite, model.inputBound > 0 else { throw fail("input_bound must be positive") }
    guard encryption.inputScale.isFinite, encryption.inputScale > 1, encryption.weightScale.isFinite,
      encryption.weightScale > 1
    else { throw fail("input_scale and weight_scale must be finite and greater than 1") }
    let basePrime = Double(parameters.ciphertextModuli[0])
    let resultScale = encryption.inputScale * encryption.weightScale
    let scoreBound = zip(foldedWeights, foldedBias).map { row, bias in
      row.reduce(abs(bias)) { $0 + abs($1) * model.inputBound }
    }.max()!
    guard model.inputBound * encryption.inputScale < basePrime / 4 else {
      throw fail("input_bound · input_scale must stay below a quarter of the base prime (2^\(log2(basePrime) - 2))")
    }
    guard scoreBound * resultScale < basePrime / 4 else {
      throw fail(
        "scores up to \(scoreBound) at scale input_scale · weight_scale = 2^\(log2(resultScale)) overflow the base "
          + "prime (2^\(log2(basePrime).rounded(.down))): lower a scale or input_bound")
    }
    // Dropped result bits: the worst-case extra error 2^bits · (1 + N) / scale must stay ≤ 1e-6.
    guard encryption.resultDroppedBits >= 0,
      Double(1 << min(encryption.resultDroppedBits, 62)) * Double(1 + parameters.degree) / resultScale <= 1e-6
    else { throw fail("result_dropped_bits \(encryption.resultDroppedBits) would cost more than 1e-6 of precision") }
    guard encryption.resultDroppedBits < Int(log2(basePrime)) - 1 else {
      throw fail("result_dropped_bits must leave at least one bit of the base prime")
    }
    // Plaintexts.
    let encoder = CKKSEncoder(parameters: parameters)
    let weightPlaintext: Plaintext
    let biasPlaintext: Plaintext
    do {
      weightPlaintext = try encoder.encodeCoefficients(
        layout.weightCoefficients(foldedWeights), scale: encryption.weightScale, level: 0)
      biasPlaintext = try encoder.encodeCoefficients(layout.biasCoefficients(foldedBias), scale: resultScale, level: 0)
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
    return CompiledModel(
      definition: model, parameters: parameters, layout: layout, foldedWeights: foldedWeights,
      foldedBias: foldedBias, weightPlaintext: weightPlaintext, biasPlaintext: biasPlaintext,
      evaluator: Evaluator(parameters: parameters))
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
