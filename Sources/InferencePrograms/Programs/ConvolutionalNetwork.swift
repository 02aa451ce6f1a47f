import CKKS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The largest absolute values a network's inputs and layers produce (before the squares).
public struct NetworkValueBounds: Sendable, Equatable {
  /// Largest |input|.
  public var input: Double
  /// Largest |convolution output + bias|.
  public var convolution: Double
  /// Largest |hidden layer output + bias| (before its square).
  public var hidden: Double
  /// Largest |score|.
  public var scores: Double

  /// Bounds as measured, each finite and positive.
  public init(input: Double, convolution: Double, hidden: Double, scores: Double) {
    self.input = input
    self.convolution = convolution
    self.hidden = hidden
    self.scores = scores
  }
}

/// A convolutional network as its model file describes it: convolution (C channels) → x² →
/// fully connected → x² → fully connected, with matrices already checked rectangular and finite,
/// and the value bounds its headroom checks use. Both network programs compile it.
public struct ConvolutionalNetworkWeights: Sendable, Equatable {
  /// The image and the convolution's windows.
  public var geometry: LayoutDescription.ImageGeometry
  /// `channels × kernel²` (row-major kernels), and one bias per channel.
  public var convolutionWeights: [[Double]]
  public var convolutionBias: [Double]
  /// `hidden × (channels · windows)`, inputs ordered channel by channel, each channel's windows
  /// row by row, and one bias per hidden unit.
  public var hiddenWeights: [[Double]]
  public var hiddenBias: [Double]
  /// `outputs × hidden`, and one bias per output.
  public var outputWeights: [[Double]]
  public var outputBias: [Double]
  /// Δ, the clients' encoding scale of the pixels.
  public var inputScale: Double
  /// The largest absolute values of the inputs and of each layer's outputs (before the squares):
  /// calibrated on the data the network serves, with a margin (worst-case bounds through two
  /// squares are too large to be useful).
  public var bounds: NetworkValueBounds

  public init(
    geometry: LayoutDescription.ImageGeometry, convolutionWeights: [[Double]], convolutionBias: [Double],
    hiddenWeights: [[Double]], hiddenBias: [Double], outputWeights: [[Double]], outputBias: [Double],
    inputScale: Double, bounds: NetworkValueBounds
  ) {
    self.geometry = geometry
    self.convolutionWeights = convolutionWeights
    self.convolutionBias = convolutionBias
    self.hiddenWeights = hiddenWeights
    self.hiddenBias = hiddenBias
    self.outputWeights = outputWeights
    self.outputBias = outputBias
    self.inputScale = inputScale
    self.bounds = bounds
  }
}

/// What the one-image and the batched network programs share: the weights of convolution (C
/// channels) → x² → fully connected → x² → fully connected, their checks, the float64 scores, and
/// the scales the evaluation holds values at on a chain of six ciphertext primes q0 … q5 (inputs
/// at level 5, one rescale per layer and per square).
struct ConvolutionalNetwork: Sendable {
  let windows: ImageWindowsLayout
  let weights: ConvolutionalNetworkWeights
  /// s1 = Δ²/q4 after the first square (and the hidden layer).
  let firstSquareScale: Double
  /// s2 = s1²/q2 after the second square.
  let secondSquareScale: Double
  /// The result's: the largest power of two that keeps scores up to their bound below a quarter
  /// of the base prime.
  let resultScale: Double
  /// The output layer's weights' scale: the result scale after the last rescale by q1.
  let outputWeightScale: Double

  var channels: Int { weights.convolutionWeights.count }
  /// Δ after the convolution.
  var inputScale: Double { weights.inputScale }

