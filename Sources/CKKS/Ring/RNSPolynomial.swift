#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Marks how a polynomial's residues are represented; carried in the type so that mixing
/// coefficient and evaluation (NTT) forms does not compile.
public protocol PolynomialRepresentation: Sendable {}

/// Residues are the coefficients of the polynomial modulo each prime.
public enum Coefficient: PolynomialRepresentation {}

/// Residues are the evaluations at the odd powers of ψ in SEAL's bit-reversed NTT order.
public enum Evaluation: PolynomialRepresentation {}

/// A polynomial of `Z_Q[X]/(X^N + 1)` in RNS form: one row of N residues per prime of `basis`,
/// stored flat and limb-major (`residues[i * N + j]` is coefficient or slot j modulo q_i).
///
/// Invariant: every residue of row i is in `[0, q_i)`. Operations between two polynomials
/// require the same ring (checked by precondition: mixing rings is a programmer error).
public struct RNSPolynomial<Representation: PolynomialRepresentation>: Sendable {
  /// The ring this polynomial lives in.
  public internal(set) var basis: RNSBasis
  /// The residues, limb-major; `residues.count == basis.count * basis.degree`.
  public internal(set) var residues: [UInt64]

  /// The zero polynomial.
  public init(zeroIn basis: RNSBasis) {
    self.basis = basis
    self.residues = [UInt64](repeating: 0, count: basis.count * basis.degree)
  }

  /// Wraps existing residues, limb-major.
  /// - Precondition: the count is `L·N` and every residue is below its prime.
  public init(basis: RNSBasis, residues: [UInt64]) {
    precondition(residues.count == basis.count * basis.degree, "residue count must be L·N")
    for (i, q) in basis.moduli.enumerated() {
      precondition(
        residues[(i * basis.degree)..<((i + 1) * basis.degree)].allSatisfy { $0 < q.value },
        "residue not below its prime")
    }
    self.basis = basis
    self.residues = residues
  }

  /// Internal initializer that skips the range check (callers guarantee the invariant).
  init(uncheckedBasis basis: RNSBasis, residues: [UInt64]) {
    self.basis = basis
    self.residues = residues
  }

  /// The ring degree N.
  public var degree: Int { basis.degree }

  /// The residues modulo prime `index`.
  public func limb(_ index: Int) -> ArraySlice<UInt64> {
    residues[(index * degree)..<((index + 1) * degree)]
  }

  /// The residues of coefficient (or slot) `index` modulo every prime.
  public func residues(at index: Int) -> [UInt64] {
    (0..<basis.count).map { residues[$0 * degree + index] }
  }

  /// Runs `body` on each limb with its modulus: `body(limbIndex, modulus, pointer to N residues)`.
  mutating func forEachLimb(_ body: (Int, Modulus, UnsafeMutablePointer<UInt64>) -> Void) {
    let n = degree
    let moduli = basis.moduli
    residues.withUnsafeMutableBufferPointer { buffer in
      for i in 0..<moduli.count {
        body(i, moduli[i], buffer.baseAddress! + i * n)
      }
    }
  }

  /// Moves the residues out (leaving this value empty, so the transform runs in place without a
  /// copy) after the forward or inverse NTT of every limb.
  mutating func takeResidues(transformedInverse inverse: Bool) -> [UInt64] {
    var data: [UInt64] = []
    swap(&data, &residues)
    let tables = basis.nttTables
    let n = degree
    data.withUnsafeMutableBufferPointer { buffer in
      for i in 0..<tables.count {
        if inverse {
          tables[i].inverse(buffer.baseAddress! + i * n)
        } else {
          tables[i].forward(buffer.baseAddress! + i * n)
        }
      }
    }
    return data
  }

  private func checkSameRing(_ other: RNSPolynomial) {
    precondition(basis.isSameRing(as: other.basis), "polynomials belong to different rings")
  }

  // MARK: Element-wise arithmetic (both representations)

  /// `self += other`, residue by residue.
  public mutating func add(_ other: RNSPolynomial) {
    checkSameRing(other)
    let n = degree
    other.residues.withUnsafeBufferPointer { source in
      forEachLimb { i, q, row in
        let b = source.baseAddress! + i * n
        for j in 0..<n { row[j] = q.add(row[j], b[j]) }
      }
    }
  }

  /// `self -= other`, residue by residue.
  public mutating func subtract(_ other: RNSPolynomial) {
    checkSameRing(other)
    let n = degree
    other.residues.withUnsafeBufferPointer { source in
      forEachLimb { i, q, row in
        let b = source.baseAddress! + i * n
        for j in 0..<n { row[j] = q.subtract(row[j], b[j]) }
      }
    }
  }

  /// `self = -self`.
  public mutating func negate() {
    let n = degree
    forEachLimb { _, q, row in
      for j in 0..<n { row[j] = q.negate(row[j]) }
    }
  }

