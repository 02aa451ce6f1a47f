import Dispatch
import Synchronization

/// One digit of a key-switching key: `(b, a)` over Q ∪ P in evaluation form.
public struct KeySwitchingDigit: Sendable, Equatable {
  /// `b = −a·s + e + [P]·s′` on the digit's primes (and `−a·s + e` elsewhere).
  public let b: RNSPolynomial<Evaluation>
  /// Uniform, expanded from ``seed`` when there is one.
  public let a: RNSPolynomial<Evaluation>
  /// The 32-byte seed of `a`; nil for a key whose `a` came explicitly (a key loaded from SEAL).
  public let seed: [UInt8]?

  /// Bytes the residues of `b` and `a` take in memory (8 per residue).
  public var memoryBytes: Int { (b.residues.count + a.residues.count) * MemoryLayout<UInt64>.size }
}

/// A hybrid key-switching key from s′ to s (Han & Ki, "Better Bootstrapping for Approximate
/// Homomorphic Encryption", CT-RSA 2020, https://eprint.iacr.org/2019/688): one digit per group of
/// ciphertext primes (dnum groups), special primes P to absorb the noise.
public struct KeySwitchingKey: Sendable, Equatable {
  /// One entry per digit, in prime order.
  public let digits: [KeySwitchingDigit]

  /// Bytes the residues take in memory, whatever the serialized form (a seeded key serializes
  /// without `a`).
  public var memoryBytes: Int { digits.reduce(0) { $0 + $1.memoryBytes } }
}

/// The relinearization key: switches s² to s.
public struct RelinearizationKey: Sendable, Equatable {
  /// The key switching from s² to s.
  public let key: KeySwitchingKey

  /// Bytes the residues take in memory.
  public var memoryBytes: Int { key.memoryBytes }
}

/// Galois keys: for each Galois element k, the key switching from σ_k(s) to s.
public struct GaloisKeys: Sendable, Equatable {
  /// Keys by Galois element.
  public let keys: [Int: KeySwitchingKey]

  /// The Galois elements these keys serve.
  public var elements: [Int] { keys.keys.sorted() }

  /// Bytes the residues take in memory.
  public var memoryBytes: Int { keys.values.reduce(0) { $0 + $1.memoryBytes } }
}

/// Precomputed bases and converters for hybrid key switching at every level.
final class KeySwitcher: Sendable {
  /// Q ∪ P.
  let keyBasis: RNSBasis
  /// The special primes P.
  let specialBasis: RNSBasis
  /// Number of ciphertext primes L.
  let ciphertextPrimeCount: Int
  /// Ring degree N.
  let degree: Int
  /// Prime index ranges of the digits (over all ciphertext primes).
  let digits: [Range<Int>]
  /// `[P]_{q_i}` for every ciphertext prime.
  let specialProductModQ: [UInt64]
  /// Per level: the extended basis Q_ℓ ∪ P.
  let extendedBases: [RNSBasis]
  /// Per level and digit (or `nil` when the digit has no prime at that level): ModUp converter
  /// from the digit's primes (restricted to Q_ℓ) to the other primes of Q_ℓ ∪ P, with the
  /// extended-basis limb index of every source and target prime.
  let modUp: [[ModUpPlan?]]
  /// Per level: ModDown converter from P to Q_ℓ, and `P^-1 mod q_i`.
  let modDown: [BasisConverter]
  let inverseSpecialProduct: [ShoupOperand]
  /// Slot permutations of the Galois elements used so far (N indices each), so a rotation does not
  /// recompute its permutation; at most ``permutationCacheLimit`` entries are kept.
  private let permutations = Mutex<[Int: [Int]]>([:])
  static let permutationCacheLimit = 64

  /// The evaluation-form permutation of `element`, from the cache when present.
  func permutation(for element: GaloisElement) -> [Int] {
    if let cached = permutations.withLock({ $0[element.value] }) { return cached }
    let permutation = element.evaluationPermutation()
    permutations.withLock { cache in
      if cache.count < KeySwitcher.permutationCacheLimit { cache[element.value] = permutation }
    }
    return permutation
  }

  struct ModUpPlan: Sendable {
    let converter: BasisConverter
    let sourceLimbs: [Int]
    let targetLimbs: [Int]
  }

