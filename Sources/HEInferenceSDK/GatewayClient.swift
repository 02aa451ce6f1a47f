import AsyncHTTPClient
public import Foundation
import GatewayAPI
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import Synchronization

/// One prediction: the decrypted scores and the model's output transform applied to them.
public struct Prediction: Sendable, Equatable {
  /// Scores as the server computed them (decrypted).
  public let scores: [Double]
  /// `transform.apply(scores)`: a probability for sigmoid models, class probabilities for softmax.
  public let outputs: [Double]
  public init(scores: [Double], outputs: [Double]) {
    self.scores = scores
    self.outputs = outputs
  }

  /// The most likely class (argmax of the outputs; for one sigmoid output, 1 when ≥ 0.5).
  public var predictedClass: Int {
    outputs.count == 1 ? (outputs[0] >= 0.5 ? 1 : 0) : outputs.indices.max { outputs[$0] < outputs[$1] } ?? 0
  }
}

/// The SDK's entry point: async calls over the gateway's contract (the generated client on
/// AsyncHTTPClient), and one-call encrypted inference.
///
/// ```swift
/// let gateway = GatewayClient(baseURL: URL(string: "http://127.0.0.1:8080")!)
/// let prediction = try await gateway.infer(model: "logistic_v1", inputs: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
/// ```
public final class GatewayClient: Sendable {
  private let client: Client
  /// How long to wait for a job in total before ``SDKError/timeout(jobId:waitedSeconds:)``.
  public let jobTimeout: Duration
  private let sessions = SessionCache()

  /// - Parameters:
  ///   - baseURL: the gateway, e.g. `http://127.0.0.1:8080`.
  ///   - apiKey: sent as `Authorization: Bearer`; nil for a gateway in open mode.
  ///   - requestTimeout: per HTTP request.
  ///   - jobTimeout: total wait for a job's result.
  public convenience init(
    baseURL: URL, apiKey: String? = nil, requestTimeout: Duration = .seconds(30), jobTimeout: Duration = .seconds(60)
  ) {
    self.init(
      baseURL: baseURL, apiKey: apiKey, requestTimeout: requestTimeout, jobTimeout: jobTimeout, observers: [])
  }

  /// As the public initializer, with `observers` seeing every request before the SDK's own
  /// middleware (tests use it to record what is sent).
  init(
    baseURL: URL, apiKey: String?, requestTimeout: Duration, jobTimeout: Duration,
    observers: [any ClientMiddleware]
  ) {
    // The process-wide shared HTTP client needs no shutdown (a client shut down from `deinit` could
    // run on an event loop, which AsyncHTTPClient forbids).
    client = Client(
      serverURL: baseURL,
      transport: AsyncHTTPClientTransport(configuration: .init(client: .shared, timeout: .init(requestTimeout))),
      middlewares: observers + [GatewayClientMiddleware(apiKey: apiKey)])
    self.jobTimeout = jobTimeout
  }

  // MARK: Discovery

  /// Every served model.
  /// - Throws: ``SDKError/server(code:status:message:details:retryAfter:)`` for a refusal,
  ///   ``SDKError/transport(_:)`` and ``SDKError/unexpectedResponse(status:detail:)``, and
  ///   ``SDKError/incompatibleModel(_:)`` for a model this SDK cannot use.
  public func models() async throws(SDKError) -> [ModelInfo] {
    let output = try await mappingErrors { try await client.listModels() }
    guard case .ok(let ok) = output, case .json(let list) = ok.body else { throw Self.unexpected(output) }
    var models: [ModelInfo] = []
    for model in list.models { models.append(try ModelInfo(model)) }
    return models
  }

  /// One model; `version` nil picks the highest version of `id`.
  /// - Throws: as ``models()``; `UNKNOWN_MODEL` when there is no such model.
  public func model(id: String, version: String? = nil) async throws(SDKError) -> ModelInfo {
    guard let version else {
      let candidates = try await models().filter { $0.id == id }
      guard let latest = candidates.max(by: { Self.versionOrder($0.version, $1.version) }) else {
        throw .server(code: .unknownModel, status: 404, message: "no model named \(id)", details: [:], retryAfter: nil)
      }
      return latest
    }
    let output = try await mappingErrors { try await client.getModel(path: .init(modelId: id, version: version)) }
    guard case .ok(let ok) = output, case .json(let model) = ok.body else { throw Self.unexpected(output) }
    return try ModelInfo(model)
  }

  static func versionOrder(_ a: String, _ b: String) -> Bool {
    let x = a.split(separator: ".").map { Int($0) ?? 0 }
    let y = b.split(separator: ".").map { Int($0) ?? 0 }
    return x.lexicographicallyPrecedes(y)
  }

