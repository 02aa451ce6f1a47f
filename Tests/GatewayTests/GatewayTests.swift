import CKKS
import Foundation
import Gateway
import GatewayAPI
import Hummingbird
import HummingbirdTesting
import InferencePrograms
import Logging
import NIOCore
import TestSupport
import Testing

/// Route tests through the real HTTP layer (Hummingbird's router test client). The client side of
/// the encrypted round trip uses the CKKS library directly, so these tests depend on the contract
/// alone and not on the SDK.
@Suite("Gateway routes")
struct GatewayRouteTests {
  @Test("GET /health answers ok with the contract version")
  func health() async throws {
    try await TestGateway.withGateway { client in
      try await client.execute(uri: "/health", method: .get) { response in
        #expect(response.status == .ok)
        let body = ContractJSON.object(response.body)
        #expect(body["status"] as? String == "ok")
        #expect(body["api_version"] as? String == ContractInfo.version)
      }
    }
  }

  @Test("GET /models lists logistic_v1 with parameters a client can rebuild, including the fingerprint")
  func models() async throws {
    try await TestGateway.withGateway { client in
      try await client.execute(uri: "/models", method: .get) { response in
        #expect(response.status == .ok)
        let models = try ContractJSON.decode(Components.Schemas.ModelList.self, response.body).models
        let logistic = try #require(models.first { $0.modelId == "logistic_v1" })
        let session = try ClientSession(model: logistic)
        #expect(session.parameters.fingerprint.description == session.declaredFingerprint)
        #expect(session.layout.samplesPerCiphertext == 128)
        // The reference gateway's published fields, kept.
        #expect(logistic.parameters?.weights == [0.15, -0.08, 0.11, 0.07, -0.12, 0.09, 0.05, -0.04])
        #expect(logistic.parameters?.bias == -0.02)
        #expect(logistic.activationParameters?.coefficients == [0.5, 0.197, 0.0])
      }
      try await client.execute(uri: "/models/logistic_v1/1.0.0", method: .get) { response in
        #expect(response.status == .ok)
        #expect(ContractJSON.object(response.body)["version"] as? String == "1.0.0")
      }
      try await client.execute(uri: "/models/logistic_v1/9.9.9", method: .get) { response in
        #expect(response.status == .notFound)
        #expect(ContractJSON.errorCode(response.body) == "UNKNOWN_MODEL")
      }
    }
  }

  @Test("Plain route: the reference input gives the reference output 0.507289…")
  func plain() async throws {
    try await TestGateway.withGateway { client in
      let inputs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
      let body = ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0", "inputs": inputs])
      try await client.execute(uri: "/infer/plain", method: .post, body: body) { response in
        #expect(response.status == .ok)
        let outputs = ContractJSON.object(response.body)["outputs"] as? [Double] ?? []
        let weights = [0.15, -0.08, 0.11, 0.07, -0.12, 0.09, 0.05, -0.04]
        let expected = 0.5 + 0.197 * (zip(weights, inputs).map(*).reduce(0, +) - 0.02)
        #expect(outputs.count == 1)
        #expect(abs(outputs[0] - expected) < 1e-15)
        #expect(abs(outputs[0] - 0.507289) < 1e-6)
      }
    }
  }

