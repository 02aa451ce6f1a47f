#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Samplers for the polynomials CKKS needs. Small distributions (ternary, Gaussian) draw one
/// integer per coefficient and represent it modulo every prime of the basis, so all limbs
/// describe the same integer polynomial; uniform polynomials are drawn limb by limb, which by
/// the CRT is uniform modulo Q.
///
/// All samplers read a ``SecureRandomGenerator``; the discrete Gaussian uses a cumulative
/// distribution table scanned in full for every sample (no data-dependent branches or lookups).
public enum Sampler {
  /// Standard deviation of the error distribution, as in SEAL and the HE standard.
  public static let defaultStandardDeviation = 3.2
  /// Samples are cut at 6σ (SEAL's `noise_max_deviation`), i.e. |e| ≤ 19 for σ = 3.2.
  public static let tailCutInStandardDeviations = 6.0

  // MARK: Uniform

  /// A uniform polynomial modulo Q. Uniform in either representation; returned as evaluation
  /// form, as key generation and encryption use it.
  public static func uniform(in basis: RNSBasis, using generator: SecureRandomGenerator) -> RNSPolynomial<Evaluation> {
    var polynomial = RNSPolynomial<Evaluation>(zeroIn: basis)
    let n = basis.degree
    polynomial.forEachLimb { _, q, row in
      for j in 0..<n { row[j] = generator.uniform(below: q.value) }
    }
    return polynomial
  }

  /// The uniform polynomial deterministically expanded from a 32-byte seed (evaluation form).
  ///
  /// Normative for seeded ciphertexts and keys: ChaCha20 keyed with the seed and the domain
  /// ``SecureRandomGenerator/uniformPolynomialDomain``; limb by limb, coefficient by coefficient,
  /// each residue is `uniform(below: q_i)` (Lemire's method on consecutive 64-bit words).
  /// - Throws: ``CKKSError/invalidSeedLength(_:)`` unless the seed has 32 bytes.
  public static func uniform(in basis: RNSBasis, seed: [UInt8]) throws(CKKSError) -> RNSPolynomial<Evaluation> {
    let generator = try SecureRandomGenerator(seed: seed, domain: SecureRandomGenerator.uniformPolynomialDomain)
    return uniform(in: basis, using: generator)
  }

  // MARK: Ternary

  /// A secret with coefficients uniform in {-1, 0, 1}.
  public static func ternary(in basis: RNSBasis, using generator: SecureRandomGenerator) -> RNSPolynomial<Coefficient> {
    var values = [Int8](repeating: 0, count: basis.degree)
    var word: UInt64 = 0
    var bytesLeft = 0
    for j in 0..<values.count {
      while true {
        if bytesLeft == 0 {
          word = generator.next()
          bytesLeft = 8
        }
        let byte = UInt8(truncatingIfNeeded: word)
        word >>= 8
        bytesLeft -= 1
        // 255 = 3·85: accepting bytes below 255 keeps byte % 3 uniform.
        if byte < 255 {
          values[j] = Int8(byte % 3) - 1
          break
        }
      }
    }
    defer { values.withUnsafeMutableBytes { secureZero($0) } }
    return lift(values, into: basis)
  }

  /// A secret with exactly `hammingWeight` non-zero coefficients, each ±1 with equal probability,
  /// at uniformly random positions.
  /// - Precondition: `0 ≤ hammingWeight ≤ N` (``ParameterDescription`` validates the weight of a
  ///   sparse secret).
  public static func ternary(
    in basis: RNSBasis, hammingWeight: Int, using generator: SecureRandomGenerator
  ) -> RNSPolynomial<Coefficient> {
    let n = basis.degree
    precondition(hammingWeight >= 0 && hammingWeight <= n, "Hamming weight outside [0, N]")
    // Partial Fisher–Yates: the first h entries of a uniformly shuffled index list.
    var positions = Array(0..<n)
    var values = [Int8](repeating: 0, count: n)
    for i in 0..<hammingWeight {
      let j = i + Int(generator.uniform(below: UInt64(n - i)))
      positions.swapAt(i, j)
      values[positions[i]] = generator.nextWord32() & 1 == 0 ? 1 : -1
    }
    defer {
      values.withUnsafeMutableBytes { secureZero($0) }
      positions.withUnsafeMutableBytes { secureZero($0) }
    }
    return lift(values, into: basis)
  }

  // MARK: Centered uniform

  /// Coefficients uniform in `[−bound, bound]` (each of the 2·bound + 1 values equally likely).
  /// - Precondition: `1 ≤ bound ≤ 2^40`, so that every value stays far below every prime.
  static func centeredUniform(in basis: RNSBasis, bound: Int64, using generator: SecureRandomGenerator)
    -> RNSPolynomial<Coefficient>
  {
    precondition(bound >= 1 && bound <= 1 << 40, "bound outside [1, 2^40]")
    precondition(basis.moduli.allSatisfy { $0.value > 2 * UInt64(bound) }, "a prime below 2·bound")
    var values = [Int64](repeating: 0, count: basis.degree)
    let width = UInt64(2 * bound + 1)
    for j in values.indices { values[j] = Int64(generator.uniform(below: width)) - bound }
    defer { values.withUnsafeMutableBytes { secureZero($0) } }
    var polynomial = RNSPolynomial<Coefficient>(zeroIn: basis)
    let n = basis.degree
    values.withUnsafeBufferPointer { source in
      polynomial.forEachLimb { _, q, row in
        for j in 0..<n {
          let v = source[j]
          // |v| ≤ 2^40 < q: v < 0 ↦ q + v without a branch, as in `lift`.
          row[j] = UInt64(bitPattern: v) &+ (q.value & UInt64(bitPattern: v >> 63))
        }
      }
    }
    return polynomial
  }

