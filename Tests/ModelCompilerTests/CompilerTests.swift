import CKKS
import Foundation
import InferencePrograms
import ModelCompiler
import TestSupport
import Testing

/// The models of `models/onnx/` compiled and run: the approximated network against onnxruntime on
/// the whole test split (in float64), and encrypted on one full ciphertext of test samples.
@Suite(
  "ONNX compiler",
  .enabled(if: compilerTestsEnabled, "HEINFER_COMPILER_TESTS=skip: run on their own by scripts/test.sh"))
struct CompilerTests {
  static let models = [
    "sklearn_breast_cancer", "he_org_mnist_mlp", "sklearn_mnist_mlp", "mnist_cnn_pool", "mnist_cnn",
  ]

  @Test(
    "Each compiled model predicts as onnxruntime on ≥ 99 % of its test split, within half a point of its accuracy",
    arguments: models)
  func approximationKeepsPredictions(_ name: String) throws {
    let fixture = try ModelFixture(name)
    // The float graph itself: onnxruntime's predictions exactly.
    let graph = fixture.test.samples.map { fixture.prediction(fixture.chain.scores($0)) }
    #expect(graph == fixture.expected.predictions, "\(name): the float64 graph differs from onnxruntime")
    let compiled = try NetworkCompiler.compile(fixture.chain, calibration: fixture.calibration)
    let predictions = fixture.test.samples.map { fixture.prediction(compiled.network.scores($0)) }
    let agreement =
      Double(zip(predictions, fixture.expected.predictions).filter { $0 == $1 }.count)
      / Double(predictions.count)
    let labels = try #require(fixture.test.labels)
    let accuracy = Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    print(
      "\(name): agreement with onnxruntime \(agreement), accuracy \(accuracy) (onnxruntime \(fixture.expected.accuracy))\n\(compiled.report.text)"
    )
    #expect(agreement >= 0.99, "\(name): \(agreement) of the test predictions agree with onnxruntime")
    #expect(abs(accuracy - fixture.expected.accuracy) <= 0.005, "\(name): accuracy \(accuracy)")
    // What the report promises is what was compiled.
    #expect(compiled.report.depth == compiled.network.depth)
    #expect(compiled.network.inputDimension == fixture.chain.inputCount)
  }

