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
/// giant steps still costs its rotation). Zero diagonals cost nothing. The result holds M·v with
/// period r, at `input.scale · scale` on the input's level (rescale it when convenient: encoding
/// at `scale` = the prime a rescale drops keeps the input's scale up to rounding).
///
/// Two generalizations serve batches: with `interleaving` b the slots hold b vectors side by side
/// (entry i of vector j at slot i·b + j) and each is multiplied by M (the map M ⊗ I_b: the same
/// diagonals, every rotation b times longer); with `inputs` m the columns are split into m
/// blocks applied to m ciphertexts, whose inner sums share the giant steps. When the baby-step
/// rotations outnumber the giant steps they are double hoisted (Bossuat et al.): their products
/// are summed over Q_ℓ ∪ P and each giant step takes one ModDown instead of one per rotation.
///
/// With `rotatedCopies` the input supplies the baby steps itself: it holds R = N/2 / (c·b) copies
/// of v, copy t (slots t·c·b ..< (t + 1)·c·b) rotated left by t entries (a client lays its input
/// out so for free). With g = R, one plaintext holds the g diagonals of a giant step, one per
/// copy, so `inner_j` is the sum over copies of one product; the copies are summed once at the
/// end, because a rotation of the whole vector commutes with that sum:
///
///     y' = Σ_j rot_{g·j}(BlockSum(D_j ⊙ X)) = BlockSum(Σ_j rot_{g·j}(D_j ⊙ X)),
///
/// with BlockSum the log2(R) rotate-and-add steps by N/4, N/8, …, c·b, before the folds of a wide
/// matrix. No baby-step rotation, one product per giant step instead of one per diagonal, and
/// the keys of g and of powers of two (of the folds). Wide or square matrices on one input only.
///
/// With ``RotationKeys/powersOfTwo`` the baby steps are composed of rotations by powers of two
/// (baby step i = rot_h(rot_{i−h}) for h the highest power of two in i), so every key of the
/// transformation rotates by a power of two times b: several transformations then share about
/// log2(N/2) keys in all, at the cost of one key switch per baby step instead of one hoisted
/// decomposition for all of them.
public struct LinearTransformation: Sendable {
  /// Which Galois keys the baby steps use.
  public enum RotationKeys: String, Sendable, Codable, CaseIterable {
    /// One key per baby step (g − 1 keys), all baby steps hoisted: the fastest.
    case perBabyStep = "per_baby_step"
    /// Keys for powers of two only (about log2 g for the baby steps), each baby step a key
    /// switch of its own: the fewest keys.
    case powersOfTwo = "powers_of_two"
  }

  /// c: the input's period, the columns (of one input block) padded to a power of two (with
  /// ``rotatedCopies``, the length of each copy).
  public let inputPeriod: Int
  /// r: the output's period, the rows padded to a power of two.
  public let outputPeriod: Int
  /// g: rotations of the input by 0 … g − 1 are the baby steps.
  public let babySteps: Int
  /// b: the number of vectors interleaved in the slots (entry i of vector j at slot i·b + j);
  /// 1 for a single vector. Periods and rotations count in units of b slots.
  public let interleaving: Int
  /// The number of input ciphertexts: the matrix's columns are split into this many equal
  /// blocks, block m applied to input m, and the products summed.
  public let inputCount: Int
  /// The Galois elements whose keys ``apply(_:evaluator:keys:rescaling:)`` uses, ascending.
  public let galoisElements: [Int]
  /// Which keys the baby steps use.
  public let rotationKeys: RotationKeys
  /// Whether the input holds its own baby steps: N/2 / (c·b) copies of v, copy t rotated left by t
  /// entries.
  public let rotatedCopies: Bool
  /// The scale of the encoded diagonals.
  public let scale: Double
  /// The level of the encoded diagonals (inputs must be at this level).
  public let level: Int
  /// Pre-rotated diagonals by giant step j, then input m and baby step i (nonzero ones only).
  let diagonals: [Int: [Term]]
  /// Per input, the baby steps its nonzero diagonals use.
  let babyStepsUsed: [[Int]]
  /// Rotate-and-add steps (in vector entries) folding the blocks of a wide matrix's product: r, 2r, …, c/2.
  let foldSteps: [Int]
  /// Whether the baby steps' products are summed over Q_ℓ ∪ P (the diagonals encoded there too)
  /// before one ModDown per giant step.
  let doubleHoisted: Bool

