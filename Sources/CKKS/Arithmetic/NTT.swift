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

  /// ψ^bitReverse(k), the twiddle the forward transform uses for index k (k in `[0, N)`).
  public func forwardRoot(at k: Int) -> UInt64 { forwardRoots[k] }

  // MARK: Forward transform

  /// In-place forward negacyclic NTT of one residue polynomial.
  ///
  /// - Parameter values: N coefficients, each in `[0, 4q)`; on return the evaluations in SEAL's
  ///   bit-reversed order, each in `[0, q)`.
  /// Invariant inside: every value stays in `[0, 4q)` between stages (4q < 2^63).
  public func forward(_ values: UnsafeMutablePointer<UInt64>) {
    let q = modulus.value
    let twoQ = q &* 2
    let n = degree
    var groups = 1
    var half = n >> 1
    // Stages with at least two butterflies per twiddle.
    while half >= 2 {
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
      groups &<<= 1
      half &>>= 1
    }
    // Last stage (one butterfly per twiddle), fused with the final reduction to [0, q).
    for group in 0..<groups {
      let w = forwardRoots[groups &+ group]
      let wShoup = forwardShoup[groups &+ group]
      let x = values + 2 &* group
      var u = x[0]
      u = min(u, u &- twoQ)
      let v = x[1]
      let t = v &* w &- v.multipliedFullWidth(by: wShoup).high &* q
      var a = u &+ t
      var b = u &- t &+ twoQ
      a = a >= twoQ ? a &- twoQ : a
      a = a >= q ? a &- q : a
      b = b >= twoQ ? b &- twoQ : b
      b = b >= q ? b &- q : b
      x[0] = a
      x[1] = b
    }
  }

  /// Radix-4 forward transform (two stages per pass over memory); same contract as ``forward(_:)``.
  public func forwardRadix4(_ values: UnsafeMutablePointer<UInt64>) {
    let q = modulus.value
    let twoQ = q &* 2
    var groups = 1
    var half = degree >> 1
    while half >= 4 {
      let quarter = half >> 1
      for group in 0..<groups {
        let w1 = forwardRoots[groups &+ group]
        let w1s = forwardShoup[groups &+ group]
        let k = 2 &* (groups &+ group)
        let w2 = forwardRoots[k]
        let w2s = forwardShoup[k]
        let w3 = forwardRoots[k &+ 1]
        let w3s = forwardShoup[k &+ 1]
        let x0 = values + (group &* 4 &* quarter)
        let x1 = x0 + quarter
        let x2 = x1 + quarter
        let x3 = x2 + quarter
        for j in 0..<quarter {
          var a0 = x0[j]
          var a1 = x1[j]
          let a2 = x2[j]
          let a3 = x3[j]
          a0 = min(a0, a0 &- twoQ)
          a1 = min(a1, a1 &- twoQ)
          let t2 = a2 &* w1 &- a2.multipliedFullWidth(by: w1s).high &* q
          let t3 = a3 &* w1 &- a3.multipliedFullWidth(by: w1s).high &* q
          var b0 = a0 &+ t2
          let b2 = a0 &- t2 &+ twoQ
          let b1 = a1 &+ t3
          var b3 = a1 &- t3 &+ twoQ
          b0 = min(b0, b0 &- twoQ)
          var c2 = min(b2, b2 &- twoQ)
          let u1 = b1 &* w2 &- b1.multipliedFullWidth(by: w2s).high &* q
          let u3 = b3 &* w3 &- b3.multipliedFullWidth(by: w3s).high &* q
          x0[j] = b0 &+ u1
          x1[j] = b0 &- u1 &+ twoQ
          b3 = c2 &+ u3
          c2 = c2 &- u3 &+ twoQ
          x2[j] = b3
          x3[j] = c2
        }
      }
      groups &<<= 2
      half &>>= 2
    }
    if half == 2 {
      // fall back to radix-2 for the two last stages
      for group in 0..<groups {
        let w = forwardRoots[groups &+ group]
        let wShoup = forwardShoup[groups &+ group]
        let x = values + (2 &* group &* half)
        let y = x + half
        for j in 0..<half {
          var u = x[j]
          u = min(u, u &- twoQ)
          let v = y[j]
          let t = v &* w &- v.multipliedFullWidth(by: wShoup).high &* q
          x[j] = u &+ t
          y[j] = u &- t &+ twoQ
        }
      }
      groups &<<= 1
    }
    for group in 0..<groups {
      let w = forwardRoots[groups &+ group]
      let wShoup = forwardShoup[groups &+ group]
      let x = values + 2 &* group
      var u = x[0]
      u = min(u, u &- twoQ)
      let v = x[1]
      let t = v &* w &- v.multipliedFullWidth(by: wShoup).high &* q
      var a = u &+ t
      var b = u &- t &+ twoQ
      a = a >= twoQ ? a &- twoQ : a
      a = a >= q ? a &- q : a
      b = b >= twoQ ? b &- twoQ : b
      b = b >= q ? b &- q : b
      x[0] = a
      x[1] = b
    }
  }

  // MARK: Inverse transform

  /// In-place inverse negacyclic NTT, the exact inverse of ``forward(_:)``, with N⁻¹ applied.
  ///
  /// - Parameter values: N evaluations in bit-reversed order, each in `[0, 2q)`; on return the
  ///   coefficients, each in `[0, q)`.
  /// Invariant inside: every value stays in `[0, 2q)` between stages.
  public func inverse(_ values: UnsafeMutablePointer<UInt64>) {
    let q = modulus.value
    let twoQ = q &* 2
    let n = degree
    var groups = n >> 1
    var half = 1
    var rootIndex = 0
    while groups >= 2 {
      for group in 0..<groups {
        let w = inverseRoots[rootIndex &+ group]
        let wShoup = inverseShoup[rootIndex &+ group]
        let x = values + (2 &* group &* half)
        let y = x + half
        for j in 0..<half {
          // X, Y in [0, 2q): X + Y -> [0, 2q) by one conditional subtraction;
          // (X - Y + 2q) in (0, 4q) times w -> [0, 2q).
          let u = x[j]
          let v = y[j]
          var sum = u &+ v
          sum = min(sum, sum &- twoQ)
          let difference = u &- v &+ twoQ
          x[j] = sum
          y[j] = difference &* w &- difference.multipliedFullWidth(by: wShoup).high &* q
        }
      }
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
      var a = sum &* scale.value &- sum.multipliedFullWidth(by: scale.shoup).high &* q
      var b = difference &* scaledRoot.value &- difference.multipliedFullWidth(by: scaledRoot.shoup).high &* q
      a = a >= q ? a &- q : a
      b = b >= q ? b &- q : b
      x[j] = a
      y[j] = b
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
