/// A complex number, for encoding complex slot values (no dependency on swift-numerics).
public struct ComplexNumber: Sendable, Hashable {
  /// Real part.
  public var real: Double
  /// Imaginary part.
  public var imaginary: Double

  /// Creates `real + imaginary·i`.
  public init(_ real: Double, _ imaginary: Double = 0) {
    self.real = real
    self.imaginary = imaginary
  }
}
