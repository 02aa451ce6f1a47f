import Foundation
import Gateway
import GatewayAPI
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import CKKS
@testable import InferencePrograms

/// Attacks on private weights through the plaintext route, the other classes' weights of a
/// multi-class result, and the server's re-randomization through a malformed public key. Each runs
/// against the protected gateway (must fail) and against a deliberately unprotected control (must
/// succeed), so that no test can pass vacuously.
@Suite("Privacy attacks: the plain route, other classes' weights, a malformed public key")
struct PrivacyAttackTests {
  static let privateModels = ["breast_cancer_logistic", "wine_multiclass", "iris_mlp", "mnist_cnn", "mnist_cnn_batch"]

  static func model(_ id: String) throws -> CompiledModel {
    try #require(TestGateway.registry.model(id: id, version: "1.0.0"))
  }

  // MARK: The plaintext route

  /// The plain route's outputs for `inputs`, or its error code.
  static func plain(_ client: any TestClientProtocol, _ id: String, _ inputs: [Double]) async throws -> Result<
    [Double], TestFailure
  > {
    let body = ContractJSON.body(["model_id": id, "version": "1.0.0", "inputs": inputs])
    return try await client.execute(uri: "/infer/plain", method: .post, body: body) { response in
      if response.status == .ok {
        return .success(try ContractJSON.decode(Components.Schemas.PlainInferResponse.self, response.body).outputs)
      }
      #expect(response.status == .forbidden, "\(id): \(String(buffer: response.body))")
      return .failure(TestFailure(ContractJSON.errorCode(response.body) ?? "no code"))
    }
  }

  /// The weights a client extracts from d + 1 plaintext queries (0 and the unit vectors): for one
  /// output the differences of the logits (sigmoid) or of the outputs (identity, divided by the
  /// published activation's slope), for several the differences of log(p_c / p_0) (softmax),
  /// which give W_c − W_0.
  static func extract(_ client: any TestClientProtocol, _ model: CompiledModel) async throws -> [[Double]]? {
    let d = model.inputDimension
    var answers: [[Double]] = []
    for query in [[Double](repeating: 0, count: d)] + (0..<d).map({ i in (0..<d).map { $0 == i ? 1.0 : 0 } }) {
      guard case .success(let outputs) = try await plain(client, model.modelId, query) else { return nil }
      answers.append(outputs)
    }
    func logit(_ p: Double) -> Double { log(p / (1 - p)) }
    let origin = answers[0]
    return (0..<d).map { i in
      let answer = answers[i + 1]
      switch model.definition.outputTransform {
      case .sigmoid: return [logit(answer[0]) - logit(origin[0])]
      case .softmax:
        return (1..<answer.count).map { c in log(answer[c] / answer[0]) - log(origin[c] / origin[0]) }
      default: return answer.indices.map { answer[$0] - origin[$0] }
      }
    }
  }

  /// What `extract` should find: the folded weights, as the same differences.
  static func expectedExtraction(_ model: CompiledModel) throws -> [[Double]] {
    let program = try #require(model.program as? CoefficientLinearProgram)
    let weights = program.foldedWeights
    let d = model.inputDimension
    return (0..<d).map { i in
      switch model.definition.outputTransform {
      case .softmax: return (1..<weights.count).map { c in weights[c][i] - weights[0][i] }
      default: return weights.indices.map { weights[$0][i] }
      }
    }
  }

  @Test("d + 1 plain queries recover a published model's weights and are refused for every private model")
  func plainRouteExtraction() async throws {
    try await TestGateway.withGateway { client in
      // Published: the extraction works (so the test below is not vacuous).
      let published = try Self.model("logistic_v1")
      let found = try #require(try await Self.extract(client, published))
      let expected = try Self.expectedExtraction(published)
      #expect(Precision.maximumError(found.flatMap { $0 }, expected.flatMap { $0 }) < 1e-9)
      // Private: the first query is already refused, with the documented code.
      for id in Self.privateModels {
        let model = try Self.model(id)
        let inputs = [Double](repeating: 0, count: model.inputDimension)
        guard case .failure(let code) = try await Self.plain(client, id, inputs) else {
          Issue.record("\(id): the plain route answered a model with private weights")
          continue
        }
        #expect(code.description == "PLAIN_INFERENCE_REFUSED", "\(id)")
        #expect(try await Self.extract(client, model) == nil, "\(id)")
      }
      // The catalogue says which models the route serves.
      let list = try await client.execute(uri: "/models", method: .get) {
        try ContractJSON.decode(Components.Schemas.ModelList.self, $0.body)
      }
      for model in list.models {
        #expect(model.plainInference == !model.encryptedLayout.resultPrivacy.weightsPrivate, "\(model.modelId)")
      }
    }
  }