  struct Term: Sendable {
    let input: Int
    let babyStep: Int
    let diagonal: Plaintext
  }

  /// Compiles `matrix` (rows × columns, each at most N/2).
  /// - Parameters:
  ///   - encoder: encodes the diagonals, at `scale` and `level`.
  ///   - babySteps: g, a power of two up to min(r, c); by default the cheapest, counting a
  ///     hoisted baby step as half a giant step (about √(nonzero diagonals) for dense matrices).
  ///   - interleaving: b, a power of two: the slots hold b vectors side by side (entry i of
  ///     vector j at slot i·b + j) and each is multiplied by `matrix` (M ⊗ I_b); rotations are by
  ///     multiples of b. The padded periods times b must fit the slots.
  ///   - inputs: the columns form this many equal blocks, block m applied to the m-th of the
  ///     inputs `apply` takes and the products summed (the inputs share the giant steps).
  ///   - rotationKeys: one key per baby step (fastest) or keys for powers of two only (fewest).
  ///   - rotatedCopies: the input holds N/2 / (c·b) copies of v, copy t rotated left by t entries,
  ///     which serve as the baby steps (`babySteps` is then that count). For a matrix with at
  ///     least as many padded columns as rows, one input, and at least two copies.
  ///   - threads: threads the diagonals are encoded on (1: the calling thread only).
  /// - Throws: ``EvaluationError/invalidLinearTransformation(_:)`` for an empty, ragged, non-finite
  ///   or oversized matrix or a bad `interleaving` or `inputs`;
  ///   ``EvaluationError/invalidBabySteps(_:maximum:)`` for a bad `babySteps`;
  ///   ``EvaluationError/encoding(_:)`` when a diagonal does not fit.
  public init(
    matrix: [[Double]], encoder: CKKSEncoder, scale: Double, level: Int, babySteps: Int? = nil,
    interleaving: Int = 1, inputs: Int = 1, rotationKeys: RotationKeys = .perBabyStep, rotatedCopies: Bool = false,
    threads: Int = 1
  ) throws(EvaluationError) {
    try self.init(
      complexMatrix: matrix.map { row in row.map { ComplexNumber($0) } }, encoder: encoder, scale: scale, level: level,
      babySteps: babySteps, interleaving: interleaving, inputs: inputs, rotationKeys: rotationKeys,
      rotatedCopies: rotatedCopies, threads: threads)
  }

