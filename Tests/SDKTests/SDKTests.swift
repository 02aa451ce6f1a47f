import CKKS
import Dispatch
import Foundation
import Gateway
import GatewayAPI
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import OpenAPIRuntime
import Synchronization
import TestSupport
import Testing

@testable import HEInferenceSDK

/// The SDK against a real gateway listening on an ephemeral loopback port.
@Suite("SDK end to end")
struct SDKTests {

  /// Runs `body` with an SDK client connected to a fresh live gateway.
  static func withGateway<T: Sendable>(
    registry: ModelRegistry = TestGateway.registry, configuration: GatewayConfiguration = TestGateway.openConfiguration,
    store: any JobStore = InMemoryJobStore(),
    pool: WorkerPool = WorkerPool(threads: 2, queueCapacity: 32), keys: EvaluationKeyStore = EvaluationKeyStore(),
    apiKey: String? = nil, jobTimeout: Duration = .seconds(60), observers: [any ClientMiddleware] = [],
    plainPrivateModels: Bool = false, _ body: @escaping @Sendable (GatewayClient, Int) async throws -> T
  ) async throws -> T {
    try await TestGateway.withLiveGateway(
      registry: registry, configuration: configuration, store: store, pool: pool, keys: keys,
      plainPrivateModels: plainPrivateModels
    ) { port in
      let gateway = GatewayClient(
        baseURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: apiKey, requestTimeout: .seconds(30),
        jobTimeout: jobTimeout, observers: observers)
      return try await body(gateway, port)
    }
  }

