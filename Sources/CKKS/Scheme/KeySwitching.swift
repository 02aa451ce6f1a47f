/// One digit of a key-switching key: `(b, a)` over Q ∪ P in evaluation form.
public struct KeySwitchingDigit: Sendable, Equatable {
  /// `b = −a·s + e + [P]·s′` on the digit's primes (and `−a·s + e` elsewhere).
  public let b: RNSPolynomial<Evaluation>
  /// Uniform, expanded from ``seed``.
  public let a: RNSPolynomial<Evaluation>
  /// The 32-byte seed of `a`.
  public let seed: [UInt8]
}

/// A hybrid key-switching key from s′ to s (Han & Ki, "Better Bootstrapping for Approximate
/// Homomorphic Encryption", CT-RSA 2020, https://eprint.iacr.org/2019/688): one digit per group of
/// ciphertext primes (dnum groups), special primes P to absorb the noise.
public struct KeySwitchingKey: Sendable, Equatable {
  /// One entry per digit, in prime order.
  public let digits: [KeySwitchingDigit]
}

/// The relinearization key: switches s² to s.
public struct RelinearizationKey: Sendable, Equatable {
  /// The key switching from s² to s.
  public let key: KeySwitchingKey
}

/// Galois keys: for each Galois element k, the key switching from σ_k(s) to s.
public struct GaloisKeys: Sendable, Equatable {
  /// Keys by Galois element.
  public let keys: [Int: KeySwitchingKey]

  /// The Galois elements these keys serve.
  public var elements: [Int] { keys.keys.sorted() }
}

/// Precomputed bases and converters for hybrid key switching at every level.
final class KeySwitcher: Sendable {
  /// Q ∪ P.
  let keyBasis: RNSBasis
  /// The special primes P.
  let specialBasis: RNSBasis
  /// Number of ciphertext primes L.
  let ciphertextPrimeCount: Int
  /// Ring degree N.
  let degree: Int
  /// Prime index ranges of the digits (over all ciphertext primes).
  let digits: [Range<Int>]
  /// `[P]_{q_i}` for every ciphertext prime.
  let specialProductModQ: [UInt64]
  /// Per level: the extended basis Q_ℓ ∪ P.
  let extendedBases: [RNSBasis]
  /// Per level and digit (or `nil` when the digit has no prime at that level): ModUp converter
  /// from the digit's primes (restricted to Q_ℓ) to the other primes of Q_ℓ ∪ P, with the
  /// extended-basis limb index of every source and target prime.
  let modUp: [[ModUpPlan?]]
  /// Per level: ModDown converter from P to Q_ℓ, and `P^-1 mod q_i`.
  let modDown: [BasisConverter]
  let inverseSpecialProduct: [ShoupOperand]

  struct ModUpPlan: Sendable {
    let converter: BasisConverter
    let sourceLimbs: [Int]
    let targetLimbs: [Int]
  }

  init(keyBasis: RNSBasis, ciphertextPrimeCount qCount: Int, specialBasis: RNSBasis, digitCount: Int) {
    self.keyBasis = keyBasis
    self.specialBasis = specialBasis
    self.ciphertextPrimeCount = qCount
    self.degree = keyBasis.degree
    let pCount = specialBasis.count
    let keyTables = keyBasis.nttTables
    digits = KeySwitchingDigits.partition(primeCount: qCount, digits: digitCount)
    let specialProduct = specialBasis.product
    let ciphertextModuli = keyBasis.moduli.prefix(qCount).map(\.value)
    let productModQ = ciphertextModuli.map { specialProduct.residue(modulo: $0) }
    specialProductModQ = productModQ
    var extended: [RNSBasis] = []
    var plans: [[ModUpPlan?]] = []
    var downs: [BasisConverter] = []
    for level in 0..<qCount {
      let extendedTables = Array(keyTables[0...level]) + Array(keyTables[qCount...])
      extended.append(RNSBasis(tables: extendedTables))
      var levelPlans: [ModUpPlan?] = []
      for digit in digits {
        let sourceLimbs = Array(digit.clamped(to: 0..<(level + 1)))
        guard !sourceLimbs.isEmpty else {
          levelPlans.append(nil)
          continue
        }
        let targetLimbs = (0..<(level + 1 + pCount)).filter { !sourceLimbs.contains($0) }
        let converter = BasisConverter(
          from: RNSBasis(tables: sourceLimbs.map { extendedTables[$0] }),
          to: RNSBasis(tables: targetLimbs.map { extendedTables[$0] }))
        levelPlans.append(ModUpPlan(converter: converter, sourceLimbs: sourceLimbs, targetLimbs: targetLimbs))
      }
      plans.append(levelPlans)
      downs.append(BasisConverter(from: specialBasis, to: keyBasis.prefix(level + 1)))
    }
    extendedBases = extended
    modUp = plans
    modDown = downs
    inverseSpecialProduct = ciphertextModuli.enumerated().map { i, q in
      let modulus = Modulus(q)
      return ShoupOperand(modulus.inverse(productModQ[i])!, modulus: modulus)
    }
  }

  /// Key-limb index of extended-basis limb `t` at `level` (Q_ℓ limbs, then P limbs).
  func keyLimb(_ t: Int, level: Int) -> Int {
    t <= level ? t : ciphertextPrimeCount + (t - level - 1)
  }