  @Test(
    "Encrypted, a ciphertext full of test samples decrypts to the approximated scores and onnxruntime's classes",
    arguments: models)
  func encryptedPredictions(_ name: String) throws {
    let fixture = try ModelFixture(name)
    let compiled = try NetworkCompiler.compile(
      fixture.chain, calibration: fixture.calibration, options: CompilerOptions(optimization: .throughput))
    let program = try compiled.program()
    let parameters = try CKKSParameters(compiled.plan.description)
    let needs = program.keyRequirements
    #expect(needs.galoisElements.count == compiled.report.galoisKeyCount)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let keys = EvaluationKeys(
      relinearization: needs.relinearization ? try KeyGenerator.relinearizationKey(secretKey: secretKey) : nil,
      galois: try KeyGenerator.galoisKeys(
        secretKey: secretKey, elements: needs.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }))
    let encoder = CKKSEncoder(parameters: parameters)
    let count = min(program.layout.samplesPerCiphertext, 16)
    let samples = Array(fixture.test.samples.prefix(count))
    let input = try Encryptor(secretKey: secretKey).encrypt(
      program.layout.encode(samples, with: encoder, scale: parameters.defaultScale, level: program.inputLevel)[0])
    let result = try #require(
      try program.evaluate(
        input, sampleCount: count, keys: keys, evaluator: Evaluator(parameters: parameters, threads: 2)
      ).first)
    #expect(result.level == 0)
    let scores = program.layout.scores(
      in: try Decryptor(secretKey: secretKey).decrypt(result), with: encoder, count: count)
    for (index, sample) in samples.enumerated() {
      let expected = program.plainScores(sample)
      let error = Precision.maximumError(scores[index], expected)
      // CKKS noise at Δ ≥ 2^26, amplified by the polynomials' coefficients: within 2 % of the
      // scores' magnitude (a few hundredths on MNIST logits of ±10 to ±30).
      let magnitude = expected.map { abs($0) }.max() ?? 0
      #expect(
        error < 0.02 * max(1, magnitude), "\(name) sample \(index): score error \(error) on scores up to \(magnitude)")
      #expect(fixture.prediction(scores[index]) == fixture.prediction(expected))
    }
  }

  @Test(
    "The HE.org network for latency: keys within 100 MB (power-of-two keys, the input's copies as baby steps), one image encrypted as onnxruntime predicts"
  )
  func heOrgLatencyKeys() throws {
    let fixture = try ModelFixture("he_org_mnist_mlp")
    let compiled = try NetworkCompiler.compile(fixture.chain, calibration: fixture.calibration)
    let report = compiled.report
    // One key per baby step would take more than the budget; powers of two fit it.
    #expect(report.keyPlans.first?.contains("one key per baby step") == true)
    #expect(report.rotationKeys == .powersOfTwo)
    #expect(report.keyBytesUploaded <= 100_000_000, "\(report.keyBytesUploaded) bytes of keys")
    let program = try compiled.program()
    let parameters = try CKKSParameters(compiled.plan.description)
    #expect(report.keyBytesUploaded == report.keyCount * parameters.seededEvaluationKeyBytes)
    #expect(program.slotLayout.copyRotation == 1)
    let degree = parameters.degree
    let powers = Set((0..<13).map { GaloisElement.rotation(by: 1 << $0, degree: degree).value })
    #expect(Set(program.keyRequirements.galoisElements).isSubset(of: powers))
    // One test image, encrypted through the copies' layout.
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let keys = EvaluationKeys(
      relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
      galois: try KeyGenerator.galoisKeys(
        secretKey: secretKey,
        elements: program.keyRequirements.galoisElements.map { try GaloisElement($0, degree: degree) }))
    let encoder = CKKSEncoder(parameters: parameters)
    let sample = fixture.test.samples[7]
    let input = try Encryptor(secretKey: secretKey).encrypt(
      program.layout.encode([sample], with: encoder, scale: parameters.defaultScale, level: program.inputLevel)[0])
    let result = try program.evaluate(
      [input], sampleCount: 1, keys: keys, evaluator: Evaluator(parameters: parameters, threads: 2))[0]
    let scores = program.layout.scores(
      in: try Decryptor(secretKey: secretKey).decrypt(result), with: encoder, count: 1)[0]
    let expected = program.plainScores(sample)
    #expect(Precision.maximumError(scores, expected) < 0.05, "\(scores) against \(expected)")
    #expect(fixture.prediction(scores) == fixture.expected.predictions[7])
  }

  @Test("A network deeper than the largest secure chain is refused, naming the layer where the levels run out")
  func tooDeep() throws {
    let model = try ONNXModel(contentsOf: Repository.url("Tests/ModelCompilerTests/Fixtures/ops/too_deep.onnx"))
    let chain = try GraphChain(model: model)
    var generator = TestSeed.generator("tooDeep")
    let samples = (0..<64).map { _ in (0..<4).map { _ in Double.random(in: -2...2, using: &generator) } }
    do {
      _ = try NetworkCompiler.compile(
        chain, calibration: CalibrationSet(samples: samples),
        options: CompilerOptions(
          minimumAgreement: 0, maximumAccuracyLoss: 1, minimumActivationDepth: 3, extraActivationDepth: 0))
      Issue.record("ten ReLU layers at depth 3 each were compiled")
    } catch let error as CompilationError {
      #expect(error.description.contains("the network needs 41 levels"), "\(error)")
      // 30 levels at most: the 31st falls in the eighth ReLU's polynomial (8 linear + 7·3 + 1 = 30).
      #expect(error.description.contains("gives 30, which runs out at Relu node \"relu7\""), "\(error)")
    }
  }

  @Test("An approximation that cannot keep the predictions is refused with each degree's agreement")
  func approximationTooLossy() throws {
    let fixture = try ModelFixture("sklearn_mnist_mlp")
    do {
      _ = try NetworkCompiler.compile(
        fixture.chain, calibration: fixture.calibration,
        options: CompilerOptions(minimumAgreement: 1.01, maximumActivationDepth: 3))
      Issue.record("an agreement above 100 % was met")
    } catch let error as CompilationError {
      #expect(error.description.hasPrefix("no approximation keeps the predictions: degree 3: agreement"))
      #expect(error.description.contains("degree 7: agreement"))
    }
  }

  @Test("Calibration values that blow up are refused with the layer and the range")
  func rangesBlowUp() throws {
    let fixture = try ModelFixture("he_org_mnist_mlp")
    let scaled = CalibrationSet(samples: fixture.calibration.samples.prefix(20).map { $0.map { $0 * 1e9 } })
    do {
      _ = try NetworkCompiler.compile(fixture.chain, calibration: scaled)
      Issue.record("pixels of 10^11 were accepted")
    } catch let error as CompilationError {
      #expect(error.description.hasPrefix("values blow up at"), "\(error)")
    }
  }

  @Test("The compiled network survives its model-file JSON exactly")
  func networkJSON() throws {
    let fixture = try ModelFixture("mnist_cnn_pool")
    let compiled = try NetworkCompiler.compile(fixture.chain, calibration: fixture.calibration)
    let data = try JSONEncoder().encode(compiled.network)
    #expect(try JSONDecoder().decode(LayeredNetwork.self, from: data) == compiled.network)
    // The folded convolutions are stored as entries: far smaller than dense.
    #expect(data.count < 8 * compiled.network.stages.count * 100_000)
  }
}

