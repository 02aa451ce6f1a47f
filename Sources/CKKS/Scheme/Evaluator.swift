/// Homomorphic operations on ciphertexts. Scales are tracked exactly in ciphertext metadata;
/// operands must agree in level (and, for additions, in scale), otherwise a typed error says so.
public struct Evaluator: Sendable {
  /// The parameters of the ciphertexts this evaluator accepts.
  public let parameters: CKKSParameters
  /// Working memory reused by the allocating forms (thread-safe; share the evaluator freely).
  let workspaces: WorkspacePool

  /// Threads one key switch may use (relinearizations and rotations), and a
  /// ``LinearTransformation`` its inner sums; 1: the calling thread only.
  public let threads: Int

  /// An evaluator for `parameters`.
  /// - Parameter threads: threads each key switch may spread its digits, limbs and the two
  ///   halves of its ModDown over, and a linear transformation its giant steps' inner sums (at
  ///   least 1; results are identical for every value).
  public init(parameters: CKKSParameters, threads: Int = 1) {
    precondition(threads >= 1, "an evaluator needs at least one thread")
    self.parameters = parameters
    self.threads = threads
    self.workspaces = WorkspacePool(parameters: parameters, threads: threads)
  }

  func check(_ ciphertext: Ciphertext) throws(EvaluationError) {
    let level = ciphertext.level
    guard level <= parameters.maximumLevel, ciphertext.basis.isSameRing(as: parameters.basis(atLevel: level)) else {
      throw .parametersMismatch
    }
  }

  private func checkCompatible(_ a: Ciphertext, _ b: Ciphertext, sameScale: Bool) throws(EvaluationError) {
    try check(a)
    try check(b)
    guard a.level == b.level else { throw .levelMismatch(a.level, b.level) }
    if sameScale { guard Self.isSameScale(a.scale, b.scale) else { throw .scaleMismatch(a.scale, b.scale) } }
  }

  /// Scales closer than this, relatively, are one scale written two ways by floating-point
  /// rounding (Δ·q/q, or the same product taken in another order), and additions accept them:
  /// 2^−40 is far below what CKKS resolves and far above the rounding of any realistic chain of
  /// scale products and quotients. The sum's scale is the plaintext's in `ciphertext + plaintext`
  /// (an encoded constant sets the exact scale a program publishes) and the smaller one in
  /// `ciphertext + ciphertext` (so that addition stays commutative).
  public static let scaleTolerance = 0x1p-40

  /// Whether `a` and `b` are one scale up to ``scaleTolerance``.
  public static func isSameScale(_ a: Double, _ b: Double) -> Bool {
    a == b || abs(a / b - 1) < scaleTolerance
  }

  private func checkCompatible(_ a: Ciphertext, _ p: Plaintext, sameScale: Bool) throws(EvaluationError) {
    try check(a)
    guard p.polynomial.basis.isSameRing(as: a.basis) else {
      if p.polynomial.basis.degree == a.basis.degree, p.level != a.level { throw .levelMismatch(a.level, p.level) }
      throw .parametersMismatch
    }
    if sameScale { guard Self.isSameScale(a.scale, p.scale) else { throw .scaleMismatch(a.scale, p.scale) } }
  }

  // MARK: Addition

  /// `a + b` (same level, same scale up to ``scaleTolerance``, the smaller one kept; sizes may differ).
  /// - Throws: ``EvaluationError/parametersMismatch`` for operands of other parameters,
  ///   ``EvaluationError/levelMismatch(_:_:)`` or ``EvaluationError/scaleMismatch(_:_:)``.
  public func add(_ a: Ciphertext, _ b: Ciphertext) throws(EvaluationError) -> Ciphertext {
    try checkCompatible(a, b, sameScale: true)
    // The result has the larger size; the shorter operand's missing polynomials are zero.
    var result = a.size >= b.size ? a : b
    let other = a.size >= b.size ? b : a
    for i in 0..<other.size { result.polynomials[i].add(other.polynomials[i]) }
    result.scale = min(a.scale, b.scale)
    result.seed = nil
    return result
  }

  /// `a − b` (as ``add(_:_:)-(Ciphertext,Ciphertext)``).
  /// - Throws: as ``add(_:_:)-(Ciphertext,Ciphertext)``.
  public func subtract(_ a: Ciphertext, _ b: Ciphertext) throws(EvaluationError) -> Ciphertext {
    try add(a, negate(b))
  }

