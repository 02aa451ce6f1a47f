/// Fast (approximate) basis conversion from a source RNS basis `{q_i}` to a target basis `{p_j}`,
/// the building block of hybrid key switching (Bajard, Eynard, Hasan & Zucca, SAC 2016,
/// https://eprint.iacr.org/2016/510).
///
/// For `x ∈ [0, Q)` given by its residues `x_i`, it computes for each target prime
/// `Σ_i [x_i · (Q/q_i)^-1]_{q_i} · (Q/q_i) mod p_j`, which equals `x + u·Q (mod p_j)` for one
/// integer `u ∈ [0, L)` (the same u for every target prime), L the number of source primes.
/// The source and target primes must be disjoint.
public struct BasisConverter: Sendable {
  /// The source basis.
  public let source: RNSBasis
  /// The target basis.
  public let target: RNSBasis
  /// `[(Q/q_i)^-1]_{q_i}` with Shoup constants, per source prime.
  private let inverseComplements: [ShoupOperand]
  /// `[(Q/q_i)]_{p_j}`, stored `[j * L + i]`.
  private let complementsInTarget: [UInt64]

  /// Precomputes the constants.
  /// - Precondition: both bases have the same degree, no prime in common, and the source has at
  ///   most 64 primes (so the 128-bit accumulator cannot overflow).
  public init(from source: RNSBasis, to target: RNSBasis) {
    precondition(source.degree == target.degree, "bases must share the degree")
    precondition(source.count <= 64, "at most 64 source primes")
    precondition(
      Set(source.moduli.map(\.value)).isDisjoint(with: target.moduli.map(\.value)),
      "source and target primes must be disjoint")
    self.source = source
    self.target = target
    inverseComplements = source.crtInverseOfComplement
    var table: [UInt64] = []
    for p in target.moduli {
      for complement in source.crtComplement { table.append(complement.residue(modulo: p.value)) }
    }
    complementsInTarget = table
  }

  /// Converts a coefficient-form polynomial over the source basis to the target basis.
  public func convert(_ input: RNSPolynomial<Coefficient>) -> RNSPolynomial<Coefficient> {
    var output = RNSPolynomial<Coefficient>(zeroIn: target)
    var scratch = [UInt64](repeating: 0, count: source.count * source.degree)
    convert(input, into: &output, scratch: &scratch)
    return output
  }

  /// Converts into a caller-provided polynomial, using `scratch` (`L·N` words) so repeated
  /// conversions allocate nothing.
  public func convert(
    _ input: RNSPolynomial<Coefficient>, into output: inout RNSPolynomial<Coefficient>,
    scratch: inout [UInt64]
  ) {
    precondition(input.basis.isSameRing(as: source) && output.basis.isSameRing(as: target))
    let n = source.degree
    let sourceCount = source.count
    precondition(scratch.count >= sourceCount * n)
    let sourceModuli = source.moduli
    // y_i = [x_i · (Q/q_i)^-1]_{q_i}, each in [0, q_i).
    input.residues.withUnsafeBufferPointer { inputBuffer in
      scratch.withUnsafeMutableBufferPointer { scratchBuffer in
        for i in 0..<sourceCount {
          let q = sourceModuli[i]
          let w = inverseComplements[i]
          let x = inputBuffer.baseAddress! + i * n
          let y = scratchBuffer.baseAddress! + i * n
          for c in 0..<n { y[c] = q.multiplyShoup(x[c], by: w.value, shoup: w.shoup) }
        }
      }
    }
    // Σ_i y_i · [Q/q_i]_{p_j}: accumulate the 128-bit sum, one Barrett reduction at the end.
    // Each product is below 2^122, so up to 64 terms (checked in init) fit in 128 bits.
    let table = complementsInTarget
    scratch.withUnsafeBufferPointer { scratchBuffer in
      output.forEachLimb { j, p, row in
        let factors = j * sourceCount
        for c in 0..<n {
          var high: UInt64 = 0
          var low: UInt64 = 0
          for i in 0..<sourceCount {
            let product = scratchBuffer[i * n + c].multipliedFullWidth(by: table[factors + i])
            let (sum, carry) = low.addingReportingOverflow(product.low)
            low = sum
            high = high &+ product.high &+ (carry ? 1 : 0)
          }
          row[c] = p.reduce(high: high, low: low)
        }
      }
    }
  }
}