  /// Compiles a complex `matrix` (rows × columns, each at most N/2), e.g. one that also maps slots
  /// to coefficients. Same rules as ``init(matrix:encoder:scale:level:babySteps:interleaving:inputs:rotationKeys:rotatedCopies:threads:)``.
  /// - Throws: as ``init(matrix:encoder:scale:level:babySteps:interleaving:inputs:rotationKeys:rotatedCopies:threads:)``.
  public init(
    complexMatrix matrix: [[ComplexNumber]], encoder: CKKSEncoder, scale: Double, level: Int, babySteps: Int? = nil,
    interleaving: Int = 1, inputs: Int = 1, rotationKeys: RotationKeys = .perBabyStep, rotatedCopies: Bool = false,
    threads: Int = 1
  ) throws(EvaluationError) {
    let layout = try Self.layout(
      of: matrix, parameters: encoder.parameters, babySteps: babySteps, interleaving: interleaving, inputs: inputs,
      rotationKeys: rotationKeys, rotatedCopies: rotatedCopies)
    let (slotCount, b, c, n, g, nonzero) = (
      encoder.parameters.slotCount, layout.interleaving, layout.inputPeriod, layout.extent, layout.babySteps,
      layout.nonzero
    )
    let parameters = encoder.parameters
    guard level >= 0, level <= parameters.maximumLevel else {
      throw .encoding(.levelOutOfRange(level, maximum: parameters.maximumLevel))
    }
    // Double hoisting saves a ModDown per baby-step rotation and costs one per giant step (and
    // products over the special primes too): it pays when the baby-step rotations outnumber the
    // giant steps, as for several inputs; the diagonals then also live on the special primes.
    let steps = Self.steps(of: nonzero.map { ($0.input, $0.k) }, babySteps: g)
    let extendedBasis = parameters.keySwitcher?.extendedBases[level]
    doubleHoisted =
      !rotatedCopies && rotationKeys == .perBabyStep && extendedBasis != nil && steps.babyRotations > steps.giantSteps
    let diagonalBasis = doubleHoisted ? extendedBasis! : parameters.ciphertextBasis.prefix(level + 1)
    var encoded: [Int: [Term]] = [:]
    if rotatedCopies {
      // One plaintext per giant step j: copy t holds rot_{−g·j}(diag_{g·j+t}), entry e of copy t at
      // slots t·c·b + e·b + (0 ..< b).
      let byGiantStep = Dictionary(grouping: nonzero, by: { $0.k / g })
      for (j, terms) in byGiantStep {
        let shift = g * j
        var slots = [ComplexNumber](repeating: ComplexNumber(0), count: slotCount)
        for (_, k, diagonal) in terms {
          let start = (k % g) * c * b
          for u in 0..<(c * b) { slots[start + u] = diagonal[((u / b - shift) % n + n) % n] }
        }
        encoded[j] = [
          Term(
            input: 0, babyStep: 0,
            diagonal: try encodingStep { () throws(EncodingError) in
              try encoder.encode(complex: slots, scale: scale, basis: diagonalBasis)
            })
        ]
      }
    } else {
      // The diagonals are encoded side by side on `threads` threads.
      var plaintexts = [Result<Plaintext, EncodingError>?](repeating: nil, count: nonzero.count)
      plaintexts.withUnsafeMutableBufferPointer { results in
        parallelForEach(nonzero.count, threads: threads) { index, _ in
          let (_, k, diagonal) = nonzero[index]
          // rot_{−g·j}(diag_k) over the whole (period-n·b) slot vector: slot t holds entry t / b of
          // the diagonal rotated by g·j entries.
          let shift = g * (k / g)
          let slots = (0..<slotCount).map { t in diagonal[((t / b - shift) % n + n) % n] }
          results[index] = Result { () throws(EncodingError) in
            try encoder.encode(complex: slots, scale: scale, basis: diagonalBasis)
          }
        }
      }
      for ((m, k, _), plaintext) in zip(nonzero, plaintexts) {
        let diagonal = try encodingStep { () throws(EncodingError) in try plaintext!.get() }
        encoded[k / g, default: []].append(Term(input: m, babyStep: k % g, diagonal: diagonal))
      }
    }
    inputPeriod = c
    outputPeriod = layout.outputPeriod
    self.babySteps = g
    self.interleaving = b
    inputCount = inputs
    self.scale = scale
    self.level = level
    diagonals = encoded
    babyStepsUsed = layout.babyStepsUsed
    foldSteps = layout.foldSteps
    galoisElements = layout.plan.galoisElements
    self.rotationKeys = rotationKeys
    self.rotatedCopies = rotatedCopies
    plan = layout.plan
  }

  /// What applying a matrix takes, known before its diagonals are encoded.
  public struct Plan: Sendable, Equatable {
    /// The Galois elements of the keys the application uses, ascending.
    public let galoisElements: [Int]
    /// Key switches one application takes, a hoisted baby step counted as half of one (its
    /// decomposition is shared), to compare forms of the same matrix.
    public let keySwitchCost: Double
    /// Plaintext products one application takes (one per encoded diagonal plaintext).
    public let productCount: Int
  }

  /// The plan of ``init(matrix:encoder:scale:level:babySteps:interleaving:inputs:rotationKeys:rotatedCopies:threads:)``
  /// with the same arguments, without encoding anything: which keys it needs and what it costs.
  /// - Throws: as that initializer, for the matrix and the arguments.
  public static func plan(
    matrix: [[Double]], parameters: CKKSParameters, babySteps: Int? = nil, interleaving: Int = 1, inputs: Int = 1,
    rotationKeys: RotationKeys = .perBabyStep, rotatedCopies: Bool = false
  ) throws(EvaluationError) -> Plan {
    try layout(
      of: matrix.map { row in row.map { ComplexNumber($0) } }, parameters: parameters, babySteps: babySteps,
      interleaving: interleaving, inputs: inputs, rotationKeys: rotationKeys, rotatedCopies: rotatedCopies
    ).plan
  }

