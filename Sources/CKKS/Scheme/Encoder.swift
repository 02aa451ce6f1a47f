#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// CKKS encoding: complex or real slot values ↔ plaintext polynomials, and coefficient encoding.
///
/// Slot encoding follows Microsoft SEAL's `CKKSEncoder` operation for operation, so for the same
/// values and scale our plaintext is bit-for-bit SEAL's (checked against recorded SEAL output):
/// - slot i sits at the root ζ^(3^i mod 2N) with ζ = e^(iπ/N), in SEAL's bit-reversed layout;
/// - the inverse canonical embedding is SEAL's Gentleman–Sande complex FFT with SEAL's table of
///   roots (cos/sin of 2πk/2N with 8-fold symmetry) and `scale/N` folded into its last stage;
/// - coefficients are rounded half away from zero, reduced modulo every prime and NTT'd.
/// Decoding uses exact CRT reconstruction (not SEAL's approximation) and SEAL's forward FFT.
///
/// Coefficient encoding puts value j, times Δ, in coefficient j: a dot product of two vectors
/// then appears in one coefficient of a product, with no rotation (see ``encodeCoefficients(_:scale:level:)``).
public final class CKKSEncoder: Sendable {
  /// The parameters this encoder serves.
  public let parameters: CKKSParameters
  /// Number of slots, N/2.
  public var slotCount: Int { parameters.slotCount }
  /// SEAL's `matrix_reps_index_map_`: where slot i (and, at `slots + i`, its conjugate) goes.
  private let indexMap: [Int]
  /// SEAL's `root_powers_` (forward FFT) as real and imaginary parts, N entries.
  private let rootReal: [Double]
  private let rootImaginary: [Double]
  /// SEAL's `inv_root_powers_` (inverse FFT), N entries.
  private let inverseRootReal: [Double]
  private let inverseRootImaginary: [Double]

  /// Precomputes SEAL's index map and root tables for the ring degree of `parameters`.
  public init(parameters: CKKSParameters) {
    self.parameters = parameters
    let n = parameters.degree
    let logN = n.trailingZeroBitCount
    let slots = n / 2
    let m = 2 * n
    var map = [Int](repeating: 0, count: n)
    var position = 1
    for i in 0..<slots {
      map[i] = NTTTables.bitReverse((position - 1) >> 1, bits: logN)
      map[slots + i] = NTTTables.bitReverse((m - position - 1) >> 1, bits: logN)
      position = (position * 3) & (m - 1)
    }
    indexMap = map
    let roots = SEALComplexRoots(degreeOfRoots: m)
    var re = [Double](repeating: 0, count: n)
    var im = [Double](repeating: 0, count: n)
    var inverseRe = [Double](repeating: 0, count: n)
    var inverseIm = [Double](repeating: 0, count: n)
    for i in 1..<n {
      (re[i], im[i]) = roots.root(NTTTables.bitReverse(i, bits: logN))
      let (r, s) = roots.root(NTTTables.bitReverse(i - 1, bits: logN) + 1)
      (inverseRe[i], inverseIm[i]) = (r, -s)
    }
    rootReal = re
    rootImaginary = im
    inverseRootReal = inverseRe
    inverseRootImaginary = inverseIm
  }

  // MARK: Slot encoding

  /// Encodes real values into the first slots (the rest are zero).
  /// - Parameters:
  ///   - values: at most N/2 finite values.
  ///   - scale: Δ; the parameters' default scale when `nil`.
  ///   - level: the level to encode at; the top level when `nil`.
  /// - Throws: ``EncodingError`` for too many or non-finite values, a bad scale or level, or
  ///   values too large for the modulus at that level.
  public func encode(_ values: [Double], scale: Double? = nil, level: Int? = nil) throws(EncodingError) -> Plaintext {
    try encode(complex: values.map { ComplexNumber($0) }, scale: scale, level: level)
  }

  /// Encodes complex values into the first slots (the rest are zero). Same rules as ``encode(_:scale:level:)``.
  /// - Throws: as ``encode(_:scale:level:)``.
  public func encode(complex values: [ComplexNumber], scale: Double? = nil, level: Int? = nil) throws(EncodingError)
    -> Plaintext
  {
    let n = parameters.degree
    let slots = n / 2
    guard values.count <= slots else { throw .tooManyValues(count: values.count, capacity: slots) }
    if let bad = values.firstIndex(where: { !$0.real.isFinite || !$0.imaginary.isFinite }) {
      throw .nonFiniteValue(index: bad)
    }
    return try encode(complex: values, scale: scale, basis: basis(level))
  }

