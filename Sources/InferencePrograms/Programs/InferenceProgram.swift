public import CKKS

/// A model's homomorphic evaluation, compiled once: where its samples and scores sit, the levels,
/// scales and evaluation keys it needs, and how it runs on one input ciphertext.
public protocol InferenceProgram: Sendable {
  /// Where samples sit in an input and scores in the result.
  var layout: any SampleLayout { get }
  /// Level of input ciphertexts.
  var inputLevel: Int { get }
  /// Scale of decrypted results.
  var resultScale: Double { get }
  /// The evaluation keys ``evaluate(_:sampleCount:keys:evaluator:)`` uses.
  var keyRequirements: EvaluationKeyRequirements { get }
  /// How results hide everything but the requested scores; nil when results are returned as
  /// evaluated.
  var resultPrivacy: ResultPrivacy? { get }
  /// Low bits the decryption-only shrink drops from the result's c0 and c1 when the program sizes
  /// them itself (its scores sit in coefficients and it knows their error budget); nil to use the
  /// model file's `result_dropped_bits` for both.
  var resultDroppedBits: (c0: Int, c1: Int)? { get }

  /// The float64 scores of one sample (before any output transform), as the program computes them.
  func plainScores(_ sample: [Double]) -> [Double]

  /// Evaluates one group of input ciphertexts (the layout's `ciphertextsPerGroup`, in order)
  /// whose first `sampleCount` samples were requested, into the group's result ciphertexts (the
  /// layout's `resultsPerGroup`, in order; one in most layouts).
  /// - Throws: ``ProgramError/groupSize(expected:received:)`` for another number of ciphertexts,
  ///   ``ProgramError/missingKeys(_:)`` when `keys` lacks a key of ``keyRequirements``;
  ///   `EvaluationError` for a ciphertext the evaluator refuses.
  func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
}

extension InferenceProgram {
  public var resultDroppedBits: (c0: Int, c1: Int)? { nil }

  /// Evaluates a group of one ciphertext (every layout but ``ImageBatchLayout``).
  /// - Throws: as the requirement that evaluates a group of ciphertexts.
  public func evaluate(_ input: Ciphertext, sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    try evaluate([input], sampleCount: sampleCount, keys: keys, evaluator: evaluator)
  }

  /// The group's ciphertexts, checked to be as many as the layout's groups hold.
  func checkedGroup(_ group: [Ciphertext]) throws(ProgramError) -> [Ciphertext] {
    guard group.count == layout.ciphertextsPerGroup else {
      throw .groupSize(expected: layout.ciphertextsPerGroup, received: group.count)
    }
    return group
  }
}

/// The evaluation keys a program uses.
public struct EvaluationKeyRequirements: Sendable, Equatable {
  /// A relinearization key (ciphertext multiplications).
  public var relinearization: Bool
  /// Galois elements whose keys rotations need, ascending.
  public var galoisElements: [Int]
  /// The client's public key (re-randomizing results).
  public var publicKey: Bool

  public init(relinearization: Bool = false, galoisElements: [Int] = [], publicKey: Bool = false) {
    self.relinearization = relinearization
    self.galoisElements = galoisElements
    self.publicKey = publicKey
  }

  /// Whether the program needs no keys at all.
  public var isEmpty: Bool { !relinearization && galoisElements.isEmpty && !publicKey }
}

/// The evaluation keys a client registered, as a program receives them.
public struct EvaluationKeys: Sendable {
  public var relinearization: RelinearizationKey?
  public var galois: GaloisKeys?
  public var publicKey: PublicKey?

  public init(relinearization: RelinearizationKey? = nil, galois: GaloisKeys? = nil, publicKey: PublicKey? = nil) {
    self.relinearization = relinearization
    self.galois = galois
    self.publicKey = publicKey
  }
}

/// What a protected result promises (docs/threat-model.md, "Model privacy").
public struct ResultPrivacy: Sendable, Equatable {
  /// Each result is within statistical distance 2^−bits of a simulation from the scores alone.
  public var statisticalSecurityBits: Int
  /// The flooding noise's bound in score units.
  public var floodingScoreBound: Double
  /// The largest difference between a decrypted score and the float64 score, for inputs within
  /// the model's input bound.
  public var scoreErrorBound: Double
}

/// A model a program cannot be built for, or keys it cannot run without.
public enum ProgramError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The weights, scales or parameters break a rule, named in a sentence.
  case invalidModel(String)
  /// A key the program needs is absent.
  case missingKeys(String)
  /// A group of input ciphertexts of another size than the layout's.
  case groupSize(expected: Int, received: Int)

  public var description: String {
    switch self {
    case .invalidModel(let rule): rule
    case .missingKeys(let what): "missing evaluation keys: \(what)"
    case .groupSize(let expected, let received): "a group of \(received) input ciphertexts, expected \(expected)"
    }
  }
}
