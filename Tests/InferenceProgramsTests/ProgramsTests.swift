import CKKS
import InferencePrograms
import TestSupport
import Testing

/// The programs layer on its own (no gateway, no HTTP): layouts survive their wire description,
/// and each program, run on an encryption, decrypts to its own float64 scores.
@Suite("Programs layer")
struct ProgramsTests {
  @Test("A layout rebuilt from its description is the same layout; a description that disagrees is refused")
  func layoutDescriptions() throws {
    let layouts: [(layout: any SampleLayout, degree: Int)] = [
      (CoefficientLinearLayout(degree: 4096, inputDimension: 30, outputDimension: 1), 4096),
      (CoefficientLinearLayout(degree: 2048, inputDimension: 8, outputDimension: 3), 2048),
      (SlotMLPLayout(slotCount: 4096, inputDimension: 4, hiddenDimension: 4, outputDimension: 3), 8192),
      (SlotMLPLayout(slotCount: 2048, inputDimension: 5, hiddenDimension: 3, outputDimension: 2), 4096),
      (
        ImageBatchLayout(
          slotCount: 4096, geometry: LayoutDescription.ImageGeometry(side: 28, kernel: 7, stride: 3),
          outputDimension: 10), 8192
      ),
    ]
    for (layout, degree) in layouts {
      let description = layout.layoutDescription
      let rebuilt = try description.layout(
        degree: degree, inputDimension: layout.inputDimension, outputDimension: layout.outputDimension)
      #expect(rebuilt.layoutDescription == description)
      #expect(rebuilt.samplesPerCiphertext == layout.samplesPerCiphertext)
      #expect(rebuilt.ciphertextsPerGroup == layout.ciphertextsPerGroup)
      var skewed = description
      skewed.sampleStride += 1
      #expect(throws: LayoutMismatch.self) {
        try skewed.layout(
          degree: degree, inputDimension: layout.inputDimension, outputDimension: layout.outputDimension)
      }
    }
    var noReplica = layouts[2].layout.layoutDescription
    noReplica.inputReplicaOffset = nil
    #expect(throws: LayoutMismatch.self) { try noReplica.layout(degree: 8192, inputDimension: 4, outputDimension: 3) }
    #expect(
      LayoutDescription.Kind.allCases.map(\.rawValue) == [
        "coefficient_linear", "slot_mlp", "image_windows", "image_batch", "strided_slots",
      ])
  }

  /// Encrypts `samples` through the program's layout, evaluates, decrypts through the layout.
  static func run(
    _ program: any InferenceProgram, _ samples: [[Double]], parameters: CKKSParameters, inputScale: Double,
    keys: (SecretKey) throws -> EvaluationKeys
  ) throws -> [[Double]] {
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let encoder = CKKSEncoder(parameters: parameters)
    let plaintexts = try program.layout.encode(samples, with: encoder, scale: inputScale, level: program.inputLevel)
    let group = try plaintexts.map { try Encryptor(secretKey: secretKey).encrypt($0) }
    let results = try program.evaluate(
      group, sampleCount: samples.count, keys: try keys(secretKey), evaluator: Evaluator(parameters: parameters))
    #expect(results.count == program.layout.resultsPerGroup)
    #expect(results.allSatisfy { $0.scale == program.resultScale })
    let decrypted = try results.map { try Decryptor(secretKey: secretKey).decrypt($0) }
    return program.layout.scores(inResults: decrypted, with: encoder, count: samples.count)
  }

  static func samples(_ count: Int, dimension: Int, bound: Double) -> [[Double]] {
    var generator = TestSeed.generator("ProgramsTests.samples")
    return (0..<count).map { _ in (0..<dimension).map { _ in Double.random(in: -bound...bound, using: &generator) } }
  }

  @Test("A linear program decrypts to its float64 scores; protected, it needs the public key and keeps its bound")
  func linearProgram() throws {
    let parameters = try CKKSParameters(
      ParameterDescription(degree: 4096, ciphertextPrimeBits: [53, 53], specialPrimeBits: [], defaultScale: 0x1p78))
    let weights = [[0.5, -1.25, 2.0], [0.75, 0.1, -0.3]]
    let bias = [0.1, -0.2]
    let samples = Self.samples(5, dimension: 3, bound: 4)
    for protect in [false, true] {
      let program = try CoefficientLinearProgram(
        parameters: parameters, weights: weights, bias: bias, activation: nil, inputScale: 0x1p78,
        weightScale: 0x1p18, inputBound: 4, protectResults: protect, droppedBits: 0)
      #expect(program.keyRequirements == EvaluationKeyRequirements(publicKey: protect))
      #expect((program.resultPrivacy != nil) == protect)
      let scores = try Self.run(program, samples, parameters: parameters, inputScale: 0x1p78) { secretKey in
        EvaluationKeys(publicKey: KeyGenerator.publicKey(secretKey: secretKey))
      }
      let bound = program.resultPrivacy?.scoreErrorBound ?? 1e-4
      for (sample, score) in zip(samples, scores) {
        for (expected, actual) in zip(program.plainScores(sample), score) { #expect(abs(expected - actual) <= bound) }
      }
      if protect {
        #expect(throws: ProgramError.missingKeys("the public key")) {
          try Self.run(program, samples, parameters: parameters, inputScale: 0x1p78) { _ in EvaluationKeys() }
        }
      }
    }
  }

  @Test("A slot network decrypts to its float64 scores with the keys it declares, and refuses to run without them")
  func slotNetwork() throws {
    let parameters = try CKKSParameters(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [50, 35, 35, 35], specialPrimeBits: [50], defaultScale: 0x1p35))
    let program = try SlotMLPProgram(
      parameters: parameters, hiddenWeights: [[0.5, -0.25], [1.0, 0.75], [-0.5, 0.2]], hiddenBias: [0.1, -0.3, 0.2],
      outputWeights: [[1.0, -0.5, 0.25], [-0.75, 0.5, 1.0]], outputBias: [0.05, -0.1],
      activation: [0.25, 0.5, 0.125], inputScale: 0x1p35, inputBound: 2)
    let needs = program.keyRequirements
    #expect(needs.relinearization && !needs.publicKey && !needs.galoisElements.isEmpty)
    #expect(program.resultPrivacy == nil)
    let samples = Self.samples(3, dimension: 2, bound: 2)
    let scores = try Self.run(program, samples, parameters: parameters, inputScale: 0x1p35) { secretKey in
      EvaluationKeys(
        relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
        galois: try KeyGenerator.galoisKeys(
          secretKey: secretKey,
          elements: needs.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }))
    }
    for (sample, score) in zip(samples, scores) {
      for (expected, actual) in zip(program.plainScores(sample), score) { #expect(abs(expected - actual) <= 1e-4) }
    }
    #expect(throws: ProgramError.self) {
      try Self.run(program, samples, parameters: parameters, inputScale: 0x1p35) { _ in EvaluationKeys() }
    }
  }

  @Test("A program refuses a model it cannot hold, naming the rule")
  func refusals() throws {
    let parameters = try CKKSParameters(
      ParameterDescription(degree: 2048, ciphertextPrimeBits: [53], specialPrimeBits: [], defaultScale: 0x1p23))
    #expect(
      throws: ProgramError.invalidModel("a linear model needs encryption.weight_scale, finite and greater than 1")
    ) {
      try CoefficientLinearProgram(
        parameters: parameters, weights: [[1]], bias: [0], activation: nil, inputScale: 0x1p23, weightScale: nil,
        inputBound: 1, protectResults: false, droppedBits: 0)
    }
    #expect(
      throws: ProgramError.invalidModel(
        "an mlp needs exactly four ciphertext primes (inputs at level 3, three rescales)")
    ) {
      try SlotMLPProgram(
        parameters: parameters, hiddenWeights: [[1]], hiddenBias: [0], outputWeights: [[1]], outputBias: [0],
        activation: nil, inputScale: 0x1p23, inputBound: 1)
    }
  }
}