  @Test("The operator's switch serves private models on the plain route, and then the extraction works")
  func plainRouteOperatorSwitch() async throws {
    try await TestGateway.withGateway(plainPrivateModels: true) { client in
      for id in ["breast_cancer_logistic", "wine_multiclass"] {
        let model = try Self.model(id)
        let found = try #require(try await Self.extract(client, model), "\(id)")
        let expected = try Self.expectedExtraction(model)
        #expect(Precision.maximumError(found.flatMap { $0 }, expected.flatMap { $0 }) < 1e-6, "\(id)")
      }
      let list = try await client.execute(uri: "/models", method: .get) {
        try ContractJSON.decode(Components.Schemas.ModelList.self, $0.body)
      }
      #expect(list.models.allSatisfy { $0.plainInference })
    }
  }

  @Test("The reference contract's plain route never serves a private model")
  func referencePlainRoute() async throws {
    try await TestGateway.withGateway { client in
      let body = ByteBuffer(string: #"{"model_id":"breast_cancer_logistic","version":"1.0.0","inputs":[0]}"#)
      try await client.execute(
        uri: "/reference/infer/plain", method: .post, headers: [.contentType: "application/json"], body: body
      ) { response in
        #expect(response.status != .ok)
        #expect(String(buffer: response.body).hasPrefix(#"{"detail":"#))
      }
    }
  }

  // MARK: Other classes' weights

  /// The client side of an in-process attack: a secret key, an honest seeded public key, and the
  /// model's program run as the gateway runs it.
  struct Attacker {
    let model: CompiledModel
    let program: CoefficientLinearProgram
    let parameters: CKKSParameters
    let secretKey: SecretKey
    let encoder: CKKSEncoder

    init(_ model: CompiledModel, program: CoefficientLinearProgram? = nil) throws {
      self.model = model
      self.program = try program ?? #require(model.program as? CoefficientLinearProgram)
      parameters = model.parameters
      secretKey = KeyGenerator.secretKey(parameters: parameters)
      encoder = CKKSEncoder(parameters: parameters)
    }

    /// Encrypts an arbitrary coefficient vector (length N) at the input scale and level.
    func encrypt(_ coefficients: [Double]) throws -> Ciphertext {
      let plaintext = try encoder.encodeCoefficients(
        coefficients, scale: model.definition.encryption.inputScale, level: program.inputLevel)
      return try Encryptor(secretKey: secretKey).encrypt(plaintext)
    }

    /// Runs the program and returns the decoded coefficients of every result.
    func run(_ input: Ciphertext, publicKey: PublicKey?, sampleCount: Int = 1) throws -> [[Double]] {
      let results = try program.evaluate(
        [input], sampleCount: sampleCount, keys: EvaluationKeys(publicKey: publicKey),
        evaluator: Evaluator(parameters: parameters))
      return try results.map { encoder.decodeCoefficients(try Decryptor(secretKey: secretKey).decrypt($0)) }
    }

    /// Score c of sample 0 as the layout reads it.
    func score(_ results: [[Double]], _ c: Int) -> Double {
      program.linearLayout.scores(fromResults: results, count: 1)[0][c]
    }
  }

  /// Sample 0's padding coefficients (the block's positions d … (k+1)·d − 1), which an honest
  /// client leaves at zero, filled with values in [−0.1, 0.1], and 4 at position d + `spike`
  /// (which a single product adds to score 1 as 4·w_{0,spike}).
  static func paddedQuery(_ layout: CoefficientLinearLayout, spike: Int, seed: UInt64) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    var coefficients = [Double](repeating: 0, count: layout.degree)
    for j in layout.inputDimension..<layout.sampleStride {
      coefficients[j] = Double.random(in: -0.1...0.1, using: &generator)
    }
    coefficients[layout.inputDimension + spike] = 4
    return coefficients
  }

