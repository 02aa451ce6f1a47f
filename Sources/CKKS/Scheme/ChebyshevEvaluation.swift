#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A polynomial `p(x) = Σ_k c_k·T_k(y)` in the Chebyshev basis on an interval [a, b], with
/// `y = (2x − a − b) / (b − a)` in [−1, 1]: the basis in which approximations of activations
/// stay well conditioned at high degree (power-basis coefficients of the same polynomial grow
/// like 2^d).
public struct ChebyshevSeries: Sendable, Equatable {
  /// `c_0 … c_d`.
  public let coefficients: [Double]
  public let interval: ClosedRange<Double>

  /// - Precondition: finite coefficients (at least one) and a finite interval of positive width.
  public init(coefficients: [Double], interval: ClosedRange<Double> = -1...1) {
    precondition(!coefficients.isEmpty && coefficients.allSatisfy(\.isFinite), "finite coefficients")
    precondition(
      interval.lowerBound.isFinite && interval.upperBound.isFinite && interval.upperBound > interval.lowerBound)
    self.coefficients = coefficients
    self.interval = interval
  }

  /// The interpolant of `function` at the d + 1 Chebyshev nodes of `interval` (degree d): close
  /// to the best uniform approximation of that degree for smooth functions.
  public init(interpolating function: (Double) -> Double, degree: Int, interval: ClosedRange<Double>) {
    precondition(degree >= 0)
    let count = degree + 1
    let nodes = (0..<count).map { j in cos(Double.pi * (Double(j) + 0.5) / Double(count)) }
    let (a, b) = (interval.lowerBound, interval.upperBound)
    let values = nodes.map { function(($0 * (b - a) + a + b) / 2) }
    let coefficients = (0..<count).map { k in
      let sum = zip(nodes, values).reduce(0.0) { $0 + $1.1 * cos(Double(k) * acos($1.0)) }
      return sum * (k == 0 ? 1 : 2) / Double(count)
    }
    self.init(coefficients: coefficients, interval: interval)
  }

  /// The degree (index of the last nonzero coefficient; 0 for a constant).
  public var degree: Int { coefficients.lastIndex { $0 != 0 } ?? 0 }

  /// `p(x)` in float64 (Clenshaw's recurrence).
  public func value(at x: Double) -> Double {
    let y = (2 * x - interval.lowerBound - interval.upperBound) / (interval.upperBound - interval.lowerBound)
    var (b1, b2) = (0.0, 0.0)
    for c in coefficients.dropFirst().reversed() { (b1, b2) = (2 * y * b1 - b2 + c, b1) }
    return y * b1 - b2 + coefficients[0]
  }

  /// The same polynomial in the power basis of y (exact for the small degrees of leaves: T_k has
  /// integer coefficients below 2^k).
  func powerCoefficients() -> [Double] {
    var result = [Double](repeating: 0, count: coefficients.count)
    var previous = [1.0]  // T_0
    var current = [0.0, 1.0]  // T_1
    for (k, c) in coefficients.enumerated() {
      let t = k == 0 ? previous : current
      for (i, value) in t.enumerated() { result[i] += c * value }
      if k >= 1 {
        // T_{k+1} = 2y·T_k − T_{k−1}
        var next = [0.0] + current.map { 2 * $0 }
        for (i, value) in previous.enumerated() { next[i] -= value }
        (previous, current) = (current, next)
      }
    }
    return result
  }

  /// `(q, r)` with `p = q·T_G + r`, `deg r < G`, for `G ≤ deg p < 2G` (from `T_G·T_j = (T_{G+j} + T_{G−j}) / 2`).
  func divided(byChebyshev g: Int) -> (quotient: [Double], remainder: [Double]) {
    let c = coefficients
    let d = degree
    precondition(g <= d && d < 2 * g)
    var quotient = [Double](repeating: 0, count: d - g + 1)
    var remainder = Array(c[0..<g])
    quotient[0] = c[g]
    for j in stride(from: 1, through: d - g, by: 1) {
      quotient[j] = 2 * c[g + j]
      remainder[g - j] -= c[g + j]
    }
    return (quotient, remainder)
  }
}

