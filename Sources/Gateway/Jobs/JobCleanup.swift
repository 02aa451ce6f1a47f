public import Foundation
public import Logging
public import ServiceLifecycle

/// Deletes jobs (and their results) older than the time to live, and expired evaluation key
/// sets, periodically, until graceful shutdown. Runs as a service next to the HTTP server.
public struct JobCleanup: Service {
  let store: any JobStore
  let keys: EvaluationKeyStore?
  let timeToLive: Duration
  let interval: Duration
  let logger: Logger

  /// - Parameters:
  ///   - keys: registered evaluation keys whose expired sets each sweep drops (nil: none).
  ///   - timeToLive: how long a job stays readable after its last change.
  ///   - interval: how often to sweep.
  public init(
    store: any JobStore, keys: EvaluationKeyStore? = nil, timeToLive: Duration, interval: Duration = .seconds(60),
    logger: Logger
  ) {
    self.store = store
    self.keys = keys
    self.timeToLive = timeToLive
    self.interval = interval
    self.logger = logger
  }

  /// One sweep: drops expired key sets, then deletes jobs last updated before `now − timeToLive`;
  /// returns how many jobs were deleted.
  public func sweep(now: Date = Date()) async throws(JobStoreError) -> Int {
    if let keys {
      let dropped = keys.removeExpired(now: now)
      if dropped > 0 { logger.info("expired evaluation key sets dropped", metadata: ["count": "\(dropped)"]) }
    }
    let seconds = Double(timeToLive.components.seconds) + Double(timeToLive.components.attoseconds) / 1e18
    return try await store.deleteJobs(updatedBefore: now.addingTimeInterval(-seconds))
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