  /// Everything about a matrix's application but its encoded diagonals.
  struct Layout {
    let interleaving: Int
    /// r, c and n = max(r, c).
    let outputPeriod: Int
    let inputPeriod: Int
    let extent: Int
    /// g.
    let babySteps: Int
    /// The nonzero extended diagonals, by input and index.
    let nonzero: [(input: Int, k: Int, diagonal: [ComplexNumber])]
    let babyStepsUsed: [[Int]]
    let foldSteps: [Int]
    let plan: Plan
  }

  /// Checks the arguments, finds the nonzero extended diagonals, chooses g and derives the keys
  /// and the cost.
  static func layout(
    of matrix: [[ComplexNumber]], parameters: CKKSParameters, babySteps: Int?, interleaving: Int, inputs: Int,
    rotationKeys: RotationKeys, rotatedCopies: Bool
  ) throws(EvaluationError) -> Layout {
    let slotCount = parameters.slotCount
    let rows = matrix.count
    let allColumns = matrix.first?.count ?? 0
    guard rows >= 1, allColumns >= 1, matrix.allSatisfy({ $0.count == allColumns }) else {
      throw EvaluationError.invalidLinearTransformation("the matrix must be non-empty and rectangular")
    }
    guard matrix.allSatisfy({ $0.allSatisfy { $0.real.isFinite && $0.imaginary.isFinite } }) else {
      throw EvaluationError.invalidLinearTransformation("the matrix must be finite")
    }
    guard interleaving >= 1, interleaving <= slotCount, interleaving & (interleaving - 1) == 0 else {
      throw EvaluationError.invalidLinearTransformation("interleaving \(interleaving) must be a power of two up to N/2")
    }
    guard inputs >= 1, allColumns % inputs == 0 else {
      throw EvaluationError.invalidLinearTransformation("\(allColumns) columns do not split into \(inputs) inputs")
    }
    let b = interleaving
    let columns = allColumns / inputs
    var (r, c) = (1, 1)
    while r < rows { r *= 2 }
    while c < columns { c *= 2 }
    let n = max(r, c)
    guard n <= slotCount / b else {
      let vectors = b == 1 ? "" : " on \(b) interleaved vectors"
      throw EvaluationError.invalidLinearTransformation(
        "a \(rows) × \(columns) matrix\(vectors) does not fit \(slotCount) slots")
    }
    let copies = slotCount / (c * b)
    if rotatedCopies {
      guard inputs == 1, c >= r, copies >= 2 else {
        throw EvaluationError.invalidLinearTransformation(
          "rotated copies need one input, at least as many padded columns as rows, and room for two copies")
      }
      if let babySteps, babySteps != copies { throw EvaluationError.invalidBabySteps(babySteps, maximum: copies) }
    }
    // Nonzero extended diagonals of each block: diag_k[t] = M_m[t mod r][(t + k) mod c], t < n, k < min(r, c).
    let zero = ComplexNumber(0)
    var nonzero: [(input: Int, k: Int, diagonal: [ComplexNumber])] = []
    for m in 0..<inputs {
      for k in 0..<min(r, c) {
        var diagonal = [ComplexNumber](repeating: zero, count: n)
        var any = false
        for t in 0..<n {
          let (row, column) = (t % r, (t + k) % c)
          if row < rows, column < columns, matrix[row][m * columns + column] != zero {
            diagonal[t] = matrix[row][m * columns + column]
            any = true
          }
        }
        if any { nonzero.append((m, k, diagonal)) }
      }
    }
    guard !nonzero.isEmpty else { throw EvaluationError.invalidLinearTransformation("the matrix is zero") }
    // By default the cheapest g: the distinct baby steps of every input (double hoisted: they
    // share one decomposition per input and skip their ModDown, counted as half a key switch)
    // plus the Horner giant steps up to the last nonzero one (a key switch and a ModDown each);
    // strided diagonals get a g that is a multiple of their stride. Composed baby steps are
    // whole key switches.
    var g = rotatedCopies ? copies : babySteps ?? 1
    if babySteps == nil, !rotatedCopies {
      var best = Int.max
      var candidate = 1
      while candidate <= min(r, c) {
        let steps = Self.steps(of: nonzero.map { ($0.input, $0.k) }, babySteps: candidate)
        let babyCost =
          rotationKeys == .perBabyStep
          ? steps.babyRotations
          : 2
            * (0..<inputs).reduce(0) { total, m in
              total + Self.composition(of: nonzero.filter { $0.input == m }.map { $0.k % candidate }).count
            }
        let cost = babyCost + 2 * steps.lastGiantStep
        if cost < best { (best, g) = (cost, candidate) }
        candidate *= 2
      }
    }
    guard rotatedCopies || (g >= 1 && g <= min(r, c) && g & (g - 1) == 0) else {
      throw EvaluationError.invalidBabySteps(g, maximum: min(r, c))
    }
    var babyUsed = [Set<Int>](repeating: [], count: inputs)
    if rotatedCopies {
      babyUsed[0] = [0]
    } else {
      for (m, k, _) in nonzero { babyUsed[m].insert(k % g) }
    }
    var folds: [Int] = []
    var step = r
    // With rotated copies the copies are summed too: the folds run up to the whole slot vector.
    while step < (rotatedCopies ? slotCount / b : c) {
      folds.append(step)
      step *= 2
    }
    let degree = parameters.degree
    var elements = Set<Int>()
    for used in babyUsed {
      switch rotationKeys {
      case .perBabyStep:
        for i in used where i != 0 { elements.insert(GaloisElement.rotation(by: i * b, degree: degree).value) }
      case .powersOfTwo:
        for (child, parent) in Self.composition(of: Array(used)) {
          elements.insert(GaloisElement.rotation(by: (child - parent) * b, degree: degree).value)
        }
      }
    }
    let giantSteps = Set(nonzero.map { $0.k / g })
    let lastGiantStep = giantSteps.max() ?? 0
    if lastGiantStep > 0 { elements.insert(GaloisElement.rotation(by: g * b, degree: degree).value) }
    for fold in folds { elements.insert(GaloisElement.rotation(by: fold * b, degree: degree).value) }
    let babyCost = babyUsed.reduce(0.0) { total, used in
      switch rotationKeys {
      case .perBabyStep: total + 0.5 * Double(used.filter { $0 != 0 }.count)
      case .powersOfTwo: total + Double(Self.composition(of: Array(used)).count)
      }
    }
    return Layout(
      interleaving: b, outputPeriod: r, inputPeriod: c, extent: n, babySteps: g, nonzero: nonzero,
      babyStepsUsed: babyUsed.map { $0.sorted() }, foldSteps: folds,
      plan: Plan(
        galoisElements: elements.sorted(), keySwitchCost: babyCost + Double(lastGiantStep + folds.count),
        productCount: rotatedCopies ? giantSteps.count : nonzero.count))
  }

