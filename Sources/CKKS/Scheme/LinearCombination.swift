extension Evaluator {
  /// `Σ_i c_i · a_i` with the integer constants `c_i = round(w_i · constantScale)`: a weighted sum
  /// of ciphertexts by real weights in one pass, with no plaintext encoding and no temporary
  /// ciphertexts (a constant's NTT form is the constant itself modulo each prime). The scale
  /// becomes `a.scale · constantScale`; choose `constantScale` equal to the last prime to rescale
  /// back to exactly `a.scale`.
  /// - Parameters:
  ///   - ciphertexts: at least one, all at one level, one size and one scale (up to
  ///     ``scaleTolerance``; the smallest is kept).
  ///   - weights: one finite weight per ciphertext, `|w_i · constantScale| < 2^62`.
  ///   - constantScale: finite and positive.
  /// - Throws: ``EvaluationError/invalidLinearCombination(_:)`` for counts, weights or a scale
  ///   outside those ranges; level, scale or parameter mismatches as for additions.
  public func linearCombination(_ ciphertexts: [Ciphertext], weights: [Double], constantScale: Double)
    throws(EvaluationError) -> Ciphertext
  {
    try linearCombinations(ciphertexts, weights: [weights], constantScale: constantScale)[0]
  }

  /// Several weighted sums of the same ciphertexts at once, one per row of `weights` (e.g. the
  /// channels of a convolution whose inputs are one ciphertext per kernel position): each input is
  /// read once for all rows, and the work is spread over the evaluator's threads. Same rules and
  /// scales as ``linearCombination(_:weights:constantScale:)`` for every row.
  /// - Throws: as ``linearCombination(_:weights:constantScale:)``, also for no rows at all.
  public func linearCombinations(_ ciphertexts: [Ciphertext], weights: [[Double]], constantScale: Double)
    throws(EvaluationError) -> [Ciphertext]
  {
    guard !ciphertexts.isEmpty, !weights.isEmpty, weights.allSatisfy({ $0.count == ciphertexts.count }) else {
      throw .invalidLinearCombination(
        "\(ciphertexts.count) ciphertexts for \(weights.map { String($0.count) }.joined(separator: ", ")) weights")
    }
    guard constantScale.isFinite, constantScale > 0 else {
      throw .invalidLinearCombination("constant scale \(constantScale) must be finite and positive")
    }
    let first = ciphertexts[0]
    for ciphertext in ciphertexts {
      try check(ciphertext)
      guard ciphertext.level == first.level else { throw .levelMismatch(first.level, ciphertext.level) }
      guard Self.isSameScale(ciphertext.scale, first.scale) else { throw .scaleMismatch(first.scale, ciphertext.scale) }
      guard ciphertext.size == first.size else {
        throw .invalidLinearCombination("sizes differ: \(first.size) and \(ciphertext.size)")
      }
    }
    var constants: [[Int64]] = []
    for row in weights {
      var rowConstants: [Int64] = []
      for weight in row {
        guard let constant = Self.roundedConstant(weight, scale: constantScale) else {
          throw .invalidLinearCombination("weight \(weight) times the constant scale is not below 2^62")
        }
        rowConstants.append(constant)
      }
      constants.append(rowConstants)
    }
    let basis = first.basis
    let n = basis.degree
    let (terms, outputs, size, limbs) = (ciphertexts.count, weights.count, first.size, basis.count)
    // Per prime, then term, then output: the constant modulo q with its Shoup factor.
    var factors: [UInt64] = []
    var shoupFactors: [UInt64] = []
    for q in basis.moduli {
      for t in 0..<terms {
        for o in 0..<outputs {
          let operand = ShoupOperand(Self.residue(constants[o][t], modulo: q), modulus: q)
          factors.append(operand.value)
          shoupFactors.append(operand.shoup)
        }
      }
    }
    // Sums by output, then polynomial, then limb: every (polynomial, limb) row is independent.
    var sums = [UInt64](repeating: 0, count: outputs * size * limbs * n)
    sums.withUnsafeMutableBufferPointer { sumBuffer in
      factors.withUnsafeBufferPointer { w in
        shoupFactors.withUnsafeBufferPointer { wShoup in
          for index in 0..<size {
            withBaseAddresses(of: ciphertexts.lazy.map { $0.polynomials[index].residues }) { sources in
              parallelForEach(limbs, threads: threads) { limb, _ in
                let q = basis.moduli[limb]
                let twiceQ = 2 &* q.value
                for t in 0..<terms {
                  let source = sources[t] + limb * n
                  for o in 0..<outputs {
                    let factor = (limb * terms + t) * outputs + o
                    let (weight, shoup) = (w[factor], wShoup[factor])
                    let sum = sumBuffer.baseAddress! + ((o * size + index) * limbs + limb) * n
                    for j in 0..<n {
                      // Invariant: a lazy Shoup product is in [0, 2q) and every running sum is kept
                      // in [0, 2q) (4q < 2^64 for the primes below 2^61): a sum of two such values
                      // below 4q loses 2q when that does not wrap, and min picks the right one.
                      assert(source[j] < q.value && sum[j] < twiceQ)
                      let added = sum[j] &+ q.multiplyShoupLazy(source[j], by: weight, shoup: shoup)
                      sum[j] = min(added, added &- twiceQ)
                    }
                  }
                }
                for o in 0..<outputs {
                  let sum = sumBuffer.baseAddress! + ((o * size + index) * limbs + limb) * n
                  for j in 0..<n { sum[j] = q.reduceOnce(sum[j]) }
                }
              }
            }
          }
        }
      }
    }
    let scale = ciphertexts.lazy.map(\.scale).min()! * constantScale
    let rowLength = limbs * n
    return (0..<outputs).map { o in
      Ciphertext(
        polynomials: (0..<size).map { index in
          let start = (o * size + index) * rowLength
          return RNSPolynomial<Evaluation>(uncheckedBasis: basis, residues: Array(sums[start..<(start + rowLength)]))
        }, scale: scale)
    }
  }

  /// `a + value`: the constant added to every slot at `a`'s scale (in NTT form a constant is the
  /// same residue everywhere, so nothing is encoded). The scale is unchanged.
  /// - Throws: ``EvaluationError/invalidLinearCombination(_:)`` when `value · scale` is not
  ///   finite or not below 2^62; a parameter mismatch for a foreign ciphertext.
  public func add(_ a: Ciphertext, constant value: Double) throws(EvaluationError) -> Ciphertext {
    try check(a)
    guard let constant = Self.roundedConstant(value, scale: a.scale) else {
      throw .invalidLinearCombination("constant \(value) at scale \(a.scale) is not below 2^62")
    }
    var result = a
    result.polynomials[0].forEachLimb { _, q, row in
      let residue = Self.residue(constant, modulo: q)
      for j in 0..<a.basis.degree { row[j] = q.add(row[j], residue) }
    }
    result.seed = nil
    return result
  }

  /// `a · value` with the constant at `scale` (scale `a.scale · scale`): the scalar
  /// `round(value · scale)` times every residue, which is what multiplying by the encoded
  /// constant does, without encoding it; `encoder` encodes it when the scalar reaches 2^62.
  func multiply(_ a: Ciphertext, constant value: Double, scale: Double, encoder: CKKSEncoder)
    throws(EvaluationError) -> Ciphertext
  {
    guard let constant = Self.roundedConstant(value, scale: scale) else {
      return try multiply(
        a,
        encodingStep { () throws(EncodingError) in try encoder.encode(constant: value, scale: scale, level: a.level) })
    }
    try check(a)
    var result = a
    for i in 0..<result.size { result.polynomials[i].multiply(byScalar: constant) }
    result.scale = a.scale * scale
    result.seed = nil
    return result
  }

  /// `a + value` with the constant at `scale`, which must be `a`'s up to ``scaleTolerance``; the
  /// result has exactly `scale` (as adding the encoded constant would), without encoding it.
  func add(_ a: Ciphertext, constant value: Double, scale: Double, encoder: CKKSEncoder)
    throws(EvaluationError) -> Ciphertext
  {
    guard Self.isSameScale(a.scale, scale) else { throw EvaluationError.scaleMismatch(a.scale, scale) }
    guard Self.roundedConstant(value, scale: scale) != nil else {
      return try add(
        a,
        encodingStep { () throws(EncodingError) in try encoder.encode(constant: value, scale: scale, level: a.level) })
    }
    var shifted = a
    shifted.scale = scale
    return try add(shifted, constant: value)
  }

  /// `round(value · scale)` when it is finite and below 2^62 in magnitude.
  static func roundedConstant(_ value: Double, scale: Double) -> Int64? {
    let scaled = (value * scale).rounded()
    guard scaled.isFinite, abs(scaled) < 0x1p62 else { return nil }
    return Int64(scaled)
  }

  /// `c mod q` in `[0, q)` for a signed `c`.
  static func residue(_ c: Int64, modulo q: Modulus) -> UInt64 {
    let magnitude = c.magnitude % q.value
    return c >= 0 || magnitude == 0 ? magnitude : q.value - magnitude
  }
}