  init(keyBasis: RNSBasis, ciphertextPrimeCount qCount: Int, specialBasis: RNSBasis, digitCount: Int) {
    self.keyBasis = keyBasis
    self.specialBasis = specialBasis
    self.ciphertextPrimeCount = qCount
    self.degree = keyBasis.degree
    let pCount = specialBasis.count
    let keyTables = keyBasis.nttTables
    digits = KeySwitchingDigits.partition(primeCount: qCount, digits: digitCount)
    let specialProduct = specialBasis.product
    let ciphertextModuli = keyBasis.moduli.prefix(qCount).map(\.value)
    let productModQ = ciphertextModuli.map { specialProduct.residue(modulo: $0) }
    specialProductModQ = productModQ
    var extended: [RNSBasis] = []
    var plans: [[ModUpPlan?]] = []
    var downs: [BasisConverter] = []
    for level in 0..<qCount {
      let extendedTables = Array(keyTables[0...level]) + Array(keyTables[qCount...])
      extended.append(RNSBasis(tables: extendedTables))
      var levelPlans: [ModUpPlan?] = []
      for digit in digits {
        let sourceLimbs = Array(digit.clamped(to: 0..<(level + 1)))
        guard !sourceLimbs.isEmpty else {
          levelPlans.append(nil)
          continue
        }
        let targetLimbs = (0..<(level + 1 + pCount)).filter { !sourceLimbs.contains($0) }
        let converter = BasisConverter(
          from: RNSBasis(tables: sourceLimbs.map { extendedTables[$0] }),
          to: RNSBasis(tables: targetLimbs.map { extendedTables[$0] }))
        levelPlans.append(ModUpPlan(converter: converter, sourceLimbs: sourceLimbs, targetLimbs: targetLimbs))
      }
      plans.append(levelPlans)
      downs.append(BasisConverter(from: specialBasis, to: keyBasis.prefix(level + 1)))
    }
    extendedBases = extended
    modUp = plans
    modDown = downs
    inverseSpecialProduct = ciphertextModuli.enumerated().map { i, q in
      let modulus = Modulus(q)
      return ShoupOperand(modulus.inverse(productModQ[i])!, modulus: modulus)
    }
  }

  /// Key-limb index of extended-basis limb `t` at `level` (Q_ℓ limbs, then P limbs).
  func keyLimb(_ t: Int, level: Int) -> Int {
    t <= level ? t : ciphertextPrimeCount + (t - level - 1)
  }

  // MARK: Key generation

  /// The key switching from `target` (s′, evaluation form over Q ∪ P) to `secretKey`.
  func makeKey(from target: RNSPolynomial<Evaluation>, secretKey: SecretKey, using generator: SecureRandomGenerator)
    -> KeySwitchingKey
  {
    let n = degree
    var result: [KeySwitchingDigit] = []
    for digit in digits {
      let seed = generator.makeSeed()
      let a = try! Sampler.uniform(in: keyBasis, seed: seed)
      var b = a * secretKey.polynomial
      b.negate()
      b.add(Sampler.gaussian(in: keyBasis, using: generator).forwardNTT())
      // + [P]_{q_i}·s′ on the digit's primes.
      target.residues.withUnsafeBufferPointer { sPrime in
        b.forEachLimb { limb, q, row in
          guard digit.contains(limb) else { return }
          let factor = ShoupOperand(specialProductModQ[limb], modulus: q)
          let source = sPrime.baseAddress! + limb * n
          for j in 0..<n { row[j] = q.add(row[j], q.multiplyShoup(source[j], by: factor.value, shoup: factor.shoup)) }
        }
      }
      result.append(KeySwitchingDigit(b: b, a: a, seed: seed))
    }
    return KeySwitchingKey(digits: result)
  }

  // MARK: Key switching

  /// Where `raise` left the raised digits in a workspace.
  struct RaisedLayout {
    let level: Int
    /// Key digit index of each raised digit.
    let digitIndices: [Int]
    /// Words per raised digit: |Q_ℓ ∪ P|·N.
    let rowLength: Int
  }

  /// Switches `d` (evaluation form at level ℓ, multiplying s′) and adds the result to
  /// `(c0, c1)` over Q_ℓ (or assigns it to c1 when `assignC1`): afterwards
  /// `c0 + c1·s` has gained `d·s′` (up to the key-switching noise).
  func switchKey(
    _ d: RNSPolynomial<Evaluation>, with key: KeySwitchingKey, addingTo c0: inout RNSPolynomial<Evaluation>,
    _ c1: inout RNSPolynomial<Evaluation>, assignC1: Bool, workspace: EvaluatorWorkspace
  ) {
    let layout = raise(d, workspace: workspace)
    finish(layout, permuted: false, with: key, addingTo: &c0, &c1, assignC1: assignC1, workspace: workspace)
  }