  /// `−a`.
  /// - Throws: ``EvaluationError/parametersMismatch`` for a ciphertext of other parameters.
  public func negate(_ a: Ciphertext) throws(EvaluationError) -> Ciphertext {
    try check(a)
    var result = a
    for i in 0..<result.size { result.polynomials[i].negate() }
    result.seed = nil
    return result
  }

  /// `a + p` (same level, same scale up to ``scaleTolerance``); the result has `p`'s scale.
  /// - Throws: ``EvaluationError/parametersMismatch`` for operands of other parameters,
  ///   ``EvaluationError/levelMismatch(_:_:)`` or ``EvaluationError/scaleMismatch(_:_:)``.
  public func add(_ a: Ciphertext, _ p: Plaintext) throws(EvaluationError) -> Ciphertext {
    try checkCompatible(a, p, sameScale: true)
    var result = a
    result.polynomials[0].add(p.polynomial)
    result.scale = p.scale
    return result
  }

  /// `a − p` (as ``add(_:_:)-(Ciphertext,Plaintext)``); the result has `p`'s scale.
  /// - Throws: as ``add(_:_:)-(Ciphertext,Plaintext)``.
  public func subtract(_ a: Ciphertext, _ p: Plaintext) throws(EvaluationError) -> Ciphertext {
    try checkCompatible(a, p, sameScale: true)
    var result = a
    result.polynomials[0].subtract(p.polynomial)
    result.scale = p.scale
    return result
  }

  // MARK: Multiplication

  /// `a · p`; the scale becomes `a.scale · p.scale`.
  /// - Throws: ``EvaluationError/parametersMismatch`` for operands of other parameters, or
  ///   ``EvaluationError/levelMismatch(_:_:)``.
  public func multiply(_ a: Ciphertext, _ p: Plaintext) throws(EvaluationError) -> Ciphertext {
    try checkCompatible(a, p, sameScale: false)
    var result = a
    for i in 0..<result.size { result.polynomials[i].multiply(p.polynomial) }
    result.scale = a.scale * p.scale
    result.seed = nil
    return result
  }

  /// `a · b` without relinearization: `(a0·b0, a0·b1 + a1·b0, a1·b1)`; scale `a.scale · b.scale`.
  /// - Throws: level mismatch, or ``EvaluationError/notRelinearized(size:)`` for size-3 inputs.
  public func multiply(_ a: Ciphertext, _ b: Ciphertext) throws(EvaluationError) -> Ciphertext {
    try checkCompatible(a, b, sameScale: false)
    guard a.size == 2 else { throw .notRelinearized(size: a.size) }
    guard b.size == 2 else { throw .notRelinearized(size: b.size) }
    let (c0, c1, c2) = RNSPolynomial.tensor(a.polynomials[0], a.polynomials[1], b.polynomials[0], b.polynomials[1])
    return Ciphertext(polynomials: [c0, c1, c2], scale: a.scale * b.scale)
  }

  /// `a · b` followed by relinearization.
  /// - Throws: as ``multiply(_:_:)-(Ciphertext,Ciphertext)`` and ``relinearize(_:key:)``.
  public func multiplyRelinearize(_ a: Ciphertext, _ b: Ciphertext, key: RelinearizationKey) throws(EvaluationError)
    -> Ciphertext
  {
    try relinearize(multiply(a, b), key: key)
  }

  /// Turns a size-3 ciphertext back into size 2 with the relinearization key.
  /// - Throws: ``EvaluationError/alreadyRelinearized``, ``EvaluationError/keySwitchingUnavailable`` or
  ///   ``EvaluationError/parametersMismatch``.
  public func relinearize(_ a: Ciphertext, key: RelinearizationKey) throws(EvaluationError) -> Ciphertext {
    var result = a
    try workspaces.withWorkspace { (workspace) throws(EvaluationError) in
      try relinearize(&result, key: key, workspace: workspace)
    }
    return result
  }

  /// In place: turns a size-3 ciphertext into size 2, using `workspace` for all working memory;
  /// c0 and c1 are updated where they are (no allocation when they are not shared).
  /// - Throws: as ``relinearize(_:key:)``.
  public func relinearize(_ a: inout Ciphertext, key: RelinearizationKey, workspace: EvaluatorWorkspace)
    throws(EvaluationError)
  {
    try check(a)
    guard a.size == 3 else { throw .alreadyRelinearized }
    guard let switcher = parameters.keySwitcher else { throw .keySwitchingUnavailable }
    precondition(workspace.parameters === parameters, "workspace of other parameters")
    // Take the polynomials out so c0 and c1 are uniquely referenced and updated in place.
    let c2 = a.polynomials[2]
    var c0 = a.polynomials[0]
    var c1 = a.polynomials[1]
    a.polynomials = []
    switcher.switchKey(c2, with: key.key, addingTo: &c0, &c1, assignC1: false, workspace: workspace)
    a.polynomials = [c0, c1]
    a.seed = nil
  }

