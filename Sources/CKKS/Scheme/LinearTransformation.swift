/// A plaintext matrix applied to encrypted slot vectors by the diagonal method with baby-step/
/// giant-step (Halevi–Shoup 2014, "Algorithms in HElib"; the baby steps hoisted as in Bossuat et
/// al. 2021, "Efficient bootstrapping for approximate homomorphic encryption with non-sparse keys";
/// rectangular matrices by extended diagonals as in Juvekar et al. 2018, "Gazelle").
///
/// Rows and columns are padded to powers of two r and c dividing the slot count. The input holds
/// v with period c (the c values repeated across all N/2 slots), so that a rotation of the whole
/// vector is a cyclic shift of every copy. With n = max(r, c), d = min(r, c) and the extended
/// diagonals `diag_k[t] = M[t mod r][(t + k) mod c]` for t < n, k < d,
///
///     y' = Σ_k diag_k ⊙ rot(v, k) = Σ_j rot_{g·j}( Σ_i rot_{−g·j}(diag_{g·j+i}) ⊙ rot_i(v) ),
///
/// and, for a wide matrix (c > r), the c/r blocks of y' are folded onto each other by log2(c/r)
/// rotate-and-add steps. One evaluation costs the g − 1 baby-step rotations of v (hoisted: one
/// decomposition), one in-place plaintext product per nonzero diagonal (pre-rotated at compile
/// time), the giant steps in Horner form (`inner_0 + rot_g(inner_1 + rot_g(inner_2 + …))`, so
/// they need one Galois key, g's, whatever their number) and the folds: about 2·√d + log2(c/r)
/// rotations instead of one per diagonal, with g − 1 + 1 + log2(c/r) keys (a gap between nonzero
/// giant steps still costs its rotation). Zero diagonals cost nothing. The result holds M·v with period r,
/// at `input.scale · scale` on the input's level (rescale it when convenient: encoding at `scale`
/// = the prime a rescale drops keeps the input's scale up to rounding).
public struct LinearTransformation: Sendable {
  /// c: the input's period, the columns padded to a power of two.
  public let inputPeriod: Int
  /// r: the output's period, the rows padded to a power of two.
  public let outputPeriod: Int
  /// g: rotations of the input by 0 … g − 1 are the baby steps.
  public let babySteps: Int
  /// The Galois elements whose keys ``apply(_:evaluator:keys:rescaling:)`` uses, ascending.
  public let galoisElements: [Int]
  /// The scale of the encoded diagonals.
  public let scale: Double
  /// The level of the encoded diagonals (inputs must be at this level).
  public let level: Int
  /// Pre-rotated diagonals by giant step j, then baby step i (nonzero ones only).
  let diagonals: [Int: [Int: Plaintext]]
  let babyStepsUsed: [Int]
  /// Rotate-and-add steps folding the blocks of a wide matrix's product: r, 2r, …, c/2.
  let foldSteps: [Int]

  /// Compiles `matrix` (rows × columns, each at most N/2).
  /// - Parameters:
  ///   - encoder: encodes the diagonals, at `scale` and `level`.
  ///   - babySteps: g, a power of two up to min(r, c); by default the cheapest, counting a
  ///     hoisted baby step as half a giant step (about √(nonzero diagonals) for dense matrices).
  /// - Throws: ``EvaluationError/invalidLinearTransformation(_:)`` for an empty, ragged, non-finite
  ///   or oversized matrix or a bad `babySteps`; ``EncodingError`` when a diagonal does not fit.
  public init(
    matrix: [[Double]], encoder: CKKSEncoder, scale: Double, level: Int, babySteps: Int? = nil
  ) throws {
    try self.init(
      complexMatrix: matrix.map { row in row.map { ComplexNumber($0) } }, encoder: encoder, scale: scale, level: level,
      babySteps: babySteps)
  }

