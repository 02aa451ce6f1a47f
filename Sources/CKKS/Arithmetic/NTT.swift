/// Precomputed tables for the negacyclic number-theoretic transform of degree N modulo one prime.
///
/// Conventions follow Microsoft SEAL 4.1 so that our evaluation ("NTT") form of a polynomial is
/// bit-for-bit SEAL's:
/// - the root ψ is the *smallest* primitive 2N-th root of unity modulo q;
/// - the forward transform is the Cooley–Tukey transform with powers of ψ in bit-reversed
///   order, so output slot `j` holds `a(ψ^(2·bitReverse(j) + 1))` (bit-reversed output order).
///
/// The transforms are Harvey's lazy butterflies with Shoup-precomputed twiddles
/// (D. Harvey, "Faster arithmetic for number-theoretic transforms", 2014,
/// https://arxiv.org/abs/1205.2926). They run in place and allocate nothing.
/// The tables are immutable after construction, so sharing them between threads is safe.
public final class NTTTables: @unchecked Sendable {
  /// The ring degree N (a power of two, at least 2).
  public let degree: Int
  /// log2(N).
  public let logDegree: Int
  /// The prime modulus, with `q ≡ 1 (mod 2N)`.
  public let modulus: Modulus
  /// ψ, the smallest primitive 2N-th root of unity modulo q.
  public let root: UInt64

  /// `forwardRoots[k] = ψ^bitReverse(k)` for k in `[0, N)`, and their Shoup constants.
  let forwardRoots: UnsafeMutablePointer<UInt64>
  let forwardShoup: UnsafeMutablePointer<UInt64>
  /// Inverse twiddles `ψ^-bitReverse(k)` stored in the order the inverse transform reads them,
  /// so every stage walks memory sequentially. N - 1 entries.
  let inverseRoots: UnsafeMutablePointer<UInt64>
  let inverseShoup: UnsafeMutablePointer<UInt64>
  /// N⁻¹ mod q, folded into the last inverse stage.
  let inverseDegree: ShoupOperand
  /// N⁻¹ · (last inverse twiddle) mod q, for the other output of the last inverse stage.
  let inverseDegreeTimesLastRoot: ShoupOperand

  /// Builds the tables.
  /// - Throws: ``CKKSError/invalidDegree(_:)`` when N is not a power of two ≥ 2, and
  ///   ``CKKSError/notNTTFriendly(modulus:degree:)`` when q is not a prime ≡ 1 (mod 2N).
  public init(degree: Int, modulus: Modulus) throws(CKKSError) {
    guard degree >= 2, degree <= 1 << 17, degree & (degree - 1) == 0 else {
      throw .invalidDegree(degree)
    }
    let q = modulus.value
    guard Primes.isPrime(q), (q - 1) % (2 * UInt64(degree)) == 0,
      let psi = Primes.minimalPrimitiveRoot(order: 2 * UInt64(degree), modulus: modulus)
    else {
      throw .notNTTFriendly(modulus: q, degree: degree)
    }
    self.degree = degree
    self.logDegree = degree.trailingZeroBitCount
    self.modulus = modulus
    self.root = psi

    forwardRoots = .allocate(capacity: degree)
    forwardShoup = .allocate(capacity: degree)
    inverseRoots = .allocate(capacity: degree)
    inverseShoup = .allocate(capacity: degree)

    let psiInverse = modulus.inverse(psi)!
    var power: UInt64 = 1
    var inversePowers = [UInt64](repeating: 0, count: degree)
    var inversePower: UInt64 = 1
    for i in 0..<degree {
      let k = NTTTables.bitReverse(i, bits: logDegree)
      forwardRoots[k] = power
      forwardShoup[k] = modulus.shoupConstant(for: power)
      inversePowers[k] = inversePower
      power = modulus.multiply(power, psi)
      inversePower = modulus.multiply(inversePower, psiInverse)
    }
    // Inverse stages use h = N/2, N/4, …, 1 groups, group i reading ψ^-bitReverse(h + i).
    var index = 0
    var groups = degree / 2
    while groups >= 1 {
      for i in 0..<groups {
        let w = inversePowers[groups + i]
        inverseRoots[index] = w
        inverseShoup[index] = modulus.shoupConstant(for: w)
        index += 1
      }
      groups /= 2
    }
    let nInverse = modulus.inverse(UInt64(degree))!
    inverseDegree = ShoupOperand(nInverse, modulus: modulus)
    inverseDegreeTimesLastRoot = ShoupOperand(
      modulus.multiply(nInverse, inverseRoots[degree - 2]), modulus: modulus)
  }