  /// What this application takes: its keys and cost (``Plan``).
  public let plan: Plan

  /// `M·v` with period ``outputPeriod`` for `input` holding v with period ``inputPeriod``, at
  /// `input.scale · scale`, same level; or, with `rescaling`, rescaled once, one level lower at
  /// `input.scale · scale / q_level`. Rescaling here is cheaper than after the call when the
  /// matrix is wide: the folds then rotate a ciphertext with one prime fewer (their key-switching
  /// noise then arrives at the lower scale instead of being divided by the rescale).
  /// - Throws: ``EvaluationError/invalidLinearTransformation(_:)`` when the transformation takes
  ///   several inputs, ``EvaluationError/levelMismatch(_:_:)`` for an input at another level than
  ///   the diagonals, ``EvaluationError/missingGaloisKey(element:)`` without a key of
  ///   ``galoisElements``, and the errors of the underlying operations.
  public func apply(_ input: Ciphertext, evaluator: Evaluator, keys: GaloisKeys, rescaling: Bool = false)
    throws(EvaluationError) -> Ciphertext
  {
    try apply([input], evaluator: evaluator, keys: keys, rescaling: rescaling)
  }

  /// `Σ_m M_m·v_m` for ``inputCount`` inputs (input m holding v_m, block m of the columns), as the
  /// one-input `apply` describes for one. The inputs must share level and scale.
  /// - Throws: ``EvaluationError/invalidLinearTransformation(_:)`` for another number of inputs,
  ///   ``EvaluationError/scaleMismatch(_:_:)`` for inputs at different scales, and the errors of
  ///   the one-input form.
  public func apply(_ inputs: [Ciphertext], evaluator: Evaluator, keys: GaloisKeys, rescaling: Bool = false)
    throws(EvaluationError) -> Ciphertext
  {
    guard inputs.count == inputCount else {
      throw .invalidLinearTransformation("\(inputs.count) inputs for a transformation of \(inputCount)")
    }
    let input = inputs[0]
    for other in inputs {
      try evaluator.check(other)
      guard other.level == level else { throw .levelMismatch(other.level, level) }
      guard other.size == 2 else { throw .notRelinearized(size: other.size) }
      guard Evaluator.isSameScale(other.scale, input.scale) else { throw .scaleMismatch(input.scale, other.scale) }
    }
    guard doubleHoisted, let switcher = evaluator.parameters.keySwitcher else {
      return try applyHoisted(inputs, evaluator: evaluator, keys: keys, rescaling: rescaling)
    }
    let extendedBasis = switcher.extendedBases[level]
    guard diagonals.values.first!.first!.diagonal.polynomial.basis.isSameRing(as: extendedBasis),
      input.basis.isSameRing(as: extendedBasis.prefix(level + 1))
    else { throw .parametersMismatch }
    return try giantSteps(
      doubleHoistedInnerSums(inputs, switcher: switcher, evaluator: evaluator, keys: keys), evaluator: evaluator,
      keys: keys, rescaling: rescaling)
  }

