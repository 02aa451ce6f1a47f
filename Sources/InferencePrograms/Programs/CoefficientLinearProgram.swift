public import CKKS
import Foundation

/// A linear model as coefficient-encoded dot products (``CoefficientLinearLayout``): one
/// plaintext multiplication and one addition score every sample of a ciphertext, with no
/// evaluation keys; then the result is rescaled to level 0. For private weights every result is
/// sanitized first (``LinearResultPrivacy``), and a model of k > 1 classes multiplies by each
/// class's row separately, giving one result per class, so that no revealed score depends on
/// another class's weights (the layout's `resultPerClass`).
public struct CoefficientLinearProgram: InferenceProgram {
  public let linearLayout: CoefficientLinearLayout
  /// Weights and biases with the (affine) activation folded in: scores = weights·x + bias.
  public let foldedWeights: [[Double]]
  public let foldedBias: [Double]
  /// Inputs arrive at the top level.
  public let inputLevel: Int
  /// Δx·Δw divided by every prime above the base prime.
  public let resultScale: Double
  /// Masking, re-randomization and flooding of results; nil when results are returned as
  /// evaluated (public weights, or an operator's choice).
  public let privacy: LinearResultPrivacy?
  /// W(X) at the weight scale and the biases at Δx·Δw, top level, evaluation form: one pair for
  /// the whole model, or one per class (`W_c(X)` and class c's bias) with the layout's
  /// `resultPerClass`.
  let weightPlaintexts: [Plaintext]
  let biasPlaintexts: [Plaintext]

  /// Compiles `weights` (`outputs × inputs`, already checked rectangular and finite) and `bias`.
  /// - Parameters:
  ///   - activation: polynomial coefficients, lowest degree first, of degree ≤ 1 (folded into
  ///     the weights); nil for none.
  ///   - inputScale: Δx, the clients' encoding scale.
  ///   - weightScale: Δw, the weights' encoding scale (> 1).
  ///   - inputBound: inputs are expected within ±inputBound (headroom checks, error bound).
  ///   - protectResults: sanitize every result (private weights).
  ///   - droppedBits: low bits the decryption-only shrink drops (enters the error bound).
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the rule the model breaks.
  public init(
    parameters: CKKSParameters, weights: [[Double]], bias: [Double], activation: [Double]?, inputScale: Double,
    weightScale: Double?, inputBound: Double, protectResults: Bool, droppedBits: Int
  ) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    let k = weights.count
    let d = weights[0].count
    // A linear model folds an affine activation into its weights.
    var slope = 1.0
    var intercept = 0.0
    if let c = activation {
      guard !c.isEmpty, c.allSatisfy(\.isFinite) else { throw fail("activation.coefficients must be finite numbers") }
      if let high = c.indices.dropFirst(2).first(where: { c[$0] != 0 }) {
        throw fail(
          "a linear model takes an activation of degree at most 1 (activation.coefficients[\(high)] is \(c[high]))")
      }
      intercept = c[0]
      slope = c.count > 1 ? c[1] : 0
    }
    let foldedWeights = weights.map { $0.map { $0 * slope } }
    let foldedBias = bias.map { $0 * slope + intercept }
    let layout = CoefficientLinearLayout(
      degree: parameters.degree, inputDimension: d, outputDimension: k, resultPerClass: protectResults)
    guard layout.samplesPerCiphertext >= 1 else {
      throw fail(
        "a sample needs \(layout.sampleStride) coefficients ((outputs + 1) · inputs) but N is \(parameters.degree)")
    }
    guard let weightScale, weightScale.isFinite, weightScale > 1 else {
      throw fail("a linear model needs encryption.weight_scale, finite and greater than 1")
    }
    // Scales: inputs and scores (plus the flooding noise) must fit in Q at the top level, and
    // the rescaled scores in the base prime.
    let top = parameters.maximumLevel
    let topModulus = parameters.ciphertextModuli.reduce(1.0) { $0 * Double($1) }
    let basePrime = Double(parameters.ciphertextModuli[0])
    let productScale = inputScale * weightScale
    let resultScale = parameters.ciphertextModuli.dropFirst().reduce(productScale) { $0 / Double($1) }
    let scoreBound = zip(foldedWeights, foldedBias).map { row, bias in
      row.reduce(abs(bias)) { $0 + abs($1) * inputBound }
    }.max()!
    guard inputBound * inputScale < topModulus / 4 else {
      throw fail("input_bound · input_scale must stay below a quarter of Q (2^\(log2(topModulus) - 2))")
    }
    let privacy =
      protectResults
      ? LinearResultPrivacy(
        layout: layout, weights: foldedWeights, weightScale: weightScale, productScale: productScale,
        resultScale: resultScale, droppedBits: droppedBits, inputBound: inputBound,
        modulusBits: log2(topModulus))
      : nil
    let flooding = privacy.map { Double(sign: .plus, exponent: $0.floodingBits, significand: 1) } ?? 0
    guard scoreBound * productScale + flooding < topModulus / 4, scoreBound * resultScale < basePrime / 4 else {
      throw fail(
        "scores up to \(scoreBound) at scale input_scale · weight_scale = 2^\(log2(productScale))"
          + (privacy == nil ? "" : " plus flooding noise 2^\(privacy!.floodingBits)")
          + " overflow the modulus (2^\(log2(topModulus).rounded(.down)), base prime 2^\(log2(basePrime).rounded(.down))): "
          + "lower a scale or input_bound")
    }
    let encoder = CKKSEncoder(parameters: parameters)
    do {
      if layout.resultPerClass {
        weightPlaintexts = try foldedWeights.enumerated().map { c, row in
          try encoder.encodeCoefficients(layout.weightCoefficients(row, ofClass: c), scale: weightScale, level: top)
        }
        biasPlaintexts = try foldedBias.indices.map { c in
          var bias = [Double](repeating: 0, count: k)
          bias[c] = foldedBias[c]
          return try encoder.encodeCoefficients(layout.biasCoefficients(bias), scale: productScale, level: top)
        }
      } else {
        weightPlaintexts = [
          try encoder.encodeCoefficients(layout.weightCoefficients(foldedWeights), scale: weightScale, level: top)
        ]
        biasPlaintexts = [
          try encoder.encodeCoefficients(layout.biasCoefficients(foldedBias), scale: productScale, level: top)
        ]
      }
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
    self.linearLayout = layout
    self.foldedWeights = foldedWeights
    self.foldedBias = foldedBias
    self.inputLevel = top
    self.resultScale = resultScale
    self.privacy = privacy
  }

