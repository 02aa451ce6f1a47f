public import Foundation
public import Logging
public import ServiceLifecycle

/// Deletes jobs (and their results) older than the time to live or fetched longer ago than the
/// result retention, and expired evaluation key sets, periodically, until graceful shutdown. Runs
/// as a service next to the HTTP server.
public struct JobCleanup: Service {
  let store: any JobStore
  let keys: (any EvaluationKeyStoring)?
  let timeToLive: Duration
  let retentionAfterFetch: Duration
  let interval: Duration
  let logger: Logger

  /// - Parameters:
  ///   - keys: registered evaluation keys whose expired sets each sweep drops (nil: none).
  ///   - timeToLive: how long a job stays readable after its last change.
  ///   - retentionAfterFetch: how long a result stays readable after it was first handed to its
  ///     client (a retry after a lost response still finds it; the store does not keep results
  ///     nobody will read again).
  ///   - interval: how often to sweep.
  public init(
    store: any JobStore, keys: (any EvaluationKeyStoring)? = nil, timeToLive: Duration,
    retentionAfterFetch: Duration = .seconds(60), interval: Duration = .seconds(15), logger: Logger
  ) {
    self.store = store
    self.keys = keys
    self.timeToLive = timeToLive
    self.retentionAfterFetch = retentionAfterFetch
    self.interval = interval
    self.logger = logger
  }

  /// One sweep: drops expired key sets, then deletes jobs last updated before `now − timeToLive`
  /// or fetched before `now − retentionAfterFetch`; returns how many jobs were deleted.
  public func sweep(now: Date = Date()) async throws(JobStoreError) -> Int {
    if let keys {
      do {
        let dropped = try await keys.removeExpired(now: now)
        if dropped > 0 { logger.info("expired evaluation key sets dropped", metadata: ["count": "\(dropped)"]) }
      } catch {
        logger.error("expired evaluation key sets could not be dropped", metadata: ["error": "\(error)"])
      }
    }
    return try await store.deleteJobs(
      updatedBefore: now.addingTimeInterval(-timeToLive.seconds),
      fetchedBefore: now.addingTimeInterval(-retentionAfterFetch.seconds))
  }

  public func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          let deleted = try await sweep()
          if deleted > 0 { logger.info("expired jobs deleted", metadata: ["count": "\(deleted)"]) }
        } catch {
          logger.error("job cleanup failed", metadata: ["error": "\(error)"])
        }
        try? await Task.sleep(for: interval)
      }
    }
  }
}