  /// The canonical embedding of `values` at `scale` on any basis of this ring degree (e.g. a level's
  /// primes with the special primes, for products kept over Q_ℓ ∪ P); values already checked.
  func encode(complex values: [ComplexNumber], scale: Double?, basis: RNSBasis) throws(EncodingError) -> Plaintext {
    let n = parameters.degree
    let slots = n / 2
    let scale = try checkedScale(scale, basis: basis)
    var re = [Double](repeating: 0, count: n)
    var im = [Double](repeating: 0, count: n)
    for (i, value) in values.enumerated() {
      re[indexMap[i]] = value.real
      im[indexMap[i]] = value.imaginary
      re[indexMap[i + slots]] = value.real
      im[indexMap[i + slots]] = -value.imaginary
    }
    inverseFFT(&re, &im, scalar: scale / Double(n))
    let polynomial = try roundedPolynomial(&re, basis: basis)
    return Plaintext(polynomial: polynomial.forwardNTT(), scale: scale)
  }

  /// Encodes one real value into every slot: the constant polynomial `round(value·Δ)`.
  /// - Throws: as ``encode(_:scale:level:)``.
  public func encode(constant value: Double, scale: Double? = nil, level: Int? = nil) throws(EncodingError) -> Plaintext
  {
    guard value.isFinite else { throw .nonFiniteValue(index: 0) }
    let basis = try basis(level)
    let scale = try checkedScale(scale, basis: basis)
    var coefficients = [Double](repeating: 0, count: parameters.degree)
    coefficients[0] = value * scale
    return Plaintext(polynomial: try roundedPolynomial(&coefficients, basis: basis).forwardNTT(), scale: scale)
  }

  /// Decodes the real parts of all N/2 slots.
  public func decode(_ plaintext: Plaintext) -> [Double] {
    decodeComplex(plaintext).map(\.real)
  }

  /// Decodes all N/2 slots.
  public func decodeComplex(_ plaintext: Plaintext) -> [ComplexNumber] {
    let n = parameters.degree
    var re = centeredCoefficients(plaintext)
    var im = [Double](repeating: 0, count: n)
    forwardFFT(&re, &im)
    return (0..<(n / 2)).map { ComplexNumber(re[indexMap[$0]], im[indexMap[$0]]) }
  }

  // MARK: Coefficient encoding

