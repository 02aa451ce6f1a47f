import Dispatch
import Foundation
import GatewayAPI
import InferencePrograms
import TestSupport
import Testing

@testable import CKKS
@testable import Gateway

/// Budgets shared by all tenants, with a bounded share for each: one tenant's slow or large
/// uploads, queued jobs and keys cannot starve another's requests.
@Suite("Tenant shares of every shared budget")
struct TenantShareTests {
  // MARK: The evaluation queue

  @Test("The worker pool bounds each tenant's jobs and bytes, and gives them back")
  func poolShares() async throws {
    let pool = WorkerPool(
      threads: 1, queueCapacity: 16, byteCapacity: 1000, tenantJobCapacity: 2, tenantByteCapacity: 300)
    #expect(pool.reserve(bytes: 100, tenant: "a") == .granted)
    #expect(pool.reserve(bytes: 100, tenant: "a") == .granted)
    #expect(pool.reserve(bytes: 100, tenant: "a") == .tenantShareFull, "a third job of tenant a")
    #expect(pool.reserve(bytes: 250, tenant: "b") == .granted)
    #expect(pool.reserve(bytes: 100, tenant: "b") == .tenantShareFull, "350 bytes of tenant b")
    #expect(pool.held(by: "a") == (2, 200) && pool.held(by: "b") == (1, 250))
    pool.cancelReservation(bytes: 100, tenant: "a")
    #expect(pool.reserve(bytes: 100, tenant: "a") == .granted, "a cancelled reservation gives the place back")
    let ran = DispatchSemaphore(value: 0)
    pool.submit(reserved: { ran.signal() }, bytes: 100, tenant: "a")
    try await HardeningTests.blocking { ran.wait() }
    while pool.held(by: "a").jobs == 2 { try await Task.sleep(for: .milliseconds(5)) }
    #expect(pool.held(by: "a") == (1, 100), "a job that ran gives its share back")
    pool.cancelReservation(bytes: 100, tenant: "a")
    pool.cancelReservation(bytes: 250, tenant: "b")
    #expect(pool.heldBytes == 0)
    await pool.shutdown()
  }

  @Test("A tenant that fills its share of the queue gets 503; another tenant's jobs are still accepted")
  func queueShare() async throws {
    let request = try HardeningTests.request()
    let pool = WorkerPool(threads: 1, queueCapacity: 32, tenantJobCapacity: 3)
    let release = try await HardeningTests.holdOnlyWorker(of: pool)
    let service = TestGateway.service(store: InMemoryJobStore(), pool: pool)
    var accepted = 0
    var refusal: GatewayError?
    for _ in 0..<10 {
      do {
        _ = try await service.submit(request, tenant: "attacker")
        accepted += 1
      } catch {
        refusal = error
        break
      }
    }
    #expect(accepted == 3)
    #expect(refusal?.code == .unavailable)
    #expect(refusal?.details["tenant_jobs_limit"] == "3")
    // The queue has room for others: the victim's job is accepted while the attacker's wait.
    let victim = try await service.submit(request, tenant: "victim")
    #expect(victim.status == .queued)
    release.signal()
    await pool.shutdown()
  }

  // MARK: The request byte budget

  /// An encrypted `logistic_v1` request of one sample, as JSON.
  static func encryptedBody() throws -> String {
    let request = try HardeningTests.request()
    let payload = Data(request.inputs[0]).base64EncodedString()
    return
      #"{"api_version":"\#(ContractInfo.version)","model_id":"logistic_v1","version":"1.0.0","batch_size":1,"#
      + #""inputs":[{"encoding":"base64","format":"heinfer-ckks-v1","payload":"\#(payload)"}],"wait_ms":5000}"#
  }

