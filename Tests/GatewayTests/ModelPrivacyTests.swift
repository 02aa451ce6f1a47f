import CKKS
import Foundation
import Gateway
import GatewayAPI
import HummingbirdTesting
import InferencePrograms
import NIOCore
import TestSupport
import Testing

/// A client playing the attacker against the weights of a model. Every attack runs against
/// `breast_cancer_logistic` (private weights) and must fail, and against `logistic_v1` (published
/// weights, no result protection) where it must succeed, so the tests cannot pass vacuously.
@Suite("Model privacy: a result reveals the requested scores and nothing else")
struct ModelPrivacyTests {
  static let privateModel = "breast_cancer_logistic"
  static let publishedModel = "logistic_v1"

  /// The model's true (folded) weights and biases, from the server's registry.
  static func truth(_ id: String) throws -> (program: CoefficientLinearProgram, definition: ModelDefinition) {
    let model = try #require(TestGateway.registry.model(id: id, version: "1.0.0"))
    guard let program = model.program as? CoefficientLinearProgram else { throw TestFailure("not linear") }
    return (program, model.definition)
  }

  /// A client session for `id`, with its keys registered when the model needs any.
  static func connect(_ client: any TestClientProtocol, _ id: String) async throws -> (ClientSession, String?) {
    let session = try await ClientSession.fetch(id, from: client)
    guard session.needsPublicKey else { return (session, nil) }
    let keyId = try await client.execute(uri: "/keys", method: .post, body: try session.keyRegistration()) {
      response in
      #expect(response.status == .created)
      return try ContractJSON.decode(Components.Schemas.EvaluationKeySet.self, response.body).keyId
    }
    return (session, keyId)
  }

  /// Runs one request and returns its result ciphertexts.
  static func run(
    _ client: any TestClientProtocol, _ session: ClientSession, keyId: String?, payloads: [String], batchSize: Int
  ) async throws -> [Ciphertext] {
    let body = try session.request(payloads: payloads, batchSize: batchSize, keyId: keyId)
    let job = try await client.execute(uri: "/infer", method: .post, body: body) { response in
      #expect(response.status == .ok)
      return try ContractJSON.decode(Components.Schemas.Job.self, response.body)
    }
    #expect(job.status == .completed)
    return try session.results(job: job)
  }

  /// Every coefficient of a decrypted result, in score units.
  static func coefficients(_ session: ClientSession, _ result: Ciphertext) throws -> [Double] {
    let plaintext = try Decryptor(secretKey: session.secretKey).decrypt(result)
    return CKKSEncoder(parameters: session.parameters).decodeCoefficients(plaintext)
  }

  /// An input ciphertext whose samples are `samples` (the rest zero).
  /// The attacker's reading of weights 1…d−1 of score 0 from a unit-vector query x = e_0: the
  /// product x·W(X) is W(X) itself, so coefficient d − 1 − i holds w_i.
  static func weightsRead(from coefficients: [Double], dimension d: Int) -> [Double] {
    (1..<d).map { coefficients[d - 1 - $0] }
  }

  /// How many of `guesses` lie within `tolerance` of `truth`.
  static func recovered(_ guesses: [Double], _ truth: [Double], tolerance: Double) -> Int {
    zip(guesses, truth).count { abs($0 - $1) <= tolerance }
  }

  @Test("The catalogue says whose weights are private and whose results are protected")
  func catalogue() async throws {
    let expected: [String: (Bool, Bool)] = [
      "logistic_v1": (false, false), "breast_cancer_logistic": (true, true), "wine_multiclass": (true, true),
      "iris_mlp": (true, false), "mnist_cnn": (true, false), "mnist_cnn_batch": (true, false),
    ]
    try await TestGateway.withGateway { client in
      let list = try await client.execute(uri: "/models", method: .get) {
        ContractJSON.object($0.body)
      }
      let models = try #require(list["models"] as? [[String: Any]])
      #expect(models.count == expected.count)
      for model in models {
        let id = try #require(model["model_id"] as? String)
        let layout = try #require(model["encrypted_layout"] as? [String: Any])
        let privacy = try #require(layout["result_privacy"] as? [String: Any])
        let keys = try #require(layout["required_evaluation_keys"] as? [String: Any])
        let (weightsPrivate, protected) = try #require(expected[id])
        #expect(privacy["weights_private"] as? Bool == weightsPrivate, "\(id)")
        #expect(privacy["results_protected"] as? Bool == protected, "\(id)")
        #expect(keys["public_key"] as? Bool == protected, "\(id)")
        #expect((privacy["score_error_bound"] as? Double).map { $0 > 0 && $0 < 2e-3 } ?? !protected, "\(id)")
        #expect((model["parameters"] != nil) == !weightsPrivate, "\(id): weights published")
      }
    }
  }

