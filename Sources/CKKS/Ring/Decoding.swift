extension RNSPolynomial where Representation == Coefficient {
  /// Every coefficient's centred value in `(-Q/2, Q/2)` as `Double` (for decoding).
  ///
  /// Exact CRT reconstruction per coefficient followed by one conversion, so the only error is
  /// the final rounding to `Double` (plus at most a few units in the last place).
  public func centeredCoefficientsAsDouble() -> [Double] {
    (0..<degree).map { centeredCoefficient(at: $0).doubleValue }
  }

  #if arch(x86_64) || arch(i386)
    /// Every coefficient's centred value as `Float80` (64-bit significand), for decoding at
    /// scales where 53 bits of `Double` would lose precision.
    public func centeredCoefficientsAsFloat80() -> [Float80] {
      (0..<degree).map { centeredCoefficient(at: $0).float80Value }
    }
  #endif
}
