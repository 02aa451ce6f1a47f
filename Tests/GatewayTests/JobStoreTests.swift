import Foundation
import GatewayAPI
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

@testable import Gateway

/// The same behaviour from every job store.
@Suite("Job stores")
struct JobStoreTests {
  enum Kind: String, CaseIterable, CustomTestStringConvertible {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }
  }

  static func temporaryDatabase() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString).sqlite").path
  }

  /// Runs `body` with an empty store of `kind` (PostgreSQL: a fresh schema, see ``TestPostgres``).
  static func withStore(_ kind: Kind, _ body: @Sendable (any JobStore) async throws -> Void) async throws {
    switch kind {
    case .memory: try await body(InMemoryJobStore())
    case .sqlite:
      let path = temporaryDatabase()
      defer { try? FileManager.default.removeItem(atPath: path) }
      try await body(try SQLiteJobStore(path: path))
    case .postgres: try await TestPostgres.withDatabase { try await body(PostgresJobStore(backend: $0)) }
    }
  }

  static func job(_ id: String, tenant: String = "a", at time: TimeInterval = 1_000_000) -> JobRecord {
    JobRecord(
      id: id, tenant: tenant, modelId: "m", version: "1.0.0", batchSize: 3, now: Date(timeIntervalSince1970: time))
  }

  @Test("Insert, read, tenant isolation, completion, immutability, duplicates", arguments: Kind.allCases)
  func lifecycle(kind: Kind) async throws {
    try await Self.withStore(kind) { store in try await Self.lifecycle(store) }
  }

  static func lifecycle(_ store: any JobStore) async throws {
    let queued = job("00000000000000000000000000000001")
    try await store.insert(queued)
    #expect(try await store.job(id: queued.id, tenant: "a") == queued)
    #expect(try await store.job(id: queued.id, tenant: "b") == nil)
    #expect(try await store.job(id: "ffffffffffffffffffffffffffffffff", tenant: "a") == nil)
    await #expect(throws: JobStoreError.duplicate(queued.id)) { try await store.insert(queued) }

    var completed = queued
    completed.status = .completed
    completed.outputs = [Data([1, 2, 3]), Data(repeating: 0xAB, count: 40_000)]
    completed.processedBatchSize = 3
    completed.evaluationMilliseconds = 1.25
    completed.updatedAt = Date(timeIntervalSince1970: 1_000_001)
    try await store.update(completed)
    #expect(try await store.job(id: queued.id, tenant: "a") == completed)

    var tampered = completed
    tampered.outputs = [Data([9])]
    await #expect(throws: JobStoreError.immutable(queued.id)) { try await store.update(tampered) }
    #expect(try await store.job(id: queued.id, tenant: "a")?.outputs == completed.outputs)
    await #expect(throws: JobStoreError.notFound("0000000000000000000000000000000f")) {
      try await store.update(job("0000000000000000000000000000000f"))
    }
  }

  @Test("Expired jobs are deleted; fresh ones stay", arguments: Kind.allCases)
  func expiry(kind: Kind) async throws {
    try await Self.withStore(kind) { store in try await Self.expiry(store) }
  }

  static func expiry(_ store: any JobStore) async throws {
    try await store.insert(job("00000000000000000000000000000001", at: 100))
    try await store.insert(job("00000000000000000000000000000002", at: 200))
    let cleanup = JobCleanup(store: store, timeToLive: .seconds(50), logger: Logger(label: "test"))
    #expect(try await cleanup.sweep(now: Date(timeIntervalSince1970: 210)) == 1)
    #expect(try await store.job(id: "00000000000000000000000000000001", tenant: "a") == nil)
    #expect(try await store.job(id: "00000000000000000000000000000002", tenant: "a") != nil)
  }

  @Test(
    "A fetched result is deleted after the retention; unfetched ones wait for the time to live",
    arguments: Kind.allCases)
  func retentionAfterFetch(kind: Kind) async throws {
    try await Self.withStore(kind) { store in try await Self.retentionAfterFetch(store) }
  }

  static func retentionAfterFetch(_ store: any JobStore) async throws {
    for (index, tenant) in ["a", "a", "b"].enumerated() {
      var record = job("0000000000000000000000000000000\(index)", tenant: tenant, at: 100)
      try await store.insert(record)
      record.status = .completed
      record.outputs = [Data(repeating: UInt8(index), count: 1000 * (index + 1))]
      try await store.update(record)
    }
    #expect(try await store.usage(tenant: "a") == JobUsage(jobs: 2, resultBytes: 3000))
    #expect(try await store.usage(tenant: "b") == JobUsage(jobs: 1, resultBytes: 3000))
    #expect(try await store.storedBytes() >= 6000)
    // Job 0 is fetched at 110 (again at 150: the first time counts); another tenant cannot mark it.
    try await store.markFetched(
      id: "00000000000000000000000000000000", tenant: "a", at: Date(timeIntervalSince1970: 110))
    try await store.markFetched(
      id: "00000000000000000000000000000000", tenant: "a", at: Date(timeIntervalSince1970: 150))
    try await store.markFetched(
      id: "00000000000000000000000000000001", tenant: "b", at: Date(timeIntervalSince1970: 110))
    #expect(
      try await store.job(id: "00000000000000000000000000000000", tenant: "a")?.fetchedAt
        == Date(timeIntervalSince1970: 110))
    let cleanup = JobCleanup(
      store: store, timeToLive: .seconds(3600), retentionAfterFetch: .seconds(60), logger: Logger(label: "test"))
    #expect(try await cleanup.sweep(now: Date(timeIntervalSince1970: 169)) == 0)
    #expect(try await cleanup.sweep(now: Date(timeIntervalSince1970: 171)) == 1)
    #expect(try await store.job(id: "00000000000000000000000000000000", tenant: "a") == nil)
    #expect(try await store.job(id: "00000000000000000000000000000001", tenant: "a") != nil)
    #expect(try await store.usage(tenant: "a") == JobUsage(jobs: 1, resultBytes: 2000))
  }

  @Test("A sweep also drops expired evaluation key sets and keeps live ones", arguments: KeyStoreKind.allCases)
  func expiredKeysSwept(kind: KeyStoreKind) async throws {
    try await kind.withStore(timeToLive: .seconds(60)) { keys in
      let old = try await keys.insert(.fake(tenant: "a", bytes: 1), now: Date(timeIntervalSince1970: 100))
      let fresh = try await keys.insert(.fake(tenant: "a", bytes: 1), now: Date(timeIntervalSince1970: 150))
      let cleanup = JobCleanup(
        store: InMemoryJobStore(), keys: keys, timeToLive: .seconds(50), logger: Logger(label: "test"))
      _ = try await cleanup.sweep(now: Date(timeIntervalSince1970: 170))
      #expect(
        try await keys.removeExpired(now: Date(timeIntervalSince1970: 170)) == 0, "the sweep already dropped it")
      #expect(try await keys.set(id: old.id, tenant: "a", now: Date(timeIntervalSince1970: 100)) == nil)
      #expect(try await keys.set(id: fresh.id, tenant: "a", now: Date(timeIntervalSince1970: 170)) != nil)
      #expect(try await keys.set(id: fresh.id, tenant: "b", now: Date(timeIntervalSince1970: 170)) == nil)
    }
  }

  @Test("SQLite: jobs survive reopening; unfinished ones are marked failed at start-up")
  func sqliteRestart() async throws {
    let path = Self.temporaryDatabase()
    defer { try? FileManager.default.removeItem(atPath: path) }
    var completed = Self.job("00000000000000000000000000000001")
    completed.status = .completed
    completed.outputs = [Data([7, 7, 7])]
    do {
      let store = try SQLiteJobStore(path: path)
      try await store.insert(Self.job("00000000000000000000000000000001"))
      try await store.update(completed)
      try await store.insert(Self.job("00000000000000000000000000000002"))
    }
    let reopened = try SQLiteJobStore(path: path)
    #expect(try await reopened.job(id: completed.id, tenant: "a") == completed)
    #expect(
      try await reopened.failUnfinishedJobs(message: "restarted", now: Date(timeIntervalSince1970: 2_000_000)) == 1)
    let abandoned = try await reopened.job(id: "00000000000000000000000000000002", tenant: "a")
    #expect(abandoned?.status == .failed)
    #expect(abandoned?.errorCode == "JOB_FAILED")
  }

  @Test("SQLite: an encrypted result fetched over HTTP after a gateway restart still decrypts")
  func restartThroughHTTP() async throws {
    let path = Self.temporaryDatabase()
    defer { try? FileManager.default.removeItem(atPath: path) }
    /// Runs `body` against a gateway whose store is the SQLite file at `path`; returns its result.
    func withGateway<T: Sendable>(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> T) async throws
      -> T
    {
      try await TestGateway.withGateway(
        store: try SQLiteJobStore(path: path), pool: WorkerPool(threads: 1, queueCapacity: 8), body)
    }
    let session = try await withGateway { client in try await ClientSession.fetch("logistic_v1", from: client) }
    let request = try session.request(samples: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], waitMilliseconds: 5000)
    let jobId = try await withGateway { client in
      try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .ok)
        return try ContractJSON.decode(Components.Schemas.Job.self, response.body).jobId
      }
    }
    // A new gateway process on the same file: the result is still there and still decrypts.
    let job = try await withGateway { client in
      try await client.execute(uri: "/jobs/\(jobId)", method: .get) { response in
        #expect(response.status == .ok)
        return try ContractJSON.decode(Components.Schemas.Job.self, response.body)
      }
    }
    let scores = try session.decrypt(job: job, sampleCount: 1)
    #expect(abs(scores[0][0] - 0.507289) < 1e-6)
  }
}