  /// Multiplies by an integer constant (given as a signed value, reduced modulo each prime).
  public mutating func multiply(byScalar scalar: Int64) {
    multiply(byScalarResidues: basis.moduli.map { $0.reduce(signed: scalar) })
  }

  /// Multiplies by a constant given by its residue modulo each prime (each below its prime).
  public mutating func multiply(byScalarResidues scalars: [UInt64]) {
    precondition(scalars.count == basis.count)
    let n = degree
    forEachLimb { i, q, row in
      let w = ShoupOperand(scalars[i], modulus: q)
      for j in 0..<n { row[j] = q.multiplyShoup(row[j], by: w.value, shoup: w.shoup) }
    }
  }

  /// The sum, residue by residue (same ring required).
  public static func + (lhs: RNSPolynomial, rhs: RNSPolynomial) -> RNSPolynomial {
    var result = lhs
    result.add(rhs)
    return result
  }

  /// The difference, residue by residue (same ring required).
  public static func - (lhs: RNSPolynomial, rhs: RNSPolynomial) -> RNSPolynomial {
    var result = lhs
    result.subtract(rhs)
    return result
  }

  /// The negation.
  public static prefix func - (value: RNSPolynomial) -> RNSPolynomial {
    var result = value
    result.negate()
    return result
  }

  // MARK: Levels

  /// Removes the last prime (keeps the value modulo the smaller Q). Same in both representations.
  /// - Precondition: the polynomial has at least two primes.
  public mutating func dropLastModulus() {
    guard let lower = basis.lowerLevel else { preconditionFailure("dropping a prime needs at least two primes") }
    residues.removeLast(degree)
    basis = lower
  }

  // MARK: Secret material

  /// Overwrites every residue with zero in a way the optimizer does not remove.
  /// Use on polynomials that hold secrets before they are released.
  public mutating func zeroize() {
    residues.withUnsafeMutableBytes { bytes in
      secureZero(bytes)
    }
  }
}

/// Zeroes memory with a call the compiler may not elide (`explicit_bzero` / `memset_s`).
func secureZero(_ bytes: UnsafeMutableRawBufferPointer) {
  guard let base = bytes.baseAddress, bytes.count > 0 else { return }
  #if canImport(Darwin)
    _ = memset_s(base, bytes.count, 0, bytes.count)
  #else
    explicit_bzero(base, bytes.count)
  #endif
}

extension RNSPolynomial: Equatable {
  /// Equal when the rings and every residue are equal.
  public static func == (lhs: RNSPolynomial, rhs: RNSPolynomial) -> Bool {
    lhs.basis.isSameRing(as: rhs.basis) && lhs.residues == rhs.residues
  }
}

// MARK: - Evaluation form

extension RNSPolynomial where Representation == Evaluation {
  /// `self *= other` slot by slot: the negacyclic product of the underlying polynomials.
  public mutating func multiply(_ other: RNSPolynomial<Evaluation>) {
    precondition(basis.isSameRing(as: other.basis), "polynomials belong to different rings")
    let n = degree
    other.residues.withUnsafeBufferPointer { source in
      forEachLimb { i, q, row in
        let b = source.baseAddress! + i * n
        for j in 0..<n { row[j] = q.multiply(row[j], b[j]) }
      }
    }
  }

  /// `self += a · b` slot by slot (same ring required).
  public mutating func multiplyAdd(_ a: RNSPolynomial<Evaluation>, _ b: RNSPolynomial<Evaluation>) {
    precondition(basis.isSameRing(as: b.basis), "polynomials belong to different rings")
    multiplyAdd(a, prefixOf: b)
  }

  /// `self += a · b` where `b` lives on a basis that extends this one (its first limbs are this
  /// polynomial's primes), e.g. a key over Q ∪ P applied at a lower level. Reads `b` in place.
  mutating func multiplyAdd(_ a: RNSPolynomial<Evaluation>, prefixOf b: RNSPolynomial<Evaluation>) {
    precondition(basis.isSameRing(as: a.basis) && b.basis.count >= basis.count)
    precondition(basis.isSameRing(as: b.basis.prefix(basis.count)), "b's basis must extend this one")
    let n = degree
    a.residues.withUnsafeBufferPointer { aBuffer in
      b.residues.withUnsafeBufferPointer { bBuffer in
        forEachLimb { i, q, row in
          let x = aBuffer.baseAddress! + i * n
          let y = bBuffer.baseAddress! + i * n
          for j in 0..<n { row[j] = q.multiplyAdd(x[j], y[j], row[j]) }
        }
      }
    }
  }

