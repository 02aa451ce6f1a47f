import Testing

@testable import CKKS

@Suite("Negacyclic NTT")
struct NTTTests {
  struct NTTCase: Decodable {
    let degree: Int
    let primes: [UInt64]
    let ntt: [[UInt64]]?
    let nttDigests: [UInt64]?
    let nttHeads: [[UInt64]]?
  }
  struct NTTFile: Decodable { let cases: [NTTCase] }

  /// Slot j of SEAL's NTT form is `a(ψ^(2·rev(j)+1))`: evaluate directly.
  static func naiveNTT(_ a: [UInt64], tables: NTTTables) -> [UInt64] {
    let q = tables.modulus
    let n = tables.degree
    return (0..<n).map { j in
      let exponent = UInt64(2 * NTTTables.bitReverse(j, bits: tables.logDegree) + 1)
      let point = q.power(tables.root, exponent)
      var value: UInt64 = 0
      for coefficient in a.reversed() { value = q.multiplyAdd(value, point, coefficient) }
      return value
    }
  }

  static func schoolbookNegacyclic(_ a: [UInt64], _ b: [UInt64], modulus q: Modulus) -> [UInt64] {
    let n = a.count
    var result = [UInt64](repeating: 0, count: n)
    for i in 0..<n {
      for j in 0..<n {
        let product = q.multiply(a[i], b[j])
        let k = i + j
        if k < n {
          result[k] = q.add(result[k], product)
        } else {
          result[k - n] = q.subtract(result[k - n], product)
        }
      }
    }
    return result
  }

  @Test("Known answer at N = 8, q = 17")
  func knownAnswerTiny() throws {
    let tables = try NTTTables(degree: 8, modulus: Modulus(17))
    // Primitive 16th roots mod 17 are 3, 5, 6, 7, 10, 11, 12, 14: SEAL picks the smallest.
    #expect(tables.root == 3)
    let a: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8]
    let expected = Self.naiveNTT(a, tables: tables)
    #expect(tables.forward(a) == expected)
    #expect(tables.inverse(expected) == a)
    // X (coefficient 1 only) evaluates to the point itself: ψ^(2·rev(j)+1).
    var x = [UInt64](repeating: 0, count: 8)
    x[1] = 1
    #expect(tables.forward(x) == [3, 14, 5, 12, 10, 7, 11, 6])
  }

  @Test("Forward NTT equals SEAL's NTT form, and inverts")
  func sealVectors() throws {
    let file = try Fixtures.load("seal_ntt", as: NTTFile.self)
    #expect(file.cases.count >= 6)
    for c in file.cases {
      for (i, p) in c.primes.enumerated() {
        let tables = try NTTTables(degree: c.degree, modulus: Modulus(p))
        let input = (0..<c.degree).map { Fixtures.inputCoefficient(limb: i, index: $0, modulus: p) }
        let output = tables.forward(input)
        if let full = c.ntt {
          #expect(output == full[i], "N=\(c.degree) q=\(p)")
        } else {
          #expect(Fixtures.digest(output) == c.nttDigests![i], "N=\(c.degree) q=\(p)")
          #expect(Array(output.prefix(8)) == c.nttHeads![i])
        }
        #expect(tables.inverse(output) == input)
      }
    }
  }

  @Test("Small-degree transforms agree with direct evaluation", arguments: [2, 4, 16, 32, 64])
  func directEvaluation(degree: Int) throws {
    for prime in try Primes.sealCoefficientModulus(degree: degree, bitSizes: [30, 61]) {
      let tables = try NTTTables(degree: degree, modulus: Modulus(prime))
      var rng = SplitMix64(seed: UInt64(degree) ^ prime)
      let a = (0..<degree).map { _ in rng.next() % prime }
      #expect(tables.forward(a) == Self.naiveNTT(a, tables: tables))
    }
  }

  @Test("Inverse ∘ forward is the identity at real sizes", arguments: [4096, 8192, 16384, 32768])
  func roundTrip(degree: Int) throws {
    for prime in try Primes.sealCoefficientModulus(degree: degree, bitSizes: [50, 60, 61]) {
      let tables = try NTTTables(degree: degree, modulus: Modulus(prime))
      var rng = SplitMix64(seed: prime)
      let a = (0..<degree).map { _ in rng.next() % prime }
      let forward = tables.forward(a)
      #expect(forward.allSatisfy { $0 < prime })
      #expect(tables.inverse(forward) == a)
      // Lazy input range: the forward transform accepts values in [0, 4q).
      let shifted = a.enumerated().map { $0.element + prime * UInt64($0.offset % 4) }
      #expect(tables.forward(shifted) == forward)
    }
  }

  @Test("Pointwise product in NTT form is the negacyclic product", arguments: [16, 256, 4096])
  func multiplication(degree: Int) throws {
    for prime in try Primes.sealCoefficientModulus(degree: degree, bitSizes: [40, 61]) {
      let q = Modulus(prime)
      let tables = try NTTTables(degree: degree, modulus: q)
      var rng = SplitMix64(seed: prime &+ 7)
      let a = (0..<degree).map { _ in rng.next() % prime }
      let b = (0..<degree).map { _ in rng.next() % prime }
      let product = zip(tables.forward(a), tables.forward(b)).map { q.multiply($0, $1) }
      #expect(tables.inverse(product) == Self.schoolbookNegacyclic(a, b, modulus: q))
    }
  }

  @Test("Tables refuse unsuitable moduli")
  func refusals() {
    #expect(throws: CKKSError.notNTTFriendly(modulus: 97, degree: 64)) {
      try NTTTables(degree: 64, modulus: Modulus(97))
    }
    #expect(throws: CKKSError.notNTTFriendly(modulus: 91, degree: 2)) { try NTTTables(degree: 2, modulus: Modulus(91)) }
    #expect(throws: CKKSError.invalidDegree(12)) { try NTTTables(degree: 12, modulus: Modulus(97)) }
  }
}