  /// Sends `body` to `POST /infer` with `key` on a new connection; the status line's code.
  static func infer(port: Int, key: String, body: String) async throws -> String {
    try await HardeningTests.blocking {
      let connection = try HardeningTests.RawConnection(port: port, receiveTimeout: 30)
      connection.send(
        "POST /infer HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\n"
          + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
      return String(connection.readUntilClosed().text.prefix(12).dropFirst(9))
    }
  }

  @Test("Slow uploads declaring the largest body hold only their tenant's share; another tenant is still served")
  func slowUploadsOfOneTenant() async throws {
    let keys = [
      "attacker-key-000000001": "attacker", "attacker-key-000000002": "attacker", "victim-key-00000000001": "victim",
    ]
    // 4 MiB in flight for everyone, 2 MiB per tenant, bodies up to 1 MiB.
    let configuration = GatewayConfiguration(
      port: 0, tenants: TenantDirectory(apiKeys: keys), requestsPerSecond: nil, maximumBodyBytes: 1 << 20,
      maximumInFlightBodyBytes: 4 << 20, maximumInFlightBodyBytesPerTenant: 2 << 20, bodyTimeout: .seconds(60),
      idleTimeout: .seconds(60))
    let body = try Self.encryptedBody()
    try await TestGateway.withLiveGateway(configuration: configuration) { port in
      let clock = ContinuousClock()
      var normal = Duration.zero
      for _ in 0..<3 {
        let started = clock.now
        #expect(try await Self.infer(port: port, key: "victim-key-00000000001", body: body) == "200")
        normal = max(normal, clock.now - started)
      }
      // The attack: 40 uploads declaring 1 MiB each, one byte sent, then silence. Each holds the
      // 64 KiB its buffer starts with: 32 of them fill the attacker's 2 MiB share (reserving the
      // declared lengths, four would have held the whole budget of every tenant).
      let uploads = try await HardeningTests.blocking {
        try (0..<40).map { _ in
          let connection = try HardeningTests.RawConnection(port: port, receiveTimeout: 60)
          connection.send(
            "POST /infer HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer attacker-key-000000001\r\n"
              + "Content-Type: application/json\r\nContent-Length: \(1 << 20)\r\n\r\n{")
          return connection
        }
      }
      // The attacker's own further requests are refused once its share is held (the control: what
      // every tenant would get without a share of its own).
      var attackerAnswer = ""
      for _ in 0..<100 {
        attackerAnswer = try await Self.infer(port: port, key: "attacker-key-000000002", body: body)
        if attackerAnswer == "503" { break }
        try await Task.sleep(for: .milliseconds(50))
      }
      #expect(attackerAnswer == "503", "the attacker's share was never exhausted")
      // The victim is served as before, every time, within its normal latency: a bound generous
      // enough for a shared machine (ten times the slowest of its three requests before the
      // attack, plus 2 s), far below the 60 s body timeout a starved request would wait for.
      for _ in 0..<5 {
        let started = clock.now
        #expect(try await Self.infer(port: port, key: "victim-key-00000000001", body: body) == "200")
        let took = clock.now - started
        #expect(took <= normal * 10 + .seconds(2), "\(took) under attack, \(normal) before")
      }
      withExtendedLifetime(uploads) {}
    }
  }

  @Test("The streamed reference route counts its body's bytes against the tenant's share as they arrive")
  func streamedRouteShare() async throws {
    let keys = ["first-key-0000000000001": "first", "second-key-000000000001": "second"]
    let configuration = GatewayConfiguration(
      port: 0, tenants: TenantDirectory(apiKeys: keys), requestsPerSecond: nil, maximumBodyBytes: 64 << 10,
      maximumInFlightBodyBytes: 256 << 10, maximumInFlightBodyBytesPerTenant: 64 << 10, bodyTimeout: .seconds(60),
      idleTimeout: .seconds(60))
    // The start of a reference body: a hex payload of `bytes` bytes in all, cut off there.
    let head = #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"hex","payload":""#
    let tail = #""}]}"#
    @Sendable func body(_ bytes: Int) -> String { head + String(repeating: "ab", count: (bytes - head.utf8.count) / 2) }
    try await TestGateway.withLiveGateway(configuration: configuration) { port in
      /// Sends the headers of a 60 KiB body and its first `text`, leaving the rest unsent.
      @Sendable func stall(_ key: String, _ text: String) throws -> HardeningTests.RawConnection {
        let connection = try HardeningTests.RawConnection(port: port, receiveTimeout: 30)
        connection.send(
          "POST /reference/infer HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(60 << 10)\r\n\r\n\(text)")
        return connection
      }
      /// Sends a whole body of about `bytes` bytes; the status line of the answer.
      @Sendable func complete(_ key: String, _ bytes: Int) throws -> String {
        let text = body(bytes) + tail
        let connection = try HardeningTests.RawConnection(port: port, receiveTimeout: 30)
        connection.send(
          "POST /reference/infer HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n"
            + text)
        return String(connection.readUntilClosed().text.prefix(12))
      }
      let first = "first-key-0000000000001"
      // A slow upload declaring 60 KiB holds only the 10 KiB it sent: 40 KiB more of the same
      // tenant still fit its 64 KiB share, and are read to their end (and refused as no ciphertext).
      let slow = try await HardeningTests.blocking { try stall(first, body(10 << 10)) }
      let beside = try await HardeningTests.blocking { try complete(first, 40 << 10) }
      #expect(beside.hasPrefix("HTTP/1.1 4") && beside != "HTTP/1.1 413", "\(beside)")
      // A second slow upload of 40 KiB: with the first, 50 KiB of the share are held, and 40 KiB
      // more are refused with 503 as they arrive (retried until both uploads have been read).
      let slower = try await HardeningTests.blocking { try stall(first, body(40 << 10)) }
      var answer = ""
      for _ in 0..<10 {
        answer = try await HardeningTests.blocking { try complete(first, 40 << 10) }
        if answer == "HTTP/1.1 503" { break }
        try await Task.sleep(for: .milliseconds(100))
      }
      #expect(answer == "HTTP/1.1 503", "the first tenant's share was never exhausted: \(answer)")
      // The other tenant's same body is read to its end and refused for what it is.
      let other = try await HardeningTests.blocking { try complete("second-key-000000000001", 40 << 10) }
      #expect(other.hasPrefix("HTTP/1.1 4") && other != "HTTP/1.1 413" && other != "HTTP/1.1 503", "\(other)")
      withExtendedLifetime([slow, slower]) {}
    }
  }

  @Test("Deserialized ciphertexts count against the request budget, not only the body bytes")
  func deserializedInputsCount() async throws {
    let body = try Self.encryptedBody()
    let model = try #require(TestGateway.registry.model(id: "logistic_v1", version: "1.0.0"))
    // One logistic_v1 input in memory: two polynomials at the input level, 8 bytes a residue.
    let inMemory = 2 * (model.program.inputLevel + 1) * model.parameters.degree * 8
    #expect(inMemory > body.utf8.count, "the deserialized input is larger than the body that carried it")
    // A share that holds the body but not its deserialized input: the request can never fit (413,
    // not a 503 that asks to retry); one that holds both: served.
    for (share, expected) in [(body.utf8.count + inMemory / 2, "413"), (body.utf8.count + inMemory + 4096, "200")] {
      let configuration = GatewayConfiguration(
        port: 0, tenants: .open, requestsPerSecond: nil, maximumBodyBytes: body.utf8.count + 1024,
        maximumInFlightBodyBytes: 1 << 20, maximumInFlightBodyBytesPerTenant: share)
      try await TestGateway.withLiveGateway(configuration: configuration) { port in
        let answer = try await Self.infer(port: port, key: "unused", body: body)
        #expect(answer == expected, "share \(share) bytes for a \(body.utf8.count)-byte body")
      }
    }
  }

  // MARK: Tenancy

  @Test("A handler reached without an authenticated tenant refuses instead of serving a default tenant")
  func noTenantNoService() async throws {
    let service = TestGateway.service()
    let handler = GatewayAPIHandler(service: service)
    let id = String(repeating: "0", count: 32)
    for call in [
      { _ = try await handler.getJob(.init(path: .init(jobId: id))) },
      { _ = try await handler.getEvaluationKeys(.init(path: .init(keyId: id))) },
      { _ = try await handler.deleteEvaluationKeys(.init(path: .init(keyId: id))) },
    ] as [@Sendable () async throws -> Void] {
      do {
        try await call()
        Issue.record("served without a tenant")
      } catch let error as GatewayError {
        #expect(error.code == .unauthorized)
      }
    }
    #expect(throws: GatewayError.self) { try RequestTenant.current() }
    #expect(try RequestTenant.$bound.withValue("a") { try RequestTenant.current() } == "a")
    if case .local(let pool) = service.execution { await pool.shutdown() }
  }

  // MARK: Keys

  @Test("Galois elements are checked before any key is loaded; key quotas count memory, not bytes sent")
  func keysCountMemory() async throws {
    let model = try #require(TestGateway.registry.model(id: "iris_mlp", version: "1.0.0"))
    let parameters = model.parameters
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let needs = model.program.keyRequirements
    let relinearization = try KeyGenerator.relinearizationKey(secretKey: secretKey)
    let galois = try KeyGenerator.galoisKeys(
      secretKey: secretKey, elements: needs.galoisElements.map { try GaloisElement($0, degree: parameters.degree) })
    let galoisBytes = galois.serialized(parameters: parameters)
    #expect(try GaloisKeys.elements(inSerialized: galoisBytes, parameters: parameters) == galois.elements)
    // An element the model does not use, followed by bytes that are no key at all: refused for the
    // element, so the key bytes were never read.
    let element = try #require(
      (1...64).map { GaloisElement.rotation(by: $0, degree: parameters.degree) }.first {
        !needs.galoisElements.contains($0.value)
      })
    let unneeded = try KeyGenerator.galoisKeys(secretKey: secretKey, elements: [element])
    var corrupt = unneeded.serialized(parameters: parameters)
    let header = corrupt.count - KeySwitchingKey.serializedSize(parameters: parameters, seeded: true)
    for index in header..<corrupt.count { corrupt[index] = 0xFF }
    #expect(throws: (any Error).self) { _ = try GaloisKeys(deserializing: corrupt, parameters: parameters) }
    let service = TestGateway.service()
    do {
      _ = try await service.registerKeys(
        apiVersion: nil, modelId: "iris_mlp", version: "1.0.0",
        relinearizationKey: relinearization.serialized(parameters: parameters), galoisKeys: corrupt, tenant: "a")
      Issue.record("an unneeded Galois element was accepted")
    } catch {
      #expect(error.code == .invalidEvaluationKeys)
      #expect(error.message.contains("uses no Galois keys for elements"), "\(error.message)")
    }
    // What counts against the quota: the keys as they sit in memory.
    let relinearizationBytes = relinearization.serialized(parameters: parameters)
    let set = try await service.registerKeys(
      apiVersion: nil, modelId: "iris_mlp", version: "1.0.0", relinearizationKey: relinearizationBytes,
      galoisKeys: galoisBytes, tenant: "a")
    #expect(set.sizeBytes == relinearization.memoryBytes + galois.memoryBytes)
    #expect(set.sizeBytes > 2 * (relinearizationBytes.count + galoisBytes.count), "seeded keys double in memory")
    if case .local(let pool) = service.execution { await pool.shutdown() }
  }
}
