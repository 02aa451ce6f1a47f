import CKKS
import InferencePrograms
import TestSupport
import Testing

/// Compiled networks in slots: a 128 → 32 → 4 network with a Chebyshev activation, evaluated
/// encrypted in every form its first stage and its keys can take.
@Suite("Layered networks")
struct LayeredNetworkTests {
  /// N = 8192 (4096 slots): the 128 inputs have 32 copies, which become the first stage's baby steps.
  static let parameters = ParameterDescription(
    degree: 8192, ciphertextPrimeBits: [40, 30, 30, 30, 30], specialPrimeBits: [50], defaultScale: 0x1p30)

  static func network() -> LayeredNetwork {
    var generator = TestSeed.generator("LayeredNetworkTests.network")
    func matrix(_ rows: Int, _ columns: Int) -> LayeredNetwork.Linear {
      LayeredNetwork.Linear(
        rows: rows, columns: columns,
        weights: (0..<(rows * columns)).map { _ in Double.random(in: -0.3...0.3, using: &generator) },
        bias: (0..<rows).map { _ in Double.random(in: -0.1...0.1, using: &generator) })
    }
    // tanh-like odd polynomial on [−1, 1]: degree 3 (two levels).
    return LayeredNetwork(stages: [.linear(matrix(32, 128)), .chebyshev([0, 0.9, 0, -0.1]), .linear(matrix(4, 32))])
  }

  @Test(
    "The first stage takes the client's rotated copies as its baby steps; both key choices decrypt to the float64 scores",
    arguments: LinearTransformation.RotationKeys.allCases)
  func rotatedCopies(_ rotationKeys: LinearTransformation.RotationKeys) throws {
    let parameters = try CKKSParameters(Self.parameters)
    let program = try LayeredNetworkProgram(
      parameters: parameters, network: Self.network(), inputScale: 0x1p30, samplesPerCiphertext: 1, scoreBound: 8,
      rotationKeys: rotationKeys)
    // 32 copies of the 128 inputs, copy t rotated left by t features: feature f of copy t at slot
    // 128·t + (f − t) mod 128, and the layout says so.
    #expect(program.slotLayout.copyRotation == 1)
    // The keys known without encoding anything are the program's.
    #expect(
      try LayeredNetworkProgram.keyRequirements(
        parameters: parameters, network: Self.network(), samplesPerCiphertext: 1, rotationKeys: rotationKeys)
        == program.keyRequirements)
    let sample = (0..<128).map { Double($0) / 128 - 0.5 }
    let slots = program.slotLayout.inputSlots([sample])
    for t in [0, 1, 5, 31] {
      for f in [0, 3, 127] { #expect(slots[128 * t + ((f - t) % 128 + 128) % 128] == sample[f]) }
    }
    let description = program.layout.layoutDescription
    #expect(description.copyRotation == 1)
    let rebuilt = try description.layout(degree: 8192, inputDimension: 128, outputDimension: 4)
    #expect(rebuilt.layoutDescription == description)
    let degree = parameters.degree
    let powers = (0..<12).map { GaloisElement.rotation(by: 1 << $0, degree: degree).value }
    if rotationKeys == .powersOfTwo {
      #expect(Set(program.keyRequirements.galoisElements).isSubset(of: powers))
    }
    let samples = ProgramsTests.samples(1, dimension: 128, bound: 1)
    let scores = try ProgramsTests.run(program, samples, parameters: parameters, inputScale: 0x1p30) { secretKey in
      EvaluationKeys(
        relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
        galois: try KeyGenerator.galoisKeys(
          secretKey: secretKey,
          elements: program.keyRequirements.galoisElements.map { try GaloisElement($0, degree: degree) }))
    }
    let expected = program.plainScores(samples[0])
    #expect(Precision.bits(scores[0], expected) > 12, "\(scores[0]) against \(expected)")
  }

  @Test("Interleaved samples leave no room for copies: the first stage rotates its input itself")
  func throughputLayout() throws {
    let parameters = try CKKSParameters(Self.parameters)
    let program = try LayeredNetworkProgram(
      parameters: parameters, network: Self.network(), inputScale: 0x1p30, samplesPerCiphertext: 32, scoreBound: 8)
    #expect(program.slotLayout.copyRotation == 0 && program.layout.layoutDescription.copyRotation == nil)
    #expect(
      try LayeredNetworkProgram.keyRequirements(
        parameters: parameters, network: Self.network(), samplesPerCiphertext: 32)
        == program.keyRequirements)
    let samples = ProgramsTests.samples(3, dimension: 128, bound: 1)
    let scores = try ProgramsTests.run(program, samples, parameters: parameters, inputScale: 0x1p30) { secretKey in
      EvaluationKeys(
        relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
        galois: try KeyGenerator.galoisKeys(
          secretKey: secretKey,
          elements: program.keyRequirements.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }))
    }
    for (sample, score) in zip(samples, scores) {
      #expect(Precision.bits(score, program.plainScores(sample)) > 12)
    }
  }
}
