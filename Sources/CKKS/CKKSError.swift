/// Why the arithmetic and ring layers refused their input (degrees, primes, bases, Galois
/// elements, seeds). Programmer errors (for example mixing polynomials of different rings or
/// dropping the last prime of a polynomial) are preconditions instead. The layers above have
/// their own errors: ``ParameterError``, ``EncodingError``, ``EvaluationError`` and
/// ``SerializationError``.
public enum CKKSError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The ring degree is not a supported power of two.
  case invalidDegree(Int)
  /// A requested prime bit size is outside `[2, 61]`, or the list is empty.
  case invalidBitSizes([Int])
  /// Fewer than `requested` primes `p ≡ 1 (mod 2N)` of `bitWidth` bits exist.
  case primeGenerationFailed(bitWidth: Int, degree: Int, requested: Int)
  /// The modulus does not support a negacyclic NTT of this degree (needs a prime `q ≡ 1 mod 2N`).
  case notNTTFriendly(modulus: UInt64, degree: Int)
  /// An RNS basis needs at least one prime.
  case emptyBasis
  /// The same prime appears twice in an RNS basis.
  case duplicateModulus(UInt64)
  /// A Galois element is not odd or not in `[1, 2N)`.
  case invalidGaloisElement(Int, degree: Int)
  /// A seed for deterministic expansion has the wrong length (expected 32 bytes).
  case invalidSeedLength(Int)

  /// A sentence naming the offending value and the rule it breaks.
  public var description: String {
    switch self {
    case .invalidDegree(let n):
      return "ring degree \(n) is not a power of two in [2, 131072]"
    case .invalidBitSizes(let sizes):
      return "prime bit sizes \(sizes) must be a non-empty list of values in [2, 61]"
    case .primeGenerationFailed(let bits, let degree, let requested):
      return "fewer than \(requested) primes of \(bits) bits are congruent to 1 modulo 2·\(degree)"
    case .notNTTFriendly(let modulus, let degree):
      return "modulus \(modulus) is not a prime congruent to 1 modulo 2·\(degree)"
    case .emptyBasis:
      return "an RNS basis needs at least one prime"
    case .duplicateModulus(let modulus):
      return "modulus \(modulus) appears more than once in the RNS basis"
    case .invalidGaloisElement(let element, let degree):
      return "Galois element \(element) must be odd and in [1, \(2 * degree))"
    case .invalidSeedLength(let length):
      return "seed must be 32 bytes, got \(length)"
    }
  }
}
