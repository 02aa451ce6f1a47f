public import Foundation
public import Logging
public import ServiceLifecycle

/// Deletes jobs (and their results) older than the time to live, periodically, until graceful
/// shutdown. Runs as a service next to the HTTP server.
public struct JobCleanup: Service {
  let store: any JobStore
  let timeToLive: Duration
  let interval: Duration
  let logger: Logger

  /// - Parameters:
  ///   - timeToLive: how long a job stays readable after its last change.
  ///   - interval: how often to sweep.
  public init(store: any JobStore, timeToLive: Duration, interval: Duration = .seconds(60), logger: Logger) {
    self.store = store
    self.timeToLive = timeToLive
    self.interval = interval
    self.logger = logger
  }

  /// One sweep: deletes jobs last updated before `now − timeToLive`; returns how many.
  public func sweep(now: Date = Date()) async throws(JobStoreError) -> Int {
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
