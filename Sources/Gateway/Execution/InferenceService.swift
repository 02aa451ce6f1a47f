import CKKS
import Dispatch
import Foundation
import GatewayAPI
import InferencePrograms
public import Logging
import Synchronization

/// An encrypted inference request after envelope decoding, before validation.
public struct EncryptedRequest: Sendable {
  public var apiVersion: String?
  public var modelId: String
  public var version: String
  public var batchSize: Int
  /// Serialized ciphertexts.
  public var inputs: [[UInt8]]
  /// A registered evaluation key set, for models that need one.
  public var evaluationKeyId: String?

  public init(
    apiVersion: String?, modelId: String, version: String, batchSize: Int, inputs: [[UInt8]],
    evaluationKeyId: String? = nil
  ) {
    self.apiVersion = apiVersion
    self.modelId = modelId
    self.version = version
    self.batchSize = batchSize
    self.inputs = inputs
    self.evaluationKeyId = evaluationKeyId
  }
}

/// Bounds on what jobs may hold in the store, checked before a job is recorded.
public struct JobLimits: Sendable {
  /// Jobs one tenant may hold (any status) until they are fetched and deleted or expire.
  public var jobsPerTenant: Int
  /// Result bytes one tenant may hold.
  public var resultBytesPerTenant: Int
  /// Bytes the whole store may hold; beyond it new jobs get `503 UNAVAILABLE`.
  public var storeBytes: Int

  public init(jobsPerTenant: Int = 10_000, resultBytesPerTenant: Int = 512 << 20, storeBytes: Int = 4 << 30) {
    self.jobsPerTenant = jobsPerTenant
    self.resultBytesPerTenant = resultBytesPerTenant
    self.storeBytes = storeBytes
  }
}

/// One tenant's share of the evaluation queue: the jobs and input bytes it may have waiting or
/// running at once, so that one tenant cannot fill the queue for every other.
public struct TenantQueueShare: Sendable, Equatable {
  /// Jobs waiting or running.
  public var jobs: Int
  /// Input bytes of those jobs (deserialized in a ``WorkerPool``; serialized, as stored, in a
  /// shared queue).
  public var bytes: Int

  public init(jobs: Int, bytes: Int) {
    self.jobs = jobs
    self.bytes = bytes
  }
}

/// Where accepted jobs wait for evaluation and who evaluates them.
public enum JobExecution: Sendable {
  /// In this process, on a bounded pool of threads, with the deserialized inputs in memory until
  /// the job has run (the SQLite and memory stores); the pool bounds each tenant's share.
  case local(WorkerPool)
  /// In a queue shared by every process on the store: the inputs are stored with the job, and
  /// workers in any process (``QueueWorkers``) claim it. `capacity` bounds the jobs waiting,
  /// `share` each tenant's jobs waiting or running (nil: no bound per tenant).
  case shared(any SharedJobQueue, capacity: Int, share: TenantQueueShare?)
}

/// Validation, execution and job bookkeeping for inference; the HTTP layer only translates.
public final class InferenceService: Sendable {
  public let registry: ModelRegistry
  public let store: any JobStore
  public let keys: any EvaluationKeyStoring
  public let limits: JobLimits
  public let execution: JobExecution
  /// Whether `POST /infer/plain` serves models with private weights too (the operator's choice;
  /// exact scores for chosen inputs reveal a model's weights, so it is off by default).
  public let servesPrivateModelsPlain: Bool
  let logger: Logger
  public let metrics: GatewayMetrics
  private let completions = Mutex(CompletionBoard())

  /// Who waits for which job, which jobs are being evaluated, and which finished recently (so a
  /// waiter that registers just after the job finished does not wait for nothing). Waiters
  /// receive the final record directly, so answering `wait_ms` costs no store read.
  private struct CompletionBoard {
    var waiters: [String: [UUID: CheckedContinuation<JobRecord?, Never>]] = [:]
    var finished: [String: ContinuousClock.Instant] = [:]
    /// Jobs a worker is evaluating: shown as `running` without a store write per job.
    var running: Set<String> = []

    mutating func markFinished(_ id: String) -> [CheckedContinuation<JobRecord?, Never>] {
      let now = ContinuousClock.now
      if finished.count > 4096 { finished = finished.filter { now - $0.value < .seconds(60) } }
      finished[id] = now
      running.remove(id)
      return Array((waiters.removeValue(forKey: id) ?? [:]).values)
    }
  }

