import CKKS
import Foundation
import Gateway
import GatewayAPI
import Hummingbird
import HummingbirdTesting
import InferencePrograms
import Logging
import NIOCore
import Testing

/// Evaluation-key registration and the neural-network model that needs it.
@Suite("Evaluation keys and iris_mlp")
struct EvaluationKeyTests {
  static func withGateway<T: Sendable>(
    keys: EvaluationKeyStore = EvaluationKeyStore(),
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> T
  ) async throws -> T {
    let logger = Logger(label: "test")
    let pool = WorkerPool(threads: 2, queueCapacity: 16)
    let service = InferenceService(
      registry: GatewayRouteTests.registry, store: InMemoryJobStore(), pool: pool, logger: logger, keys: keys)
    let result = try await TestGateway.application(service: service).test(.router) { try await body($0) }
    await pool.shutdown()
    return result
  }

  static func object(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test("Register keys, run the iris network encrypted on its test split, agree with the plain route")
  func irisRoundTrip() async throws {
    let (features, labels) = try BundledModelTests.split("iris")
    let modelData = try await Self.withGateway { client in
      try await client.execute(uri: "/models/iris_mlp/1.0.0", method: .get) { Data(buffer: $0.body) }
    }
    let model = try Self.object(modelData)
    let session = try ClientSession(model: model)
    #expect(session.needsRelinearization)
    #expect(session.galoisElements.count == 4)
    let registration = try session.keyRegistration()
    let plainBodies = features.map {
      GatewayRouteTests.json(["model_id": "iris_mlp", "version": "1.0.0", "inputs": $0])
    }
    let (jobData, plainData, keyData) = try await Self.withGateway { client in
      // Without keys: 409 MISSING_EVALUATION_KEYS.
      let unregistered = try session.request(
        samples: features, waitMilliseconds: 10_000, keyId: "00000000000000000000000000000000")
      try await client.execute(uri: "/infer", method: .post, body: unregistered) { response in
        #expect(response.status == .conflict)
        #expect(GatewayRouteTests.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
      let keyData = try await client.execute(uri: "/keys", method: .post, body: registration) { response in
        #expect(response.status == .created)
        return Data(buffer: response.body)
      }
      let keyId = try #require(try Self.object(keyData)["key_id"] as? String)
      try await client.execute(uri: "/keys/\(keyId)", method: .get) { #expect($0.status == .ok) }
      let request = try session.request(samples: features, waitMilliseconds: 10_000, keyId: keyId)
      let jobData = try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .ok)
        return Data(buffer: response.body)
      }
      var plain: [Data] = []
      for body in plainBodies {
        plain.append(try await client.execute(uri: "/infer/plain", method: .post, body: body) { Data(buffer: $0.body) })
      }
      // Deleted keys are gone.
      try await client.execute(uri: "/keys/\(keyId)", method: .delete) { #expect($0.status == .noContent) }
      try await client.execute(uri: "/keys/\(keyId)", method: .get) { response in
        #expect(response.status == .notFound)
        #expect(GatewayRouteTests.errorCode(response.body) == "KEY_NOT_FOUND")
      }
      return (jobData, plain, keyData)
    }
    let keySet = try Self.object(keyData)
    #expect((keySet["galois_elements"] as? [Int])?.sorted() == session.galoisElements.sorted())
    let scores = try session.decrypt(job: try Self.object(jobData), sampleCount: features.count)
    var maximumError = 0.0
    var correct = 0
    for (index, data) in plainData.enumerated() {
      let plain = try #require(try Self.object(data)["outputs"] as? [Double])
      let encrypted = ScoreTransform.softmax.apply(to: scores[index])
      maximumError = max(maximumError, zip(plain, encrypted).map { abs($0 - $1) }.max()!)
      #expect(BundledModelTests.predictedClass(plain) == BundledModelTests.predictedClass(encrypted))
      correct += BundledModelTests.predictedClass(encrypted) == labels[index] ? 1 : 0
    }
    #expect(maximumError < 1e-4, "maximum probability error \(maximumError)")
    print("iris_mlp: encrypted accuracy \(Double(correct) / Double(features.count)), max |Δp| \(maximumError)")
  }

  @Test("Registration errors: incomplete keys, keys the model does not use, foreign parameters, other tenants, quota")
  func registrationErrors() async throws {
    let modelData = try await Self.withGateway { client in
      try await client.execute(uri: "/models/iris_mlp/1.0.0", method: .get) { Data(buffer: $0.body) }
    }
    let session = try ClientSession(model: try Self.object(modelData))
    let incomplete = try session.keyRegistration(galoisElements: Array(session.galoisElements.prefix(1)))
    // Every element the model needs plus one it does not (a rotation by 7 slots).
    let extra = GaloisElement.rotation(by: 7, degree: session.parameters.degree).value
    #expect(!session.galoisElements.contains(extra))
    let excessive = try session.keyRegistration(galoisElements: session.galoisElements + [extra])
    let complete = try session.keyRegistration()
    let linearModel = GatewayRouteTests.json(["model_id": "nobody", "version": "1.0.0"])
    try await Self.withGateway(keys: EvaluationKeyStore(maximumSetsPerTenant: 1)) { client in
      try await client.execute(uri: "/keys", method: .post, body: incomplete) { response in
        #expect(response.status == .unprocessableContent)
        #expect(GatewayRouteTests.errorCode(response.body) == "INVALID_EVALUATION_KEYS")
      }
      try await client.execute(uri: "/keys", method: .post, body: excessive) { response in
        #expect(response.status == .unprocessableContent)
        #expect(GatewayRouteTests.errorCode(response.body) == "INVALID_EVALUATION_KEYS")
      }
      try await client.execute(uri: "/keys", method: .post, body: linearModel) { response in
        #expect(response.status == .notFound)
        #expect(GatewayRouteTests.errorCode(response.body) == "UNKNOWN_MODEL")
      }
      try await client.execute(uri: "/keys", method: .post, body: complete) { #expect($0.status == .created) }
      try await client.execute(uri: "/keys", method: .post, body: complete) { response in
        #expect(response.status == .conflict)
        #expect(GatewayRouteTests.errorCode(response.body) == "KEY_QUOTA_EXCEEDED")
      }
    }
    // Keys made for other parameters: the logistic session's ring has no key switching, so use
    // iris keys against a model of other parameters by renaming the target.
    var foreign = try Self.object(Data(buffer: complete))
    foreign["model_id"] = "breast_cancer_logistic"
    let foreignBody = ByteBuffer(data: try JSONSerialization.data(withJSONObject: foreign))
    try await Self.withGateway { client in
      try await client.execute(uri: "/keys", method: .post, body: foreignBody) { response in
        #expect(response.status == .unprocessableContent)
        #expect(GatewayRouteTests.errorCode(response.body) == "CRYPTO_POLICY_VIOLATION")
      }
    }
  }

  @Test("Key sets expire: after their time to live they are gone and inference asks for new ones")
  func expiry() async throws {
    let modelData = try await Self.withGateway { client in
      try await client.execute(uri: "/models/iris_mlp/1.0.0", method: .get) { Data(buffer: $0.body) }
    }
    let session = try ClientSession(model: try Self.object(modelData))
    let registration = try session.keyRegistration()
    let store = EvaluationKeyStore(timeToLive: .seconds(60))
    try await Self.withGateway(keys: store) { client in
      let keyData = try await client.execute(uri: "/keys", method: .post, body: registration) { Data(buffer: $0.body) }
      let keyId = try #require(try Self.object(keyData)["key_id"] as? String)
      #expect(store.removeExpired(now: Date()) == 0)
      #expect(store.removeExpired(now: Date().addingTimeInterval(61)) == 1)
      try await client.execute(uri: "/keys/\(keyId)", method: .get) { #expect($0.status == .notFound) }
      let request = try session.request(samples: [[0.1, 0.2, 0.3, 0.4]], keyId: keyId)
      try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .conflict)
        #expect(GatewayRouteTests.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
    }
  }
}
