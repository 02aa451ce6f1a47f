import Foundation
import InferencePrograms
import ModelCompiler
import TestSupport
import Testing

/// Every supported op against onnxruntime: `Tests/ModelCompilerTests/Fixtures/ops/NAME.onnx` is
/// the op between the input and a trailing `Add(·, 0)`, and `ops.json` holds onnxruntime's outputs
/// on three random inputs (`scripts/onnx_models.py`).
@Suite(
  "ONNX operators",
  .enabled(if: compilerTestsEnabled, "HEINFER_COMPILER_TESTS=skip: run on their own by scripts/test.sh"))
struct OperatorTests {
  struct Case: Decodable, Sendable {
    let inputs: [[Double]]
    let outputs: [[Double]]
  }

  struct Cases: Decodable, Sendable {
    let cases: [String: Case]
  }

  static let folder = "Tests/ModelCompilerTests/Fixtures/ops"

  static let expected: [String: Case] = {
    guard let data = try? Data(contentsOf: Repository.url("\(folder)/ops.json")),
      let cases = try? JSONDecoder().decode(Cases.self, from: data)
    else { return [:] }
    return cases.cases
  }()

  static let names = [
    "gemm", "gemm_no_bias", "matmul", "add_broadcast", "sub_constant_first", "sub", "mul", "div", "conv", "conv_same",
    "average_pool", "average_pool_include_pad", "global_average_pool", "batch_normalization", "flatten", "reshape",
    "transpose", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "clip", "pow", "mul_square",
    "identity_dropout", "cast_float", "scaler", "linear_regressor", "linear_classifier",
  ]

  @Test("Each op's float64 semantics equal onnxruntime's outputs", arguments: names)
  func matchesOnnxRuntime(_ name: String) throws {
    let fixture = try #require(Self.expected[name], "ops.json has no case \(name)")
    let model = try ONNXModel(contentsOf: Repository.url("\(Self.folder)/\(name).onnx"))
    let chain = try GraphChain(model: model)
    for (input, output) in zip(fixture.inputs, fixture.outputs) {
      let scores = chain.scores(input)
      #expect(scores.count == output.count, "\(name): \(scores.count) values, onnxruntime gives \(output.count)")
      // onnxruntime computes in float32: a few units in the 7th digit.
      let error = zip(scores, output).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
      #expect(error < 1e-5, "\(name): relative difference \(error)")
    }
  }

  @Test("The ops' semantics are what the ops.json fixture covers: every supported op is tested")
  func fixtureCoversEveryCase() {
    #expect(Set(Self.expected.keys) == Set(Self.names))
  }

  /// A refusal: the fixture, and what the message must say (node, op, reason).
  static let refusals: [(file: String, message: [String])] = [
    ("refuse_max_pool", ["MaxPool node \"pool1\"", "AveragePool"]),
    ("refuse_unsupported_op", ["Erf node \"erf1\"", "not supported"]),
    ("refuse_grouped_conv", ["Conv node \"conv1\"", "group = 2"]),
    ("refuse_dilated_conv", ["Conv node \"conv1\"", "dilations"]),
    ("refuse_divide_by_sample", ["Div node \"div1\"", "not affine"]),
    ("refuse_dynamic_features", ["dynamic dimension 1", "features"]),
    ("refuse_residual_branch", ["feeds 2 nodes", "residual"]),
    ("refuse_two_inputs", ["2 inputs", "X2"]),
    ("refuse_softmax_inside", ["Softmax node \"softmax1\"", "softmax inside the network"]),
    ("refuse_external_data", ["external data file", "save_as_external_data=False"]),
  ]

  @Test("Unsupported graphs are refused with a message naming the node, its op and the reason", arguments: 0..<10)
  func refusal(_ index: Int) throws {
    let (file, message) = Self.refusals[index]
    do {
      let model = try ONNXModel(contentsOf: Repository.url("\(Self.folder)/\(file).onnx"))
      _ = try GraphChain(model: model)
      Issue.record("\(file) was accepted")
    } catch {
      for part in message {
        #expect(error.description.contains(part), "\(file): \"\(error.description)\" lacks \"\(part)\"")
      }
    }
  }

  @Test("A LogSoftmax head becomes the client's log_softmax: log-probabilities of the served scores")
  func logSoftmaxHead() throws {
    let chain = try GraphChain(model: ONNXModel(contentsOf: Repository.url("\(Self.folder)/head_log_softmax.onnx")))
    #expect(chain.outputTransform == .logSoftmax)
    #expect(chain.head == "LogSoftmax" && chain.operations == ["Gemm"])
    let scores = [0.5, -1.0, 2.0]
    let logProbabilities = ScoreTransform.logSoftmax.apply(to: scores)
    let probabilities = ScoreTransform.softmax.apply(to: scores)
    #expect(zip(logProbabilities, probabilities).allSatisfy { abs($0 - log($1)) < 1e-12 })
  }

  @Test("Bytes that are not a model, and a graph without its input shape, are refused")
  func malformed() throws {
    #expect(throws: ONNXError.self) { try ONNXModel(serialized: Data([0xFF, 0xFF, 0xFF, 0x07])) }
    #expect(throws: ONNXError.self) { try ONNXModel(serialized: Data()) }
    #expect(throws: ONNXError.self) {
      try ONNXModel(contentsOf: Repository.url("\(Self.folder)/does_not_exist.onnx"))
    }
  }

  @Test("Calibration CSV: header, optional labels, and rows of the wrong width refused with the row number")
  func calibrationCSV() throws {
    let labelled = try CalibrationSet(csv: "a,b,label\n1,2,0\n3,4,1\n", featureCount: 2)
    #expect(labelled.samples == [[1, 2], [3, 4]] && labelled.labels == [0, 1])
    let plain = try CalibrationSet(csv: "1,2\n3,4\n", featureCount: 2)
    #expect(plain.samples.count == 2 && plain.labels == nil)
    #expect(throws: CompilationError.self) { try CalibrationSet(csv: "1,2\n3,4,5,6\n", featureCount: 2) }
    #expect(throws: CompilationError.self) { try CalibrationSet(csv: "1,2,0.5\n", featureCount: 2) }
    #expect(throws: CompilationError.self) { try CalibrationSet(csv: "x,y\n", featureCount: 2) }
    do {
      _ = try CalibrationSet(csv: "1,2\n3,x\n", featureCount: 2)
    } catch {
      #expect(error.description.contains("row 2"))
    }
  }
}
