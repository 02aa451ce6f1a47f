public import Foundation
import SwiftProtobuf

/// A tensor of float64 values, row-major, with its shape.
public struct Tensor: Sendable, Equatable {
  public var shape: [Int]
  public var values: [Double]

  /// - Precondition: `values.count` is the product of `shape` (1 for a scalar's empty shape).
  public init(shape: [Int], values: [Double]) {
    precondition(shape.reduce(1, *) == values.count, "a tensor's values fill its shape")
    self.shape = shape
    self.values = values
  }

  /// The number of values.
  public var count: Int { values.count }
}

/// One attribute of a node, as the graph gives it (floats widened to Double).
public enum ONNXAttribute: Sendable, Equatable {
  case int(Int)
  case float(Double)
  case string(String)
  case ints([Int])
  case floats([Double])
  case strings([String])
  case tensor(Tensor)
  /// A kind this reader does not use (subgraphs, sparse tensors, type protos), named.
  case unsupported(String)
}

/// One node of an ONNX graph.
public struct ONNXNode: Sendable, Equatable {
  /// The node's name (may be empty in the file; then `op_type` and its position are used).
  public var name: String
  public var opType: String
  /// `ai.onnx` (written as "" in files) or `ai.onnx.ml`.
  public var domain: String
  /// Tensor names; an empty name is an omitted optional input.
  public var inputs: [String]
  public var outputs: [String]
  public var attributes: [String: ONNXAttribute]

  /// How messages name the node: `Gemm node "fc1"`.
  public var label: String { "\(opType) node \"\(name)\"" }
}

/// An ONNX model as the compiler reads it: one float input, the nodes in file order (ONNX
/// requires topological order), constants (initializers and `Constant` nodes) decoded to float64,
/// and the graph's outputs.
public struct ONNXModel: Sendable {
  /// The graph input's name.
  public var inputName: String
  /// The input's shape without the batch dimension, e.g. `[784]` or `[1, 28, 28]`.
  public var inputShape: [Int]
  public var nodes: [ONNXNode]
  /// Constant tensors by name: initializers and `Constant` nodes' outputs, in numeric types.
  public var constants: [String: Tensor]
  /// Constant tensors of types the compiler never computes with (strings, booleans): their names
  /// and types, so that a node needing one is refused by name.
  public var otherConstants: [String: String]
  public var outputNames: [String]
  /// Opset version by domain (`ai.onnx` for the default domain).
  public var opsets: [String: Int]
  /// The exporter, as it names itself (`pytorch 2.9.1`, `skl2onnx 1.20.0`).
  public var producer: String

  /// The domains this reader understands.
  public static let supportedDomains: Set<String> = ["ai.onnx", "ai.onnx.ml"]

  /// Reads a serialized `ModelProto`.
  /// - Throws: ``ONNXError`` for bytes that are not a model, a graph with other than one float
  ///   input, dynamic dimensions other than the first (batch) one, external data, unknown domains
  ///   or tensor types the compiler would need.
  public init(serialized data: Data) throws(ONNXError) {
    let proto: Onnx_ModelProto
    do {
      proto = try Onnx_ModelProto(serializedBytes: data)
    } catch {
      throw ONNXError(node: nil, reason: "the file is not an ONNX model (protobuf: \(error))")
    }
    try self.init(proto: proto)
  }

