import Foundation
import GatewayAPI
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

@testable import Gateway

/// Several gateway and worker processes on one PostgreSQL database, each built by the composition
/// root as `heinfer serve --no-workers` and `heinfer worker` build them (in one test process:
/// separate assemblies, separate database connections and listeners). Process crashes with real
/// SIGKILLs are in `scripts/cluster_test.sh`.
@Suite("Fronts and workers on one PostgreSQL")
struct ClusterTests {
  static func settings(_ role: GatewaySettings.Role, database: PostgresSettings) -> GatewaySettings {
    var settings = GatewaySettings()
    settings.role = role
    settings.store = .postgres
    settings.database = database
    settings.server.tenants = .open
    settings.server.requestsPerSecond = nil
    settings.workers = 1
    settings.lease = .seconds(1)
    settings.logLevel = .warning
    return settings
  }

  /// Runs `body` with fronts A and B (HTTP only) and, if `worker`, one worker process, all on a
  /// fresh schema; the body gets test clients of A and B and the database settings.
  static func withCluster(
    worker: Bool = true,
    _ body: @escaping @Sendable (any TestClientProtocol, any TestClientProtocol, PostgresSettings) async throws -> Void
  ) async throws {
    let database = try TestPostgres.freshSettings()
    var logger = Logger(label: "cluster")
    logger.logLevel = .error
    let front = settings(.front, database: database)
    let registry = TestGateway.registry
    let a = try await GatewayAssembly.build(front, registry: registry, logger: logger)
    let b = try await GatewayAssembly.build(front, registry: registry, logger: logger)
    let w =
      worker
      ? try await GatewayAssembly.build(settings(.worker, database: database), registry: registry, logger: logger)
      : nil
    try await withThrowingTaskGroup(of: Void.self) { group in
      for service in a.services + b.services + (w?.services ?? []) {
        group.addTask { try await service.run() }
      }
      defer { group.cancelAll() }
      try await TestGateway.application(service: a.service).test(.router) { clientA in
        try await TestGateway.application(service: b.service).test(.router) { clientB in
          try await body(clientA, clientB, database)
        }
      }
    }
  }

  @Test("Submitted on front A and evaluated by a worker process; fetched and awaited on front B")
  func submitOnAFetchOnB() async throws {
    try await Self.withCluster { a, b, _ in
      let session = try await ClientSession.fetch("logistic_v1", from: a)
      let samples = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]]
      // Without wait_ms: A answers 202 at once.
      let jobId = try await a.execute(uri: "/infer", method: .post, body: try session.request(samples: samples)) {
        response in
        #expect(response.status == .accepted)
        return try ContractJSON.decode(Components.Schemas.Job.self, response.body).jobId
      }
      // B finds it and its result.
      let job = try await ClientSession.poll(b, jobId)
      #expect(job.status == .completed)
      let scores = try session.decrypt(job: job, sampleCount: 2)
      #expect(abs(scores[0][0] - 0.507289) < 1e-6)
      // A reads the same record.
      let again = try await a.execute(uri: "/jobs/\(jobId)", method: .get) {
        try ContractJSON.decode(Components.Schemas.Job.self, $0.body)
      }
      #expect(again.result != nil)
      // With wait_ms, A answers with the result the worker recorded (woken by its notification).
      let started = ContinuousClock.now
      let waited = try await a.execute(
        uri: "/infer", method: .post, body: try session.request(samples: samples, waitMilliseconds: 10_000)
      ) { try ContractJSON.decode(Components.Schemas.Job.self, $0.body) }
      #expect(waited.status == .completed)
      #expect(ContinuousClock.now - started < .seconds(9))
    }
  }

  @Test("Keys registered on front A serve requests through front B; deleting them on B refuses them on A")
  func keysAcrossFronts() async throws {
    try await Self.withCluster { a, b, _ in
      let (features, labels) = try Datasets.testSplit("iris")
      let session = try await ClientSession.fetch("iris_mlp", from: a)
      let keyId = try await a.execute(uri: "/keys", method: .post, body: try session.keyRegistration()) { response in
        #expect(response.status == .created)
        return try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, response.body).keyId
      }
      try await b.execute(uri: "/keys/\(keyId)", method: .get) { #expect($0.status == .ok) }
      let sample = Array(features.prefix(8))
      let job = try await b.execute(
        uri: "/infer", method: .post, body: try session.request(samples: sample, waitMilliseconds: 10_000, keyId: keyId)
      ) { try ContractJSON.decode(Components.Schemas.Job.self, $0.body) }
      #expect(job.status == .completed)
      let probabilities = try session.decrypt(job: job, sampleCount: sample.count)
      let predicted = probabilities.map { row in row.indices.max { row[$0] < row[$1] } ?? -1 }
      #expect(predicted.count == sample.count)
      #expect(
        zip(predicted, labels.prefix(sample.count)).filter { $0 == $1 }.count >= 6,
        "iris predictions through front B with keys registered on A")
      try await b.execute(uri: "/keys/\(keyId)", method: .delete) { #expect($0.status == .noContent) }
      try await a.execute(
        uri: "/infer", method: .post, body: try session.request(samples: sample, waitMilliseconds: 1000, keyId: keyId)
      ) { response in
        #expect(response.status == .conflict)
        #expect(ContractJSON.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
    }
  }

  @Test("A worker that dies holding a job: another worker takes it when the lease expires and records it once")
  func deadWorker() async throws {
    try await Self.withCluster(worker: false) { a, _, database in
      let session = try await ClientSession.fetch("logistic_v1", from: a)
      let jobId = try await a.execute(
        uri: "/infer", method: .post, body: try session.request(samples: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]])
      ) { try ContractJSON.decode(Components.Schemas.Job.self, $0.body).jobId }
      var logger = Logger(label: "cluster")
      logger.logLevel = .error
      // A worker claims the job and dies: it never renews nor records.
      let dying = PostgresBackend(settings: database, logger: logger)
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await dying.run() }
        let claim = try await PostgresJobStore(backend: dying).claim(lease: .seconds(1), maximumAttempts: 3)
        #expect(claim?.job.id == jobId)
        group.cancelAll()
      }
      let running = try await a.execute(uri: "/jobs/\(jobId)", method: .get) {
        try ContractJSON.decode(Components.Schemas.Job.self, $0.body)
      }
      #expect(running.status == .running)
      // A new worker process starts; after the lease, it takes the job over.
      let worker = try await GatewayAssembly.build(
        Self.settings(.worker, database: database), registry: TestGateway.registry, logger: logger)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for service in worker.services { group.addTask { try await service.run() } }
        let job = try await ClientSession.poll(a, jobId)
        #expect(job.status == .completed)
        let scores = try session.decrypt(job: job, sampleCount: 1)
        #expect(abs(scores[0][0] - 0.507289) < 1e-6)
        group.cancelAll()
      }
    }
  }
}