  /// Checks shapes, primes, scales and headroom.
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the rule the model breaks.
  init(
    parameters: CKKSParameters, windows: ImageWindowsLayout, weights: ConvolutionalNetworkWeights
  ) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    let (convolutionWeights, convolutionBias) = (weights.convolutionWeights, weights.convolutionBias)
    let (hiddenWeights, hiddenBias) = (weights.hiddenWeights, weights.hiddenBias)
    let (outputWeights, outputBias) = (weights.outputWeights, weights.outputBias)
    let (inputScale, bounds) = (weights.inputScale, weights.bounds)
    let channels = convolutionWeights.count
    guard convolutionWeights.allSatisfy({ $0.count == windows.kernelPositions }), convolutionBias.count == channels
    else { throw fail("the convolution needs \(windows.kernelPositions) weights per channel and one bias each") }
    guard hiddenWeights.allSatisfy({ $0.count == channels * windows.windowCount }),
      hiddenBias.count == hiddenWeights.count,
      outputWeights.allSatisfy({ $0.count == hiddenWeights.count }), outputBias.count == outputWeights.count
    else {
      throw fail("the dense layers' shapes do not follow the convolution's \(channels * windows.windowCount) outputs")
    }
    guard parameters.ciphertextModuli.count == 6 else {
      throw fail("a convolutional network needs exactly six ciphertext primes (inputs at level 5, five rescales)")
    }
    guard !parameters.specialModuli.isEmpty else {
      throw fail("a convolutional network needs special primes for its evaluation keys")
    }
    let q = parameters.ciphertextModuli.map { Double($0) }
    let delta = inputScale
    let s1 = delta * delta / q[4]
    let s2 = s1 * s1 / q[2]
    let exponent = log2(q[0] / (4 * bounds.scores)).rounded(.down)
    guard exponent >= 20 else {
      throw fail("scores up to \(bounds.scores) leave less than 20 bits of the base prime for their fraction")
    }
    // (A smaller bound would only raise the result scale past what the base prime can hold.)
    let resultScale = Double(sign: .plus, exponent: Int(min(exponent, 60)), significand: 1)
    // Every scale a value or a weight is held at keeps at least 20 bits of fraction.
    let outputWeightScale = resultScale * q[1] / s2
    for (what, scale) in [("s1 = Δ²/q4", s1), ("s2 = s1²/q2", s2), ("the output layer's weights", outputWeightScale)]
    where !(scale >= 0x1p20) {
      throw fail(
        "the scale of \(what) is 2^\((log2(scale) * 10).rounded() / 10), below 2^20: choose an input scale nearer the primes"
      )
    }
    // Headroom: every value, at the scale it is held at, below a quarter of the modulus left at
    // that level.
    func modulus(_ level: Int) -> Double { q[0...level].reduce(1, *) }
    let (c, h) = (bounds.convolution, bounds.hidden)
    let checks: [(String, Double, Int)] = [
      ("inputs", bounds.input * delta, 5), ("convolution outputs", c * delta, 4), ("their squares", c * c * s1, 3),
      ("hidden outputs", h * s1, 2), ("their squares", h * h * s2, 1), ("scores", bounds.scores * resultScale, 0),
    ]
    for (what, value, level) in checks where !(value < modulus(level) / 4) {
      throw fail(
        "\(what) up to 2^\((log2(value) * 10).rounded() / 10) at their scale exceed a quarter of the modulus at level "
          + "\(level) (2^\((log2(modulus(level)) * 10).rounded() / 10)): lower the input scale or the value bounds")
    }
    self.windows = windows
    self.weights = weights
    firstSquareScale = s1
    secondSquareScale = s2
    self.resultScale = resultScale
    self.outputWeightScale = outputWeightScale
  }

  /// The float64 scores of one image.
  func plainScores(_ sample: [Double]) -> [Double] {
    let activations = weights.convolutionWeights.indices.flatMap { c in
      (0..<windows.windowCount).map { p in
        let z = (0..<windows.kernelPositions).reduce(weights.convolutionBias[c]) {
          $0 + weights.convolutionWeights[c][$1] * sample[windows.pixel(window: p, position: $1)]
        }
        return z * z
      }
    }
    let hiddenActivations = zip(weights.hiddenWeights, weights.hiddenBias).map { row, b in
      let z = zip(row, activations).reduce(b) { $0 + $1.0 * $1.1 }
      return z * z
    }
    return zip(weights.outputWeights, weights.outputBias).map { row, b in
      zip(row, hiddenActivations).reduce(b) { $0 + $1.0 * $1.1 }
    }
  }

  /// Low bits of c0 and c1 whose rounding adds an error of standard deviation below 2^−11 to
  /// every score: rounding to d bits adds a uniform error of deviation 2^d/√12 to each
  /// coefficient, c1's multiplied by the ternary secret (about √(2N/3) times more); `spread` is
  /// how much a coefficient's error grows in a score (1 when scores are coefficients, √N in slots).
  func droppedBits(parameters: CKKSParameters, spread: Double) -> (c0: Int, c1: Int) {
    let basePrimeBits = Int(log2(Double(parameters.ciphertextModuli[0])))
    func bits(_ growth: Double) -> Int {
      max(0, min(Int(log2(0x1p-11 * resultScale * 12.0.squareRoot() / (growth * spread))), basePrimeBits - 2))
    }
    return (bits(1), bits((2 * Double(parameters.degree) / 3).squareRoot()))
  }
}