  // MARK: Sessions and keys

  /// The session for `model` (created once per model and client; `keyFile` keeps its secret key).
  /// - Throws: as ``InferenceSession/init(model:keyFile:)``.
  public func session(for model: ModelInfo, keyFile: URL? = nil) throws(SDKError) -> InferenceSession {
    try sessions.session(for: model, keyFile: keyFile)
  }

  /// Registers the session's evaluation keys (once; no-op for models that need none). Concurrent
  /// callers share one registration, so a session never leaves duplicate key sets behind.
  /// - Throws: ``SDKError/server(code:status:message:details:retryAfter:)`` for a refusal,
  ///   ``SDKError/transport(_:)`` and ``SDKError/unexpectedResponse(status:detail:)`` (quotas,
  ///   `KEY_QUOTA_EXCEEDED`).
  public func registerKeys(_ session: InferenceSession) async throws(SDKError) {
    guard session.model.needsEvaluationKeys, session.evaluationKeyId == nil else { return }
    let registration = session.pendingRegistration.withLock { pending in
      if let pending { return pending }
      let task = Task { () async throws -> String in try await self.register(session) }
      pending = task
      return task
    }
    do {
      session.evaluationKeyId = try await registration.value
      session.pendingRegistration.withLock { if $0 == registration { $0 = nil } }
    } catch {
      session.pendingRegistration.withLock { if $0 == registration { $0 = nil } }
      throw error as? SDKError ?? .transport("\(error)")
    }
  }

  /// One registration of the session's keys; the new key set's id.
  private func register(_ session: InferenceSession) async throws(SDKError) -> String {
    let keys = try session.evaluationKeys()
    func payload(_ bytes: [UInt8]?) -> Components.Schemas.CiphertextPayload? {
      bytes.map { .init(encoding: .base64, format: .heinferCkksV1, payload: .init($0)) }
    }
    let body = Components.Schemas.EvaluationKeyRegistration(
      apiVersion: ContractInfo.version, modelId: session.model.id, version: session.model.version,
      relinearizationKey: payload(keys.relinearization), galoisKeys: payload(keys.galois),
      publicKey: payload(keys.publicKey))
    let output = try await mappingErrors { try await client.registerEvaluationKeys(body: .json(body)) }
    guard case .created(let created) = output, case .json(let set) = created.body else {
      throw Self.unexpected(output)
    }
    return set.keyId
  }

  /// Forgets the session's registered key set on the gateway (no-op when none is registered); the
  /// next inference registers again.
  /// - Throws: ``SDKError/server(code:status:message:details:retryAfter:)`` for a refusal,
  ///   ``SDKError/transport(_:)`` and ``SDKError/unexpectedResponse(status:detail:)``.
  public func deleteKeys(_ session: InferenceSession) async throws(SDKError) {
    guard let keyId = session.evaluationKeyId else { return }
    let output = try await mappingErrors { try await client.deleteEvaluationKeys(path: .init(keyId: keyId)) }
    guard case .noContent = output else { throw Self.unexpected(output) }
    session.evaluationKeyId = nil
  }

  // MARK: Step by step

  /// Encrypts and submits `samples`; returns the job (possibly already finished when `wait` > 0).
  /// When the gateway no longer holds the session's keys (a restart or expiry), registers them
  /// again and submits once more.
  /// The samples are encrypted once: the resubmission sends the same ciphertexts.
  /// - Throws: ``SDKError/invalidInput(_:)`` for samples that do not fit the model (nothing is
  ///   sent), ``SDKError/server(code:status:message:details:retryAfter:)`` for a refusal, and
  ///   ``SDKError/transport(_:)``.
  public func submit(_ samples: [[Double]], session: InferenceSession, wait: Duration = .zero)
    async throws(SDKError) -> InferenceJob
  {
    var timings = StageTimings()
    return try await submit(samples, session: session, wait: wait, timings: &timings)
  }

  func submit(
    _ samples: [[Double]], session: InferenceSession, wait: Duration, timings: inout StageTimings
  ) async throws(SDKError) -> InferenceJob {
    let clock = ContinuousClock()
    let start = clock.now
    let ciphertexts = try session.encrypt(samples)
    timings.encrypt = (clock.now - start).seconds
    return try await submitRegistered(
      ciphertexts, sampleCount: samples.count, session: session, wait: wait, timings: &timings)
  }

