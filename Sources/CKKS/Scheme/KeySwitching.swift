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

  /// The digits of a polynomial raised to Q_ℓ ∪ P (evaluation form), ready to be multiplied by a
  /// key; computing them is the expensive half of key switching, shared by hoisted rotations.
  struct RaisedDigits {
    let level: Int
    /// Key digit index of each raised digit.
    let digitIndices: [Int]
    /// Digit k occupies `[k·rowLength, (k+1)·rowLength)`.
    var residues: [UInt64]
    let rowLength: Int
  }

  /// Switches `d` (evaluation form at some level ℓ, multiplying s′) to `(c0, c1)` over Q_ℓ with
  /// `c0 + c1·s ≈ d·s′`.
  func switchKey(_ d: RNSPolynomial<Evaluation>, with key: KeySwitchingKey) -> (
    RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>
  ) {
    finish(raise(d), with: key)
  }

  /// ModUp of every digit of `d`: the digit's own limbs are d itself (already in evaluation
  /// form); the other limbs are the fast basis conversion of the digit's coefficients,
  /// transformed in place.
  func raise(_ d: RNSPolynomial<Evaluation>) -> RaisedDigits {
    let level = d.basis.count - 1
    let n = degree
    let extended = extendedBases[level]
    let tables = extended.nttTables
    let coefficients = d.inverseNTT()
    var scratch = [UInt64](repeating: 0, count: (level + 1) * n)
    let plans = modUp[level].enumerated().compactMap { index, plan in plan.map { (index, $0) } }
    let rowLength = extended.count * n
    var raised = [UInt64](repeating: 0, count: plans.count * rowLength)
    coefficients.residues.withUnsafeBufferPointer { source in
      d.residues.withUnsafeBufferPointer { original in
        raised.withUnsafeMutableBufferPointer { out in
          scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            for (k, (_, plan)) in plans.enumerated() {
              let base = out.baseAddress! + k * rowLength
              plan.converter.convert(
                sources: plan.sourceLimbs.map { source.baseAddress! + $0 * n },
                targets: plan.targetLimbs.map { base + $0 * n },
                scratch: scratchBuffer.baseAddress!)
              for limb in plan.targetLimbs { tables[limb].forward(base + limb * n) }
              for limb in plan.sourceLimbs {
                (base + limb * n).update(from: original.baseAddress! + limb * n, count: n)
              }
            }
          }
        }
      }
    }
    return RaisedDigits(level: level, digitIndices: plans.map(\.0), residues: raised, rowLength: rowLength)
  }

  /// Applies the Galois permutation (evaluation form) to every limb of every raised digit; an
  /// automorphism commutes with the digit decomposition, so this equals raising σ(d).
  func permuted(_ raised: RaisedDigits, by permutation: [Int]) -> RaisedDigits {
    let n = degree
    var result = raised
    raised.residues.withUnsafeBufferPointer { source in
      result.residues.withUnsafeMutableBufferPointer { out in
        permutation.withUnsafeBufferPointer { map in
          for row in 0..<(raised.residues.count / n) {
            let input = source.baseAddress! + row * n
            let output = out.baseAddress! + row * n
            for j in 0..<n { output[j] = input[map[j]] }
          }
        }
      }
    }
    return result
  }

  /// The inner products of raised digits with `key`, followed by ModDown to Q_ℓ.
  func finish(_ raised: RaisedDigits, with key: KeySwitchingKey) -> (
    RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>
  ) {
    let level = raised.level
    let extended = extendedBases[level]
    var scratch = [UInt64](repeating: 0, count: max(level + 1, specialBasis.count) * degree)
    var accumulator0 = RNSPolynomial<Evaluation>(zeroIn: extended)
    var accumulator1 = RNSPolynomial<Evaluation>(zeroIn: extended)
    let digits = raised.digitIndices.map { key.digits[$0] }
    withRows(digits.map(\.b.residues)[...], []) { bRows in
      withRows(digits.map(\.a.residues)[...], []) { aRows in
        raised.residues.withUnsafeBufferPointer { raisedBuffer in
          innerProducts(
            &accumulator0, &accumulator1, raised: raisedBuffer.baseAddress!, rowLength: raised.rowLength, b: bRows,
            a: aRows, level: level)
        }
      }
    }
    return (
      modDown(&accumulator0, level: level, scratch: &scratch), modDown(&accumulator1, level: level, scratch: &scratch)
    )
  }

  /// Calls `body` with a base pointer for each array (no copies), by nesting their scopes.
  private func withRows<R>(
    _ arrays: ArraySlice<[UInt64]>, _ collected: [UnsafePointer<UInt64>], _ body: ([UnsafePointer<UInt64>]) -> R
  ) -> R {
    guard let first = arrays.first else { return body(collected) }
    return first.withUnsafeBufferPointer { withRows(arrays.dropFirst(), collected + [$0.baseAddress!], body) }
  }

  /// `acc0 = Σ_k raised_k · b_k` and `acc1 = Σ_k raised_k · a_k` over Q_ℓ ∪ P, reading the keys'
  /// matching limbs. Sums stay in 128 bits (each product < 2^122, so up to 64 digits fit) and are
  /// reduced once per coefficient instead of once per digit.
  private func innerProducts(
    _ accumulator0: inout RNSPolynomial<Evaluation>, _ accumulator1: inout RNSPolynomial<Evaluation>,
    raised: UnsafePointer<UInt64>, rowLength: Int, b: [UnsafePointer<UInt64>], a: [UnsafePointer<UInt64>], level: Int
  ) {
    precondition(b.count <= 64 && a.count == b.count)
    let n = degree
    let count = b.count
    let moduli = accumulator0.basis.moduli
    accumulator0.residues.withUnsafeMutableBufferPointer { out0 in
      accumulator1.residues.withUnsafeMutableBufferPointer { out1 in
        for limb in 0..<moduli.count {
          let q = moduli[limb]
          let keyOffset = keyLimb(limb, level: level) &* n
          let offset = limb &* n
          for j in 0..<n {
            var high0: UInt64 = 0
            var low0: UInt64 = 0
            var high1: UInt64 = 0
            var low1: UInt64 = 0
            for k in 0..<count {
              let value = raised[k &* rowLength &+ offset &+ j]
              let p0 = value.multipliedFullWidth(by: b[k][keyOffset &+ j])
              let (s0, c0) = low0.addingReportingOverflow(p0.low)
              low0 = s0
              high0 = high0 &+ p0.high &+ (c0 ? 1 : 0)
              let p1 = value.multipliedFullWidth(by: a[k][keyOffset &+ j])
              let (s1, c1) = low1.addingReportingOverflow(p1.low)
              low1 = s1
              high1 = high1 &+ p1.high &+ (c1 ? 1 : 0)
            }
            out0[offset &+ j] = q.reduce(high: high0, low: low0)
            out1[offset &+ j] = q.reduce(high: high1, low: low1)
          }
        }
      }
    }
  }

  /// ModDown: from Q_ℓ ∪ P to Q_ℓ, `(c − FastConv([c]_P)) · P^-1` (exact up to a small error).
  /// Uses `c`'s P limbs and the first rows of `scratch` as working space.
  private func modDown(_ c: inout RNSPolynomial<Evaluation>, level: Int, scratch: inout [UInt64]) -> RNSPolynomial<
    Evaluation
  > {
    let n = degree
    let qLimbs = level + 1
    let pLimbs = specialBasis.count
    let tables = extendedBases[level].nttTables
    var result = RNSPolynomial<Evaluation>(zeroIn: keyBasis.prefix(qLimbs))
    var correction = [UInt64](repeating: 0, count: qLimbs * n)
    c.residues.withUnsafeMutableBufferPointer { cBuffer in
      let base = cBuffer.baseAddress!
      for k in 0..<pLimbs { tables[qLimbs + k].inverse(base + (qLimbs + k) * n) }
      correction.withUnsafeMutableBufferPointer { correctionBuffer in
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
          modDown[level].convert(
            sources: (0..<pLimbs).map { UnsafePointer(base + (qLimbs + $0) * n) },
            targets: (0..<qLimbs).map { correctionBuffer.baseAddress! + $0 * n },
            scratch: scratchBuffer.baseAddress!)
        }
        for i in 0..<qLimbs { tables[i].forward(correctionBuffer.baseAddress! + i * n) }
        result.forEachLimb { limb, q, row in
          let inverse = inverseSpecialProduct[limb]
          let x = correctionBuffer.baseAddress! + limb * n
          let y = base + limb * n
          for j in 0..<n {
            row[j] = q.multiplyShoup(q.subtract(y[j], x[j]), by: inverse.value, shoup: inverse.shoup)
          }
        }
      }
    }
    return result
  }
}
