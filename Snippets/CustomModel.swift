// A model kind of your own: an `InferenceProgram` that squares the sum of two features, on the
// slot layout of `iris_mlp`. Client and server both drive it through the protocol; serving it
// takes a model-file kind (docs/models.md, "Adding a model kind").

// snippet.hide
import CKKS
import InferencePrograms

// snippet.show
struct SquaredSum: InferenceProgram {
  let parameters: CKKSParameters
  let slots: SlotMLPLayout
  var layout: any SampleLayout { slots }
  var inputLevel: Int { parameters.maximumLevel }
  /// Δ² divided by the prime the one rescale removes.
  var resultScale: Double {
    parameters.defaultScale * parameters.defaultScale / Double(parameters.ciphertextModuli[inputLevel])
  }
  var keyRequirements: EvaluationKeyRequirements {
    EvaluationKeyRequirements(
      relinearization: true, galoisElements: [GaloisElement.rotation(by: 1, degree: parameters.degree).value])
  }
  var resultPrivacy: ResultPrivacy? { nil }  // results are returned as evaluated

  init(parameters: CKKSParameters) {
    self.parameters = parameters
    slots = SlotMLPLayout(slotCount: parameters.slotCount, inputDimension: 2, hiddenDimension: 1, outputDimension: 1)
  }

  func plainScores(_ sample: [Double]) -> [Double] { [(sample[0] + sample[1]) * (sample[0] + sample[1])] }

  /// One group (the slot layout's groups are one ciphertext) gives one result.
  func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    let input = group[0]
    guard let relinearization = keys.relinearization, let galois = keys.galois else {
      throw ProgramError.missingKeys("the relinearization key and the rotation by 1")
    }
    // Feature 1 of every sample moves onto feature 0's slot, where the score is read.
    let sum = try evaluator.add(input, evaluator.rotate(input, by: 1, keys: galois))
    return [try evaluator.rescale(evaluator.multiplyRelinearize(sum, sum, key: relinearization))]
  }
}

// The client's side: keys from the program's requirements, samples through its layout.
let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
let program = SquaredSum(parameters: parameters)
let secretKey = KeyGenerator.secretKey(parameters: parameters)
let keys = EvaluationKeys(
  relinearization: try KeyGenerator.relinearizationKey(secretKey: secretKey),
  galois: try KeyGenerator.galoisKeys(
    secretKey: secretKey,
    elements: program.keyRequirements.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }))
let encoder = CKKSEncoder(parameters: parameters)
let samples: [[Double]] = [[1, 2], [0.5, -1.5], [3, 0]]
let group = try program.layout.encode(samples, with: encoder, scale: parameters.defaultScale, level: program.inputLevel)
  .map { try Encryptor(secretKey: secretKey).encrypt($0) }
let results = try program.evaluate(
  group, sampleCount: samples.count, keys: keys, evaluator: Evaluator(parameters: parameters))
let decrypted = try results.map { try Decryptor(secretKey: secretKey).decrypt($0) }
let scores = program.layout.scores(inResults: decrypted, with: encoder, count: 3)
print(scores)  // ≈ [[9.0], [1.0], [9.0]]
// snippet.hide
precondition(zip(scores, samples.map(program.plainScores)).allSatisfy { abs($0[0] - $1[0]) < 1e-4 }, "\(scores)")
