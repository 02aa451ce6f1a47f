/// An odd modulus `q` with `3 ≤ q < 2^61` and the constants that make reduction by it cheap.
///
/// Every routine states the range of its inputs and of its result. "Lazy" routines return
/// values in `[0, 2q)` (or `[0, 4q)`) and leave the final conditional subtraction to the
/// caller; the bound `q < 2^61` keeps `4q < 2^63`, so lazy sums of two such values never wrap.
///
/// Nothing here is constant time with respect to the modulus (it is public); the routines
/// on residues use only branch-free selects on data, except where a name says `variableTime`.
public struct Modulus: Sendable, Hashable, CustomStringConvertible {
  /// Largest supported bit width of a modulus (4q must fit comfortably in a `UInt64`).
  public static let maximumBitWidth = 61

  /// The modulus `q`.
  public let value: UInt64
  /// `ceil(log2(q + 1))`, the number of bits needed to store a residue.
  public let bitWidth: Int
  /// `2q`, kept for lazy reductions.
  @usableFromInline let twiceValue: UInt64
  /// High word of `floor(2^128 / q)`, which equals `floor(2^64 / q)` for q that is not a power of 2.
  @usableFromInline let barrettHigh: UInt64
  /// Low word of `floor(2^128 / q)`.
  @usableFromInline let barrettLow: UInt64
  /// `bitWidth − 2`: the shift that brings a product of residues into one word for ``reduceProduct(high:low:)``.
  @usableFromInline let productShift: UInt64
  /// `floor(2^(bitWidth + 62) / q)`, below 2^63: the one-word Barrett constant of ``reduceProduct(high:low:)``.
  @usableFromInline let productBarrett: UInt64

  /// Creates the modulus and its Barrett constants.
  /// - Precondition: `q` is odd, `3 ≤ q < 2^61`. (Programmer error; validated parameter sets never violate it.)
  public init(_ value: UInt64) {
    precondition(value >= 3 && value & 1 == 1, "modulus must be odd and at least 3")
    precondition(value < (1 << UInt64(Modulus.maximumBitWidth)), "modulus must be below 2^61")
    self.value = value
    self.bitWidth = UInt64.bitWidth - value.leadingZeroBitCount
    self.twiceValue = value &* 2
    let exact = Modulus.floorTwoPow128Over(value)
    self.barrettHigh = exact.high
    self.barrettLow = exact.low
    // 2^(k+62) as a double word is (2^(k−2), 0), and 2^(k−2) < q, so one word division suffices.
    self.productShift = UInt64(bitWidth - 2)
    self.productBarrett = value.dividingFullWidth((1 << UInt64(bitWidth - 2), 0)).quotient
  }

  /// The largest `x` (exclusive) that ``reduceProduct(high:low:)`` accepts: `2^(bitWidth + 61)`,
  /// as a bit count. A product of two residues (`< q² < 2^(2·bitWidth)`) always qualifies.
  public var productReductionBits: Int { bitWidth + 61 }

  /// `floor(2^128 / q)` as two words, by long division of `2^128` by `q`.
  private static func floorTwoPow128Over(_ q: UInt64) -> (high: UInt64, low: UInt64) {
    // 2^128 = (2^64) * 2^64. First word: floor(2^64 / q) with remainder r1; then (r1 * 2^64) / q.
    let (q1, r1) = q.dividingFullWidth((1, 0))
    let (q0, _) = q.dividingFullWidth((r1, 0))
    return (q1, q0)
  }

  /// `Modulus(q)`.
  public var description: String { "Modulus(\(value))" }

  // MARK: Reduction

  /// Reduces a full 64-bit word: `x mod q` in `[0, q)` for any `x`.
  @inlinable @inline(__always)
  public func reduce(_ x: UInt64) -> UInt64 {
    // Estimate floor(x/q) with floor(x * floor(2^64/q) / 2^64); the error is at most 1.
    let quotient = x.multipliedFullWidth(by: barrettHigh).high
    let remainder = x &- quotient &* value
    return remainder >= value ? remainder &- value : remainder
  }

  /// Barrett reduction of a 128-bit value `(high, low)`: returns `x mod q` in `[0, q)`.
  /// Valid for every `x < 2^128` (in particular every product of two residues).
  @inlinable @inline(__always)
  public func reduce(high: UInt64, low: UInt64) -> UInt64 {
    let remainder = reduceLazy(high: high, low: low)
    return remainder >= value ? remainder &- value : remainder
  }

