import Foundation
import Testing

@testable import CKKS

@Suite("Randomness and sampling")
struct RandomTests {
  struct StreamVector: Decodable {
    let key: String
    let nonce: String
    let counter: UInt32
    let keystream: String
  }
  struct SeededUniform: Decodable {
    let seed: String
    let degree: Int
    let primes: [UInt64]
    let residues: [[UInt64]]
  }
  struct ChaChaFile: Decodable {
    let rfc8439Block: StreamVector
    let longStream: StreamVector
    let seededUniform: SeededUniform
  }

  static func file() throws -> ChaChaFile { try Fixtures.load("chacha20", as: ChaChaFile.self) }

  @Test("ChaCha20 block function: RFC 8439 §2.3.2 test vector")
  func rfcVector() throws {
    let vector = try Self.file().rfc8439Block
    let block = ChaCha20.block(
      key: Fixtures.bytes(hex: vector.key), nonce: Fixtures.bytes(hex: vector.nonce), counter: vector.counter)
    #expect(block == Fixtures.bytes(hex: vector.keystream))
    // The serialized block as printed in the RFC.
    #expect(
      block.prefix(16) == [
        0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4,
      ])
  }

  @Test("Generator stream equals OpenSSL's ChaCha20 keystream across buffer refills")
  func longStream() throws {
    let vector = try Self.file().longStream
    let generator = try SecureRandomGenerator(
      seed: Fixtures.bytes(hex: vector.key), domain: Fixtures.bytes(hex: vector.nonce))
    let expected = Fixtures.bytes(hex: vector.keystream)
    var produced: [UInt8] = []
    while produced.count < expected.count {
      let word = generator.next()
      produced += (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }
    }
    #expect(produced == expected)
  }

  @Test("Uniform polynomial expanded from a seed follows the normative rule")
  func seededUniform() throws {
    let vector = try Self.file().seededUniform
    let basis = try RNSBasis(degree: vector.degree, moduli: vector.primes)
    let polynomial = try Sampler.uniform(in: basis, seed: Fixtures.bytes(hex: vector.seed))
    #expect(polynomial.residues == vector.residues.flatMap { $0 })
    #expect(throws: CKKSError.invalidSeedLength(31)) {
      try Sampler.uniform(in: basis, seed: [UInt8](repeating: 0, count: 31))
    }
  }

  static let basis = try! RNSBasis(
    degree: 8192, moduli: Primes.sealCoefficientModulus(degree: 8192, bitSizes: [60, 40, 40]))

  /// The centred small coefficients, checking that every limb holds the same integer.
  static func smallCoefficients(_ polynomial: RNSPolynomial<Coefficient>) -> [Int] {
    (0..<polynomial.degree).map { j in
      let values = polynomial.basis.moduli.enumerated().map { i, q in
        let r = polynomial.residues[i * polynomial.degree + j]
        return r > q.value / 2 ? Int(r) - Int(q.value) : Int(r)
      }
      precondition(Set(values).count == 1, "limbs disagree")
      return values[0]
    }
  }

  @Test("OS-seeded generators differ; seeded ones repeat")
  func seeding() throws {
    #expect(SecureRandomGenerator().next() != SecureRandomGenerator().next())
    let seed = [UInt8](repeating: 9, count: 32)
    let a = try SecureRandomGenerator(seed: seed, domain: SecureRandomGenerator.defaultDomain)
    let b = try SecureRandomGenerator(seed: seed, domain: SecureRandomGenerator.defaultDomain)
    let c = try SecureRandomGenerator(seed: seed, domain: SecureRandomGenerator.uniformPolynomialDomain)
    let first = (0..<100).map { _ in a.next() }
    #expect(first == (0..<100).map { _ in b.next() })
    #expect(first != (0..<100).map { _ in c.next() })
  }

  // Statistical tests use fixed seeds, so they are deterministic; the bounds are about
  // 6 standard errors wide and catch wrong distributions (bias, wrong variance, wrong support).

  @Test("Uniform residues are in range with mean close to q/2")
  func uniform() throws {
    let generator = try SecureRandomGenerator(
      seed: [UInt8](repeating: 1, count: 32), domain: SecureRandomGenerator.defaultDomain)
    let polynomial = Sampler.uniform(in: Self.basis, using: generator)
    for (i, q) in Self.basis.moduli.enumerated() {
      let limb = polynomial.limb(i)
      #expect(limb.allSatisfy { $0 < q.value })
      let mean = limb.reduce(0.0) { $0 + Double($1) } / Double(limb.count) / Double(q.value)
      #expect(abs(mean - 0.5) < 6 * 0.2887 / Double(limb.count).squareRoot())
    }
    // Small bound: every value appears with frequency close to 1/7.
    var counts = [Int](repeating: 0, count: 7)
    for _ in 0..<70_000 { counts[Int(generator.uniform(below: 7))] += 1 }
    #expect(counts.allSatisfy { abs($0 - 10_000) < 600 })
  }

  @Test("Ternary secrets: values in {-1, 0, 1}, equal frequencies, same integer in every limb")
  func ternary() throws {
    let generator = try SecureRandomGenerator(
      seed: [UInt8](repeating: 2, count: 32), domain: SecureRandomGenerator.defaultDomain)
    let values = Self.smallCoefficients(Sampler.ternary(in: Self.basis, using: generator))
    for v in [-1, 0, 1] {
      let count = values.filter { $0 == v }.count
      #expect(abs(Double(count) - 8192.0 / 3) < 6 * (8192.0 * 2 / 9).squareRoot(), "value \(v): \(count)")
    }
    #expect(values.allSatisfy { (-1...1).contains($0) })
  }

  @Test("Fixed Hamming weight secrets have exactly h non-zero coefficients", arguments: [0, 1, 64, 192, 8192])
  func hammingWeight(weight: Int) throws {
    let generator = try SecureRandomGenerator(
      seed: [UInt8](repeating: 3, count: 32), domain: SecureRandomGenerator.defaultDomain)
    let values = Self.smallCoefficients(Sampler.ternary(in: Self.basis, hammingWeight: weight, using: generator))
    #expect(values.filter { $0 != 0 }.count == weight)
    #expect(values.allSatisfy { (-1...1).contains($0) })
    if weight >= 192 {
      let positives = values.filter { $0 == 1 }.count
      #expect(abs(Double(positives) - Double(weight) / 2) < 6 * (Double(weight) / 4).squareRoot())
    }
  }

  @Test("A Hamming weight above N given to the sampler directly stops the process (parameters refuse it earlier)")
  func hammingWeightAboveDegree() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Sampler.ternary(in: Self.basis, hammingWeight: 8193, using: SecureRandomGenerator())
    }
    let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(message.contains("Hamming weight outside [0, N]"))
  }

  @Test("Discrete Gaussian: σ = 3.2, cut at 19, symmetric")
  func gaussian() throws {
    let generator = try SecureRandomGenerator(
      seed: [UInt8](repeating: 4, count: 32), domain: SecureRandomGenerator.defaultDomain)
    var values: [Int] = []
    for _ in 0..<8 { values += Self.smallCoefficients(Sampler.gaussian(in: Self.basis, using: generator)) }
    let n = Double(values.count)
    let mean = Double(values.reduce(0, +)) / n
    let variance = values.reduce(0.0) { $0 + Double($1 * $1) } / n - mean * mean
    #expect(abs(mean) < 6 * 3.2 / n.squareRoot())
    // Var of the sample variance ≈ 2σ⁴/n for a near-normal distribution.
    #expect(abs(variance - 3.2 * 3.2) < 6 * (2 * 104.9 / n).squareRoot(), "variance \(variance)")
    #expect(values.allSatisfy { abs($0) <= 19 })
    // The table realizes the discrete Gaussian restricted to [-19, 19].
    let table = GaussianTable.standard
    let weights: [Double] = (-19...19).map { (k: Int) -> Double in exp(-Double(k * k) / 20.48) }
    let total = weights.reduce(0, +)
    for k in -19...19 {
      #expect(abs(table.probability(of: k) - weights[k + 19] / total) < 1e-15)
    }
    #expect(table.probability(of: 20) == 0)
  }
}
