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
  /// `(Q/q_i)^-1 mod q_i` with its Shoup constant, and `1/q_i`, per prime.
  private let inverses: [ShoupOperand]
  private let reciprocals: [Double]

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
    inverses = basis.crtInverseOfComplement
    reciprocals = basis.moduli.map { 1 / Double($0.value) }
  }

  private static func words(_ value: MultiwordInteger, count: Int) -> [UInt64] {
    precondition(value.words.count <= count)
    return value.words + [UInt64](repeating: 0, count: count - value.words.count)
  }

  /// Centred value of every coefficient times `factor`. `residues` is limb-major (`L·N`).
  func centeredValues(_ residues: [UInt64], factor: Double) -> [Double] {
    let n = basis.degree
    let count = basis.count
    if count == 1 {
      let q = basis.moduli[0].value
      let half = q >> 1
      return residues.prefix(n).map { r in (r > half ? -Double(q - r) : Double(r)) * factor }
    }
    var output = [Double](repeating: 0, count: n)
    // Working memory for one coefficient at a time, reused: its digits y_i and the accumulator.
    let digits = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
    let accumulator = UnsafeMutablePointer<UInt64>.allocate(capacity: count + 1)
    defer {
      digits.deallocate()
      accumulator.deallocate()
    }
    residues.withUnsafeBufferPointer { input in
      for j in 0..<n {
        let fraction = decompose(input.baseAddress! + j, stride: n, into: digits)
        if fastPathValid, let value = smallCenteredValue(digits, fraction: fraction, residues: input.baseAddress! + j) {
          output[j] = Double(value) * factor
        } else {
          output[j] = centeredValue(digits, fraction: fraction, accumulator: accumulator) * factor
        }
      }
    }
    return output
  }

  /// The CRT digits `y_i = [x_i·(Q/q_i)^-1]_{q_i}` of one coefficient (residue `i` at
  /// `residues[i·stride]`) written to `digits`, and `Σ y_i/q_i`. Since `Σ y_i·(Q/q_i) = x + v·Q`
  /// for an integer v, that sum is `v + x/Q` up to rounding.
  @inline(__always)
  private func decompose(_ residues: UnsafePointer<UInt64>, stride: Int, into digits: UnsafeMutablePointer<UInt64>)
    -> Double
  {
    var fraction = 0.0
    for i in 0..<basis.count {
      let q = basis.moduli[i].value
      let x = residues[i &* stride]
      // Lazy Shoup product in [0, 2q), then one conditional subtraction.
      let y = x &* inverses[i].value &- x.multipliedFullWidth(by: inverses[i].shoup).high &* q
      digits[i] = y >= q ? y &- q : y
      fraction += Double(digits[i]) * reciprocals[i]
    }
    return fraction
  }

  /// Fast path: the centred value when it is below 2^63 in magnitude, else nil. Computes only the
  /// low 64 bits of `Σ y_i·(Q/q_i) − round(fraction)·Q` (the centred value when it is small) and
  /// accepts it if it matches every residue: an integer below 2^63 that is ≡ x modulo every
  /// prime equals the centred x because Q > 2^65.
  @inline(__always)
  private func smallCenteredValue(_ digits: UnsafePointer<UInt64>, fraction: Double, residues: UnsafePointer<UInt64>)
    -> Int64?
  {
    let n = basis.degree
    var low: UInt64 = 0
    for i in 0..<basis.count { low &+= digits[i] &* complementLowWords[i] }
    let candidate = Int64(bitPattern: low &- UInt64(fraction.rounded()) &* productLowWord)
    for i in 0..<basis.count where basis.moduli[i].reduce(signed: candidate) != residues[i &* n] {
      return nil
    }
    return candidate
  }

  /// General path: `x = Σ y_i·(Q/q_i) − v·Q` in a multiword accumulator, v estimated in floating
  /// point and corrected exactly by at most one, centred in `(-Q/2, Q/2)` and converted to
  /// `Double` from the most significant word.
  private func centeredValue(
    _ digits: UnsafePointer<UInt64>, fraction: Double, accumulator: UnsafeMutablePointer<UInt64>
  )
    -> Double
  {
    let count = basis.count
    let width = count + 1
    accumulator.update(repeating: 0, count: width)
    return complementWords.withUnsafeBufferPointer { complements in
      productWords.withUnsafeBufferPointer { product in
        for i in 0..<count {
          CRTComposer.multiplyAdd(accumulator, complements.baseAddress! + i &* count, count, digits[i])
        }
        // Subtract the estimated multiple of Q, then fix the estimate by at most one.
        if CRTComposer.multiplySubtract(accumulator, product.baseAddress!, width, UInt64(fraction)) {
          CRTComposer.add(accumulator, product.baseAddress!, width)
        }
        if !CRTComposer.isLess(UnsafePointer(accumulator), product.baseAddress!, width) {
          CRTComposer.subtract(accumulator, product.baseAddress!, width)
        }
        // Centre: values above floor(Q/2) stand for value − Q.
        let negative = halfProductWords.withUnsafeBufferPointer {
          CRTComposer.isLess($0.baseAddress!, UnsafePointer(accumulator), width)
        }
        if negative { CRTComposer.negateModulo(accumulator, product.baseAddress!, width) }
        var value = 0.0
        for w in stride(from: width &- 1, through: 0, by: -1) {
          value = value * 18_446_744_073_709_551_616.0 + Double(accumulator[w])
        }
        return negative ? -value : value
      }
    }
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
