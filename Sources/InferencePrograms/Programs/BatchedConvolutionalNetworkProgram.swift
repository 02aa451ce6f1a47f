public import CKKS

/// The network of ``ConvolutionalNetworkProgram`` on B images at once (``ImageBatchLayout``:
/// one ciphertext per kernel position, image j's window p in slot p·B + j):
///
/// 1. convolution: channel c is Σ_k weight[c][k] · input_k, products by integer constants (no
///    rotation, no encoded plaintext), rescaled by q5; + the channel's bias as a constant;
/// 2. x² (one ciphertext multiplication per channel);
/// 3. hidden layer: the H × (C·W) matrix on the C channel ciphertexts, every image's vector
///    interleaved (`LinearTransformation` with interleaving B and C inputs sharing the giant
///    steps: rotations by multiples of B); + bias; 4. x²;
/// 5. output layer: the scores × H matrix, interleaved the same way, so that score c of image j
///    lands in slot c·B + j; + bias.
///
/// Same levels and scales as the one-image program (Δ, s1 = Δ²/q4, s2 = s1²/q2, the result scale
/// from the score bound). The scores are read from slots, so the decryption-only shrink keeps
/// more low bits than the one-image program's (a coefficient's rounding reaches every slot).
public struct BatchedConvolutionalNetworkProgram: InferenceProgram {
  /// Where images sit in a group and scores in the result.
  public let images: ImageBatchLayout
  public let inputLevel = 5
  public let resultScale: Double
  public let resultDroppedBits: (c0: Int, c1: Int)?
  let network: ConvolutionalNetwork
  /// q5, the constant scale of the convolution weights (the rescale that follows removes it).
  let convolutionScale: Double
  let hidden: LinearTransformation
  let output: LinearTransformation
  let hiddenBias: Plaintext
  let outputBias: Plaintext

  /// Compiles `weights`, many images per group of ciphertexts; the rules are those of
  /// ``ConvolutionalNetworkProgram``'s initializer, and the hidden units and scores must each fit
  /// the padded window count.
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the rule the model breaks.
  public init(parameters: CKKSParameters, weights: ConvolutionalNetworkWeights) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    let (hiddenWeights, outputWeights) = (weights.hiddenWeights, weights.outputWeights)
    let images = ImageBatchLayout(
      slotCount: parameters.slotCount, geometry: weights.geometry, outputDimension: outputWeights.count)
    let w = images.windows.windowStride
    guard w <= parameters.slotCount else {
      throw fail("an image's \(w) windows do not fit \(parameters.slotCount) slots")
    }
    let network = try ConvolutionalNetwork(parameters: parameters, windows: images.windows, weights: weights)
    // Hidden units and scores are vectors interleaved like the windows, so they must fit w entries.
    guard hiddenWeights.count <= w, outputWeights.count <= w else {
      throw fail(
        "\(hiddenWeights.count) hidden units and \(outputWeights.count) scores must each fit the \(w) padded windows")
    }
    let channels = network.channels
    let b = images.imagesPerGroup
    assert(b >= 1, "the windows and the scores fit")
    let q = parameters.ciphertextModuli.map { Double($0) }
    // Weights times q5 must be integers below 2^62.
    guard weights.convolutionWeights.joined().allSatisfy({ abs($0 * q[5]) < 0x1p62 }) else {
      throw fail("convolution weights times the prime q5 must stay below 2^62")
    }
    // The biases are added as constants at Δ.
    guard weights.convolutionBias.allSatisfy({ abs($0 * weights.inputScale) < 0x1p62 }) else {
      throw fail("convolution biases times the input scale must stay below 2^62")
    }
    // The hidden matrix's column block c reads channel c's windows, padded to w.
    let blockedHidden = hiddenWeights.map { row in
      (0..<(channels * w)).map { column in
        column % w < images.windows.windowCount ? row[(column / w) * images.windows.windowCount + column % w] : 0
      }
    }
    let encoder = CKKSEncoder(parameters: parameters)
    do {
      // Eight baby steps: the channels' double-hoisted baby steps are cheap next to the giant
      // steps they save (docs/benchmarks.md, the batched hidden layer).
      hidden = try LinearTransformation(
        matrix: blockedHidden, encoder: encoder, scale: q[3], level: 3,
        babySteps: min(8, ImageWindowsLayout.powerOfTwo(atLeast: hiddenWeights.count), w), interleaving: b,
        inputs: channels)
      output = try LinearTransformation(
        matrix: outputWeights, encoder: encoder, scale: network.outputWeightScale, level: 1, interleaving: b)
      // Biases: entry i of every image's vector at slot i·b + j, with the layer's output period.
      func interleaved(_ values: [Double], period: Int) -> [Double] {
        (0..<parameters.slotCount).map { t in (t / b) % period < values.count ? values[(t / b) % period] : 0 }
      }
      self.hiddenBias = try encoder.encode(
        interleaved(weights.hiddenBias, period: hidden.outputPeriod), scale: network.firstSquareScale, level: 2)
      self.outputBias = try encoder.encode(
        interleaved(weights.outputBias, period: output.outputPeriod), scale: network.resultScale, level: 0)
    } catch {
      throw fail("cannot encode the weights: \(error)")
    }
    guard hidden.inputPeriod == w, output.inputPeriod == hidden.outputPeriod else {
      throw fail("the layers' periods do not chain")
    }
    self.images = images
    self.network = network
    convolutionScale = q[5]
    resultScale = network.resultScale
    resultDroppedBits = network.droppedBits(parameters: parameters, spread: Double(parameters.degree).squareRoot())
  }

  public var layout: any SampleLayout { images }

  public var keyRequirements: EvaluationKeyRequirements {
    EvaluationKeyRequirements(
      relinearization: true, galoisElements: Set(hidden.galoisElements + output.galoisElements).sorted())
  }

  /// Results are returned as evaluated (docs/threat-model.md, "Slot programs").
  public var resultPrivacy: ResultPrivacy? { nil }

  public func plainScores(_ sample: [Double]) -> [Double] { network.plainScores(sample) }

  public func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    let inputs = try checkedGroup(group)
    guard let relinearizationKey = keys.relinearization, let galoisKeys = keys.galois else {
      throw ProgramError.missingKeys("the relinearization key and Galois keys")
    }
    var channels: [Ciphertext] = []
    let convolved = try evaluator.linearCombinations(
      inputs, weights: network.weights.convolutionWeights, constantScale: convolutionScale)
    for (sum, bias) in zip(convolved, network.weights.convolutionBias) {
      let x = try evaluator.add(evaluator.rescale(sum), constant: bias)
      channels.append(try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey)))
    }
    var x = try hidden.apply(channels, evaluator: evaluator, keys: galoisKeys, rescaling: true)
    x = try evaluator.add(x, hiddenBias)
    x = try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey))
    // The output layer folds at level 1, before its rescale, so that nothing rotates at the last
    // level (key-switching noise there would stay in the scores).
    x = try evaluator.rescale(output.apply(x, evaluator: evaluator, keys: galoisKeys))
    return [try evaluator.add(x, outputBias)]
  }
}
