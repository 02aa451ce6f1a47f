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

/// Evaluation-key registration and the neural-network model that needs it.
@Suite("Evaluation keys and iris_mlp")
struct EvaluationKeyTests {
  @Test("Register keys, run the iris network encrypted on its test split, agree with the plain route")
  func irisRoundTrip() async throws {
    let (features, labels) = try Datasets.testSplit("iris")
    let session = try await TestGateway.withGateway { client in try await ClientSession.fetch("iris_mlp", from: client)
    }
    #expect(session.needsRelinearization)
    #expect(session.galoisElements.count == 4)
    let registration = try session.keyRegistration()
    let plainBodies = features.map {
      ContractJSON.body(["model_id": "iris_mlp", "version": "1.0.0", "inputs": $0])
    }
    let (jobData, plainData, keyData) = try await TestGateway.withGateway(plainPrivateModels: true) { client in
      // Without keys: 409 MISSING_EVALUATION_KEYS.
      let unregistered = try session.request(
        samples: features, waitMilliseconds: 10_000, keyId: "00000000000000000000000000000000")
      try await client.execute(uri: "/infer", method: .post, body: unregistered) { response in
        #expect(response.status == .conflict)
        #expect(ContractJSON.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
      let keyData = try await client.execute(uri: "/keys", method: .post, body: registration) { response in
        #expect(response.status == .created)
        return Data(buffer: response.body)
      }
      let keyId = try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, keyData).keyId
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
        #expect(ContractJSON.errorCode(response.body) == "KEY_NOT_FOUND")
      }
      return (jobData, plain, keyData)
    }
    let keySet = try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, keyData)
    #expect(keySet.galoisElements.sorted() == session.galoisElements.sorted())
    let scores = try session.decrypt(
      job: try ContractJSON.decode(Components.Schemas.Job.self, jobData), sampleCount: features.count)
    var maximumError = 0.0
    var correct = 0
    for (index, data) in plainData.enumerated() {
      let plain = try ContractJSON.decode(Components.Schemas.PlainInferResponse.self, data).outputs
      let encrypted = ScoreTransform.softmax.apply(to: scores[index])
      maximumError = max(maximumError, Precision.maximumError(plain, encrypted))
      #expect(BundledModelTests.predictedClass(plain) == BundledModelTests.predictedClass(encrypted))
      correct += BundledModelTests.predictedClass(encrypted) == labels[index] ? 1 : 0
    }
    #expect(maximumError < 1e-4, "maximum probability error \(maximumError)")
    print("iris_mlp: encrypted accuracy \(Double(correct) / Double(features.count)), max |Δp| \(maximumError)")
  }

  @Test("Registration errors: incomplete keys, keys the model does not use, foreign parameters, other tenants, quota")
  func registrationErrors() async throws {
    let session = try await TestGateway.withGateway { client in try await ClientSession.fetch("iris_mlp", from: client)
    }
    let incomplete = try session.keyRegistration(galoisElements: Array(session.galoisElements.prefix(1)))
    // Every element the model needs plus one it does not (a rotation by 7 slots).
    let extra = GaloisElement.rotation(by: 7, degree: session.parameters.degree).value
    #expect(!session.galoisElements.contains(extra))
    let excessive = try session.keyRegistration(galoisElements: session.galoisElements + [extra])
    let complete = try session.keyRegistration()
    let linearModel = ContractJSON.body(["model_id": "nobody", "version": "1.0.0"])
    try await TestGateway.withGateway(keys: EvaluationKeyStore(maximumSetsPerTenant: 1)) { client in
      try await client.execute(uri: "/keys", method: .post, body: incomplete) { response in
        #expect(response.status == .unprocessableContent)
        #expect(ContractJSON.errorCode(response.body) == "INVALID_EVALUATION_KEYS")
      }
      try await client.execute(uri: "/keys", method: .post, body: excessive) { response in
        #expect(response.status == .unprocessableContent)
        #expect(ContractJSON.errorCode(response.body) == "INVALID_EVALUATION_KEYS")
      }
      try await client.execute(uri: "/keys", method: .post, body: linearModel) { response in
        #expect(response.status == .notFound)
        #expect(ContractJSON.errorCode(response.body) == "UNKNOWN_MODEL")
      }
      try await client.execute(uri: "/keys", method: .post, body: complete) { #expect($0.status == .created) }
      try await client.execute(uri: "/keys", method: .post, body: complete) { response in
        #expect(response.status == .conflict)
        #expect(ContractJSON.errorCode(response.body) == "KEY_QUOTA_EXCEEDED")
      }
    }
    // Keys made for other parameters: the logistic session's ring has no key switching, so use
    // iris keys against a model of other parameters by renaming the target.
    var foreign = ContractJSON.object(complete)
    foreign["model_id"] = "breast_cancer_logistic"
    let foreignBody = ByteBuffer(data: try JSONSerialization.data(withJSONObject: foreign))
    try await TestGateway.withGateway { client in
      try await client.execute(uri: "/keys", method: .post, body: foreignBody) { response in
        #expect(response.status == .unprocessableContent)
        #expect(ContractJSON.errorCode(response.body) == "CRYPTO_POLICY_VIOLATION")
      }
    }
  }

  @Test("Key sets expire: after their time to live they are gone and inference asks for new ones")
  func expiry() async throws {
    let session = try await TestGateway.withGateway { client in try await ClientSession.fetch("iris_mlp", from: client)
    }
    let registration = try session.keyRegistration()
    let store = EvaluationKeyStore(timeToLive: .seconds(60))
    try await TestGateway.withGateway(keys: store) { client in
      let keyData = try await client.execute(uri: "/keys", method: .post, body: registration) { Data(buffer: $0.body) }
      let keyId = try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, keyData).keyId
      #expect(store.removeExpired(now: Date()) == 0)
      #expect(store.removeExpired(now: Date().addingTimeInterval(61)) == 1)
      try await client.execute(uri: "/keys/\(keyId)", method: .get) { #expect($0.status == .notFound) }
      let request = try session.request(samples: [[0.1, 0.2, 0.3, 0.4]], keyId: keyId)
      try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .conflict)
        #expect(ContractJSON.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
    }
  }
}
