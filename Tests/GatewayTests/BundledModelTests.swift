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

/// Every bundled linear model on its held-out test split (datasets/, written by
/// scripts/train_models.py): encrypted through HTTP, decrypted, transformed on the client, and
/// compared with the plain route sample by sample and in accuracy.
@Suite("Bundled models on real data")
struct BundledModelTests {
  struct Case: CustomTestStringConvertible, Sendable {
    let modelId: String
    let dataset: String
    var testDescription: String { modelId }
  }

  static let cases = [
    Case(modelId: "breast_cancer_logistic", dataset: "breast_cancer"),
    Case(modelId: "wine_multiclass", dataset: "wine"),
  ]

  static func predictedClass(_ outputs: [Double]) -> Int {
    outputs.count == 1 ? (outputs[0] >= 0.5 ? 1 : 0) : outputs.indices.max { outputs[$0] < outputs[$1] }!
  }

  @Test("Encrypted predictions equal the plain route's, and so does the accuracy", arguments: cases)
  func encryptedAgreesWithPlain(testCase: Case) async throws {
    let (features, labels) = try Datasets.testSplit(testCase.dataset)
    try #require(!features.isEmpty, "empty test split \(testCase.dataset)")
    try await TestGateway.withGateway(plainPrivateModels: true) { client in
      let model = try await client.execute(uri: "/models/\(testCase.modelId)/1.0.0", method: .get) {
        try ContractJSON.decode(Components.Schemas.Model.self, $0.body)
      }
      let transform = model.inference.outputTransform.rawValue
      let session = try ClientSession(model: model)
      // Models with private weights need the client's public key (results are re-randomized).
      var keyId: String?
      if session.needsPublicKey {
        keyId = try await client.execute(uri: "/keys", method: .post, body: try session.keyRegistration()) {
          try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, $0.body).keyId
        }
      }
      // Probabilities move by at most half the largest score error (sigmoid: a quarter).
      let tolerance = model.encryptedLayout.resultPrivacy.scoreErrorBound.map { $0 / 2 } ?? 1e-4
      let request = try session.request(samples: features, waitMilliseconds: 10_000, keyId: keyId)
      let scores = try await client.execute(uri: "/infer", method: .post, body: request) { response in
        #expect(response.status == .ok, "\(String(buffer: response.body))")
        return try session.decrypt(jobBody: response.body, sampleCount: features.count)
      }
      var encryptedCorrect = 0
      var plainCorrect = 0
      var maximumError = 0.0
      for (index, sample) in features.enumerated() {
        let encrypted = try #require(ScoreTransform(rawValue: transform)).apply(to: scores[index])
        let plainBody = ContractJSON.body(["model_id": testCase.modelId, "version": "1.0.0", "inputs": sample])
        let plain = try await client.execute(uri: "/infer/plain", method: .post, body: plainBody) {
          try ContractJSON.decode(Components.Schemas.PlainInferResponse.self, $0.body).outputs
        }
        maximumError = max(maximumError, Precision.maximumError(plain, encrypted))
        #expect(Self.predictedClass(plain) == Self.predictedClass(encrypted))
        encryptedCorrect += Self.predictedClass(encrypted) == labels[index] ? 1 : 0
        plainCorrect += Self.predictedClass(plain) == labels[index] ? 1 : 0
      }
      #expect(maximumError < tolerance, "maximum probability error \(maximumError), tolerance \(tolerance)")
      #expect(encryptedCorrect == plainCorrect)
      // The accuracy the training script reported (docs/models.md).
      let accuracy = Double(encryptedCorrect) / Double(features.count)
      #expect(accuracy > 0.9, "accuracy \(accuracy)")
      print("\(testCase.modelId): encrypted accuracy \(accuracy) = plain, max |Δp| \(maximumError)")
    }
  }
}