  /// Encodes `values[j]·Δ` into coefficient j (N values at most): `Σ_j x_j·X^j`.
  ///
  /// For a dot product of x with weights w, encode x with this method and w reversed and
  /// negated, `w'_0 = w_0`, `w'_(N-j) = -w_j`, so that coefficient 0 of the product is `Σ x_j·w_j`
  /// (X^N = -1); see ``encodeCoefficientsForInnerProduct(_:scale:level:)``.
  /// - Throws: as ``encode(_:scale:level:)``.
  public func encodeCoefficients(_ values: [Double], scale: Double? = nil, level: Int? = nil) throws(EncodingError)
    -> Plaintext
  {
    let n = parameters.degree
    guard values.count <= n else { throw .tooManyValues(count: values.count, capacity: n) }
    if let bad = values.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteValue(index: bad) }
    let basis = try basis(level)
    let scale = try checkedScale(scale, basis: basis)
    var coefficients = [Double](repeating: 0, count: n)
    for (j, value) in values.enumerated() { coefficients[j] = value * scale }
    return Plaintext(polynomial: try roundedPolynomial(&coefficients, basis: basis).forwardNTT(), scale: scale)
  }

  /// Encodes weights so that multiplying a ``encodeCoefficients(_:scale:level:)`` encoding of x
  /// by this plaintext puts the inner product `Σ x_j·w_j` in coefficient 0.
  /// - Throws: as ``encode(_:scale:level:)``.
  public func encodeCoefficientsForInnerProduct(_ weights: [Double], scale: Double? = nil, level: Int? = nil)
    throws(EncodingError) -> Plaintext
  {
    let n = parameters.degree
    guard weights.count <= n else { throw .tooManyValues(count: weights.count, capacity: n) }
    var reversed = [Double](repeating: 0, count: n)
    for (j, w) in weights.enumerated() { reversed[j == 0 ? 0 : n - j] = j == 0 ? w : -w }
    return try encodeCoefficients(reversed, scale: scale, level: level)
  }

  /// Decodes every coefficient divided by Δ.
  public func decodeCoefficients(_ plaintext: Plaintext) -> [Double] {
    centeredCoefficients(plaintext)
  }

  // MARK: Internals

  private func basis(_ level: Int?) throws(EncodingError) -> RNSBasis {
    let level = level ?? parameters.maximumLevel
    guard level >= 0, level <= parameters.maximumLevel else {
      throw .levelOutOfRange(level, maximum: parameters.maximumLevel)
    }
    return parameters.basis(atLevel: level)
  }

  private func checkedScale(_ scale: Double?, basis: RNSBasis) throws(EncodingError) -> Double {
    let scale = scale ?? parameters.defaultScale
    let bits = basis.product.bitWidth
    guard scale.isFinite, scale > 0, Int(scale.exponent) + 1 < bits else {
      throw .invalidScale(scale, modulusBits: bits)
    }
    return scale
  }

  /// Rounds (half away from zero, like `std::round`) and reduces every coefficient modulo every
  /// prime. Values must stay below Q/2 in magnitude. Rounds `values` in place.
  private func roundedPolynomial(_ values: inout [Double], basis: RNSBasis) throws(EncodingError)
    -> RNSPolynomial<Coefficient>
  {
    let n = basis.degree
    var maximum = 0.0
    for j in 0..<n {
      maximum = max(maximum, abs(values[j]))
      values[j] = values[j].rounded()
    }
    let modulusBits = basis.product.bitWidth
    // ceil(log2(max)) bits must leave room for the sign: |value| < 2^(bits - 2) < Q/2.
    let neededBits = maximum <= 1 ? 0 : Int((maximum.nextDown).exponent) + 1
    guard neededBits < modulusBits - 1 else { throw .valuesTooLarge(bits: neededBits, modulusBits: modulusBits) }
    let fitsInWord = maximum < 18_446_744_073_709_551_615.0
    var polynomial = RNSPolynomial<Coefficient>(zeroIn: basis)
    values.withUnsafeBufferPointer { rounded in
      polynomial.forEachLimb { _, q, row in
        for j in 0..<n {
          let value = rounded[j]
          let magnitude = abs(value)
          let residue: UInt64
          if fitsInWord || magnitude < 18_446_744_073_709_551_616.0 {
            residue = q.reduce(UInt64(magnitude))
          } else {
            // magnitude = significand · 2^(exponent - 52) exactly; reduce each factor.
            let significand = UInt64(magnitude.significandBitPattern) | (1 << 52)
            let shift = UInt64(Int(magnitude.exponent) - 52)
            residue = q.multiply(q.reduce(significand), q.power(2, shift))
          }
          row[j] = value < 0 ? q.negate(residue) : residue
        }
      }
    }
    return polynomial
  }

  /// Centred coefficients divided by the scale.
  private func centeredCoefficients(_ plaintext: Plaintext) -> [Double] {
    let coefficients = plaintext.polynomial.inverseNTT()
    return CRTComposer(basis: coefficients.basis).centeredValues(coefficients.residues, factor: 1 / plaintext.scale)
  }

  /// SEAL's `DWTHandler::transform_from_rev` on complex values with `inv_root_powers_`, the last
  /// stage multiplied by `scalar`. Operation order matters: it reproduces SEAL's rounding
  /// (products are never fused, sums are evaluated in SEAL's order).
  private func inverseFFT(_ re: inout [Double], _ im: inout [Double], scalar: Double) {
    let n = re.count
    re.withUnsafeMutableBufferPointer { reBuffer in
      im.withUnsafeMutableBufferPointer { imBuffer in
        inverseRootReal.withUnsafeBufferPointer { rootsRe in
          inverseRootImaginary.withUnsafeBufferPointer { rootsIm in
            let re = reBuffer.baseAddress!
            let im = imBuffer.baseAddress!
            var rootIndex = 0
            var gap = 1
            var m = n >> 1
            while m > 1 {
              var offset = 0
              for _ in 0..<m {
                rootIndex &+= 1
                let rr = rootsRe[rootIndex]
                let ri = rootsIm[rootIndex]
                let xr = re + offset
                let xi = im + offset
                let yr = xr + gap
                let yi = xi + gap
                for j in 0..<gap {
                  let (ur, ui, vr, vi) = (xr[j], xi[j], yr[j], yi[j])
                  xr[j] = ur + vr
                  xi[j] = ui + vi
                  let dr = ur - vr
                  let di = ui - vi
                  yr[j] = dr * rr - di * ri
                  yi[j] = dr * ri + di * rr
                }
                offset &+= gap << 1
              }
              gap <<= 1
              m >>= 1
            }
            rootIndex &+= 1
            let sr = rootsRe[rootIndex] * scalar
            let si = rootsIm[rootIndex] * scalar
            let yr = re + gap
            let yi = im + gap
            for x in 0..<gap {
              let (ur, ui, vr, vi) = (re[x], im[x], yr[x], yi[x])
              re[x] = (ur + vr) * scalar
              im[x] = (ui + vi) * scalar
              let dr = ur - vr
              let di = ui - vi
              yr[x] = dr * sr - di * si
              yi[x] = dr * si + di * sr
            }
          }
        }
      }
    }
  }

  /// SEAL's `DWTHandler::transform_to_rev` on complex values with `root_powers_`.
  private func forwardFFT(_ re: inout [Double], _ im: inout [Double]) {
    let n = re.count
    re.withUnsafeMutableBufferPointer { reBuffer in
      im.withUnsafeMutableBufferPointer { imBuffer in
        rootReal.withUnsafeBufferPointer { rootsRe in
          rootImaginary.withUnsafeBufferPointer { rootsIm in
            let re = reBuffer.baseAddress!
            let im = imBuffer.baseAddress!
            var rootIndex = 0
            var gap = n >> 1
            var m = 1
            while m < n >> 1 {
              var offset = 0
              for _ in 0..<m {
                rootIndex &+= 1
                let rr = rootsRe[rootIndex]
                let ri = rootsIm[rootIndex]
                let xr = re + offset
                let xi = im + offset
                let yr = xr + gap
                let yi = xi + gap
                for j in 0..<gap {
                  let (ur, ui, wr, wi) = (xr[j], xi[j], yr[j], yi[j])
                  let vr = wr * rr - wi * ri
                  let vi = wr * ri + wi * rr
                  xr[j] = ur + vr
                  xi[j] = ui + vi
                  yr[j] = ur - vr
                  yi[j] = ui - vi
                }
                offset &+= gap << 1
              }
              m <<= 1
              gap >>= 1
            }
            for i in 0..<m {
              rootIndex &+= 1
              let rr = rootsRe[rootIndex]
              let ri = rootsIm[rootIndex]
              let x = 2 &* i
              let (ur, ui, wr, wi) = (re[x], im[x], re[x &+ 1], im[x &+ 1])
              let vr = wr * rr - wi * ri
              let vi = wr * ri + wi * rr
              re[x] = ur + vr
              im[x] = ui + vi
              re[x &+ 1] = ur - vr
              im[x &+ 1] = ui - vi
            }
          }
        }
      }
    }
  }
}