  deinit {
    forwardRoots.deallocate()
    forwardShoup.deallocate()
    inverseRoots.deallocate()
    inverseShoup.deallocate()
  }

  /// Reverses the lowest `bits` bits of `value`.
  @inlinable
  public static func bitReverse(_ value: Int, bits: Int) -> Int {
    var input = value
    var result = 0
    for _ in 0..<bits {
      result = (result << 1) | (input & 1)
      input >>= 1
    }
    return result
  }

  // MARK: Forward transform

  /// In-place forward negacyclic NTT of one residue polynomial.
  ///
  /// - Parameter values: N coefficients, each in `[0, 4q)`; on return the evaluations in SEAL's
  ///   bit-reversed order, each in `[0, q)`.
  ///
  /// Structure (portable build): one radix-2 stage when log2(N) is odd, then radix-4 passes (two
  /// Cooley–Tukey stages per pass over memory); the last pass is fused with the final reduction.
  /// Builds with `CKKS_VECTORIZED_NTT` (set with `CKKS_TARGET_CPU`) use radix-2 stages, which
  /// the compiler vectorizes when the CPU has 64-bit vector multiplies, and the same last pass.
  /// Invariant: every value stays in `[0, 4q)` between stages (4q < 2^63 because q < 2^61).
  public func forward(_ values: UnsafeMutablePointer<UInt64>) {
    let q = modulus.value
    let twoQ = q &* 2
    var groups = 1
    var half = degree >> 1
    if degree == 2 {
      forwardFinalRadix2(values, q: q)
      return
    }
    #if CKKS_VECTORIZED_NTT
      // Built for a CPU with 64-bit vector multiplies: long radix-2 loops auto-vectorize best.
      while half > 2 {
        forwardRadix2Stage(values, groups: groups, half: half, twoQ: twoQ, q: q)
        groups &<<= 1
        half &>>= 1
      }
    #else
      // Portable scalar build: radix-4 halves the passes over memory.
      if logDegree & 1 == 1 {
        forwardRadix2Stage(values, groups: groups, half: half, twoQ: twoQ, q: q)
        groups &<<= 1
        half &>>= 1
      }
      while half > 2 {
        forwardRadix4Stages(values, groups: groups, quarter: half >> 1, twoQ: twoQ, q: q)
        groups &<<= 2
        half &>>= 2
      }
    #endif
    forwardFinalRadix4(values, groups: groups, twoQ: twoQ, q: q)
  }

  /// One radix-2 stage: `groups` blocks of `2·half` values. Inputs and outputs in `[0, 4q)`.
  @inline(__always)
  private func forwardRadix2Stage(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, half: Int, twoQ: UInt64, q: UInt64
  ) {
    for group in 0..<groups {
      let w = forwardRoots[groups &+ group]
      let wShoup = forwardShoup[groups &+ group]
      let x = values + (2 &* group &* half)
      let y = x + half
      for j in 0..<half {
        // X in [0, 4q) -> [0, 2q); T = Y·w in [0, 2q); outputs X ± T in [0, 4q).
        var u = x[j]
        u = min(u, u &- twoQ)
        let v = y[j]
        let t = v &* w &- v.multipliedFullWidth(by: wShoup).high &* q
        x[j] = u &+ t
        y[j] = u &- t &+ twoQ
      }
    }
  }