  @Test("Encrypted round trip over HTTP agrees with the plain route for a batch of 200 samples")
  func encryptedRoundTrip() async throws {
    try await TestGateway.withGateway { client in
      let session = try await ClientSession.fetch("logistic_v1", from: client)
      var generator = TestSeed.generator("GatewayTests.encryptedRoundTrip")
      let samples = (0..<200).map { _ in (0..<8).map { _ in Double.random(in: -1...1, using: &generator) } }
      let request = try session.request(samples: samples, waitMilliseconds: 5000)
      #expect(request.readableBytes < 48_000)
      var scores: [[Double]] = []
      try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .ok)
        let job = try ContractJSON.decode(Components.Schemas.Job.self, response.body)
        #expect(job.status == .completed)
        #expect(job.jobId.count == 32)
        scores = try session.decrypt(job: job, sampleCount: samples.count)
      }
      #expect(scores.count == samples.count)
      var maximumError = 0.0
      for (sample, score) in zip(samples, scores) {
        var plain: [Double] = []
        let body = ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0", "inputs": sample])
        try await client.execute(uri: "/infer/plain", method: .post, body: body) { response in
          plain = ContractJSON.object(response.body)["outputs"] as? [Double] ?? []
        }
        maximumError = max(maximumError, abs(plain[0] - score[0]))
      }
      #expect(maximumError < 1e-6, "maximum error \(maximumError)")
    }
  }

  @Test("Without waiting the job is accepted (202), then GET /jobs returns it completed")
  func asynchronousJob() async throws {
    try await TestGateway.withGateway { client in
      let session = try await ClientSession.fetch("logistic_v1", from: client)
      let samples = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]
      var jobId = ""
      try await client.execute(uri: "/infer", method: .post, body: try session.request(samples: samples)) { response in
        let job = try ContractJSON.decode(Components.Schemas.Job.self, response.body)
        #expect(response.status == (job.status == .completed ? .ok : .accepted))
        jobId = job.jobId
      }
      var completed: Components.Schemas.Job?
      for _ in 0..<500 {
        completed = try await client.execute(uri: "/jobs/\(jobId)", method: .get) { response in
          #expect(response.status == .ok)
          return try ContractJSON.decode(Components.Schemas.Job.self, response.body)
        }
        if completed?.status == .completed { break }
        try await Task.sleep(for: .milliseconds(10))
      }
      let scores = try session.decrypt(job: try #require(completed), sampleCount: 1)
      #expect(abs(scores[0][0] - 0.507289) < 1e-6)
    }
  }

  static let keys = [
    "key-of-tenant-alpha-0123456789": "alpha", "key-of-tenant-beta-01234567890": "beta",
  ]

  @Test("With API keys: 401 without or with a wrong key, health stays open, tenants see only their jobs")
  func tenancy() async throws {
    let configuration = GatewayConfiguration(tenants: TenantDirectory(apiKeys: Self.keys), requestsPerSecond: nil)
    try await TestGateway.withGateway(configuration: configuration) { client in
      try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
      try await client.execute(uri: "/models", method: .get) { response in
        #expect(response.status == .unauthorized)
        #expect(ContractJSON.errorCode(response.body) == "UNAUTHORIZED")
      }
      try await client.execute(uri: "/models", method: .get, headers: [.authorization: "Bearer wrong-key-0123456789"]) {
        #expect($0.status == .unauthorized)
      }
      let alpha: HTTPFields = [.authorization: "Bearer key-of-tenant-alpha-0123456789"]
      let beta: HTTPFields = [.authorization: "Bearer key-of-tenant-beta-01234567890"]
      let session = try await client.execute(uri: "/models/logistic_v1/1.0.0", method: .get, headers: alpha) {
        response in
        #expect(response.status == .ok)
        return try ClientSession(modelBody: response.body)
      }
      var jobId = ""
      let request = try session.request(samples: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], waitMilliseconds: 5000)
      try await client.execute(uri: "/infer", method: .post, headers: alpha, body: request) { response in
        #expect(response.status == .ok)
        jobId = ContractJSON.object(response.body)["job_id"] as? String ?? ""
      }
      try await client.execute(uri: "/jobs/\(jobId)", method: .get, headers: beta) { response in
        #expect(response.status == .notFound)
        #expect(ContractJSON.errorCode(response.body) == "JOB_NOT_FOUND")
      }
      try await client.execute(uri: "/jobs/\(jobId)", method: .get, headers: alpha) { #expect($0.status == .ok) }
    }
  }

  @Test("Rate limit per tenant: the request beyond the burst gets 429 with Retry-After")
  func rateLimit() async throws {
    let configuration = GatewayConfiguration(
      tenants: TenantDirectory(apiKeys: Self.keys), requestsPerSecond: 0.01, burst: 2)
    try await TestGateway.withGateway(configuration: configuration) { client in
      let alpha: HTTPFields = [.authorization: "Bearer key-of-tenant-alpha-0123456789"]
      let beta: HTTPFields = [.authorization: "Bearer key-of-tenant-beta-01234567890"]
      for _ in 0..<2 {
        try await client.execute(uri: "/models", method: .get, headers: alpha) { #expect($0.status == .ok) }
      }
      try await client.execute(uri: "/models", method: .get, headers: alpha) { response in
        #expect(response.status == .tooManyRequests)
        #expect(ContractJSON.errorCode(response.body) == "RATE_LIMITED")
        #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
      }
      // Another tenant has its own bucket; unauthenticated requests do not consume any.
      try await client.execute(uri: "/models", method: .get, headers: beta) { #expect($0.status == .ok) }
    }
  }

  @Test("Bodies above the limit get 413 PAYLOAD_TOO_LARGE before they are read")
  func bodyLimit() async throws {
    try await TestGateway.withGateway(
      configuration: GatewayConfiguration(tenants: .open, requestsPerSecond: nil, maximumBodyBytes: 4096)
    ) {
      client in
      let large = ContractJSON.body(
        ["model_id": "logistic_v1", "version": "1.0.0", "inputs": [Double](repeating: 0.123456789, count: 1000)])
      try await client.execute(uri: "/infer/plain", method: .post, body: large) { response in
        #expect(response.status == .contentTooLarge)
        #expect(ContractJSON.errorCode(response.body) == "PAYLOAD_TOO_LARGE")
      }
      let small = ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0", "inputs": [0.1, 0.2]])
      try await client.execute(uri: "/infer/plain", method: .post, body: small) { response in
        #expect(response.status == .unprocessableContent)
        #expect(ContractJSON.errorCode(response.body) == "INVALID_INPUT")
      }
    }
  }

  @Test("GET /metrics exposes the job counters in the Prometheus text format")
  func metrics() async throws {
    try await TestGateway.withGateway { client in
      let session = try await ClientSession.fetch("logistic_v1", from: client)
      let request = try session.request(samples: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]], waitMilliseconds: 5000)
      try await client.execute(uri: "/infer", method: .post, body: request) { #expect($0.status == .ok) }
      try await client.execute(uri: "/metrics", method: .get) { response in
        #expect(response.status == .ok)
        let text = String(buffer: response.body)
        #expect(text.contains("heinfer_jobs_submitted_total 1"))
        #expect(text.contains("heinfer_jobs_completed_total 1"))
        #expect(text.contains("# TYPE heinfer_evaluation_seconds histogram"))
      }
    }
  }

  @Test("A pool that accepts no more work makes POST /infer answer 503 UNAVAILABLE")
  func unavailable() async throws {
    let pool = WorkerPool(threads: 1, queueCapacity: 1)
    await pool.shutdown()
    try await TestGateway.withGateway(pool: pool) { client in
      let request = try await ClientSession.fetch("logistic_v1", from: client).request(samples: [
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
      ])
      try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .serviceUnavailable)
        #expect(ContractJSON.errorCode(response.body) == "UNAVAILABLE")
      }
    }
  }

  @Test("Unknown jobs are 404 JOB_NOT_FOUND; malformed ids are 400 INVALID_SCHEMA")
  func missingJob() async throws {
    try await TestGateway.withGateway { client in
      try await client.execute(uri: "/jobs/0123456789abcdef0123456789abcdef", method: .get) { response in
        #expect(response.status == .notFound)
        #expect(ContractJSON.errorCode(response.body) == "JOB_NOT_FOUND")
      }
    }
  }

  @Test("Envelope errors: bad JSON, missing field, unknown field → 400 INVALID_SCHEMA")
  func envelopeErrors() async throws {
    try await TestGateway.withGateway { client in
      let bodies = [
        ByteBuffer(string: "{not json"),
        ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0"]),
        ContractJSON.body(["model_id": "logistic_v1", "version": "1.0.0", "inputs": [0.1], "surprise": 1]),
      ]
      for body in bodies {
        try await client.execute(uri: "/infer/plain", method: .post, body: body) { response in
          #expect(response.status == .badRequest)
          #expect(ContractJSON.errorCode(response.body) == "INVALID_SCHEMA")
        }
      }
    }
  }

  @Test("Validation errors of POST /infer, each with its code and status")
  func encryptedValidation() async throws {
    try await TestGateway.withGateway { client in
      let session = try await ClientSession.fetch("logistic_v1", from: client)
      let good = try session.payload(samples: [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]])
      func envelope(_ changes: [String: Any]) -> ByteBuffer {
        var object: [String: Any] = [
          "model_id": "logistic_v1", "version": "1.0.0", "batch_size": 1,
          "inputs": [["encoding": "base64", "format": "heinfer-ckks-v1", "payload": good]],
        ]
        for (key, value) in changes { object[key] = value }
        return ContractJSON.body(object)
      }
      // All-ones bits make the last residues 2^54 − 1, above the 54-bit prime.
      var corrupted = Array(Data(base64Encoded: good)!)
      for i in (corrupted.count - 16)..<corrupted.count { corrupted[i] = 0xFF }
      var truncated = Array(Data(base64Encoded: good)!)
      truncated.removeLast(100)
      let foreign = try ClientSession(
        parameters: ParameterDescription(
          degree: 2048, ciphertextPrimeBits: [50], specialPrimeBits: [], defaultScale: 0x1p23),
        layout: session.layout, inputDimension: 8)
      let cases: [(String, [String: Any], HTTPResponse.Status, String)] = [
        ("api version", ["api_version": "7.0.0"], .badRequest, "UNSUPPORTED_API_VERSION"),
        ("unknown model", ["model_id": "nobody"], .notFound, "UNKNOWN_MODEL"),
        ("unknown version", ["version": "2.0.0"], .notFound, "UNKNOWN_MODEL"),
        ("batch too large", ["batch_size": 5000], .unprocessableContent, "INVALID_BATCH_SIZE"),
        ("inputs do not match batch", ["batch_size": 129], .unprocessableContent, "INVALID_BATCH_SIZE"),
        (
          "residues above the prime",
          [
            "inputs": [
              ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": Data(corrupted).base64EncodedString()]
            ]
          ],
          .unprocessableContent, "INVALID_CIPHERTEXT"
        ),
        (
          "truncated",
          [
            "inputs": [
              ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": Data(truncated).base64EncodedString()]
            ]
          ],
          .unprocessableContent, "INVALID_CIPHERTEXT"
        ),
        (
          "other parameters",
          [
            "inputs": [
              ["encoding": "base64", "format": "heinfer-ckks-v1", "payload": try foreign.payload(samples: [[0.5]])]
            ]
          ],
          .unprocessableContent, "CRYPTO_POLICY_VIOLATION"
        ),
        (
          "not base64",
          ["inputs": [["encoding": "base64", "format": "heinfer-ckks-v1", "payload": "%%%"]]], .badRequest,
          "INVALID_SCHEMA"
        ),
      ]
      for (name, changes, status, code) in cases {
        try await client.execute(uri: "/infer", method: .post, body: envelope(changes)) { response in
          #expect(response.status == status, "\(name)")
          #expect(ContractJSON.errorCode(response.body) == code, "\(name): \(String(buffer: response.body))")
        }
      }
      // Integers at the schema's maximum for batch_size are batch errors; past it, schema errors
      // (the generated decoder cannot even read the last one).
      let limits: [(String, HTTPResponse.Status, String)] = [
        ("9007199254740991", .unprocessableContent, "INVALID_BATCH_SIZE"),
        ("9007199254740992", .badRequest, "INVALID_SCHEMA"),
        ("12225589694825312126481989632", .badRequest, "INVALID_SCHEMA"),
      ]
      for (literal, status, code) in limits {
        let text = String(buffer: envelope([:]))
        #expect(text.contains(#""batch_size":1"#))
        let body = ByteBuffer(
          string: text.replacingOccurrences(of: #""batch_size":1"#, with: #""batch_size":\#(literal)"#))
        try await client.execute(uri: "/infer", method: .post, body: body) { response in
          #expect(response.status == status, "batch_size \(literal)")
          #expect(
            ContractJSON.errorCode(response.body) == code, "batch_size \(literal): \(String(buffer: response.body))")
        }
      }
    }
  }
}