  /// ModUp of every digit of `d` into `workspace.raised`: the digit's own limbs are d itself
  /// (already in evaluation form); the other limbs are the fast basis conversion of the digit's
  /// coefficients, transformed in place.
  func raise(_ d: RNSPolynomial<Evaluation>, workspace: EvaluatorWorkspace) -> RaisedLayout {
    let level = d.basis.count - 1
    let n = degree
    let extended = extendedBases[level]
    let tables = extended.nttTables
    let plans = modUp[level].enumerated().compactMap { index, plan in plan.map { (index, $0) } }
    let rowLength = extended.count * n
    let threads = workspace.threads
    let scratchStride = workspace.scratchStride
    let source = workspace.coefficients
    let out = workspace.raised
    let scratch = workspace.scratch
    d.residues.withUnsafeBufferPointer { original in
      source.update(from: original.baseAddress!, count: (level + 1) * n)
      parallelForEach(level + 1, threads: threads) { limb, _ in tables[limb].inverse(source + limb * n) }
      // Digits are independent: each writes its own row and uses its worker's scratch.
      parallelForEach(plans.count, threads: threads) { k, worker in
        let plan = plans[k].1
        let base = out + k * rowLength
        plan.converter.convert(
          sources: plan.sourceLimbs.map { UnsafePointer(source + $0 * n) },
          targets: plan.targetLimbs.map { base + $0 * n },
          scratch: scratch + worker * scratchStride)
        for limb in plan.targetLimbs { tables[limb].forward(base + limb * n) }
        for limb in plan.sourceLimbs {
          (base + limb * n).update(from: original.baseAddress! + limb * n, count: n)
        }
      }
    }
    return RaisedLayout(level: level, digitIndices: plans.map(\.0), rowLength: rowLength)
  }

  /// Writes the raised digits, each limb permuted by a Galois permutation (evaluation form), to
  /// `workspace.permuted`. Automorphisms commute with the digit decomposition, so this equals
  /// raising σ(d): hoisted rotations raise once and permute per rotation.
  func permute(_ layout: RaisedLayout, by permutation: [Int], workspace: EvaluatorWorkspace) {
    let n = degree
    let rows = layout.digitIndices.count * layout.rowLength / n
    let source = workspace.raised
    let out = workspace.permuted
    permutation.withUnsafeBufferPointer { map in
      for row in 0..<rows {
        let input = source + row * n
        let output = out + row * n
        for j in 0..<n { output[j] = input[map[j]] }
      }
    }
  }

  /// Inner products of the raised (or permuted) digits with `key`, then ModDown into `(c0, c1)`.
  func finish(
    _ layout: RaisedLayout, permuted: Bool, with key: KeySwitchingKey, addingTo c0: inout RNSPolynomial<Evaluation>,
    _ c1: inout RNSPolynomial<Evaluation>, assignC1: Bool, workspace: EvaluatorWorkspace
  ) {
    accumulate(layout, permuted: permuted, with: key, workspace: workspace)
    lowerAccumulators(level: layout.level, workspace: workspace)
    add(workspace.accumulator0, to: &c0, assign: false)
    add(workspace.accumulator1, to: &c1, assign: assignC1)
  }

  /// The inner products of the raised (or permuted) digits with `key`, left over Q_ℓ ∪ P in the
  /// workspace's two accumulators (`Σ_k d_k·b_k` and `Σ_k d_k·a_k`, not yet divided by P).
  func accumulate(_ layout: RaisedLayout, permuted: Bool, with key: KeySwitchingKey, workspace: EvaluatorWorkspace) {
    let level = layout.level
    let extendedCount = extendedBases[level].count
    let digits = layout.digitIndices
    let raised = permuted ? workspace.permuted : workspace.raised
    withBaseAddresses(of: digits.lazy.map { key.digits[$0].b.residues }) { bRows in
      withBaseAddresses(of: digits.lazy.map { key.digits[$0].a.residues }) { aRows in
        innerProducts(
          workspace.accumulator0, workspace.accumulator1, limbs: extendedCount, raised: raised,
          rowLength: layout.rowLength, b: bRows, a: aRows, level: level, threads: workspace.threads)
      }
    }
  }