  /// The one-decomposition-per-input form: each baby-step rotation finished (ModDown) on its own,
  /// the products summed over Q_ℓ.
  private func applyHoisted(_ inputs: [Ciphertext], evaluator: Evaluator, keys: GaloisKeys, rescaling: Bool)
    throws(EvaluationError) -> Ciphertext
  {
    let input = inputs[0]
    guard diagonals.values.first!.first!.diagonal.polynomial.basis.isSameRing(as: input.basis) else {
      throw .parametersMismatch
    }
    var rotated: [[Int: Ciphertext]] = []
    for (m, steps) in babyStepsUsed.enumerated() {
      switch rotationKeys {
      case .perBabyStep:
        let byEntries = try evaluator.rotations(inputs[m], by: steps.map { $0 * interleaving }, keys: keys)
        rotated.append(Dictionary(uniqueKeysWithValues: byEntries.map { ($0.key / interleaving, $0.value) }))
      case .powersOfTwo:
        // Parents come before their children (a parent is smaller), so each source is ready when
        // its children's rotations, hoisted together, are taken from it.
        var byStep: [Int: Ciphertext] = [0: inputs[m]]
        let children = Dictionary(grouping: Self.composition(of: steps), by: \.parent)
        for source in children.keys.sorted() {
          let offsets = children[source]!.map { ($0.child - source) * interleaving }
          let results = try evaluator.rotations(byStep[source]!, by: offsets, keys: keys)
          for (child, _) in children[source]! { byStep[child] = results[(child - source) * interleaving] }
        }
        rotated.append(byStep)
      }
    }
    // The giant steps' inner sums depend only on the baby steps: computed side by side on the
    // evaluator's threads.
    let lastGiantStep = diagonals.keys.max()!
    let productScale = input.scale * scale
    var inners = [Ciphertext?](repeating: nil, count: lastGiantStep + 1)
    inners.withUnsafeMutableBufferPointer { slots in
      parallelForEach(lastGiantStep + 1, threads: evaluator.threads) { j, _ in
        guard let terms = diagonals[j] else { return }
        let diagonalRows = terms.map(\.diagonal.polynomial.residues)
        let polynomials = (0..<2).map { index in
          var sum = RNSPolynomial<Evaluation>(zeroIn: input.basis)
          Self.addInnerSum(
            into: &sum, terms.map { rotated[$0.input][$0.babyStep]!.polynomials[index].residues }, diagonalRows)
          return sum
        }
        slots[j] = Ciphertext(polynomials: polynomials, scale: productScale)
      }
    }
    return try giantSteps(inners, evaluator: evaluator, keys: keys, rescaling: rescaling)
  }