  // MARK: Levels

  /// Divides by the last prime with rounding: one level down, scale divided by that prime.
  /// - Throws: ``EvaluationError/levelExhausted`` at level 0, ``EvaluationError/parametersMismatch``.
  public func rescale(_ a: Ciphertext) throws(EvaluationError) -> Ciphertext {
    try check(a)
    guard a.level > 0 else { throw .levelExhausted }
    var result = a
    let last = Double(a.basis.moduli[a.level].value)
    for i in 0..<result.size { result.polynomials[i].divideAndRoundByLastModulus() }
    result.scale = a.scale / last
    result.seed = nil
    return result
  }

  /// Drops primes down to `level` without changing the scale (exact modular reduction).
  /// - Throws: ``EvaluationError/invalidTargetLevel(_:current:)`` for a level above `a`'s or below 0,
  ///   ``EvaluationError/parametersMismatch``.
  public func dropLevel(_ a: Ciphertext, to level: Int) throws(EvaluationError) -> Ciphertext {
    try check(a)
    guard level >= 0, level <= a.level else { throw .invalidTargetLevel(level, current: a.level) }
    var result = a
    for i in 0..<result.size {
      while result.polynomials[i].basis.count > level + 1 { result.polynomials[i].dropLastModulus() }
    }
    // The seed stays valid: the seeded expansion is limb by limb, so dropping primes keeps c1
    // equal to the seed's expansion on the remaining primes.
    return result
  }

  // MARK: Rotation

  /// Rotates the slots left by `steps` (negative: right), as SEAL's `rotate_vector`.
  /// - Throws: ``EvaluationError/missingGaloisKey(element:)`` without the matching key.
  public func rotate(_ a: Ciphertext, by steps: Int, keys: GaloisKeys) throws(EvaluationError) -> Ciphertext {
    guard abs(steps) < parameters.slotCount else { throw .invalidRotation(steps) }
    let element = GaloisElement.rotation(by: steps, degree: parameters.degree)
    if element.value == 1 { return a }
    return try applyGalois(a, element: element, keys: keys)
  }

  /// Hoisted rotations: `a` rotated by each of `steps`, sharing one key-switching decomposition of
  /// c1 (the inverse NTT, basis extensions and NTTs are done once; each rotation then costs a
  /// permutation, the key inner product and the ModDown).
  /// - Returns: the rotated ciphertexts by step.
  /// - Throws: ``EvaluationError/missingGaloisKey(element:)`` without a matching key.
  public func rotations(_ a: Ciphertext, by steps: [Int], keys: GaloisKeys) throws(EvaluationError) -> [Int: Ciphertext]
  {
    try check(a)
    guard a.size == 2 else { throw .notRelinearized(size: a.size) }
    guard let switcher = parameters.keySwitcher else { throw .keySwitchingUnavailable }
    var keyForStep: [Int: (GaloisElement, KeySwitchingKey?)] = [:]
    for steps in steps {
      guard abs(steps) < parameters.slotCount else { throw .invalidRotation(steps) }
      let element = GaloisElement.rotation(by: steps, degree: parameters.degree)
      if element.value == 1 {
        keyForStep[steps] = (element, nil)
        continue
      }
      guard let key = keys.keys[element.value] else { throw .missingGaloisKey(element: element.value) }
      keyForStep[steps] = (element, key)
    }
    return workspaces.withWorkspace { workspace in
      let layout = switcher.raise(a.polynomials[1], workspace: workspace)
      var results: [Int: Ciphertext] = [:]
      for (steps, (element, key)) in keyForStep {
        guard let key else {
          results[steps] = a
          continue
        }
        let permutation = switcher.permutation(for: element)
        switcher.permute(layout, by: permutation, workspace: workspace)
        var c0 = a.polynomials[0].applyingGalois(permutation: permutation)
        var c1 = RNSPolynomial<Evaluation>(zeroIn: a.basis)
        switcher.finish(layout, permuted: true, with: key, addingTo: &c0, &c1, assignC1: true, workspace: workspace)
        results[steps] = Ciphertext(polynomials: [c0, c1], scale: a.scale)
      }
      return results
    }
  }

