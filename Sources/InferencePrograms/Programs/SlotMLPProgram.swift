public import CKKS
import Foundation

/// A one-hidden-layer network with a degree-2 activation, in slots (``SlotMLPLayout``):
///
/// 1. z = W1·x + b1 by the diagonal method (m − 1 hoisted rotations; diagonals encoded at the
///    prime the rescale removes, so the scale stays exactly Δ), then z is replicated into the
///    upper half of each sample's block (one rotation by −m);
/// 2. u = z² (one ciphertext multiplication, relinearized, rescaled);
/// 3. scores = (c2·W2)·u + (c1·W2)·z + (W2·c0 + b2), again by the diagonal method on u and on z,
///    with the two products' plaintexts encoded so that both land on q1·Δ; one rescale.
///
/// Inputs enter at level 3 (three rescales), so the chain needs four ciphertext primes.
public struct SlotMLPProgram: InferenceProgram {
  public let slotLayout: SlotMLPLayout
  let hiddenWeights: [[Double]]
  let hiddenBias: [Double]
  let outputWeights: [[Double]]
  let outputBias: [Double]
  let activation: [Double]
  public let inputLevel = 3
  public let resultScale: Double
  /// Rotation steps: 1…m−1 for the diagonals, −m for the replica.
  let rotationSteps: [Int]
  public let galoisElements: [Int]
  // Plaintexts.
  let hiddenDiagonals: [Plaintext]
  let hiddenBiasPlaintext: Plaintext
  let squareDiagonals: [Plaintext]
  let linearDiagonals: [Plaintext]
  let outputBiasPlaintext: Plaintext

  /// Compiles a network from matrices already checked rectangular and finite.
  /// - Parameters:
  ///   - hiddenWeights: `hidden × inputs`; `hiddenBias`: `hidden`.
  ///   - outputWeights: `outputs × hidden`; `outputBias`: `outputs`.
  ///   - activation: polynomial coefficients, lowest degree first, degree ≤ 2; nil for the identity.
  ///   - inputScale: Δ, the clients' encoding scale (also the scale of every layer and the result).
  ///   - inputBound: inputs are expected within ±inputBound (headroom checks).
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the rule the model breaks.
  public init(
    parameters: CKKSParameters, hiddenWeights: [[Double]], hiddenBias: [Double], outputWeights: [[Double]],
    outputBias: [Double], activation: [Double]?, inputScale: Double, inputBound: Double
  ) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    let h = hiddenWeights.count
    let d = hiddenWeights[0].count
    let k = outputWeights.count
    guard outputWeights[0].count == h else { throw fail("weights rows must have \(h) entries (one per hidden unit)") }
    let c = activation ?? [0, 1]
    guard c.allSatisfy(\.isFinite), !c.isEmpty else { throw fail("activation.coefficients must be finite numbers") }
    if let high = c.indices.dropFirst(3).first(where: { c[$0] != 0 }) {
      throw fail("an mlp takes an activation of degree at most 2 (activation.coefficients[\(high)] is \(c[high]))")
    }
    let activation = (0..<3).map { $0 < c.count ? c[$0] : 0 }
    guard parameters.ciphertextModuli.count == 4 else {
      throw fail("an mlp needs exactly four ciphertext primes (inputs at level 3, three rescales)")
    }
    guard !parameters.specialModuli.isEmpty else { throw fail("an mlp needs special primes for its evaluation keys") }
    let layout = SlotMLPLayout(
      slotCount: parameters.slotCount, inputDimension: d, hiddenDimension: h, outputDimension: k)
    guard layout.samplesPerCiphertext >= 1 else { throw fail("a sample needs \(layout.sampleStride) slots") }
    let delta = inputScale
    let q = parameters.ciphertextModuli.map { Double($0) }
    // Headroom: every intermediate below a quarter of the prime it lives over at its scale.
    let zBound = zip(hiddenWeights, hiddenBias).map { row, b in row.reduce(abs(b)) { $0 + abs($1) * inputBound } }
      .max()!
    let aBound = abs(activation[0]) + abs(activation[1]) * zBound + abs(activation[2]) * zBound * zBound
    let scoreBound = zip(outputWeights, outputBias).map { row, b in row.reduce(abs(b)) { $0 + abs($1) * aBound } }
      .max()!
    let base = q[0]
    guard inputBound * delta < base / 4, zBound * delta < base / 4, zBound * zBound * delta < base / 4,
      scoreBound * delta < base / 4
    else {
      throw fail(
        "intermediate values up to \(max(zBound * zBound, scoreBound)) at scale 2^\(log2(delta)) overflow the base "
          + "prime (2^\(log2(base).rounded(.down))): lower input_scale or input_bound")
    }
    self.slotLayout = layout
    self.hiddenWeights = hiddenWeights
    self.hiddenBias = hiddenBias
    self.outputWeights = outputWeights
    self.outputBias = outputBias
    self.activation = activation
    let m = layout.width
    rotationSteps = Array(1..<max(m, 2)).filter { $0 < m } + [-m]
    galoisElements = rotationSteps.map { GaloisElement.rotation(by: $0, degree: parameters.degree).value }.sorted()
    // Scales: x at Δ (level 3); z at Δ·q3/q3 = Δ (level 2); u at Δ²/q2 (level 1); the output
    // products at T = q1·Δ, so the scores come back at Δ (level 0).
    let squareScale = delta * delta / q[2]
    let productScale = q[1] * delta
    resultScale = delta
    let encoder = CKKSEncoder(parameters: parameters)
    let outputLinear = outputWeights.map { $0.map { $0 * activation[1] } }
    let outputSquare = outputWeights.map { $0.map { $0 * activation[2] } }
    let foldedBias = zip(outputWeights, outputBias).map { row, b in b + activation[0] * row.reduce(0, +) }
    do {
      hiddenDiagonals = try (0..<m).map {
        try encoder.encode(layout.diagonal(hiddenWeights, $0), scale: q[3], level: 3)
      }
      hiddenBiasPlaintext = try encoder.encode(layout.perSample(hiddenBias), scale: delta, level: 2)
      squareDiagonals = try (0..<m).map {
        try encoder.encode(layout.diagonal(outputSquare, $0), scale: productScale / squareScale, level: 1)
      }
      linearDiagonals = try (0..<m).map {
        try encoder.encode(layout.diagonal(outputLinear, $0), scale: productScale / delta, level: 1)
      }
      outputBiasPlaintext = try encoder.encode(layout.perSample(foldedBias), scale: delta, level: 0)
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
  }

