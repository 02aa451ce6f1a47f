/// Allocation-free CRT reconstruction of many coefficients to centred `Double`s, for decoding.
///
/// Fast path (exact): when the centred value is below 2^63 in magnitude it is recovered from 64-bit
/// arithmetic and verified against every residue (see `centeredValues`). Otherwise:
/// For residues `x_i` over `q_0 … q_{L-1}` it forms `x = Σ [x_i·(Q/q_i)^-1]_{q_i}·(Q/q_i)` in a
/// multiword accumulator, subtracts the multiple of Q estimated in floating point (then corrects
/// the estimate exactly, by at most one), centres it in `(-Q/2, Q/2)` and converts the words to
/// `Double` from the most significant one (relative error below 2^-50).
struct CRTComposer {
  let basis: RNSBasis
  /// `Q/q_i` as `L` little-endian words each (flat).
  private let complementWords: [UInt64]
  /// Q as `L + 1` words.
  private let productWords: [UInt64]
  /// floor(Q/2) as `L + 1` words.
  private let halfProductWords: [UInt64]
  /// `Q/q_i mod 2^64` and `Q mod 2^64`, for the single-word fast path.
  private let complementLowWords: [UInt64]
  private let productLowWord: UInt64
  /// Whether the fast path's uniqueness argument holds: Q > 2^65.
  private let fastPathValid: Bool

  init(basis: RNSBasis) {
    self.basis = basis
    let count = basis.count
    var complements: [UInt64] = []
    for complement in basis.crtComplement {
      complements += CRTComposer.words(complement, count: count)
    }
    complementWords = complements
    productWords = CRTComposer.words(basis.product, count: count + 1)
    complementLowWords = basis.crtComplement.map { $0.words.first ?? 0 }
    productLowWord = basis.product.words.first ?? 0
    fastPathValid = basis.product.bitWidth > 65
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
    let reducers = basis.moduli
    let moduli = basis.moduli.map(\.value)
    let inverses = basis.crtInverseOfComplement.map(\.value)
    let inverseShoups = basis.crtInverseOfComplement.map(\.shoup)
    let reciprocals = moduli.map { 1 / Double($0) }
    let width = count + 1
    let accumulator = UnsafeMutablePointer<UInt64>.allocate(capacity: width)
    defer { accumulator.deallocate() }
    residues.withUnsafeBufferPointer { input in
      output.withUnsafeMutableBufferPointer { out in
        complementWords.withUnsafeBufferPointer { complements in
          productWords.withUnsafeBufferPointer { product in
            halfProductWords.withUnsafeBufferPointer { halfProduct in
              for j in 0..<n {
                // Fast path. Let y_i = [x_i·(Q/q_i)^-1]_{q_i}; then Σ y_i·(Q/q_i) = x + v·Q with
                // v ≈ Σ y_i/q_i. Compute only the low 64 bits of x − v·Q (v rounded, so this is
                // the centred value when it is small) and accept it if it matches every residue:
                // an integer below 2^63 that is ≡ x modulo every prime equals the centred x
                // because Q > 2^65.
                if fastPathValid {
                  var fraction = 0.0
                  var low: UInt64 = 0
                  for i in 0..<count {
                    let q = moduli[i]
                    let x = input[i &* n &+ j]
                    let y = x &* inverses[i] &- x.multipliedFullWidth(by: inverseShoups[i]).high &* q
                    let yReduced = y >= q ? y &- q : y
                    fraction += Double(yReduced) * reciprocals[i]
                    low &+= yReduced &* complementLowWords[i]
                  }
                  let candidate = Int64(bitPattern: low &- UInt64(fraction.rounded()) &* productLowWord)
                  var matches = true
                  for i in 0..<count {
                    matches = matches && reducers[i].reduce(signed: candidate) == input[i &* n &+ j]
                  }
                  if matches {
                    out[j] = Double(candidate) * factor
                    continue
                  }
                }
                accumulator.update(repeating: 0, count: width)
                // x + v·Q = Σ y_i·(Q/q_i) with y_i = [x_i·(Q/q_i)^-1]_{q_i}; Σ y_i/q_i ≈ v + x/Q.
                var fraction = 0.0
                for i in 0..<count {
                  let q = moduli[i]
                  let x = input[i &* n &+ j]
                  let y = x &* inverses[i] &- x.multipliedFullWidth(by: inverseShoups[i]).high &* q
                  let yReduced = y >= q ? y &- q : y
                  fraction += Double(yReduced) * reciprocals[i]
                  CRTComposer.multiplyAdd(accumulator, complements.baseAddress! + i &* count, count, yReduced)
                }
                // Subtract the estimated multiple of Q, then fix the estimate by at most one.
                let estimate = UInt64(fraction)
                if CRTComposer.multiplySubtract(accumulator, product.baseAddress!, width, estimate) {
                  CRTComposer.add(accumulator, product.baseAddress!, width)
                }
                if !CRTComposer.isLess(UnsafePointer(accumulator), product.baseAddress!, width) {
                  CRTComposer.subtract(accumulator, product.baseAddress!, width)
                }
                // Centre: values above floor(Q/2) stand for value − Q.
                let negative = CRTComposer.isLess(halfProduct.baseAddress!, UnsafePointer(accumulator), width)
                if negative { CRTComposer.negateModulo(accumulator, product.baseAddress!, width) }
                var value = 0.0
                for w in stride(from: width &- 1, through: 0, by: -1) {
                  value = value * 18_446_744_073_709_551_616.0 + Double(accumulator[w])
                }
                out[j] = (negative ? -value : value) * factor
              }
            }
          }
        }
      }
    }
    return output
  }