  public var layout: any SampleLayout { linearLayout }

  public var keyRequirements: EvaluationKeyRequirements { EvaluationKeyRequirements(publicKey: privacy != nil) }

  public var resultPrivacy: ResultPrivacy? {
    privacy.map {
      ResultPrivacy(
        statisticalSecurityBits: LinearResultPrivacy.statisticalSecurityBits, floodingScoreBound: $0.floodingScoreBound,
        scoreErrorBound: $0.scoreErrorBound)
    }
  }

  public func plainScores(_ sample: [Double]) -> [Double] {
    zip(foldedWeights, foldedBias).map { row, bias in zip(row, sample).reduce(bias) { $0 + $1.0 * $1.1 } }
  }

  /// One plaintext multiplication and one addition per result (one result, or one per class);
  /// for private weights, then the result protection revealing the scores of the first
  /// `sampleCount` samples only (of its own class, with one result per class); then rescales to
  /// level 0.
  public func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    let input = try checkedGroup(group)[0]
    let publicKey = keys.publicKey
    if privacy != nil, publicKey == nil { throw ProgramError.missingKeys("the public key") }
    let layout = linearLayout
    let samples = 0..<min(sampleCount, layout.samplesPerCiphertext)
    return try zip(weightPlaintexts, biasPlaintexts).enumerated().map { index, pair in
      var result = try evaluator.add(evaluator.multiply(input, pair.0), pair.1)
      if let privacy, let publicKey {
        let classes = layout.resultPerClass ? index..<(index + 1) : 0..<layout.outputDimension
        let revealed = samples.flatMap { b in classes.map { c in layout.scoreIndex(sample: b, score: c) } }
        result = try evaluator.sanitized(
          result, revealing: revealed, floodingBits: privacy.floodingBits, publicKey: publicKey)
      }
      while result.level > 0 { result = try evaluator.rescale(result) }
      return result
    }
  }
}

