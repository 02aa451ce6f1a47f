import CKKS
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

/// A hostile client over HTTP: every malformed ciphertext, envelope and transfer it can send gets a
/// documented 4xx with the contract's JSON error (the conformance responder checks status and
/// body of every answer), and the gateway still serves afterwards.
@Suite("Adversarial HTTP")
struct AdversarialTests {
  /// Our ciphertext header: magic 0–3, version 4, type 5, flags 6, reserved 7, fingerprint 8–39,
  /// level 40–41, polynomial count 42, representation 43, scale 44–51, then (seeded) the seed
  /// 52–83, one dropped-bits byte per stored polynomial, the packed polynomials.
  static let headerBoundaries = [0, 1, 3, 4, 5, 6, 7, 8, 20, 39, 40, 41, 42, 43, 44, 48, 51, 52, 70, 83, 84, 85, 86]

  static func withScale(_ bytes: [UInt8], _ scale: Double) -> [UInt8] {
    var copy = bytes
    withUnsafeBytes(of: scale.bitPattern.littleEndian) { copy.replaceSubrange(44..<52, with: $0) }
    return copy
  }

  static func setting(_ bytes: [UInt8], _ offset: Int, _ values: [UInt8]) -> [UInt8] {
    var copy = bytes
    copy.replaceSubrange(offset..<offset + values.count, with: values)
    return copy
  }

  /// Every way to break a valid seeded ciphertext that the tests try.
  static func mutations(of valid: [UInt8]) -> [(String, [UInt8])] {
    var cases: [(String, [UInt8])] = []
    for boundary in headerBoundaries { cases.append(("truncated at \(boundary)", Array(valid.prefix(boundary)))) }
    cases.append(("truncated by one byte", Array(valid.dropLast())))
    cases.append(("one byte too many", valid + [0]))
    cases.append(("a kilobyte too many", valid + [UInt8](repeating: 0xAB, count: 1024)))
    // One bit flipped in every header byte (the fingerprint's bytes included; the seed's and the
    // dropped-bits byte's flips make other valid ciphertexts, and so do the residues').
    for offset in 0..<84 where offset < 52 {
      var copy = valid
      copy[offset] ^= 0x10
      cases.append(("bit flip at \(offset)", copy))
    }
    cases.append(
      ("residues at the top of their range", setting(valid, valid.count - 16, [UInt8](repeating: 0xFF, count: 16))))
    for version: UInt8 in [0, 2, 255] { cases.append(("format version \(version)", setting(valid, 4, [version]))) }
    for type: UInt8 in [0, 2, 7, 255] { cases.append(("object type \(type)", setting(valid, 5, [type]))) }
    for flags: UInt8 in [2, 0x80, 0xFF] { cases.append(("flags \(flags)", setting(valid, 6, [flags]))) }
    cases.append(("reserved byte set", setting(valid, 7, [1])))
    for level: [UInt8] in [[1, 0], [0xFF, 0xFF]] { cases.append(("level \(level)", setting(valid, 40, level))) }
    for count: UInt8 in [0, 1, 3, 4, 255] { cases.append(("\(count) polynomials", setting(valid, 42, [count]))) }
    for representation: UInt8 in [1, 2, 255] {
      cases.append(("representation \(representation)", setting(valid, 43, [representation])))
    }
    for scale in [Double.nan, .infinity, -.infinity, -1, 0, .leastNonzeroMagnitude, 0x1p-1000, 1e300, 0x1p23 + 1] {
      cases.append(("scale \(scale)", withScale(valid, scale)))
    }
    for dropped: UInt8 in [1, 54, 200] { cases.append(("dropped bits \(dropped)", setting(valid, 84, [dropped]))) }
    cases.append(("empty", []))
    cases.append(("zeros", [UInt8](repeating: 0, count: valid.count)))
    return cases
  }

