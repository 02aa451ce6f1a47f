import CKKS
import Foundation
import InferencePrograms
import TestSupport
import Testing

/// The bundled MNIST network (`Sources/Gateway/Models/mnist_cnn-1.0.0.json`, written by
/// `scripts/train_mnist.py`, with its held-out digits in `datasets/mnist/`) as a
/// ``ConvolutionalNetworkProgram``, on encrypted images.
@Suite("Convolutional network program")
struct ConvolutionalNetworkTests {
  /// The fields of the model file this test needs.
  struct ModelFile: Decodable {
    struct Convolution: Decodable {
      let kernel: Int
      let stride: Int
      let weights: [[Double]]
      let bias: [Double]
    }
    struct Bounds: Decodable {
      let convolution: Double
      let hidden: Double
      let scores: Double
    }
    struct Encryption: Decodable {
      let polyModulusDegree: Int
      let coeffModulusBits: [Int]
      let specialModulusBits: [Int]
      let inputScale: Double
    }
    let convolution: Convolution
    let hiddenWeights: [[Double]]
    let hiddenBias: [Double]
    let weights: [[Double]]
    let bias: [Double]
    let valueBounds: Bounds
    let encryption: Encryption
    let inputBound: Double
  }

  static let model: ModelFile = {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let file = Repository.url("Sources/Gateway/Models/mnist_cnn-1.0.0.json")
    return try! decoder.decode(ModelFile.self, from: Data(contentsOf: file))
  }()

  /// The first `count` test images (pixels 0…255; the label column dropped).
  static func images(_ count: Int) throws -> [[Double]] {
    try Datasets.testSplit("mnist", limit: count).features
  }

  /// The model file's parameters: N = 8192, a 39-bit base prime, five 27-bit primes to rescale
  /// away and a 40-bit key-switching prime (214 bits, the 128-bit bound).
  static let parameters = ParameterDescription(
    degree: model.encryption.polyModulusDegree, ciphertextPrimeBits: model.encryption.coeffModulusBits,
    specialPrimeBits: model.encryption.specialModulusBits, defaultScale: model.encryption.inputScale)

  /// The model file's network.
  static let weights = ConvolutionalNetworkWeights(
    geometry: LayoutDescription.ImageGeometry(
      side: 28, kernel: model.convolution.kernel, stride: model.convolution.stride),
    convolutionWeights: model.convolution.weights, convolutionBias: model.convolution.bias,
    hiddenWeights: model.hiddenWeights, hiddenBias: model.hiddenBias, outputWeights: model.weights,
    outputBias: model.bias, inputScale: model.encryption.inputScale,
    bounds: NetworkValueBounds(
      input: model.inputBound, convolution: model.valueBounds.convolution, hidden: model.valueBounds.hidden,
      scores: model.valueBounds.scores))

  static func program(_ parameters: CKKSParameters) throws -> ConvolutionalNetworkProgram {
    try ConvolutionalNetworkProgram(parameters: parameters, weights: weights)
  }

  @Test("Encrypted MNIST digits score as in float64 and are classified the same")
  func encryptedDigits() throws {
    let parameters = try CKKSParameters(Self.parameters)
    let program = try Self.program(parameters)
    let layout = program.windows
    #expect(layout.windowCount == 64 && layout.windowStride == 64 && layout.usedSlots == 4096)
    let needs = program.keyRequirements
    // Convolution: a baby step by 64, the giant step 128, folds by 256…2048; hidden layer: baby
    // steps 1…7, the giant step 8, folds 64 and 128; the output layer fused with the map to
    // coefficients (4096 × 64): baby steps 1…7 and the giant step 8 again.
    #expect(needs.relinearization && needs.galoisElements.count == 14)
    #expect(program.resultDroppedBits! == (c0: 19, c1: 13))
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let keys = EvaluationKeys(
      relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
      galois: try KeyGenerator.galoisKeys(
        secretKey: secretKey, elements: needs.galoisElements.map { try GaloisElement($0, degree: 8192) }))
    let encoder = CKKSEncoder(parameters: parameters)
    let evaluator = Evaluator(parameters: parameters)
    for pixels in try Self.images(4) {
      let input = try Encryptor(secretKey: secretKey).encrypt(
        layout.encode([pixels], with: encoder, scale: Self.model.encryption.inputScale, level: program.inputLevel)[0])
      let result = try #require(try program.evaluate(input, sampleCount: 1, keys: keys, evaluator: evaluator).first)
      #expect(result.level == 0 && result.scale == program.resultScale)
      let scores = layout.scores(in: try Decryptor(secretKey: secretKey).decrypt(result), with: encoder, count: 1)[0]
      let expected = program.plainScores(pixels)
      let error = Precision.maximumError(scores, expected)
      // Δ = 2^27 through five rescales and two squares of values up to 35 and 322: a few 10⁻³
      // on scores up to 76 (the test split's smallest gap between the two best classes is 0.017).
      #expect(error < 1e-2, "largest score difference \(error)")
      let predicted = scores.indices.max { scores[$0] < scores[$1] }!
      #expect(predicted == expected.indices.max { expected[$0] < expected[$1] }!)
    }
  }