/// How a private linear model's results reveal its scores and nothing else
/// (`Evaluator.sanitized(_:revealing:floodingBits:publicKey:using:)`; the analysis is in
/// docs/threat-model.md, "Model privacy").
public struct LinearResultPrivacy: Sendable, Equatable {
  /// Statistical distance of one result from its simulation from the scores alone: 2^−bits.
  public static let statisticalSecurityBits = 40
  /// Largest coefficient of an honest input's encryption noise: public-key encryption with the
  /// 6σ-truncated Gaussian (|e| ≤ 19) and a ternary u, |e0 + e1·s + e·u| ≤ 19·(1 + 2N). Secret-key
  /// encryption (|e| ≤ 19) is far below it.
  public let inputNoiseBound: Double
  /// Largest noise at a score that depends on the weights: Σ_i |round(Δw·w_ci)| · inputNoiseBound,
  /// over the class rows c (a revealed score of class c meets row c only: one result per class).
  public let weightedNoiseBound: Double
  /// The sum of the weight-dependent noise bounds of every revealed score of one group's results:
  /// samples per ciphertext · Σ_c Σ_i |round(Δw·w_ci)| · inputNoiseBound.
  public let revealedNoiseBound: Double
  /// Flooding noise is uniform in [−2^floodingBits, 2^floodingBits), with
  /// 2^(floodingBits+1) ≥ 2^statisticalSecurityBits · ``revealedNoiseBound``.
  public let floodingBits: Int
  /// The flooding noise's bound in score units: 2^floodingBits / (Δx·Δw).
  public let floodingScoreBound: Double
  /// Largest coefficient of the re-randomization noise `e0 + e1·s + e_pk·u` for a well-formed
  /// public key: 19·(1 + N + N·U) with `u` uniform in [−U, U]
  /// (`Evaluator.rerandomizationSecretBound`).
  public let rerandomizationNoiseBound: Double
  /// The most a malformed public key (`pk0 = −pk1·s + E`, E chosen) lets a client learn about the
  /// re-randomization's fresh `u` from one result ciphertext, in bits: each revealed coefficient
  /// shows `E·u` only above the flooding, at most log2(Q) − f − 1 bits, and a result reveals at
  /// most ``revealedPerResult`` coefficients.
  public let keyLeakBitsPerResult: Double
  /// The entropy of the re-randomization's `u` in bits: N · log2(2U + 1).
  public let rerandomizationEntropyBits: Double
  /// Coefficients one result ciphertext reveals at most: the samples of a ciphertext (one class
  /// each, with one result per class).
  public let revealedPerResult: Int
  /// The largest difference between a decrypted score and the float64 score, for inputs within
  /// ±input_bound: flooding, the weighted and re-randomization noise, the weights' rounding to
  /// multiples of 1/Δw, the rescale's rounding and the dropped result bits.
  public let scoreErrorBound: Double

  /// Sizes the flooding for `weights` (folded) in `layout` (docs/threat-model.md, "Model privacy").
  /// `modulusBits` is log2 of the top-level modulus Q.
  init(
    layout: CoefficientLinearLayout, weights: [[Double]], weightScale: Double, productScale: Double,
    resultScale: Double, droppedBits: Int, inputBound: Double, modulusBits: Double
  ) {
    let n = Double(layout.degree)
    let noise = 19 * (1 + 2 * n)
    inputNoiseBound = noise
    let rowBounds = weights.map { row in row.reduce(0) { $0 + abs(($1 * weightScale).rounded()) } * noise }
    weightedNoiseBound = rowBounds.max()!
    // A private model of several classes gives one result per class (the layout's
    // resultPerClass): a revealed score of class c carries row c's noise only, and a group reveals
    // every class of every sample once.
    precondition(
      layout.resultPerClass || weights.count == 1, "a protected model of several classes needs one result per class")
    revealedNoiseBound = Double(layout.samplesPerCiphertext) * rowBounds.reduce(0, +)
    let f = LinearResultPrivacy.statisticalSecurityBits + Int(log2(revealedNoiseBound).rounded(.up)) - 1
    floodingBits = f
    let flooding = Double(sign: .plus, exponent: f, significand: 1)
    floodingScoreBound = flooding / productScale
    let secretBound = Double(Evaluator.rerandomizationSecretBound)
    rerandomizationNoiseBound = 19 * (1 + n + n * secretBound)
    revealedPerResult = layout.samplesPerCiphertext
    keyLeakBitsPerResult = Double(revealedPerResult) * max(0, modulusBits - Double(f) - 1)
    rerandomizationEntropyBits = n * log2(2 * secretBound + 1)
    // At the top level: flooding + weighted noise + re-randomization noise; then the rescale's
    // rounding (≤ (1 + N)/2) and the dropped bits (≤ 2^d·(1 + N)) at the result scale.
    let topLevel = flooding + weightedNoiseBound + rerandomizationNoiseBound
    let afterRescale = (1 + n) / 2 + Double(sign: .plus, exponent: droppedBits, significand: 1) * (1 + n)
    // Rounding: each weight by ≤ 1/(2Δw) (times |x_i| ≤ input_bound), each input and the bias by
    // ≤ 1/2 at their scales.
    let rounding =
      Double(layout.inputDimension) * inputBound / (2 * weightScale) + 1 / productScale
      + weightedNoiseBound / noise / (2 * productScale)
    scoreErrorBound = topLevel / productScale + afterRescale / resultScale + rounding
  }
}
