public import CKKS

/// A single-output linear model over SEAL ciphertexts in the reference gateway's layout, the
/// layout served through the reference contract (`schemas/reference-v1`): one ciphertext per
/// feature, sample j of the batch in slot j, every ciphertext at the first data level with one
/// common scale Δ.
///
/// Evaluation: the weighted sum of the feature ciphertexts, each folded weight an integer
/// constant at the scale of the last data prime q (``Evaluator/linearCombination(_:weights:constantScale:)``,
/// one pass, so the rescale by q returns exactly to Δ), rescaled, reduced to the lowest level (the
/// smallest result SEAL can load) and the folded bias added at Δ. No evaluation keys, one
/// rescale. Result: slot j holds `w · x_j + b` (the affine activation folded in) at scale Δ.
public struct SEALFeatureSlotsProgram: Sendable {
  /// The SEAL parameters clients build (`poly_modulus_degree`, `coeff_modulus_bits` with the
  /// special prime last).
  public let parameters: CKKSParameters
  /// The published layout of the model file.
  public let layout: ModelDefinition.SEALLayout
  /// Weights and bias with the activation folded in.
  public let foldedWeights: [Double]
  public let foldedBias: Double
  /// The scale of the weight constants: the last data prime.
  let weightScale: Double
  let evaluator: Evaluator

  /// Compiles the layout for a single-output linear model.
  /// - Throws: ``ModelDefinitionError`` naming the rule a layout breaks.
  init(layout: ModelDefinition.SEALLayout, weights: [Double], bias: Double, inputBound: Double)
    throws(ModelDefinitionError)
  {
    func fail(_ rule: String) -> ModelDefinitionError { ModelDefinitionError(rule: "seal_layout: " + rule) }
    let bits = layout.coeffModulusBits
    guard bits.count >= 3 else {
      throw fail("coeff_modulus_bits needs two data primes and the special prime (at least three sizes)")
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
    // The result sits at level 0 at the input scale: scores must stay well inside the base prime,
    // and the inputs inside the top modulus.
    let scoreBound = weights.reduce(abs(bias)) { $0 + abs($1) * inputBound }
    let basePrime = Double(parameters.ciphertextModuli[0])
    guard scoreBound * layout.maxInputScale < basePrime / 4 else {
      throw fail("scores up to \(scoreBound) at max_input_scale overflow the base prime")
    }
    let lastPrime = Double(parameters.ciphertextModuli[parameters.maximumLevel])
    guard weights.allSatisfy({ abs($0 * lastPrime) < 0x1p62 }) else {
      throw fail("every weight times the last data prime must stay below 2^62")
    }
    self.parameters = parameters
    self.weightScale = lastPrime
    self.layout = layout
    self.foldedWeights = weights
    self.foldedBias = bias
    self.evaluator = Evaluator(parameters: parameters)
  }

  /// Features per request (one ciphertext each).
  public var inputDimension: Int { foldedWeights.count }

  /// Scores `w · x_j + b` in slot j, at level 0 and the inputs' scale.
  /// - Precondition: `inputDimension` ciphertexts of these parameters at the top level, one scale.
  func evaluate(_ features: [Ciphertext]) throws -> Ciphertext {
    precondition(features.count == inputDimension)
    let sum = try evaluator.linearCombination(features, weights: foldedWeights, constantScale: weightScale)
    let lowest = try evaluator.dropLevel(try evaluator.rescale(sum), to: 0)
    let bias = try CKKSEncoder(parameters: parameters).encode(constant: foldedBias, scale: lowest.scale, level: 0)
    return try evaluator.add(lowest, bias)
  }
}
