import CKKS
import Foundation
import Logging
public import ServiceLifecycle

/// Evaluation workers on a shared job queue (``SharedJobQueue``): each loop claims the oldest
/// waiting job under a lease, renews the lease while the job is evaluated on the worker pool's
/// threads, and records the outcome if it still holds the lease. On graceful shutdown the loops
/// stop claiming and finish the jobs they hold. Run by `heinfer serve` (beside the HTTP server)
/// and `heinfer worker` (alone).
public struct QueueWorkers: Service {
  let service: InferenceService
  let queue: any SharedJobQueue
  let pool: WorkerPool
  /// How long a claim lasts without renewal; a worker that dies loses its jobs after this long.
  public let lease: Duration
  /// Claims of one job before it is failed instead of claimed again.
  public let maximumAttempts: Int
  /// Longest wait between looks at the queue when no notification arrives.
  public let pollInterval: Duration

  /// - Parameters:
  ///   - service: a service on a shared queue (``JobExecution/shared(_:capacity:)``); its
  ///     registry, key store, metrics and logger are used.
  ///   - pool: the threads evaluations run on; one loop per thread claims jobs.
  /// - Precondition: `service` executes on a shared queue; `lease` is at least a second and
  ///   `maximumAttempts` at least 1.
  public init(
    service: InferenceService, pool: WorkerPool, lease: Duration = .seconds(30), maximumAttempts: Int = 3,
    pollInterval: Duration = .seconds(1)
  ) {
    guard case .shared(let queue, _, _) = service.execution else {
      preconditionFailure("QueueWorkers need a service on a shared queue")
    }
    precondition(lease >= .seconds(1) && maximumAttempts >= 1 && pollInterval > .zero)
    self.service = service
    self.queue = queue
    self.pool = pool
    self.lease = lease
    self.maximumAttempts = maximumAttempts
    self.pollInterval = pollInterval
  }

  public func run() async throws {
    await cancelWhenGracefulShutdown {
      await withDiscardingTaskGroup { group in
        for _ in 0..<pool.threadCount {
          group.addTask { await workLoop() }
        }
      }
    }
  }

  /// Claims and runs jobs until cancelled (graceful shutdown); a job being run is finished first.
  func workLoop() async {
    while !Task.isCancelled {
      let claim: ClaimedJob?
      do {
        claim = try await queue.claim(lease: lease, maximumAttempts: maximumAttempts)
      } catch {
        service.logger.error("claiming a job failed", metadata: ["error": "\(error)"])
        try? await Task.sleep(for: pollInterval)
        continue
      }
      guard let claim else {
        await queue.signals.waitForWork(upTo: pollInterval)
        continue
      }
      // Shutdown waits for the job in hand: it is not cancelled halfway.
      _ = await Task { await runClaimed(claim) }.value
    }
  }

  /// Evaluates a claimed job while renewing its lease, then records the outcome; returns whether
  /// it was recorded (false: the lease was lost to another worker, which records it instead).
  @discardableResult
  func runClaimed(_ claim: ClaimedJob) async -> Bool {
    let logger = service.logger
    if claim.attempt > 1 {
      service.metrics.jobsReclaimed.increment()
      logger.warning(
        "job claimed again after its worker stopped",
        metadata: ["job_id": "\(claim.job.id)", "attempt": "\(claim.attempt)"])
    }
    let outcome = await withTaskGroup(of: JobRecord?.self) { group in
      group.addTask { await service.finish(claim.job) { try await evaluate(claim) } }
      group.addTask {
        // Renew at a third of the lease, so one late renewal does not lose it.
        while !Task.isCancelled {
          try? await Task.sleep(for: lease / 3)
          if Task.isCancelled { break }
          do {
            if try await !queue.renew(claim, lease: lease) {
              logger.warning("lease lost during evaluation", metadata: ["job_id": "\(claim.job.id)"])
              break
            }
          } catch {
            logger.error("lease renewal failed", metadata: ["job_id": "\(claim.job.id)", "error": "\(error)"])
          }
        }
        return nil
      }
      var outcome: JobRecord?
      for await result in group {
        if let result {
          outcome = result
          group.cancelAll()
        }
      }
      return outcome
    }
    guard let outcome else { return false }
    do {
      let recorded = try await queue.complete(claim, outcome: outcome)
      if !recorded {
        service.metrics.resultsDiscarded.increment()
        logger.warning("result discarded: another worker holds the job", metadata: ["job_id": "\(claim.job.id)"])
      }
      return recorded
    } catch {
      // Not recorded: the lease expires and the job runs again.
      logger.error("recording a job failed", metadata: ["job_id": "\(claim.job.id)", "error": "\(error)"])
      return false
    }
  }

  /// Loads the claimed job's model, inputs and keys, and evaluates it on the pool.
  private func evaluate(_ claim: ClaimedJob) async throws -> [Data] {
    let job = claim.job
    guard let model = service.registry.model(id: job.modelId, version: job.version) else {
      throw GatewayError(.unknownModel, "model \(job.modelId) \(job.version) is not served by this worker")
    }
    var keys: EvaluationKeySet?
    if let id = claim.work.evaluationKeyId {
      keys = try await service.keys.set(id: id, tenant: job.tenant, now: Date())
      guard keys != nil else {
        throw GatewayError(.missingEvaluationKeys, "key set \(id) was deleted or expired before the job ran")
      }
    }
    let work = claim.work
    let loaded = keys
    return try await pool.perform {
      // The inputs passed validation when the job was accepted; they are read again here.
      let inputs = try work.inputs.map { bytes in
        switch job.contract {
        case .gateway: try Ciphertext(deserializing: [UInt8](bytes), parameters: model.parameters)
        case .referenceV1:
          try Ciphertext(
            sealBytes: [UInt8](bytes), parameters: model.sealProgram?.parameters ?? model.parameters)
        }
      }
      let version = work.sealVersion.flatMap(SEALFormat.Version.init(parsing:))
      return try InferenceService.outputs(of: job, model: model, inputs: inputs, keys: loaded, sealVersion: version)
    }
  }
}

extension SEALFormat.Version {
  /// `major.minor`, as ``description`` writes it.
  init?(parsing text: String) {
    let parts = text.split(separator: ".")
    guard parts.count == 2, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else { return nil }
    self.init(major: major, minor: minor)
  }
}

extension WorkerPool {
  /// Runs `work` on one of the pool's threads and returns its result.
  /// - Throws: what `work` throws; `UNAVAILABLE` when the pool refuses work (full or shutting down).
  func perform<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
      let accepted = submit { continuation.resume(with: Result { try work() }) }
      if !accepted {
        continuation.resume(throwing: GatewayError(.unavailable, "the worker pool refused the evaluation"))
      }
    }
  }
}
