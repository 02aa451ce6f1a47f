/// Exact division by the last prime with rounding (the CKKS rescale), in both representations.
///
/// For `x` with residues over `q_0 … q_L`, the result over `q_0 … q_{L-1}` is
/// `round(x / q_L) mod (Q / q_L)`, with `round` to nearest (q_L is odd, so there are no ties).
/// It is computed as `(x + h - r) / q_L` with `h = (q_L - 1)/2` and `r = (x + h) mod q_L`,
/// which is an exact division, so each remaining residue is `(x_i + h - r) · q_L^-1 mod q_i`.
extension RNSPolynomial where Representation == Coefficient {
  /// Replaces `x` by `round(x / q_last)` over the basis without the last prime.
  /// - Precondition: the polynomial has at least two primes.
  public mutating func divideAndRoundByLastModulus() {
    guard let lower = basis.lowerLevel else { preconditionFailure("rescaling needs at least two primes") }
    let n = degree
    let last = basis.count - 1
    let lastModulus = basis.moduli[last]
    let half = lastModulus.value >> 1
    let inverses = basis.inverseOfLastModulus
    let moduli = basis.moduli
    residues.withUnsafeMutableBufferPointer { buffer in
      let lastRow = buffer.baseAddress! + last * n
      // r = (x + h) mod q_L, in [0, q_L).
      for j in 0..<n { lastRow[j] = lastModulus.add(lastRow[j], half) }
      for i in 0..<last {
        let q = moduli[i]
        let row = buffer.baseAddress! + i * n
        let halfModQ = q.reduce(half)
        let inverse = inverses[i]
        for j in 0..<n {
          // (x_i + h - r) mod q_i, then times q_L^-1.
          let r = q.reduce(lastRow[j])
          let numerator = q.subtract(q.add(row[j], halfModQ), r)
          row[j] = q.multiplyShoup(numerator, by: inverse.value, shoup: inverse.shoup)
        }
      }
    }
    residues.removeLast(n)
    basis = lower
  }
}

extension RNSPolynomial where Representation == Evaluation {
  /// Replaces `x` by `round(x / q_last)` over the basis without the last prime, staying in
  /// evaluation form: one inverse NTT of the last limb and one forward NTT per remaining prime.
  /// - Precondition: the polynomial has at least two primes.
  public mutating func divideAndRoundByLastModulus() {
    guard let lower = basis.lowerLevel else { preconditionFailure("rescaling needs at least two primes") }
    let n = degree
    let last = basis.count - 1
    let lastModulus = basis.moduli[last]
    let half = lastModulus.value >> 1
    let inverses = basis.inverseOfLastModulus
    let moduli = basis.moduli
    let tables = basis.nttTables
    var scratch = [UInt64](repeating: 0, count: n)
    residues.withUnsafeMutableBufferPointer { buffer in
      let lastRow = buffer.baseAddress! + last * n
      tables[last].inverse(lastRow)
      for j in 0..<n { lastRow[j] = lastModulus.add(lastRow[j], half) }
      scratch.withUnsafeMutableBufferPointer { scratchBuffer in
        let temporary = scratchBuffer.baseAddress!
        for i in 0..<last {
          let q = moduli[i]
          let halfModQ = q.reduce(half)
          // (r - h) mod q_i in coefficient form, then to evaluation form.
          for j in 0..<n { temporary[j] = q.subtract(q.reduce(lastRow[j]), halfModQ) }
          tables[i].forward(temporary)
          let row = buffer.baseAddress! + i * n
          let inverse = inverses[i]
          for j in 0..<n {
            row[j] = q.multiplyShoup(q.subtract(row[j], temporary[j]), by: inverse.value, shoup: inverse.shoup)
          }
        }
      }
    }
    residues.removeLast(n)
    basis = lower
  }
}
