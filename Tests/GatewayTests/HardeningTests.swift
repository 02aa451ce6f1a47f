import CKKS
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

@testable import Gateway

#if canImport(Glibc)
  import Glibc
#endif

/// Failing closed and staying bounded: tenancy, schema limits, quotas, budgets, timeouts,
/// connection caps, shutdown.
@Suite("Hardening")
struct HardeningTests {

  // MARK: Tenancy

  @Test("API keys: in clear or as SHA-256 digests, from files with comments; malformed entries refused")
  func tenantDirectory() throws {
    // printf %s 0123456789abcdef-key | sha256sum (Python's hashlib gives the same).
    let digest = "b3968bdcf7fd8101ac10aef0c1246e9d0f9b25c810d15f5a1f1764beea16f950"
    let directory = try TenantDirectory(
      parsing: """
        # tenants of the test
        sha256:\(digest)=a
        key-of-tenant-b-0001=b, key-of-tenant-c-0001 = c

        sha256:\(digest.uppercased().replacingOccurrences(of: "B3", with: "b4"))=d
        """)
    #expect(!directory.isOpen && !directory.isEmpty)
    #expect(directory.tenant(forKey: "0123456789abcdef-key") == "a")
    #expect(directory.tenant(forKey: "key-of-tenant-b-0001") == "b")
    #expect(directory.tenant(forKey: "key-of-tenant-c-0001") == "c")
    #expect(directory.tenant(forKey: "0123456789abcdef-kez") == nil)
    #expect(directory.tenant(forKey: "sha256:\(digest)") == nil, "a digest is not a key")
    #expect(directory.tenant(forKey: "") == nil)
    for bad in [
      "short-key=a", "sha256:zz=a", "sha256:\(digest.dropLast())=a", "no-equals-sign-here-0001", "=a",
      "key-of-tenant-b-0001=b\nkey-of-tenant-b-0001=c",
    ] {
      #expect(throws: GatewayConfigurationError.self, "\(bad)") { try TenantDirectory(parsing: bad) }
    }
    let empty = try TenantDirectory(parsing: "# nothing\n")
    #expect(empty.isEmpty && !empty.isOpen)
    #expect(TenantDirectory.open.isOpen)
  }

