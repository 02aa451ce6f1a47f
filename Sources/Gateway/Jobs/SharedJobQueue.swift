public import Foundation
import Synchronization

/// An accepted evaluation written down as data, so that a worker in any process can run it: the
/// request's ciphertexts as they arrived (this gateway's format, or SEAL streams for the reference
/// contract) and what else the evaluation needs besides the model.
public struct PendingEvaluation: Sendable, Equatable {
  /// Serialized input ciphertexts, in request order.
  public var inputs: [Data]
  /// The registered key set the evaluation uses, if the model needs one.
  public var evaluationKeyId: String?
  /// For reference-contract jobs: the SEAL version of the inputs' headers (`major.minor`), which
  /// the result echoes so that the client's SEAL loads it.
  public var sealVersion: String?

  public init(inputs: [Data], evaluationKeyId: String? = nil, sealVersion: String? = nil) {
    self.inputs = inputs
    self.evaluationKeyId = evaluationKeyId
    self.sealVersion = sealVersion
  }

  /// Bytes of the stored inputs.
  public var byteCount: Int { inputs.reduce(0) { $0 + $1.count } }
}

/// A job a worker has claimed: its record, its pending evaluation, and the lease that lets this
/// worker (and no other) record its outcome.
public struct ClaimedJob: Sendable {
  public var job: JobRecord
  public var work: PendingEvaluation
  /// Random per claim; only the holder of the current token can renew the lease or complete the job.
  public var leaseToken: String
  /// How many times the job has been claimed, this claim included.
  public var attempt: Int
}

/// What ``SharedJobQueue/enqueue(_:work:maximumQueued:share:)`` did.
public enum EnqueueOutcome: Sendable, Equatable {
  /// The job is stored and queued.
  case queued
  /// Nothing stored: the queue holds its most jobs.
  case queueFull
  /// Nothing stored: the tenant holds its share of the queue.
  case tenantShareFull
}

/// A job store that also holds the queue of evaluations waiting for a worker, shared by every
/// gateway and worker process on it. A job is queued with its inputs, claimed by one worker under
/// a lease that the worker renews while it evaluates, and completed by the holder of the lease
/// only; a lease that expires (its worker died) lets another worker claim the job again, up to a
/// bounded number of attempts.
public protocol SharedJobQueue: JobStore {
  /// Stores `job` (status `queued`) with its pending evaluation, unless `maximumQueued` jobs are
  /// already waiting or the job's tenant holds its `share` (jobs waiting or running, and their
  /// stored input bytes with this job's); returns what happened.
  func enqueue(_ job: JobRecord, work: PendingEvaluation, maximumQueued: Int, share: TenantQueueShare?)
    async throws(JobStoreError) -> EnqueueOutcome
  /// Claims the oldest job that is queued, or running under an expired lease, for `lease`;
  /// nil when there is none. Jobs whose lease expired after `maximumAttempts` claims are failed
  /// (code `JOB_FAILED`) instead of claimed again.
  func claim(lease: Duration, maximumAttempts: Int) async throws(JobStoreError) -> ClaimedJob?
  /// Extends `claim`'s lease by `lease` from now; false when the lease was lost (it expired and
  /// another worker claimed the job, or the job is final).
  func renew(_ claim: ClaimedJob, lease: Duration) async throws(JobStoreError) -> Bool
  /// Records `outcome` (completed or failed, with its outputs) for a claimed job and drops its
  /// inputs, if `claim` still holds the lease; false (and nothing written) otherwise, so that a
  /// job is recorded at most once however many workers evaluated it.
  func complete(_ claim: ClaimedJob, outcome: JobRecord) async throws(JobStoreError) -> Bool
  /// Jobs waiting for a worker.
  func queuedCount() async throws(JobStoreError) -> Int
  /// Where notifications from every process on the queue arrive (jobs queued, jobs finished).
  var signals: QueueSignals { get }
}

/// Wake-ups between processes sharing a queue: "work was queued" for idle workers and "job X is
/// final" for requests waiting on X. Signals may be lost (a dropped connection), so whoever waits
/// on one also polls, with a bounded wait.
public final class QueueSignals: Sendable {
  private struct State {
    var workWaiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    var finishedHandlers: [@Sendable (String) -> Void] = []
  }
  private let state = Mutex(State())

  public init() {}

  /// Wakes every worker waiting in ``waitForWork(upTo:)``.
  public func workQueued() {
    let waiters = state.withLock { state in
      defer { state.workWaiters = [:] }
      return Array(state.workWaiters.values)
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Tells every handler registered with ``onJobFinished(_:)`` that job `id` is final.
  public func jobFinished(_ id: String) {
    for handler in state.withLock({ $0.finishedHandlers }) { handler(id) }
  }

  /// Calls `handler` with the id of every job that becomes final from now on.
  public func onJobFinished(_ handler: @escaping @Sendable (String) -> Void) {
    state.withLock { $0.finishedHandlers.append(handler) }
  }

  /// Returns when work is queued, after `timeout`, or when the task is cancelled, whichever
  /// comes first.
  public func waitForWork(upTo timeout: Duration) async {
    let token = UUID()
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        await withTaskCancellationHandler {
          await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = self.state.withLock { state in
              if Task.isCancelled { return true }
              state.workWaiters[token] = continuation
              return false
            }
            if resumeNow { continuation.resume() }
          }
        } onCancel: {
          self.state.withLock { $0.workWaiters.removeValue(forKey: token) }?.resume()
        }
      }
      group.addTask { try? await Task.sleep(for: timeout) }
      await group.next()
      group.cancelAll()
    }
  }
}
