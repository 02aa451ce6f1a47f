import Testing

@testable import CKKS

@Suite("RNS polynomials")
struct RingTests {
  struct ExactCase: Decodable {
    let degree: Int
    let primes: [UInt64]
    let targetPrimes: [UInt64]
    let residues: [[UInt64]]
    let centered: [String]
    let rescaledResidues: [[UInt64]]
    let convertedResidues: [[UInt64]]
    let conversionOverflow: [Int]
  }
  struct ExactFile: Decodable { let cases: [ExactCase] }

  static func exactCases() throws -> [ExactCase] {
    try Fixtures.load("exact_integers", as: ExactFile.self).cases
  }

  static func polynomial(_ c: ExactCase) throws -> RNSPolynomial<Coefficient> {
    let basis = try RNSBasis(degree: c.degree, moduli: c.primes)
    return RNSPolynomial(basis: basis, residues: c.residues.flatMap { $0 })
  }

  static func randomPolynomial(_ basis: RNSBasis, seed: UInt64) -> RNSPolynomial<Coefficient> {
    var rng = SplitMix64(seed: seed)
    let residues = basis.moduli.flatMap { q in (0..<basis.degree).map { _ in rng.next() % q.value } }
    return RNSPolynomial(basis: basis, residues: residues)
  }

  @Test("CRT reconstruction equals Python's big integers")
  func crt() throws {
    for c in try Self.exactCases() {
      let polynomial = try Self.polynomial(c)
      for j in 0..<c.degree {
        #expect(polynomial.centeredCoefficient(at: j).description == c.centered[j])
        #expect(MultiwordInteger(c.centered[j]) == polynomial.centeredCoefficient(at: j))
      }
      let doubles = polynomial.centeredCoefficientsAsDouble()
      for j in 0..<c.degree {
        let exact = MultiwordInteger(c.centered[j])!
        // Compare with a Double parsed from the decimal string (correctly rounded).
        let reference = Double(c.centered[j])!
        #expect(abs(doubles[j] - reference) <= reference.ulp.magnitude * 2, "\(exact)")
        #if arch(x86_64)
          #expect(abs(Double(polynomial.centeredCoefficientsAsFloat80()[j]) - reference) <= reference.ulp.magnitude * 2)
        #endif
      }
    }
  }

  @Test("The fast CRT composer equals exact big-integer reconstruction")
  func crtComposer() throws {
    var polynomials = try Self.exactCases().map { try Self.polynomial($0) }
    let basis = try RNSBasis(
      degree: 1024, moduli: Primes.sealCoefficientModulus(degree: 1024, bitSizes: [60, 40, 40, 61, 50]))
    polynomials.append(Self.randomPolynomial(basis, seed: 11))
    // Values the fast path handles (|x| < 2^63, including both ends of Int64) and values just
    // beyond it, which must fall back to the exact path.
    var rng = SplitMix64(seed: 12)
    var small = (0..<1024).map { _ in Int64(bitPattern: rng.next()) >> (rng.next() % 64) }
    small[0] = .max
    small[1] = .min
    small[2] = 0
    polynomials.append(RNSPolynomial(basis: basis, signedCoefficients: small))
    let edges = (0..<1024).map { k -> MultiwordInteger in
      let magnitude = MultiwordInteger(UInt64(1) << 63) + MultiwordInteger(UInt64(k))
      return k % 2 == 0 ? magnitude : -magnitude
    }
    let edgeResidues = basis.moduli.flatMap { q in edges.map { $0.residue(modulo: q.value) } }
    polynomials.append(RNSPolynomial(basis: basis, residues: edgeResidues))
    for polynomial in polynomials {
      let fast = CRTComposer(basis: polynomial.basis).centeredValues(polynomial.residues, factor: 1)
      #expect(fast == polynomial.centeredCoefficientsAsDouble())
      let scaled = CRTComposer(basis: polynomial.basis).centeredValues(polynomial.residues, factor: 0x1p-40)
      #expect(zip(scaled, fast).allSatisfy { $0 == $1 * 0x1p-40 })
    }
  }