  /// Compiles a complex `matrix` (rows × columns, each at most N/2), e.g. one that also maps slots
  /// to coefficients. Same rules as ``init(matrix:encoder:scale:level:babySteps:)``.
  public init(
    complexMatrix matrix: [[ComplexNumber]], encoder: CKKSEncoder, scale: Double, level: Int, babySteps: Int? = nil
  ) throws {
    let slotCount = encoder.parameters.slotCount
    let rows = matrix.count
    let columns = matrix.first?.count ?? 0
    guard rows >= 1, columns >= 1, matrix.allSatisfy({ $0.count == columns }) else {
      throw EvaluationError.invalidLinearTransformation("the matrix must be non-empty and rectangular")
    }
    guard matrix.allSatisfy({ $0.allSatisfy { $0.real.isFinite && $0.imaginary.isFinite } }) else {
      throw EvaluationError.invalidLinearTransformation("the matrix must be finite")
    }
    var (r, c) = (1, 1)
    while r < rows { r *= 2 }
    while c < columns { c *= 2 }
    let n = max(r, c)
    guard n <= slotCount else {
      throw EvaluationError.invalidLinearTransformation("a \(rows) × \(columns) matrix does not fit \(slotCount) slots")
    }
    // Nonzero extended diagonals: diag_k[t] = M[t mod r][(t + k) mod c], t < n, k < min(r, c).
    let zero = ComplexNumber(0)
    var nonzero: [Int: [ComplexNumber]] = [:]
    for k in 0..<min(r, c) {
      var diagonal = [ComplexNumber](repeating: zero, count: n)
      var any = false
      for t in 0..<n {
        let (row, column) = (t % r, (t + k) % c)
        if row < rows, column < columns, matrix[row][column] != zero {
          diagonal[t] = matrix[row][column]
          any = true
        }
      }
      if any { nonzero[k] = diagonal }
    }
    guard !nonzero.isEmpty else { throw EvaluationError.invalidLinearTransformation("the matrix is zero") }
    // By default the cheapest g: the distinct baby steps (hoisted: they share one decomposition,
    // so each costs about half a key switch) plus the Horner giant steps up to the last nonzero
    // one (a full key switch each); strided diagonals get a g that is a multiple of their stride.
    var g = babySteps ?? 1
    if babySteps == nil {
      var best = Int.max
      var candidate = 1
      while candidate <= min(r, c) {
        let baby = Set(nonzero.keys.map { $0 % candidate }).subtracting([0]).count
        let giant = nonzero.keys.map { $0 / candidate }.max()!
        if baby + 2 * giant < best { (best, g) = (baby + 2 * giant, candidate) }
        candidate *= 2
      }
    }
    guard g >= 1, g <= min(r, c), g & (g - 1) == 0 else {
      throw EvaluationError.invalidLinearTransformation("baby steps \(g) must be a power of two up to \(min(r, c))")
    }
    var encoded: [Int: [Int: Plaintext]] = [:]
    for (k, diagonal) in nonzero {
      let (j, i) = (k / g, k % g)
      // rot_{−g·j}(diag_k) over the whole (period-n) slot vector: slot t holds diag_k[(t − g·j) mod n].
      let shift = g * j
      let slots = (0..<slotCount).map { t in diagonal[((t - shift) % n + n) % n] }
      encoded[j, default: [:]][i] = try encoder.encode(complex: slots, scale: scale, level: level)
    }
    var folds: [Int] = []
    var step = r
    while step < c {
      folds.append(step)
      step *= 2
    }
    let babyUsed = Set(encoded.values.flatMap(\.keys)).sorted()
    let degree = encoder.parameters.degree
    var elements = Set<Int>()
    for i in babyUsed where i != 0 { elements.insert(GaloisElement.rotation(by: i, degree: degree).value) }
    if encoded.keys.contains(where: { $0 > 0 }) {
      elements.insert(GaloisElement.rotation(by: g, degree: degree).value)
    }
    for fold in folds { elements.insert(GaloisElement.rotation(by: fold, degree: degree).value) }
    inputPeriod = c
    outputPeriod = r
    self.babySteps = g
    self.scale = scale
    self.level = level
    diagonals = encoded
    babyStepsUsed = babyUsed
    foldSteps = folds
    galoisElements = elements.sorted()
  }

  /// `M·v` with period ``outputPeriod`` for `input` holding v with period ``inputPeriod``, at
  /// `input.scale · scale`, same level; or, with `rescaling`, rescaled once, one level lower at
  /// `input.scale · scale / q_level`. Rescaling here is cheaper than after the call when the
  /// matrix is wide: the folds then rotate a ciphertext with one prime fewer (their key-switching
  /// noise then arrives at the lower scale instead of being divided by the rescale).
  /// - Throws: ``EvaluationError/levelMismatch(_:_:)`` for an input at another level than the
  ///   diagonals, ``EvaluationError/missingGaloisKey(element:)`` without a key of
  ///   ``galoisElements``, and the errors of the underlying operations.
  public func apply(_ input: Ciphertext, evaluator: Evaluator, keys: GaloisKeys, rescaling: Bool = false)
    throws(EvaluationError) -> Ciphertext
  {
    guard input.level == level else { throw .levelMismatch(input.level, level) }
    guard input.size == 2 else { throw .notRelinearized(size: input.size) }
    guard let first = diagonals.values.first?.values.first, first.polynomial.basis.isSameRing(as: input.basis) else {
      throw .parametersMismatch
    }
    let rotated = try evaluator.rotations(input, by: babyStepsUsed, keys: keys)
    // The giant steps' inner sums Σ_i diagonal ⊙ rot_i(v) depend only on the baby steps: computed
    // side by side on the evaluator's threads, each accumulated in place (no ciphertext per term).
    let lastGiantStep = diagonals.keys.max()!
    let basis = input.basis
    let productScale = input.scale * self.scale
    var inners = [Ciphertext?](repeating: nil, count: lastGiantStep + 1)
    inners.withUnsafeMutableBufferPointer { slots in
      parallelForEach(lastGiantStep + 1, threads: evaluator.threads) { j, _ in
        guard let terms = diagonals[j] else { return }
        var c0 = RNSPolynomial<Evaluation>(zeroIn: basis)
        var c1 = RNSPolynomial<Evaluation>(zeroIn: basis)
        for (i, diagonal) in terms {
          let term = rotated[i]!
          c0.multiplyAdd(term.polynomials[0], diagonal.polynomial)
          c1.multiplyAdd(term.polynomials[1], diagonal.polynomial)
        }
        slots[j] = Ciphertext(polynomials: [c0, c1], scale: productScale)
      }
    }
    // Giant steps in Horner form, from the last one down: result = rot_g(result) + inner_j.
    var result: Ciphertext?
    for j in stride(from: lastGiantStep, through: 0, by: -1) {
      if let shifted = result { result = try evaluator.rotate(shifted, by: babySteps, keys: keys) }
      guard let inner = inners[j] else { continue }
      result = try result.map { (sum) throws(EvaluationError) in try evaluator.add(sum, inner) } ?? inner
    }
    // A wide matrix: fold the c/r blocks of the product onto each other.
    var folded = rescaling ? try evaluator.rescale(result!) : result!
    for step in foldSteps { folded = try evaluator.add(folded, evaluator.rotate(folded, by: step, keys: keys)) }
    return folded
  }
}
