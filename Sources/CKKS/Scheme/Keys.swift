/// The secret key s (ternary), kept in evaluation form over Q ∪ P as SEAL keeps it.
///
/// Never leaves the client. Its residues are overwritten with zeros when the key is released;
/// the library never stores copies of them elsewhere.
public final class SecretKey: @unchecked Sendable {
  /// The parameters the key belongs to.
  public let parameters: CKKSParameters
  /// s over the key basis, evaluation form. Mutated only by `deinit` (zeroization), which is why
  /// the class is `@unchecked Sendable`: it is otherwise immutable.
  private(set) var polynomial: RNSPolynomial<Evaluation>

  init(parameters: CKKSParameters, polynomial: RNSPolynomial<Evaluation>) {
    precondition(polynomial.basis.isSameRing(as: parameters.keyBasis))
    self.parameters = parameters
    self.polynomial = polynomial
  }

  /// Imports a secret key from its evaluation-form residues over Q ∪ P (limb-major), for example
  /// SEAL's `SecretKey` data.
  /// - Throws: ``EvaluationError/invalidKeyMaterial(_:)`` for a wrong count or out-of-range residue.
  public convenience init(parameters: CKKSParameters, evaluationResidues residues: [UInt64]) throws(EvaluationError) {
    let basis = parameters.keyBasis
    guard residues.count == basis.count * basis.degree else {
      throw .invalidKeyMaterial("expected \(basis.count * basis.degree) residues, got \(residues.count)")
    }
    for (i, q) in basis.moduli.enumerated()
    where residues[(i * basis.degree)..<((i + 1) * basis.degree)].contains(where: { $0 >= q.value }) {
      throw .invalidKeyMaterial("a residue is not below prime \(i)")
    }
    self.init(parameters: parameters, polynomial: RNSPolynomial(uncheckedBasis: basis, residues: residues))
  }

  deinit {
    polynomial.zeroize()
  }

  /// Runs `body` on the residues of s modulo prime `limb` of the key basis without copying them.
  func withLimb<R>(_ limb: Int, _ body: (UnsafeBufferPointer<UInt64>) -> R) -> R {
    let n = parameters.degree
    return polynomial.residues.withUnsafeBufferPointer {
      body(UnsafeBufferPointer(rebasing: $0[(limb * n)..<((limb + 1) * n)]))
    }
  }
}

/// The public key `(b, a) = (−(a·s + e), a)` over Q ∪ P in evaluation form (SEAL's layout).
/// `a` is expanded from `seed`, so the key serializes at about half size.
public struct PublicKey: Sendable, Equatable {
  /// The parameters the key belongs to.
  public let parameters: CKKSParameters
  /// b = −(a·s + e).
  public let b: RNSPolynomial<Evaluation>
  /// a, uniform, expanded from ``seed`` when there is one.
  public let a: RNSPolynomial<Evaluation>
  /// The 32-byte seed of a; nil for a key whose `a` came explicitly (a key loaded from SEAL).
  public let seed: [UInt8]?

  /// Bytes the residues of `b` and `a` take in memory (8 per residue).
  public var memoryBytes: Int { (b.residues.count + a.residues.count) * MemoryLayout<UInt64>.size }

  public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
    lhs.parameters === rhs.parameters && lhs.b == rhs.b && lhs.a == rhs.a
  }
}

/// Generates keys.
public enum KeyGenerator {
  /// A fresh secret key drawn with `generator` (OS-seeded by default), distributed as the
  /// parameters say (uniform ternary or fixed Hamming weight).
  public static func secretKey(
    parameters: CKKSParameters, using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) -> SecretKey {
    let basis = parameters.keyBasis
    let coefficients: RNSPolynomial<Coefficient>
    switch parameters.parameterDescription.secretDistribution {
    case .uniformTernary:
      coefficients = Sampler.ternary(in: basis, using: generator)
    case .sparseTernary(let weight):
      // Validated parameters guarantee 1 ≤ weight ≤ N.
      coefficients = Sampler.ternary(in: basis, hammingWeight: weight, using: generator)
    }
    return SecretKey(parameters: parameters, polynomial: coefficients.forwardNTT())
  }

  /// The public key of `secretKey`: an encryption of zero over Q ∪ P with a seeded `a`.
  public static func publicKey(
    secretKey: SecretKey, using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) -> PublicKey {
    let parameters = secretKey.parameters
    let seed = generator.makeSeed()
    let a = try! Sampler.uniform(in: parameters.keyBasis, seed: seed)
    var b = a * secretKey.polynomial
    b.add(Sampler.gaussian(in: parameters.keyBasis, using: generator).forwardNTT())
    b.negate()
    return PublicKey(parameters: parameters, b: b, a: a, seed: seed)
  }
}
