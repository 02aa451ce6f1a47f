/// A small signed arbitrary-precision integer: sign and magnitude in 64-bit little-endian words.
///
/// It exists for CRT reconstruction, exact checks and decoding; it is deliberately minimal
/// (add, subtract, multiply, divide by a word, compare, convert) and not tuned for speed.
/// Zero is never negative.
public struct MultiwordInteger: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// Magnitude words, least significant first, without leading zero words.
  public private(set) var words: [UInt64]
  /// Whether the value is below zero.
  public private(set) var isNegative: Bool

  /// Zero.
  public static let zero = MultiwordInteger(words: [], isNegative: false)

  /// Creates a value from magnitude words (least significant first) and a sign.
  public init(words: [UInt64], isNegative: Bool = false) {
    self.words = words
    self.isNegative = isNegative
    normalize()
  }

  /// Creates a value from a machine integer.
  public init(_ value: Int64) {
    self.init(words: [value.magnitude], isNegative: value < 0)
  }

  /// Creates a value from an unsigned machine integer.
  public init(_ value: UInt64) {
    self.init(words: [value], isNegative: false)
  }

  /// Parses an optionally signed decimal string; `nil` for anything else.
  public init?(_ text: some StringProtocol) {
    var digits = Substring(text)
    var negative = false
    if digits.first == "-" {
      negative = true
      digits = digits.dropFirst()
    }
    guard !digits.isEmpty else { return nil }
    var magnitude = MultiwordInteger.zero
    for character in digits {
      guard let digit = character.wholeNumberValue, character.isASCII else { return nil }
      magnitude = magnitude.multiplied(by: 10) + MultiwordInteger(UInt64(digit))
    }
    self.init(words: magnitude.words, isNegative: negative)
  }

  private mutating func normalize() {
    while words.last == 0 { words.removeLast() }
    if words.isEmpty { isNegative = false }
  }

  /// Whether the value is zero.
  public var isZero: Bool { words.isEmpty }

  /// The number of significant bits of the magnitude.
  public var bitWidth: Int {
    guard let top = words.last else { return 0 }
    return (words.count - 1) * 64 + (64 - top.leadingZeroBitCount)
  }

  // MARK: Magnitude helpers

  private static func compareMagnitudes(_ a: [UInt64], _ b: [UInt64]) -> Int {
    if a.count != b.count { return a.count < b.count ? -1 : 1 }
    for i in stride(from: a.count - 1, through: 0, by: -1) where a[i] != b[i] {
      return a[i] < b[i] ? -1 : 1
    }
    return 0
  }

  private static func addMagnitudes(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
    var result = [UInt64](repeating: 0, count: max(a.count, b.count) + 1)
    var carry: UInt64 = 0
    for i in 0..<(result.count - 1) {
      let (s1, c1) = (i < a.count ? a[i] : 0).addingReportingOverflow(i < b.count ? b[i] : 0)
      let (s2, c2) = s1.addingReportingOverflow(carry)
      result[i] = s2
      carry = (c1 ? 1 : 0) + (c2 ? 1 : 0)
    }
    result[result.count - 1] = carry
    return result
  }

  /// `a - b` for magnitudes with `a ≥ b`.
  private static func subtractMagnitudes(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
    var result = a
    var borrow: UInt64 = 0
    for i in 0..<a.count {
      let (d1, b1) = a[i].subtractingReportingOverflow(i < b.count ? b[i] : 0)
      let (d2, b2) = d1.subtractingReportingOverflow(borrow)
      result[i] = d2
      borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
    }
    return result
  }

  // MARK: Arithmetic

  /// The exact sum.
  public static func + (lhs: MultiwordInteger, rhs: MultiwordInteger) -> MultiwordInteger {
    if lhs.isNegative == rhs.isNegative {
      return MultiwordInteger(words: addMagnitudes(lhs.words, rhs.words), isNegative: lhs.isNegative)
    }
    if compareMagnitudes(lhs.words, rhs.words) >= 0 {
      return MultiwordInteger(words: subtractMagnitudes(lhs.words, rhs.words), isNegative: lhs.isNegative)
    }
    return MultiwordInteger(words: subtractMagnitudes(rhs.words, lhs.words), isNegative: rhs.isNegative)
  }

  /// The negation.
  public static prefix func - (value: MultiwordInteger) -> MultiwordInteger {
    MultiwordInteger(words: value.words, isNegative: !value.isNegative)
  }

  /// The exact difference.
  public static func - (lhs: MultiwordInteger, rhs: MultiwordInteger) -> MultiwordInteger {
    lhs + (-rhs)
  }

  /// The exact product.
  public static func * (lhs: MultiwordInteger, rhs: MultiwordInteger) -> MultiwordInteger {
    guard !lhs.isZero, !rhs.isZero else { return .zero }
    var result = [UInt64](repeating: 0, count: lhs.words.count + rhs.words.count)
    for (i, a) in lhs.words.enumerated() {
      var carry: UInt64 = 0
      for (j, b) in rhs.words.enumerated() {
        let product = a.multipliedFullWidth(by: b)
        let (s1, c1) = result[i + j].addingReportingOverflow(product.low)
        let (s2, c2) = s1.addingReportingOverflow(carry)
        result[i + j] = s2
        carry = product.high &+ (c1 ? 1 : 0) &+ (c2 ? 1 : 0)
      }
      result[i + rhs.words.count] = carry
    }
    return MultiwordInteger(words: result, isNegative: lhs.isNegative != rhs.isNegative)
  }

  /// The product with one word.
  public func multiplied(by factor: UInt64) -> MultiwordInteger {
    self * MultiwordInteger(factor)
  }

  /// Truncating division by a non-zero word: quotient rounds toward zero, and the remainder
  /// carries the sign of `self` (like Swift's `/` and `%` on machine integers).
  public func quotientAndRemainder(dividingBy divisor: UInt64) -> (quotient: MultiwordInteger, remainder: Int128) {
    precondition(divisor != 0, "division by zero")
    var quotient = [UInt64](repeating: 0, count: words.count)
    var remainder: UInt64 = 0
    for i in stride(from: words.count - 1, through: 0, by: -1) {
      (quotient[i], remainder) = divisor.dividingFullWidth((remainder, words[i]))
    }
    let signedRemainder = isNegative ? -Int128(remainder) : Int128(remainder)
    return (MultiwordInteger(words: quotient, isNegative: isNegative), signedRemainder)
  }

  /// The residue in `[0, modulus)`, for a non-zero `modulus`.
  public func residue(modulo modulus: UInt64) -> UInt64 {
    let r = quotientAndRemainder(dividingBy: modulus).remainder
    return UInt64(r < 0 ? r + Int128(modulus) : r)
  }

  /// The product of all given words.
  public static func product(_ factors: [UInt64]) -> MultiwordInteger {
    factors.reduce(MultiwordInteger(UInt64(1))) { $0.multiplied(by: $1) }
  }

  // MARK: Comparison

  /// Numeric order.
  public static func < (lhs: MultiwordInteger, rhs: MultiwordInteger) -> Bool {
    if lhs.isNegative != rhs.isNegative { return lhs.isNegative }
    let order = compareMagnitudes(lhs.words, rhs.words)
    return lhs.isNegative ? order > 0 : order < 0
  }

  // MARK: Conversion

  /// The value as a `Double`, accumulated word by word from the most significant one: the
  /// relative error stays below 2^-50 for values up to 2^1000 (ample for decoding, where the
  /// value is divided by a scale of at least 2^20). Values beyond the `Double` range become ±∞.
  public var doubleValue: Double {
    var result = 0.0
    for word in words.reversed() {
      result = result * 18_446_744_073_709_551_616.0 + Double(word)
    }
    return isNegative ? -result : result
  }

  #if arch(x86_64) || arch(i386)
    /// The value as an 80-bit extended float (64-bit significand), accumulated like ``doubleValue``.
    public var float80Value: Float80 {
      var result: Float80 = 0
      for word in words.reversed() {
        result = result * 18_446_744_073_709_551_616.0 + Float80(word)
      }
      return isNegative ? -result : result
    }
  #endif

  /// Decimal representation, with a leading `-` for negative values.
  public var description: String {
    guard !isZero else { return "0" }
    var chunks: [UInt64] = []
    var current = MultiwordInteger(words: words)
    let base: UInt64 = 10_000_000_000_000_000_000
    while !current.isZero {
      let (quotient, remainder) = current.quotientAndRemainder(dividingBy: base)
      chunks.append(UInt64(remainder))
      current = quotient
    }
    var text = isNegative ? "-" : ""
    text += String(chunks.removeLast())
    for chunk in chunks.reversed() {
      let digits = String(chunk)
      text += String(repeating: "0", count: 19 - digits.count) + digits
    }
    return text
  }
}