  // MARK: Key generation

  /// The key switching from `target` (s′, evaluation form over Q ∪ P) to `secretKey`.
  func makeKey(from target: RNSPolynomial<Evaluation>, secretKey: SecretKey, using generator: SecureRandomGenerator)
    -> KeySwitchingKey
  {
    let n = degree
    var result: [KeySwitchingDigit] = []
    for digit in digits {
      let seed = generator.makeSeed()
      let a = try! Sampler.uniform(in: keyBasis, seed: seed)
      var b = a * secretKey.polynomial
      b.negate()
      b.add(Sampler.gaussian(in: keyBasis, using: generator).forwardNTT())
      // + [P]_{q_i}·s′ on the digit's primes.
      target.residues.withUnsafeBufferPointer { sPrime in
        b.forEachLimb { limb, q, row in
          guard digit.contains(limb) else { return }
          let factor = ShoupOperand(specialProductModQ[limb], modulus: q)
          let source = sPrime.baseAddress! + limb * n
          for j in 0..<n { row[j] = q.add(row[j], q.multiplyShoup(source[j], by: factor.value, shoup: factor.shoup)) }
        }
      }
      result.append(KeySwitchingDigit(b: b, a: a, seed: seed))
    }
    return KeySwitchingKey(digits: result)
  }

  // MARK: Key switching

  /// Switches `d` (evaluation form at some level ℓ, multiplying s′) to `(c0, c1)` over Q_ℓ with
  /// `c0 + c1·s ≈ d·s′`.
  func switchKey(_ d: RNSPolynomial<Evaluation>, with key: KeySwitchingKey) -> (
    RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>
  ) {
    let level = d.basis.count - 1
    let n = degree
    let extended = extendedBases[level]
    let coefficients = d.inverseNTT()
    var accumulator0 = RNSPolynomial<Evaluation>(zeroIn: extended)
    var accumulator1 = RNSPolynomial<Evaluation>(zeroIn: extended)
    var raised = RNSPolynomial<Evaluation>(zeroIn: extended)
    for (digitIndex, plan) in modUp[level].enumerated() {
      guard let plan else { continue }
      // ModUp: the digit's residues extended to the other primes, then to evaluation form.
      let source = RNSPolynomial<Coefficient>(
        uncheckedBasis: plan.converter.source,
        residues: plan.sourceLimbs.flatMap { coefficients.limb($0) })
      let converted = plan.converter.convert(source).forwardNTT()
      raised.residues.withUnsafeMutableBufferPointer { out in
        d.residues.withUnsafeBufferPointer { original in
          for limb in plan.sourceLimbs {
            out.baseAddress!.advanced(by: limb * n).update(from: original.baseAddress! + limb * n, count: n)
          }
        }
        converted.residues.withUnsafeBufferPointer { converted in
          for (k, limb) in plan.targetLimbs.enumerated() {
            out.baseAddress!.advanced(by: limb * n).update(from: converted.baseAddress! + k * n, count: n)
          }
        }
      }
      let digit = key.digits[digitIndex]
      multiplyAccumulate(&accumulator0, raised, digit.b, level: level)
      multiplyAccumulate(&accumulator1, raised, digit.a, level: level)
    }
    return (modDown(accumulator0, level: level), modDown(accumulator1, level: level))
  }

  /// `accumulator += x · key` over Q_ℓ ∪ P, reading the key's matching limbs.
  private func multiplyAccumulate(
    _ accumulator: inout RNSPolynomial<Evaluation>, _ x: RNSPolynomial<Evaluation>, _ key: RNSPolynomial<Evaluation>,
    level: Int
  ) {
    let n = degree
    x.residues.withUnsafeBufferPointer { xBuffer in
      key.residues.withUnsafeBufferPointer { keyBuffer in
        accumulator.forEachLimb { limb, q, row in
          let a = xBuffer.baseAddress! + limb * n
          let b = keyBuffer.baseAddress! + keyLimb(limb, level: level) * n
          for j in 0..<n { row[j] = q.multiplyAdd(a[j], b[j], row[j]) }
        }
      }
    }
  }

  /// ModDown: from Q_ℓ ∪ P to Q_ℓ, `(c − FastConv([c]_P)) · P^-1` (exact up to a small error).
  private func modDown(_ c: RNSPolynomial<Evaluation>, level: Int) -> RNSPolynomial<Evaluation> {
    let n = degree
    let qLimbs = level + 1
    let pPart = RNSPolynomial<Evaluation>(uncheckedBasis: specialBasis, residues: Array(c.residues[(qLimbs * n)...]))
    let correction = modDown[level].convert(pPart.inverseNTT()).forwardNTT()
    var result = RNSPolynomial<Evaluation>(
      uncheckedBasis: keyBasis.prefix(qLimbs), residues: Array(c.residues[..<(qLimbs * n)]))
    correction.residues.withUnsafeBufferPointer { correctionBuffer in
      result.forEachLimb { limb, q, row in
        let inverse = inverseSpecialProduct[limb]
        let x = correctionBuffer.baseAddress! + limb * n
        for j in 0..<n {
          row[j] = q.multiplyShoup(q.subtract(row[j], x[j]), by: inverse.value, shoup: inverse.shoup)
        }
      }
    }
    return result
  }
}