  /// The giant steps' inner sums of the double-hoisted form, over Q_ℓ after one ModDown each.
  private func doubleHoistedInnerSums(
    _ inputs: [Ciphertext], switcher: KeySwitcher, evaluator: Evaluator, keys: GaloisKeys
  ) throws(EvaluationError) -> [Ciphertext?] {
    let input = inputs[0]
    let extendedBasis = switcher.extendedBases[level]
    let degree = evaluator.parameters.degree
    // Double hoisting (Bossuat et al. 2021): each input is decomposed and raised once; a baby step
    // is then a permutation and the inner products with its key, kept over Q_ℓ ∪ P as the pair
    // (P·σ(c0) + Σ d·b, Σ d·a) that ModDown would turn into the rotated ciphertext. The diagonals
    // multiply these pairs over Q_ℓ ∪ P and each giant step's sum takes one ModDown, instead of
    // one per baby step.
    let lastGiantStep = diagonals.keys.max()!
    var extendedInners = [(RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>)?](
      repeating: nil, count: lastGiantStep + 1)
    for j in diagonals.keys {
      extendedInners[j] = (RNSPolynomial(zeroIn: extendedBasis), RNSPolynomial(zeroIn: extendedBasis))
    }
    for (m, steps) in babyStepsUsed.enumerated() where !steps.isEmpty {
      let x = inputs[m]
      var keysByStep: [Int: (GaloisElement, KeySwitchingKey)] = [:]
      for i in steps where i != 0 {
        let element = GaloisElement.rotation(by: i * interleaving, degree: degree)
        guard let key = keys.keys[element.value] else { throw .missingGaloisKey(element: element.value) }
        keysByStep[i] = (element, key)
      }
      let rotated = evaluator.workspaces.withWorkspace { workspace in
        var rotated: [Int: (RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>)] = [:]
        let layout = keysByStep.isEmpty ? nil : switcher.raise(x.polynomials[1], workspace: workspace)
        for i in steps {
          guard let (element, key) = keysByStep[i], let layout else {
            rotated[i] = (switcher.raiseByP(x.polynomials[0]), switcher.raiseByP(x.polynomials[1]))
            continue
          }
          let permutation = switcher.permutation(for: element)
          switcher.permute(layout, by: permutation, workspace: workspace)
          switcher.accumulate(layout, permuted: true, with: key, workspace: workspace)
          var c0 = switcher.raiseByP(x.polynomials[0].applyingGalois(permutation: permutation))
          let words = c0.residues.count
          c0.forEachLimb { limb, q, row in
            let source = workspace.accumulator0 + limb * degree
            for k in 0..<degree { row[k] = q.add(row[k], source[k]) }
          }
          rotated[i] = (
            c0,
            RNSPolynomial(
              uncheckedBasis: extendedBasis, residues: EvaluatorWorkspace.words(workspace.accumulator1, count: words))
          )
        }
        return rotated
      }
      // This input's share of every giant step's inner sum, side by side on the evaluator's threads.
      extendedInners.withUnsafeMutableBufferPointer { inners in
        parallelForEach(lastGiantStep + 1, threads: evaluator.threads) { j, _ in
          guard let terms = diagonals[j]?.filter({ $0.input == m }), !terms.isEmpty else { return }
          let diagonalRows = terms.map(\.diagonal.polynomial.residues)
          Self.addInnerSum(into: &inners[j]!.0, terms.map { rotated[$0.babyStep]!.0.residues }, diagonalRows)
          Self.addInnerSum(into: &inners[j]!.1, terms.map { rotated[$0.babyStep]!.1.residues }, diagonalRows)
        }
      }
    }
    let productScale = input.scale * self.scale
    return evaluator.workspaces.withWorkspace { workspace in
      extendedInners.map { pair in
        pair.map { pair in
          let (c0, c1) = switcher.lower(pair.0, pair.1, to: input.basis, workspace: workspace)
          return Ciphertext(polynomials: [c0, c1], scale: productScale)
        }
      }
    }
  }

