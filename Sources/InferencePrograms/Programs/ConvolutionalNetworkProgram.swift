public import CKKS

/// A convolutional network on one image (``ImageWindowsLayout``): convolution (C channels) → x² →
/// fully connected → x² → fully connected, the shape of TenSEAL's MNIST tutorial network. Every
/// linear layer is a `LinearTransformation` whose output period is the next layer's input
/// period, so no masking or repacking happens between layers:
///
/// 1. convolution: a (C·w) × (blocks·w) matrix with `M[c·w + p][k·w + p] = weight[c][k]`, whose
///    nonzero diagonals are the multiples of w (a few rotations by w, then folds); + bias;
/// 2. x² (one ciphertext multiplication);
/// 3. hidden layer: H × (C·w) by extended diagonals; + bias; 4. x²;
/// 5. output layer fused with the map from slots to coefficients: the slots of the polynomial
///    Σ_c score_c·X^c are V·score with `V[j][c] = ζ_j^c` (ζ_j the root slot j evaluates at), so
///    the complex matrix V·W_out puts class c in coefficient c; + the biases as coefficients.
///
/// The first layers' diagonals are encoded at the prime their rescale removes and each bias at the
/// exact scale its layer lands on, so the scale stays near Δ; the last layer's at the scale that
/// puts the scores as high in the base prime as the score bound allows, which makes the result
/// robust to the decryption-only shrink (``resultDroppedBits``). Inputs enter at level 5 (five
/// rescales), so the chain needs six ciphertext primes.
public struct ConvolutionalNetworkProgram: InferenceProgram {
  public let windows: ImageWindowsLayout
  public let inputLevel = 5
  public let resultScale: Double
  /// Each of c0 and c1 rounded to its `(c0, c1)` low bits adds an error whose standard deviation
  /// is below 2^−11 in every score (c1's rounding is multiplied by the secret key, so it keeps
  /// about six bits more at N = 8192).
  public let resultDroppedBits: (c0: Int, c1: Int)?
  let convolution: LinearTransformation
  let hidden: LinearTransformation
  let output: LinearTransformation
  let convolutionBias: Plaintext
  let hiddenBias: Plaintext
  let outputBias: Plaintext
  let network: ConvolutionalNetwork