@Suite(
  "Specialized lowerings",
  .enabled(if: compilerTestsEnabled, "HEINFER_COMPILER_TESTS=skip: run on their own by scripts/test.sh"))
struct SpecializedLoweringTests {
  @Test("The bundled mnist_cnn's graph is recognized as the cnn kind with the bundled weights; other graphs are not")
  func convolutionalLowering() throws {
    let fixture = try ModelFixture("mnist_cnn")
    let lowering = try #require(ConvolutionalLowering(chain: fixture.chain, calibration: fixture.calibration))
    #expect(lowering.imageSide == 28 && lowering.kernel == 7 && lowering.stride == 3)
    // scripts/onnx_models.py exported the bundled file's weights: the lowering reads them back.
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(Repository.text("Sources/Gateway/Models/mnist_cnn-1.0.0.json").utf8))
        as? [String: Any])
    let convolution = try #require(object["convolution"] as? [String: Any])
    func close(_ a: [[Double]], _ b: Any?) -> Bool {
      guard let b = b as? [[Double]], a.count == b.count else { return false }
      return zip(a, b).allSatisfy { row in
        row.0.count == row.1.count && zip(row.0, row.1).allSatisfy { abs($0 - $1) < 1e-6 }
      }
    }
    #expect(close(lowering.convolutionWeights, convolution["weights"]))
    #expect(close(lowering.hiddenWeights, object["hidden_weights"]))
    #expect(close(lowering.outputWeights, object["weights"]))
    #expect(close([lowering.hiddenBias], [object["hidden_bias"] as? [Double] ?? []]))
    #expect(close([lowering.outputBias], [object["bias"] as? [Double] ?? []]))
    // Headroom: twice what calibration saw (the bundled file states 12, 39 and 190).
    #expect(lowering.convolutionBound > 10 && lowering.convolutionBound < 13)
    for other in ["he_org_mnist_mlp", "mnist_cnn_pool", "sklearn_breast_cancer"] {
      let fixture = try ModelFixture(other)
      let recognized = ConvolutionalLowering(chain: fixture.chain, calibration: fixture.calibration) != nil
      #expect(!recognized, "\(other)")
    }
  }
}
