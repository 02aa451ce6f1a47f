/// Allocation-free CRT reconstruction of many coefficients to centred `Double`s, for decoding.
///
/// For residues `x_i` over `q_0 … q_{L-1}` it forms `x = Σ [x_i·(Q/q_i)^-1]_{q_i}·(Q/q_i)` in a
/// multiword accumulator, reduces it below Q, centres it in `(-Q/2, Q/2)` and converts the words
/// to `Double` from the most significant one (relative error below 2^-50).
struct CRTComposer {
  let basis: RNSBasis
  /// `Q/q_i` as `L` little-endian words each (flat).
  private let complementWords: [UInt64]
  /// Q as `L + 1` words.
  private let productWords: [UInt64]
  /// floor(Q/2) as `L + 1` words.
  private let halfProductWords: [UInt64]

  init(basis: RNSBasis) {
    self.basis = basis
    let count = basis.count
    var complements: [UInt64] = []
    for complement in basis.crtComplement {
      complements += CRTComposer.words(complement, count: count)
    }
    complementWords = complements
    productWords = CRTComposer.words(basis.product, count: count + 1)
    halfProductWords = CRTComposer.words(basis.product.quotientAndRemainder(dividingBy: 2).quotient, count: count + 1)
  }

  private static func words(_ value: MultiwordInteger, count: Int) -> [UInt64] {
    precondition(value.words.count <= count)
    return value.words + [UInt64](repeating: 0, count: count - value.words.count)
  }

  /// Centred value of every coefficient times `factor`. `residues` is limb-major (`L·N`).
  func centeredValues(_ residues: [UInt64], factor: Double) -> [Double] {
    let n = basis.degree
    let count = basis.count
    var output = [Double](repeating: 0, count: n)
    if count == 1 {
      let q = basis.moduli[0].value
      let half = q >> 1
      for j in 0..<n {
        let r = residues[j]
        output[j] = (r > half ? -Double(q - r) : Double(r)) * factor
      }
      return output
    }
    let inverses = basis.crtInverseOfComplement
    let moduli = basis.moduli
    let width = count + 1
    var accumulator = [UInt64](repeating: 0, count: width)
    complementWords.withUnsafeBufferPointer { complements in
      productWords.withUnsafeBufferPointer { product in
        halfProductWords.withUnsafeBufferPointer { halfProduct in
          accumulator.withUnsafeMutableBufferPointer { acc in
            for j in 0..<n {
              for w in 0..<width { acc[w] = 0 }
              for i in 0..<count {
                let y = moduli[i].multiplyShoup(residues[i * n + j], by: inverses[i].value, shoup: inverses[i].shoup)
                // acc += y · (Q/q_i)
                var carry: UInt64 = 0
                for w in 0..<count {
                  let product = y.multipliedFullWidth(by: complements[i * count + w])
                  let (low, c1) = product.low.addingReportingOverflow(carry)
                  let (sum, c2) = acc[w].addingReportingOverflow(low)
                  acc[w] = sum
                  carry = product.high &+ (c1 ? 1 : 0) &+ (c2 ? 1 : 0)
                }
                acc[count] &+= carry
              }
              // The sum is below L·Q: subtract Q until it is below Q.
              while !CRTComposer.isLess(acc, product, width) {
                CRTComposer.subtract(acc, product, width)
              }
              // Centre: values above floor(Q/2) stand for value − Q.
              let negative = CRTComposer.isLess(halfProduct, acc, width)
              if negative {
                // Q - acc, computed in place as -(acc - Q).
                var borrow: UInt64 = 0
                for w in 0..<width {
                  let (d1, b1) = product[w].subtractingReportingOverflow(acc[w])
                  let (d2, b2) = d1.subtractingReportingOverflow(borrow)
                  acc[w] = d2
                  borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
                }
              }
              var value = 0.0
              for w in stride(from: width - 1, through: 0, by: -1) {
                value = value * 18_446_744_073_709_551_616.0 + Double(acc[w])
              }
              output[j] = (negative ? -value : value) * factor
            }
          }
        }
      }
    }
    return output
  }

  /// `a < b` for `width`-word little-endian numbers.
  private static func isLess(_ a: UnsafeMutableBufferPointer<UInt64>, _ b: UnsafeBufferPointer<UInt64>, _ width: Int)
    -> Bool
  {
    for w in stride(from: width - 1, through: 0, by: -1) where a[w] != b[w] {
      return a[w] < b[w]
    }
    return false
  }

  private static func isLess(_ a: UnsafeBufferPointer<UInt64>, _ b: UnsafeMutableBufferPointer<UInt64>, _ width: Int)
    -> Bool
  {
    for w in stride(from: width - 1, through: 0, by: -1) where a[w] != b[w] {
      return a[w] < b[w]
    }
    return false
  }

  /// `a -= b` for `width`-word numbers with `a ≥ b`.
  private static func subtract(_ a: UnsafeMutableBufferPointer<UInt64>, _ b: UnsafeBufferPointer<UInt64>, _ width: Int)
  {
    var borrow: UInt64 = 0
    for w in 0..<width {
      let (d1, b1) = a[w].subtractingReportingOverflow(b[w])
      let (d2, b2) = d1.subtractingReportingOverflow(borrow)
      a[w] = d2
      borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
    }
  }
}
