import CKKS
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore

/// The reference gateway's v1 contract (`schemas/reference-v1/openapi.yaml`), served under
/// ``prefix`` so that the reference's own Python client, pointed at `http://HOST:PORT/reference`,
/// works unchanged: health, model discovery with the reference's closed model object, encrypted
/// inference on hex SEAL ciphertexts (answered once evaluated, like the reference), jobs, the
/// plaintext route, and errors as `{"detail": "…"}`.
///
/// The routes are written by hand rather than generated: the encrypted request is about 12.6 MB
/// of hex JSON, and ``ReferenceEnvelope`` reads it in one pass while it arrives (a generated
/// decoder would collect it and build every string first). Tests check every response against
/// the contract's schemas.
public enum ReferenceRoutes {
  /// The path prefix of the reference contract.
  public static let prefix = "/reference"
  /// The reference contract's `api_version`.
  public static let apiVersion = "1.0.0"
  /// Routes whose bodies are parsed while they arrive rather than collected first.
  static var streamedPaths: Set<String> { [prefix + "/infer"] }
  /// Longest the `POST /infer` answer waits for the evaluation (the reference answers after
  /// evaluating; a job still unfinished then is answered `queued`, and the client polls).
  static let evaluationWait = Duration.seconds(30)

  /// Adds the routes to `router`.
  /// `maximumBodyBytes` and `bodyTimeout` bound `POST /infer` bodies, which are read as they
  /// arrive (the guard middleware leaves them uncollected, see ``streamedPaths``).
  public static func register<Context: RequestContext>(
    on router: Router<Context>, service: InferenceService, maximumBodyBytes: Int,
    bodyTimeout: Duration = .seconds(60), logger: Logger
  ) {
    let group = router.group(RouterPath(prefix))
    group.get("health") { _, _ in try json(["status": "ok"]) }
    group.get("models") { _, _ in
      await respond(logger) {
        try json(ModelList(apiVersion: apiVersion, models: service.sealModels.map { describe($0.model, $0.program) }))
      }
    }
    group.post("infer") { request, _ in
      await respond(logger) {
        let stream = request.body
        guard
          let body = try await GatewayGuardMiddleware<Context>.withDeadline(
            bodyTimeout,
            {
              // The request budget counts the body's bytes as they arrive.
              try await ReferenceEnvelope.parseInfer(
                streaming: stream, limit: maximumBodyBytes,
                received: { bytes throws(GatewayError) in
                  try RequestMemory.charge(bytes)
                })
            })
        else { throw GatewayGuardMiddleware<Context>.timedOut(bodyTimeout) }
        let submitted = try await service.submit(
          SEALInferenceRequest(
            modelId: body.modelId, version: body.version, batchSize: body.batchSize, inputs: body.payloads),
          tenant: try RequestTenant.current())
        let job = try await service.waitForJob(submitted, timeout: evaluationWait)
        // A job still running after the wait is reported `queued` (the client polls either way);
        // a failed one `failed`, whose reason the client reads from `GET /jobs/{id}`.
        return try json(["status": job.status == .running ? "queued" : job.status.rawValue, "job_id": job.id])
      }
    }
    group.get("jobs/{job_id}") { request, context in
      await respond(logger) {
        let id = context.parameters.get("job_id") ?? ""
        let job = try await service.job(id: id, tenant: try RequestTenant.current(), contract: .referenceV1)
        let response = try describe(job)
        service.markFetchedLater(job)
        return response
      }
    }
    group.post("infer/plain") { request, _ in
      await respond(logger) {
        let buffer = try await request.body.collect(upTo: maximumBodyBytes)
        let body = try await ReferenceEnvelope.parsePlain(Array(buffer.readableBytesView))
        _ = try service.sealModel(id: body.modelId, version: body.version)
        let outputs = try service.inferPlain(
          apiVersion: nil, modelId: body.modelId, version: body.version, inputs: body.inputs)
        return try json(
          PlainResult(modelId: body.modelId, version: body.version, outputs: outputs, diagnostics: ["mode": "plain"]))
      }
    }
  }

  // MARK: Errors

  /// The reference's status for each refusal: malformed or schema-violating bodies and bad
  /// batches 422 (FastAPI's validation status), invalid ciphertexts 400, unknown models and jobs
  /// 404, and this gateway's own guards (401, 403, 408, 413, 429, 503) with their usual statuses.
  static func status(_ code: ErrorCode) -> HTTPResponse.Status {
    switch code {
    case .invalidSchema, .invalidBatchSize, .invalidInput: .unprocessableContent
    case .invalidCiphertext, .cryptoPolicyViolation, .unsupportedAPIVersion, .invalidEvaluationKeys,
      .missingEvaluationKeys, .keyQuotaExceeded, .jobQuotaExceeded, .jobFailed:
      .badRequest
    case .unknownModel, .jobNotFound, .keyNotFound: .notFound
    case .unauthorized: .unauthorized
    case .plainInferenceRefused: .forbidden
    case .payloadTooLarge: .contentTooLarge
    case .rateLimited: .tooManyRequests
    case .unavailable: .serviceUnavailable
    case .requestTimeout: .requestTimeout
    case .methodNotAllowed: .methodNotAllowed
    case .internal: .internalServerError
    }
  }