  /// ModDown of both accumulators from Q_ℓ ∪ P to Q_ℓ, in place (their first ℓ + 1 rows), each
  /// with its own correction rows.
  func lowerAccumulators(level: Int, workspace: EvaluatorWorkspace) {
    let n = degree
    let qLimbs = level + 1
    let threads = workspace.threads
    parallelForEach(2, threads: threads) { which, worker in
      modDown(
        which == 0 ? workspace.accumulator0 : workspace.accumulator1, level: level,
        correction: workspace.correction + which * qLimbs * n,
        scratch: workspace.scratch + worker * workspace.scratchStride)
    }
  }

  /// `(c0, c1)` over Q_ℓ: the ModDown of a pair `(e0, e1)` over Q_ℓ ∪ P (evaluation form), e.g.
  /// sums of products with key-switched terms kept over Q_ℓ ∪ P (double hoisting).
  func lower(
    _ e0: RNSPolynomial<Evaluation>, _ e1: RNSPolynomial<Evaluation>, to basis: RNSBasis, workspace: EvaluatorWorkspace
  ) -> (RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>) {
    let level = basis.count - 1
    precondition(e0.basis.isSameRing(as: extendedBases[level]) && e1.basis.isSameRing(as: extendedBases[level]))
    let words = e0.residues.count
    workspace.accumulator0.update(from: e0.residues, count: words)
    workspace.accumulator1.update(from: e1.residues, count: words)
    lowerAccumulators(level: level, workspace: workspace)
    let qWords = (level + 1) * degree
    return (
      RNSPolynomial(uncheckedBasis: basis, residues: EvaluatorWorkspace.words(workspace.accumulator0, count: qWords)),
      RNSPolynomial(uncheckedBasis: basis, residues: EvaluatorWorkspace.words(workspace.accumulator1, count: qWords))
    )
  }

  /// `P·x` over Q_ℓ ∪ P for `x` over Q_ℓ: `[P]_{q_i}·x` on the ciphertext primes, 0 on the special
  /// primes (where P vanishes).
  func raiseByP(_ x: RNSPolynomial<Evaluation>) -> RNSPolynomial<Evaluation> {
    let level = x.basis.count - 1
    let n = degree
    var result = RNSPolynomial<Evaluation>(zeroIn: extendedBases[level])
    x.residues.withUnsafeBufferPointer { source in
      result.forEachLimb { limb, q, row in
        guard limb <= level else { return }
        let factor = ShoupOperand(specialProductModQ[limb], modulus: q)
        for j in 0..<n { row[j] = q.multiplyShoup(source[limb * n + j], by: factor.value, shoup: factor.shoup) }
      }
    }
    return result
  }

  /// `target += rows` (or `target = rows` when `assign`), limb by limb, for rows in [0, q).
  private func add(_ rows: UnsafePointer<UInt64>, to target: inout RNSPolynomial<Evaluation>, assign: Bool) {
    let n = degree
    target.forEachLimb { limb, q, row in
      let source = rows + limb * n
      if assign {
        row.update(from: source, count: n)
      } else {
        for j in 0..<n { row[j] = q.add(row[j], source[j]) }
      }
    }
  }