  @Test("A network whose declared value bounds overflow a level, or leave the scores no precision, is refused")
  func headroom() throws {
    let parameters = try CKKSParameters(Self.parameters)
    let square = [[Double]](repeating: [Double](repeating: 0.01, count: 49), count: 4)
    func build(hidden: Double = 36, scores: Double) throws {
      _ = try ConvolutionalNetworkProgram(
        parameters: parameters,
        weights: ConvolutionalNetworkWeights(
          geometry: LayoutDescription.ImageGeometry(side: 28, kernel: 7, stride: 3),
          convolutionWeights: square, convolutionBias: [0, 0, 0, 0],
          hiddenWeights: [[Double]](repeating: [Double](repeating: 0.01, count: 256), count: 64),
          hiddenBias: [Double](repeating: 0, count: 64),
          outputWeights: [[Double]](repeating: [Double](repeating: 0.01, count: 64), count: 10),
          outputBias: [Double](repeating: 0, count: 10), inputScale: 0x1p27,
          bounds: NetworkValueBounds(input: 255, convolution: 12, hidden: hidden, scores: scores)))
    }
    try build(scores: 152)
    do {
      // Hidden values of 10^6 square to 2^39.9, at 2^27 past a quarter of Q1 = 2^66.
      try build(hidden: 1e6, scores: 152)
      Issue.record("squares of 2^39.9 at 2^27 in a 66-bit modulus were accepted")
    } catch let error as ProgramError {
      #expect(error.description.hasPrefix("their squares up to 2^66.9 at their scale exceed a quarter of the modulus"))
    }
    do {
      // Scores up to 2^20 leave a 39-bit prime 2^17 for their scale.
      try build(scores: 0x1p20)
      Issue.record("a result scale of 2^17 was accepted")
    } catch let error as ProgramError {
      #expect(error.description.contains("leave less than 20 bits of the base prime"))
    }
  }