  @Test("Fail closed: no keys means no start, open mode only on loopback unless allowed")
  func configurationFailsClosed() throws {
    func validate(_ configuration: GatewayConfiguration) -> String? {
      do {
        try configuration.validate()
        return nil
      } catch { return error.description }
    }
    let keys = TenantDirectory(apiKeys: ["key-of-tenant-a-0001": "a"])
    #expect(validate(GatewayConfiguration())?.contains("no API keys") == true)
    #expect(validate(GatewayConfiguration(tenants: .open)) == nil)
    #expect(validate(GatewayConfiguration(host: "::1", tenants: .open)) == nil)
    #expect(validate(GatewayConfiguration(host: "127.0.0.2", tenants: .open)) == nil)
    #expect(validate(GatewayConfiguration(host: "0.0.0.0", tenants: .open))?.contains("loopback") == true)
    #expect(validate(GatewayConfiguration(host: "10.1.2.3", tenants: .open))?.contains("loopback") == true)
    #expect(validate(GatewayConfiguration(host: "0.0.0.0", tenants: .open, allowsOpenModeOnNetwork: true)) == nil)
    #expect(validate(GatewayConfiguration(host: "0.0.0.0", tenants: keys)) == nil)
    #expect(
      validate(GatewayConfiguration(tenants: keys, maximumBodyBytes: 1 << 20, maximumInFlightBodyBytes: 1 << 10))?
        .contains("budget") == true)
    // A tenant's share must hold one largest body.
    #expect(
      validate(
        GatewayConfiguration(
          tenants: keys, maximumBodyBytes: 1 << 20, maximumInFlightBodyBytes: 4 << 20,
          maximumInFlightBodyBytesPerTenant: 1 << 19))?.contains("share") == true)
  }

  @Test("A gateway without keys refuses every route but /health and /metrics")
  func closedByDefault() async throws {
    try await TestGateway.withGateway(configuration: GatewayConfiguration(requestsPerSecond: nil)) { client in
      for (uri, method) in [
        ("/models", HTTPRequest.Method.get), ("/infer", .post), ("/infer/plain", .post), ("/keys", .post),
        ("/jobs/00000000000000000000000000000000", .get), ("/reference/models", .get),
      ] {
        try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer anything-at-all-0001"]) {
          #expect($0.status == .unauthorized, "\(method) \(uri)")
        }
      }
      try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
    }
  }

  // MARK: Schema limits

  @Test("Every pattern and limit of the schema is enforced with 400 before any work, without echoing input")
  func schemaLimits() async throws {
    let payload: [String: Any] = ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": "AA=="]
    let valid: [String: Any] = [
      "model_id": "logistic_v1", "version": "1.0.0", "batch_size": 1, "inputs": [payload],
    ]
    let huge = String(repeating: "a", count: 10_000)
    let bodies: [(String, [String: Any], String)] = [
      ("/infer", ["model_id": "Bad-Id"], "model_id"),
      ("/infer", ["model_id": huge], "model_id"),
      ("/infer", ["version": "1.0"], "version"),
      ("/infer", ["version": "01.0.0"], "version"),
      ("/infer", ["api_version": "latest"], "api_version"),
      ("/infer", ["batch_size": 0], "batch_size"),
      ("/infer", ["inputs": [[String: Any]]()], "inputs"),
      ("/infer", ["inputs": Array(repeating: payload, count: 65)], "inputs"),
      ("/infer", ["wait_ms": 10_001], "wait_ms"),
      ("/infer", ["wait_ms": -1], "wait_ms"),
      ("/infer", ["evaluation_key_id": "not-an-id"], "evaluation_key_id"),
      ("/infer/plain", ["inputs": Array(repeating: 0.5, count: 4097)], "inputs"),
      ("/infer/plain", ["model_id": huge], "model_id"),
      ("/keys", ["version": huge], "version"),
    ]
    let requests = bodies.map { uri, change, field in
      var object = valid
      if uri == "/infer/plain" {
        object = ["model_id": "logistic_v1", "version": "1.0.0", "inputs": [Double](repeating: 0, count: 8)]
      } else if uri == "/keys" {
        object = ["model_id": "iris_mlp", "version": "1.0.0"]
      }
      object.merge(change) { $1 }
      return (uri, ContractJSON.body(object), field)
    }
    try await TestGateway.withGateway { client in
      for (uri, body, field) in requests {
        try await client.execute(uri: uri, method: .post, body: body) { response in
          #expect(response.status == .badRequest, "\(uri) \(field)")
          let error = ContractJSON.object(response.body)["error"] as? [String: Any] ?? [:]
          #expect(error["code"] as? String == "INVALID_SCHEMA", "\(uri) \(field)")
          #expect((error["details"] as? [String: Any])?["field"] as? String == field, "\(uri) \(field)")
          #expect(response.body.readableBytes < 1000, "\(uri) \(field): the answer echoes the input")
        }
      }
      for (uri, method) in [
        ("/jobs/NOT-HEX", HTTPRequest.Method.get), ("/jobs/" + String(repeating: "0", count: 33), .get),
        ("/keys/abc", .get), ("/keys/abc", .delete), ("/models/Bad-Id/1.0.0", .get), ("/models/logistic_v1/1.0", .get),
        ("/models/" + String(repeating: "a", count: 2000) + "/1.0.0", .get),
      ] {
        try await client.execute(uri: uri, method: method) { response in
          #expect(response.status == .badRequest, "\(method) \(uri.prefix(40))")
          #expect(ContractJSON.errorCode(response.body) == "INVALID_SCHEMA")
          #expect(response.body.readableBytes < 1000)
        }
      }
    }
  }

  // MARK: Methods

  @Test("Undeclared methods on declared paths get 405 with Allow; the table is both documents' paths")
  func methodNotAllowed() async throws {
    for (contract, prefix) in [(Contract.shared, ""), (Contract.reference, ReferenceRoutes.prefix)] {
      guard case .object(let paths)? = contract.document["paths"] else { throw TestFailure("no paths") }
      for template in paths.keys {
        let concrete = template.replacingOccurrences(of: "{model_id}", with: "m")
          .replacingOccurrences(of: "{version}", with: "1.0.0").replacingOccurrences(of: "{key_id}", with: "k")
          .replacingOccurrences(of: "{job_id}", with: "j")
        let methods = MethodGuardMiddleware<BasicRequestContext>.methods(for: prefix + concrete)
        #expect(methods?.map { $0.rawValue.lowercased() }.sorted() == contract.methods(for: concrete), "\(template)")
      }
    }
    #expect(MethodGuardMiddleware<BasicRequestContext>.methods(for: "/nothing/here") == nil)
    try await TestGateway.withGateway { client in
      let cases: [(String, HTTPRequest.Method, String)] = [
        ("/models", .put, "GET"), ("/infer", .get, "POST"),
        ("/keys/00000000000000000000000000000000", .patch, "GET, DELETE"),
        ("/health", .post, "GET"), ("/reference/models", .delete, "GET"), ("/reference/jobs/x", .post, "GET"),
      ]
      for (uri, method, allow) in cases {
        try await client.execute(uri: uri, method: method) { response in
          #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
          #expect(response.headers[.allow] == allow)
          let body = ContractJSON.object(response.body)
          if uri.hasPrefix("/reference") {
            #expect(body["detail"] is String)
          } else {
            #expect(ContractJSON.errorCode(response.body) == "METHOD_NOT_ALLOWED")
          }
        }
      }
    }
  }

  // MARK: Budgets and quotas

  @Test("The request byte budget refuses with 503 and Retry-After, and gives every byte back")
  func byteBudget() async throws {
    let budget = RequestByteBudget(capacity: 100)
    #expect(budget.reserve(60, tenant: "a") && !budget.reserve(41, tenant: "b") && budget.reserve(40, tenant: "b"))
    budget.release(60, tenant: "a")
    budget.release(40, tenant: "b")
    #expect(budget.inUse == 0)
    // A tenant's share: a holds at most 50, and what a holds leaves b its room.
    let shared = RequestByteBudget(capacity: 100, tenantCapacity: 50)
    #expect(shared.reserve(50, tenant: "a") && !shared.reserve(1, tenant: "a"))
    #expect(shared.reserve(50, tenant: "b") && shared.inUse(by: "a") == 50 && shared.inUse(by: "b") == 50)
    shared.release(50, tenant: "a")
    #expect(shared.reserve(10, tenant: "a") && shared.inUse == 60)
    let configuration = GatewayConfiguration(
      tenants: .open, requestsPerSecond: nil, maximumBodyBytes: 4096, maximumInFlightBodyBytes: 100,
      maximumInFlightBodyBytesPerTenant: 100)
    try await TestGateway.withGateway(configuration: configuration) { client in
      let large = ByteBuffer(string: "{" + String(repeating: " ", count: 200) + "}")
      try await client.execute(uri: "/infer/plain", method: .post, body: large) { response in
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers[.retryAfter] == "1")
        #expect(ContractJSON.errorCode(response.body) == "UNAVAILABLE")
      }
      // Requests of 90 bytes in a row pass: nothing leaked from the ones before.
      let small = ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0", "inputs": [0.5]])
      for _ in 0..<5 {
        try await client.execute(uri: "/infer/plain", method: .post, body: small) { response in
          #expect(response.status == .unprocessableContent, "\(String(buffer: response.body))")
        }
      }
    }
  }

  @Test(
    "Evaluation keys: a quota per tenant in bytes as well as in sets, and a bound on all keys",
    arguments: KeyStoreKind.allCases)
  func keyQuotas(kind: KeyStoreKind) async throws {
    try await kind.withStore(maximumSetsPerTenant: 2, maximumBytesPerTenant: 100, maximumBytes: 150) { keys in
      func insert(_ tenant: String, _ bytes: Int) async throws(GatewayError) -> EvaluationKeySet {
        try await keys.insert(.fake(tenant: tenant, bytes: bytes), now: Date())
      }
      /// The code a registration is refused with; nil when it is accepted.
      func refusal(_ tenant: String, _ bytes: Int) async -> ErrorCode? {
        do throws(GatewayError) {
          _ = try await insert(tenant, bytes)
          return nil
        } catch {
          return error.code
        }
      }
      let first = try await insert("a", 60)
      #expect(await refusal("a", 50) == .keyQuotaExceeded, "the quota in bytes")
      _ = try await insert("a", 10)
      #expect(await refusal("a", 1) == .keyQuotaExceeded, "the quota in sets")
      _ = try await insert("b", 60)
      #expect(await refusal("c", 21) == .unavailable, "the bound on all keys")
      #expect(try await !keys.delete(id: first.id, tenant: "b"), "another tenant cannot delete it")
      #expect(try await keys.delete(id: first.id, tenant: "a"))
      #expect(try await !keys.delete(id: first.id, tenant: "a"))
      _ = try await insert("c", 20)
    }
  }

  /// A request for `logistic_v1` with one sample.
  static func request() throws -> EncryptedRequest {
    let model = try #require(TestGateway.registry.model(id: "logistic_v1", version: "1.0.0"))
    let secretKey = KeyGenerator.secretKey(parameters: model.parameters)
    let encoder = CKKSEncoder(parameters: model.parameters)
    let ciphertext = try Encryptor(secretKey: secretKey).encrypt(
      encoder.encodeCoefficients([0.5], scale: model.definition.encryption.inputScale))
    return EncryptedRequest(
      apiVersion: nil, modelId: "logistic_v1", version: "1.0.0", batchSize: 1,
      inputs: [ciphertext.serialized(parameters: model.parameters)])
  }

  @Test("Jobs: a quota per tenant, a bound on the store, and a refused job writes nothing")
  func jobLimits() async throws {
    let request = try Self.request()
    // Two jobs per tenant.
    let store = InMemoryJobStore()
    let pool = WorkerPool(threads: 1, queueCapacity: 64)
    let limited = TestGateway.service(store: store, pool: pool, limits: JobLimits(jobsPerTenant: 2))
    for _ in 0..<2 { _ = try await limited.submit(request, tenant: "a") }
    do {
      _ = try await limited.submit(request, tenant: "a")
      Issue.record("the third job was accepted")
    } catch {
      #expect(error.code == .jobQuotaExceeded)
    }
    _ = try await limited.submit(request, tenant: "b")
    await pool.shutdown()
    #expect(try await store.usage(tenant: "a").jobs == 2)

    // A full store: 503, and nothing written.
    let fullStore = InMemoryJobStore()
    var old = JobRecord(
      id: RandomIdentifier.make(), tenant: "x", modelId: "m", version: "1.0.0", batchSize: 1, now: Date())
    try await fullStore.insert(old)
    old.status = .completed
    old.outputs = [Data(count: 10)]
    try await fullStore.update(old)
    let fullPool = WorkerPool(threads: 1, queueCapacity: 64)
    let full = TestGateway.service(store: fullStore, pool: fullPool, limits: JobLimits(storeBytes: 10))
    do {
      _ = try await full.submit(request, tenant: "a")
      Issue.record("a full store accepted a job")
    } catch {
      #expect(error.code == .unavailable)
    }
    #expect(try await fullStore.usage(tenant: "a").jobs == 0)
    await fullPool.shutdown()

    // A full queue: 503, and nothing written.
    let queueStore = InMemoryJobStore()
    let busyPool = WorkerPool(threads: 1, queueCapacity: 1)
    let release = try await Self.holdOnlyWorker(of: busyPool)  // the queue is empty
    #expect(busyPool.submit {})
    let metrics = GatewayMetrics()
    let busy = TestGateway.service(store: queueStore, pool: busyPool, metrics: metrics)
    do {
      _ = try await busy.submit(request, tenant: "a")
      Issue.record("a full queue accepted a job")
    } catch {
      #expect(error.code == .unavailable)
    }
    #expect(try await queueStore.usage(tenant: "a").jobs == 0)
    // Counted as refused, not as submitted.
    #expect(metrics.exposition().contains("heinfer_jobs_refused_total 1"))
    #expect(metrics.exposition().contains("heinfer_jobs_submitted_total 0"))
    release.signal()
    await busyPool.shutdown()

    // Inputs beyond the pool's byte capacity: 503, nothing written; the bytes of run jobs come back.
    let smallStore = InMemoryJobStore()
    let smallPool = WorkerPool(threads: 1, queueCapacity: 64, byteCapacity: 40_000)
    let small = TestGateway.service(store: smallStore, pool: smallPool)
    _ = try await small.submit(request, tenant: "a")  // one logistic_v1 ciphertext: 2 × 2048 × 8 bytes
    while smallPool.heldBytes > 0 { try await Task.sleep(for: .milliseconds(5)) }
    let blocker = DispatchSemaphore(value: 0)
    #expect(smallPool.reserve(bytes: 20_000) == .granted)
    smallPool.submit(reserved: { blocker.wait() }, bytes: 20_000)
    do {
      _ = try await small.submit(request, tenant: "a")
      Issue.record("the byte capacity was not enforced")
    } catch {
      #expect(error.code == .unavailable)
    }
    #expect(try await smallStore.usage(tenant: "a").jobs == 1)
    blocker.signal()
    await smallPool.shutdown()
    #expect(smallPool.heldBytes == 0)
  }

  @Test("Shutting the pool down leaves every accepted job recorded, none queued or running")
  func shutdownRecordsEveryJob() async throws {
    let path = JobStoreTests.temporaryDatabase()
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
    let store = try SQLiteJobStore(path: path)
    let pool = WorkerPool(threads: 1, queueCapacity: 64)
    let service = TestGateway.service(store: store, pool: pool)
    let request = try Self.request()
    var ids: [String] = []
    for _ in 0..<40 { ids.append(try await service.submit(request, tenant: "a").id) }
    await pool.shutdown()
    for id in ids {
      let job = try await store.job(id: id, tenant: "a")
      #expect(job?.status == .completed, "job \(id) is \(job?.status.rawValue ?? "missing")")
      #expect(job?.outputs.count == 1)
    }
  }

  // MARK: Connections

  /// A plain TCP connection to the gateway (blocking calls, run off the cooperative pool).
  final class RawConnection: @unchecked Sendable {
    let socket: Int32

    init(port: Int, receiveTimeout: Int = 10) throws {
      socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = in_port_t(UInt16(port).bigEndian)
      address.sin_addr.s_addr = inet_addr("127.0.0.1")
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard connected == 0 else {
        Glibc.close(socket)
        throw TestFailure("connect failed: errno \(errno)")
      }
      var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
      setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(socket) }

    func send(_ text: String) {
      let bytes = Array(text.utf8)
      _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until the peer closes or the receive timeout passes, and whether it closed.
    func readUntilClosed() -> (text: String, closed: Bool) {
      var received: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = buffer.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, $0.count, 0) }
        if count > 0 {
          received += buffer.prefix(count)
        } else {
          return (String(decoding: received, as: UTF8.self), count == 0)
        }
      }
    }
  }

  /// Occupies the only worker of `pool` until the returned semaphore is signalled; returns once the
  /// worker holds it.
  static func holdOnlyWorker(of pool: WorkerPool) async throws -> DispatchSemaphore {
    let release = DispatchSemaphore(value: 0)
    let started = DispatchSemaphore(value: 0)
    #expect(
      pool.submit {
        started.signal()
        release.wait()
      })
    try await blocking { started.wait() }
    return release
  }

  /// Runs blocking socket work on a Dispatch thread.
  static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
  }

  /// `GET /health` on a new connection; the response text.
  static func health(port: Int) async throws -> String {
    try await blocking {
      let connection = try RawConnection(port: port, receiveTimeout: 20)
      connection.send("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
      return connection.readUntilClosed().text
    }
  }

  @Test("300 idle connections do not stop service")
  func idleConnections() async throws {
    let configuration = GatewayConfiguration(port: 0, tenants: .open, requestsPerSecond: nil)
    try await TestGateway.withLiveGateway(configuration: configuration, pool: WorkerPool(threads: 1, queueCapacity: 16))
    {
      port in
      let idle = try await Self.blocking { try (0..<300).map { _ in try RawConnection(port: port) } }
      let answer = try await Self.health(port: port)
      #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(80))")
      withExtendedLifetime(idle) {}
    }
  }

  @Test("A capped gateway closes silent connections after the idle timeout and serves the next one")
  func connectionCapAndIdleTimeout() async throws {
    let configuration = GatewayConfiguration(
      port: 0, tenants: .open, requestsPerSecond: nil, idleTimeout: .seconds(1), maximumConnections: 4)
    try await TestGateway.withLiveGateway(configuration: configuration, pool: WorkerPool(threads: 1, queueCapacity: 16))
    {
      port in
      let idle = try await Self.blocking { try (0..<4).map { _ in try RawConnection(port: port) } }
      // Waits in the backlog until the idle connections are closed, then is served.
      let answer = try await Self.health(port: port)
      #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(80))")
      let closed = try await Self.blocking { idle.map { $0.readUntilClosed().closed } }
      #expect(closed.allSatisfy { $0 }, "every silent connection is closed by the server")
    }
  }

  @Test("A body that arrives too slowly gets 408, on collected and on streamed routes")
  func slowBody() async throws {
    let configuration = GatewayConfiguration(
      port: 0, tenants: .open, requestsPerSecond: nil, bodyTimeout: .seconds(1), idleTimeout: .seconds(60))
    try await TestGateway.withLiveGateway(configuration: configuration, pool: WorkerPool(threads: 1, queueCapacity: 16))
    {
      port in
      // One byte of a 100-byte body, then silence: the answer comes at the deadline. The
      // reference route parses its body as it arrives, past the guard's collection.
      for (path, marker) in [("/infer/plain", "REQUEST_TIMEOUT"), ("/reference/infer", #"{"detail":"#)] {
        let answer = try await Self.blocking {
          // Generous timeouts: other tests running at once can keep the handlers waiting for a while.
          let connection = try RawConnection(port: port, receiveTimeout: 60)
          connection.send(
            "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              + "Content-Length: 100\r\nConnection: close\r\n\r\n{")
          return connection.readUntilClosed().text
        }
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(path): \(answer.prefix(80))")
        #expect(answer.contains(marker), "\(path)")
        #expect(answer.contains("not received within 1 s"), "\(path)")
      }
    }
  }
}
