import Foundation
import InferencePrograms

/// One step of a graph's chain, on one sample's values (flattened row-major, batch dimension
/// removed): an affine map (every op the compiler folds into matrices) or an elementwise activation.
struct Layer: Sendable {
  enum Kind: Sendable {
    /// y = f(x), f affine; applied to a sample.
    case affine(@Sendable ([Double]) -> [Double])
    case activation(Activation)
  }

  /// A Conv node's geometry and weights, which specialized lowerings read.
  struct Convolution: Sendable {
    /// [C, H, W] in, M output channels.
    let inputShape: [Int]
    let outputChannels: Int
    let kernel: (height: Int, width: Int)
    let strides: (y: Int, x: Int)
    /// Top, left, bottom, right.
    let pads: [Int]
    /// M × C × kh × kw, row-major.
    let weights: [Double]
    let bias: [Double]
  }

  let node: ONNXNode
  let kind: Kind
  let inputShape: [Int]
  let outputShape: [Int]
  var convolution: Convolution? = nil

  /// The layer's output for one sample.
  func apply(_ x: [Double]) -> [Double] {
    switch kind {
    case .affine(let map): return map(x)
    case .activation(let activation): return x.map { activation($0) }
    }
  }
}

/// What the ops read from a node: attributes with defaults and constant inputs, each refusal
/// naming the node.
struct NodeReader {
  let node: ONNXNode
  let model: ONNXModel

  func fail(_ reason: String) -> ONNXError { ONNXError(node: node, reason: reason) }

  func int(_ name: String, default value: Int) throws(ONNXError) -> Int {
    switch node.attributes[name] {
    case nil: return value
    case .int(let v)?: return v
    default: throw fail("attribute \(name) must be an integer")
    }
  }

  func float(_ name: String, default value: Double) throws(ONNXError) -> Double {
    switch node.attributes[name] {
    case nil: return value
    case .float(let v)?: return v
    case .int(let v)?: return Double(v)
    default: throw fail("attribute \(name) must be a number")
    }
  }

  func ints(_ name: String) throws(ONNXError) -> [Int]? {
    switch node.attributes[name] {
    case nil: return nil
    case .ints(let v)?: return v
    default: throw fail("attribute \(name) must be a list of integers")
    }
  }

  func floats(_ name: String) throws(ONNXError) -> [Double]? {
    switch node.attributes[name] {
    case nil: return nil
    case .floats(let v)?: return v
    case .float(let v)?: return [v]
    default: throw fail("attribute \(name) must be a list of numbers")
    }
  }

  func string(_ name: String, default value: String) throws(ONNXError) -> String {
    switch node.attributes[name] {
    case nil: return value
    case .string(let v)?: return v
    default: throw fail("attribute \(name) must be a string")
    }
  }

  /// The constant at input `index`, or nil when that optional input is omitted.
  func constant(_ index: Int) throws(ONNXError) -> Tensor? {
    guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
    let name = node.inputs[index]
    if let tensor = model.constants[name] { return tensor }
    if let type = model.otherConstants[name] {
      throw fail("input \"\(name)\" is a \(type) tensor; numbers are needed")
    }
    throw fail("input \"\(name)\" must be a constant (an initializer): only one input may carry the sample")
  }

  func requiredConstant(_ index: Int, _ what: String) throws(ONNXError) -> Tensor {
    guard let tensor = try constant(index) else { throw fail("needs its \(what) input") }
    return tensor
  }

  /// Refuses attributes whose value changes the op's meaning beyond what the compiler implements.
  func require(_ name: String, in allowed: Set<Int>, default value: Int, because reason: String) throws(ONNXError) {
    let v = try int(name, default: value)
    guard allowed.contains(v) else { throw fail("\(name) = \(v) is not supported: \(reason)") }
  }
}

/// The ops the compiler reads, by domain and name, as the refusal message lists them.
enum SupportedOps {
  static let affine: [String] = [
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Conv", "AveragePool", "GlobalAveragePool", "BatchNormalization",
    "Flatten", "Reshape", "Transpose", "Identity", "Dropout", "Cast", "Scaler", "LinearClassifier", "LinearRegressor",
  ]
  static let activations: [String] = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softplus", "Clip", "Pow", "Mul(x, x)"]
  static let head: [String] = [
    "Softmax", "LogSoftmax", "Sigmoid", "ArgMax", "ZipMap", "Cast", "ArrayFeatureExtractor", "Reshape", "Identity",
    "Concat", "Sub", "Normalizer", "Flatten",
  ]
  static let headSet = Set(head)

  static var summary: String {
    "affine: \(affine.joined(separator: ", ")); activations: \(activations.joined(separator: ", "))"
  }
}

/// Broadcasting of a constant against one sample of shape `shape` (numpy rules, the batch
/// dimension in front): the constant's value for every position of the sample.
func broadcast(_ constant: Tensor, to shape: [Int], reader: NodeReader) throws(ONNXError) -> [Double] {
  let full = [1] + shape
  guard constant.shape.count <= full.count else {
    throw reader.fail("a constant of shape \(constant.shape) does not broadcast to the sample's shape \(shape)")
  }
  let aligned = [Int](repeating: 1, count: full.count - constant.shape.count) + constant.shape
  for (c, s) in zip(aligned, full) where c != 1 && c != s {
    throw reader.fail("a constant of shape \(constant.shape) does not broadcast to the sample's shape \(shape)")
  }
  let count = shape.reduce(1, *)
  if constant.count == 1 { return [Double](repeating: constant.values[0], count: count) }
  // Strides of the constant over the sample's axes (0 along broadcast axes).
  var strides = [Int](repeating: 0, count: shape.count)
  var step = 1
  for axis in stride(from: shape.count - 1, through: 0, by: -1) {
    let c = aligned[axis + 1]
    strides[axis] = c == 1 ? 0 : step
    step *= c
  }
  var values = [Double](repeating: 0, count: count)
  var index = [Int](repeating: 0, count: shape.count)
  for position in 0..<count {
    var offset = 0
    for axis in 0..<shape.count { offset += index[axis] * strides[axis] }
    values[position] = constant.values[offset]
    advance(&index, within: shape)
  }
  return values
}

/// Steps a row-major multi-index to the next position of `shape` (the last axis fastest).
func advance(_ index: inout [Int], within shape: [Int]) {
  var axis = shape.count - 1
  while axis >= 0 {
    index[axis] += 1
    if index[axis] < shape[axis] { return }
    index[axis] = 0
    axis -= 1
  }
}
