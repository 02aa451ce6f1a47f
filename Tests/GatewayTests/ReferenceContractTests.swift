import CKKS
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import Gateway

/// The reference gateway's v1 contract under /reference, played by a client that knows only that
/// contract's facts and speaks SEAL bytes (made here with the CKKS library's SEAL writer, which
/// the CKKS tests cross-check against real SEAL). Every response passes the conformance check
/// against schemas/reference-v1.
@Suite("Reference contract")
struct ReferenceContractTests {
  static let weights = [0.15, -0.08, 0.11, 0.07, -0.12, 0.09, 0.05, -0.04]
  static let bias = -0.02

  /// The reference's formula.
  static func expected(_ sample: [Double]) -> Double {
    0.5 + 0.197 * (zip(weights, sample).reduce(bias) { $0 + $1.0 * $1.1 })
  }

  /// A SEAL client session built from the published parameters only, as the reference client does.
  struct SEALClient {
    let parameters: CKKSParameters
    let secretKey: SecretKey
    let publicKey: PublicKey
    let scale: Double

    init(degree: Int = 16384, bits: [Int] = [60, 30, 30, 60], scale: Double = 0x1p30) throws {
      parameters = try CKKSParameters(
        ParameterDescription(
          degree: degree, ciphertextPrimeBits: Array(bits.dropLast()), specialPrimeBits: [bits.last!],
          defaultScale: scale))
      secretKey = KeyGenerator.secretKey(parameters: parameters)
      publicKey = KeyGenerator.publicKey(secretKey: secretKey)
      self.scale = scale
    }

    /// One ciphertext per feature, sample j in slot j, as SEAL 4.1 bytes.
    func encrypt(_ samples: [[Double]], version: SEALFormat.Version = SEALFormat.Version(major: 4, minor: 1))
      throws -> [[UInt8]]
    {
      let encoder = CKKSEncoder(parameters: parameters)
      return try (0..<samples[0].count).map { feature in
        let plaintext = try encoder.encode(samples.map { $0[feature] }, scale: scale)
        return try Encryptor(publicKey: publicKey).encrypt(plaintext).sealBytes(
          parameters: parameters, version: version)
      }
    }

    func decrypt(_ stream: [UInt8]) throws -> [Double] {
      let ciphertext = try Ciphertext(sealBytes: stream, parameters: parameters)
      return CKKSEncoder(parameters: parameters).decode(try Decryptor(secretKey: secretKey).decrypt(ciphertext))
    }
  }

  static let client = try! SEALClient()
  static let samples: [[Double]] = [
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [1, -1, 0.5, -0.5, 2, -2, 0.25, 3],
    [-0.3, 0.9, 0.0, 1.5, -1.2, 0.4, 2.2, -0.7],
  ]
  /// The three samples' ciphertexts, made once (N = 16384 encryption is slow in debug builds).
  static let inputs: [[UInt8]] = try! client.encrypt(samples)