  /// `acc0 = Σ_k raised_k · b_k` and `acc1 = Σ_k raised_k · a_k` over Q_ℓ ∪ P (`limbs` limbs),
  /// reading the keys' matching limbs. Sums stay in 128 bits and are reduced once per coefficient
  /// instead of once per digit: with the one-multiplication ``Modulus/reduceProductSum(high:low:)``
  /// when `digits · (q − 1)²` is below its bound 2^(bitWidth + 62) (every 40-bit prime, and 60-bit
  /// primes up to four digits), otherwise with the general 128-bit Barrett reduction (each product < 2^122, so up
  /// to 64 digits fit in 128 bits).
  private func innerProducts(
    _ out0: UnsafeMutablePointer<UInt64>, _ out1: UnsafeMutablePointer<UInt64>, limbs: Int,
    raised: UnsafePointer<UInt64>, rowLength: Int, b: UnsafeBufferPointer<UnsafePointer<UInt64>>,
    a: UnsafeBufferPointer<UnsafePointer<UInt64>>, level: Int, threads: Int
  ) {
    precondition(b.count <= 64 && a.count == b.count)
    let n = degree
    let count = b.count
    // Limbs are independent; each worker keeps its own row-pointer table.
    parallelForEach(limbs, threads: threads) { limb, _ in
      withUnsafeTemporaryAllocation(of: UnsafePointer<UInt64>.self, capacity: 3 * count) { rows in
        let q = keyBasis.moduli[keyLimb(limb, level: level)]
        let keyOffset = keyLimb(limb, level: level) &* n
        let offset = limb &* n
        // Row pointers of this limb: raised digits, then b and a of each digit.
        for k in 0..<count {
          rows[k] = raised + (k &* rowLength &+ offset)
          rows[count + k] = b[k] + keyOffset
          rows[2 * count + k] = a[k] + keyOffset
        }
        let maximumProduct = UInt128(q.value - 1) * UInt128(q.value - 1)
        let fast = UInt128(count) * maximumProduct < UInt128(1) << UInt128(q.productReductionBits + 1)
        // Literal digit counts let the compiler unroll the digit loop and keep the rows in registers.
        switch (count, fast) {
        case (1, _):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: 1, modulus: q, fastReduction: true)
        case (2, true):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: 2, modulus: q, fastReduction: true)
        case (3, true):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: 3, modulus: q, fastReduction: true)
        case (4, true):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: 4, modulus: q, fastReduction: true)
        case (_, true):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: count, modulus: q, fastReduction: true)
        case (_, false):
          innerProductLimb(out0 + offset, out1 + offset, rows: rows, count: count, modulus: q, fastReduction: false)
        }
      }
    }
  }

  /// One limb of ``innerProducts``: `rows` holds `count` raised rows, then `count` b rows, then
  /// `count` a rows. Inlined into each call site so that `count` and `fastReduction` are constants
  /// where the caller knows them.
  @inline(__always)
  private func innerProductLimb(
    _ out0: UnsafeMutablePointer<UInt64>, _ out1: UnsafeMutablePointer<UInt64>,
    rows: UnsafeMutableBufferPointer<UnsafePointer<UInt64>>, count: Int, modulus q: Modulus, fastReduction: Bool
  ) {
    for j in 0..<degree {
      var high0: UInt64 = 0
      var low0: UInt64 = 0
      var high1: UInt64 = 0
      var low1: UInt64 = 0
      for k in 0..<count {
        let value = rows[k][j]
        let p0 = value.multipliedFullWidth(by: rows[count &+ k][j])
        let (s0, c0) = low0.addingReportingOverflow(p0.low)
        low0 = s0
        high0 = high0 &+ p0.high &+ (c0 ? 1 : 0)
        let p1 = value.multipliedFullWidth(by: rows[2 &* count &+ k][j])
        let (s1, c1) = low1.addingReportingOverflow(p1.low)
        low1 = s1
        high1 = high1 &+ p1.high &+ (c1 ? 1 : 0)
      }
      if fastReduction {
        out0[j] = q.reduceProductSum(high: high0, low: low0)
        out1[j] = q.reduceProductSum(high: high1, low: low1)
      } else {
        out0[j] = q.reduce(high: high0, low: low0)
        out1[j] = q.reduce(high: high1, low: low1)
      }
    }
  }

  /// ModDown of an accumulator from Q_ℓ ∪ P to Q_ℓ, in place: its first ℓ + 1 rows become
  /// `(c − FastConv([c]_P)) · P^-1` (exact up to a small error). `correction` holds ℓ + 1 rows,
  /// `scratch` one worker's conversion scratch.
  private func modDown(
    _ base: UnsafeMutablePointer<UInt64>, level: Int, correction: UnsafeMutablePointer<UInt64>,
    scratch: UnsafeMutablePointer<UInt64>
  ) {
    let n = degree
    let qLimbs = level + 1
    let pLimbs = specialBasis.count
    let tables = extendedBases[level].nttTables
    for k in 0..<pLimbs { tables[qLimbs + k].inverse(base + (qLimbs + k) * n) }
    modDown[level].convert(
      sources: (0..<pLimbs).map { UnsafePointer(base + (qLimbs + $0) * n) },
      targets: (0..<qLimbs).map { correction + $0 * n }, scratch: scratch)
    for i in 0..<qLimbs {
      tables[i].forward(correction + i * n)
      let q = keyBasis.moduli[i]
      let inverse = inverseSpecialProduct[i]
      let x = correction + i * n
      let y = base + i * n
      for j in 0..<n { y[j] = q.multiplyShoup(q.subtract(y[j], x[j]), by: inverse.value, shoup: inverse.shoup) }
    }
  }
}

