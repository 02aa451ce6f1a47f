import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import Gateway

/// The PostgreSQL job queue: claims, leases, completion recorded once, bounded attempts,
/// notifications between processes (each ``PostgresBackend`` handle stands for one process).
@Suite("Shared job queue (PostgreSQL)")
struct SharedQueueTests {
  static func job(_ index: Int, at time: TimeInterval = 1_000_000, tenant: String = "a") -> JobRecord {
    JobRecord(
      id: String(format: "%032x", index), tenant: tenant, modelId: "m", version: "1.0.0", batchSize: 1,
      now: Date(timeIntervalSince1970: time + Double(index)))
  }

  static func work(_ index: Int) -> PendingEvaluation {
    PendingEvaluation(
      inputs: [Data(repeating: UInt8(index % 256), count: 1000), Data([1, 2, 3])], evaluationKeyId: "k\(index)",
      sealVersion: index.isMultiple(of: 2) ? "4.1" : nil)
  }

  static func completed(_ claim: ClaimedJob, output: UInt8) -> JobRecord {
    var outcome = claim.job
    outcome.status = .completed
    outcome.outputs = [Data([output])]
    outcome.processedBatchSize = 1
    return outcome
  }

  @Test("Jobs are claimed oldest first with their inputs; a claimed job is not claimed again")
  func claimOrder() async throws {
    try await TestPostgres.withDatabase { (database) async throws -> Void in
      let queue = PostgresJobStore(backend: database)
      for index in [2, 1, 3] {
        #expect(
          try await queue.enqueue(Self.job(index), work: Self.work(index), maximumQueued: 10, share: nil) == .queued)
      }
      #expect(try await queue.queuedCount() == 3)
      #expect(try await queue.storedBytes() == 3 * 1003)
      var claimed: [ClaimedJob] = []
      while let claim = try await queue.claim(lease: .seconds(30), maximumAttempts: 3) { claimed.append(claim) }
      #expect(claimed.map(\.job.id) == [1, 2, 3].map { Self.job($0).id })
      #expect(claimed.map(\.work) == [1, 2, 3].map(Self.work))
      #expect(claimed.allSatisfy { $0.attempt == 1 && $0.job.status == .running })
      #expect(try await queue.queuedCount() == 0)
      #expect(try await queue.job(id: Self.job(1).id, tenant: "a")?.status == .running)
      // Completion stores the outputs, drops the inputs, and happens once.
      #expect(try await queue.complete(claimed[0], outcome: Self.completed(claimed[0], output: 9)))
      #expect(try await !queue.complete(claimed[0], outcome: Self.completed(claimed[0], output: 8)))
      let stored = try await queue.job(id: Self.job(1).id, tenant: "a")
      #expect(stored?.status == .completed)
      #expect(stored?.outputs == [Data([9])])
      #expect(try await queue.storedBytes() == 2 * 1003 + 1)
      #expect(try await !queue.renew(claimed[0], lease: .seconds(30)), "a final job has no lease to renew")
      #expect(try await queue.renew(claimed[1], lease: .seconds(30)))
    }
  }

  @Test("A full queue refuses new jobs")
  func capacity() async throws {
    try await TestPostgres.withDatabase { (database) async throws -> Void in
      let queue = PostgresJobStore(backend: database)
      #expect(try await queue.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 2, share: nil) == .queued)
      #expect(try await queue.enqueue(Self.job(2), work: Self.work(2), maximumQueued: 2, share: nil) == .queued)
      #expect(try await queue.enqueue(Self.job(3), work: Self.work(3), maximumQueued: 2, share: nil) == .queueFull)
      #expect(try await queue.job(id: Self.job(3).id, tenant: "a") == nil, "a refused job writes nothing")
      await #expect(throws: JobStoreError.duplicate(Self.job(1).id)) {
        _ = try await queue.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 10, share: nil)
      }
    }
  }

  @Test("A tenant's share of the queue: its queued and running jobs and their bytes; other tenants still queue")
  func tenantShare() async throws {
    try await TestPostgres.withDatabase { (database) async throws -> Void in
      let queue = PostgresJobStore(backend: database)
      let share = TenantQueueShare(jobs: 2, bytes: 10_000)
      #expect(try await queue.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 100, share: share) == .queued)
      #expect(try await queue.enqueue(Self.job(2), work: Self.work(2), maximumQueued: 100, share: share) == .queued)
      // A running job still counts against its tenant's share.
      _ = try #require(try await queue.claim(lease: .seconds(30), maximumAttempts: 3))
      #expect(
        try await queue.enqueue(Self.job(3), work: Self.work(3), maximumQueued: 100, share: share) == .tenantShareFull)
      #expect(try await queue.job(id: Self.job(3).id, tenant: "a") == nil, "a refused job writes nothing")
      let other = Self.job(4, tenant: "b")
      #expect(try await queue.enqueue(other, work: Self.work(4), maximumQueued: 100, share: share) == .queued)
      // Bytes: each job stores 1,003 input bytes; b may hold 1,500.
      let bytes = TenantQueueShare(jobs: 10, bytes: 1500)
      let more = Self.job(5, tenant: "b")
      #expect(try await queue.enqueue(more, work: Self.work(5), maximumQueued: 100, share: bytes) == .tenantShareFull)
    }
  }

  @Test("Workers in several processes claim concurrently; each job goes to exactly one of them")
  func concurrentClaims() async throws {
    try await TestPostgres.withDatabases(instances: 3) { (databases) async throws -> Void in
      let queues = databases.map { PostgresJobStore(backend: $0) }
      for index in 0..<40 {
        _ =
          try await queues[index % 3].enqueue(Self.job(index), work: Self.work(index), maximumQueued: 100, share: nil)
          == .queued
      }
      let claimedIds = try await withThrowingTaskGroup(of: [String].self) { group in
        for worker in 0..<6 {
          group.addTask {
            var mine: [String] = []
            while let claim = try await queues[worker % 3].claim(lease: .seconds(30), maximumAttempts: 3) {
              mine.append(claim.job.id)
              #expect(try await queues[worker % 3].complete(claim, outcome: Self.completed(claim, output: 1)))
            }
            return mine
          }
        }
        var all: [String] = []
        for try await ids in group { all += ids }
        return all
      }
      #expect(claimedIds.count == 40)
      #expect(Set(claimedIds) == Set((0..<40).map { Self.job($0).id }))
    }
  }

  @Test("An expired lease lets another worker take the job; only the holder of the lease records it")
  func leaseExpiry() async throws {
    try await TestPostgres.withDatabases(instances: 2) { (databases) async throws -> Void in
      let first = PostgresJobStore(backend: databases[0])
      let second = PostgresJobStore(backend: databases[1])
      #expect(try await first.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 10, share: nil) == .queued)
      let stale = try #require(try await first.claim(lease: .seconds(60), maximumAttempts: 3))
      #expect(try await second.claim(lease: .seconds(30), maximumAttempts: 3) == nil, "the lease still holds")
      // The worker stops renewing: its last renewal runs out (1 ms here instead of a lease's time).
      #expect(try await first.renew(stale, lease: .milliseconds(1)))
      try await Task.sleep(for: .milliseconds(50))
      let taken = try #require(try await second.claim(lease: .seconds(30), maximumAttempts: 3))
      #expect(taken.job.id == stale.job.id)
      #expect(taken.attempt == 2)
      #expect(taken.work == Self.work(1), "the inputs are still there for the second attempt")
      #expect(try await !first.renew(stale, lease: .seconds(30)))
      #expect(try await !first.complete(stale, outcome: Self.completed(stale, output: 1)))
      #expect(try await second.complete(taken, outcome: Self.completed(taken, output: 2)))
      #expect(try await first.job(id: taken.job.id, tenant: "a")?.outputs == [Data([2])])
    }
  }

  @Test("A job whose workers keep dying is failed after the last attempt, not claimed again")
  func attemptsBounded() async throws {
    try await TestPostgres.withDatabase { (database) async throws -> Void in
      let queue = PostgresJobStore(backend: database, exhaustedSweepInterval: .zero)
      #expect(try await queue.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 10, share: nil) == .queued)
      for attempt in 1...2 {
        let claim = try #require(try await queue.claim(lease: .milliseconds(200), maximumAttempts: 2))
        #expect(claim.attempt == attempt)
        try await Task.sleep(for: .milliseconds(300))
      }
      #expect(try await queue.claim(lease: .seconds(30), maximumAttempts: 2) == nil)
      let failed = try #require(try await queue.job(id: Self.job(1).id, tenant: "a"))
      #expect(failed.status == .failed)
      #expect(failed.errorCode == "JOB_FAILED")
      #expect(failed.errorMessage?.contains("interrupted 2 times") == true)
      #expect(try await queue.storedBytes() == 0, "the inputs of a failed job are dropped")
    }
  }

  @Test("Notifications reach the other processes: work queued wakes workers, a finished job wakes waiters")
  func notifications() async throws {
    try await TestPostgres.withDatabases(instances: 2) { (databases) async throws -> Void in
      let front = PostgresJobStore(backend: databases[0])
      let worker = PostgresJobStore(backend: databases[1])
      let finished = Mutex<[String]>([])
      front.signals.onJobFinished { id in finished.withLock { $0.append(id) } }
      for database in databases { await database.untilListening() }
      let started = ContinuousClock.now
      async let woken: Void = worker.signals.waitForWork(upTo: .seconds(20))
      try await Task.sleep(for: .milliseconds(50))
      #expect(try await front.enqueue(Self.job(1), work: Self.work(1), maximumQueued: 10, share: nil) == .queued)
      await woken
      #expect(ContinuousClock.now - started < .seconds(10), "woken by the notification, not the timeout")
      let claim = try #require(try await worker.claim(lease: .seconds(30), maximumAttempts: 3))
      #expect(try await worker.complete(claim, outcome: Self.completed(claim, output: 1)))
      for _ in 0..<100 where finished.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
      #expect(finished.withLock { $0 } == [claim.job.id])
    }
  }
}