  @Test("Rescale equals round(x / q_last) in both representations")
  func rescale() throws {
    for c in try Self.exactCases() {
      let polynomial = try Self.polynomial(c)
      let expected = c.rescaledResidues.flatMap { $0 }
      var coefficientForm = polynomial
      coefficientForm.divideAndRoundByLastModulus()
      #expect(coefficientForm.basis.moduli.map(\.value) == Array(c.primes.dropLast()))
      #expect(coefficientForm.residues == expected)
      var evaluationForm = polynomial.forwardNTT()
      evaluationForm.divideAndRoundByLastModulus()
      #expect(evaluationForm.inverseNTT().residues == expected)
    }
  }

  @Test("Rescale at a real size: coefficient and evaluation forms agree")
  func rescaleRealSize() async throws {
    let basis = try RNSBasis(
      degree: 8192, moduli: Primes.sealCoefficientModulus(degree: 8192, bitSizes: [60, 40, 40, 61]))
    let polynomial = Self.randomPolynomial(basis, seed: 99)
    var a = polynomial
    a.divideAndRoundByLastModulus()
    var b = polynomial.forwardNTT()
    b.divideAndRoundByLastModulus()
    #expect(b.inverseNTT() == a)
    // Spot-check against exact big-integer rounding.
    for j in stride(from: 0, to: 8192, by: 1021) {
      let x = polynomial.centeredCoefficient(at: j)
      let (quotient, remainder) = x.quotientAndRemainder(dividingBy: basis.moduli.last!.value)
      // Round half away from zero never ties for odd q; adjust the truncated quotient.
      var rounded = quotient
      if remainder * 2 > Int128(basis.moduli.last!.value) { rounded = rounded + MultiwordInteger(UInt64(1)) }
      if remainder * 2 < -Int128(basis.moduli.last!.value) { rounded = rounded - MultiwordInteger(UInt64(1)) }
      #expect(a.centeredCoefficient(at: j) == rounded)
    }
    // Rescaling a single prime is a programmer error (the evaluator checks levels first).
    let rescaled = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var single = try Self.onePrimePolynomial()
      single.divideAndRoundByLastModulus()
    }
    let rescaleMessage = Self.text(rescaled?.standardErrorContent)
    #expect(rescaleMessage.contains("rescaling needs at least two primes"))
  }

  @Test("Fast basis conversion equals the exact formula and stays within x + u·Q, 0 ≤ u < L")
  func basisConversion() throws {
    for c in try Self.exactCases() {
      let polynomial = try Self.polynomial(c)
      let target = try RNSBasis(degree: c.degree, moduli: c.targetPrimes)
      let converter = BasisConverter(from: polynomial.basis, to: target)
      let converted = converter.convert(polynomial)
      #expect(converted.residues == c.convertedResidues.flatMap { $0 })
      #expect(c.conversionOverflow.allSatisfy { (0..<c.primes.count).contains($0) })
      // Independent check of the documented error: some u in [0, L) explains every target residue.
      for j in 0..<c.degree {
        let x = polynomial.basis.reconstruct(residues: polynomial.residues(at: j))
        let u = (0..<c.primes.count).first { u in
          let candidate = x + polynomial.basis.product.multiplied(by: UInt64(u))
          return target.moduli.enumerated().allSatisfy { k, p in
            candidate.residue(modulo: p.value) == converted.residues(at: j)[k]
          }
        }
        #expect(u == c.conversionOverflow[j])
      }
    }
  }

  /// What an exit test's process wrote, as text.
  static func text(_ bytes: [UInt8]?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }

  /// A zero polynomial over one 40-bit prime: nothing left to drop.
  static func onePrimePolynomial() throws -> RNSPolynomial<Coefficient> {
    RNSPolynomial(zeroIn: try RNSBasis(degree: 64, moduli: Primes.sealCoefficientModulus(degree: 64, bitSizes: [40])))
  }

  @Test("Dropping the last prime keeps the value modulo the smaller product")
  func dropLast() async throws {
    let basis = try RNSBasis(degree: 64, moduli: Primes.sealCoefficientModulus(degree: 64, bitSizes: [40, 50, 60]))
    var polynomial = RNSPolynomial<Coefficient>(basis: basis, signedCoefficients: (0..<64).map { Int64($0) - 30 })
    let evaluation = polynomial.forwardNTT()
    polynomial.dropLastModulus()
    #expect(polynomial.basis === basis.lowerLevel)
    #expect(polynomial.centeredCoefficient(at: 0) == MultiwordInteger(Int64(-30)))
    var droppedEvaluation = evaluation
    droppedEvaluation.dropLastModulus()
    #expect(droppedEvaluation.inverseNTT() == polynomial)
    polynomial.dropLastModulus()
    #expect(polynomial.basis.count == 1)
    let dropped = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      var single = try Self.onePrimePolynomial()
      single.dropLastModulus()
    }
    let dropMessage = Self.text(dropped?.standardErrorContent)
    #expect(dropMessage.contains("dropping a prime needs at least two primes"))
  }

  @Test("Element-wise arithmetic matches integer arithmetic")
  func arithmetic() throws {
    let basis = try RNSBasis(degree: 32, moduli: Primes.sealCoefficientModulus(degree: 32, bitSizes: [30, 61]))
    let a = (0..<32).map { Int64($0 * 1000 - 7) }
    let b = (0..<32).map { Int64(-$0 * 37 + 5) }
    let pa = RNSPolynomial<Coefficient>(basis: basis, signedCoefficients: a)
    let pb = RNSPolynomial<Coefficient>(basis: basis, signedCoefficients: b)
    #expect(pa + pb == RNSPolynomial(basis: basis, signedCoefficients: zip(a, b).map { $0 + $1 }))
    #expect(pa - pb == RNSPolynomial(basis: basis, signedCoefficients: zip(a, b).map { $0 - $1 }))
    #expect(-pa == RNSPolynomial(basis: basis, signedCoefficients: a.map { -$0 }))
    var scaled = pa
    scaled.multiply(byScalar: -3)
    #expect(scaled == RNSPolynomial(basis: basis, signedCoefficients: a.map { -3 * $0 }))
    // Negacyclic product of small integers, computed in Int64.
    var product = [Int64](repeating: 0, count: 32)
    for i in 0..<32 {
      for j in 0..<32 {
        if i + j < 32 { product[i + j] += a[i] * b[j] } else { product[i + j - 32] -= a[i] * b[j] }
      }
    }
    #expect(
      (pa.forwardNTT() * pb.forwardNTT()).inverseNTT() == RNSPolynomial(basis: basis, signedCoefficients: product))
    var accumulator = RNSPolynomial<Evaluation>(zeroIn: basis)
    accumulator.multiplyAdd(pa.forwardNTT(), pb.forwardNTT())
    accumulator.multiplyAdd(pa.forwardNTT(), pb.forwardNTT())
    #expect(accumulator.inverseNTT() == RNSPolynomial(basis: basis, signedCoefficients: product.map { 2 * $0 }))
  }

  @Test("Galois automorphisms: both representations agree, compose, and match X ↦ X^k")
  func automorphisms() throws {
    let degree = 64
    let basis = try RNSBasis(degree: degree, moduli: Primes.sealCoefficientModulus(degree: degree, bitSizes: [40, 61]))
    let a = Self.randomPolynomial(basis, seed: 5)
    let k5 = try GaloisElement(5, degree: degree)
    let k25 = try GaloisElement(25, degree: degree)
    // Evaluation form agrees with coefficient form.
    for element in [k5, k25, GaloisElement.conjugation(degree: degree), GaloisElement.rotation(by: -3, degree: degree)]
    {
      #expect(a.forwardNTT().applyingGalois(element).inverseNTT() == a.applyingGalois(element))
    }
    // σ_5 ∘ σ_5 = σ_25, and σ_k is a ring homomorphism.
    #expect(a.applyingGalois(k5).applyingGalois(k5) == a.applyingGalois(k25))
    #expect(k5.composed(with: k5) == k25)
    let b = Self.randomPolynomial(basis, seed: 6)
    let product = (a.forwardNTT() * b.forwardNTT())
    #expect(product.applyingGalois(k5) == a.forwardNTT().applyingGalois(k5) * b.forwardNTT().applyingGalois(k5))
    // X ↦ X^5: the monomial X^13 becomes X^65 = -X^1 (65 = 64 + 1).
    var monomial = [Int64](repeating: 0, count: degree)
    monomial[13] = 1
    var expected = [Int64](repeating: 0, count: degree)
    expected[1] = -1
    #expect(
      RNSPolynomial<Coefficient>(basis: basis, signedCoefficients: monomial).applyingGalois(k5)
        == RNSPolynomial(basis: basis, signedCoefficients: expected))
    // Rotation elements are 3^r mod 2N (negative r: the inverse rotation), as in SEAL.
    for steps in [-33, -1, 0, 1, 3, 31, 32, 1000] {
      let slots = degree / 2
      var expectedElement = 1
      for _ in 0..<(((steps % slots) + slots) % slots) { expectedElement = expectedElement * 3 % (2 * degree) }
      #expect(GaloisElement.rotation(by: steps, degree: degree).value == expectedElement)
    }
    #expect(
      GaloisElement.rotation(by: 1, degree: degree).composed(with: GaloisElement.rotation(by: -1, degree: degree)).value
        == 1)
    // Rotation by the number of slots is the identity; conjugation is an involution.
    #expect(GaloisElement.rotation(by: degree / 2, degree: degree).value == 1)
    let conjugation = GaloisElement.conjugation(degree: degree)
    #expect(a.applyingGalois(conjugation).applyingGalois(conjugation) == a)
    #expect(throws: CKKSError.invalidGaloisElement(4, degree: degree)) { try GaloisElement(4, degree: degree) }
    #expect(throws: CKKSError.invalidGaloisElement(129, degree: degree)) { try GaloisElement(129, degree: degree) }
  }

  @Test("Bases refuse duplicate or unsuitable primes and expose their levels")
  func bases() throws {
    let primes = try Primes.sealCoefficientModulus(degree: 16, bitSizes: [20, 20, 30])
    #expect(throws: CKKSError.duplicateModulus(primes[0])) { try RNSBasis(degree: 16, moduli: [primes[0], primes[0]]) }
    #expect(throws: CKKSError.notNTTFriendly(modulus: 101, degree: 16)) { try RNSBasis(degree: 16, moduli: [101]) }
    #expect(throws: CKKSError.emptyBasis) { try RNSBasis(degree: 16, moduli: []) }
    let basis = try RNSBasis(degree: 16, moduli: primes)
    #expect(basis.prefix(1).moduli.map(\.value) == [primes[0]])
    #expect(basis.lowerLevel?.lowerLevel?.lowerLevel == nil)
    #expect(basis.product == MultiwordInteger.product(primes))
  }

  @Test("Zeroize clears every residue")
  func zeroize() throws {
    let basis = try RNSBasis(degree: 16, moduli: [17 * 2 + 63])  // 97 ≡ 1 mod 32
    var polynomial = Self.randomPolynomial(basis, seed: 1)
    #expect(polynomial.residues.contains { $0 != 0 })
    polynomial.zeroize()
    #expect(polynomial.residues.allSatisfy { $0 == 0 })
  }
}

@Suite("README example")
struct ReadmeExampleTests {
  /// The library example in README.md, kept compiling and checked: b = a·s + e, then rescaled.
  @Test("README example runs and computes a·s + e")
  func readmeExample() throws {
    let primes = try Primes.sealCoefficientModulus(degree: 8192, bitSizes: [60, 40, 40, 60])
    let basis = try RNSBasis(degree: 8192, moduli: primes)

    let random = SecureRandomGenerator()
    let secret = Sampler.ternary(in: basis, using: random)
    let error = Sampler.gaussian(in: basis, using: random)
    let a = Sampler.uniform(in: basis, using: random)

    var b = a * secret.forwardNTT()
    b.add(error.forwardNTT())
    var c = b.inverseNTT()
    c.divideAndRoundByLastModulus()

    // b - a·s must be the small error e.
    let difference = (b - a * secret.forwardNTT()).inverseNTT()
    #expect(difference == error)
    #expect(c.basis.count == 3)
  }
}