  @Test("Concurrent submissions share one key registration, and a gateway that lost the keys gets them again")
  func concurrentRegistration() async throws {
    let keys = EvaluationKeyStore()
    try await Self.withGateway(keys: keys) { gateway, _ in
      let model = try await gateway.model(id: "breast_cancer_logistic", version: "1.0.0")
      let session = try gateway.session(for: model)
      let sample = [Double](repeating: 0.1, count: model.inputDimension)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<16 {
          group.addTask { _ = try await gateway.submit([sample], session: session, wait: .seconds(5)) }
        }
        try await group.waitForAll()
      }
      let first = try #require(session.evaluationKeyId)
      #expect(keys.removeExpired(now: Date().addingTimeInterval(48 * 3600)) == 1, "exactly one key set registered")
      // The gateway lost it (as after a restart): the next submissions register once more.
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<8 { group.addTask { _ = try await gateway.submit([sample], session: session, wait: .seconds(5)) } }
        try await group.waitForAll()
      }
      #expect(session.evaluationKeyId != first)
      #expect(keys.removeExpired(now: Date().addingTimeInterval(48 * 3600)) == 1, "one new key set, no duplicates")
    }
  }

  struct Case: Sendable, CustomTestStringConvertible {
    let model: String
    let dataset: String?
    /// Samples of the dataset to run (all when `nil`).
    var samples: Int? = nil
    var testDescription: String { model }
  }

  @Test(
    "One-call batch inference per bundled model equals the plain route",
    arguments: [
      Case(model: "logistic_v1", dataset: nil), Case(model: "breast_cancer_logistic", dataset: "breast_cancer"),
      Case(model: "wine_multiclass", dataset: "wine"), Case(model: "iris_mlp", dataset: "iris"),
      Case(model: "mnist_cnn", dataset: "mnist", samples: 3),
      // 20 images in one group of 49 ciphertexts (the image_batch layout).
      Case(model: "mnist_cnn_batch", dataset: "mnist", samples: 20),
    ])
  func endToEnd(testCase: Case) async throws {
    var generator = TestSeed.generator("SDKTests.endToEnd")
    let features =
      try testCase.dataset.map { Array(try Datasets.testSplit($0).features.prefix(testCase.samples ?? .max)) }
      ?? (0..<50).map { _ in (0..<8).map { _ in Double.random(in: -1...1, using: &generator) } }
    // The operator's switch: the plain route serves private models for this comparison.
    try await Self.withGateway(plainPrivateModels: true) { gateway, _ in
      let predictions = try await gateway.infer(model: testCase.model, batch: features)
      #expect(predictions.count == features.count)
      var maximumError = 0.0
      for (sample, prediction) in zip(features, predictions) {
        let plain = try await gateway.inferPlain(model: testCase.model, version: "1.0.0", inputs: sample)
        maximumError = max(maximumError, Precision.maximumError(plain, prediction.outputs))
      }
      // logistic_v1's identity output is the reference's 1e-7-class error; the others are
      // probabilities after sigmoid or softmax, which move by at most half a score's error (the
      // published bound for models with private weights, whose scores carry flooding noise).
      let info = try await gateway.model(id: testCase.model, version: "1.0.0")
      // The MNIST network's scores (up to about 80, after two squares at Δ = 2^27) are within
      // 10⁻² in both layouts; its probabilities within half that.
      let tolerance =
        info.scoreErrorBound.map { $0 / 2 }
        ?? ["logistic_v1": 1e-6, "mnist_cnn": 5e-3, "mnist_cnn_batch": 5e-3][testCase.model] ?? 1e-4
      #expect(maximumError < tolerance, "max error \(maximumError), tolerance \(tolerance)")
      // A single sample through the one-call API, on the cached session.
      let single = try await gateway.infer(model: testCase.model, inputs: features[0])
      #expect(zip(single.outputs, predictions[0].outputs).allSatisfy { abs($0 - $1) < 2 * tolerance })
    }
  }

  @Test("Typed errors: unknown model, invalid inputs before encryption, unauthorized, rate limited")
  func typedErrors() async throws {
    try await Self.withGateway { gateway, _ in
      await #expect {
        try await gateway.infer(model: "nobody", inputs: [1])
      } throws: { error in
        guard case SDKError.server(.unknownModel, 404, _, _, _) = error else { return false }
        return true
      }
      let model = try await gateway.model(id: "logistic_v1")
      let session = try gateway.session(for: model)
      let invalid: [[[Double]]] = [
        [[1, 2, 3]], [[.nan, 0, 0, 0, 0, 0, 0, 0]], [[100, 0, 0, 0, 0, 0, 0, 0]], [],
        [[Double]](repeating: [Double](repeating: 0, count: 8), count: 5000),
      ]
      for samples in invalid {
        #expect {
          try session.encrypt(samples)
        } throws: { error in
          guard case SDKError.invalidInput = error else { return false }
          return true
        }
      }
    }
    let keys = TenantDirectory(apiKeys: ["sdk-test-key-0123456789": "sdk"])
    try await Self.withGateway(
      configuration: GatewayConfiguration(port: 0, tenants: keys, requestsPerSecond: 0.01, burst: 1)
    ) { gateway, port in
      await #expect {
        try await gateway.models()
      } throws: { error in
        guard case SDKError.server(.unauthorized, 401, _, _, _) = error else { return false }
        return true
      }
      let authorized = GatewayClient(
        baseURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: "sdk-test-key-0123456789")
      _ = try await authorized.models()
      await #expect {
        try await authorized.models()
      } throws: { error in
        guard case SDKError.server(.rateLimited, 429, _, _, let retryAfter) = error else { return false }
        return (retryAfter ?? 0) >= 1
      }
    }
  }

  @Test("Transport failures and job timeouts are typed")
  func transportAndTimeout() async throws {
    // Nothing listens on port 9 (discard) on loopback here.
    let nowhere = GatewayClient(baseURL: URL(string: "http://127.0.0.1:9")!, requestTimeout: .seconds(2))
    await #expect {
      try await nowhere.models()
    } throws: { error in
      guard case SDKError.transport = error else { return false }
      return true
    }
    // A pool whose only worker is held until the timeout has been observed: the job stays queued.
    let pool = WorkerPool(threads: 1, queueCapacity: 8)
    let release = DispatchSemaphore(value: 0)
    try await Self.withGateway(pool: pool, jobTimeout: .milliseconds(100)) { gateway, _ in
      let model = try await gateway.model(id: "logistic_v1")
      let session = try gateway.session(for: model)
      #expect(pool.submit { release.wait() })
      defer { release.signal() }  // the held worker is released however the test ends
      let job = try await gateway.submit([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], session: session)
      await #expect {
        try await gateway.waitForResult(job)
      } throws: { error in
        guard case SDKError.timeout(jobId: job.id, _) = error else { return false }
        return true
      }
    }
  }

  @Test("Evaluation keys lost by the gateway are registered again transparently")
  func keysReRegistered() async throws {
    let keys = EvaluationKeyStore(timeToLive: .seconds(3600))
    let sample = [0.1, -0.2, 0.3, -0.4]
    try await Self.withGateway(keys: keys) { gateway, _ in
      let first = try await gateway.infer(model: "iris_mlp", inputs: sample)
      #expect(keys.removeExpired(now: Date().addingTimeInterval(7200)) == 1)
      let second = try await gateway.infer(model: "iris_mlp", inputs: sample)
      #expect(zip(first.outputs, second.outputs).allSatisfy { abs($0 - $1) < 1e-5 })
    }
  }

  /// Records the bodies of encrypted inference requests as they leave the client.
  final class InferRequestRecorder: ClientMiddleware, Sendable {
    let bodies = Mutex<[Data]>([])

    func intercept(
      _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
      next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
      guard operationID == "inferEncrypted", let body else { return try await next(request, body, baseURL) }
      let data = try await Data(collecting: body, upTo: 64 << 20)
      bodies.withLock { $0.append(data) }
      return try await next(request, HTTPBody(data), baseURL)
    }
  }

  @Test("A submission refused for missing keys registers them again and resends the same ciphertexts")
  func resubmissionSendsTheSameCiphertexts() async throws {
    let keys = EvaluationKeyStore(timeToLive: .seconds(3600))
    let recorder = InferRequestRecorder()
    try await Self.withGateway(keys: keys, observers: [recorder]) { gateway, _ in
      let session = try gateway.session(for: try await gateway.model(id: "iris_mlp"))
      try await gateway.registerKeys(session)
      let lost = try #require(session.evaluationKeyId)
      #expect(keys.removeExpired(now: Date().addingTimeInterval(7200)) == 1)
      let job = try await gateway.submit([[0.1, -0.2, 0.3, -0.4]], session: session, wait: .seconds(5))
      let result = try await gateway.waitForResult(job)
      #expect(try gateway.predictions(from: result, session: session, sampleCount: 1).count == 1)
      let sent = try recorder.bodies.withLock { $0 }.map {
        try #require(try JSONSerialization.jsonObject(with: $0) as? [String: Any])
      }
      try #require(sent.count == 2, "the refused submission and its resubmission")
      #expect(sent[0]["evaluation_key_id"] as? String == lost)
      #expect(sent[1]["evaluation_key_id"] as? String == session.evaluationKeyId)
      #expect(session.evaluationKeyId != lost)
      // Encryption is randomized: equal payloads mean the samples were encrypted once.
      let payloads = sent.map { ($0["inputs"] as? [[String: Any]] ?? []).compactMap { $0["payload"] as? String } }
      #expect(!payloads[0].isEmpty && payloads[0] == payloads[1])
    }
  }

  @Test("Key files: created owner-only, reloaded, refused for other parameters; tampered metadata refused")
  func keyFilesAndMetadata() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sdk-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("logistic.key")
    try await Self.withGateway { gateway, _ in
      let logistic = try await gateway.model(id: "logistic_v1")
      let iris = try await gateway.model(id: "iris_mlp")
      let created = try InferenceSession(model: logistic, keyFile: file)
      let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
      #expect((attributes[.posixPermissions] as? Int) == 0o600)
      let ciphertexts = try created.encrypt([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]])
      // A reloaded session holds the same key: it can decrypt what the first encrypted.
      let reloaded = try InferenceSession(model: logistic, keyFile: file)
      let job = try await gateway.submit(
        [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], session: created, wait: .seconds(5))
      let result = try await gateway.waitForResult(job)
      let predictions = try gateway.predictions(from: result, session: reloaded, sampleCount: 1)
      #expect(abs(predictions[0].outputs[0] - 0.507289) < 1e-6)
      #expect(!ciphertexts.isEmpty)
      #expect {
        try InferenceSession(model: iris, keyFile: file)
      } throws: { error in
        guard case SDKError.keyFile = error else { return false }
        return true
      }
      var tampered = logistic.contract
      tampered.encryptionParameters.parameterFingerprint =
        String(repeating: "0", count: 16) + " "
        + [String](repeating: String(repeating: "0", count: 16), count: 3).joined(separator: " ")
      #expect {
        try InferenceSession(model: try ModelInfo(tampered))
      } throws: { error in
        guard case SDKError.incompatibleModel = error else { return false }
        return true
      }
      // A catalogue whose batch would need more than the 64 ciphertexts a request carries.
      var oversized = logistic.contract
      oversized.constraints.maxBatchSize = 64 * 128 + 1
      #expect {
        try ModelInfo(oversized)
      } throws: { error in
        guard case SDKError.incompatibleModel(let detail) = error else { return false }
        return detail.contains("64 input ciphertexts")
      }
      // Ciphertexts encrypted beforehand are checked against the layout before anything is sent.
      let prepared = try created.encrypt([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]])
      for (payloads, count) in [(prepared, 0), (prepared + prepared, 1), (prepared, logistic.maxBatchSize + 1)] {
        await #expect {
          try await gateway.submit(encrypted: payloads, sampleCount: count, session: created)
        } throws: { error in
          guard case SDKError.invalidInput = error else { return false }
          return true
        }
      }
      let submitted = try await gateway.submit(
        encrypted: prepared, sampleCount: 1, session: created, wait: .seconds(5))
      let fetched = try gateway.predictions(
        from: try await gateway.waitForResult(submitted), session: created, sampleCount: 1)
      #expect(abs(fetched[0].outputs[0] - 0.507289) < 1e-6)
    }
  }

  @Test("A job the gateway marks failed surfaces as jobFailed; garbage results as invalidResult")
  func failedJobsAndBadResults() async throws {
    let store = InMemoryJobStore()
    let pool = WorkerPool(threads: 1, queueCapacity: 8)
    let release = DispatchSemaphore(value: 0)
    try await Self.withGateway(store: store, pool: pool) { gateway, _ in
      let session = try gateway.session(for: try await gateway.model(id: "logistic_v1"))
      #expect(pool.submit { release.wait() })
      defer { release.signal() }  // also when an expectation below throws (a second signal is harmless)
      let job = try await gateway.submit([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], session: session)
      // The job is queued behind the held worker; mark it failed as a restart would.
      var failed = try #require(try await store.job(id: job.id, tenant: TenantDirectory.openTenant))
      failed.status = .failed
      failed.errorCode = "JOB_FAILED"
      failed.errorMessage = "the gateway restarted before the job finished"
      try await store.update(failed)
      release.signal()
      await #expect {
        try await gateway.waitForResult(job)
      } throws: { error in
        guard case SDKError.jobFailed(let id, .jobFailed?, let message) = error else { return false }
        return id == job.id && message == "the gateway restarted before the job finished"
      }
      #expect {
        try session.decryptScores([[1, 2, 3]], sampleCount: 1)
      } throws: { error in
        guard case SDKError.invalidResult = error else { return false }
        return true
      }
    }
  }

  @Test("A server that is not a gateway gives unexpectedResponse")
  func notAGateway() async throws {
    let router = Router()
    router.get("/models") { _, _ in
      Response(status: .internalServerError, body: .init(byteBuffer: .init(string: "oops")))
    }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await app.test(.live) { client in
      let gateway = GatewayClient(baseURL: URL(string: "http://127.0.0.1:\(try #require(client.port))")!)
      await #expect {
        try await gateway.models()
      } throws: { error in
        guard case SDKError.unexpectedResponse(500, _) = error else { return false }
        return true
      }
    }
  }
}