  /// Lazy Barrett reduction of a 128-bit value: a representative of `x mod q` in `[0, 2q)`.
  ///
  /// Computes `floor(x * floor(2^128/q) / 2^128)` exactly, which underestimates `floor(x/q)`
  /// by at most one, so the remainder lies in `[0, 2q)`. Only the low word of the quotient
  /// is needed because the remainder is known to be small.
  @inlinable @inline(__always)
  public func reduceLazy(high: UInt64, low: UInt64) -> UInt64 {
    let lowTimesLow = low.multipliedFullWidth(by: barrettLow).high
    let lowTimesHigh = low.multipliedFullWidth(by: barrettHigh)
    let highTimesLow = high.multipliedFullWidth(by: barrettLow)
    let (middle, carry1) = lowTimesHigh.low.addingReportingOverflow(highTimesLow.low)
    let (_, carry2) = middle.addingReportingOverflow(lowTimesLow)
    let quotient =
      high &* barrettHigh &+ lowTimesHigh.high &+ highTimesLow.high
      &+ (carry1 ? 1 : 0) &+ (carry2 ? 1 : 0)
    return low &- quotient &* value
  }

  /// Reduction of a double word `x < 2^(bitWidth + 61)` (e.g. a product of two residues, or a
  /// sum of a few) to `[0, q)` with one full and one low multiplication.
  ///
  /// Shifted Barrett: with k = bitWidth, t = ⌊x / 2^(k−2)⌋ < 2^63 and μ = ⌊2^(k+62)/q⌋, the
  /// estimate ⌊t·μ / 2^64⌋ undershoots ⌊x/q⌋ by at most one (the truncation of x costs < 1/2 and
  /// that of μ < t/2^64 < 1/2), so `x − estimate·q` lies in `[0, 2q)` before the final subtraction.
  @inlinable @inline(__always)
  public func reduceProduct(high: UInt64, low: UInt64) -> UInt64 {
    // high < 2^(k−3), so the left shift by 66 − k = 64 − shift (≥ 5) loses nothing; for k = 2 the masked shift
    // count is 0 and high is 0.
    let shifted = (high &<< (64 &- productShift)) | (low &>> productShift)
    let estimate = shifted.multipliedFullWidth(by: productBarrett).high
    return reduceOnce(low &- estimate &* value)
  }

  /// Reduction of a double word `x < 2^(bitWidth + 62)` to `[0, q)`, e.g. a sum of up to four
  /// products of 60-bit residues: the estimate of ``reduceProduct(high:low:)`` now undershoots by
  /// at most two (t < 2^64 makes the truncation of μ cost < 1), so two conditional subtractions.
  @inlinable @inline(__always)
  public func reduceProductSum(high: UInt64, low: UInt64) -> UInt64 {
    // high < 2^(k−2): the shift by 66 − k still loses nothing.
    let shifted = (high &<< (64 &- productShift)) | (low &>> productShift)
    let estimate = shifted.multipliedFullWidth(by: productBarrett).high
    let remainder = low &- estimate &* value
    // remainder ∈ [0, 3q): subtract 2q when it fits (the wrapped difference is larger otherwise), then q.
    return reduceOnce(min(remainder, remainder &- twiceValue))
  }

  /// Maps a value in `[0, 2q)` to `[0, q)`.
  @inlinable @inline(__always)
  public func reduceOnce(_ x: UInt64) -> UInt64 {
    x >= value ? x &- value : x
  }

  /// Reduces a signed integer to `[0, q)`.
  @inlinable
  public func reduce(signed x: Int64) -> UInt64 {
    if x >= 0 { return reduce(UInt64(x)) }
    let magnitude = reduce(x.magnitude)
    return magnitude == 0 ? 0 : value &- magnitude
  }

  // MARK: Arithmetic on residues in [0, q)