  // MARK: Discrete Gaussian

  /// A rounded Gaussian error with standard deviation σ = 3.2 cut at 6σ, sampled exactly from
  /// the discrete Gaussian restricted to `[-19, 19]` through a 63-bit cumulative table.
  public static func gaussian(in basis: RNSBasis, using generator: SecureRandomGenerator) -> RNSPolynomial<Coefficient>
  {
    let n = basis.degree
    var values = [Int8](repeating: 0, count: n)
    let thresholds = GaussianTable.standard.thresholdsMinusOne
    values.withUnsafeMutableBufferPointer { output in
      var j = 0
      while j < n {
        // Four samples at a time; each draws one 64-bit word: 63 bits for the magnitude, 1 for the sign.
        let words = SIMD4<UInt64>(generator.next(), generator.next(), generator.next(), generator.next())
        let uniform63 = words &>> 1
        var magnitude = SIMD4<UInt64>(repeating: 0)
        for threshold in thresholds {
          // (t - 1 - u) >> 63 is 1 exactly when u ≥ t (both below 2^63): a branch-free count
          // using only subtraction and shifts, which every x86-64 and ARM64 CPU vectorizes.
          magnitude &+= (SIMD4(repeating: threshold) &- uniform63) &>> 63
        }
        let negative = words & 1
        // (m XOR -s) + s negates m when s = 1.
        let signed = (magnitude ^ (SIMD4(repeating: 0) &- negative)) &+ negative
        for lane in 0..<min(4, n - j) {
          output[j + lane] = Int8(truncatingIfNeeded: signed[lane])
        }
        j += 4
      }
    }
    defer { values.withUnsafeMutableBytes { secureZero($0) } }
    return lift(values, into: basis)
  }

  /// Represents small signed coefficients modulo every prime.
  static func lift(_ values: [Int8], into basis: RNSBasis) -> RNSPolynomial<Coefficient> {
    var polynomial = RNSPolynomial<Coefficient>(zeroIn: basis)
    let n = basis.degree
    values.withUnsafeBufferPointer { source in
      polynomial.forEachLimb { _, q, row in
        for j in 0..<n {
          let v = Int64(source[j])
          // v < 0 ↦ q + v without a branch: (v >> 63) is all ones exactly when v < 0.
          row[j] = UInt64(bitPattern: v) &+ (q.value & UInt64(bitPattern: v >> 63))
        }
      }
    }
    return polynomial
  }
}

/// Cumulative table of |e| for the discrete Gaussian: `thresholds[k] = floor(2^63 · P(|e| ≤ k))`
/// for k in `[0, bound)`; the sampled magnitude is the number of thresholds ≤ a uniform 63-bit value.
struct GaussianTable: Sendable {
  let standardDeviation: Double
  let bound: Int
  let thresholds: [UInt64]
  /// `thresholds[k] - 1` (every threshold is positive), for the branch-free comparison.
  let thresholdsMinusOne: [UInt64]

  static let standard = GaussianTable(
    standardDeviation: Sampler.defaultStandardDeviation,
    bound: Int((Sampler.tailCutInStandardDeviations * Sampler.defaultStandardDeviation).rounded(.down)))

  init(standardDeviation: Double, bound: Int) {
    self.standardDeviation = standardDeviation
    self.bound = bound
    func rho(_ k: Int) -> Double {
      let x = Double(k)
      return exp(-x * x / (2 * standardDeviation * standardDeviation))
    }
    let weights = (0...bound).map { k in k == 0 ? rho(0) : 2 * rho(k) }
    let total = weights.reduce(0, +)
    var cumulative = 0.0
    var table: [UInt64] = []
    for k in 0..<bound {
      cumulative += weights[k]
      table.append(UInt64((cumulative / total * 9_223_372_036_854_775_808.0).rounded(.down)))
    }
    thresholds = table
    thresholdsMinusOne = table.map { $0 - 1 }
  }

  /// The probability of each value in `[-bound, bound]` this table realizes (for tests).
  func probability(of value: Int) -> Double {
    let magnitude = abs(value)
    guard magnitude <= bound else { return 0 }
    let upper = magnitude < bound ? Double(thresholds[magnitude]) : 9_223_372_036_854_775_808.0
    let lower = magnitude == 0 ? 0 : Double(thresholds[magnitude - 1])
    let mass = (upper - lower) / 9_223_372_036_854_775_808.0
    return magnitude == 0 ? mass : mass / 2
  }
}