  /// Reads the file at `url`.
  /// - Throws: ``ONNXError`` when the file cannot be read or is refused as by ``init(serialized:)``.
  public init(contentsOf url: URL) throws(ONNXError) {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw ONNXError(node: nil, reason: "cannot read \(url.path): \(error.localizedDescription)")
    }
    try self.init(serialized: data)
  }

  init(proto: Onnx_ModelProto) throws(ONNXError) {
    guard proto.hasGraph else { throw ONNXError(node: nil, reason: "the model has no graph") }
    var opsets: [String: Int] = [:]
    for opset in proto.opsetImport {
      let domain = opset.domain.isEmpty ? "ai.onnx" : opset.domain
      opsets[domain] = Int(opset.version)
    }
    guard opsets["ai.onnx"] != nil || opsets["ai.onnx.ml"] != nil else {
      throw ONNXError(node: nil, reason: "the model imports neither the ai.onnx nor the ai.onnx.ml opset")
    }
    let graph = proto.graph
    guard !graph.node.isEmpty else { throw ONNXError(node: nil, reason: "the graph has no nodes") }
    if !proto.functions.isEmpty {
      throw ONNXError(node: nil, reason: "model-local functions are not supported (export without them)")
    }
    var constants: [String: Tensor] = [:]
    var otherConstants: [String: String] = [:]
    func store(_ tensor: Onnx_TensorProto, name: String, node: String?) throws(ONNXError) {
      switch try Self.decode(tensor, name: name, node: node) {
      case .numeric(let value): constants[name] = value
      case .other(let type): otherConstants[name] = type
      }
    }
    for initializer in graph.initializer {
      try store(initializer, name: initializer.name, node: nil)
    }
    if let sparse = graph.sparseInitializer.first {
      throw ONNXError(
        node: nil, reason: "sparse initializer \"\(sparse.values.name)\" is not supported (store it dense)")
    }
    var nodes: [ONNXNode] = []
    for (index, protoNode) in graph.node.enumerated() {
      let domain = protoNode.domain.isEmpty ? "ai.onnx" : protoNode.domain
      let name = protoNode.name.isEmpty ? "\(protoNode.opType)_\(index)" : protoNode.name
      var attributes: [String: ONNXAttribute] = [:]
      for attribute in protoNode.attribute {
        attributes[attribute.name] = try Self.decode(attribute, node: "\(protoNode.opType) node \"\(name)\"")
      }
      let node = ONNXNode(
        name: name, opType: protoNode.opType, domain: domain, inputs: protoNode.input, outputs: protoNode.output,
        attributes: attributes)
      guard Self.supportedDomains.contains(domain) else {
        throw ONNXError(node: node, reason: "domain \(domain) is not supported (only ai.onnx and ai.onnx.ml)")
      }
      if node.opType == "Constant", domain == "ai.onnx" {
        guard let output = node.outputs.first else { continue }
        switch node.attributes["value"] {
        case .tensor(let tensor): constants[output] = tensor
        case .float(let value): constants[output] = Tensor(shape: [], values: [value])
        case .floats(let values): constants[output] = Tensor(shape: [values.count], values: values)
        case .int(let value): constants[output] = Tensor(shape: [], values: [Double(value)])
        case .ints(let values): constants[output] = Tensor(shape: [values.count], values: values.map(Double.init))
        default:
          if case .some(let protoValue) = protoNode.attribute.first(where: { $0.name == "value" }), protoValue.hasT {
            otherConstants[output] = Self.typeName(protoValue.t.dataType)
          } else {
            throw ONNXError(node: node, reason: "only value, value_float(s) and value_int(s) constants are supported")
          }
        }
        continue
      }
      nodes.append(node)
    }
    let initializerNames = Set(graph.initializer.map(\.name))
    let inputs = graph.input.filter { !initializerNames.contains($0.name) }
    guard inputs.count == 1, let input = inputs.first else {
      throw ONNXError(
        node: nil,
        reason: "the graph has \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))); one is supported"
      )
    }
    guard
      input.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue)
        || input.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.double.rawValue)
    else {
      throw ONNXError(
        node: nil,
        reason:
          "input \"\(input.name)\" is \(Self.typeName(input.type.tensorType.elemType)); float or double is supported")
    }
    let dims = input.type.tensorType.shape.dim
    guard dims.count >= 1 else {
      throw ONNXError(node: nil, reason: "input \"\(input.name)\" has no shape; export with a fixed input shape")
    }
    var shape: [Int] = []
    for (axis, dim) in dims.enumerated() {
      if case .dimValue(let value)? = dim.value, value > 0 {
        shape.append(Int(value))
      } else if axis == 0 {
        shape.append(-1)
      } else {
        let name = dim.dimParam.isEmpty ? "?" : dim.dimParam
        throw ONNXError(
          node: nil,
          reason:
            "input \"\(input.name)\" has dynamic dimension \(axis) (\(name)); only the first (batch) dimension may be dynamic"
        )
      }
    }
    // The first dimension is the batch whenever there are others (a dynamic or unit size); a
    // rank-1 input is one sample.
    if shape.count >= 2 {
      guard shape[0] == -1 || shape[0] == 1 else {
        throw ONNXError(
          node: nil,
          reason:
            "input \"\(input.name)\" has a fixed batch of \(shape[0]); export with a dynamic or unit batch dimension")
      }
      shape.removeFirst()
    } else if shape[0] == -1 {
      throw ONNXError(node: nil, reason: "input \"\(input.name)\" is one dynamic dimension; give the features' count")
    }
    guard shape.reduce(1, *) <= 1 << 20 else {
      throw ONNXError(node: nil, reason: "input \"\(input.name)\" has \(shape.reduce(1, *)) values; at most 2^20")
    }
    self.inputName = input.name
    self.inputShape = shape
    self.nodes = nodes
    self.constants = constants
    self.otherConstants = otherConstants
    self.outputNames = graph.output.map(\.name)
    self.opsets = opsets
    self.producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
  }

  enum DecodedTensor {
    case numeric(Tensor)
    case other(String)
  }

  /// Decodes a tensor in every encoding exporters write: `raw_data` (little-endian), or the typed
  /// fields (`float_data`, `double_data`, `int64_data`, `int32_data`, which also carries the
  /// small integer types).
  static func decode(_ tensor: Onnx_TensorProto, name: String, node: String?) throws(ONNXError) -> DecodedTensor {
    let owner = node.map { "\($0): " } ?? ""
    if tensor.dataLocation == .external || !tensor.externalData.isEmpty {
      throw ONNXError(
        node: nil,
        reason:
          "\(owner)tensor \"\(name)\" is stored in an external data file; save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))"
      )
    }
    guard tensor.dims.allSatisfy({ $0 >= 0 }) else {
      throw ONNXError(node: nil, reason: "\(owner)tensor \"\(name)\" has a negative dimension")
    }
    let shape = tensor.dims.map { Int($0) }
    var count = 1
    for dimension in shape {
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow, product <= 1 << 28 else {
        throw ONNXError(node: nil, reason: "\(owner)tensor \"\(name)\" is too large (more than 2^28 values)")
      }
      count = product
    }
    typealias DataType = Onnx_TensorProto.DataType
    let type = DataType(rawValue: Int(tensor.dataType))
    let raw = tensor.rawData
    func fromRaw<T>(_ width: Int, _ convert: (UnsafeRawBufferPointer, Int) -> T) throws(ONNXError) -> [T] {
      guard raw.count == count * width else {
        throw ONNXError(
          node: nil,
          reason: "\(owner)tensor \"\(name)\" has \(raw.count) bytes of raw data for \(count) values of \(width) bytes")
      }
      return raw.withUnsafeBytes { bytes in (0..<count).map { convert(bytes, $0 * width) } }
    }
    let values: [Double]
    switch type {
    case .float?:
      values =
        raw.isEmpty
        ? tensor.floatData.map(Double.init)
        : try fromRaw(4) {
          Double(Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))))
        }
    case .double?:
      values =
        raw.isEmpty
        ? tensor.doubleData
        : try fromRaw(8) {
          Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self)))
        }
    case .int64?:
      values =
        raw.isEmpty
        ? tensor.int64Data.map(Double.init)
        : try fromRaw(8) { Double(Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int64.self))) }
    case .int32?:
      values =
        raw.isEmpty
        ? tensor.int32Data.map(Double.init)
        : try fromRaw(4) { Double(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int32.self))) }
    case .int8?:
      values = raw.isEmpty ? tensor.int32Data.map(Double.init) : try fromRaw(1) { Double(Int8(bitPattern: $0[$1])) }
    case .uint8?:
      values = raw.isEmpty ? tensor.int32Data.map(Double.init) : try fromRaw(1) { Double($0[$1]) }
    default:
      return .other(typeName(tensor.dataType))
    }
    guard values.count == count else {
      throw ONNXError(
        node: nil, reason: "\(owner)tensor \"\(name)\" has \(values.count) values for its shape \(shape) (\(count))")
    }
    return .numeric(Tensor(shape: shape, values: values))
  }

  static func decode(_ attribute: Onnx_AttributeProto, node: String) throws(ONNXError) -> ONNXAttribute {
    switch attribute.type {
    case .int: return .int(Int(attribute.i))
    case .float: return .float(Double(attribute.f))
    case .string: return .string(String(decoding: attribute.s, as: UTF8.self))
    case .ints: return .ints(attribute.ints.map { Int($0) })
    case .floats: return .floats(attribute.floats.map(Double.init))
    case .strings: return .strings(attribute.strings.map { String(decoding: $0, as: UTF8.self) })
    case .tensor:
      switch try decode(attribute.t, name: attribute.name, node: node) {
      case .numeric(let tensor): return .tensor(tensor)
      case .other(let type): return .unsupported("a \(type) tensor")
      }
    default: return .unsupported("\(attribute.type)")
    }
  }

  static func typeName(_ dataType: Int32) -> String {
    guard let type = Onnx_TensorProto.DataType(rawValue: Int(dataType)) else { return "type \(dataType)" }
    return "\(type)"
  }
}

/// An ONNX model or node the compiler refuses: which node (when one is to blame), its op, and why.
public struct ONNXError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The node's name and op type, when the refusal is about one node.
  public let nodeName: String?
  public let opType: String?
  public let reason: String

  public init(node: ONNXNode?, reason: String) {
    self.nodeName = node?.name
    self.opType = node?.opType
    self.reason = reason
  }

  public var description: String {
    guard let nodeName, let opType else { return reason }
    return "\(opType) node \"\(nodeName)\": \(reason)"
  }
}
