import Foundation
import InferencePrograms
import ModelCompiler
import TestSupport

/// Whether the compiler's suites run: the test command (scripts/test.sh) runs them on their own,
/// after the rest, with `HEINFER_COMPILER_TESTS=skip` on the first run (they are then reported as
/// skipped, never passed) so that minutes of encrypted MNIST networks do not starve the
/// timing-sensitive server tests of both cores.
let compilerTestsEnabled = ProcessInfo.processInfo.environment["HEINFER_COMPILER_TESTS"] != "skip"

/// The ONNX models of `models/onnx/` (written by `scripts/onnx_models.py`) with onnxruntime's
/// outputs on their test splits, and their calibration data.
struct ModelFixture: Sendable {
  struct Expected: Decodable, Sendable {
    let testCsv: String
    let calibrationCsv: String
    let outputTransform: String
    let scoresAre: String
    let accuracy: Double
    let predictions: [Int]
    let scores: [[Double]]
  }

  let name: String
  let model: ONNXModel
  let chain: GraphChain
  let expected: Expected
  let test: CalibrationSet
  let calibration: CalibrationSet

  init(_ name: String) throws {
    self.name = name
    model = try ONNXModel(contentsOf: Repository.url("models/onnx/\(name).onnx"))
    chain = try GraphChain(model: model)
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    expected = try decoder.decode(
      Expected.self, from: Data(contentsOf: Repository.url("models/onnx/\(name).expected.json")))
    test = try CalibrationSet(csv: Repository.text(expected.testCsv), featureCount: chain.inputCount)
    calibration = try CalibrationSet(csv: Repository.text(expected.calibrationCsv), featureCount: chain.inputCount)
  }

  /// The class a sample's scores predict.
  func prediction(_ scores: [Double]) -> Int { NetworkCompiler.prediction(scores, transform: chain.outputTransform) }
}