  /// The giant steps in Horner form, the optional rescale and the folds.
  private func giantSteps(_ inners: [Ciphertext?], evaluator: Evaluator, keys: GaloisKeys, rescaling: Bool)
    throws(EvaluationError) -> Ciphertext
  {
    let lastGiantStep = inners.count - 1
    // Giant steps in Horner form, from the last one down: result = rot_g(result) + inner_j.
    var result: Ciphertext?
    for j in stride(from: lastGiantStep, through: 0, by: -1) {
      if let shifted = result { result = try evaluator.rotate(shifted, by: babySteps * interleaving, keys: keys) }
      guard let inner = inners[j] else { continue }
      result = try result.map { (sum) throws(EvaluationError) in try evaluator.add(sum, inner) } ?? inner
    }
    // A wide matrix: fold the c/r blocks of the product onto each other.
    var folded = rescaling ? try evaluator.rescale(result!) : result!
    for step in foldSteps {
      folded = try evaluator.add(folded, evaluator.rotate(folded, by: step * interleaving, keys: keys))
    }
    return folded
  }

  /// With `g` baby steps, for nonzero diagonals `k` of each input: the distinct nonzero baby-step
  /// rotations (input, k mod g), the distinct giant steps k / g, and the last giant step.
  static func steps(of diagonals: [(input: Int, k: Int)], babySteps g: Int)
    -> (babyRotations: Int, giantSteps: Int, lastGiantStep: Int)
  {
    var babyRotations = Set<[Int]>()
    var giantSteps = Set<Int>()
    for (input, k) in diagonals {
      if k % g != 0 { babyRotations.insert([input, k % g]) }
      giantSteps.insert(k / g)
    }
    return (babyRotations.count, giantSteps.count, giantSteps.max() ?? 0)
  }

  /// The rotations that compose `steps` from powers of two: each nonzero step i, and every step
  /// it is built on, as (child: i, parent: i − h) with h the highest power of two in i (so the
  /// child is the parent rotated by h). Ascending by child.
  static func composition(of steps: [Int]) -> [(child: Int, parent: Int)] {
    var all = Set<Int>()
    for step in steps {
      var i = step
      while i > 0, all.insert(i).inserted {
        i -= 1 << (Int.bitWidth - 1 - i.leadingZeroBitCount)
      }
    }
    return all.sorted().map { ($0, $0 - 1 << (Int.bitWidth - 1 - $0.leadingZeroBitCount)) }
  }

  /// `result += Σ_t sources[t] ⊙ diagonals[t]` (residues of polynomials in evaluation form on
  /// `result`'s basis), each coefficient's products summed in 128 bits and reduced once per chunk
  /// of terms instead of once per term. The sums live in registers: no scratch memory.
  static func addInnerSum(into result: inout RNSPolynomial<Evaluation>, _ sources: [[UInt64]], _ diagonals: [[UInt64]])
  {
    precondition(sources.count == diagonals.count)
    let n = result.degree
    let terms = sources.count
    withBaseAddresses(of: sources) { x in
      withBaseAddresses(of: diagonals) { d in
        result.forEachLimb { limb, q, row in
          // Invariant: a product of residues is below 2^(2·bitWidth), so a chunk of
          // 2^(127 − 2·bitWidth) of them (capped at 2^20) sums below 2^128 without overflow;
          // each chunk is reduced and added to the row, which stays in [0, q).
          let chunk = 1 << min(20, max(0, 127 - 2 * q.bitWidth))
          let offset = limb &* n
          for k in 0..<n {
            var total = row[k]
            for start in stride(from: 0, to: terms, by: chunk) {
              var low: UInt64 = 0
              var high: UInt64 = 0
              for t in start..<min(start &+ chunk, terms) {
                let (xs, ds) = (x[t][offset &+ k], d[t][offset &+ k])
                assert(xs < q.value && ds < q.value)
                let product = xs.multipliedFullWidth(by: ds)
                let (sum, carry) = low.addingReportingOverflow(product.low)
                low = sum
                high &+= product.high &+ (carry ? 1 : 0)
              }
              total = q.add(total, q.reduce(high: high, low: low))
            }
            row[k] = total
          }
        }
      }
    }
  }
}