  /// Compiles `weights`, one image per ciphertext.
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the rule the model breaks.
  public init(parameters: CKKSParameters, weights: ConvolutionalNetworkWeights) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    let (hiddenWeights, outputWeights) = (weights.hiddenWeights, weights.outputWeights)
    let windows = ImageWindowsLayout(
      slotCount: parameters.slotCount, geometry: weights.geometry, outputDimension: outputWeights.count)
    guard windows.samplesPerCiphertext == 1 else {
      throw fail("an image's \(windows.usedSlots) window slots do not fit \(parameters.slotCount) slots")
    }
    let network = try ConvolutionalNetwork(parameters: parameters, windows: windows, weights: weights)
    let channels = network.channels
    let w = windows.windowStride
    // Every layer's output must fit the slots (and the scores the coefficients) before its
    // matrix is built.
    guard channels * w <= parameters.slotCount, hiddenWeights.count <= parameters.slotCount,
      outputWeights.count <= parameters.slotCount
    else {
      throw fail(
        "\(channels) channels of \(w) windows, \(hiddenWeights.count) hidden units and \(outputWeights.count) "
          + "scores must each fit \(parameters.slotCount) slots")
    }
    // The convolution as a matrix on the window slots; the hidden layer reads channel c's
    // window p at c·w + p, so its columns are spread to that stride.
    let blocks = windows.usedSlots / w
    var convolutionMatrix = [[Double]](
      repeating: [Double](repeating: 0, count: blocks * w), count: channels * w)
    for c in 0..<channels {
      for p in 0..<windows.windowCount {
        for k in 0..<windows.kernelPositions {
          convolutionMatrix[c * w + p][k * w + p] = weights.convolutionWeights[c][k]
        }
      }
    }
    let spreadHidden = hiddenWeights.map { row in
      (0..<(channels * w)).map { column in
        column % w < windows.windowCount ? row[(column / w) * windows.windowCount + column % w] : 0
      }
    }
    let q = parameters.ciphertextModuli.map { Double($0) }
    let encoder = CKKSEncoder(parameters: parameters)
    do {
      convolution = try LinearTransformation(matrix: convolutionMatrix, encoder: encoder, scale: q[5], level: 5)
      hidden = try LinearTransformation(matrix: spreadHidden, encoder: encoder, scale: q[3], level: 3)
      // Slot j of X^c, read off the encoding of the monomial (exact to double precision).
      let monomials = try outputWeights.indices.map { c in
        let unit = (0...c).map { $0 == c ? 1.0 : 0 }
        return encoder.decodeComplex(try encoder.encodeCoefficients(unit, scale: 0x1p30, level: 0))
      }
      let fused = (0..<parameters.slotCount).map { j in
        (0..<hiddenWeights.count).map { k in
          outputWeights.indices.reduce(ComplexNumber(0)) { sum, c in
            let (root, weight) = (monomials[c][j], outputWeights[c][k])
            return ComplexNumber(sum.real + root.real * weight, sum.imaginary + root.imaginary * weight)
          }
        }
      }
      output = try LinearTransformation(
        complexMatrix: fused, encoder: encoder, scale: network.outputWeightScale, level: 1)
      // The first layers' biases repeated with their output period; the output layer's as coefficients.
      let convolutionPeriod = convolution.outputPeriod
      self.convolutionBias = try encoder.encode(
        (0..<parameters.slotCount).map { t in
          let index = t % convolutionPeriod
          return index % w < windows.windowCount && index / w < channels ? weights.convolutionBias[index / w] : 0
        }, scale: weights.inputScale, level: 4)
      let hiddenPeriod = hidden.outputPeriod
      self.hiddenBias = try encoder.encode(
        (0..<parameters.slotCount).map { t in
          t % hiddenPeriod < weights.hiddenBias.count ? weights.hiddenBias[t % hiddenPeriod] : 0
        },
        scale: network.firstSquareScale, level: 2)
      self.outputBias = try encoder.encodeCoefficients(weights.outputBias, scale: network.resultScale, level: 0)
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
    guard convolution.inputPeriod == windows.usedSlots,
      hidden.inputPeriod == convolution.outputPeriod, output.inputPeriod == hidden.outputPeriod
    else { throw fail("the layers' periods do not chain") }
    self.windows = windows
    self.network = network
    resultScale = network.resultScale
    resultDroppedBits = network.droppedBits(parameters: parameters, spread: 1)
  }

  public var layout: any SampleLayout { windows }

  public var keyRequirements: EvaluationKeyRequirements {
    EvaluationKeyRequirements(
      relinearization: true,
      galoisElements: Set(convolution.galoisElements + hidden.galoisElements + output.galoisElements).sorted())
  }

  /// Results are returned as evaluated (docs/threat-model.md, "Slot programs").
  public var resultPrivacy: ResultPrivacy? { nil }

  public func plainScores(_ sample: [Double]) -> [Double] { network.plainScores(sample) }

  public func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    let input = try checkedGroup(group)[0]
    guard let relinearizationKey = keys.relinearization, let galoisKeys = keys.galois else {
      throw ProgramError.missingKeys("the relinearization key and Galois keys")
    }
    // The first two linear layers rescale before their folds, which then rotate one prime fewer:
    // faster, at the price of the folds' key-switching noise arriving at scale Δ instead of being
    // divided by the rescale. The output layer is tall (no folds) and rescales after its products:
    // nothing rotates at the last level, where key-switching noise near 2^14 would stay in the
    // scores.
    var x = try convolution.apply(input, evaluator: evaluator, keys: galoisKeys, rescaling: true)
    x = try evaluator.add(x, convolutionBias)
    x = try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey))
    x = try hidden.apply(x, evaluator: evaluator, keys: galoisKeys, rescaling: true)
    x = try evaluator.add(x, hiddenBias)
    x = try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey))
    x = try evaluator.rescale(output.apply(x, evaluator: evaluator, keys: galoisKeys))
    return [try evaluator.add(x, outputBias)]
  }
}
