/// Why a ``ParameterDescription`` was refused.
public enum ParameterError: Error, Sendable, Equatable, CustomStringConvertible {
  /// N is not a power of two in the supported range.
  case unsupportedDegree(Int)
  /// No ciphertext primes were given.
  case noCiphertextPrimes
  /// A prime bit size is outside `[2, 61]`.
  case primeBitsOutOfRange(Int)
  /// The modulus Q·P is too large for 128-bit security at this degree.
  case insecureModulus(degree: Int, totalBits: Int, maximumBits: Int)
  /// The degree has no entry in the security table.
  case degreeNotInSecurityTable(Int)
  /// The security table assumes uniform ternary secrets.
  case sparseSecretNeedsOptOut(hammingWeight: Int)
  /// A sparse Hamming weight outside `[1, N]`.
  case invalidHammingWeight(Int, degree: Int)
  /// dnum outside `[1, number of ciphertext primes]`.
  case invalidKeySwitchingDigits(Int, primeCount: Int)
  /// The special primes are smaller than the largest key-switching digit, so key switching
  /// would add noise of the digit's size.
  case specialPrimesTooSmall(specialBits: Int, largestDigitBits: Int)
  /// The scale is not finite, not above 1, or not below Q/2.
  case invalidScale(Double)
  /// Prime generation failed (for example too few primes of one size for this degree).
  case primes(CKKSError)

  /// A sentence naming the bound that was exceeded.
  public var description: String {
    switch self {
    case .unsupportedDegree(let n):
      return "ring degree \(n) must be a power of two between 16 and 65536"
    case .noCiphertextPrimes:
      return "at least one ciphertext prime is required"
    case .primeBitsOutOfRange(let bits):
      return "prime bit size \(bits) is outside [2, 61]"
    case .insecureModulus(let degree, let total, let maximum):
      return
        "log2(Q·P) = \(total) bits exceeds the 128-bit security bound of \(maximum) bits for N = \(degree) "
        + "(HomomorphicEncryption.org bounds, ternary secrets); use fewer or smaller primes or a larger N"
    case .degreeNotInSecurityTable(let n):
      return "N = \(n) is not in the 128-bit security table of the chosen policy"
    case .sparseSecretNeedsOptOut(let h):
      return
        "a sparse secret (Hamming weight \(h)) is not covered by the 128-bit tables (uniform ternary secrets); "
        + "use uniform ternary secrets or the insecureForTestingOnly policy"
    case .invalidHammingWeight(let h, let n):
      return "Hamming weight \(h) must be in [1, \(n)]"
    case .invalidKeySwitchingDigits(let dnum, let count):
      return "key-switching digit count \(dnum) must be in [1, \(count)] (the number of ciphertext primes)"
    case .specialPrimesTooSmall(let special, let digit):
      return
        "special primes P have \(special) bits but the largest key-switching digit has \(digit) bits; "
        + "P must be at least as large as every digit (add a special prime or raise dnum)"
    case .invalidScale(let scale):
      return "scale \(scale) must be finite, above 1 and below Q/2 (the product of the ciphertext primes)"
    case .primes(let error):
      return error.description
    }
  }
}