@Suite("Contract")
struct ContractTests {
  @Test("The server's contract version is the document's info.version")
  func versionMatchesDocument() throws {
    let text = try Repository.text("schemas/openapi.yaml")
    let infoVersion = text.split(separator: "\n").first { $0.hasPrefix("  version: ") }
    #expect(infoVersion.map { String($0.dropFirst("  version: ".count)) } == ContractInfo.version)
  }

  @Test("API versions: same major (and minor before 1.0.0) accepted, others refused")
  func compatibility() {
    #expect(ContractInfo.isCompatible(ContractInfo.version))
    #expect(ContractInfo.isCompatible("0.11.7"))
    #expect(ContractInfo.isCompatible("0.11.100000000000000000000000000"))
    #expect(!ContractInfo.isCompatible("0.7.1"))
    #expect(!ContractInfo.isCompatible("0.10.0"))
    #expect(!ContractInfo.isCompatible("0.12.0"))
    #expect(!ContractInfo.isCompatible("1.1.0"))
    #expect(!ContractInfo.isCompatible("0.1"))
    #expect(!ContractInfo.isCompatible("x.y.z"))
    #expect(!ContractInfo.isCompatible("0.11."))
    #expect(!ContractInfo.isCompatible("0.11.0.2"))
  }
}

@Suite("Model registry")
struct ModelRegistryTests {
  static let valid = """
    {"model_id": "m", "version": "1.0.0", "description": "d", "kind": "linear", "weights": [[0.5, 0.25]],
     "bias": [0.1], "output_transform": "sigmoid",
     "encryption": {"poly_modulus_degree": 2048, "coeff_modulus_bits": [53], "special_modulus_bits": [],
                    "input_scale": 8388608, "weight_scale": 33554432, "result_dropped_bits": 12},
     "max_batch_size": 16, "input_bound": 4, "publish_parameters": true}
    """

