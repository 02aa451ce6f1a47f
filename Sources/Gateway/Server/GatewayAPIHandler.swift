import CKKS
import Foundation
import GatewayAPI
import InferencePrograms
import OpenAPIRuntime

/// Implements the generated `APIProtocol`: translates between the contract's types and the
/// inference service. No business logic lives here. Refusals are thrown as ``GatewayError`` and
/// turned into the contract's error responses in one place, ``ErrorMiddleware`` (the route tests
/// check that every status sent is one the contract declares for the operation).
struct GatewayAPIHandler: APIProtocol {
  let service: InferenceService

  /// The authenticated tenant of the current request (bound by ``GatewayGuardMiddleware``).
  /// - Throws: `UNAUTHORIZED` when none is bound.
  var tenant: String { get throws(GatewayError) { try RequestTenant.current() } }

  func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
    .ok(.init(body: .json(.init(status: .ok, apiVersion: ContractInfo.version))))
  }

  func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
    .ok(.init(body: .plainText(HTTPBody(service.metrics.exposition()))))
  }

  func listModels(_ input: Operations.ListModels.Input) async throws -> Operations.ListModels.Output {
    .ok(
      .init(
        body: .json(
          .init(
            apiVersion: ContractInfo.version,
            models: service.registry.models.map { Self.describe($0, plain: service.servesPlain($0)) })))
    )
  }

  func getModel(_ input: Operations.GetModel.Input) async throws -> Operations.GetModel.Output {
    try ContractRules.modelId(input.path.modelId)
    try ContractRules.version(input.path.version)
    let model = try service.model(id: input.path.modelId, version: input.path.version)
    return .ok(.init(body: .json(Self.describe(model, plain: service.servesPlain(model)))))
  }

  func inferEncrypted(_ input: Operations.InferEncrypted.Input) async throws -> Operations.InferEncrypted.Output {
    guard case .json(let body) = input.body else { throw GatewayError(.invalidSchema, "expected application/json") }
    let request = try Self.request(body)
    let queued = try await service.submit(request, tenant: try tenant)
    let wait = Duration.milliseconds(body.waitMs ?? 0)
    let job = try await service.waitForJob(queued, timeout: wait)
    let contract = try Self.describe(job)
    service.markFetchedLater(job)
    return job.status.isFinal ? .ok(.init(body: .json(contract))) : .accepted(.init(body: .json(contract)))
  }

  func inferPlain(_ input: Operations.InferPlain.Input) async throws -> Operations.InferPlain.Output {
    guard case .json(let body) = input.body else { throw GatewayError(.invalidSchema, "expected application/json") }
    try ContractRules.apiVersion(body.apiVersion)
    try ContractRules.modelId(body.modelId)
    try ContractRules.version(body.version)
    try ContractRules.count(body.inputs.count, 1...4096, field: "inputs")
    let outputs = try service.inferPlain(
      apiVersion: body.apiVersion, modelId: body.modelId, version: body.version, inputs: body.inputs)
    return .ok(
      .init(
        body: .json(
          .init(modelId: body.modelId, version: body.version, outputs: outputs, diagnostics: .init(mode: .plain)))))
  }

  func getJob(_ input: Operations.GetJob.Input) async throws -> Operations.GetJob.Output {
    try ContractRules.identifier(input.path.jobId, field: "job_id")
    let job = try await service.job(id: input.path.jobId, tenant: try tenant)
    let contract = try Self.describe(job)
    service.markFetchedLater(job)
    return .ok(.init(body: .json(contract)))
  }

  func registerEvaluationKeys(_ input: Operations.RegisterEvaluationKeys.Input) async throws
    -> Operations.RegisterEvaluationKeys.Output
  {
    guard case .json(let body) = input.body else { throw GatewayError(.invalidSchema, "expected application/json") }
    try ContractRules.apiVersion(body.apiVersion)
    try ContractRules.modelId(body.modelId)
    try ContractRules.version(body.version)
    let set = try await service.registerKeys(
      apiVersion: body.apiVersion, modelId: body.modelId, version: body.version,
      relinearizationKey: body.relinearizationKey.map { Array($0.payload.data) },
      galoisKeys: body.galoisKeys.map { Array($0.payload.data) },
      publicKey: body.publicKey.map { Array($0.payload.data) }, tenant: try tenant)
    return .created(.init(body: .json(Self.describe(set))))
  }

  func getEvaluationKeys(_ input: Operations.GetEvaluationKeys.Input) async throws
    -> Operations.GetEvaluationKeys.Output
  {
    try ContractRules.identifier(input.path.keyId, field: "key_id")
    guard let set = try await service.keys.set(id: input.path.keyId, tenant: try tenant, now: Date()) else {
      throw Self.keyNotFound(input.path.keyId)
    }
    return .ok(.init(body: .json(Self.describe(set))))
  }

  func deleteEvaluationKeys(_ input: Operations.DeleteEvaluationKeys.Input) async throws
    -> Operations.DeleteEvaluationKeys.Output
  {
    try ContractRules.identifier(input.path.keyId, field: "key_id")
    guard try await service.keys.delete(id: input.path.keyId, tenant: try tenant) else {
      throw Self.keyNotFound(input.path.keyId)
    }
    return .noContent(.init())
  }

  static func keyNotFound(_ id: String) -> GatewayError {
    GatewayError(.keyNotFound, "no key set \(id)", details: ["key_id": id])
  }

  // MARK: Translation to the contract

  static func describe(_ set: EvaluationKeySet) -> Components.Schemas.EvaluationKeySet {
    .init(
      keyId: set.id, modelId: set.modelId, version: set.version, relinearization: set.relinearizationKey != nil,
      galoisElements: set.galoisKeys?.elements ?? [], publicKey: set.publicKey != nil, sizeBytes: set.sizeBytes,
      createdAt: set.createdAt, expiresAt: set.expiresAt)
  }

  /// The `POST /infer` body checked against the schema's patterns and limits, as the service's
  /// request (the fuzzing harness reads bodies through this too).
  static func request(_ body: Components.Schemas.InferRequest) throws(GatewayError) -> EncryptedRequest {
    try ContractRules.apiVersion(body.apiVersion)
    try ContractRules.modelId(body.modelId)
    try ContractRules.version(body.version)
    try ContractRules.range(body.batchSize, 1...ContractRules.maximumBatchSize, field: "batch_size")
    try ContractRules.count(body.inputs.count, 1...ModelRegistry.maximumInputCiphertexts, field: "inputs")
    if let keyId = body.evaluationKeyId { try ContractRules.identifier(keyId, field: "evaluation_key_id") }
    if let wait = body.waitMs { try ContractRules.range(wait, 0...10_000, field: "wait_ms") }
    return EncryptedRequest(
      apiVersion: body.apiVersion, modelId: body.modelId, version: body.version, batchSize: body.batchSize,
      inputs: body.inputs.map { Array($0.payload.data) }, evaluationKeyId: body.evaluationKeyId)
  }

  static func body(_ error: GatewayError) -> Components.Schemas.ErrorResponse {
    var details: Components.Schemas.ErrorResponse._ErrorPayload.DetailsPayload?
    if !error.details.isEmpty {
      details = .init(additionalProperties: try! OpenAPIObjectContainer(unvalidatedValue: error.details))
    }
    return .init(
      error: .init(
        code: Components.Schemas.ErrorCode(rawValue: error.code.rawValue)!, message: error.message, details: details))
  }

  /// The contract's description of `model`; `plain` says whether `POST /infer/plain` serves it.
  static func describe(_ model: CompiledModel, plain: Bool) -> Components.Schemas.Model {
    let definition = model.definition
    let parameters = model.parameters
    let program = model.program
    let needs = program.keyRequirements
    let keys = Components.Schemas.EvaluationKeyRequirements(
      relinearization: needs.relinearization, galoisElements: needs.galoisElements, publicKey: needs.publicKey)
    let privacy = Components.Schemas.ResultPrivacy(
      weightsPrivate: !model.weightsArePublished, resultsProtected: program.resultPrivacy != nil,
      statisticalSecurityBits: program.resultPrivacy?.statisticalSecurityBits,
      scoreErrorBound: program.resultPrivacy?.scoreErrorBound)
    let shape = program.layout.layoutDescription
    // The programs layer's kinds are the contract's, by name.
    let layout = Components.Schemas.EncryptedLayout(
      kind: .init(rawValue: shape.kind.rawValue)!, inputReplicaOffset: shape.inputReplicaOffset,
      inputPeriod: shape.inputPeriod, featureStride: shape.featureStride, copyRotation: shape.copyRotation,
      image: shape.image.map { .init(side: $0.side, kernel: $0.kernel, stride: $0.stride) },
      inputScale: definition.encryption.inputScale,
      resultScale: program.resultScale, samplesPerCiphertext: shape.samplesPerCiphertext,
      ciphertextsPerGroup: shape.ciphertextsPerGroup, resultsPerGroup: shape.resultsPerGroup,
      sampleStride: shape.sampleStride,
      resultOffset: shape.resultOffset, classStride: shape.classStride,
      inputBound: definition.inputBound, inputLevel: program.inputLevel, requiredEvaluationKeys: keys,
      resultPrivacy: privacy)
    return .init(
      modelId: definition.modelId, version: definition.version, description: definition.description, heScheme: .ckks,
      encryptionParameters: .init(
        polyModulusDegree: parameters.degree, scale: definition.encryption.inputScale,
        coeffModulusBits: definition.encryption.coeffModulusBits,
        specialModulusBits: definition.encryption.specialModulusBits,
        keySwitchingDigits: parameters.parameterDescription.keySwitchingDigits,
        maxMultiplicativeDepth: parameters.maximumLevel, securityLevel: ._128,
        secretDistribution: .uniformTernary, parameterFingerprint: parameters.fingerprint.description,
        ciphertextFormat: .heinferCkksV1),
      inference: .init(
        inputDimension: model.inputDimension, outputDimension: model.outputDimension,
        activation: Self.activationName(definition),
        outputTransform: .init(rawValue: definition.outputTransform.rawValue)!),
      encryptedLayout: layout,
      constraints: .init(maxBatchSize: definition.maxBatchSize), plainInference: plain,
      parameters: model.publishedParameters.map { .init(weights: $0.weights, bias: $0.bias) },
      activationParameters: definition.activation.map { .init(kind: .polynomial, coefficients: $0.coefficients) })
  }

  /// What `inference.activation` says: the file's activation name, `square` for the hand-written
  /// networks, and for a compiled network its nonlinear stages (`chebyshev_7`, `square`) in order.
  static func activationName(_ definition: ModelDefinition) -> String {
    if let activation = definition.activation { return activation.name }
    switch definition.kind {
    case .cnn: return "square"
    case .network:
      let names = (definition.network?.stages.stages ?? []).compactMap { stage -> String? in
        switch stage {
        case .linear: nil
        case .square: "square"
        case .chebyshev(let coefficients): "chebyshev_\((coefficients.lastIndex { $0 != 0 } ?? 0))"
        }
      }
      return names.isEmpty ? "none" : names.joined(separator: ",")
    case .linear, .mlp: return "none"
    }
  }

  static func describe(_ job: JobRecord) throws -> Components.Schemas.Job {
    var result: Components.Schemas.JobResult?
    if job.status == .completed {
      guard let first = job.outputs.first else { throw GatewayError(.internal, "completed job without a result") }
      result = .init(
        modelId: job.modelId, version: job.version, encoding: .base64, format: .heinferCkksV1, payload: .init(first),
        additionalPayloads: job.outputs.count > 1 ? job.outputs.dropFirst().map { .init($0) } : nil,
        diagnostics: .init(
          requestedBatchSize: job.requestedBatchSize, processedBatchSize: job.processedBatchSize,
          batchTruncated: job.processedBatchSize < job.requestedBatchSize, evaluationMs: job.evaluationMilliseconds))
    }
    return .init(
      jobId: job.id, status: .init(rawValue: job.status.rawValue)!, modelId: job.modelId, version: job.version,
      createdAt: job.createdAt, updatedAt: job.updatedAt, result: result, error: job.errorMessage,
      errorCode: job.errorCode.flatMap { .init(rawValue: $0) })
  }
}