  /// Submits ciphertexts that `session.encrypt` produced earlier for `sampleCount` samples (e.g.
  /// encrypted ahead of time or elsewhere); otherwise as ``submit(_:session:wait:)``.
  /// - Throws: ``SDKError/invalidInput(_:)`` when `sampleCount` is outside 1…`max_batch_size` or
  ///   the ciphertexts are not as many as the layout needs for it (nothing is sent).
  public func submit(
    encrypted ciphertexts: [[UInt8]], sampleCount: Int, session: InferenceSession, wait: Duration = .zero
  ) async throws(SDKError) -> InferenceJob {
    let model = session.model
    guard sampleCount >= 1, sampleCount <= model.maxBatchSize else {
      throw .invalidInput("\(sampleCount) samples are outside 1…\(model.maxBatchSize), the model's max_batch_size")
    }
    let expected = model.layout.ciphertextCount(batchSize: sampleCount)
    guard ciphertexts.count == expected else {
      throw .invalidInput("\(sampleCount) samples take \(expected) ciphertexts, got \(ciphertexts.count)")
    }
    var timings = StageTimings()
    return try await submitRegistered(
      ciphertexts, sampleCount: sampleCount, session: session, wait: wait, timings: &timings)
  }

  /// Registers the session's keys when needed and submits; when the gateway no longer holds them,
  /// registers them again and submits once more.
  private func submitRegistered(
    _ ciphertexts: [[UInt8]], sampleCount: Int, session: InferenceSession, wait: Duration,
    timings: inout StageTimings
  ) async throws(SDKError) -> InferenceJob {
    try await registerKeys(session)
    let sent = session.evaluationKeyId
    do {
      return try await submitOnce(
        encrypted: ciphertexts, sampleCount: sampleCount, session: session, wait: wait, timings: &timings)
    } catch .server(code: .missingEvaluationKeys, _, _, _, _) {
      session.forgetEvaluationKeyId(ifStill: sent)
      try await registerKeys(session)
      return try await submitOnce(
        encrypted: ciphertexts, sampleCount: sampleCount, session: session, wait: wait, timings: &timings)
    }
  }

  private func submitOnce(
    encrypted ciphertexts: [[UInt8]], sampleCount: Int, session: InferenceSession, wait: Duration,
    timings: inout StageTimings
  ) async throws(SDKError) -> InferenceJob {
    let clock = ContinuousClock()
    timings.requestBytes = ciphertexts.reduce(0) { $0 + $1.count }
    let body = Components.Schemas.InferRequest(
      apiVersion: ContractInfo.version, modelId: session.model.id, version: session.model.version,
      batchSize: sampleCount,
      inputs: ciphertexts.map { .init(encoding: .base64, format: .heinferCkksV1, payload: .init($0)) },
      evaluationKeyId: session.evaluationKeyId,
      waitMs: Int(min(10_000, max(0, wait.milliseconds))))
    let sent = clock.now
    let output = try await mappingErrors { try await client.inferEncrypted(body: .json(body)) }
    timings.submit = (clock.now - sent).seconds
    switch output {
    case .ok(let ok): if case .json(let job) = ok.body { return InferenceJob(job) }
    case .accepted(let accepted): if case .json(let job) = accepted.body { return InferenceJob(job) }
    default: break
    }
    throw Self.unexpected(output)
  }

  /// The job's current state.
  /// - Throws: ``SDKError/server(code:status:message:details:retryAfter:)`` with `JOB_NOT_FOUND`
  ///   for an unknown, expired or another tenant's job, and ``SDKError/transport(_:)``.
  public func job(id: String) async throws(SDKError) -> InferenceJob {
    let output = try await mappingErrors { try await client.getJob(path: .init(jobId: id)) }
    guard case .ok(let ok) = output, case .json(let job) = ok.body else { throw Self.unexpected(output) }
    return InferenceJob(job)
  }

  /// Polls the job with exponential backoff (1 ms doubling to 100 ms) until it is final or
  /// ``jobTimeout`` passes.
  /// - Throws: ``SDKError/jobFailed(jobId:code:message:)`` when the job failed,
  ///   ``SDKError/timeout(jobId:waitedSeconds:)`` after ``jobTimeout``, and the errors of ``job(id:)``.
  public func waitForResult(_ submitted: InferenceJob) async throws(SDKError) -> EncryptedResult {
    let clock = ContinuousClock()
    let start = clock.now
    var current = submitted
    var delay = Duration.milliseconds(1)
    while true {
      switch current.status {
      case .completed:
        guard let result = current.result else {
          throw .unexpectedResponse(status: 200, detail: "completed job without a result")
        }
        return result
      case .failed:
        throw .jobFailed(jobId: current.id, code: current.failure?.code, message: current.failure?.message ?? "failed")
      case .queued, .running:
        let waited = clock.now - start
        guard waited < jobTimeout else { throw .timeout(jobId: current.id, waitedSeconds: waited.seconds) }
        try? await Task.sleep(for: delay)
        delay = min(delay * 2, .milliseconds(100))
        current = try await job(id: current.id)
      }
    }
  }

