/// An RNS basis: the ring degree N and distinct NTT-friendly primes q_0, …, q_{L-1}, with their
/// NTT tables and CRT constants. It names the ring `Z_Q[X]/(X^N + 1)` with `Q = ∏ q_i`.
///
/// A basis knows the basis one level down (without its last prime), so dropping a prime or
/// rescaling never recomputes tables. Immutable after construction and safe to share.
public final class RNSBasis: Sendable, CustomStringConvertible {
  /// The ring degree N, a power of two.
  public let degree: Int
  /// The primes, in chain order.
  public let moduli: [Modulus]
  /// One NTT table per prime (shared with the lower levels).
  public let nttTables: [NTTTables]
  /// The basis without the last prime, or `nil` when this basis has one prime.
  public let lowerLevel: RNSBasis?
  /// `Q = ∏ q_i`.
  public let product: MultiwordInteger
  /// `[(Q/q_i)^-1]_{q_i}`, with Shoup constants.
  let crtInverseOfComplement: [ShoupOperand]
  /// `Q / q_i` as multiword integers.
  let crtComplement: [MultiwordInteger]
  /// For rescaling: `[q_last^-1]_{q_i}` for every prime but the last, with Shoup constants.
  let inverseOfLastModulus: [ShoupOperand]

  /// Builds the basis and its NTT tables.
  /// - Parameters:
  ///   - degree: N, a power of two in `[2, 2^17]`.
  ///   - moduli: distinct primes `q_i ≡ 1 (mod 2N)` below 2^61.
  /// - Throws: ``CKKSError/invalidDegree(_:)``, ``CKKSError/notNTTFriendly(modulus:degree:)``,
  ///   ``CKKSError/duplicateModulus(_:)`` or ``CKKSError/emptyBasis``.
  public convenience init(degree: Int, moduli: [UInt64]) throws(CKKSError) {
    var seen = Set<UInt64>()
    for q in moduli where !seen.insert(q).inserted { throw .duplicateModulus(q) }
    guard !moduli.isEmpty else { throw .emptyBasis }
    var tables: [NTTTables] = []
    for q in moduli {
      guard q >= 3, q < 1 << UInt64(Modulus.maximumBitWidth) else { throw .notNTTFriendly(modulus: q, degree: degree) }
      tables.append(try NTTTables(degree: degree, modulus: Modulus(q)))
    }
    self.init(tables: tables)
  }

  /// Builds a basis from existing NTT tables (all of the same degree, distinct primes).
  public init(tables: [NTTTables]) {
    precondition(!tables.isEmpty && Set(tables.map(\.degree)).count == 1)
    precondition(Set(tables.map(\.modulus.value)).count == tables.count, "duplicate modulus")
    degree = tables[0].degree
    nttTables = tables
    moduli = tables.map(\.modulus)
    lowerLevel = tables.count > 1 ? RNSBasis(tables: Array(tables.dropLast())) : nil
    product = MultiwordInteger.product(moduli.map(\.value))
    var inverses: [ShoupOperand] = []
    var complements: [MultiwordInteger] = []
    for (i, q) in moduli.enumerated() {
      let complement = MultiwordInteger.product(moduli.enumerated().filter { $0.offset != i }.map(\.element.value))
      complements.append(complement)
      let inverse = q.inverse(complement.residue(modulo: q.value))!
      inverses.append(ShoupOperand(inverse, modulus: q))
    }
    crtComplement = complements
    crtInverseOfComplement = inverses
    let last = moduli[moduli.count - 1].value
    inverseOfLastModulus = moduli.dropLast().map { q in
      ShoupOperand(q.inverse(q.reduce(last))!, modulus: q)
    }
  }

  /// The number of primes L.
  public var count: Int { moduli.count }

  /// The basis made of the first `count` primes (a lower level of the chain).
  /// - Precondition: `1 ≤ count ≤ self.count`.
  public func prefix(_ count: Int) -> RNSBasis {
    precondition(count >= 1 && count <= self.count)
    var basis = self
    while basis.count > count { basis = basis.lowerLevel! }
    return basis
  }

  /// Whether two bases describe the same ring (same degree and primes in the same order).
  public func isSameRing(as other: RNSBasis) -> Bool {
    self === other || (degree == other.degree && moduli == other.moduli)
  }

  /// The degree and the primes.
  public var description: String {
    "RNSBasis(N: \(degree), moduli: \(moduli.map(\.value)))"
  }

  // MARK: CRT reconstruction

  /// Reconstructs the integer `x ∈ [0, Q)` with the given residues (one per prime, each below
  /// its prime) by the Chinese remainder theorem.
  public func reconstruct(residues: [UInt64]) -> MultiwordInteger {
    precondition(residues.count == count)
    var sum = MultiwordInteger.zero
    for i in 0..<count {
      let y = moduli[i].multiplyShoup(
        residues[i], by: crtInverseOfComplement[i].value, shoup: crtInverseOfComplement[i].shoup)
      sum = sum + crtComplement[i].multiplied(by: y)
    }
    // The sum of L terms each below Q is below L·Q: subtract Q at most L - 1 times.
    while sum >= product { sum = sum - product }
    return sum
  }

  /// Reconstructs the centred representative of the residues, in `(-Q/2, Q/2]`.
  public func reconstructCentered(residues: [UInt64]) -> MultiwordInteger {
    let x = reconstruct(residues: residues)
    return x + x > product ? x - product : x
  }
}