  /// The tensor product of `(a0, a1)` and `(b0, b1)` in one pass over the operands:
  /// `(a0·b0, a0·b1 + a1·b0, a1·b1)`. The middle sum is reduced once when `2(q − 1)²` is within
  /// ``Modulus/reduceProduct(high:low:)``'s range (primes up to 60 bits), twice otherwise.
  /// - Precondition: all four operands are in the same ring.
  public static func tensor(
    _ a0: RNSPolynomial<Evaluation>, _ a1: RNSPolynomial<Evaluation>,
    _ b0: RNSPolynomial<Evaluation>, _ b1: RNSPolynomial<Evaluation>
  ) -> (RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>) {
    let basis = a0.basis
    precondition(
      basis.isSameRing(as: a1.basis) && basis.isSameRing(as: b0.basis) && basis.isSameRing(as: b1.basis),
      "polynomials belong to different rings")
    let n = basis.degree
    let count = basis.count * n
    var c0 = [UInt64](repeating: 0, count: count)
    var c1 = [UInt64](repeating: 0, count: count)
    var c2 = [UInt64](repeating: 0, count: count)
    withMutableRows(&c0, &c1, &c2) { c0, c1, c2 in
      withRows(a0.residues, a1.residues, b0.residues, b1.residues) { a0, a1, b0, b1 in
        for (i, q) in basis.moduli.enumerated() {
          let offset = i &* n
          tensorLimb(
            a0 + offset, a1 + offset, b0 + offset, b1 + offset, into: c0 + offset, c1 + offset, c2 + offset,
            count: n, modulus: q)
        }
      }
    }
    return (
      RNSPolynomial(uncheckedBasis: basis, residues: c0), RNSPolynomial(uncheckedBasis: basis, residues: c1),
      RNSPolynomial(uncheckedBasis: basis, residues: c2)
    )
  }

  /// One limb of ``tensor(_:_:_:_:)``: `count` slots modulo `q`, every input below `q`.
  @inline(__always)
  private static func tensorLimb(
    _ a0: UnsafePointer<UInt64>, _ a1: UnsafePointer<UInt64>, _ b0: UnsafePointer<UInt64>, _ b1: UnsafePointer<UInt64>,
    into c0: UnsafeMutablePointer<UInt64>, _ c1: UnsafeMutablePointer<UInt64>, _ c2: UnsafeMutablePointer<UInt64>,
    count: Int, modulus q: Modulus
  ) {
    // The middle sum of two products below (q − 1)² each is reduced once when it fits the
    // reduction's input range.
    let maximum = UInt128(q.value - 1) * UInt128(q.value - 1)
    let singleReduction = 2 * maximum < UInt128(1) << UInt128(q.productReductionBits)
    for j in 0..<count {
      let x0 = a0[j]
      let x1 = a1[j]
      let y0 = b0[j]
      let y1 = b1[j]
      c0[j] = q.multiply(x0, y0)
      c2[j] = q.multiply(x1, y1)
      if singleReduction {
        let p = x0.multipliedFullWidth(by: y1)
        let r = x1.multipliedFullWidth(by: y0)
        let (low, carry) = p.low.addingReportingOverflow(r.low)
        c1[j] = q.reduceProduct(high: p.high &+ r.high &+ (carry ? 1 : 0), low: low)
      } else {
        c1[j] = q.add(q.multiply(x0, y1), q.multiply(x1, y0))
      }
    }
  }

  /// The negacyclic product (slot-wise in evaluation form; same ring required).
  public static func * (lhs: RNSPolynomial<Evaluation>, rhs: RNSPolynomial<Evaluation>) -> RNSPolynomial<Evaluation> {
    var result = lhs
    result.multiply(rhs)
    return result
  }

  /// The inverse NTT of every limb: the same polynomial in coefficient form.
  public consuming func inverseNTT() -> RNSPolynomial<Coefficient> {
    RNSPolynomial<Coefficient>(uncheckedBasis: basis, residues: takeResidues(transformedInverse: true))
  }
}

// MARK: - Coefficient form

extension RNSPolynomial where Representation == Coefficient {
  /// The forward NTT of every limb: the same polynomial in evaluation form (SEAL's NTT form).
  public consuming func forwardNTT() -> RNSPolynomial<Evaluation> {
    RNSPolynomial<Evaluation>(uncheckedBasis: basis, residues: takeResidues(transformedInverse: false))
  }

  /// A polynomial with small signed integer coefficients, represented modulo every prime.
  /// - Precondition: `coefficients.count == basis.degree`.
  public init(basis: RNSBasis, signedCoefficients coefficients: [Int64]) {
    precondition(coefficients.count == basis.degree)
    self.init(zeroIn: basis)
    let n = basis.degree
    forEachLimb { _, q, row in
      for j in 0..<n { row[j] = q.reduce(signed: coefficients[j]) }
    }
  }

  /// The centred integer value of coefficient `index`, reconstructed across all primes.
  public func centeredCoefficient(at index: Int) -> MultiwordInteger {
    basis.reconstructCentered(residues: residues(at: index))
  }
}
