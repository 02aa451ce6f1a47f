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
  /// `[(Q/q_i)]_{p_j}`, stored `[j * L + i]`, and their Shoup constants modulo p_j.
  private let complementsInTarget: [UInt64]
  private let complementsInTargetShoup: [UInt64]

  /// Precomputes the constants.
  /// - Precondition: both bases have the same degree and no prime in common.
  public init(from source: RNSBasis, to target: RNSBasis) {
    precondition(source.degree == target.degree, "bases must share the degree")
    precondition(
      Set(source.moduli.map(\.value)).isDisjoint(with: target.moduli.map(\.value)),
      "source and target primes must be disjoint")
    self.source = source
    self.target = target
    inverseComplements = source.crtInverseOfComplement
    var table: [UInt64] = []
    var shoup: [UInt64] = []
    for p in target.moduli {
      for complement in source.crtComplement {
        let residue = complement.residue(modulo: p.value)
        table.append(residue)
        shoup.append(p.shoupConstant(for: residue))
      }
    }
    complementsInTarget = table
    complementsInTargetShoup = shoup
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
    precondition(scratch.count >= source.count * n)
    input.residues.withUnsafeBufferPointer { inputBuffer in
      output.residues.withUnsafeMutableBufferPointer { outputBuffer in
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
          convert(
            sources: (0..<source.count).map { UnsafePointer(inputBuffer.baseAddress! + $0 * n) },
            targets: (0..<target.count).map { outputBuffer.baseAddress! + $0 * n },
            scratch: scratchBuffer.baseAddress!)
        }
      }
    }
  }

  /// Pointer form: `sources[i]` holds the N coefficients modulo source prime i (each below it),
  /// the results go to `targets[j]` (N words each, may be rows of a larger polynomial), and
  /// `scratch` holds `L·N` words.
  func convert(
    sources: [UnsafePointer<UInt64>], targets: [UnsafeMutablePointer<UInt64>], scratch: UnsafeMutablePointer<UInt64>
  ) {
    let n = source.degree
    let sourceCount = source.count
    precondition(sources.count == sourceCount && targets.count == target.count)
    if sourceCount == 1 {
      // One source prime: Q/q = 1, so the conversion is exact and is x mod p_j (u = 0).
      let x = sources[0]
      let sourceValue = source.moduli[0].value
      for (j, row) in targets.enumerated() {
        let p = target.moduli[j]
        if sourceValue <= p.value {
          row.update(from: x, count: n)
        } else if sourceValue <= 2 &* p.value {
          for c in 0..<n { row[c] = p.reduceOnce(x[c]) }
        } else {
          for c in 0..<n { row[c] = p.reduce(x[c]) }
        }
      }
      return
    }
    // y_i = [x_i · (Q/q_i)^-1]_{q_i}, each in [0, q_i).
    for i in 0..<sourceCount {
      let q = source.moduli[i]
      let w = inverseComplements[i]
      let x = sources[i]
      let y = scratch + i &* n
      for c in 0..<n { y[c] = q.multiplyShoup(x[c], by: w.value, shoup: w.shoup) }
    }
    // Σ_i y_i · [Q/q_i]_{p_j} with Shoup products against the precomputed constants.
    // Invariant: the accumulator stays in [0, 2p): each lazy product is in [0, 2p), their sum in
    // [0, 4p) (< 2^63), and one branch-free subtraction of 2p brings it back.
    complementsInTarget.withUnsafeBufferPointer { table in
      complementsInTargetShoup.withUnsafeBufferPointer { tableShoup in
        for (j, row) in targets.enumerated() {
          let pValue = target.moduli[j].value
          let twoP = pValue &* 2
          let factors = j &* sourceCount
          row.update(repeating: 0, count: n)
          for i in 0..<sourceCount {
            let w = table[factors &+ i]
            let wShoup = tableShoup[factors &+ i]
            let y = scratch + i &* n
            for c in 0..<n {
              let product = y[c] &* w &- y[c].multipliedFullWidth(by: wShoup).high &* pValue
              let sum = row[c] &+ product
              row[c] = min(sum, sum &- twoP)
            }
          }
          for c in 0..<n { row[c] = min(row[c], row[c] &- pValue) }
        }
      }
    }
  }
}