  static func body(modelId: String = "logistic_v1", version: String = "1.0.0", batchSize: Int, inputs: [[UInt8]])
    -> ByteBuffer
  {
    let items = inputs.map { #"{"encoding":"hex","payload":""# + HexCodec.encode($0) + #""}"# }.joined(separator: ",")
    return ByteBuffer(
      string: #"{"model_id":"\#(modelId)","version":"\#(version)","batch_size":\#(batchSize),"inputs":[\#(items)]}"#)
  }

  static func detail(_ buffer: ByteBuffer) -> String? { ContractJSON.object(buffer)["detail"] as? String }

  @Test("GET /reference/health and /reference/models answer exactly the reference's shapes")
  func discovery() async throws {
    try await TestGateway.withGateway { client in
      try await client.execute(uri: "/reference/health", method: .get) { response in
        #expect(response.status == .ok)
        #expect(ContractJSON.object(response.body) as? [String: String] == ["status": "ok"])
      }
      try await client.execute(uri: "/reference/models", method: .get) { response in
        #expect(response.status == .ok)
        let body = ContractJSON.object(response.body)
        #expect(body["api_version"] as? String == "1.0.0")
        let models = try #require(body["models"] as? [[String: Any]])
        // Only the model with a SEAL layout; the others are not in the reference's shape.
        #expect(models.map { $0["model_id"] as? String } == ["logistic_v1"])
        let model = models[0]
        #expect(
          Set(model.keys)
            == [
              "model_id", "version", "description", "he_scheme", "encryption_parameters", "inference", "parameters",
              "activation_parameters", "constraints",
            ])
        let encryption = try #require(model["encryption_parameters"] as? [String: Any])
        #expect(encryption["poly_modulus_degree"] as? Int == 16384)
        #expect(encryption["coeff_modulus_bits"] as? [Int] == [60, 30, 30, 60])
        #expect(encryption["scale"] as? Double == 0x1p30)
        #expect(encryption["max_multiplicative_depth"] as? Int == 2)
        #expect((model["parameters"] as? [String: Any])?["weights"] as? [Double] == Self.weights)
        #expect((model["activation_parameters"] as? [String: Any])?["coefficients"] as? [Double] == [0.5, 0.197, 0.0])
        #expect((model["constraints"] as? [String: Any])?["max_batch_size"] as? Int == 16)
      }
    }
  }

  @Test("SEAL ciphertexts in, a SEAL result out that decrypts to the reference's formula for every sample")
  func encryptedRoundTrip() async throws {
    try await TestGateway.withGateway { client in
      let jobId = try await client.execute(
        uri: "/reference/infer", method: .post, headers: [.contentType: "application/json"],
        body: Self.body(batchSize: 3, inputs: Self.inputs)
      ) { response in
        #expect(response.status == .ok)
        let body = ContractJSON.object(response.body)
        #expect(body["status"] as? String == "completed")
        return try #require(body["job_id"] as? String)
      }
      #expect(jobId.count == 32 && jobId.allSatisfy(\.isHexDigit))
      try await client.execute(uri: "/reference/jobs/\(jobId)", method: .get) { response in
        #expect(response.status == .ok)
        let body = ContractJSON.object(response.body)
        #expect(body["status"] as? String == "completed")
        let result = try #require(body["result"] as? [String: Any])
        #expect(result["model_id"] as? String == "logistic_v1")
        let diagnostics = try #require(result["diagnostics"] as? [String: Any])
        #expect(diagnostics["requested_batch_size"] as? Int == 3)
        #expect(diagnostics["processed_batch_size"] as? Int == 3)
        #expect(diagnostics["batch_truncated"] as? Bool == false)
        let payload = try #require(result["payload"] as? String)
        let stream = try #require(HexCodec.decode(payload))
        // The result's header echoes the inputs' SEAL version (4.1), so a SEAL 4.1 client loads it.
        #expect(stream[3] == 4 && stream[4] == 1)
        let values = try Self.client.decrypt(stream)
        for (j, sample) in Self.samples.enumerated() {
          #expect(abs(values[j] - Self.expected(sample)) < 1e-5, "sample \(j): \(values[j])")
        }
        #expect(abs(values[0] - 0.507289) < 1e-5)
      }
      // The job belongs to the reference contract: the gateway's own /jobs does not show it.
      try await client.execute(uri: "/jobs/\(jobId)", method: .get) { response in
        #expect(response.status == .notFound)
      }
    }
  }

  @Test("Envelope and batch refusals are 422 with {\"detail\"}; unknown models and jobs 404")
  func envelopeRefusals() async throws {
    let one = Array(Self.inputs.prefix(1))
    let cases: [(String, ByteBuffer, HTTPResponse.Status)] = [
      ("not JSON", ByteBuffer(string: "{"), .unprocessableContent),
      (
        "extra field",
        ByteBuffer(string: #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[],"x":1}"#),
        .unprocessableContent
      ),
      (
        "missing inputs", ByteBuffer(string: #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1}"#),
        .unprocessableContent
      ),
      (
        "empty inputs", ByteBuffer(string: #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[]}"#),
        .unprocessableContent
      ),
      (
        "bad hex",
        ByteBuffer(
          string:
            #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"hex","payload":"zz"}]}"#
        ), .unprocessableContent
      ),
      (
        "odd hex",
        ByteBuffer(
          string:
            #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"hex","payload":"abc"}]}"#
        ), .unprocessableContent
      ),
      (
        "base64",
        ByteBuffer(
          string:
            #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"base64","payload":"ab"}]}"#
        ), .unprocessableContent
      ),
      ("batch 0", Self.body(batchSize: 0, inputs: one), .unprocessableContent),
      ("batch 17", Self.body(batchSize: 17, inputs: Self.inputs), .unprocessableContent),
      (
        "batch as fraction",
        ByteBuffer(string: #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1.5,"inputs":[]}"#),
        .unprocessableContent
      ),
      (
        "empty payload",
        ByteBuffer(
          string:
            #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"hex","payload":""}]}"#
        ), .unprocessableContent
      ),
      ("one input of eight", Self.body(batchSize: 1, inputs: one), .unprocessableContent),
      ("unknown model", Self.body(modelId: "nope", batchSize: 1, inputs: Self.inputs), .notFound),
      ("model without SEAL layout", Self.body(modelId: "iris_mlp", batchSize: 1, inputs: Self.inputs), .notFound),
    ]
    try await TestGateway.withGateway { client in
      for (name, body, status) in cases {
        try await client.execute(
          uri: "/reference/infer", method: .post, headers: [.contentType: "application/json"], body: body
        ) { response in
          #expect(response.status == status, "\(name)")
          #expect(Self.detail(response.body) != nil, "\(name)")
        }
      }
      try await client.execute(uri: "/reference/jobs/0123456789abcdef0123456789abcdef", method: .get) { response in
        #expect(response.status == .notFound)
        #expect(Self.detail(response.body) != nil)
      }
    }
  }

  @Test("Ciphertexts SEAL's loader (or ours) refuses are 400 before any evaluation")
  func ciphertextRefusals() async throws {
    var compressed = Self.inputs
    compressed[2][5] = 2
    var outOfRange = Self.inputs
    let parameters = Self.client.parameters
    // The first residue of input 4 set to its prime.
    let prime = parameters.ciphertextModuli[0]
    for b in 0..<8 { outOfRange[4][113 + b] = UInt8(truncatingIfNeeded: prime >> (8 * UInt64(b))) }
    var truncated = Self.inputs
    truncated[7] = Array(truncated[7].dropLast(8))
    let lowerLevel = try Self.inputs.map { stream in
      let ciphertext = try Ciphertext(sealBytes: stream, parameters: parameters)
      return try Evaluator(parameters: parameters).dropLevel(ciphertext, to: 1).sealBytes(parameters: parameters)
    }
    let other = try SEALClient(degree: 8192, bits: [60, 40, 40, 60], scale: 0x1p30)
    let foreign = try other.encrypt([Self.samples[0]])
    let bigScale = try SEALClient(scale: 0x1p33)
    let tooLargeScale = try bigScale.encrypt([Self.samples[0]])
    var mixedScales = Self.inputs
    mixedScales[1] = try SEALClient(scale: 0x1p31).encrypt([Self.samples[0]])[1]
    let cases: [(String, [[UInt8]], String)] = [
      ("compressed", compressed, "zstd"), ("residue out of range", outOfRange, "inputs[4]"),
      ("truncated", truncated, "inputs[7]"), ("lower level", lowerLevel, "fresh ciphertext"),
      ("other parameters", foreign, "other encryption parameters"), ("scale above the limit", tooLargeScale, "scale"),
      ("mixed scales", mixedScales, "one scale"),
    ]
    try await TestGateway.withGateway { client in
      for (name, inputs, fragment) in cases {
        try await client.execute(
          uri: "/reference/infer", method: .post, headers: [.contentType: "application/json"],
          body: Self.body(batchSize: 1, inputs: inputs)
        ) { response in
          #expect(response.status == .badRequest, "\(name)")
          #expect(
            Self.detail(response.body)?.contains(fragment) == true, "\(name): \(Self.detail(response.body) ?? "")")
        }
      }
    }
  }

  @Test("POST /reference/infer/plain answers the formula; bad bodies are 422")
  func plain() async throws {
    try await TestGateway.withGateway { client in
      try await client.execute(
        uri: "/reference/infer/plain", method: .post, headers: [.contentType: "application/json"],
        body: ByteBuffer(
          string: #"{"model_id":"logistic_v1","version":"1.0.0","inputs":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}"#)
      ) { response in
        #expect(response.status == .ok)
        let body = ContractJSON.object(response.body)
        let outputs = try #require(body["outputs"] as? [Double])
        #expect(abs(outputs[0] - Self.expected(Self.samples[0])) < 1e-12)
        #expect(body["diagnostics"] as? [String: String] == ["mode": "plain"])
      }
      for bad in [
        #"{"model_id":"logistic_v1","version":"1.0.0","inputs":[1,2]}"#,
        #"{"model_id":"logistic_v1","version":"1.0.0","inputs":["a"]}"#,
        #"{"model_id":"logistic_v1","version":"1.0.0","inputs":[1,2,3,4,5,6,7,8],"extra":true}"#,
      ] {
        try await client.execute(
          uri: "/reference/infer/plain", method: .post, headers: [.contentType: "application/json"],
          body: ByteBuffer(string: bad)
        ) { response in
          #expect(response.status == .unprocessableContent, "\(bad)")
        }
      }
    }
  }

  @Test(
    "Our guards keep their statuses in the reference's shape: 401 without a key, X-Tenant-ID never trusted, 413, 429")
  func guards() async throws {
    let keys = TenantDirectory(apiKeys: ["key-of-tenant-a-0001": "a", "key-of-tenant-b-0001": "b"])
    try await TestGateway.withGateway(configuration: GatewayConfiguration(tenants: keys, requestsPerSecond: nil)) {
      client in
      try await client.execute(uri: "/reference/health", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/reference/models", method: .get, headers: [.init("X-Tenant-ID")!: "a"]) {
        #expect($0.status == .unauthorized)
        #expect(Self.detail($0.body) != nil)
      }
      let jobId = try await client.execute(
        uri: "/reference/infer", method: .post,
        headers: [.contentType: "application/json", .authorization: "Bearer key-of-tenant-a-0001"],
        body: Self.body(batchSize: 3, inputs: Self.inputs)
      ) { response in try #require(ContractJSON.object(response.body)["job_id"] as? String) }
      // Tenant b cannot see tenant a's job, whatever X-Tenant-ID says.
      try await client.execute(
        uri: "/reference/jobs/\(jobId)", method: .get,
        headers: [.authorization: "Bearer key-of-tenant-b-0001", .init("X-Tenant-ID")!: "a"]
      ) { #expect($0.status == .notFound) }
      try await client.execute(
        uri: "/reference/jobs/\(jobId)", method: .get, headers: [.authorization: "Bearer key-of-tenant-a-0001"]
      ) { #expect($0.status == .ok) }
    }
    try await TestGateway.withGateway(
      configuration: GatewayConfiguration(tenants: .open, requestsPerSecond: nil, maximumBodyBytes: 1 << 20)
    ) {
      client in
      try await client.execute(
        uri: "/reference/infer", method: .post, headers: [.contentType: "application/json"],
        body: Self.body(batchSize: 1, inputs: Self.inputs)
      ) { response in
        #expect(response.status == .contentTooLarge)
        #expect(Self.detail(response.body) != nil)
      }
    }
    try await TestGateway.withGateway(
      configuration: GatewayConfiguration(tenants: .open, requestsPerSecond: 0.001, burst: 1)
    ) {
      client in
      try await client.execute(uri: "/reference/models", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/reference/models", method: .get) { response in
        #expect(response.status == .tooManyRequests)
        #expect(response.headers[.retryAfter] != nil)
        #expect(Self.detail(response.body) != nil)
      }
    }
  }
}

@Suite("Reference envelope parser")
struct ReferenceEnvelopeTests {
  static let valid = Array(
    #"{"model_id":"logistic_v1","version":"1.0.0","batch_size":1,"inputs":[{"encoding":"hex","payload":"a15e1004"},{"payload":"00FF","encoding":"hex"}]}"#
      .utf8)

  /// `bytes` as a stream of chunks of the given sizes (cycled).
  static func chunks(_ bytes: [UInt8], sizes: [Int]) -> AsyncStream<ByteBuffer> {
    AsyncStream { continuation in
      var offset = 0
      var index = 0
      while offset < bytes.count {
        let size = max(1, sizes[index % sizes.count])
        continuation.yield(ByteBuffer(bytes: bytes[offset..<min(bytes.count, offset + size)]))
        offset += size
        index += 1
      }
      continuation.finish()
    }
  }

  @Test("Parses the documented body, decoding hex in either case and JSON escapes in strings")
  func parses() async throws {
    let body = Array(
      #" { "model_id" : "logistic\u005fv1", "version":"1.0.0", "batch_size": 2, "inputs": [ {"payload":"00fFa1","encoding":"hex"} ] } "#
        .utf8)
    let parsed = try await ReferenceEnvelope.parseInfer(body)
    #expect(parsed.modelId == "logistic_v1")
    #expect(parsed.batchSize == 2)
    #expect(parsed.payloads == [[0x00, 0xFF, 0xA1]])
    // JSON Schema's integer: an integral number in any notation; strings of exactly 256 bytes.
    let integral = Array(
      "{\"model_id\":\"\(String(repeating: "a", count: 256))\",\"version\":\"1\",\"batch_size\":2.0e0,\"inputs\":[{\"encoding\":\"hex\",\"payload\":\"00\"}]}"
        .utf8)
    let parsedIntegral = try await ReferenceEnvelope.parseInfer(integral)
    #expect(parsedIntegral.batchSize == 2 && parsedIntegral.modelId.count == 256)
  }

  @Test("Streamed in chunks of any size, even splitting hex digit pairs, it parses exactly as in one piece")
  func streamed() async throws {
    let whole = try await ReferenceEnvelope.parseInfer(Self.valid)
    for sizes in [[1], [2], [3], [7, 1, 2], [64], [Self.valid.count]] {
      let parsed = try await ReferenceEnvelope.parseInfer(
        streaming: Self.chunks(Self.valid, sizes: sizes), limit: 1 << 20)
      #expect(parsed.payloads == whole.payloads, "chunks \(sizes)")
      #expect(parsed.modelId == whole.modelId && parsed.batchSize == whole.batchSize)
    }
    // Bad digits and odd counts are refused however the chunks fall.
    for text in [
      #"{"model_id":"m","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"a15"}]}"#,
      #"{"model_id":"m","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"a1g5"}]}"#,
      #"{"model_id":"m","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"a1"#,
    ] {
      for sizes in [[1], [2], [3], [1000]] {
        await #expect(throws: GatewayError.self, "\(text) in chunks \(sizes)") {
          try await ReferenceEnvelope.parseInfer(streaming: Self.chunks(Array(text.utf8), sizes: sizes), limit: 1 << 20)
        }
      }
    }
    // A body beyond the limit is refused as too large while it arrives.
    do {
      _ = try await ReferenceEnvelope.parseInfer(streaming: Self.chunks(Self.valid, sizes: [8]), limit: 40)
      Issue.record("the limit was not enforced")
    } catch {
      #expect(error.code == .payloadTooLarge)
    }
  }

  @Test("Refuses duplicates, unknown fields, trailing content, bad numbers and bad strings")
  func refuses() async {
    let bad = [
      #"{"model_id":"a","model_id":"b","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"00"}]}"#,
      #"{"model_id":"a","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"00"}]} x"#,
      #"{"model_id":"a","version":"1","batch_size":01,"inputs":[{"encoding":"hex","payload":"00"}]}"#,
      #"{"model_id":"a","version":"1","batch_size":1.5,"inputs":[{"encoding":"hex","payload":"00"}]}"#,
      #"{"model_id":"a","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":""}]}"#,
      "{\"model_id\":\"\(String(repeating: "a", count: 257))\",\"version\":\"1\",\"batch_size\":1,\"inputs\":[]}",
      #"{"model_id":"a","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"0\u0030"}]}"#,
      #"{"model_id":"\ud800","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"00"}]}"#,
      #"{"model_id":1,"version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"00"}]}"#,
      #"{"model_id":"a","version":"1","batch_size":1,"inputs":[{"encoding":"hex","payload":"00","x":0}]}"#,
      #"{"model_id":"a","version":"1","batch_size":1,"inputs":{}}"#,
      #"[]"#, "", "{",
    ]
    for text in bad {
      await #expect(throws: GatewayError.self, "\(text)") { try await ReferenceEnvelope.parseInfer(Array(text.utf8)) }
    }
  }

  @Test("Every truncation and random corruption of a valid body is refused or parsed, never a crash")
  func truncations() async {
    let text = Self.valid
    for length in 0..<text.count {
      await #expect(throws: GatewayError.self) { try await ReferenceEnvelope.parseInfer(Array(text.prefix(length))) }
    }
    var random = TestSeed.generator("ReferenceContractTests.truncations")
    for _ in 0..<2000 {
      var bytes = text
      bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
      _ = try? await ReferenceEnvelope.parseInfer(bytes)
    }
  }
}
