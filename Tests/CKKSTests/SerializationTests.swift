import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Serialization")
struct SerializationTests {
  @Test("Every object round-trips, and loaded objects work")
  func roundTrips() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let parameters = context.parameters
    let x = context.randomValues(seed: 1)
    let plaintext = try context.encoder.encode(x)
    #expect(
      try Plaintext(deserializing: plaintext.serialized(parameters: parameters), parameters: parameters) == plaintext)

    let seeded = try Encryptor(secretKey: context.secretKey).encrypt(plaintext, using: context.generator)
    let loadedSeeded = try Ciphertext(deserializing: seeded.serialized(parameters: parameters), parameters: parameters)
    #expect(loadedSeeded == seeded)
    let unseeded = try context.encrypt(x)
    #expect(
      try Ciphertext(deserializing: unseeded.serialized(parameters: parameters), parameters: parameters) == unseeded)
    let product = try context.evaluator.multiply(unseeded, unseeded)
    #expect(
      try Ciphertext(deserializing: product.serialized(parameters: parameters), parameters: parameters) == product)
    let lower = try context.evaluator.rescale(try context.evaluator.multiply(unseeded, plaintext))
    #expect(try Ciphertext(deserializing: lower.serialized(parameters: parameters), parameters: parameters) == lower)

    let publicKey = KeyGenerator.publicKey(secretKey: context.secretKey, using: context.generator)
    #expect(try PublicKey(deserializing: publicKey.serialized(), parameters: parameters) == publicKey)
    let relinearization = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    #expect(
      try RelinearizationKey(deserializing: relinearization.serialized(parameters: parameters), parameters: parameters)
        == relinearization)
    let galois = try KeyGenerator.galoisKeys(
      secretKey: context.secretKey, rotationSteps: [1, 2, 4], conjugation: true, using: context.generator)
    #expect(try GaloisKeys(deserializing: galois.serialized(parameters: parameters), parameters: parameters) == galois)

    let secretBytes = context.secretKey.serialized()
    #expect(secretBytes.count == SerializationFormat.headerSize + 8192 / 4)
    let loadedSecret = try SecretKey(deserializing: secretBytes, parameters: parameters)
    #expect(loadedSecret.polynomial == context.secretKey.polynomial)
    #expect(
      Precision.bits(context.encoder.decode(try Decryptor(secretKey: loadedSecret).decrypt(loadedSeeded)), x) > 20)
  }

  @Test("Sizes meet the targets: seeded ciphertext, relinearization and Galois keys at N = 8192")
  func sizes() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let parameters = context.parameters
    let seeded = try Encryptor(secretKey: context.secretKey).encrypt(context.encoder.encode([1, 2, 3]))
    let ciphertextBytes = seeded.serialized(parameters: parameters).count
    // c0 only: 8192 residues at 60 + 40 + 40 bits, plus header, level, count, representation,
    // scale, seed and one dropped-bits byte.
    #expect(ciphertextBytes == 40 + 2 + 1 + 1 + 8 + 32 + 1 + 8192 * 140 / 8)
    #expect(ciphertextBytes <= 200_000)
    let relinearizationBytes = try KeyGenerator.relinearizationKey(secretKey: context.secretKey).serialized(
      parameters: parameters
    ).count
    #expect(relinearizationBytes == 40 + 2 + 3 * (32 + 8192 * 200 / 8))
    #expect(relinearizationBytes <= 800_000)
    let galoisBytes = try KeyGenerator.galoisKeys(secretKey: context.secretKey, rotationSteps: [1, 2, 4])
      .serialized(parameters: parameters).count
    #expect(galoisBytes <= 2_400_000)
  }

  @Test("Decryption-only results shrink and still decrypt within the stated error")
  func shrinking() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let parameters = context.parameters
    let x = context.randomValues(seed: 2)
    let ciphertext = try context.encrypt(x)
    let full = ciphertext.serialized(parameters: parameters)
    let shrunk = try ciphertext.serializedForDecryption(parameters: parameters, droppedLowBits: 10)
    // Two polynomials of 8192 residues at 60 − 10 bits.
    #expect(shrunk.count == 40 + 2 + 1 + 1 + 8 + 2 + 2 * 8192 * 50 / 8)
    #expect(shrunk.count * 2 < full.count)
    let loaded = try Ciphertext(deserializing: shrunk, parameters: parameters)
    #expect(loaded.level == 0)
    // Extra error ≈ 2^10·(1 + ‖s‖₁)/Δ ≈ 2^10·2^13/2^40 = 2^-17 per coefficient, more in the slots.
    #expect(Precision.bits(try context.decrypt(loaded), x) > 12)
    #expect(throws: SerializationError.self) {
      try ciphertext.serializedForDecryption(parameters: parameters, droppedLowBits: 60)
    }
    // c0 may drop more than c1 (its rounding is not multiplied by the key): 60 − 16 and 60 − 10 bits.
    let uneven = try ciphertext.serializedForDecryption(parameters: parameters, droppedLowBits: (c0: 16, c1: 10))
    #expect(uneven.count == 40 + 2 + 1 + 1 + 8 + 2 + 8192 * 44 / 8 + 8192 * 50 / 8)
    #expect(Precision.bits(try context.decrypt(Ciphertext(deserializing: uneven, parameters: parameters)), x) > 12)
    #expect(throws: SerializationError.self) {
      try ciphertext.serializedForDecryption(parameters: parameters, droppedLowBits: (c0: 60, c1: 0))
    }
    // A product not yet relinearized (three polynomials) has no decryption-only form.
    let product = try context.evaluator.multiply(ciphertext, ciphertext)
    #expect(throws: SerializationError.notRelinearized(polynomials: 3)) {
      try product.serializedForDecryption(parameters: parameters, droppedLowBits: 10)
    }
  }

  @Test("Malformed bytes give typed errors, never a crash")
  func malformed() throws {
    let parameters = try CKKSParameters(
      ParameterDescription(
        degree: 16, ciphertextPrimeBits: [30, 30], specialPrimeBits: [31], defaultScale: 0x1p20,
        security: .insecureForTestingOnly))
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let ciphertext = try Encryptor(secretKey: secretKey).encrypt(CKKSEncoder(parameters: parameters).encode([1]))
    let bytes = ciphertext.serialized(parameters: parameters)
    #expect(try Ciphertext(deserializing: bytes, parameters: parameters) == ciphertext)

    func expectFailure(_ candidate: [UInt8], _ expected: SerializationError? = nil) {
      do {
        _ = try Ciphertext(deserializing: candidate, parameters: parameters)
        Issue.record("accepted malformed bytes")
      } catch {
        if let expected { #expect(error == expected) }
      }
    }
    var badMagic = bytes
    badMagic[0] = 0x58
    expectFailure(badMagic, .badMagic)
    var badVersion = bytes
    badVersion[4] = 9
    expectFailure(badVersion, .unsupportedVersion(9))
    var badType = bytes
    badType[5] = 2
    expectFailure(badType, .wrongObjectType(expected: 1, found: 2))
    var badFingerprint = bytes
    badFingerprint[9] ^= 1
    expectFailure(badFingerprint, .unknownFingerprint)
    // Every truncation and one extra byte.
    for length in 0..<bytes.count { expectFailure(Array(bytes.prefix(length))) }
    expectFailure(bytes + [0])
    // A NaN scale.
    var badScale = bytes
    for b in 0..<8 {
      badScale[40 + 2 + 1 + 1 + b] = UInt8(truncatingIfNeeded: Double.nan.bitPattern >> (8 * UInt64(b)))
    }
    // (NaN never equals itself, so match the case instead of comparing errors.)
    do {
      _ = try Ciphertext(deserializing: badScale, parameters: parameters)
      Issue.record("accepted a NaN scale")
    } catch {
      guard case .invalidScale(let scale) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(scale.isNaN)
    }
    // A residue at or above its prime: set the first packed residue's bits to all ones.
    var badResidue = bytes
    let residuesStart = bytes.count - SerializationFormat.packedPolynomialSize(ciphertext.basis, dropped: 0)
    for b in 0..<3 { badResidue[residuesStart + b] = 0xFF }
    badResidue[residuesStart + 3] |= 0x3F
    expectFailure(badResidue, .residueOutOfRange(polynomial: 0, prime: 0, index: 0))
    // Foreign parameters.
    let other = try CKKSParameters(.n4096_logq_60_46)
    #expect(throws: SerializationError.unknownFingerprint) { try Ciphertext(deserializing: bytes, parameters: other) }
    // Random corruption: either a valid ciphertext (every residue below its prime) or a typed
    // error (the typed `throws` guarantees the type), never a crash. Most rejections come from
    // corrupted header and field bytes (with primes just below 2^30, a random 30-bit residue is
    // rarely out of range); 884 of the 2000 corruptions below are rejected.
    var rng = SplitMix64(seed: 77)
    var rejected = 0
    for _ in 0..<2000 {
      var corrupted = bytes
      for _ in 0..<(1 + Int(rng.next() % 4)) {
        corrupted[Int(rng.next() % UInt64(corrupted.count))] = UInt8(truncatingIfNeeded: rng.next())
      }
      do {
        let loaded = try Ciphertext(deserializing: corrupted, parameters: parameters)
        for polynomial in loaded.polynomials {
          for (i, q) in polynomial.basis.moduli.enumerated() {
            #expect(polynomial.limb(i).allSatisfy { $0 < q.value })
          }
        }
      } catch {
        rejected += 1
      }
    }
    #expect(rejected > 600, "only \(rejected) of 2000 corruptions were rejected")
    // Other object types reject each other's bytes.
    #expect(throws: SerializationError.wrongObjectType(expected: 2, found: 1)) {
      try Plaintext(deserializing: bytes, parameters: parameters)
    }
    var badSecret = secretKey.serialized()
    badSecret[badSecret.count - 1] = 0xAA  // code 2 is not a ternary value
    #expect(throws: SerializationError.self) { try SecretKey(deserializing: badSecret, parameters: parameters) }
  }
}
