/// Polynomial evaluation for activations (e.g. polynomial approximations of the sigmoid).
///
/// `p(x) = Σ a_i·x^i` is evaluated in the power basis with depth `⌈log2(d + 1)⌉` for degree d:
/// the powers `x^(2^m)` come from repeated squaring, and each term `a_i·x^i` with
/// `i = 2^m + r` is `(a_i·x^r)·x^(2^m)`, so the constant is folded into the shallower factor
/// (for d = 3: `a_3·x^3 = (a_3·x)·x^2`, depth 2). Every term is steered to the target scale: a
/// constant is encoded at the scale that makes the product, after rescaling, land on it (up to
/// floating-point rounding, which additions tolerate), so all terms meet at one level and add;
/// the constant term, encoded at exactly the target scale, gives the result exactly that scale.
/// Numerical note: the power basis suits the small degrees and intervals of activations; high
/// degrees on wide intervals need the Chebyshev basis
/// (``evaluateChebyshev(_:series:relinearizationKey:encoder:scale:babySteps:)``).
extension Evaluator {
  /// Evaluates `p(x) = Σ coefficients[i]·x^i` slot-wise.
  /// - Parameters:
  ///   - x: the input ciphertext (size 2), at a level of at least `⌈log2(d + 1)⌉`.
  ///   - coefficients: `a_0 … a_d` (trailing zeros are ignored).
  ///   - relinearizationKey: needed when d ≥ 2.
  ///   - encoder: encodes the constants.
  ///   - scale: the scale of the result (default: the input's scale).
  /// - Returns: a ciphertext at level `x.level − ⌈log2(d + 1)⌉` with exactly `scale`.
  /// - Throws: ``EvaluationError/constantPolynomial`` for degree 0, ``EvaluationError/levelExhausted``
  ///   when `x` has too few levels, ``EvaluationError/encoding(_:)`` when a coefficient is not
  ///   finite or does not fit the modulus, and the errors of the underlying operations.
  public func evaluatePolynomial(
    _ x: Ciphertext, coefficients: [Double], relinearizationKey: RelinearizationKey?, encoder: CKKSEncoder,
    scale: Double? = nil
  ) throws(EvaluationError) -> Ciphertext {
    try check(x)
    guard x.size == 2 else { throw EvaluationError.notRelinearized(size: x.size) }
    let degree = coefficients.lastIndex(where: { $0 != 0 }) ?? 0
    guard degree >= 1 else { throw EvaluationError.constantPolynomial }
    guard coefficients.allSatisfy(\.isFinite) else {
      throw .encoding(.nonFiniteValue(index: coefficients.firstIndex { !$0.isFinite }!))
    }
    let target = scale ?? x.scale
    // ⌈log2(d + 1)⌉ levels: the bit width of d.
    let depth = degree.bitWidthNeeded
    guard x.level >= depth else { throw EvaluationError.levelExhausted }
    let outputLevel = x.level - depth
    // Powers x^(2^m), each one level below the previous.
    var powers = [x]
    while 1 << powers.count <= degree {
      guard let key = relinearizationKey else { throw EvaluationError.keySwitchingUnavailable }
      let last = powers[powers.count - 1]
      powers.append(try rescale(relinearize(multiply(last, last), key: key)))
    }
    var sum: Ciphertext?
    for i in 1...degree where coefficients[i] != 0 {
      let term = try scaledTerm(
        power: i, constant: coefficients[i], scale: target, level: outputLevel, powers: powers, encoder: encoder,
        relinearizationKey: relinearizationKey)
      sum = try sum.map { (sum) throws(EvaluationError) in try add(sum, term) } ?? term
    }
    // degree ≥ 1 guarantees at least one term.
    return try add(sum!, constant: coefficients[0], scale: target, encoder: encoder)
  }

  /// `c·x^i` at `level` with `scale` (up to rounding), from `powers` = x, x², x⁴, ….
  func scaledTerm(
    power i: Int, constant c: Double, scale target: Double, level: Int, powers: [Ciphertext], encoder: CKKSEncoder,
    relinearizationKey: RelinearizationKey?
  ) throws(EvaluationError) -> Ciphertext {
    let m = i.bitWidthNeeded - 1  // 2^m ≤ i < 2^(m+1)
    let r = i - (1 << m)
    let base = powers[m]
    let productLevel = base.level
    let q = Double(base.basis.moduli[productLevel].value)
    // The factor multiplying x^(2^m) must have scale target·q / scale(x^(2^m)) at productLevel.
    let factorScale = target * q / base.scale
    let product: Ciphertext
    if r == 0 {
      product = try multiply(base, constant: c, scale: factorScale, encoder: encoder)
    } else {
      guard let key = relinearizationKey else { throw EvaluationError.keySwitchingUnavailable }
      let factor = try scaledTerm(
        power: r, constant: c, scale: factorScale, level: productLevel, powers: powers, encoder: encoder,
        relinearizationKey: relinearizationKey)
      product = try relinearize(multiply(factor, base), key: key)
    }
    return try dropLevel(rescale(product), to: level)
  }
}

extension Int {
  /// The number of bits needed to write the value (0 for 0): `⌊log2(self)⌋ + 1`.
  fileprivate var bitWidthNeeded: Int { self <= 0 ? 0 : Int.bitWidth - leadingZeroBitCount }
}
