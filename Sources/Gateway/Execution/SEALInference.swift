import CKKS
import Foundation

/// An encrypted request of the reference contract after envelope parsing: SEAL ciphertext
/// streams, one per feature, sample j of the batch in slot j.
public struct SEALInferenceRequest: Sendable {
  /// The model's `model_id`.
  public var modelId: String
  /// The model's version.
  public var version: String
  /// Samples in the batch (slots 0 … batchSize − 1 of every input).
  public var batchSize: Int
  /// SEAL `Ciphertext::save` streams (compression off), one per feature.
  public var inputs: [[UInt8]]

  /// A request as the envelope carries it; nothing is checked before ``InferenceService/submit(_:tenant:)-(SEALInferenceRequest,_)``.
  public init(modelId: String, version: String, batchSize: Int, inputs: [[UInt8]]) {
    self.modelId = modelId
    self.version = version
    self.batchSize = batchSize
    self.inputs = inputs
  }
}

extension InferenceService {
  /// The models served through the reference contract (those whose file declares a SEAL
  /// layout), each with its SEAL program.
  public var sealModels: [(model: CompiledModel, program: SEALFeatureSlotsProgram)] {
    registry.models.compactMap { model in model.sealProgram.map { (model, $0) } }
  }

  /// The model and its SEAL program, or `UNKNOWN_MODEL`.
  func sealModel(id: String, version: String) throws(GatewayError) -> (CompiledModel, SEALFeatureSlotsProgram) {
    let model = try model(id: id, version: version)
    guard let program = model.sealProgram else {
      throw GatewayError(
        .unknownModel, "model \(id) \(version) is not served in the SEAL layout", details: ["model_id": id])
    }
    return (model, program)
  }

  /// Checks the request and loads its ciphertexts (in the reference's order: model, batch,
  /// inputs, then every ciphertext with SEAL's loader plus the layout's level and scale rules);
  /// nothing is evaluated before this passes. Returns the SEAL version of the inputs' headers,
  /// which the result echoes so that the client's SEAL loads it.
  func validate(_ request: SEALInferenceRequest) throws(GatewayError) -> (
    CompiledModel, SEALFeatureSlotsProgram, [Ciphertext], SEALFormat.Version
  ) {
    let (model, program) = try sealModel(id: request.modelId, version: request.version)
    let maximum = program.layout.maxBatchSize
    guard (1...maximum).contains(request.batchSize) else {
      throw GatewayError(
        .invalidBatchSize, "batch_size \(request.batchSize) is outside 1…\(maximum)",
        details: ["max_batch_size": String(maximum)])
    }
    guard request.inputs.count == program.inputDimension else {
      throw GatewayError(
        .invalidBatchSize,
        "model \(model.modelId) takes \(program.inputDimension) input ciphertexts (one per feature), "
          + "got \(request.inputs.count)",
        details: ["input_dimension": String(program.inputDimension)])
    }
    let parameters = program.parameters
    var ciphertexts: [Ciphertext] = []
    for (index, bytes) in request.inputs.enumerated() {
      let ciphertext: Ciphertext
      do {
        ciphertext = try Ciphertext(sealBytes: bytes, parameters: parameters)
      } catch .unknownFingerprint {
        throw GatewayError(
          .cryptoPolicyViolation,
          "inputs[\(index)] was made with other encryption parameters than model \(model.modelId) \(model.version)",
          details: ["index": String(index)])
      } catch {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] is not a valid SEAL ciphertext: \(error)",
          details: ["index": String(index)])
      }
      guard ciphertext.level == parameters.maximumLevel, ciphertext.size == 2 else {
        throw GatewayError(
          .invalidCiphertext,
          "inputs[\(index)] must be a fresh ciphertext (2 polynomials at the first data level)",
          details: ["index": String(index)])
      }
      // SEAL's loader takes any positive scale; below 1 every value would round to zero.
      guard ciphertext.scale >= 1 else {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] has scale \(ciphertext.scale), below 1",
          details: ["index": String(index)])
      }
      guard ciphertext.scale <= program.layout.maxInputScale else {
        throw GatewayError(
          .invalidCiphertext,
          "inputs[\(index)] has scale \(ciphertext.scale), above the limit \(program.layout.maxInputScale)",
          details: ["index": String(index)])
      }
      guard ciphertext.scale == ciphertexts.first?.scale ?? ciphertext.scale else {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] has scale \(ciphertext.scale); every input must share one scale",
          details: ["index": String(index)])
      }
      ciphertexts.append(ciphertext)
    }
    // Every input loaded above, so its header is valid.
    let version = (try? SEALFormat.version(of: request.inputs[0])) ?? .compatible
    return (model, program, ciphertexts, version)
  }

  /// Validates, queues the job (through the reference contract) and returns it.
  /// - Throws: a validation ``GatewayError``, or `UNAVAILABLE` when the queue is full.
  public func submit(_ request: SEALInferenceRequest, tenant: String) async throws(GatewayError) -> JobRecord {
    let (model, _, ciphertexts, version) = try validate(request)
    let job = JobRecord(
      id: RandomIdentifier.make(), tenant: tenant, modelId: model.modelId, version: model.version,
      batchSize: request.batchSize, now: Date(), contract: .referenceV1)
    return try await accept(
      job, model: model, inputs: ciphertexts, keys: nil, serializedInputs: request.inputs, sealVersion: version)
  }
}