  /// Decrypts a result into predictions for the first `sampleCount` samples.
  /// - Throws: ``SDKError/invalidResult(_:)`` when the result does not decrypt with this session.
  public func predictions(from result: EncryptedResult, session: InferenceSession, sampleCount: Int)
    throws(SDKError) -> [Prediction]
  {
    let scores = try session.decryptScores(result.ciphertexts, sampleCount: sampleCount)
    return scores.map { Prediction(scores: $0, outputs: session.model.transform.apply(to: $0)) }
  }

  // MARK: One call

  /// Encrypted inference of one sample: discover (cached), encrypt, submit, wait, decrypt, transform.
  /// - Throws: as ``infer(model:version:batch:)``.
  public func infer(model id: String, version: String? = nil, inputs: [Double]) async throws(SDKError) -> Prediction {
    try await infer(model: id, version: version, batch: [inputs])[0]
  }

  /// Encrypted inference of a batch (samples share ciphertexts as the layout allows).
  ///
  /// The predictions are decrypted values: keep them away from the gateway's operator (see
  /// ``InferenceSession/decryptScores(_:sampleCount:)``).
  /// - Throws: the errors of ``model(id:version:)``, ``submit(_:session:wait:)``,
  ///   ``waitForResult(_:)`` and ``predictions(from:session:sampleCount:)``.
  public func infer(model id: String, version: String? = nil, batch: [[Double]]) async throws(SDKError)
    -> [Prediction]
  {
    var timings = StageTimings()
    return try await infer(model: id, version: version, batch: batch, timings: &timings)
  }

  /// As ``infer(model:version:batch:)``, recording how long each stage took.
  /// - Throws: as ``infer(model:version:batch:)``.
  @_spi(Benchmarking)
  public func infer(model id: String, version: String? = nil, batch: [[Double]], timings: inout StageTimings)
    async throws(SDKError) -> [Prediction]
  {
    let session = try await sessions.session(id: id, version: version, client: self)
    let clock = ContinuousClock()
    let job = try await submit(batch, session: session, wait: .seconds(5), timings: &timings)
    let start = clock.now
    let result = try await waitForResult(job)
    timings.wait = (clock.now - start).seconds
    let decryptStart = clock.now
    let predictions = try predictions(from: result, session: session, sampleCount: batch.count)
    timings.decrypt = (clock.now - decryptStart).seconds
    timings.evaluate = result.evaluationSeconds
    timings.responseBytes = result.ciphertexts.reduce(0) { $0 + $1.count }
    return predictions
  }

  /// The plaintext baseline (`POST /infer/plain`): the server sees `inputs`.
  /// - Throws: ``SDKError/server(code:status:message:details:retryAfter:)`` for a refusal,
  ///   ``SDKError/transport(_:)`` and ``SDKError/unexpectedResponse(status:detail:)``.
  public func inferPlain(model id: String, version: String, inputs: [Double]) async throws(SDKError) -> [Double] {
    let body = Components.Schemas.PlainInferRequest(
      apiVersion: ContractInfo.version, modelId: id, version: version, inputs: inputs)
    let output = try await mappingErrors { try await client.inferPlain(body: .json(body)) }
    guard case .ok(let ok) = output, case .json(let response) = ok.body else { throw Self.unexpected(output) }
    return response.outputs
  }

  // MARK: Helpers

  static func unexpected(_ output: some Sendable) -> SDKError {
    .unexpectedResponse(status: 0, detail: "\(output)")
  }
}

/// Sessions by model id and version, so one-call inference generates keys once per model.
final class SessionCache: Sendable {
  private let cache = Mutex<[String: InferenceSession]>([:])

  func session(for model: ModelInfo, keyFile: URL?) throws(SDKError) -> InferenceSession {
    let key = "\(model.id)@\(model.version)"
    if let existing = cache.withLock({ $0[key] }) { return existing }
    let session = try InferenceSession(model: model, keyFile: keyFile)
    return cache.withLock { cache in
      if let existing = cache[key] { return existing }
      cache[key] = session
      return session
    }
  }

  /// The session of `id` at `version` (nil: the highest version, looked up once).
  func session(id: String, version: String?, client: GatewayClient) async throws(SDKError) -> InferenceSession {
    let requested = "\(id)@\(version ?? "latest")"
    if let existing = cache.withLock({ $0[requested] }) { return existing }
    let session = try session(for: try await client.model(id: id, version: version), keyFile: nil)
    cache.withLock { $0[requested] = session }
    return session
  }
}
