import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Keys, encryption and decryption")
struct EncryptionTests {
  @Test("Public- and secret-key encryption decrypt to the message on every preset and level")
  func roundTrips() throws {
    for (name, description) in ParameterDescription.presets {
      let parameters = try CKKSParameters(description)
      let encoder = CKKSEncoder(parameters: parameters)
      let generator = try SecureRandomGenerator(
        seed: [UInt8](repeating: 5, count: 32), domain: SecureRandomGenerator.defaultDomain)
      let secretKey = KeyGenerator.secretKey(parameters: parameters, using: generator)
      let publicKey = KeyGenerator.publicKey(secretKey: secretKey, using: generator)
      let decryptor = Decryptor(secretKey: secretKey)
      var rng = SplitMix64(seed: 3)
      let values = (0..<parameters.slotCount).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 }
      for level in [parameters.maximumLevel, 0] {
        let plaintext = try encoder.encode(values, level: level)
        for encryptor in [Encryptor(publicKey: publicKey), Encryptor(secretKey: secretKey)] {
          let ciphertext = try encryptor.encrypt(plaintext, using: generator)
          #expect(ciphertext.level == level && ciphertext.size == 2 && ciphertext.scale == plaintext.scale)
          let decoded = encoder.decode(try decryptor.decrypt(ciphertext))
          // Fresh noise is a few units of N·σ; at Δ ≥ 2^40 that leaves at least ~20 bits.
          let bits = Precision.bits(decoded, values)
          #expect(bits > Double(parameters.defaultScale.exponent) - 22, "\(name) level \(level): \(bits) bits")
        }
      }
    }
  }

  @Test("Secret-key ciphertexts are seeded: c1 is the uniform polynomial of the seed")
  func seeded() throws {
    let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let plaintext = try CKKSEncoder(parameters: parameters).encode([1, 2, 3])
    let ciphertext = try Encryptor(secretKey: secretKey).encrypt(plaintext)
    let seed = try #require(ciphertext.seed)
    #expect(seed.count == 32)
    #expect(ciphertext.polynomials[1] == (try Sampler.uniform(in: ciphertext.basis, seed: seed)))
    let publicCiphertext = try Encryptor(publicKey: KeyGenerator.publicKey(secretKey: secretKey)).encrypt(plaintext)
    #expect(publicCiphertext.seed == nil)
    // Two encryptions of the same message differ (fresh randomness).
    #expect(try Encryptor(secretKey: secretKey).encrypt(plaintext).polynomials[0] != ciphertext.polynomials[0])
  }

  @Test("Public keys are encryptions of zero with small error")
  func publicKey() throws {
    let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let publicKey = KeyGenerator.publicKey(secretKey: secretKey)
    #expect(publicKey.a == (try Sampler.uniform(in: parameters.keyBasis, seed: #require(publicKey.seed))))
    // b + a·s = −e: every coefficient is within the Gaussian's 6σ cut.
    let error = (publicKey.b + publicKey.a * secretKey.polynomial).inverseNTT()
    #expect((0..<parameters.degree).allSatisfy { j in abs(error.centeredCoefficient(at: j).doubleValue) <= 19 })
  }

  @Test("Mismatched parameters and malformed key material are refused")
  func errors() throws {
    let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let other = try CKKSParameters(.n4096_logq_60_46)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let foreign = try CKKSEncoder(parameters: other).encode([1])
    #expect(throws: EvaluationError.parametersMismatch) { try Encryptor(secretKey: secretKey).encrypt(foreign) }
    let foreignCiphertext = try Encryptor(secretKey: KeyGenerator.secretKey(parameters: other)).encrypt(foreign)
    #expect(throws: EvaluationError.parametersMismatch) {
      try Decryptor(secretKey: secretKey).decrypt(foreignCiphertext)
    }
    #expect(throws: EvaluationError.self) { try SecretKey(parameters: parameters, evaluationResidues: [1, 2, 3]) }
    let tooLarge = [UInt64](repeating: UInt64.max, count: parameters.keyBasis.count * parameters.degree)
    #expect(throws: EvaluationError.self) { try SecretKey(parameters: parameters, evaluationResidues: tooLarge) }
  }
}