  /// `{"detail": message}` with the reference's status for `error`.
  static func errorResponse(_ error: GatewayError) -> Response {
    let data = (try? JSONEncoder().encode(["detail": error.message])) ?? Data()
    var response = Response(
      status: status(error.code), headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: data)))
    if let seconds = error.details["retry_after_seconds"] {
      response.headers[.retryAfter] = seconds
    }
    return response
  }

  /// Runs a handler body, turning refusals into `{"detail"}` responses; any other error is a 500
  /// with a generic message (internals go to the log only).
  static func respond(_ logger: Logger, _ body: () async throws -> Response) async -> Response {
    do {
      return try await body()
    } catch let error as GatewayError {
      if error.code == .internal { logger.error("reference route failed", metadata: ["error": "\(error.message)"]) }
      return errorResponse(error.code == .internal ? GatewayError(.internal, "internal error") : error)
    } catch let error as HTTPError where error.status == .contentTooLarge {
      return errorResponse(GatewayError(.payloadTooLarge, "the body is too large"))
    } catch {
      logger.error("reference route failed", metadata: ["error": "\(error)"])
      return errorResponse(GatewayError(.internal, "internal error"))
    }
  }

  // MARK: Bodies

  struct ModelList: Encodable {
    let apiVersion: String
    let models: [ModelObject]
    enum CodingKeys: String, CodingKey {
      case apiVersion = "api_version"
      case models
    }
  }

  /// The reference's model object: exactly these nine fields (its client refuses any other).
  struct ModelObject: Encodable {
    struct EncryptionParameters: Encodable {
      let polyModulusDegree: Int
      let scale: Double
      let coeffModulusBits: [Int]
      let maxMultiplicativeDepth: Int
      enum CodingKeys: String, CodingKey {
        case polyModulusDegree = "poly_modulus_degree"
        case scale
        case coeffModulusBits = "coeff_modulus_bits"
        case maxMultiplicativeDepth = "max_multiplicative_depth"
      }
    }
    struct Inference: Encodable {
      let inputDimension: Int
      let outputDimension: Int
      let activation: String
      enum CodingKeys: String, CodingKey {
        case inputDimension = "input_dimension"
        case outputDimension = "output_dimension"
        case activation
      }
    }
    struct Parameters: Encodable {
      let weights: [Double]
      let bias: Double
    }
    struct ActivationParameters: Encodable {
      let kind: String
      let coefficients: [Double]
    }
    struct Constraints: Encodable {
      let maxBatchSize: Int
      enum CodingKeys: String, CodingKey { case maxBatchSize = "max_batch_size" }
    }
    let modelId: String
    let version: String
    let description: String
    let heScheme: String
    let encryptionParameters: EncryptionParameters
    let inference: Inference
    let parameters: Parameters
    let activationParameters: ActivationParameters
    let constraints: Constraints
    enum CodingKeys: String, CodingKey {
      case modelId = "model_id"
      case version, description
      case heScheme = "he_scheme"
      case encryptionParameters = "encryption_parameters"
      case inference, parameters
      case activationParameters = "activation_parameters"
      case constraints
    }
  }

  struct PlainResult: Encodable {
    let modelId: String
    let version: String
    let outputs: [Double]
    let diagnostics: [String: String]
    enum CodingKeys: String, CodingKey {
      case modelId = "model_id"
      case version, outputs, diagnostics
    }
  }

  /// The reference's view of a model with a SEAL layout.
  static func describe(_ model: CompiledModel, _ program: SEALFeatureSlotsProgram) -> ModelObject {
    let definition = model.definition
    let layout = program.layout
    return ModelObject(
      modelId: definition.modelId, version: definition.version, description: definition.description, heScheme: "CKKS",
      encryptionParameters: .init(
        polyModulusDegree: layout.polyModulusDegree, scale: layout.scale, coeffModulusBits: layout.coeffModulusBits,
        maxMultiplicativeDepth: layout.maxMultiplicativeDepth),
      inference: .init(
        inputDimension: program.inputDimension, outputDimension: 1, activation: program.activation.name),
      // The registry serves a SEAL layout only for models that publish their parameters.
      parameters: .init(weights: model.publishedParameters?.weights ?? [], bias: model.publishedParameters?.bias ?? 0),
      activationParameters: .init(kind: program.activation.name, coefficients: program.activation.coefficients),
      constraints: .init(maxBatchSize: layout.maxBatchSize))
  }

  /// The reference's job shapes; a completed job's payload (hundreds of kilobytes of hex) is
  /// written straight into the response buffer.
  static func describe(_ job: JobRecord) throws -> Response {
    switch job.status {
    case .completed:
      guard let payload = job.outputs.first else { throw GatewayError(.internal, "completed job without a result") }
      let encoder = JSONEncoder()
      let modelId = try encoder.encode(job.modelId)
      let version = try encoder.encode(job.version)
      var buffer = ByteBuffer()
      buffer.reserveCapacity(256 + 2 * payload.count)
      buffer.writeString(#"{"status":"completed","result":{"model_id":"#)
      buffer.writeBytes(modelId)
      buffer.writeString(#","version":"#)
      buffer.writeBytes(version)
      buffer.writeString(#","payload":""#)
      HexCodec.write(payload, into: &buffer)
      buffer.writeString(
        #"","diagnostics":{"requested_batch_size":\#(job.requestedBatchSize),"#
          + #""processed_batch_size":\#(job.processedBatchSize),"#
          + #""batch_truncated":\#(job.processedBatchSize < job.requestedBatchSize)}}}"#)
      return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    case .failed:
      return try json(["status": "failed", "error": job.errorMessage ?? "evaluation failed"])
    case .queued, .running:
      return try json(["status": job.status.rawValue, "job_id": job.id])
    }
  }

  /// `value` as JSON, keys sorted so that equal answers are equal bytes.
  static func json(_ value: some Encodable) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let data = try encoder.encode(value)
    return Response(
      status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }
}