  /// A service that evaluates in this process, on `pool`, and keeps jobs in `store`.
  public convenience init(
    registry: ModelRegistry, store: any JobStore, pool: WorkerPool, logger: Logger,
    metrics: GatewayMetrics = GatewayMetrics(), keys: any EvaluationKeyStoring = EvaluationKeyStore(),
    limits: JobLimits = JobLimits(), servesPrivateModelsPlain: Bool = false
  ) {
    self.init(
      registry: registry, store: store, execution: .local(pool), logger: logger, metrics: metrics, keys: keys,
      limits: limits, servesPrivateModelsPlain: servesPrivateModelsPlain)
  }

  /// A service that queues jobs in `queue`, shared with other processes, for ``QueueWorkers`` in
  /// any of them; at most `queueCapacity` jobs wait.
  public convenience init(
    registry: ModelRegistry, queue: any SharedJobQueue, queueCapacity: Int, queueShare: TenantQueueShare? = nil,
    logger: Logger, metrics: GatewayMetrics = GatewayMetrics(), keys: any EvaluationKeyStoring,
    limits: JobLimits = JobLimits(), servesPrivateModelsPlain: Bool = false
  ) {
    self.init(
      registry: registry, store: queue, execution: .shared(queue, capacity: queueCapacity, share: queueShare),
      logger: logger,
      metrics: metrics, keys: keys, limits: limits, servesPrivateModelsPlain: servesPrivateModelsPlain)
  }

  private init(
    registry: ModelRegistry, store: any JobStore, execution: JobExecution, logger: Logger, metrics: GatewayMetrics,
    keys: any EvaluationKeyStoring, limits: JobLimits, servesPrivateModelsPlain: Bool
  ) {
    self.servesPrivateModelsPlain = servesPrivateModelsPlain
    self.registry = registry
    self.store = store
    self.keys = keys
    self.limits = limits
    self.execution = execution
    self.logger = logger
    self.metrics = metrics
    if case .shared(let queue, _, _) = execution {
      // A job finished by a worker anywhere: answer whoever waits for it here.
      queue.signals.onJobFinished { [weak self] id in self?.jobFinishedElsewhere(id) }
    }
  }

  // MARK: Validation (in the contract's order)

  /// Refuses an `api_version` this server does not speak.
  public func checkAPIVersion(_ version: String?) throws(GatewayError) {
    guard let version else { return }
    guard ContractInfo.isCompatible(version) else {
      throw GatewayError(
        .unsupportedAPIVersion,
        "api_version \(version) is not supported; this server speaks \(ContractInfo.version)",
        details: ["supported": ContractInfo.version])
    }
  }

  /// The model for `id` and `version`, or `UNKNOWN_MODEL`.
  public func model(id: String, version: String) throws(GatewayError) -> CompiledModel {
    if let model = registry.model(id: id, version: version) { return model }
    if registry.hasModel(id: id) {
      throw GatewayError(
        .unknownModel, "model \(id) has no version \(version)", details: ["model_id": id, "version": version])
    }
    throw GatewayError(.unknownModel, "no model named \(id)", details: ["model_id": id])
  }

  /// Checks the whole request, loads its ciphertexts and looks up its evaluation keys; nothing is
  /// evaluated before this passes.
  func validate(_ request: EncryptedRequest, tenant: String) async throws(GatewayError) -> (
    CompiledModel, [Ciphertext], EvaluationKeySet?
  ) {
    let (model, ciphertexts) = try checkedInputs(request)
    return (model, ciphertexts, try await evaluationKeys(for: model, id: request.evaluationKeyId, tenant: tenant))
  }