  public var layout: any SampleLayout { slotLayout }

  public var keyRequirements: EvaluationKeyRequirements {
    EvaluationKeyRequirements(relinearization: true, galoisElements: galoisElements)
  }

  /// Results are returned as evaluated (docs/threat-model.md: flooding a slot network's noise
  /// is out of reach at these parameters).
  public var resultPrivacy: ResultPrivacy? { nil }

  public func plainScores(_ sample: [Double]) -> [Double] {
    let hidden = zip(hiddenWeights, hiddenBias).map { row, b in
      let z = zip(row, sample).reduce(b) { $0 + $1.0 * $1.1 }
      return activation[0] + activation[1] * z + activation[2] * z * z
    }
    return zip(outputWeights, outputBias).map { row, b in zip(row, hidden).reduce(b) { $0 + $1.0 * $1.1 } }
  }

  /// Σ_k diagonals[k] ⊙ rot(x, k), from hoisted rotations (the terms' scales agree up to
  /// rounding, which additions tolerate).
  private func diagonalProduct(_ x: Ciphertext, _ diagonals: [Plaintext], evaluator: Evaluator, keys: GaloisKeys)
    throws -> Ciphertext
  {
    let m = slotLayout.width
    let rotated = try evaluator.rotations(x, by: Array(0..<m), keys: keys)
    var sum: Ciphertext?
    for step in 0..<m {
      let term = try evaluator.multiply(rotated[step]!, diagonals[step])
      sum = try sum.map { try evaluator.add($0, term) } ?? term
    }
    return sum!
  }

  /// Evaluates every sample of `x` (all of them: the results are not masked per request). The
  /// bias plaintexts, encoded at exactly Δ, give z and the scores exactly Δ.
  public func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    let x = try checkedGroup(group)[0]
    guard let relinearizationKey = keys.relinearization, let galoisKeys = keys.galois else {
      throw ProgramError.missingKeys("the relinearization key and Galois keys")
    }
    // Layer 1 at level 3 → z at level 2, scale Δ.
    var z = try evaluator.rescale(diagonalProduct(x, hiddenDiagonals, evaluator: evaluator, keys: galoisKeys))
    z = try evaluator.add(z, hiddenBiasPlaintext)
    z = try evaluator.add(z, evaluator.rotate(z, by: -slotLayout.width, keys: galoisKeys))
    // Activation: u = z² at level 1.
    let u = try evaluator.rescale(evaluator.multiplyRelinearize(z, z, key: relinearizationKey))
    let zLow = try evaluator.dropLevel(z, to: 1)
    // Output layer: both products at q1·Δ, one rescale → scores at Δ, level 0.
    let squares = try diagonalProduct(u, squareDiagonals, evaluator: evaluator, keys: galoisKeys)
    let linear = try diagonalProduct(zLow, linearDiagonals, evaluator: evaluator, keys: galoisKeys)
    let scores = try evaluator.rescale(evaluator.add(squares, linear))
    return [try evaluator.add(scores, outputBiasPlaintext)]
  }
}

extension SlotMLPLayout {
  /// Diagonal k of `matrix` (rows × columns, both ≤ m) laid out for every sample: slot `b·2m + i`
  /// holds `matrix[i][(i + k) mod m]` (0 outside the matrix, and in the replica half).
  func diagonal(_ matrix: [[Double]], _ k: Int) -> [Double] {
    let m = width
    var slots = [Double](repeating: 0, count: slotCount)
    for b in 0..<samplesPerCiphertext {
      for (i, row) in matrix.enumerated() {
        let column = (i + k) % m
        if column < row.count { slots[b * sampleStride + i] = row[column] }
      }
    }
    return slots
  }

  /// `values[i]` at slot `b·2m + i` of every sample.
  func perSample(_ values: [Double]) -> [Double] {
    var slots = [Double](repeating: 0, count: slotCount)
    for b in 0..<samplesPerCiphertext {
      for (i, value) in values.enumerated() { slots[b * sampleStride + i] = value }
    }
    return slots
  }
}