/// Runs `body(index, worker)` for every index in `0..<count`, on up to `threads` threads at once
/// (worker < threads names the thread, for per-thread scratch memory); in order on the calling
/// thread when `threads` is 1. Returns when every index is done.
///
/// Invariant the callers keep: calls for different indices write disjoint memory and calls of
/// different workers use disjoint scratch, so running them at once is race-free although `body`
/// captures raw pointers (which is why it is not `@Sendable`).
func parallelForEach(_ count: Int, threads: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
  let workers = min(threads, count)
  guard workers > 1 else {
    for index in 0..<count { body(index, 0) }
    return
  }
  withoutActuallyEscaping(body) { body in
    nonisolated(unsafe) let body = body
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      for index in stride(from: worker, to: count, by: workers) { body(index, worker) }
    }
  }
}

/// Reusable working memory for key switching (relinearization and rotations), sized for the top
/// level of one parameter set, so that repeated operations allocate nothing but their results.
///
/// Not thread-safe: one task uses a workspace at a time. It is `@unchecked Sendable` so that an
/// evaluator's pool can hand it from task to task; the pool never gives one workspace to two
/// tasks at once.
public final class EvaluatorWorkspace: @unchecked Sendable {
  /// The parameters the workspace is sized for.
  public let parameters: CKKSParameters
  /// Threads one key switch may use (1: all on the calling thread).
  public let threads: Int
  // The buffers are allocated once and owned by the workspace, so the key-switching loops use
  // their addresses directly. Sizes in words, from `parameters` at the top level.
  let coefficients: UnsafeMutablePointer<UInt64>
  let raised: UnsafeMutablePointer<UInt64>
  let permuted: UnsafeMutablePointer<UInt64>
  let accumulator0: UnsafeMutablePointer<UInt64>
  let accumulator1: UnsafeMutablePointer<UInt64>
  /// One conversion scratch of ``scratchStride`` words per thread that may convert at once (at
  /// most the digit count, and two for the ModDowns).
  let scratch: UnsafeMutablePointer<UInt64>
  let scratchStride: Int
  /// Correction rows of both accumulators' ModDown.
  let correction: UnsafeMutablePointer<UInt64>
  /// One row, for permuting a limb in place.
  let row: UnsafeMutablePointer<UInt64>

  /// Allocates the buffers for `parameters` (about (2·dnum + 5 + min(threads, dnum))·|Q ∪ P|·N words).
  /// - Parameter threads: threads one key switch may use, at least 1.
  public init(parameters: CKKSParameters, threads: Int = 1) {
    precondition(threads >= 1, "a workspace needs at least one thread")
    self.parameters = parameters
    self.threads = threads
    let n = parameters.degree
    let q = parameters.ciphertextModuli.count
    let p = parameters.specialModuli.count
    let digits = parameters.parameterDescription.keySwitchingDigits
    func zeroed(_ count: Int) -> UnsafeMutablePointer<UInt64> {
      let buffer = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
      buffer.initialize(repeating: 0, count: count)
      return buffer
    }
    coefficients = zeroed(q * n)
    raised = zeroed(digits * (q + p) * n)
    permuted = zeroed(digits * (q + p) * n)
    accumulator0 = zeroed((q + p) * n)
    accumulator1 = zeroed((q + p) * n)
    scratchStride = max(q, p) * n
    scratch = zeroed(min(threads, max(digits, 2)) * scratchStride)
    correction = zeroed(2 * q * n)
    row = zeroed(n)
  }

  deinit {
    for buffer in [coefficients, raised, permuted, accumulator0, accumulator1, scratch, correction, row] {
      buffer.deallocate()
    }
  }

  /// A copy of the first `count` words of one of the buffers.
  static func words(_ buffer: UnsafeMutablePointer<UInt64>, count: Int) -> [UInt64] {
    Array(UnsafeBufferPointer(start: buffer, count: count))
  }
}

/// A thread-safe pool of workspaces, so the allocating evaluator forms reuse working memory
/// across calls (and across tasks) instead of allocating megabytes per operation.
final class WorkspacePool: Sendable {
  private let parameters: CKKSParameters
  private let threads: Int
  private let idle = Mutex<[EvaluatorWorkspace]>([])

  init(parameters: CKKSParameters, threads: Int) {
    self.parameters = parameters
    self.threads = threads
  }

  /// Runs `body` with a workspace taken from the pool (or a new one) and returns it afterwards.
  func withWorkspace<R, E: Error>(_ body: (EvaluatorWorkspace) throws(E) -> R) throws(E) -> R {
    let workspace = idle.withLock { $0.popLast() } ?? EvaluatorWorkspace(parameters: parameters, threads: threads)
    defer { idle.withLock { $0.append(workspace) } }
    return try body(workspace)
  }
}
