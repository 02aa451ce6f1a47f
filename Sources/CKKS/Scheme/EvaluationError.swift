/// Why encryption, decryption, key handling or a homomorphic operation was refused: the scheme
/// layer's errors (encoding and parameter validation have their own, ``EncodingError`` and
/// ``ParameterError``). Messages name both values and what to do.
public enum EvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Operands have different scales.
  case scaleMismatch(Double, Double)
  /// Operands are at different levels.
  case levelMismatch(Int, Int)
  /// No prime left to rescale or drop.
  case levelExhausted
  /// Rotation or conjugation needs a Galois key that was not generated.
  case missingGaloisKey(element: Int)
  /// The operation needs a ciphertext of size 2 (relinearize first).
  case notRelinearized(size: Int)
  /// Relinearization of a ciphertext that has only two polynomials.
  case alreadyRelinearized
  /// Key switching needs special primes, which these parameters lack.
  case keySwitchingUnavailable
  /// An operand (plaintext, ciphertext or key) belongs to other parameters.
  case parametersMismatch
  /// Key material has the wrong size or a residue not below its prime, or the operation needs
  /// a key this object does not hold (the reason says which).
  case invalidKeyMaterial(String)
  /// A constant or diagonal the operation encodes could not be encoded.
  case encoding(EncodingError)
  /// Rotation by more steps than there are slots.
  case invalidRotation(Int)
  /// Requested a level above the ciphertext's.
  case invalidTargetLevel(Int, current: Int)
  /// Polynomial evaluation needs degree ≥ 1 (a constant needs no encryption).
  case constantPolynomial
  /// A linear combination's operands or weights are unusable (the reason says which).
  case invalidLinearCombination(String)
  /// A result mask names a coefficient outside the ring or a flooding exponent out of range.
  case invalidResultMask(String)
  /// A linear transformation's matrix or step choice is unusable (the reason says which).
  case invalidLinearTransformation(String)
  /// A baby-step count that is not a positive power of two (up to `maximum` when there is one).
  case invalidBabySteps(Int, maximum: Int?)

  /// A sentence naming both values and what to do.
  public var description: String {
    switch self {
    case .scaleMismatch(let a, let b):
      return
        "scales differ: \(a) (about 2^\(Int(a.exponent))) vs \(b) (about 2^\(Int(b.exponent))); "
        + "rescale or re-encode one operand so both match"
    case .levelMismatch(let a, let b):
      return "levels differ: \(a) vs \(b); drop the higher operand to the lower level first"
    case .levelExhausted:
      return "no prime left: the ciphertext is at level 0"
    case .missingGaloisKey(let element):
      return "no Galois key for element \(element); generate Galois keys for this rotation"
    case .notRelinearized(let size):
      return "the ciphertext has \(size) polynomials; relinearize it first"
    case .alreadyRelinearized:
      return "the ciphertext already has 2 polynomials"
    case .keySwitchingUnavailable:
      return "these parameters have no special primes, so relinearization and rotation are unavailable"
    case .parametersMismatch:
      return "an operand was made with other encryption parameters"
    case .invalidKeyMaterial(let reason):
      return "invalid key material: \(reason)"
    case .encoding(let error):
      return "encoding a constant failed: \(error)"
    case .invalidRotation(let steps):
      return "rotation by \(steps) steps is outside (−slots, slots)"
    case .invalidTargetLevel(let target, let current):
      return "cannot move a ciphertext from level \(current) up to level \(target)"
    case .constantPolynomial:
      return "the polynomial has degree 0; encode the constant instead of evaluating it"
    case .invalidLinearCombination(let reason):
      return "invalid linear combination: \(reason)"
    case .invalidResultMask(let reason):
      return "invalid result mask: \(reason)"
    case .invalidLinearTransformation(let reason):
      return "invalid linear transformation: \(reason)"
    case .invalidBabySteps(let steps, let maximum):
      return "baby steps \(steps) must be a power of two " + (maximum.map { "in [1, \($0)]" } ?? "at least 1")
    }
  }
}

/// Runs an encoding step of an operation, reporting its failure as ``EvaluationError/encoding(_:)``.
func encodingStep<T>(_ body: () throws(EncodingError) -> T) throws(EvaluationError) -> T {
  do {
    return try body()
  } catch {
    throw .encoding(error)
  }
}