  @Test("The window layout puts pixel k of window p at slot k·w + p, repeated every used block")
  func windows() {
    let layout = ImageWindowsLayout(
      slotCount: 8192, geometry: LayoutDescription.ImageGeometry(side: 28, kernel: 7, stride: 3), outputDimension: 10)
    let image = (0..<784).map(Double.init)
    let slots = layout.windowSlots(image)
    // Window 9 is row 1, column 1: its top-left pixel is (3, 3); kernel position 8 is (1, 1).
    #expect(slots[0 * 64 + 9] == Double(3 * 28 + 3))
    #expect(slots[8 * 64 + 9] == Double(4 * 28 + 4))
    #expect(slots[4096 + 8 * 64 + 9] == slots[8 * 64 + 9])
    // Kernel positions 49…63 are padding.
    #expect(slots[49 * 64] == 0 && slots[63 * 64 + 5] == 0)
    #expect(layout.layoutDescription.kind == .imageWindows)
    #expect(throws: Never.self) {
      _ = try layout.layoutDescription.layout(degree: 16384, inputDimension: 784, outputDimension: 10)
    }
    // A hostile catalogue's geometry is refused before any product of it can overflow.
    for image in [
      LayoutDescription.ImageGeometry(side: Int.max / 2, kernel: 3, stride: 1),
      LayoutDescription.ImageGeometry(side: 28, kernel: 29, stride: 1),
      LayoutDescription.ImageGeometry(side: 28, kernel: 7, stride: 0),
    ] {
      var description = layout.layoutDescription
      description.image = image
      #expect(throws: LayoutMismatch.self) {
        _ = try description.layout(degree: 8192, inputDimension: 784, outputDimension: 10)
      }
    }
  }

  static func batchedProgram(_ parameters: CKKSParameters) throws -> BatchedConvolutionalNetworkProgram {
    try BatchedConvolutionalNetworkProgram(parameters: parameters, weights: weights)
  }

  @Test("Many digits per group: 49 kernel-position ciphertexts score every image as in float64")
  func encryptedBatch() throws {
    let parameters = try CKKSParameters(Self.parameters)
    let program = try Self.batchedProgram(parameters)
    let layout = program.images
    #expect(layout.imagesPerGroup == 64 && layout.ciphertextsPerGroup == 49)
    #expect(layout.layoutDescription.classStride == 64 && layout.layoutDescription.kind == .imageBatch)
    let needs = program.keyRequirements
    // Every rotation is a multiple of 64 (one image's entries are 64 slots apart).
    let multiples = Set((1..<64).map { GaloisElement.rotation(by: $0 * 64, degree: 8192).value })
    #expect(needs.relinearization && Set(needs.galoisElements).isSubset(of: multiples))
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let keys = EvaluationKeys(
      relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
      galois: try KeyGenerator.galoisKeys(
        secretKey: secretKey, elements: needs.galoisElements.map { try GaloisElement($0, degree: 8192) }))
    let encoder = CKKSEncoder(parameters: parameters)
    // A partial group: 40 of its 64 places filled.
    let images = try Self.images(40)
    let encryptor = Encryptor(secretKey: secretKey)
    let group = try layout.encode(
      images, with: encoder, scale: Self.model.encryption.inputScale, level: program.inputLevel
    ).map { try encryptor.encrypt($0) }
    #expect(group.count == 49)
    let result = try #require(
      try program.evaluate(group, sampleCount: images.count, keys: keys, evaluator: Evaluator(parameters: parameters))
        .first)
    #expect(result.level == 0 && result.scale == program.resultScale)
    let scores = layout.scores(in: try Decryptor(secretKey: secretKey).decrypt(result), with: encoder, count: 40)
    #expect(scores.count == 40)
    var largest = 0.0
    for (image, decrypted) in zip(images, scores) {
      let expected = program.plainScores(image)
      largest = max(largest, Precision.maximumError(decrypted, expected))
      #expect(
        decrypted.indices.max { decrypted[$0] < decrypted[$1] } == expected.indices.max { expected[$0] < expected[$1] })
    }
    #expect(largest < 1e-2, "largest score difference \(largest)")
    // The same scores as the one-image program computes in float64.
    #expect(program.plainScores(images[0]) == (try Self.program(parameters)).plainScores(images[0]))
    #expect(throws: ProgramError.groupSize(expected: 49, received: 48)) {
      _ = try program.evaluate(
        Array(group.dropLast()), sampleCount: 1, keys: keys, evaluator: Evaluator(parameters: parameters))
    }
  }

  @Test("The batch layout puts pixel k of window p of image j in slot p·64 + j of ciphertext k")
  func batchLayout() throws {
    let layout = ImageBatchLayout(
      slotCount: 4096, geometry: LayoutDescription.ImageGeometry(side: 28, kernel: 7, stride: 3), outputDimension: 10)
    let images = (0..<3).map { j in (0..<784).map { Double($0 + 1000 * j) } }
    let vectors = layout.kernelPositionSlots(images)
    #expect(vectors.count == 49)
    // Window 9 (row 1, column 1) of image 2 at kernel position 8 (1, 1): pixel (4, 4).
    #expect(vectors[8][9 * 64 + 2] == Double(4 * 28 + 4 + 2000))
    #expect(vectors[0][9 * 64 + 2] == Double(3 * 28 + 3 + 2000))
    // Places of absent images are zero.
    #expect(vectors[8][9 * 64 + 3] == 0)
    let description = layout.layoutDescription
    #expect(description.samplesPerCiphertext == 64 && description.ciphertextsPerGroup == 49)
    #expect(layout.ciphertextCount(batchSize: 64) == 49 && layout.groupCount(batchSize: 64) == 1)
    let rebuilt = try description.layout(degree: 8192, inputDimension: 784, outputDimension: 10)
    #expect(rebuilt.layoutDescription == description)
    // A catalogue whose scores would not fit the slots they are read from is refused.
    #expect(throws: LayoutMismatch.self) {
      _ = try description.layout(degree: 8192, inputDimension: 784, outputDimension: 65)
    }
    var changed = description
    changed.classStride = 32
    #expect(throws: LayoutMismatch.self) {
      _ = try changed.layout(degree: 8192, inputDimension: 784, outputDimension: 10)
    }
  }
}
