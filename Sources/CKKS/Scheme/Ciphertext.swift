/// A CKKS ciphertext `(c0, c1[, c2])` in evaluation form, decrypting to `c0 + c1·s (+ c2·s²)`.
public struct Ciphertext: Sendable, Equatable {
  /// The polynomials c0, c1 (and c2 after a multiplication without relinearization).
  public internal(set) var polynomials: [RNSPolynomial<Evaluation>]
  /// The scale Δ of the encrypted values.
  public internal(set) var scale: Double
  /// When set, c1 is the uniform polynomial expanded from this 32-byte seed, so the ciphertext can
  /// be serialized without c1 (a seeded ciphertext). Cleared whenever c1 changes.
  public internal(set) var seed: [UInt8]?

  /// Assembles a ciphertext.
  /// - Precondition: 2 or 3 polynomials over the same ring.
  public init(polynomials: [RNSPolynomial<Evaluation>], scale: Double, seed: [UInt8]? = nil) {
    precondition((2...3).contains(polynomials.count), "a ciphertext has 2 or 3 polynomials")
    precondition(polynomials.allSatisfy { $0.basis.isSameRing(as: polynomials[0].basis) })
    self.polynomials = polynomials
    self.scale = scale
    self.seed = seed
  }

  /// Number of polynomials (2, or 3 before relinearization).
  public var size: Int { polynomials.count }
  /// The level: number of primes − 1.
  public var level: Int { polynomials[0].basis.count - 1 }
  /// The ring of the polynomials.
  public var basis: RNSBasis { polynomials[0].basis }
  /// Bytes the residues take in memory (8 per residue), whatever the serialized form.
  public var memoryBytes: Int { polynomials.reduce(0) { $0 + $1.residues.count * MemoryLayout<UInt64>.size } }
}
