import CKKS
import TestSupport
import Testing

@Suite("Result privacy: masking, flooding and re-randomization")
struct ResultPrivacyTests {
  static let scale = 0x1p40

  struct Setup {
    let parameters: CKKSParameters
    let secretKey: SecretKey
    let publicKey: PublicKey
    let evaluator: Evaluator
    let encoder: CKKSEncoder

    init() throws {
      parameters = try CKKSParameters(
        ParameterDescription(
          degree: 4096, ciphertextPrimeBits: [53, 53], specialPrimeBits: [], defaultScale: ResultPrivacyTests.scale))
      secretKey = KeyGenerator.secretKey(parameters: parameters)
      publicKey = KeyGenerator.publicKey(secretKey: secretKey)
      evaluator = Evaluator(parameters: parameters)
      encoder = CKKSEncoder(parameters: parameters)
    }

    func encrypt(_ values: [Double]) throws -> Ciphertext {
      try Encryptor(secretKey: secretKey).encrypt(encoder.encodeCoefficients(values))
    }

    /// Decrypted coefficients times the scale: integers.
    func decrypt(_ ciphertext: Ciphertext) throws -> [Double] {
      encoder.decodeCoefficients(try Decryptor(secretKey: secretKey).decrypt(ciphertext)).map { $0 * scale }
    }
  }

  @Test("Revealed coefficients keep their value up to the flooding; every other one is uniform")
  func maskAndReveal() throws {
    let setup = try Setup()
    let n = setup.parameters.degree
    var generator = TestSeed.generator("ResultPrivacyTests.maskAndReveal")
    let message = (0..<n).map { _ in Double.random(in: -1...1, using: &generator) }
    let revealed = [0, 5, 100, n - 1]
    let floodingBits = 30
    let original = try setup.encrypt(message)
    let sanitized = try setup.evaluator.sanitized(
      original, revealing: revealed, floodingBits: floodingBits, publicKey: setup.publicKey)
    #expect(sanitized.scale == original.scale && sanitized.level == original.level)
    let decrypted = try setup.decrypt(sanitized)
    // Flooding ≤ 2^30; fresh and re-randomization noise ≤ 19·(1 + 2N) < 2^18.
    for j in revealed {
      #expect(abs(decrypted[j] - message[j] * Self.scale) <= 0x1p30 + 0x1p18, "coefficient \(j)")
    }
    // Uniform modulo Q ≈ 2^106 (centered, |v| < 2^105): below 2^100 with probability 2^-5.
    let hidden = (0..<n).filter { !revealed.contains($0) }
    let small = hidden.count { abs(decrypted[$0]) < 0x1p100 }
    #expect(Double(small) < 0.06 * Double(hidden.count), "\(small) of \(hidden.count) masked coefficients are small")
    // c1 is re-randomized: neither the input's nor the same twice.
    let again = try setup.evaluator.sanitized(
      original, revealing: revealed, floodingBits: floodingBits, publicKey: setup.publicKey)
    #expect(sanitized.polynomials[1] != original.polynomials[1])
    #expect(sanitized.polynomials[1] != again.polynomials[1])
  }

  @Test("Flooding noise is uniform in [−2^f, 2^f), also above 64 bits")
  func floodingDistribution() throws {
    let setup = try Setup()
    let n = setup.parameters.degree
    let zero = try setup.encrypt([Double](repeating: 0, count: n))
    // Beside the flooding: the re-randomization's noise e0 + e1·s + e_pk·u with the wide u.
    let rerandomization = 19 * Double(1 + n + n * Int(Evaluator.rerandomizationSecretBound))
    for floodingBits in [40, 85] {
      let bound = Double(sign: .plus, exponent: floodingBits, significand: 1)
      let noise = try setup.decrypt(
        setup.evaluator.sanitized(
          zero, revealing: Array(0..<n), floodingBits: floodingBits, publicKey: setup.publicKey))
      #expect(noise.allSatisfy { abs($0) <= bound + rerandomization })
      let mean = noise.reduce(0, +) / Double(n)
      let deviation = (noise.reduce(0) { $0 + $1 * $1 } / Double(n)).squareRoot()
      // Uniform on [−B, B): mean 0 (standard error B/√(3N) ≈ B/111), deviation B/√3.
      #expect(abs(mean) < bound / 20, "mean \(mean / bound)·2^f")
      #expect(abs(deviation / (bound / 3.0.squareRoot()) - 1) < 0.05, "deviation \(deviation / bound)·2^f")
      #expect(noise.contains { $0 < -bound / 2 } && noise.contains { $0 > bound / 2 })
    }
  }

  @Test("Bad masks, three-polynomial ciphertexts and foreign keys are refused")
  func refusals() throws {
    let setup = try Setup()
    let ciphertext = try setup.encrypt([1])
    let key = setup.publicKey
    #expect(throws: EvaluationError.invalidResultMask("flooding bits 121 outside 0…120")) {
      try setup.evaluator.sanitized(ciphertext, revealing: [0], floodingBits: 121, publicKey: key)
    }
    #expect(throws: EvaluationError.invalidResultMask("coefficient 4096 outside 0…4095")) {
      try setup.evaluator.sanitized(ciphertext, revealing: [4096], floodingBits: 10, publicKey: key)
    }
    let square = try setup.evaluator.multiply(ciphertext, ciphertext)
    #expect(throws: EvaluationError.notRelinearized(size: 3)) {
      try setup.evaluator.sanitized(square, revealing: [0], floodingBits: 10, publicKey: key)
    }
    let other = try Setup()
    #expect(throws: EvaluationError.parametersMismatch) {
      try setup.evaluator.sanitized(ciphertext, revealing: [0], floodingBits: 10, publicKey: other.publicKey)
    }
  }
}