/// SEAL's `util::ComplexRoots`: the `degreeOfRoots`-th roots of unity from one eighth of them,
/// using their 8-fold symmetry, so that every root equals SEAL's to the last bit.
struct SEALComplexRoots {
  let degreeOfRoots: Int
  private let re: [Double]
  private let im: [Double]

  init(degreeOfRoots: Int) {
    self.degreeOfRoots = degreeOfRoots
    var re: [Double] = []
    var im: [Double] = []
    for i in 0...(degreeOfRoots / 8) {
      // polar(1.0, 2π·i/m), evaluated left to right as SEAL does.
      let angle = 2 * Double.pi * Double(i) / Double(degreeOfRoots)
      re.append(cos(angle))
      im.append(sin(angle))
    }
    self.re = re
    self.im = im
  }

  /// e^(2πi·index/m) as (real, imaginary).
  func root(_ index: Int) -> (Double, Double) {
    let m = degreeOfRoots
    let k = index & (m - 1)
    if k <= m / 8 { return (re[k], im[k]) }
    if k <= m / 4 {
      // mirror: swap real and imaginary parts.
      return (im[m / 4 - k], re[m / 4 - k])
    }
    if k <= m / 2 {
      let (a, b) = root(m / 2 - k)
      return (-a, b)  // -conj
    }
    if k <= 3 * m / 4 {
      let (a, b) = root(k - m / 2)
      return (-a, -b)
    }
    let (a, b) = root(m - k)
    return (a, -b)  // conj
  }
}
