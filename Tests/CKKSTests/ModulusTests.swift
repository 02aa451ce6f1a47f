import Testing

@testable import CKKS

@Suite("Modular arithmetic")
struct ModulusTests {
  static let moduli: [UInt64] = [
    3, 17, 65537, 1_073_741_441, 1_152_921_504_606_748_673,  // 60-bit SEAL prime
    (1 << 61) - 1,  // largest supported value (Mersenne prime)
    2_305_843_009_213_554_689,  // 61-bit NTT prime
    1_099_511_627_689,
  ]

  static func exactRemainder(_ high: UInt64, _ low: UInt64, _ q: UInt64) -> UInt64 {
    // Long division by words: exact reference independent of Barrett.
    let r1 = high % q
    return q.dividingFullWidth((r1, low)).remainder
  }

  @Test("Barrett reduction of words and 128-bit values equals exact division", arguments: moduli)
  func barrett(value: UInt64) {
    let q = Modulus(value)
    var rng = SplitMix64(seed: value)
    var inputs: [(UInt64, UInt64)] = [(0, 0), (0, 1), (UInt64.max, UInt64.max), (0, UInt64.max), (q.value - 1, 0)]
    for _ in 0..<5000 { inputs.append((rng.next(), rng.next())) }
    for (high, low) in inputs {
      #expect(q.reduce(high: high, low: low) == Self.exactRemainder(high, low, value))
      let lazy = q.reduceLazy(high: high, low: low)
      #expect(lazy < 2 * value && lazy % value == Self.exactRemainder(high, low, value))
      #expect(q.reduce(low) == low % value)
    }
    // The shifted Barrett accepts every x < 2^(bitWidth + 61): its largest inputs, products of
    // residues, and random values truncated to the bound.
    let bits = q.productReductionBits
    let limit = UInt128(1) << UInt128(bits)
    var wide: [UInt128] = [0, 1, limit - 1, limit - UInt128(value), UInt128(value - 1) * UInt128(value - 1)]
    for _ in 0..<5000 {
      wide.append((UInt128(rng.next()) << 64 | UInt128(rng.next())) % limit)
      wide.append(UInt128(rng.next() % value) * UInt128(rng.next() % value))
    }
    for x in wide {
      let reduced = q.reduceProduct(high: UInt64(x >> 64), low: UInt64(truncatingIfNeeded: x))
      #expect(reduced == UInt64(x % UInt128(value)))
    }
    // reduceProductSum doubles the range: x < 2^(bitWidth + 62).
    let sumLimit = limit << 1
    var sums: [UInt128] = [
      sumLimit - 1, sumLimit - UInt128(value), limit, 4 * UInt128(value - 1) * UInt128(value - 1) % sumLimit,
    ]
    for _ in 0..<5000 { sums.append((UInt128(rng.next()) << 64 | UInt128(rng.next())) % sumLimit) }
    for x in wide + sums {
      let reduced = q.reduceProductSum(high: UInt64(x >> 64), low: UInt64(truncatingIfNeeded: x))
      #expect(reduced == UInt64(x % UInt128(value)))
    }
  }

  @Test("Multiplication, Shoup products and their lazy ranges", arguments: moduli)
  func products(value: UInt64) {
    let q = Modulus(value)
    var rng = SplitMix64(seed: value &+ 1)
    for _ in 0..<3000 {
      let a = rng.next() % value
      let b = rng.next() % value
      let expected = Self.exactRemainder(a.multipliedFullWidth(by: b).high, a.multipliedFullWidth(by: b).low, value)
      #expect(q.multiply(a, b) == expected)
      let w = ShoupOperand(b, modulus: q)
      #expect(q.multiplyShoup(a, by: w.value, shoup: w.shoup) == expected)
      // The lazy form accepts any 64-bit input and returns [0, 2q).
      let x = rng.next()
      let lazy = q.multiplyShoupLazy(x, by: w.value, shoup: w.shoup)
      let product = x.multipliedFullWidth(by: b)
      #expect(lazy < 2 * value)
      #expect(lazy % value == Self.exactRemainder(product.high, product.low, value))
      #expect(q.add(a, b) == UInt64((UInt128(a) + UInt128(b)) % UInt128(value)))
      #expect(q.subtract(a, b) == UInt64((Int128(a) - Int128(b) + Int128(value)) % Int128(value)))
      #expect(q.add(q.negate(a), a) == 0)
      #expect(q.multiplyAdd(a, b, a) == q.add(expected, a))
    }
  }