  @Test("Every mutation of a valid ciphertext is refused with a documented 4xx and the JSON error")
  func ciphertextMutations() async throws {
    try await TestGateway.withGateway { client in
      let session = try await ClientSession.fetch("logistic_v1", from: client)
      let valid = Array(try #require(Data(base64Encoded: try session.payload(samples: [[0.5, 0.25]]))))
      #expect(valid.count > 86 && valid[6] == 1, "a seeded ciphertext")
      for (name, bytes) in Self.mutations(of: valid) {
        let body = try session.request(payloads: [Data(bytes).base64EncodedString()], batchSize: 1, keyId: nil)
        try await client.execute(uri: "/infer", method: .post, body: body) { response in
          #expect([400, 422].contains(response.status.code), "\(name): \(response.status)")
          let error = ContractJSON.object(response.body)["error"] as? [String: Any]
          #expect(error?["code"] is String && error?["message"] is String, "\(name)")
        }
      }
      // Still serving: the valid ciphertext is scored.
      let good = try session.request(payloads: [Data(valid).base64EncodedString()], batchSize: 1, keyId: nil)
      try await client.execute(uri: "/infer", method: .post, body: good) { response in
        #expect(response.status == .ok)
        #expect(ContractJSON.object(response.body)["status"] as? String == "completed")
      }
    }
  }

  @Test("SEAL streams through the reference contract: mutations and lying sizes get 4xx in its shape")
  func sealMutations() async throws {
    try await TestGateway.withGateway { client in
      let registry = TestGateway.registry
      let program = try #require(registry.model(id: "logistic_v1", version: "1.0.0")?.sealProgram)
      let parameters = program.parameters
      let plaintext = try CKKSEncoder(parameters: parameters).encode([0.5], scale: program.layout.scale)
      let valid = try Encryptor(secretKey: KeyGenerator.secretKey(parameters: parameters)).encrypt(plaintext)
        .sealBytes(parameters: parameters)
      // SEAL's header: magic 0–1, header size 2, major 3, minor 4, compression 5, reserved 6–7,
      // total size 8–15; then the ciphertext's own fields.
      var cases: [(String, [UInt8])] = [
        ("truncated header", Array(valid.prefix(12))), ("truncated body", Array(valid.dropLast(100))),
        ("zlib", Self.setting(valid, 5, [1])), ("zstd", Self.setting(valid, 5, [2])),
        ("major version 3", Self.setting(valid, 3, [3])), ("header size 15", Self.setting(valid, 2, [15])),
      ]
      for size: UInt64 in [0, 16, UInt64(valid.count - 1), UInt64(valid.count + 1), 1 << 62, .max] {
        var copy = valid
        withUnsafeBytes(of: size.littleEndian) { copy.replaceSubrange(8..<16, with: $0) }
        cases.append(("declared size \(size)", copy))
      }
      // After the header: parms_id 16–47, is_ntt_form 48, size 49–56, N 57–64, prime count 65–72,
      // scale 73–80 (a flipped mantissa bit is another valid scale, so scales get their own
      // cases), correction factor 81–88, the residue array's header and count 89–112 (its minor
      // version, 93, may be any 4.x: docs/serialization.md).
      for offset in Array(16..<73) + Array(81..<113) where offset % 3 == 0 && offset != 93 {
        var copy = valid
        copy[offset] ^= 0x40
        cases.append(("bit flip at \(offset)", copy))
      }
      for scale in [Double.nan, .infinity, -.infinity, -1, 0, .leastNonzeroMagnitude, 0x1p-1000, 0.5, 1e300] {
        var copy = valid
        withUnsafeBytes(of: scale.bitPattern.littleEndian) { copy.replaceSubrange(73..<81, with: $0) }
        cases.append(("scale \(scale)", copy))
      }
      for (name, bytes) in cases {
        let body = ContractJSON.body([
          "model_id": "logistic_v1", "version": "1.0.0", "batch_size": 1,
          "inputs": Array(repeating: ["encoding": "hex", "payload": HexCodec.encode(bytes)], count: 8),
        ])
        try await client.execute(uri: "/reference/infer", method: .post, body: body) { response in
          #expect([400, 422].contains(response.status.code), "\(name): \(response.status)")
          #expect(ContractJSON.object(response.body)["detail"] is String, "\(name)")
        }
      }
    }
  }

  @Test("Deep nesting, wrong content types and broken JSON get 400, in both contracts")
  func envelopes() async throws {
    let deepArray = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    let deepObject = String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000)
    let nestedField = "{\"model_id\": " + deepObject + ", \"version\": \"1.0.0\", \"batch_size\": 1, \"inputs\": []}"
    let bodies = [deepArray, deepObject, nestedField, "{", "{\"model_id\": \"logistic_v1\"", "\u{0}", "null", "[]"]
    try await TestGateway.withGateway { client in
      for uri in ["/infer", "/infer/plain", "/keys", "/reference/infer", "/reference/infer/plain"] {
        for body in bodies {
          try await client.execute(
            uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
          ) { response in
            #expect([400, 422].contains(response.status.code), "\(uri) \(body.prefix(20)): \(response.status)")
          }
        }
        for type in ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json-patch"] {
          try await client.execute(
            uri: uri, method: .post, headers: [.contentType: type], body: ByteBuffer(string: "{}")
          ) { response in
            #expect([400, 415, 422].contains(response.status.code), "\(uri) \(type): \(response.status)")
          }
        }
      }
      try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
    }
  }

  @Test("A chunked body over the limit gets 413 with the JSON error, in both contracts")
  func chunkedOversized() async throws {
    let configuration = GatewayConfiguration(
      port: 0, tenants: .open, requestsPerSecond: nil, maximumBodyBytes: 64 << 10)
    try await TestGateway.withLiveGateway(configuration: configuration, pool: WorkerPool(threads: 1, queueCapacity: 16))
    {
      port in
      for (path, isReference) in [("/infer", false), ("/keys", false), ("/reference/infer", true)] {
        let answer = try await HardeningTests.blocking {
          let connection = try HardeningTests.RawConnection(port: port, receiveTimeout: 60)
          connection.send(
            "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
          let prefix =
            isReference ? "{\"model_id\": \"logistic_v1\", \"inputs\": [{\"encoding\": \"hex\", \"payload\": \"" : "{\""
          connection.send(String(prefix.utf8.count, radix: 16) + "\r\n" + prefix + "\r\n")
          let chunk = String(repeating: "a", count: 8192)
          for _ in 0..<16 { connection.send("2000\r\n" + chunk + "\r\n") }
          connection.send("0\r\n\r\n")
          return connection.readUntilClosed().text
        }
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(path): \(answer.prefix(60))")
        #expect(answer.contains(isReference ? "\"detail\"" : "PAYLOAD_TOO_LARGE"), "\(path)")
      }
      let health = try await HardeningTests.health(port: port)
      #expect(health.hasPrefix("HTTP/1.1 200"))
    }
  }
}
