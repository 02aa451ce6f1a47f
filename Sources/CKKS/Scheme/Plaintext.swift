/// A CKKS plaintext: a polynomial in evaluation (NTT) form, as SEAL stores CKKS plaintexts,
/// with the scale Δ its values were multiplied by. Its level is its number of primes − 1.
public struct Plaintext: Sendable, Equatable {
  /// The encoded polynomial.
  public var polynomial: RNSPolynomial<Evaluation>
  /// The scale Δ (decoded value = coefficient value / Δ).
  public var scale: Double

  /// Wraps an encoded polynomial and its scale.
  public init(polynomial: RNSPolynomial<Evaluation>, scale: Double) {
    self.polynomial = polynomial
    self.scale = scale
  }

  /// The level: number of primes − 1.
  public var level: Int { polynomial.basis.count - 1 }
}