  /// The bundled convolutional network's file.
  static let network = try! Repository.text("Sources/Gateway/Models/mnist_cnn-1.0.0.json")

  /// The rule that `valid` (or `base`) after `edit` breaks, or `nil` when it compiles.
  func compile(base: String = Self.valid, _ edit: (inout [String: Any]) -> Void) -> String? {
    var object = try! JSONSerialization.jsonObject(with: Data(base.utf8)) as! [String: Any]
    edit(&object)
    let data = try! JSONSerialization.data(withJSONObject: object)
    do {
      _ = try ModelRegistry(definitions: [("m.json", try ModelDefinition.decode(data))])
      return nil
    } catch let error as ModelDefinitionError {
      return error.rule
    } catch {
      return "\(error)"
    }
  }

  @Test("A valid file compiles; each broken rule is named")
  func rules() {
    #expect(compile { _ in } == nil)
    let cases: [(String, (inout [String: Any]) -> Void)] = [
      ("unknown field surprise", { $0["surprise"] = 1 }),
      ("kind linear needs weights and bias", { $0["bias"] = nil }),
      ("model_id must match", { $0["model_id"] = "Bad-Id" }),
      ("semantic version", { $0["version"] = "1.0" }),
      ("bias must have 1 entries", { $0["bias"] = [0.1, 0.2] }),
      ("every weights row", { $0["weights"] = [[0.5, 0.25], [0.1]] }),
      (
        "sigmoid needs exactly one output",
        {
          $0["weights"] = [[0.5, 0.25], [0.1, 0.2]]
          $0["bias"] = [0, 0]
        }
      ),
      ("degree at most 1", { $0["activation"] = ["name": "p", "coefficients": [0.5, 0.2, 0.1]] }),
      (
        "exceeds the 128-bit security bound",
        {
          var e = $0["encryption"] as! [String: Any]
          e["coeff_modulus_bits"] = [60]
          $0["encryption"] = e
        }
      ),
      ("overflow the modulus", { $0["input_bound"] = 1e6 }),
      // Private weights need room for the flooding noise, which one 53-bit prime does not have.
      ("plus flooding noise 2^", { $0["publish_parameters"] = nil }),
      ("result_protection is for models with private weights", { $0["result_protection"] = "none" }),
      ("invalid value at result_protection", { $0["result_protection"] = "some" }),
      (
        "result_dropped_bits",
        {
          var e = $0["encryption"] as! [String: Any]
          e["result_dropped_bits"] = 40
          $0["encryption"] = e
        }
      ),
    ]
    for (expected, edit) in cases {
      let rule = compile(edit)
      #expect(rule?.contains(expected) == true, "expected a rule mentioning '\(expected)', got \(rule ?? "success")")
    }
  }