  @Test("Filling a sample's padding moves another class's score in a single product, and no protected score")
  func otherClassesWeights() throws {
    let wine = try Self.model("wine_multiclass")
    let protected = try Attacker(wine)
    let layout = protected.program.linearLayout
    #expect(layout.resultPerClass && layout.resultsPerGroup == 3)
    let seed = TestSeed.value("otherClassesWeights")
    let weights = protected.program.foldedWeights
    let spike = try #require(weights[0].indices.max { abs(weights[0][$0]) < abs(weights[0][$1]) })
    let padded = Self.paddedQuery(layout, spike: spike, seed: seed)
    let zero = [Double](repeating: 0, count: layout.degree)
    let publicKey = KeyGenerator.publicKey(secretKey: protected.secretKey)
    let baseline = try protected.run(try protected.encrypt(zero), publicKey: publicKey)
    let attacked = try protected.run(try protected.encrypt(padded), publicKey: publicKey)
    let bound = try #require(protected.program.privacy?.scoreErrorBound)
    // What a score of class c would gain in one product of every class's weights: the other
    // classes' weights times the padding values that reach score c's coefficient.
    let d = layout.inputDimension
    func crossTerm(_ c: Int) -> Double {
      weights.indices.filter { $0 != c }.reduce(0) { sum, other in
        (0..<d).reduce(sum) { sum, i in
          let position = i + (c - other) * d
          return position >= 0 ? sum + weights[other][i] * padded[position] : sum
        }
      }
    }
    for c in 0..<3 {
      // Protected: both queries answer the same score (the bias), within the flooding.
      #expect(
        abs(protected.score(attacked, c) - protected.score(baseline, c)) <= 2 * bound, "class \(c), seed \(seed)")
    }
    #expect(abs(crossTerm(1)) > 100 * bound, "seed \(seed)")
    // The control: the same model with unprotected results (one product of all classes).
    var definition = wine.definition
    definition.resultProtection = ModelDefinition.ResultProtection.none
    // Without flooding, the scores' precision budget leaves no low bits to drop.
    definition.encryption.resultDroppedBits = 0
    let unprotected = try ModelRegistry(definitions: [("control", definition)]).models[0]
    let control = try Attacker(unprotected)
    #expect(control.program.linearLayout.resultsPerGroup == 1)
    let controlBaseline = try control.run(try control.encrypt(zero), publicKey: nil)
    let controlAttacked = try control.run(try control.encrypt(padded), publicKey: nil)
    for c in 1..<3 {
      // Score c moves by exactly the other classes' weights times the padding: the leak.
      let moved = control.score(controlAttacked, c) - control.score(controlBaseline, c)
      #expect(abs(moved - crossTerm(c)) < 1e-4, "class \(c): moved \(moved), cross term \(crossTerm(c))")
    }
  }

  @Test("The flooding covers every revealed score of a group, computed again from each model file")
  func floodingBoundFromModelFiles() throws {
    for id in ["breast_cancer_logistic", "wine_multiclass"] {
      let file = try Repository.text("Sources/Gateway/Models/\(id)-1.0.0.json")
      let object = try #require(try JSONSerialization.jsonObject(with: Data(file.utf8)) as? [String: Any])
      let weights = try #require(object["weights"] as? [[Double]])
      let encryption = try #require(object["encryption"] as? [String: Any])
      let n = try #require(encryption["poly_modulus_degree"] as? Int)
      let weightScale = try #require(encryption["weight_scale"] as? Double)
      // An affine activation folds its slope into the weights.
      let slope =
        ((object["activation"] as? [String: Any])?["coefficients"] as? [Double]).map { $0.count > 1 ? $0[1] : 0 }
        ?? 1
      let k = weights.count
      let d = weights[0].count
      let samples = n / ((k + 1) * d)
      let inputNoise = 19.0 * Double(1 + 2 * n)
      let rows = weights.map { row in row.reduce(0.0) { $0 + abs(($1 * slope * weightScale).rounded()) } * inputNoise }
      let program = try #require(try Self.model(id).program as? CoefficientLinearProgram)
      let f = try #require(program.privacy?.floodingBits)
      // One result per class: a revealed score of class c meets row c; every score of every
      // sample is revealed once per group.
      let distance = Double(samples) * rows.reduce(0, +) / Double(sign: .plus, exponent: f + 1, significand: 1)
      #expect(log2(distance) <= -40, "\(id): statistical distance 2^\(log2(distance)) with f = \(f)")
      // The flooding is not larger than it needs to be (one bit of slack at most).
      #expect(log2(distance) > -42, "\(id): 2^\(log2(distance))")
      if k > 1 {
        // In one product of every row, each score would meet all rows: the distance the same f
        // gives then is k times larger, above 2^−40.
        let singleProduct =
          Double(samples * k) * rows.reduce(0, +) / Double(sign: .plus, exponent: f + 1, significand: 1)
        #expect(log2(singleProduct) > -40, "\(id)")
      }
    }
  }

  // MARK: A malformed public key

  /// `pk0 = −pk1·s + e + E` with `E = step · Σ_{j<J} radix^j X^j` over Q ∪ P: the client decrypts
  /// `E·u` at every revealed coefficient, the digits of the server's fresh u in base `radix`.
  static func maliciousKey(_ honest: PublicKey, step: Double, radix: Int64, digits: Int) -> PublicKey {
    let basis = honest.parameters.keyBasis
    var e = RNSPolynomial<Coefficient>(zeroIn: basis)
    e.forEachLimb { _, q, row in
      for j in 0..<digits {
        // step · radix^j mod q, through exact integer arithmetic on the double's value.
        var value = UInt64(step.significandBitPattern | (1 << 52)) % q.value
        for _ in 0..<(Int(step.exponent) - 52) { value = q.add(value, value) }
        for _ in 0..<j { value = q.multiply(value, q.reduce(UInt64(radix))) }
        row[j] = value
      }
    }
    var b = honest.b
    b.add(e.forwardNTT())
    return PublicKey(parameters: honest.parameters, b: b, a: honest.a, seed: honest.seed)
  }

  /// The digits, in balanced base `radix`, that the attacker reads from revealed value `value`
  /// (in score units) after subtracting the honest score `reference`.
  static func digits(_ value: Double, reference: Double, step: Double, radix: Int64, count: Int) -> [Int64] {
    var n = Int64(((value - reference) / step).rounded())
    var result: [Int64] = []
    for _ in 0..<count {
      var digit = n % radix
      if digit > radix / 2 { digit -= radix } else if digit < -radix / 2 { digit += radix }
      result.append(digit)
      n = (n - digit) / radix
    }
    return result
  }

  @Test("A malformed public key reads J ternary digits of u per revealed score only without the wide u")
  func malformedPublicKey() throws {
    let model = try Self.model("breast_cancer_logistic")
    let attacker = try Attacker(model)
    let program = attacker.program
    let privacy = try #require(program.privacy)
    let layout = program.linearLayout
    let basis = attacker.parameters.basis(atLevel: program.inputLevel)
    let productScale = model.definition.encryption.inputScale * (model.definition.encryption.weightScale ?? 0)
    // Digit step 2^(f+2): the flooding (below 2^f) and the honest noise round away.
    let step = Double(sign: .plus, exponent: privacy.floodingBits + 2, significand: 1) / productScale
    let honestKey = KeyGenerator.publicKey(secretKey: attacker.secretKey)
    let zero = [Double](repeating: 0, count: layout.degree)
    let samples = layout.samplesPerCiphertext
    // The attacker first learns the honest scores (the bias) with its honest key.
    let honest = try attacker.run(try attacker.encrypt(zero), publicKey: honestKey, sampleCount: samples)
    let reference = layout.scores(fromResults: honest, count: samples).map { $0[0] }
    let seed = TestSeed.value("malformedPublicKey")
    let seedBytes = (0..<32).map { UInt8(truncatingIfNeeded: seed >> (8 * UInt64($0 % 8))) ^ UInt8($0) }

    // The control, without the wide u: the result re-randomized with a ternary u (a public-key
    // encryption of zero), no masking or flooding. Base 3, 11 digits per revealed score.
    let ternaryKey = Self.maliciousKey(honestKey, step: step * productScale, radix: 3, digits: 11)
    var product = try Evaluator(parameters: attacker.parameters).multiply(
      try attacker.encrypt(zero), program.weightPlaintexts[0])
    product = try Evaluator(parameters: attacker.parameters).add(product, program.biasPlaintexts[0])
    let generator = try SecureRandomGenerator(seed: seedBytes, domain: SecureRandomGenerator.defaultDomain)
    let zeroPlaintext = Plaintext(polynomial: RNSPolynomial<Evaluation>(zeroIn: basis), scale: product.scale)
    let control = try Evaluator(parameters: attacker.parameters).add(
      product, try Encryptor(publicKey: ternaryKey).encrypt(zeroPlaintext, using: generator))
    let controlValues = attacker.encoder.decodeCoefficients(
      try Decryptor(secretKey: attacker.secretKey).decrypt(control))
    // Replaying the generator gives the u the encryption drew first.
    let ternaryU = Self.centered(
      Sampler.ternary(
        in: basis, using: try SecureRandomGenerator(seed: seedBytes, domain: SecureRandomGenerator.defaultDomain)),
      modulus: basis.moduli[0].value)
    var controlRead = 0
    for b in 0..<samples {
      let position = layout.scoreIndex(sample: b, score: 0)
      let read = Self.digits(controlValues[position], reference: reference[b], step: step, radix: 3, count: 11)
      controlRead += (0..<11).count { j in read[j] == ternaryU[position - j] }
    }
    #expect(controlRead == samples * 11, "the attack must read u without the wide u (seed \(seed))")

    // The gateway's sanitization with the same key: the ternary reading finds chance agreement,
    // and the best reading for the wide u (base 2^16 + 1) at most ⌊(log2 Q − f − 1)/16⌋ values.
    let wideBase = 2 * Evaluator.rerandomizationSecretBound + 1
    for (radix, count) in [(Int64(3), 11), (wideBase, 1)] {
      let key = Self.maliciousKey(honestKey, step: step * productScale, radix: radix, digits: count)
      let generator = try SecureRandomGenerator(seed: seedBytes, domain: SecureRandomGenerator.defaultDomain)
      let sanitized = try Evaluator(parameters: attacker.parameters).sanitized(
        product, revealing: (0..<samples).map { layout.scoreIndex(sample: $0, score: 0) },
        floodingBits: privacy.floodingBits, publicKey: key, using: generator)
      let values = attacker.encoder.decodeCoefficients(try Decryptor(secretKey: attacker.secretKey).decrypt(sanitized))
      let u = Self.centered(
        Sampler.centeredUniform(
          in: basis, bound: Evaluator.rerandomizationSecretBound,
          using: try SecureRandomGenerator(seed: seedBytes, domain: SecureRandomGenerator.defaultDomain)),
        modulus: basis.moduli[0].value)
      var read = 0
      for b in 0..<samples {
        let position = layout.scoreIndex(sample: b, score: 0)
        let digits = Self.digits(values[position], reference: reference[b], step: step, radix: radix, count: count)
        read += (0..<count).count { j in digits[j] == u[position - j] }
      }
      if radix == 3 {
        // u's coefficients are in {−1, 0, 1} with probability 3/(2^16 + 1): nearly no digit matches.
        #expect(read <= samples * count / 100, "ternary reading matched \(read) of \(samples * count)")
      } else {
        // The bound is reached, not exceeded: the best reading takes exactly one wide value (16
        // bits) per revealed score, within the documented bits per result; the other N − S
        // coefficients of u stay unknown.
        #expect(read == samples, "wide reading matched \(read) of \(samples)")
        #expect(Double(read) * log2(Double(wideBase)) <= privacy.keyLeakBitsPerResult)
      }
    }
    // The documented bound: a result tells at most a small fraction of u's entropy.
    #expect(privacy.keyLeakBitsPerResult / privacy.rerandomizationEntropyBits < 0.05)
    #expect(privacy.revealedPerResult == samples)
  }

  /// The coefficients of `polynomial`'s first limb as signed integers.
  static func centered(_ polynomial: RNSPolynomial<Coefficient>, modulus q: UInt64) -> [Int64] {
    polynomial.residues.prefix(polynomial.degree).map { $0 > q / 2 ? -Int64(q - $0) : Int64($0) }
  }
}