  /// Two stages at once: the stage with `groups` groups of half-size `2·quarter`, then the
  /// stage with `2·groups` groups of half-size `quarter`. Inputs and outputs in `[0, 4q)`.
  @inline(__always)
  private func forwardRadix4Stages(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, quarter: Int, twoQ: UInt64, q: UInt64
  ) {
    for group in 0..<groups {
      let first = groups &+ group
      let w1 = forwardRoots[first]
      let w1Shoup = forwardShoup[first]
      let w2 = forwardRoots[2 &* first]
      let w2Shoup = forwardShoup[2 &* first]
      let w3 = forwardRoots[2 &* first &+ 1]
      let w3Shoup = forwardShoup[2 &* first &+ 1]
      let x0 = values + (group &* 4 &* quarter)
      let x1 = x0 + quarter
      let x2 = x1 + quarter
      let x3 = x2 + quarter
      for j in 0..<quarter {
        var a0 = x0[j]
        var a1 = x1[j]
        let a2 = x2[j]
        let a3 = x3[j]
        // First stage: (a0, a2) and (a1, a3) with w1.
        a0 = min(a0, a0 &- twoQ)
        a1 = min(a1, a1 &- twoQ)
        let t2 = a2 &* w1 &- a2.multipliedFullWidth(by: w1Shoup).high &* q
        let t3 = a3 &* w1 &- a3.multipliedFullWidth(by: w1Shoup).high &* q
        var b0 = a0 &+ t2
        var b2 = a0 &- t2 &+ twoQ
        let b1 = a1 &+ t3
        let b3 = a1 &- t3 &+ twoQ
        // Second stage: (b0, b1) with w2 and (b2, b3) with w3.
        b0 = min(b0, b0 &- twoQ)
        b2 = min(b2, b2 &- twoQ)
        let u1 = b1 &* w2 &- b1.multipliedFullWidth(by: w2Shoup).high &* q
        let u3 = b3 &* w3 &- b3.multipliedFullWidth(by: w3Shoup).high &* q
        x0[j] = b0 &+ u1
        x1[j] = b0 &- u1 &+ twoQ
        x2[j] = b2 &+ u3
        x3[j] = b2 &- u3 &+ twoQ
      }
    }
  }

  /// The last two stages on blocks of four consecutive values, fused with the reduction of
  /// every output from `[0, 4q)` to `[0, q)`.
  @inline(__always)
  private func forwardFinalRadix4(_ values: UnsafeMutablePointer<UInt64>, groups: Int, twoQ: UInt64, q: UInt64) {
    for group in 0..<groups {
      let first = groups &+ group
      let w1 = forwardRoots[first]
      let w1Shoup = forwardShoup[first]
      let w2 = forwardRoots[2 &* first]
      let w2Shoup = forwardShoup[2 &* first]
      let w3 = forwardRoots[2 &* first &+ 1]
      let w3Shoup = forwardShoup[2 &* first &+ 1]
      let x = values + 4 &* group
      var a0 = x[0]
      var a1 = x[1]
      let a2 = x[2]
      let a3 = x[3]
      a0 = min(a0, a0 &- twoQ)
      a1 = min(a1, a1 &- twoQ)
      let t2 = a2 &* w1 &- a2.multipliedFullWidth(by: w1Shoup).high &* q
      let t3 = a3 &* w1 &- a3.multipliedFullWidth(by: w1Shoup).high &* q
      var b0 = a0 &+ t2
      var b2 = a0 &- t2 &+ twoQ
      let b1 = a1 &+ t3
      let b3 = a1 &- t3 &+ twoQ
      b0 = min(b0, b0 &- twoQ)
      b2 = min(b2, b2 &- twoQ)
      let u1 = b1 &* w2 &- b1.multipliedFullWidth(by: w2Shoup).high &* q
      let u3 = b3 &* w3 &- b3.multipliedFullWidth(by: w3Shoup).high &* q
      x[0] = NTTTables.reduceFromFourQ(b0 &+ u1, twoQ: twoQ, q: q)
      x[1] = NTTTables.reduceFromFourQ(b0 &- u1 &+ twoQ, twoQ: twoQ, q: q)
      x[2] = NTTTables.reduceFromFourQ(b2 &+ u3, twoQ: twoQ, q: q)
      x[3] = NTTTables.reduceFromFourQ(b2 &- u3 &+ twoQ, twoQ: twoQ, q: q)
    }
  }

  /// N = 2: a single butterfly with the final reduction.
  private func forwardFinalRadix2(_ values: UnsafeMutablePointer<UInt64>, q: UInt64) {
    let twoQ = q &* 2
    var u = values[0]
    u = min(u, u &- twoQ)
    let v = values[1]
    let t = v &* forwardRoots[1] &- v.multipliedFullWidth(by: forwardShoup[1]).high &* q
    values[0] = NTTTables.reduceFromFourQ(u &+ t, twoQ: twoQ, q: q)
    values[1] = NTTTables.reduceFromFourQ(u &- t &+ twoQ, twoQ: twoQ, q: q)
  }