  /// The request's model and ciphertexts, checked in the contract's order (API version, model,
  /// batch size, then every ciphertext); everything but the key lookup.
  func checkedInputs(_ request: EncryptedRequest) throws(GatewayError) -> (CompiledModel, [Ciphertext]) {
    try checkAPIVersion(request.apiVersion)
    let model = try model(id: request.modelId, version: request.version)
    let maximum = model.definition.maxBatchSize
    guard request.batchSize >= 1, request.batchSize <= maximum else {
      throw GatewayError(
        .invalidBatchSize, "batch_size \(request.batchSize) is outside 1…\(maximum)",
        details: ["max_batch_size": String(maximum)])
    }
    let expected = model.ciphertextCount(batchSize: request.batchSize)
    guard request.inputs.count == expected else {
      let perGroup = model.program.layout.ciphertextsPerGroup
      let holding =
        perGroup == 1
        ? "input ciphertexts of \(model.samplesPerCiphertext) samples"
        : "input ciphertexts (groups of \(perGroup) holding \(model.samplesPerCiphertext) samples)"
      throw GatewayError(
        .invalidBatchSize, "batch_size \(request.batchSize) needs \(expected) \(holding), got \(request.inputs.count)",
        details: ["expected_inputs": String(expected)])
    }
    var ciphertexts: [Ciphertext] = []
    // What each deserialized input takes in memory, counted against the request budget before it
    // is allocated (two polynomials at the input level, 8 bytes a residue).
    let inputBytes = 2 * (model.program.inputLevel + 1) * model.parameters.degree * MemoryLayout<UInt64>.size
    for (index, bytes) in request.inputs.enumerated() {
      try RequestMemory.charge(inputBytes)
      let ciphertext: Ciphertext
      do {
        ciphertext = try Ciphertext(deserializing: bytes, parameters: model.parameters)
      } catch .unknownFingerprint {
        throw GatewayError(
          .cryptoPolicyViolation,
          "inputs[\(index)] was made with other encryption parameters than model \(model.modelId) \(model.version)",
          details: ["index": String(index), "expected_fingerprint": model.parameters.levelFingerprints[0].description])
      } catch {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] is not a valid ciphertext: \(error)", details: ["index": String(index)])
      }
      let inputLevel = model.program.inputLevel
      guard ciphertext.level == inputLevel else {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] is at level \(ciphertext.level); this model takes level \(inputLevel)",
          details: ["index": String(index)])
      }
      guard ciphertext.size == 2 else {
        throw GatewayError(
          .invalidCiphertext, "inputs[\(index)] has \(ciphertext.size) polynomials; expected 2",
          details: ["index": String(index)])
      }
      guard ciphertext.scale == model.definition.encryption.inputScale else {
        throw GatewayError(
          .invalidCiphertext,
          "inputs[\(index)] has scale \(ciphertext.scale); this model takes input_scale "
            + "\(model.definition.encryption.inputScale)",
          details: ["index": String(index)])
      }
      ciphertexts.append(ciphertext)
    }
    return (model, ciphertexts)
  }

  /// The registered key set a model needs (nil when it needs none), or `MISSING_EVALUATION_KEYS`.
  func evaluationKeys(for model: CompiledModel, id: String?, tenant: String) async throws(GatewayError)
    -> EvaluationKeySet?
  {
    let needs = model.program.keyRequirements
    guard !needs.isEmpty else { return nil }
    func missing(_ message: String) -> GatewayError {
      GatewayError(
        .missingEvaluationKeys, message + "; register them with POST /keys and send evaluation_key_id",
        details: InferenceService.details(needs))
    }
    guard let id else { throw missing("model \(model.modelId) needs evaluation keys") }
    guard let set = try await keys.set(id: id, tenant: tenant, now: Date()) else {
      throw missing("no live key set \(id)")
    }
    guard set.modelId == model.modelId, set.version == model.version else {
      throw missing("key set \(id) was registered for \(set.modelId) \(set.version)")
    }
    return set
  }

  /// What a model's key set must hold, as error details.
  static func details(_ needs: EvaluationKeyRequirements) -> [String: String] {
    [
      "relinearization": String(needs.relinearization),
      "galois_elements": needs.galoisElements.map(String.init).joined(separator: ","),
      "public_key": String(needs.publicKey),
    ]
  }

  /// Registers evaluation keys for a model after checking them against its parameters and needs.
  public func registerKeys(
    apiVersion: String?, modelId: String, version: String, relinearizationKey: [UInt8]?, galoisKeys: [UInt8]?,
    publicKey: [UInt8]? = nil, tenant: String
  ) async throws(GatewayError) -> EvaluationKeySet {
    try checkAPIVersion(apiVersion)
    let model = try model(id: modelId, version: version)
    let parameters = model.parameters
    func invalid(_ what: String, _ error: SerializationError) -> GatewayError {
      if case .unknownFingerprint = error {
        return GatewayError(
          .cryptoPolicyViolation, "\(what) was made with other encryption parameters than model \(modelId) \(version)")
      }
      return GatewayError(.invalidEvaluationKeys, "\(what) is not valid: \(error)")
    }
    // What the deserialized keys take in memory, counted against the request budget before each is
    // allocated: every polynomial over the key basis Q ∪ P, 8 bytes a residue; a key-switching key
    // has one (b, a) pair per digit.
    let polynomialBytes = parameters.keyBasis.count * parameters.degree * MemoryLayout<UInt64>.size
    let keySwitchingKeyBytes = 2 * parameters.parameterDescription.keySwitchingDigits * polynomialBytes
    var relinearization: RelinearizationKey?
    if let bytes = relinearizationKey {
      try RequestMemory.charge(keySwitchingKeyBytes)
      do { relinearization = try RelinearizationKey(deserializing: bytes, parameters: parameters) } catch {
        throw invalid("relinearization_key", error)
      }
    }
    var galois: GaloisKeys?
    let needs = model.program.keyRequirements
    let requirements = InferenceService.details(needs)
    if let bytes = galoisKeys {
      // Only the keys the model uses are held: the elements are checked before any key is loaded
      // and its seeds expanded, so that unneeded keys cost nothing.
      let elements: [Int]
      do { elements = try GaloisKeys.elements(inSerialized: bytes, parameters: parameters) } catch {
        throw invalid("galois_keys", error)
      }
      let unneeded = elements.filter { !needs.galoisElements.contains($0) }
      guard unneeded.isEmpty, !needs.galoisElements.isEmpty else {
        throw GatewayError(
          .invalidEvaluationKeys,
          needs.galoisElements.isEmpty
            ? "model \(modelId) uses no Galois keys"
            : "model \(modelId) uses no Galois keys for elements "
              + "\(unneeded.prefix(8).map(String.init).joined(separator: ", "))"
              + "\(unneeded.count > 8 ? ", …" : ""); send only the elements it lists",
          details: requirements)
      }
      try RequestMemory.charge(elements.count * keySwitchingKeyBytes)
      do { galois = try GaloisKeys(deserializing: bytes, parameters: parameters) } catch {
        throw invalid("galois_keys", error)
      }
    }
    var encryptionKey: PublicKey?
    if let bytes = publicKey {
      try RequestMemory.charge(2 * polynomialBytes)
      do { encryptionKey = try PublicKey(deserializing: bytes, parameters: parameters) } catch {
        throw invalid("public_key", error)
      }
      // A seeded key's uniform part is expanded here from its seed, so no client can choose it
      // (a chosen pk1, say zero, would let the re-randomization reveal c1·W).
      guard encryptionKey?.seed != nil else {
        throw GatewayError(.invalidEvaluationKeys, "public_key must be in seeded form (its uniform part from a seed)")
      }
    }
    if needs.relinearization, relinearization == nil {
      throw GatewayError(
        .invalidEvaluationKeys, "model \(modelId) needs a relinearization key", details: requirements)
    }
    if relinearization != nil, !needs.relinearization {
      throw GatewayError(
        .invalidEvaluationKeys, "model \(modelId) uses no relinearization key", details: requirements)
    }
    if needs.publicKey, encryptionKey == nil {
      throw GatewayError(
        .invalidEvaluationKeys, "model \(modelId) has private weights and needs public_key to re-randomize results",
        details: requirements)
    }
    if encryptionKey != nil, !needs.publicKey {
      throw GatewayError(.invalidEvaluationKeys, "model \(modelId) uses no public key", details: requirements)
    }
    let missing = needs.galoisElements.filter { galois?.keys[$0] == nil }
    guard missing.isEmpty else {
      throw GatewayError(
        .invalidEvaluationKeys, "model \(modelId) needs Galois keys for elements \(missing)", details: requirements)
    }
    return try await keys.insert(
      KeyRegistration(
        tenant: tenant, modelId: modelId, version: version, relinearizationKey: relinearization, galoisKeys: galois,
        publicKey: encryptionKey, serializedRelinearizationKey: relinearizationKey, serializedGaloisKeys: galoisKeys,
        serializedPublicKey: publicKey,
        sizeBytes: KeyRegistration.memoryBytes(
          relinearizationKey: relinearization, galoisKeys: galois, publicKey: encryptionKey)),
      now: Date())
  }

  // MARK: Execution

  /// Evaluates one group of input ciphertexts holding `sampleCount` requested samples with the
  /// model's program, then applies the decryption-only shrink to each of its results.
  static func evaluate(_ model: CompiledModel, _ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeySet?)
    throws -> [[UInt8]]
  {
    let results = try model.program.evaluate(
      group, sampleCount: sampleCount,
      keys: EvaluationKeys(
        relinearization: keys?.relinearizationKey, galois: keys?.galoisKeys, publicKey: keys?.publicKey),
      evaluator: model.evaluator)
    let bits = model.definition.encryption.resultDroppedBits
    return try results.map {
      try $0.serializedForDecryption(
        parameters: model.parameters, droppedLowBits: model.program.resultDroppedBits ?? (bits, bits))
    }
  }

  /// Whether `POST /infer/plain` serves `model`: models that publish their weights always, models
  /// with private weights only when the operator allows it.
  public func servesPlain(_ model: CompiledModel) -> Bool {
    model.weightsArePublished || servesPrivateModelsPlain
  }

  /// Plaintext scores after the output transform (the baseline route).
  /// - Throws: `PLAIN_INFERENCE_REFUSED` for a model with private weights unless the operator
  ///   allows it (d + 1 exact answers determine a linear model's weights), else the validation
  ///   errors of the request.
  public func inferPlain(apiVersion: String?, modelId: String, version: String, inputs: [Double]) throws(GatewayError)
    -> [Double]
  {
    try checkAPIVersion(apiVersion)
    let model = try model(id: modelId, version: version)
    guard servesPlain(model) else {
      throw GatewayError(
        .plainInferenceRefused,
        "model \(modelId) \(version) has private weights and is served encrypted only: exact plaintext scores "
          + "for chosen inputs would reveal them; use POST /infer",
        details: ["model_id": modelId, "version": version])
    }
    let d = model.inputDimension
    guard inputs.count == d else {
      throw GatewayError(
        .invalidInput, "model \(modelId) takes \(d) inputs, got \(inputs.count)",
        details: ["input_dimension": String(d)])
    }
    if let bad = inputs.firstIndex(where: { !$0.isFinite }) {
      throw GatewayError(.invalidInput, "inputs[\(bad)] is not a finite number", details: ["index": String(bad)])
    }
    let outputs = model.definition.outputTransform.apply(to: model.plainScores(inputs))
    // Finite inputs far outside input_bound can overflow the scores.
    guard outputs.allSatisfy(\.isFinite) else {
      throw GatewayError(
        .invalidInput, "the scores of these inputs are not finite numbers; keep inputs within ±input_bound",
        details: ["input_bound": String(model.definition.inputBound)])
    }
    return outputs
  }

  // MARK: Jobs

  /// Validates, queues the job and returns it (status `queued`).
  /// - Throws: a validation ``GatewayError``, or `UNAVAILABLE` when the queue is full.
  public func submit(_ request: EncryptedRequest, tenant: String) async throws(GatewayError) -> JobRecord {
    let (model, ciphertexts, keySet) = try await validate(request, tenant: tenant)
    let job = JobRecord(
      id: RandomIdentifier.make(), tenant: tenant, modelId: model.modelId, version: model.version,
      batchSize: request.batchSize, now: Date())
    return try await accept(
      job, model: model, inputs: ciphertexts, keys: keySet, serializedInputs: request.inputs, sealVersion: nil)
  }

  /// What job `job` returns for its (deserialized, checked) `inputs`: the serialized results of
  /// every group, group by group, for this gateway's contract, one SEAL stream (with
  /// `sealVersion`'s header) for the reference contract.
  static func outputs(
    of job: JobRecord, model: CompiledModel, inputs: [Ciphertext], keys: EvaluationKeySet?,
    sealVersion: SEALFormat.Version?
  ) throws -> [Data] {
    switch job.contract {
    case .gateway:
      let samplesPerGroup = model.samplesPerCiphertext
      let perGroup = model.program.layout.ciphertextsPerGroup
      return try stride(from: 0, to: inputs.count, by: perGroup).flatMap { start in
        try evaluate(
          model, Array(inputs[start..<(start + perGroup)]),
          sampleCount: job.requestedBatchSize - start / perGroup * samplesPerGroup, keys: keys
        ).map { Data($0) }
      }
    case .referenceV1:
      guard let program = model.sealProgram else { throw GatewayError(.internal, "the model has no SEAL layout") }
      return [
        Data(
          try program.evaluate(inputs).sealBytes(parameters: program.parameters, version: sealVersion ?? .compatible))
      ]
    }
  }

  /// Runs `evaluate` and returns `job` completed with its outputs, or failed; records the metrics.
  func finish(_ job: JobRecord, evaluate: () async throws -> [Data]) async -> JobRecord {
    let started = ContinuousClock.now
    var finished = job
    do {
      finished.outputs = try await evaluate()
      finished.status = .completed
      finished.processedBatchSize = job.requestedBatchSize
    } catch {
      finished.status = .failed
      finished.errorCode = ErrorCode.jobFailed.rawValue
      // A key set deleted before a queued job ran is the client's doing: say so; anything else
      // stays in the logs.
      if let error = error as? GatewayError, error.code == .missingEvaluationKeys {
        finished.errorMessage = error.message
      } else {
        finished.errorMessage = "evaluation failed"
      }
      logger.error("evaluation failed", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
    }
    let elapsed = ContinuousClock.now - started
    metrics.evaluationSeconds.record(elapsed)
    (finished.status == .completed ? metrics.jobsCompleted : metrics.jobsFailed).increment()
    finished.evaluationMilliseconds = elapsed / .milliseconds(1)
    finished.updatedAt = Date()
    return finished
  }

  /// Records `job` as queued and hands it to the execution: the local worker pool with its
  /// deserialized `inputs`, or the shared queue with its `serializedInputs`.
  /// - Throws: `JOB_QUOTA_EXCEEDED`; `UNAVAILABLE` when the queue or the store is full; `INTERNAL`
  ///   when the store refuses the job.
  func accept(
    _ job: JobRecord, model: CompiledModel, inputs: [Ciphertext], keys: EvaluationKeySet?,
    serializedInputs: [[UInt8]], sealVersion: SEALFormat.Version?
  ) async throws(GatewayError) -> JobRecord {
    switch execution {
    case .local(let pool):
      return try await enqueue(job, on: pool, inputs: inputs) {
        try InferenceService.outputs(of: job, model: model, inputs: inputs, keys: keys, sealVersion: sealVersion)
      }
    case .shared(let queue, let capacity, let share):
      try await checkRoom(for: job.tenant)
      let work = PendingEvaluation(
        inputs: serializedInputs.map { Data($0) }, evaluationKeyId: keys?.id, sealVersion: sealVersion?.description)
      let outcome: EnqueueOutcome
      do {
        outcome = try await queue.enqueue(job, work: work, maximumQueued: capacity, share: share)
      } catch {
        logger.error("job store insert failed", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
        throw GatewayError(.internal, "the job could not be stored")
      }
      switch outcome {
      case .queued: break
      case .queueFull:
        metrics.jobsRefused.increment()
        throw GatewayError(
          .unavailable, "the evaluation queue is full; retry later", details: ["retry_after_seconds": "1"])
      case .tenantShareFull:
        metrics.jobsRefused.increment()
        throw Self.tenantShareFull(jobs: share?.jobs ?? .max, bytes: share?.bytes ?? .max)
      }
      metrics.jobsSubmitted.increment()
      return job
    }
  }

  /// Checks the tenant's quota and the store's bound before a job is recorded.
  /// - Throws: `JOB_QUOTA_EXCEEDED`, `UNAVAILABLE` when the store is full, `INTERNAL` when it
  ///   cannot be read.
  func checkRoom(for tenant: String) async throws(GatewayError) {
    let usage: JobUsage
    let stored: Int
    do {
      (usage, stored) = try await store.admission(tenant: tenant)
    } catch {
      logger.error("job store read failed", metadata: ["error": "\(error)"])
      throw GatewayError(.internal, "the job store could not be read")
    }
    guard usage.jobs < limits.jobsPerTenant, usage.resultBytes < limits.resultBytesPerTenant else {
      throw GatewayError(
        .jobQuotaExceeded,
        "this tenant holds \(usage.jobs) jobs with \(usage.resultBytes) result bytes (limits \(limits.jobsPerTenant) "
          + "and \(limits.resultBytesPerTenant)); fetched results are deleted shortly after, others when they expire",
        details: ["jobs_limit": "\(limits.jobsPerTenant)", "result_bytes_limit": "\(limits.resultBytesPerTenant)"])
    }
    guard stored < limits.storeBytes else {
      logger.warning("job store full", metadata: ["bytes": "\(stored)", "limit": "\(limits.storeBytes)"])
      throw GatewayError(
        .unavailable, "the job store is full; retry later", details: ["retry_after_seconds": "60"])
    }
  }

  /// Stores `job` as queued and hands `evaluate` (which returns the result payloads) to `pool`;
  /// the worker records the outcome before it takes the next job, so shutting the pool down
  /// (``WorkerPool/shutdown()``) leaves every accepted job recorded. A place in the queue is
  /// reserved before anything is written: a job refused with `503` writes nothing.
  private func enqueue(
    _ job: JobRecord, on pool: WorkerPool, inputs: [Ciphertext], evaluate: @escaping @Sendable () throws -> [Data]
  ) async throws(GatewayError) -> JobRecord {
    try await checkRoom(for: job.tenant)
    // The deserialized inputs stay in memory until the job has run: they count against the pool.
    let bytes = inputs.reduce(0) { $0 + $1.memoryBytes }
    guard bytes <= pool.tenantByteCapacity, bytes <= pool.byteCapacity else {
      metrics.jobsRefused.increment()
      throw GatewayError(
        .payloadTooLarge,
        "the inputs take \(bytes) bytes in memory, more than one tenant's queued jobs may hold "
          + "(\(min(pool.tenantByteCapacity, pool.byteCapacity))); send fewer samples per request",
        details: ["limit_bytes": "\(min(pool.tenantByteCapacity, pool.byteCapacity))"])
    }
    switch pool.reserve(bytes: bytes, tenant: job.tenant) {
    case .granted:
      // The pool holds the inputs from here on: they leave the request's budget.
      RequestMemory.release(bytes)
    case .queueFull:
      metrics.jobsRefused.increment()
      throw GatewayError(
        .unavailable, "the evaluation queue is full; retry later", details: ["retry_after_seconds": "1"])
    case .tenantShareFull:
      metrics.jobsRefused.increment()
      throw Self.tenantShareFull(jobs: pool.tenantJobCapacity, bytes: pool.tenantByteCapacity)
    }
    do {
      try await store.insert(job)
    } catch {
      pool.cancelReservation(bytes: bytes, tenant: job.tenant)
      logger.error("job store insert failed", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
      throw GatewayError(.internal, "the job could not be stored")
    }
    metrics.jobsSubmitted.increment()
    pool.submit(
      reserved: { [self] in
        completions.withLock { _ = $0.running.insert(job.id) }
        // This is a worker thread, not the cooperative pool: it waits for the record to be written.
        let recorded = DispatchSemaphore(value: 0)
        Task {
          await self.record(await self.finish(job, evaluate: evaluate))
          recorded.signal()
        }
        recorded.wait()
      }, bytes: bytes, tenant: job.tenant)
    return job
  }

  /// The refusal of a job whose tenant holds its share of the evaluation queue already: other
  /// tenants' jobs are still accepted.
  static func tenantShareFull(jobs: Int, bytes: Int) -> GatewayError {
    GatewayError(
      .unavailable,
      "this tenant's share of the evaluation queue is full (\(jobs) jobs or \(bytes) input bytes waiting or "
        + "running); retry when its jobs have run",
      details: ["retry_after_seconds": "1", "tenant_jobs_limit": "\(jobs)", "tenant_bytes_limit": "\(bytes)"])
  }

  /// ``markFetched(_:)`` without holding up the answer: the mark only shortens how long the result
  /// is kept, so a mark lost to a crash leaves the result to the time to live.
  public func markFetchedLater(_ job: JobRecord) {
    guard job.status.isFinal, job.fetchedAt == nil else { return }
    Task { await markFetched(job) }
  }

  /// Records that `job`'s final state was handed to its tenant (its result is then kept only for
  /// the retention period, see ``JobCleanup``).
  public func markFetched(_ job: JobRecord) async {
    guard job.status.isFinal, job.fetchedAt == nil else { return }
    do {
      try await store.markFetched(id: job.id, tenant: job.tenant, at: Date())
    } catch {
      logger.error("job store update failed", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
    }
  }

  private func record(_ job: JobRecord) async {
    do {
      try await store.update(job)
    } catch {
      logger.error("job store update failed", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
    }
    let continuations = completions.withLock { $0.markFinished(job.id) }
    for continuation in continuations { continuation.resume(returning: job) }
  }

  /// The job if `tenant` owns it and it came through `contract`.
  public func job(id: String, tenant: String, contract: JobRecord.Contract = .gateway) async throws(GatewayError)
    -> JobRecord
  {
    let found: JobRecord?
    do {
      found = try await store.job(id: id, tenant: tenant)
    } catch {
      logger.error("job store read failed", metadata: ["job_id": "\(id)", "error": "\(error)"])
      throw GatewayError(.internal, "the job could not be read")
    }
    guard var found, found.contract == contract else {
      throw GatewayError(.jobNotFound, "no job \(id)", details: ["job_id": id])
    }
    if found.status == .queued, completions.withLock({ $0.running.contains(id) }) { found.status = .running }
    return found
  }

  /// Waits until `submitted` is final or `timeout` passes, then returns its latest state (from
  /// the worker directly when it finishes in time, else from the store).
  public func waitForJob(_ submitted: JobRecord, timeout: Duration) async throws(GatewayError) -> JobRecord {
    if submitted.status.isFinal || timeout <= .zero { return submitted }
    if case .shared = execution { return try await waitForSharedJob(submitted, timeout: timeout) }
    if let finished = await completion(of: submitted.id, upTo: timeout) { return finished }
    return try await job(id: submitted.id, tenant: submitted.tenant, contract: submitted.contract)
  }

  /// Waits for a job of the shared queue, which a worker in any process may finish: reads the
  /// store when the database says the job finished, and in any case after 20 ms, 40 ms, … (at
  /// most a second apart), so that a lost notification costs time, not the answer.
  private func waitForSharedJob(_ submitted: JobRecord, timeout: Duration) async throws(GatewayError) -> JobRecord {
    let deadline = ContinuousClock.now + timeout
    var interval = Duration.milliseconds(20)
    while true {
      _ = await completion(of: submitted.id, upTo: min(interval, max(deadline - .now, .zero)))
      let current = try await job(id: submitted.id, tenant: submitted.tenant, contract: submitted.contract)
      if current.status.isFinal || ContinuousClock.now >= deadline { return current }
      interval = min(interval * 2, .seconds(1))
    }
  }

  /// A job of the shared queue became final in some process: wake whoever waits for it here.
  private func jobFinishedElsewhere(_ id: String) {
    let continuations = completions.withLock { $0.markFinished(id) }
    for continuation in continuations { continuation.resume(returning: nil) }
  }

  /// The final record of job `id` when a worker of this process finishes it within `timeout`;
  /// nil when it finished elsewhere, before the call, or not in time.
  private func completion(of id: String, upTo timeout: Duration) async -> JobRecord? {
    await withTaskGroup(of: JobRecord?.self) { group in
      group.addTask { await self.completion(of: id) }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
  }

  /// The final record of job `id` when a worker finishes it; nil when it had already finished
  /// before the call registered, or the task is cancelled.
  private func completion(of id: String) async -> JobRecord? {
    let token = UUID()
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<JobRecord?, Never>) in
        let resumeNow = completions.withLock { board in
          if board.finished[id] != nil || Task.isCancelled { return true }
          board.waiters[id, default: [:]][token] = continuation
          return false
        }
        if resumeNow { continuation.resume(returning: nil) }
      }
    } onCancel: {
      let continuation = completions.withLock { $0.waiters[id]?.removeValue(forKey: token) }
      continuation?.resume(returning: nil)
    }
  }
}

/// Job and key identifiers: 128 bits from the operating system's CSPRNG, lowercase hex.
enum RandomIdentifier {
  static func make() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<2).map { _ in
      let hex = String(generator.next() as UInt64, radix: 16)
      return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined()
  }
}
