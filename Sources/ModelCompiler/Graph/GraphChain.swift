public import InferencePrograms

/// An ONNX graph read as the compiler serves it: a chain of layers from the input to the scores,
/// and the classifier head after the scores (Softmax, Sigmoid, ArgMax, ZipMap, …), which becomes
/// the client's output transform.
public struct GraphChain: Sendable {
  let layers: [Layer]
  /// One sample's shape (batch dimension removed).
  public let inputShape: [Int]
  /// Values per sample at the input.
  public var inputCount: Int { inputShape.reduce(1, *) }
  /// Scores per sample.
  public let scoreCount: Int
  /// The head's step applied after decryption.
  public let outputTransform: ScoreTransform
  /// What the head does, for the report (e.g. `Softmax → ArgMax, ZipMap`).
  public let head: String
  /// The ops of the chain in order, for the report.
  public var operations: [String] { layers.map { "\($0.node.opType)" } }

  /// Reads the chain from `model`'s input to its scores.
  /// - Throws: ``ONNXError`` naming the node for branches (a tensor feeding several nodes before
  ///   the scores), nodes with two non-constant inputs, and unsupported ops or attributes.
  public init(model: ONNXModel) throws(ONNXError) {
    var consumers: [String: [Int]] = [:]
    for (index, node) in model.nodes.enumerated() {
      for input in Set(node.inputs) where !input.isEmpty && model.constants[input] == nil {
        consumers[input, default: []].append(index)
      }
    }
    let outputs = Set(model.outputNames)
    var tailMemo: [String: Bool] = [:]
    /// Whether everything computed from `tensor` is classifier head (or nothing at all).
    func isTail(_ tensor: String, depth: Int = 0) -> Bool {
      if let known = tailMemo[tensor] { return known }
      guard depth < 64 else { return false }
      let users = consumers[tensor] ?? []
      let result =
        (outputs.contains(tensor) || !users.isEmpty)
        && users.allSatisfy { index in
          let node = model.nodes[index]
          return SupportedOps.headSet.contains(node.opType)
            && node.outputs.allSatisfy { $0.isEmpty || isTail($0, depth: depth + 1) }
        }
      tailMemo[tensor] = result
      return result
    }

    var current = model.inputName
    var shape = model.inputShape
    var layers: [Layer] = []
    var transform: ScoreTransform?
    var head: [String] = []
    while !isTail(current) {
      let users = consumers[current] ?? []
      guard users.count == 1, let index = users.first else {
        if users.isEmpty {
          throw ONNXError(
            node: nil,
            reason: "tensor \"\(current)\" reaches no output: the graph's outputs are not computed from its input")
        }
        let names = users.map { model.nodes[$0].label }.joined(separator: ", ")
        throw ONNXError(
          node: model.nodes[users[0]],
          reason:
            "tensor \"\(current)\" feeds \(users.count) nodes (\(names)); only a chain is supported (no residual branches)"
        )
      }
      let node = model.nodes[index]
      let reader = NodeReader(node: node, model: model)
      guard let sampleInput = node.inputs.firstIndex(of: current) else { break }
      for (position, input) in node.inputs.enumerated()
      where position != sampleInput && !input.isEmpty && input != current && model.constants[input] == nil
        && model.otherConstants[input] == nil
      {
        throw reader.fail("input \"\(input)\" is computed from the sample too; only one input may carry the sample")
      }
      // A Sigmoid or Softmax whose output only feeds the head is the head's first step.
      if ["Sigmoid", "Softmax", "LogSoftmax"].contains(node.opType), let output = node.outputs.first, isTail(output) {
        transform = ["Sigmoid": .sigmoid, "Softmax": .softmax, "LogSoftmax": .logSoftmax][node.opType]
        head.append(node.opType)
        break
      }
      if ["Softmax", "LogSoftmax"].contains(node.opType) {
        throw reader.fail("softmax inside the network (before other layers) is not supported")
      }
      let (layer, output) = try Layer.make(reader, sampleInput: sampleInput, shape: shape)
      if node.domain == "ai.onnx.ml", node.opType == "LinearClassifier" {
        let post = try reader.string("post_transform", default: "NONE")
        switch post {
        case "NONE": transform = .identity
        case "LOGISTIC": transform = .sigmoid
        case "SOFTMAX": transform = .softmax
        default: throw reader.fail("post_transform \(post) is not supported (NONE, LOGISTIC, SOFTMAX are)")
        }
        head.append("LinearClassifier post_transform \(post)")
        guard !output.isEmpty else { throw reader.fail("has no scores output") }
      }
      if node.domain == "ai.onnx.ml", node.opType == "LinearRegressor" {
        let post = try reader.string("post_transform", default: "NONE")
        guard post == "NONE" else { throw reader.fail("post_transform \(post) is not supported for a regressor") }
      }
      layers.append(layer)
      current = output
      shape = layer.outputShape
      guard layers.count <= 4096 else { throw ONNXError(node: node, reason: "the chain is longer than 4,096 nodes") }
    }
    // The head's first step, when it was not met on the way (a classifier whose scores feed Softmax).
    if transform == nil {
      for index in consumers[current] ?? [] {
        switch model.nodes[index].opType {
        case "Softmax", "LogSoftmax":
          transform = model.nodes[index].opType == "Softmax" ? .softmax : .logSoftmax
          head.append(model.nodes[index].opType)
        case "Sigmoid":
          transform = .sigmoid
          head.append("Sigmoid")
        default: continue
        }
        break
      }
    }
    guard !layers.isEmpty else { throw ONNXError(node: nil, reason: "the graph computes nothing from its input") }
    var rest: [String] = []
    var seen = Set<String>()
    var frontier = [current]
    while let tensor = frontier.popLast() {
      for index in consumers[tensor] ?? [] where seen.insert(model.nodes[index].name).inserted {
        let op = model.nodes[index].opType
        if !head.contains(op) { rest.append(op) }
        frontier.append(contentsOf: model.nodes[index].outputs.filter { !$0.isEmpty })
      }
    }
    self.layers = layers
    self.inputShape = model.inputShape
    self.scoreCount = shape.reduce(1, *)
    self.outputTransform = transform ?? .identity
    self.head = (head + (rest.isEmpty ? [] : [Set(rest).sorted().joined(separator: ", ")])).joined(separator: " → ")
  }

  /// The graph's scores for one sample in float64 (before the head).
  public func scores(_ sample: [Double]) -> [Double] {
    layers.reduce(sample) { $1.apply($0) }
  }
}