  /// Maps `[0, 4q)` to `[0, q)` with two branch-free conditional subtractions.
  @inline(__always)
  static func reduceFromFourQ(_ x: UInt64, twoQ: UInt64, q: UInt64) -> UInt64 {
    let y = min(x, x &- twoQ)
    return min(y, y &- q)
  }

  // MARK: Inverse transform

  /// In-place inverse negacyclic NTT, the exact inverse of ``forward(_:)``, with N⁻¹ applied.
  ///
  /// - Parameter values: N evaluations in bit-reversed order, each in `[0, 2q)`; on return the
  ///   coefficients, each in `[0, q)`.
  ///
  /// Gentleman–Sande butterflies; the first two stages are fused in one radix-4 pass over
  /// blocks of four, the middle stages run as radix-4 passes (portable build) or radix-2 stages
  /// (`CKKS_VECTORIZED_NTT`), and N⁻¹ is folded into the last stage.
  /// Invariant: every value stays in `[0, 2q)` between stages.
  public func inverse(_ values: UnsafeMutablePointer<UInt64>) {
    let q = modulus.value
    let twoQ = q &* 2
    var groups = degree >> 1
    var half = 1
    var rootIndex = 0
    if degree >= 8 {
      inverseFirstRadix4(values, blocks: degree >> 2, twoQ: twoQ, q: q)
      rootIndex = (degree >> 1) &+ (degree >> 2)
      groups = degree >> 3
      half = 4
    }
    #if !CKKS_VECTORIZED_NTT
      while groups >= 4 {
        inverseRadix4Stages(values, groups: groups, half: half, rootIndex: rootIndex, twoQ: twoQ, q: q)
        rootIndex &+= groups &+ (groups >> 1)
        groups &>>= 2
        half &<<= 2
      }
    #endif
    while groups >= 2 {
      inverseRadix2Stage(values, groups: groups, half: half, rootIndex: rootIndex, twoQ: twoQ, q: q)
      rootIndex &+= groups
      groups &>>= 1
      half &<<= 1
    }
    // Last stage: one group; fold N⁻¹ into both outputs and reduce to [0, q).
    let scale = inverseDegree
    let scaledRoot = inverseDegreeTimesLastRoot
    let x = values
    let y = values + half
    for j in 0..<half {
      let u = x[j]
      let v = y[j]
      let sum = u &+ v
      let difference = u &- v &+ twoQ
      let a = sum &* scale.value &- sum.multipliedFullWidth(by: scale.shoup).high &* q
      let b = difference &* scaledRoot.value &- difference.multipliedFullWidth(by: scaledRoot.shoup).high &* q
      x[j] = min(a, a &- q)
      y[j] = min(b, b &- q)
    }
  }

  /// One Gentleman–Sande stage. Inputs and outputs in `[0, 2q)`.
  @inline(__always)
  private func inverseRadix2Stage(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, half: Int, rootIndex: Int, twoQ: UInt64, q: UInt64
  ) {
    for group in 0..<groups {
      let w = inverseRoots[rootIndex &+ group]
      let wShoup = inverseShoup[rootIndex &+ group]
      let x = values + (2 &* group &* half)
      let y = x + half
      for j in 0..<half {
        // X + Y in [0, 4q) -> [0, 2q); (X - Y + 2q) in (0, 4q) times w -> [0, 2q).
        let u = x[j]
        let v = y[j]
        let sum = u &+ v
        let difference = u &- v &+ twoQ
        x[j] = min(sum, sum &- twoQ)
        y[j] = difference &* w &- difference.multipliedFullWidth(by: wShoup).high &* q
      }
    }
  }

