/// The Galois automorphism `σ_k: a(X) ↦ a(X^k)` of `Z_Q[X]/(X^N + 1)` for odd `k ∈ [1, 2N)`.
///
/// In SEAL's conventions, rotating CKKS slots left by r uses `k = 3^r mod 2N` (SEAL's slot i
/// sits at the root ζ^(3^i); verified against SEAL's encoder) and complex conjugation uses
/// `k = 2N - 1`.
public struct GaloisElement: Sendable, Hashable {
  /// The exponent k.
  public let value: Int
  /// The ring degree N.
  public let degree: Int

  /// - Throws: ``CKKSError/invalidGaloisElement(_:degree:)`` unless k is odd and in `[1, 2N)`.
  public init(_ value: Int, degree: Int) throws(CKKSError) {
    guard value > 0, value < 2 * degree, value & 1 == 1 else {
      throw .invalidGaloisElement(value, degree: degree)
    }
    self.value = value
    self.degree = degree
  }

  /// The element SEAL uses for a left rotation of the CKKS slots by `steps` (negative: right),
  /// `3^(steps mod N/2) mod 2N`, as SEAL's `GaloisTool::get_elt_from_step`.
  public static func rotation(by steps: Int, degree: Int) -> GaloisElement {
    let slots = degree / 2
    let normalized = ((steps % slots) + slots) % slots
    let twoN = UInt64(2 * degree)
    // 3^r mod 2N by square-and-multiply (2N is a power of two, so plain wrapping products suffice).
    var k: UInt64 = 1
    var base: UInt64 = 3
    var exponent = normalized
    while exponent > 0 {
      if exponent & 1 == 1 { k = k &* base % twoN }
      base = base &* base % twoN
      exponent >>= 1
    }
    return try! GaloisElement(Int(k), degree: degree)
  }

  /// The element for complex conjugation of the slots, `2N - 1`.
  public static func conjugation(degree: Int) -> GaloisElement {
    try! GaloisElement(2 * degree - 1, degree: degree)
  }

  /// `σ_a ∘ σ_b = σ_(a·b mod 2N)`.
  public func composed(with other: GaloisElement) -> GaloisElement {
    precondition(degree == other.degree)
    return try! GaloisElement(value * other.value % (2 * degree), degree: degree)
  }

  /// For evaluation form: `permutation[j]` is the input slot that lands in output slot j.
  ///
  /// Slot j holds `a(ψ^(2·rev(j)+1))`; `σ_k(a)` evaluated there is `a(ψ^(k·(2·rev(j)+1)))`,
  /// the input slot whose exponent is `k·(2·rev(j)+1) mod 2N`.
  public func evaluationPermutation() -> [Int] {
    let logN = degree.trailingZeroBitCount
    let mask = 2 * degree - 1
    return (0..<degree).map { j in
      let exponent = (2 * NTTTables.bitReverse(j, bits: logN) + 1) * value & mask
      return NTTTables.bitReverse((exponent - 1) >> 1, bits: logN)
    }
  }
}

extension RNSPolynomial where Representation == Coefficient {
  /// `a(X^k)`: coefficient i moves to `i·k mod 2N`, negated when that index is ≥ N (X^N = -1).
  public func applyingGalois(_ element: GaloisElement) -> RNSPolynomial<Coefficient> {
    precondition(element.degree == degree)
    let n = degree
    let mask = 2 * n - 1
    var result = RNSPolynomial<Coefficient>(zeroIn: basis)
    residues.withUnsafeBufferPointer { source in
      result.forEachLimb { i, q, row in
        let input = source.baseAddress! + i * n
        var target = 0
        for j in 0..<n {
          let value = input[j]
          if target < n {
            row[target] = value
          } else {
            row[target - n] = q.negate(value)
          }
          target = (target + element.value) & mask
        }
      }
    }
    return result
  }
}

extension RNSPolynomial where Representation == Evaluation {
  /// `a(X^k)` in evaluation form: a permutation of the slots (no arithmetic).
  public func applyingGalois(_ element: GaloisElement) -> RNSPolynomial<Evaluation> {
    applyingGalois(permutation: element.evaluationPermutation())
  }

  /// Applies a precomputed ``GaloisElement/evaluationPermutation()`` (to reuse across calls).
  public func applyingGalois(permutation: [Int]) -> RNSPolynomial<Evaluation> {
    precondition(permutation.count == degree)
    let n = degree
    var result = RNSPolynomial<Evaluation>(zeroIn: basis)
    residues.withUnsafeBufferPointer { source in
      permutation.withUnsafeBufferPointer { map in
        result.forEachLimb { i, _, row in
          let input = source.baseAddress! + i * n
          for j in 0..<n { row[j] = input[map[j]] }
        }
      }
    }
    return result
  }
}