  /// Every slot receives the sum of all slots: log2(N/2) rotate-and-add steps by 1, 2, 4, …
  /// (generate the keys with ``KeyGenerator/galoisKeysForSlotSums(secretKey:using:)``).
  /// - Throws: ``EvaluationError/missingGaloisKey(element:)`` without one of the keys.
  public func sumSlots(_ a: Ciphertext, keys: GaloisKeys) throws(EvaluationError) -> Ciphertext {
    var accumulator = a
    var step = 1
    while step < parameters.slotCount {
      accumulator = try add(accumulator, rotate(accumulator, by: step, keys: keys))
      step *= 2
    }
    return accumulator
  }

  /// The inner product of the encrypted slots with plaintext `weights` (encoded in slots), in
  /// every slot: multiply, rescale, then ``sumSlots(_:keys:)``. Uses one level.
  /// - Throws: as ``multiply(_:_:)-(Ciphertext,Plaintext)``, ``rescale(_:)`` and ``sumSlots(_:keys:)``.
  public func innerProduct(_ a: Ciphertext, weights: Plaintext, keys: GaloisKeys) throws(EvaluationError) -> Ciphertext
  {
    try sumSlots(rescale(multiply(a, weights)), keys: keys)
  }

  /// Complex conjugation of every slot.
  /// - Throws: ``EvaluationError/missingGaloisKey(element:)`` without the conjugation key.
  public func conjugate(_ a: Ciphertext, keys: GaloisKeys) throws(EvaluationError) -> Ciphertext {
    try applyGalois(a, element: GaloisElement.conjugation(degree: parameters.degree), keys: keys)
  }

  private func applyGalois(_ a: Ciphertext, element: GaloisElement, keys: GaloisKeys) throws(EvaluationError)
    -> Ciphertext
  {
    var result = a
    try workspaces.withWorkspace { (workspace) throws(EvaluationError) in
      try applyGalois(&result, element: element, keys: keys, workspace: workspace)
    }
    return result
  }

  /// In place: rotates the slots left by `steps` (negative: right) using `workspace`.
  /// - Throws: as ``rotate(_:by:keys:)``.
  public func rotate(_ a: inout Ciphertext, by steps: Int, keys: GaloisKeys, workspace: EvaluatorWorkspace)
    throws(EvaluationError)
  {
    guard abs(steps) < parameters.slotCount else { throw .invalidRotation(steps) }
    let element = GaloisElement.rotation(by: steps, degree: parameters.degree)
    if element.value == 1 { return }
    try applyGalois(&a, element: element, keys: keys, workspace: workspace)
  }

  private func applyGalois(
    _ a: inout Ciphertext, element: GaloisElement, keys: GaloisKeys, workspace: EvaluatorWorkspace
  ) throws(EvaluationError) {
    try check(a)
    guard a.size == 2 else { throw .notRelinearized(size: a.size) }
    guard let switcher = parameters.keySwitcher else { throw .keySwitchingUnavailable }
    guard let key = keys.keys[element.value] else { throw .missingGaloisKey(element: element.value) }
    precondition(workspace.parameters === parameters, "workspace of other parameters")
    let permutation = switcher.permutation(for: element)
    var c0 = a.polynomials[0]
    var c1 = a.polynomials[1]
    a.polynomials = []
    Evaluator.permuteInPlace(&c0, permutation, row: workspace.row)
    Evaluator.permuteInPlace(&c1, permutation, row: workspace.row)
    // c1 becomes the switched σ(c1); raise first so c1 is free to be overwritten.
    let layout = switcher.raise(c1, workspace: workspace)
    switcher.finish(layout, permuted: false, with: key, addingTo: &c0, &c1, assignC1: true, workspace: workspace)
    a.polynomials = [c0, c1]
    a.seed = nil
  }

  /// Applies a slot permutation (evaluation-form automorphism) to every limb in place.
  private static func permuteInPlace(
    _ polynomial: inout RNSPolynomial<Evaluation>, _ permutation: [Int], row temporary: UnsafeMutablePointer<UInt64>
  ) {
    let n = polynomial.degree
    permutation.withUnsafeBufferPointer { map in
      polynomial.forEachLimb { _, _, limb in
        temporary.update(from: limb, count: n)
        for j in 0..<n { limb[j] = temporary[map[j]] }
      }
    }
  }
}
