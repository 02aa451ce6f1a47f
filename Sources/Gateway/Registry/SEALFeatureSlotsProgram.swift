public import CKKS

/// A single-output linear model over SEAL ciphertexts in the reference gateway's layout, the
/// layout served through the reference contract (`schemas/reference-v1`): one ciphertext per
/// feature, sample j of the batch in slot j, every ciphertext at the first data level with one
/// common scale Δ.
///
/// Evaluation happens at the lowest level, where the result is also the smallest SEAL can load:
/// each feature ciphertext is reduced to the base prime (dropping primes keeps the value, which
/// is far below it), the weighted sum is taken with every folded weight an integer constant at
/// the weight scale Δw (``Evaluator/linearCombination(_:weights:constantScale:)``, one pass),
/// and the folded bias is added as a constant. No rescale, no transform, no evaluation keys.
/// Result: slot j holds `w · x_j + b` (the affine activation folded in) at scale Δ·Δw.
///
/// Δw is the largest power of two that keeps every score up to the input bound (and at least 1),
/// at the largest accepted input scale, below a quarter of the base prime; the weights' rounding
/// then adds at
/// most `Σ|x_i| / (2·Δw)` to a score (about 10⁻⁸ for inputs near 1 with the reference's
/// parameters, where Δw = 2^25), far below the encryption noise.
public struct SEALFeatureSlotsProgram: Sendable {
  /// The SEAL parameters clients build (`poly_modulus_degree`, `coeff_modulus_bits` with the
  /// special prime last).
  public let parameters: CKKSParameters
  /// The published layout of the model file.
  public let layout: ModelDefinition.SEALLayout
  /// Weights with the activation folded in (one per feature).
  public let foldedWeights: [Double]
  /// Bias with the activation folded in.
  public let foldedBias: Double
  /// The activation the model file declares (published as it is).
  public let activation: ModelDefinition.Activation
  /// Δw, the scale of the weight constants (a power of two).
  public let weightScale: Double
  let evaluator: Evaluator

  /// The smallest weight scale accepted: below it the weights' rounding would show in the scores.
  static let minimumWeightScale = 0x1p20

  /// Compiles the layout for a single-output linear model.
  /// - Throws: ``ModelDefinitionError`` naming the rule a layout breaks.
  init(
    layout: ModelDefinition.SEALLayout, weights: [Double], bias: Double, activation: ModelDefinition.Activation,
    inputBound: Double
  ) throws(ModelDefinitionError) {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: "seal_layout: " + rule) }
    let bits = layout.coeffModulusBits
    guard bits.count >= 2 else {
      throw fail("coeff_modulus_bits needs a data prime and the special prime (at least two sizes)")
    }
    guard layout.scale.isFinite, layout.scale > 1, layout.maxInputScale >= layout.scale,
      layout.maxInputScale.isFinite
    else { throw fail("scale must be finite and above 1, and max_input_scale at least scale") }
    let parameters: CKKSParameters
    do {
      parameters = try CKKSParameters(
        ParameterDescription(
          degree: layout.polyModulusDegree, ciphertextPrimeBits: Array(bits.dropLast()),
          specialPrimeBits: [bits.last!], defaultScale: layout.scale))
    } catch {
      throw fail("encryption parameters refused: \(error)")
    }
    guard (1...parameters.slotCount).contains(layout.maxBatchSize) else {
      throw fail("max_batch_size must be in 1…\(parameters.slotCount) (one sample per slot)")
    }
    // Scores up to the input bound, at the largest input scale times Δw, stay below a quarter of
    // the base prime, where the result is computed and decrypted; counting scores as at least 1
    // also keeps the result's scale itself there (SEAL refuses a scale as large as the modulus).
    let scoreBound = max(weights.reduce(abs(bias)) { $0 + abs($1) * inputBound }, 1)
    let basePrime = Double(parameters.ciphertextModuli[0])
    let room = basePrime / 4 / (scoreBound * layout.maxInputScale)
    let weightScale = Double(sign: .plus, exponent: Int(room.exponent), significand: 1)
    guard room >= 1, weightScale >= Self.minimumWeightScale else {
      throw fail(
        "scores up to \(scoreBound) at max_input_scale leave a weight scale below 2^20 in the base prime; "
          + "use a larger first prime or a smaller max_input_scale")
    }
    self.parameters = parameters
    self.layout = layout
    self.foldedWeights = weights
    self.foldedBias = bias
    self.activation = activation
    self.weightScale = weightScale
    self.evaluator = Evaluator(parameters: parameters)
  }

  /// Features per request (one ciphertext each).
  public var inputDimension: Int { foldedWeights.count }

  /// Scores `w · x_j + b` in slot j, at level 0 and scale Δ·Δw.
  /// - Precondition: `inputDimension` ciphertexts of these parameters at one level and one scale.
  func evaluate(_ features: [Ciphertext]) throws -> Ciphertext {
    precondition(features.count == inputDimension)
    let lowest = try features.map { try evaluator.dropLevel($0, to: 0) }
    let sum = try evaluator.linearCombination(lowest, weights: foldedWeights, constantScale: weightScale)
    return try evaluator.add(sum, constant: foldedBias)
  }
}