  @Test("A convolutional network compiles from its file; each broken rule is named")
  func networkRules() {
    #expect(compile(base: Self.network) { _ in } == nil)
    func edit(_ key: String, _ field: String, _ value: Any) -> (inout [String: Any]) -> Void {
      { object in
        var inner = object[key] as! [String: Any]
        inner[field] = value
        object[key] = inner
      }
    }
    let cases: [(String, (inout [String: Any]) -> Void)] = [
      ("needs convolution, hidden_weights, hidden_bias and value_bounds", { $0["value_bounds"] = nil }),
      ("unknown field convolution.padding", edit("convolution", "padding", 1)),
      ("unknown field value_bounds.input", edit("value_bounds", "input", 1)),
      ("takes no activation", { $0["activation"] = ["name": "square", "coefficients": [0, 0, 1]] }),
      ("image_side ≥ kernel", edit("convolution", "kernel", 29)),
      ("needs 49 weights per channel", edit("convolution", "weights", [[0.1], [0.2], [0.3], [0.4]])),
      ("value_bounds must be positive", edit("value_bounds", "scores", 0)),
      ("8192 window slots do not fit 4096 slots", edit("convolution", "stride", 2)),
      ("the dense layers' shapes do not follow the convolution's 144 outputs", edit("convolution", "stride", 4)),
      ("leave less than 20 bits of the base prime", edit("value_bounds", "scores", 1e6)),
      ("their squares up to 2^", edit("value_bounds", "hidden", 1e6)),
      ("sizes its result's dropped bits itself", edit("encryption", "result_dropped_bits", 4)),
      ("N/2 ≥ image_side", edit("convolution", "image_side", 5000)),
      ("image_side ≥ stride", edit("convolution", "stride", 29)),
      // Δ = 2^33 squares to s2 = 2^51, which leaves the output weights 2^5 under a 2^29 result.
      ("the scale of the output layer's weights is 2^", edit("encryption", "input_scale", 0x1p33)),
      (
        "65 channels of 64 windows",
        { object in
          edit("convolution", "weights", [[Double]](repeating: [Double](repeating: 0.01, count: 49), count: 65))(
            &object)
          edit("convolution", "bias", [Double](repeating: 0, count: 65))(&object)
          object["hidden_weights"] = [[Double]](repeating: [Double](repeating: 0, count: 65 * 64), count: 64)
        }
      ),
      ("exactly six ciphertext primes", edit("encryption", "coeff_modulus_bits", [39, 27, 27, 27, 27])),
      ("cannot protect the results of its private weights", { $0["result_protection"] = nil }),
      ("invalid value at encrypted_layout", { $0["encrypted_layout"] = "image_grid" }),
      // Two groups of 64 images are 98 ciphertexts.
      (
        "max_batch_size 128 needs more than 64 ciphertexts",
        { object in
          object["encrypted_layout"] = "image_batch"
          object["max_batch_size"] = 128
        }
      ),
      // Scores are interleaved like the windows: at most 64 of them.
      (
        "65 scores must each fit the 64 padded windows",
        { object in
          object["encrypted_layout"] = "image_batch"
          object["weights"] = [[Double]](repeating: [Double](repeating: 0.01, count: 64), count: 65)
          object["bias"] = [Double](repeating: 0, count: 65)
        }
      ),
    ]
    for (expected, edit) in cases {
      let rule = compile(base: Self.network, edit)
      #expect(rule?.contains(expected) == true, "expected a rule mentioning '\(expected)', got \(rule ?? "success")")
    }
    // The network's fields belong to kind cnn only.
    #expect(
      compile { $0["value_bounds"] = ["convolution": 1, "hidden": 1, "scores": 1] }?.contains("belong to") == true)
    #expect(compile { $0["encrypted_layout"] = "image_batch" }?.contains("belong to") == true)
    // The same network in the batch layout compiles, with a group of 49 ciphertexts for 64 images.
    #expect(compile(base: Self.network) { $0["encrypted_layout"] = "image_windows" } == nil)
    #expect(
      compile(base: Self.network) { object in
        object["encrypted_layout"] = "image_batch"
        object["max_batch_size"] = 64
      } == nil)
  }

  @Test("Private weights get protected results unless the file says result_protection none; an mlp must say so")
  func resultProtection() throws {
    // Without protection a private linear model needs no room for flooding noise nor a public key.
    var object = try JSONSerialization.jsonObject(with: Data(Self.valid.utf8)) as! [String: Any]
    object["publish_parameters"] = nil
    object["result_protection"] = "none"
    let unprotected = try ModelRegistry(definitions: [
      ("m.json", try ModelDefinition.decode(JSONSerialization.data(withJSONObject: object)))
    ]).models[0]
    #expect(unprotected.program.resultPrivacy == nil)
    #expect(unprotected.program.keyRequirements.isEmpty)
    var iris = try #require(ModelRegistry.bundled().model(id: "iris_mlp", version: "1.0.0")).definition
    #expect(iris.resultProtection == ModelDefinition.ResultProtection.none)
    iris.resultProtection = nil
    #expect(throws: ModelRegistryError.self) { try ModelRegistry(definitions: [("iris.json", iris)]) }
    do {
      _ = try ModelRegistry(definitions: [("iris.json", iris)])
    } catch {
      #expect(error.rule.contains("kind mlp cannot protect the results of its private weights"))
    }
  }

  /// A valid SEAL layout on top of the valid file (published parameters, the reference's activation).
  static func withSEALLayout(_ object: inout [String: Any], _ layout: [String: Any] = [:]) {
    object["publish_parameters"] = true
    object["activation"] = ["name": "polynomial_sigmoid_v1", "coefficients": [0.5, 0.197, 0.0]]
    object["output_transform"] = "identity"
    var seal: [String: Any] = [
      "poly_modulus_degree": 16384, "coeff_modulus_bits": [60, 30, 30, 60], "scale": 1_073_741_824.0,
      "max_input_scale": 4_294_967_296.0, "max_batch_size": 16, "max_multiplicative_depth": 2,
    ]
    seal.merge(layout) { $1 }
    object["seal_layout"] = seal
  }

  @Test("A SEAL layout compiles for a published single-output linear model; each broken rule is named")
  func sealLayoutRules() {
    #expect(compile { Self.withSEALLayout(&$0) } == nil)
    let cases: [(String, (inout [String: Any]) -> Void)] = [
      ("unknown field seal_layout.extra", { Self.withSEALLayout(&$0, ["extra": 1]) }),
      (
        "needs publish_parameters",
        {
          Self.withSEALLayout(&$0)
          $0["publish_parameters"] = false
        }
      ),
      (
        "polynomial_sigmoid_v1",
        {
          Self.withSEALLayout(&$0)
          $0["activation"] = ["name": "other", "coefficients": [0, 1, 0]]
        }
      ),
      (
        "single-output",
        {
          Self.withSEALLayout(&$0)
          $0["weights"] = [[0.5, 0.25], [0.1, 0.2]]
          $0["bias"] = [0, 0]
        }
      ),
      ("max_batch_size must be in", { Self.withSEALLayout(&$0, ["max_batch_size": 8193]) }),
      ("max_input_scale at least scale", { Self.withSEALLayout(&$0, ["max_input_scale": 1.0]) }),
      ("exceeds the 128-bit security bound", { Self.withSEALLayout(&$0, ["poly_modulus_degree": 2048]) }),
      ("weight scale below 2^20", { Self.withSEALLayout(&$0, ["max_input_scale": 0x1p50]) }),
      ("at least two sizes", { Self.withSEALLayout(&$0, ["coeff_modulus_bits": [60]]) }),
    ]
    for (expected, edit) in cases {
      let rule = compile(edit)
      #expect(rule?.contains(expected) == true, "expected a rule mentioning '\(expected)', got \(rule ?? "success")")
    }
  }

  @Test("A folder with a bad file stops start-up naming the file")
  func badFolder() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    try Data("{\"model_id\": 3}".utf8).write(to: folder.appendingPathComponent("broken.json"))
    #expect(throws: ModelRegistryError.self) { try ModelRegistry(folder: folder) }
    do {
      _ = try ModelRegistry(folder: folder)
    } catch {
      #expect(error.file == "broken.json")
    }
  }
}