  /// Two Gentleman–Sande stages at once: `groups` groups of half-size `half`, then `groups/2`
  /// groups of half-size `2·half`, on blocks of `4·half` values. Inputs and outputs in `[0, 2q)`.
  @inline(__always)
  private func inverseRadix4Stages(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, half: Int, rootIndex: Int, twoQ: UInt64, q: UInt64
  ) {
    for block in 0..<(groups >> 1) {
      let first = rootIndex &+ 2 &* block
      let wa = inverseRoots[first]
      let waShoup = inverseShoup[first]
      let wb = inverseRoots[first &+ 1]
      let wbShoup = inverseShoup[first &+ 1]
      let second = rootIndex &+ groups &+ block
      let wc = inverseRoots[second]
      let wcShoup = inverseShoup[second]
      let x0 = values + (block &* 4 &* half)
      let x1 = x0 + half
      let x2 = x1 + half
      let x3 = x2 + half
      for j in 0..<half {
        let a0 = x0[j]
        let a1 = x1[j]
        let a2 = x2[j]
        let a3 = x3[j]
        // First stage: (a0, a1) with wa, (a2, a3) with wb.
        var b0 = a0 &+ a1
        b0 = min(b0, b0 &- twoQ)
        let d1 = a0 &- a1 &+ twoQ
        let b1 = d1 &* wa &- d1.multipliedFullWidth(by: waShoup).high &* q
        var b2 = a2 &+ a3
        b2 = min(b2, b2 &- twoQ)
        let d3 = a2 &- a3 &+ twoQ
        let b3 = d3 &* wb &- d3.multipliedFullWidth(by: wbShoup).high &* q
        // Second stage: (b0, b2) and (b1, b3) with wc.
        let s0 = b0 &+ b2
        let e2 = b0 &- b2 &+ twoQ
        let s1 = b1 &+ b3
        let e3 = b1 &- b3 &+ twoQ
        x0[j] = min(s0, s0 &- twoQ)
        x1[j] = min(s1, s1 &- twoQ)
        x2[j] = e2 &* wc &- e2.multipliedFullWidth(by: wcShoup).high &* q
        x3[j] = e3 &* wc &- e3.multipliedFullWidth(by: wcShoup).high &* q
      }
    }
  }

  /// The first two stages (half-sizes 1 and 2) on `blocks` blocks of four consecutive values.
  @inline(__always)
  private func inverseFirstRadix4(_ values: UnsafeMutablePointer<UInt64>, blocks: Int, twoQ: UInt64, q: UInt64) {
    let secondIndex = blocks &* 2
    for block in 0..<blocks {
      let wa = inverseRoots[2 &* block]
      let waShoup = inverseShoup[2 &* block]
      let wb = inverseRoots[2 &* block &+ 1]
      let wbShoup = inverseShoup[2 &* block &+ 1]
      let wc = inverseRoots[secondIndex &+ block]
      let wcShoup = inverseShoup[secondIndex &+ block]
      let x = values + 4 &* block
      let a0 = x[0]
      let a1 = x[1]
      let a2 = x[2]
      let a3 = x[3]
      var b0 = a0 &+ a1
      b0 = min(b0, b0 &- twoQ)
      let d1 = a0 &- a1 &+ twoQ
      let b1 = d1 &* wa &- d1.multipliedFullWidth(by: waShoup).high &* q
      var b2 = a2 &+ a3
      b2 = min(b2, b2 &- twoQ)
      let d3 = a2 &- a3 &+ twoQ
      let b3 = d3 &* wb &- d3.multipliedFullWidth(by: wbShoup).high &* q
      let s0 = b0 &+ b2
      let e2 = b0 &- b2 &+ twoQ
      let s1 = b1 &+ b3
      let e3 = b1 &- b3 &+ twoQ
      x[0] = min(s0, s0 &- twoQ)
      x[1] = min(s1, s1 &- twoQ)
      x[2] = e2 &* wc &- e2.multipliedFullWidth(by: wcShoup).high &* q
      x[3] = e3 &* wc &- e3.multipliedFullWidth(by: wcShoup).high &* q
    }
  }

  /// Convenience forward transform of an array (allocates; for tests and tools).
  public func forward(_ values: [UInt64]) -> [UInt64] {
    precondition(values.count == degree)
    var copy = values
    copy.withUnsafeMutableBufferPointer { forward($0.baseAddress!) }
    return copy
  }

  /// Convenience inverse transform of an array (allocates; for tests and tools).
  public func inverse(_ values: [UInt64]) -> [UInt64] {
    precondition(values.count == degree)
    var copy = values
    copy.withUnsafeMutableBufferPointer { inverse($0.baseAddress!) }
    return copy
  }
}