  @Test("A unit-vector query reads every weight of a published model and none of a private one")
  func unitVectorQuery() async throws {
    try await TestGateway.withGateway { client in
      for (id, isPrivate) in [(Self.privateModel, true), (Self.publishedModel, false)] {
        let (truth, definition) = try Self.truth(id)
        let d = truth.linearLayout.inputDimension
        let (session, keyId) = try await Self.connect(client, id)
        let unit = [1.0] + [Double](repeating: 0, count: d - 1)
        // batch_size 1, but the client also fills sample 1: its score is not requested.
        let results = try await Self.run(
          client, session, keyId: keyId, payloads: [try session.payload(samples: [unit, unit])], batchSize: 1)
        let coefficients = try Self.coefficients(session, try #require(results.first))
        let read = Self.weightsRead(from: coefficients, dimension: d)
        let weights = Array(truth.foldedWeights[0].dropFirst())
        let found = Self.recovered(read, weights, tolerance: 1e-3)
        // The requested score is always there: w_0 + b.
        let score = coefficients[truth.linearLayout.scoreIndex(sample: 0, score: 0)]
        let expected = truth.foldedWeights[0][0] + truth.foldedBias[0]
        let unrequested = coefficients[truth.linearLayout.scoreIndex(sample: 1, score: 0)]
        if isPrivate {
          let bound = try #require(truth.privacy?.scoreErrorBound)
          #expect(found <= 2, "\(id): \(found) of \(d - 1) weights read from one query")
          #expect(abs(score - expected) <= bound)
          #expect(abs(unrequested - expected) > bound, "the unrequested score of sample 1 must be masked")
        } else {
          #expect(found == d - 1, "\(id): the attack must work on published weights (\(found) of \(d - 1))")
          #expect(abs(unrequested - expected) < 1e-4)
        }
        #expect(definition.publishParameters == (isPrivate ? nil : true))
      }
    }
  }

  @Test("Solving c1 = a·W for W: the attacker picks a = 1 and reads c1 of the result")
  func solveForWeights() async throws {
    try await TestGateway.withGateway { client in
      for (id, isPrivate) in [(Self.privateModel, true), (Self.publishedModel, false)] {
        let (truth, definition) = try Self.truth(id)
        let d = truth.linearLayout.inputDimension
        let (session, keyId) = try await Self.connect(client, id)
        let parameters = session.parameters
        // c0 = 0 and c1 = 1 (all ones in evaluation form): a valid ciphertext with a chosen a.
        let basis = parameters.basis(atLevel: session.inputLevel)
        let ones = RNSPolynomial<Evaluation>(
          basis: basis, residues: [UInt64](repeating: 1, count: basis.degree * basis.count))
        let chosen = Ciphertext(polynomials: [RNSPolynomial(zeroIn: basis), ones], scale: session.inputScale)
        let results = try await Self.run(
          client, session, keyId: keyId, payloads: [session.payload(chosen)], batchSize: 1)
        let result = try #require(results.first)
        // c1 of the result, centered, undoing the rescale: W(X) at the weight scale.
        let c1 = result.polynomials[1].inverseNTT()
        let q0 = parameters.ciphertextModuli[0]
        let rescaled = parameters.ciphertextModuli.dropFirst().reduce(1.0) { $0 * Double($1) }
        let weightScale = try #require(definition.encryption.weightScale)
        let centered = c1.residues.prefix(parameters.degree).map { value in
          (value > q0 / 2 ? -Double(q0 - value) : Double(value)) * rescaled / weightScale
        }
        let read = Self.weightsRead(from: centered, dimension: d)
        let found = Self.recovered(read, Array(truth.foldedWeights[0].dropFirst()), tolerance: 1e-3)
        if isPrivate {
          #expect(found <= 2, "\(id): \(found) of \(d - 1) weights solved from c1")
        } else {
          #expect(found == d - 1, "\(id): solving c1 must work on published weights (\(found) of \(d - 1))")
        }
      }
    }
  }

  @Test("Averaging many unit-vector queries converges to the scores, never to the weights")
  func averaging() async throws {
    try await TestGateway.withGateway { client in
      for (id, isPrivate) in [(Self.privateModel, true), (Self.publishedModel, false)] {
        let (truth, _) = try Self.truth(id)
        let d = truth.linearLayout.inputDimension
        let perCiphertext = truth.linearLayout.samplesPerCiphertext
        let (session, keyId) = try await Self.connect(client, id)
        let unit = [1.0] + [Double](repeating: 0, count: d - 1)
        // 16 ciphertexts in one request, each with the unit vector in its first sample.
        let queries = 16
        let payloads = try (0..<queries).map { _ in try session.payload(samples: [unit]) }
        let results = try await Self.run(
          client, session, keyId: keyId, payloads: payloads, batchSize: (queries - 1) * perCiphertext + 1)
        var sums = [Double](repeating: 0, count: d - 1)
        var scores: [Double] = []
        for result in results {
          let coefficients = try Self.coefficients(session, result)
          for (i, value) in Self.weightsRead(from: coefficients, dimension: d).enumerated() { sums[i] += value }
          scores.append(coefficients[truth.linearLayout.scoreIndex(sample: 0, score: 0)])
        }
        let averages = sums.map { $0 / Double(queries) }
        let found = Self.recovered(averages, Array(truth.foldedWeights[0].dropFirst()), tolerance: 1e-3)
        let expected = truth.foldedWeights[0][0] + truth.foldedBias[0]
        let averageScore = scores.reduce(0, +) / Double(queries)
        if isPrivate {
          #expect(found <= 2, "\(id): \(found) of \(d - 1) weights from \(queries) averaged queries")
          let bound = try #require(truth.privacy?.scoreErrorBound)
          #expect(abs(averageScore - expected) <= bound)
          // The flooding is there: the scores of identical queries differ.
          #expect(Set(scores).count == queries)
        } else {
          #expect(found == d - 1)
          #expect(abs(averageScore - expected) < 1e-4)
        }
      }
    }
  }

  @Test("Private scores stay within the published noise bound, and the flooding noise is really added")
  func floodedScores() async throws {
    try await TestGateway.withGateway { client in
      let (truth, _) = try Self.truth(Self.privateModel)
      let d = truth.linearLayout.inputDimension
      let (session, keyId) = try await Self.connect(client, Self.privateModel)
      var generator = TestSeed.generator("ModelPrivacyTests.floodedScores")
      let samples = (0..<200).map { _ in (0..<d).map { _ in Double.random(in: -3...3, using: &generator) } }
      let body = try session.request(samples: samples, waitMilliseconds: 10_000, keyId: keyId)
      let scores = try await client.execute(uri: "/infer", method: .post, body: body) {
        try session.decrypt(jobBody: $0.body, sampleCount: samples.count)
      }
      let model = try #require(TestGateway.registry.model(id: Self.privateModel, version: "1.0.0"))
      let errors = zip(samples, scores).map { sample, score in score[0] - model.plainScores(sample)[0] }
      let bound = try #require(truth.privacy?.scoreErrorBound)
      let flooding = try #require(truth.privacy?.floodingScoreBound)
      #expect(errors.allSatisfy { abs($0) <= bound }, "largest error \(errors.map(abs).max()!), bound \(bound)")
      // Uniform noise in ±flooding has standard deviation flooding/√3; without flooding the errors
      // would be about 10^-7.
      let deviation = (errors.reduce(0) { $0 + $1 * $1 } / Double(errors.count)).squareRoot()
      #expect(deviation > flooding / 4 && deviation < flooding, "standard deviation \(deviation)")
    }
  }

  @Test("A private model needs the client's seeded public key, and only models that use one accept it")
  func publicKeyRegistration() async throws {
    try await TestGateway.withGateway { client in
      let (privateSession, _) = try await Self.connect(client, Self.privateModel)
      let parameters = privateSession.parameters
      func registration(_ model: String, publicKey: [UInt8]?) throws -> ByteBuffer {
        var object: [String: Any] = ["api_version": ContractInfo.version, "model_id": model, "version": "1.0.0"]
        if let publicKey {
          object["public_key"] = [
            "encoding": "base64", "format": "heinfer-ckks-v1", "payload": Data(publicKey).base64EncodedString(),
          ]
        }
        return ByteBuffer(data: try JSONSerialization.data(withJSONObject: object))
      }
      let seeded = KeyGenerator.publicKey(secretKey: privateSession.secretKey)
      // The same key in the full form (flags 0, then b and a; docs/serialization.md): its uniform
      // part sent explicitly, so the client could have chosen it.
      let seededBytes = seeded.serialized()
      let headerSize = 40
      var header = Array(seededBytes.prefix(headerSize))
      header[6] = 0
      let b = seededBytes.dropFirst(headerSize + 32)
      let a = Ciphertext(polynomials: [seeded.a, seeded.a], scale: 2).serialized(parameters: parameters).suffix(b.count)
      let unseeded = header + b + a
      #expect(try PublicKey(deserializing: unseeded, parameters: parameters) == seeded)
      #expect(try PublicKey(deserializing: unseeded, parameters: parameters).seed == nil)
      let cases: [(String, [UInt8]?, String)] = [
        (Self.privateModel, nil, "needs public_key"),
        (Self.privateModel, unseeded, "seeded form"),
        (Self.privateModel, Array(seeded.serialized().dropLast(3)), "public_key is not valid"),
        (Self.publishedModel, seeded.serialized(), "other encryption parameters"),
      ]
      for (model, key, message) in cases {
        try await client.execute(uri: "/keys", method: .post, body: try registration(model, publicKey: key)) {
          response in
          let error = try #require(
            ContractJSON.object(response.body)["error"] as? [String: Any])
          #expect(response.status.code == 422 || response.status.code == 409, "\(model) \(message)")
          #expect((error["message"] as? String)?.contains(message) == true, "\(error)")
        }
      }
      // Inference without a key set: 409 MISSING_EVALUATION_KEYS.
      let body = try privateSession.request(samples: [[Double](repeating: 0, count: 30)], keyId: nil)
      try await client.execute(uri: "/infer", method: .post, body: body) { response in
        #expect(response.status == .conflict)
        #expect(ContractJSON.errorCode(response.body) == "MISSING_EVALUATION_KEYS")
      }
    }
  }
}