  /// `acc[0..<count+1] += y · b[0..<count]`.
  @inline(__always)
  private static func multiplyAdd(
    _ acc: UnsafeMutablePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ count: Int, _ y: UInt64
  ) {
    var carry: UInt64 = 0
    for w in 0..<count {
      let product = y.multipliedFullWidth(by: b[w])
      let (low, c1) = product.low.addingReportingOverflow(carry)
      let (sum, c2) = acc[w].addingReportingOverflow(low)
      acc[w] = sum
      carry = product.high &+ (c1 ? 1 : 0) &+ (c2 ? 1 : 0)
    }
    acc[count] &+= carry
  }

  /// `acc -= v · b` over `width` words; returns whether the result went below zero (wrapped).
  @inline(__always)
  private static func multiplySubtract(
    _ acc: UnsafeMutablePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ width: Int, _ v: UInt64
  ) -> Bool {
    var carry: UInt64 = 0
    var borrow: UInt64 = 0
    for w in 0..<width {
      let product = v.multipliedFullWidth(by: b[w])
      let (low, c1) = product.low.addingReportingOverflow(carry)
      carry = product.high &+ (c1 ? 1 : 0)
      let (d1, b1) = acc[w].subtractingReportingOverflow(low)
      let (d2, b2) = d1.subtractingReportingOverflow(borrow)
      acc[w] = d2
      borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
    }
    return borrow != 0 || carry != 0
  }

  /// `acc += b` over `width` words (modulo 2^(64·width)).
  @inline(__always)
  private static func add(_ acc: UnsafeMutablePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ width: Int) {
    var carry: UInt64 = 0
    for w in 0..<width {
      let (s1, c1) = acc[w].addingReportingOverflow(b[w])
      let (s2, c2) = s1.addingReportingOverflow(carry)
      acc[w] = s2
      carry = (c1 ? 1 : 0) + (c2 ? 1 : 0)
    }
  }

  /// `acc -= b` over `width` words (modulo 2^(64·width)).
  @inline(__always)
  private static func subtract(_ acc: UnsafeMutablePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ width: Int) {
    var borrow: UInt64 = 0
    for w in 0..<width {
      let (d1, b1) = acc[w].subtractingReportingOverflow(b[w])
      let (d2, b2) = d1.subtractingReportingOverflow(borrow)
      acc[w] = d2
      borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
    }
  }

  /// `acc = b - acc` over `width` words (for `acc ≤ b`).
  @inline(__always)
  private static func negateModulo(_ acc: UnsafeMutablePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ width: Int) {
    var borrow: UInt64 = 0
    for w in 0..<width {
      let (d1, b1) = b[w].subtractingReportingOverflow(acc[w])
      let (d2, b2) = d1.subtractingReportingOverflow(borrow)
      acc[w] = d2
      borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
    }
  }

  /// `a < b` for `width`-word little-endian numbers.
  @inline(__always)
  private static func isLess(_ a: UnsafePointer<UInt64>, _ b: UnsafePointer<UInt64>, _ width: Int) -> Bool {
    for w in stride(from: width &- 1, through: 0, by: -1) where a[w] != b[w] {
      return a[w] < b[w]
    }
    return false
  }
}