  /// `(a + b) mod q` for `a, b` in `[0, q)`; result in `[0, q)`.
  @inlinable @inline(__always)
  public func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
    reduceOnce(a &+ b)
  }

  /// `(a - b) mod q` for `a, b` in `[0, q)`; result in `[0, q)`.
  @inlinable @inline(__always)
  public func subtract(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let difference = a &- b
    return a >= b ? difference : difference &+ value
  }

  /// `-a mod q` for `a` in `[0, q)`; result in `[0, q)`.
  @inlinable @inline(__always)
  public func negate(_ a: UInt64) -> UInt64 {
    a == 0 ? 0 : value &- a
  }

  /// `(a * b) mod q` for residues `a, b` in `[0, q)`; result in `[0, q)`.
  /// (For arbitrary words use ``reduce(high:low:)`` on the full product.)
  @inlinable @inline(__always)
  public func multiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
    assert(a < value && b < value, "multiply takes residues below q")
    let product = a.multipliedFullWidth(by: b)
    return reduceProduct(high: product.high, low: product.low)
  }

  /// `(a * b + c) mod q` for residues `a, b, c` in `[0, q)`; result in `[0, q)`.
  @inlinable @inline(__always)
  public func multiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
    assert(a < value && b < value && c < value, "multiplyAdd takes residues below q")
    // a·b + c < q² + q < 2^(2·bitWidth): within reduceProduct's range.
    let product = a.multipliedFullWidth(by: b)
    let (low, carry) = product.low.addingReportingOverflow(c)
    return reduceProduct(high: product.high &+ (carry ? 1 : 0), low: low)
  }

  /// `base^exponent mod q` by square-and-multiply; `base` any word, result in `[0, q)`.
  /// Not constant time in the exponent (exponents here are public).
  public func power(_ base: UInt64, _ exponent: UInt64) -> UInt64 {
    var result: UInt64 = 1
    var square = reduce(base)
    var remaining = exponent
    while remaining > 0 {
      if remaining & 1 == 1 { result = multiply(result, square) }
      square = multiply(square, square)
      remaining >>= 1
    }
    return result
  }

  /// The inverse of `a` modulo `q`, or `nil` when `gcd(a, q) ≠ 1`. Works for composite `q`.
  /// Uses the extended Euclidean algorithm (variable time; inputs here are public constants).
  public func inverse(_ a: UInt64) -> UInt64? {
    var (oldR, r) = (Int128(reduce(a)), Int128(value))
    var (oldS, s) = (Int128(1), Int128(0))
    while r != 0 {
      let quotient = oldR / r
      (oldR, r) = (r, oldR - quotient * r)
      (oldS, s) = (s, oldS - quotient * s)
    }
    guard oldR == 1 else { return nil }
    let q = Int128(value)
    return UInt64(((oldS % q) + q) % q)
  }

  // MARK: Shoup multiplication by a precomputed constant

  /// Precomputes `floor(w * 2^64 / q)` for multiplying many values by the residue `w`.
  /// - Precondition: `w < q`.
  @inlinable
  public func shoupConstant(for w: UInt64) -> UInt64 {
    precondition(w < value, "Shoup operand must be reduced")
    return value.dividingFullWidth((w, 0)).quotient
  }

  /// Lazy Shoup product: a representative of `x * w mod q` in `[0, 2q)`, for any `x < 2^64`,
  /// `w < q` and `wShoup = shoupConstant(for: w)`. One high and two low multiplications.
  @inlinable @inline(__always)
  public func multiplyShoupLazy(_ x: UInt64, by w: UInt64, shoup wShoup: UInt64) -> UInt64 {
    let quotient = x.multipliedFullWidth(by: wShoup).high
    return x &* w &- quotient &* value
  }

  /// Shoup product `x * w mod q` in `[0, q)`, for any `x < 2^64` and `w < q`.
  @inlinable @inline(__always)
  public func multiplyShoup(_ x: UInt64, by w: UInt64, shoup wShoup: UInt64) -> UInt64 {
    reduceOnce(multiplyShoupLazy(x, by: w, shoup: wShoup))
  }
}

/// A residue `w` paired with its Shoup constant `floor(w * 2^64 / q)`.
public struct ShoupOperand: Sendable, Hashable {
  /// The residue, in `[0, q)`.
  public let value: UInt64
  /// `floor(value * 2^64 / q)`.
  public let shoup: UInt64

  /// Precomputes the Shoup constant of `value` (which must be below `modulus.value`).
  @inlinable
  public init(_ value: UInt64, modulus: Modulus) {
    self.value = value
    self.shoup = modulus.shoupConstant(for: value)
  }
}
