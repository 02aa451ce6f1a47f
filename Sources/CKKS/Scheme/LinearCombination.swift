extension Evaluator {
  /// `Σ_i c_i · a_i` with the integer constants `c_i = round(w_i · constantScale)`: a weighted sum
  /// of ciphertexts by real weights in one pass, with no plaintext encoding and no temporary
  /// ciphertexts (a constant's NTT form is the constant itself modulo each prime). The scale
  /// becomes `a.scale · constantScale`; choose `constantScale` equal to the last prime to rescale
  /// back to exactly `a.scale`.
  /// - Parameters:
  ///   - ciphertexts: at least one, all at one level, one scale and one size.
  ///   - weights: one finite weight per ciphertext, `|w_i · constantScale| < 2^62`.
  ///   - constantScale: finite and positive.
  /// - Throws: ``EvaluationError/invalidLinearCombination(_:)`` for counts, weights or a scale
  ///   outside those ranges; level, scale or parameter mismatches as for ``add(_:_:)-(Ciphertext,Ciphertext)``.
  public func linearCombination(_ ciphertexts: [Ciphertext], weights: [Double], constantScale: Double)
    throws(EvaluationError) -> Ciphertext
  {
    guard !ciphertexts.isEmpty, ciphertexts.count == weights.count else {
      throw .invalidLinearCombination("\(ciphertexts.count) ciphertexts for \(weights.count) weights")
    }
    guard constantScale.isFinite, constantScale > 0 else {
      throw .invalidLinearCombination("constant scale \(constantScale) must be finite and positive")
    }
    let first = ciphertexts[0]
    for ciphertext in ciphertexts {
      try check(ciphertext)
      guard ciphertext.level == first.level else { throw .levelMismatch(first.level, ciphertext.level) }
      guard ciphertext.scale == first.scale else { throw .scaleMismatch(first.scale, ciphertext.scale) }
      guard ciphertext.size == first.size else {
        throw .invalidLinearCombination("sizes differ: \(first.size) and \(ciphertext.size)")
      }
    }
    var constants: [Int64] = []
    for weight in weights {
      let scaled = (weight * constantScale).rounded()
      guard scaled.isFinite, abs(scaled) < 0x1p62 else {
        throw .invalidLinearCombination("weight \(weight) times the constant scale is not below 2^62")
      }
      constants.append(Int64(scaled))
    }
    let basis = first.basis
    let n = basis.degree
    // Per prime, each constant modulo q with its Shoup factor.
    let operands: [[ShoupOperand]] = basis.moduli.map { q in
      constants.map { c in
        let magnitude = c.magnitude % q.value
        return ShoupOperand(c >= 0 || magnitude == 0 ? magnitude : q.value - magnitude, modulus: q)
      }
    }
    var polynomials: [RNSPolynomial<Evaluation>] = []
    for index in 0..<first.size {
      var sum = RNSPolynomial<Evaluation>(zeroIn: basis)
      sum.forEachLimb { limb, q, row in
        let factors = operands[limb]
        for (term, ciphertext) in ciphertexts.enumerated() {
          let factor = factors[term]
          ciphertext.polynomials[index].residues.withUnsafeBufferPointer { source in
            // Invariant: residues and the running sum are in [0, q); the Shoup product of a
            // residue by a constant below q is in [0, q), so each step stays in [0, q).
            let x = source.baseAddress! + limb * n
            for j in 0..<n {
              assert(x[j] < q.value && row[j] < q.value)
              row[j] = q.add(row[j], q.multiplyShoup(x[j], by: factor.value, shoup: factor.shoup))
            }
          }
        }
      }
      polynomials.append(sum)
    }
    return Ciphertext(polynomials: polynomials, scale: first.scale * constantScale)
  }
}
