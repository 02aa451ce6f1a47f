/// Why encoding or decoding was refused.
public enum EncodingError: Error, Sendable, Equatable, CustomStringConvertible {
  /// More values than slots (N/2) or coefficients (N).
  case tooManyValues(count: Int, capacity: Int)
  /// A value is NaN or infinite.
  case nonFiniteValue(index: Int)
  /// The scale is not finite and positive, or its bits reach the modulus at this level.
  case invalidScale(Double, modulusBits: Int)
  /// The scaled values need `bits` bits but the modulus at this level has only `modulusBits`.
  case valuesTooLarge(bits: Int, modulusBits: Int)
  /// The requested level does not exist.
  case levelOutOfRange(Int, maximum: Int)

  /// A sentence naming the value and the bound.
  public var description: String {
    switch self {
    case .tooManyValues(let count, let capacity):
      return "\(count) values do not fit in \(capacity) slots"
    case .nonFiniteValue(let index):
      return "value at index \(index) is not finite"
    case .invalidScale(let scale, let bits):
      return "scale \(scale) must be finite, positive and below 2^\(bits - 1) (the modulus at this level)"
    case .valuesTooLarge(let bits, let modulusBits):
      return
        "scaled values need \(bits) bits but the modulus at this level has \(modulusBits) bits; "
        + "use a smaller scale, smaller values or a higher level"
    case .levelOutOfRange(let level, let maximum):
      return "level \(level) is outside [0, \(maximum)]"
    }
  }
}