extension Evaluator {
  /// Evaluates a Chebyshev series slot-wise by baby-step/giant-step (Paterson–Stockmeyer in the
  /// Chebyshev basis, as in Bossuat et al. 2021): the series is split recursively as
  /// `q·T_G + r` by the giant steps `T_G` (G = m, 2m, 4m, …, from `T_2k = 2·T_k² − 1`), down to
  /// leaves of degree below m, which are evaluated in the power basis of y with the baby powers
  /// y, y², y⁴, …. Every constant is encoded at the scale that lands its term on the scale its
  /// sum needs, so terms meet exactly (up to the rounding additions tolerate) and the result has
  /// exactly `scale`.
  ///
  /// Depth: `⌈log2(d + 1)⌉` (optimal), plus one level to map [a, b] to [−1, 1] unless the
  /// interval is [−1, 1]. Inputs far outside the interval give meaningless results, as for any
  /// polynomial approximation.
  /// - Parameters:
  ///   - x: the input ciphertext (size 2) with at least ``chebyshevDepth(degree:interval:)`` levels.
  ///   - series: degree ≥ 1.
  ///   - babySteps: m, a power of two; by default the one nearest √(d + 1), at most 8 (leaves
  ///     are evaluated in the power basis, whose coefficients grow like 2^m).
  ///   - scale: the result's scale (default: the input's).
  /// - Returns: a ciphertext at level `x.level − chebyshevDepth(…)` with exactly `scale`.
  /// - Throws: ``EvaluationError/constantPolynomial`` for degree 0, ``EvaluationError/levelExhausted``
  ///   when `x` has too few levels, ``EvaluationError/invalidBabySteps(_:maximum:)`` for a bad `babySteps`,
  ///   ``EvaluationError/encoding(_:)`` when a constant does not fit, and the errors of the
  ///   underlying operations.
  public func evaluateChebyshev(
    _ x: Ciphertext, series: ChebyshevSeries, relinearizationKey: RelinearizationKey, encoder: CKKSEncoder,
    scale: Double? = nil, babySteps: Int? = nil
  ) throws(EvaluationError) -> Ciphertext {
    try check(x)
    guard x.size == 2 else { throw EvaluationError.notRelinearized(size: x.size) }
    let d = series.degree
    guard d >= 1 else { throw EvaluationError.constantPolynomial }
    let target = scale ?? x.scale
    let depth = Self.chebyshevDepth(degree: d, interval: series.interval)
    guard x.level >= depth else { throw EvaluationError.levelExhausted }
    var m = babySteps ?? 1
    if babySteps == nil {
      while m * m < d + 1, m < 8 { m *= 2 }
    }
    guard m >= 1, m & (m - 1) == 0 else {
      throw EvaluationError.invalidBabySteps(m, maximum: nil)
    }
    // y = αx + β (one level), or x itself on [−1, 1].
    var y = x
    if series.interval != -1...1 {
      let (a, b) = (series.interval.lowerBound, series.interval.upperBound)
      let q = Double(x.basis.moduli[x.level].value)
      y = try rescale(multiply(x, constant: 2 / (b - a), scale: q, encoder: encoder))
      y = try add(y, constant: -(a + b) / (b - a), scale: y.scale, encoder: encoder)
    }
    // Baby powers y^(2^k) for 2^k < m, and giant steps T_(2^k) for 2^k ≤ d.
    var powers = [y]
    while 1 << powers.count < m {
      let last = powers[powers.count - 1]
      powers.append(try rescale(relinearize(multiply(last, last), key: relinearizationKey)))
    }
    var giants: [Int: Ciphertext] = [1: y]
    var g = 1
    while 2 * g <= d {
      let t = giants[g]!
      let square = try rescale(relinearize(multiply(t, t), key: relinearizationKey))
      let doubled = try add(square, square)
      giants[2 * g] = try add(doubled, constant: -1, scale: doubled.scale, encoder: encoder)
      g *= 2
    }
    let context = ChebyshevContext(
      babySteps: m, powers: powers, giants: giants, encoder: encoder, relinearizationKey: relinearizationKey)
    var result = try chebyshevPart(series.coefficients, scale: target, level: x.level - depth, context)
    if result.scale != target {
      result = try add(result, constant: 0, scale: target, encoder: encoder)
    }
    return result
  }

  /// Levels ``evaluateChebyshev(_:series:relinearizationKey:encoder:scale:babySteps:)`` uses for
  /// degree `d`: ⌈log2(d + 1)⌉, plus one unless the interval is [−1, 1].
  public static func chebyshevDepth(degree d: Int, interval: ClosedRange<Double>) -> Int {
    var depth = 0
    while 1 << depth < d + 1 { depth += 1 }
    return depth + (interval == -1...1 ? 0 : 1)
  }

  struct ChebyshevContext {
    let babySteps: Int
    let powers: [Ciphertext]
    let giants: [Int: Ciphertext]
    let encoder: CKKSEncoder
    let relinearizationKey: RelinearizationKey
  }

  /// `Σ c_k·T_k(y)` (degree ≥ 1) at `level` with scale `scale` (up to rounding).
  private func chebyshevPart(_ c: [Double], scale s: Double, level: Int, _ context: ChebyshevContext)
    throws(EvaluationError) -> Ciphertext
  {
    let series = ChebyshevSeries(coefficients: c)
    let d = series.degree
    if d < context.babySteps {
      // Leaf: the power basis of y, every term landed on (s, level).
      let a = series.powerCoefficients()
      var sum: Ciphertext?
      for i in 1...d where a[i] != 0 {
        let term = try scaledTerm(
          power: i, constant: a[i], scale: s, level: level, powers: context.powers, encoder: context.encoder,
          relinearizationKey: context.relinearizationKey)
        sum = try sum.map { (sum) throws(EvaluationError) in try add(sum, term) } ?? term
      }
      guard let sum else { throw EvaluationError.constantPolynomial }
      return try add(sum, constant: a[0], scale: s, encoder: context.encoder)
    }
    var g = 1
    while 2 * g <= d { g *= 2 }
    let (quotient, remainder) = series.divided(byChebyshev: g)
    guard let giant = context.giants[g], giant.level >= level + 1 else { throw EvaluationError.levelExhausted }
    let t = try dropLevel(giant, to: level + 1)
    let prime = Double(t.basis.moduli[level + 1].value)
    // The quotient must come out at s·q / scale(T_G) so that the product rescales to s.
    let quotientScale = s * prime / t.scale
    let product: Ciphertext
    if ChebyshevSeries(coefficients: quotient).degree == 0 {
      product = try multiply(t, constant: quotient[0], scale: quotientScale, encoder: context.encoder)
    } else {
      let q = try chebyshevPart(quotient, scale: quotientScale, level: level + 1, context)
      product = try relinearize(multiply(q, t), key: context.relinearizationKey)
    }
    let result = try rescale(product)
    if ChebyshevSeries(coefficients: remainder).degree == 0 {
      return try add(result, constant: remainder[0], scale: s, encoder: context.encoder)
    }
    return try add(result, chebyshevPart(remainder, scale: s, level: level, context))
  }
}