  @Test("Inverse and power", arguments: moduli)
  func inverseAndPower(value: UInt64) {
    let q = Modulus(value)
    var rng = SplitMix64(seed: value &+ 2)
    for _ in 0..<200 {
      let a = rng.next() % value
      // Every listed modulus is prime, so exactly the non-zero residues are invertible.
      let inverse = q.inverse(a)
      #expect((inverse == nil) == (a == 0))
      if let inverse { #expect(q.multiply(a, inverse) == 1) }
    }
    #expect(q.power(2, 0) == 1)
    #expect(q.power(3, 5) == 243 % value)
    if Primes.isPrime(value) {
      // Fermat: a^(q-1) = 1.
      #expect(q.power(12346, value - 1) == 1)  // Fermat; 12346 is coprime to every listed q
    }
    #expect(Modulus(15).inverse(5) == nil)
    #expect(q.reduce(signed: -1) == value - 1)
    #expect(q.reduce(signed: Int64.min) == UInt64((Int128(Int64.min) % Int128(value) + Int128(value)) % Int128(value)))
  }
}

@Suite("Primes")
struct PrimeTests {
  struct PrimeCase: Decodable {
    let degree: Int
    let bitSizes: [Int]
    let primes: [UInt64]
  }
  struct PrimeFile: Decodable {
    let source: String
    let cases: [PrimeCase]
  }

  @Test("Deterministic Miller–Rabin")
  func millerRabin() {
    let primes: [UInt64] = [2, 3, 5, 97, 65537, 1_152_921_504_606_748_673, (1 << 61) - 1, 18_446_744_073_709_551_557]
    let composites: [UInt64] = [
      0, 1, 4, 561, 1105, 3_215_031_751,  // Carmichael and strong pseudoprime to 2, 3, 5, 7
      3_825_123_056_546_413_051,  // strong pseudoprime to the bases 2…23
      (1 << 61) - 3, 18_446_744_073_709_551_615,
    ]
    for p in primes { #expect(Primes.isPrime(p), "\(p)") }
    for c in composites {
      #expect(!Primes.isPrime(c), "\(c)")
    }
    // Agreement with trial division on a range.
    for n in UInt64(0)..<5000 {
      let trial = n >= 2 && (2..<max(2, n)).allSatisfy { d in d * d > n || n % d != 0 }
      #expect(Primes.isPrime(n) == trial)
    }
  }

  @Test("Prime chains equal SEAL's CoeffModulus::Create")
  func sealChains() throws {
    let file = try Fixtures.load("seal_primes", as: PrimeFile.self)
    #expect(file.cases.count >= 8)
    for c in file.cases {
      #expect(try Primes.sealCoefficientModulus(degree: c.degree, bitSizes: c.bitSizes) == c.primes)
    }
  }

  @Test("Bad prime requests throw")
  func errors() {
    #expect(throws: CKKSError.invalidBitSizes([62])) { try Primes.sealCoefficientModulus(degree: 8192, bitSizes: [62]) }
    #expect(throws: CKKSError.invalidBitSizes([])) { try Primes.sealCoefficientModulus(degree: 8192, bitSizes: []) }
    #expect(throws: CKKSError.invalidDegree(1000)) { try Primes.sealCoefficientModulus(degree: 1000, bitSizes: [30]) }
    // Only a handful of 12-bit primes are ≡ 1 mod 2·1024 (none, in fact).
    #expect(throws: CKKSError.self) { try Primes.sealCoefficientModulus(degree: 1024, bitSizes: [12]) }
    let sixtyOne = try? Primes.sealCoefficientModulus(degree: 4096, bitSizes: [61, 61])
    #expect(sixtyOne?.allSatisfy { $0 >> 60 == 1 && $0 % 8192 == 1 && Primes.isPrime($0) } == true)
  }
}
