import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("SEAL interoperability")
struct InteropTests {
  struct SealCiphertext: Decodable {
    let residues: String
    let scale: Double
  }
  struct SealDecode: Decodable {
    let head: [Double]
    let maxError: Double
  }
  struct InteropCase: Decodable {
    let degree: Int
    let bitSizes: [Int]
    let scaleExponent: Int
    let secretKey: String
    let sealCiphertext: SealCiphertext
    let sealDecodedHead: [Double]
    let ourSeed: String
    let ourCiphertextDigests: [String: UInt64]
    let sealDecodedOurs: [String: SealDecode]
    let sealRotationsHead: [String: [Double]]
  }
  struct InteropFile: Decodable { let cases: [InteropCase] }

  static func words(_ base64: String) -> [UInt64] {
    let data = [UInt8](Data(base64Encoded: base64)!)
    return stride(from: 0, to: data.count, by: 8).map { offset in
      (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[offset + $1]) << (8 * UInt64($1)) }
    }
  }

  static func setUp(_ c: InteropCase) throws -> (CKKSParameters, SecretKey, [Double]) {
    let parameters = try CKKSParameters(
      ParameterDescription(
        degree: c.degree, ciphertextPrimeBits: Array(c.bitSizes.dropLast()), specialPrimeBits: [c.bitSizes.last!],
        defaultScale: Double(sign: .plus, exponent: c.scaleExponent, significand: 1), security: .insecureForTestingOnly)
    )
    let secretKey = try SecretKey(parameters: parameters, evaluationResidues: Self.words(c.secretKey))
    let message = (0..<(c.degree / 2)).map { EncoderTests.input($0) / 10 }
    return (parameters, secretKey, message)
  }

  /// The recorded SEAL ciphertext (c0 then c1, evaluation form, top level).
  static func sealCiphertext(_ c: InteropCase, parameters: CKKSParameters) -> Ciphertext {
    let residues = Self.words(c.sealCiphertext.residues)
    let basis = parameters.basis(atLevel: parameters.maximumLevel)
    let half = residues.count / 2
    return Ciphertext(
      polynomials: [
        RNSPolynomial(basis: basis, residues: Array(residues[..<half])),
        RNSPolynomial(basis: basis, residues: Array(residues[half...])),
      ], scale: c.sealCiphertext.scale)
  }

  @Test("A SEAL ciphertext decrypts correctly with our decryptor and SEAL's secret key")
  func sealToOurs() throws {
    let cases = try Fixtures.load("seal_interop", as: InteropFile.self).cases
    #expect(cases.count >= 2)
    for c in cases {
      let (parameters, secretKey, message) = try Self.setUp(c)
      let ciphertext = Self.sealCiphertext(c, parameters: parameters)
      let decoded = CKKSEncoder(parameters: parameters).decode(try Decryptor(secretKey: secretKey).decrypt(ciphertext))
      let error = Precision.maximumError(decoded, message)
      #expect(error < 1e-3, "N=\(c.degree): error \(error)")
      // Our decoding of SEAL's ciphertext agrees with SEAL's own to far below the noise.
      #expect(zip(decoded, c.sealDecodedHead).allSatisfy { abs($0 - $1) < 1e-6 })
    }
  }

  @Test("Our ciphertexts are the ones SEAL was recorded decrypting correctly")
  func oursToSeal() throws {
    for c in try Fixtures.load("seal_interop", as: InteropFile.self).cases {
      let (parameters, secretKey, message) = try Self.setUp(c)
      // Mirrors ckks-reference-tool: the same key, message, seed and order of random draws.
      let plaintext = try CKKSEncoder(parameters: parameters).encode(message)
      let generator = try SecureRandomGenerator(
        seed: Fixtures.bytes(hex: c.ourSeed), domain: SecureRandomGenerator.defaultDomain)
      let symmetric = try Encryptor(secretKey: secretKey).encrypt(plaintext, using: generator)
      let publicKey = KeyGenerator.publicKey(secretKey: secretKey, using: generator)
      let asymmetric = try Encryptor(publicKey: publicKey).encrypt(plaintext, using: generator)
      for (kind, ciphertext) in [("secretKeyCiphertext", symmetric), ("publicKeyCiphertext", asymmetric)] {
        #expect(Fixtures.digest(ciphertext.polynomials.flatMap(\.residues)) == c.ourCiphertextDigests[kind], "\(kind)")
        let seal = try #require(c.sealDecodedOurs[kind])
        #expect(seal.maxError < 1e-3)
        #expect(zip(seal.head, message).allSatisfy { abs($0 - $1) < 1e-3 })
      }
    }
  }

  @Test("Rotation by k moves slots exactly as SEAL's rotate_vector")
  func rotationsMatchSeal() throws {
    for c in try Fixtures.load("seal_interop", as: InteropFile.self).cases {
      let (parameters, secretKey, _) = try Self.setUp(c)
      let sealCiphertext = Self.sealCiphertext(c, parameters: parameters)
      let steps = c.sealRotationsHead.keys.compactMap { Int($0) }
      #expect(steps.count == 4)
      let keys = try KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: steps)
      let encoder = CKKSEncoder(parameters: parameters)
      let decryptor = Decryptor(secretKey: secretKey)
      for step in steps {
        let ours = encoder.decode(
          try decryptor.decrypt(try Evaluator(parameters: parameters).rotate(sealCiphertext, by: step, keys: keys)))
        let seal = try #require(c.sealRotationsHead[String(step)])
        // Same slots moved to the same places; values agree to within the (small) noise.
        #expect(zip(ours, seal).allSatisfy { abs($0 - $1) < 1e-2 }, "N=\(c.degree) step \(step)")
      }
    }
  }
}
