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
  /// Invariant: every value stays in `[0, 4q)` between stages (4q < 2^63 because q < 2^61);
  /// debug builds assert it in every butterfly.
  func forward(_ values: UnsafeMutablePointer<UInt64>) {
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
        let v = y[j]
        assert(u < twoQ &* 2 && v < twoQ &* 2, "forward NTT input outside [0, 4q)")
        u = min(u, u &- twoQ)
        let t = NTTTables.lazyShoup(v, w, wShoup, q)
        x[j] = u &+ t
        y[j] = u &- t &+ twoQ
      }
    }
  }

  /// The three twiddles (with Shoup constants) of one radix-4 block: `first` for the first
  /// stage, `second` and `third` for the two halves of the second stage.
  @usableFromInline
  struct Radix4Twiddles {
    let first: UInt64, firstShoup: UInt64
    let second: UInt64, secondShoup: UInt64
    let third: UInt64, thirdShoup: UInt64
  }

  /// Forward twiddles for the block whose first-stage root index is `index` (the second stage
  /// uses indices `2·index` and `2·index + 1`).
  @inline(__always)
  private func forwardTwiddles(_ index: Int) -> Radix4Twiddles {
    Radix4Twiddles(
      first: forwardRoots[index], firstShoup: forwardShoup[index],
      second: forwardRoots[2 &* index], secondShoup: forwardShoup[2 &* index],
      third: forwardRoots[2 &* index &+ 1], thirdShoup: forwardShoup[2 &* index &+ 1])
  }

  /// Lazy Shoup product `v·w mod q` in `[0, 2q)` for any 64-bit `v`.
  @inline(__always)
  private static func lazyShoup(_ v: UInt64, _ w: UInt64, _ wShoup: UInt64, _ q: UInt64) -> UInt64 {
    v &* w &- v.multipliedFullWidth(by: wShoup).high &* q
  }

  /// Two Cooley–Tukey stages on four values: (a0, a2) and (a1, a3) with the first twiddle, then
  /// (b0, b1) and (b2, b3) with the second and third. Inputs and outputs in `[0, 4q)`.
  @inline(__always)
  private static func forwardRadix4Butterfly(
    _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ w: Radix4Twiddles, twoQ: UInt64, q: UInt64
  ) -> (UInt64, UInt64, UInt64, UInt64) {
    assertFourQ(a0, a1, a2, a3, twoQ: twoQ)
    let x0 = min(a0, a0 &- twoQ)
    let x1 = min(a1, a1 &- twoQ)
    let t2 = lazyShoup(a2, w.first, w.firstShoup, q)
    let t3 = lazyShoup(a3, w.first, w.firstShoup, q)
    var b0 = x0 &+ t2
    var b2 = x0 &- t2 &+ twoQ
    let b1 = x1 &+ t3
    let b3 = x1 &- t3 &+ twoQ
    b0 = min(b0, b0 &- twoQ)
    b2 = min(b2, b2 &- twoQ)
    let u1 = lazyShoup(b1, w.second, w.secondShoup, q)
    let u3 = lazyShoup(b3, w.third, w.thirdShoup, q)
    return (b0 &+ u1, b0 &- u1 &+ twoQ, b2 &+ u3, b2 &- u3 &+ twoQ)
  }

  /// Two stages at once: the stage with `groups` groups of half-size `2·quarter`, then the
  /// stage with `2·groups` groups of half-size `quarter`. Inputs and outputs in `[0, 4q)`.
  @inline(__always)
  private func forwardRadix4Stages(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, quarter: Int, twoQ: UInt64, q: UInt64
  ) {
    for group in 0..<groups {
      let w = forwardTwiddles(groups &+ group)
      let x0 = values + (group &* 4 &* quarter)
      let x1 = x0 + quarter
      let x2 = x1 + quarter
      let x3 = x2 + quarter
      for j in 0..<quarter {
        // The butterfly of `forwardRadix4Butterfly`, written out: in this hot loop the compiler
        // allocates registers better this way (docs/benchmarks.md).
        var a0 = x0[j]
        var a1 = x1[j]
        let a2 = x2[j]
        let a3 = x3[j]
        NTTTables.assertFourQ(a0, a1, a2, a3, twoQ: twoQ)
        a0 = min(a0, a0 &- twoQ)
        a1 = min(a1, a1 &- twoQ)
        let t2 = NTTTables.lazyShoup(a2, w.first, w.firstShoup, q)
        let t3 = NTTTables.lazyShoup(a3, w.first, w.firstShoup, q)
        var b0 = a0 &+ t2
        var b2 = a0 &- t2 &+ twoQ
        let b1 = a1 &+ t3
        let b3 = a1 &- t3 &+ twoQ
        b0 = min(b0, b0 &- twoQ)
        b2 = min(b2, b2 &- twoQ)
        let u1 = NTTTables.lazyShoup(b1, w.second, w.secondShoup, q)
        let u3 = NTTTables.lazyShoup(b3, w.third, w.thirdShoup, q)
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
      let x = values + 4 &* group
      let (y0, y1, y2, y3) = NTTTables.forwardRadix4Butterfly(
        x[0], x[1], x[2], x[3], forwardTwiddles(groups &+ group), twoQ: twoQ, q: q)
      x[0] = NTTTables.reduceFromFourQ(y0, twoQ: twoQ, q: q)
      x[1] = NTTTables.reduceFromFourQ(y1, twoQ: twoQ, q: q)
      x[2] = NTTTables.reduceFromFourQ(y2, twoQ: twoQ, q: q)
      x[3] = NTTTables.reduceFromFourQ(y3, twoQ: twoQ, q: q)
    }
  }

  /// N = 2: a single butterfly with the final reduction.
  private func forwardFinalRadix2(_ values: UnsafeMutablePointer<UInt64>, q: UInt64) {
    let twoQ = q &* 2
    var u = values[0]
    u = min(u, u &- twoQ)
    let v = values[1]
    let t = NTTTables.lazyShoup(v, forwardRoots[1], forwardShoup[1], q)
    values[0] = NTTTables.reduceFromFourQ(u &+ t, twoQ: twoQ, q: q)
    values[1] = NTTTables.reduceFromFourQ(u &- t &+ twoQ, twoQ: twoQ, q: q)
  }

  /// Debug check of the forward transform's lazy range: four values in `[0, 4q)`.
  @inline(__always)
  private static func assertFourQ(_ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, twoQ: UInt64) {
    let fourQ = twoQ &* 2
    assert(a0 < fourQ && a1 < fourQ && a2 < fourQ && a3 < fourQ, "forward NTT value outside [0, 4q)")
  }

  /// Debug check of the inverse transform's lazy range: four values in `[0, 2q)`.
  @inline(__always)
  private static func assertTwoQ(_ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, twoQ: UInt64) {
    assert(a0 < twoQ && a1 < twoQ && a2 < twoQ && a3 < twoQ, "inverse NTT value outside [0, 2q)")
  }

  /// Maps `[0, 4q)` to `[0, q)` with two branch-free conditional subtractions.
  @inline(__always)
  static func reduceFromFourQ(_ x: UInt64, twoQ: UInt64, q: UInt64) -> UInt64 {
    assert(x < twoQ &* 2, "value outside [0, 4q)")
    let y = min(x, x &- twoQ)
    return min(y, y &- q)
  }

  // MARK: Inverse transform

  /// In-place inverse negacyclic NTT, the exact inverse of the forward transform, with N⁻¹ applied.
  ///
  /// - Parameter values: N evaluations in bit-reversed order, each in `[0, 2q)`; on return the
  ///   coefficients, each in `[0, q)`.
  ///
  /// Gentleman–Sande butterflies; the first two stages are fused in one radix-4 pass over
  /// blocks of four, the middle stages run as radix-4 passes (portable build) or radix-2 stages
  /// (`CKKS_VECTORIZED_NTT`), and N⁻¹ is folded into the last stage.
  /// Invariant: every value stays in `[0, 2q)` between stages; debug builds assert it in every
  /// butterfly.
  func inverse(_ values: UnsafeMutablePointer<UInt64>) {
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
      assert(u < twoQ && v < twoQ, "inverse NTT value outside [0, 2q)")
      let sum = u &+ v
      let difference = u &- v &+ twoQ
      let a = NTTTables.lazyShoup(sum, scale.value, scale.shoup, q)
      let b = NTTTables.lazyShoup(difference, scaledRoot.value, scaledRoot.shoup, q)
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
        assert(u < twoQ && v < twoQ, "inverse NTT value outside [0, 2q)")
        let sum = u &+ v
        let difference = u &- v &+ twoQ
        x[j] = min(sum, sum &- twoQ)
        y[j] = NTTTables.lazyShoup(difference, w, wShoup, q)
      }
    }
  }

  /// Two Gentleman–Sande stages on four values: (a0, a1) with `first` and (a2, a3) with `second`,
  /// then (b0, b2) and (b1, b3) with `third`. Inputs and outputs in `[0, 2q)`.
  @inline(__always)
  private static func inverseRadix4Butterfly(
    _ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ w: Radix4Twiddles, twoQ: UInt64, q: UInt64
  ) -> (UInt64, UInt64, UInt64, UInt64) {
    assertTwoQ(a0, a1, a2, a3, twoQ: twoQ)
    let s01 = a0 &+ a1
    let b0 = min(s01, s01 &- twoQ)
    let b1 = lazyShoup(a0 &- a1 &+ twoQ, w.first, w.firstShoup, q)
    let s23 = a2 &+ a3
    let b2 = min(s23, s23 &- twoQ)
    let b3 = lazyShoup(a2 &- a3 &+ twoQ, w.second, w.secondShoup, q)
    let s0 = b0 &+ b2
    let s1 = b1 &+ b3
    return (
      min(s0, s0 &- twoQ), min(s1, s1 &- twoQ),
      lazyShoup(b0 &- b2 &+ twoQ, w.third, w.thirdShoup, q), lazyShoup(b1 &- b3 &+ twoQ, w.third, w.thirdShoup, q)
    )
  }

  /// Inverse twiddles of one radix-4 block: `pair` and `pair + 1` for the first stage, `single`
  /// for the second.
  @inline(__always)
  private func inverseTwiddles(pair: Int, single: Int) -> Radix4Twiddles {
    Radix4Twiddles(
      first: inverseRoots[pair], firstShoup: inverseShoup[pair],
      second: inverseRoots[pair &+ 1], secondShoup: inverseShoup[pair &+ 1],
      third: inverseRoots[single], thirdShoup: inverseShoup[single])
  }

  /// Two Gentleman–Sande stages at once: `groups` groups of half-size `half`, then `groups/2`
  /// groups of half-size `2·half`, on blocks of `4·half` values. Inputs and outputs in `[0, 2q)`.
  @inline(__always)
  private func inverseRadix4Stages(
    _ values: UnsafeMutablePointer<UInt64>, groups: Int, half: Int, rootIndex: Int, twoQ: UInt64, q: UInt64
  ) {
    for block in 0..<(groups >> 1) {
      let w = inverseTwiddles(pair: rootIndex &+ 2 &* block, single: rootIndex &+ groups &+ block)
      let x0 = values + (block &* 4 &* half)
      let x1 = x0 + half
      let x2 = x1 + half
      let x3 = x2 + half
      for j in 0..<half {
        (x0[j], x1[j], x2[j], x3[j]) = NTTTables.inverseRadix4Butterfly(x0[j], x1[j], x2[j], x3[j], w, twoQ: twoQ, q: q)
      }
    }
  }

  /// The first two stages (half-sizes 1 and 2) on `blocks` blocks of four consecutive values.
  @inline(__always)
  private func inverseFirstRadix4(_ values: UnsafeMutablePointer<UInt64>, blocks: Int, twoQ: UInt64, q: UInt64) {
    for block in 0..<blocks {
      let x = values + 4 &* block
      let w = inverseTwiddles(pair: 2 &* block, single: 2 &* blocks &+ block)
      (x[0], x[1], x[2], x[3]) = NTTTables.inverseRadix4Butterfly(x[0], x[1], x[2], x[3], w, twoQ: twoQ, q: q)
    }
  }

  /// Forward transform in place: N coefficients, each in `[0, 4q)`, become the N evaluations in
  /// bit-reversed order, each in `[0, q)`. Allocates nothing when `values` is uniquely referenced.
  /// - Precondition: `values.count == degree`.
  public func forward(inPlace values: inout [UInt64]) {
    precondition(values.count == degree, "the forward NTT takes exactly N values")
    values.withUnsafeMutableBufferPointer { forward($0.baseAddress!) }
  }

  /// Inverse transform in place: N evaluations in bit-reversed order, each in `[0, 2q)`, become
  /// the N coefficients, each in `[0, q)`. Allocates nothing when `values` is uniquely referenced.
  /// - Precondition: `values.count == degree`.
  public func inverse(inPlace values: inout [UInt64]) {
    precondition(values.count == degree, "the inverse NTT takes exactly N values")
    values.withUnsafeMutableBufferPointer { inverse($0.baseAddress!) }
  }

  /// The forward transform of a copy of `values` (see ``forward(inPlace:)``).
  public func forward(_ values: [UInt64]) -> [UInt64] {
    var copy = values
    forward(inPlace: &copy)
    return copy
  }

  /// The inverse transform of a copy of `values` (see ``inverse(inPlace:)``).
  public func inverse(_ values: [UInt64]) -> [UInt64] {
    var copy = values
    inverse(inPlace: &copy)
    return copy
  }
}
