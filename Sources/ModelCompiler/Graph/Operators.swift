import Foundation

/// The float64 semantics of every op the compiler reads, on one sample, following the ONNX
/// operator specification (opsets 7 and later, ai.onnx.ml 1).
extension Layer {
  /// The layer a body node computes when the sample arrives at input `sampleInput` with shape
  /// `shape`, and the name of the output that carries the sample on.
  /// - Throws: ``ONNXError`` naming the node for an unsupported op, attribute or input.
  static func make(_ reader: NodeReader, sampleInput: Int, shape: [Int]) throws(ONNXError) -> (Layer, output: String) {
    let node = reader.node
    let count = shape.reduce(1, *)
    func affine(_ outputShape: [Int], _ map: @escaping @Sendable ([Double]) -> [Double]) -> Layer {
      Layer(node: node, kind: .affine(map), inputShape: shape, outputShape: outputShape)
    }
    func activation(_ activation: Activation) -> Layer {
      Layer(node: node, kind: .activation(activation), inputShape: shape, outputShape: shape)
    }
    let output = node.outputs.first ?? ""
    let otherInputs = node.inputs.enumerated().filter { $0.offset != sampleInput && !$0.element.isEmpty }
    let key = node.domain == "ai.onnx.ml" ? "ml.\(node.opType)" : node.opType
    switch key {
    case "Identity", "Dropout":
      return (affine(shape) { $0 }, output)

    case "Cast":
      let to = try reader.int("to", default: 1)
      // FLOAT, DOUBLE, FLOAT16, BFLOAT16: the value is kept (the encrypted program computes in
      // reals); integer casts would round.
      guard [1, 11, 10, 16].contains(to) else {
        throw reader.fail(
          "a cast to integer type \(to) inside the network rounds values; only float casts are supported")
      }
      return (affine(shape) { $0 }, output)

    case "Relu": return (activation(.relu), output)
    case "Sigmoid": return (activation(.sigmoid), output)
    case "Tanh": return (activation(.tanh), output)
    case "Softplus": return (activation(.softplus), output)
    case "LeakyRelu": return (activation(.leakyRelu(alpha: try reader.float("alpha", default: 0.01))), output)
    case "Clip":
      var lower = try reader.float("min", default: -.infinity)
      var upper = try reader.float("max", default: .infinity)
      if let t = try reader.constant(1) { lower = t.values.first ?? lower }
      if let t = try reader.constant(2) { upper = t.values.first ?? upper }
      guard lower.isFinite || upper.isFinite else { return (affine(shape) { $0 }, output) }
      return (activation(.clip(lower: lower, upper: upper)), output)
    case "Pow":
      guard sampleInput == 0, let exponent = try reader.constant(1), exponent.count == 1, exponent.values[0] == 2 else {
        throw reader.fail("only Pow(x, 2) with a constant exponent 2 is supported")
      }
      return (activation(.square), output)

    case "Add", "Sub", "Mul", "Div":
      if node.inputs.count == 2, node.inputs[0] == node.inputs[1] {
        switch node.opType {
        case "Mul": return (activation(.square), output)
        case "Add": return (affine(shape) { $0.map { 2 * $0 } }, output)
        case "Sub": return (affine(shape) { $0.map { _ in 0 } }, output)
        default: throw reader.fail("Div(x, x) is not supported")
        }
      }
      guard otherInputs.count == 1 else { throw reader.fail("needs two inputs, one of them constant") }
      let constant = try reader.requiredConstant(otherInputs[0].offset, "constant")
      let c = try broadcast(constant, to: shape, reader: reader)
      let sampleFirst = sampleInput == 0
      switch node.opType {
      case "Add": return (affine(shape) { x in zip(x, c).map { $0 + $1 } }, output)
      case "Sub":
        return (affine(shape) { x in sampleFirst ? zip(x, c).map { $0 - $1 } : zip(x, c).map { $1 - $0 } }, output)
      case "Mul": return (affine(shape) { x in zip(x, c).map { $0 * $1 } }, output)
      default:
        guard sampleFirst else { throw reader.fail("dividing a constant by the sample is not affine") }
        guard c.allSatisfy({ $0 != 0 && $0.isFinite }) else { throw reader.fail("divides by zero") }
        return (affine(shape) { x in zip(x, c).map { $0 / $1 } }, output)
      }

    case "Gemm":
      guard sampleInput == 0 else { throw reader.fail("the sample must be Gemm's first input (A)") }
      try reader.require("transA", in: [0], default: 0, because: "A must be the batch of samples, not transposed")
      guard shape.count == 1 else { throw reader.fail("A must be a matrix of samples (flatten the sample first)") }
      let b = try reader.requiredConstant(1, "B")
      let transB = try reader.int("transB", default: 0) != 0
      let alpha = try reader.float("alpha", default: 1)
      let beta = try reader.float("beta", default: 1)
      guard b.shape.count == 2, (transB ? b.shape[1] : b.shape[0]) == count else {
        throw reader.fail("B of shape \(b.shape) does not take \(count) features\(transB ? " (transB = 1)" : "")")
      }
      let m = transB ? b.shape[0] : b.shape[1]
      let bias = try reader.constant(2).map { t throws(ONNXError) in try broadcast(t, to: [m], reader: reader) }
      let weights = b.values
      // Row-major k × m whatever transB says, so that every input feature scales one row (a
      // zero feature, most of a probe's, costs nothing).
      let rowsByFeature =
        transB ? (0..<count).flatMap { i in (0..<m).map { j in weights[j * count + i] } } : weights
      return (
        affine([m]) { x in
          var y = (0..<m).map { beta * (bias?[$0] ?? 0) }
          accumulate(x, rowsByFeature, columns: m, scale: alpha, into: &y)
          return y
        }, output
      )

    case "MatMul":
      guard sampleInput == 0 else { throw reader.fail("the sample must be MatMul's first input (x · W)") }
      let w = try reader.requiredConstant(1, "weight")
      guard let k = shape.last, w.shape.count == 2, w.shape[0] == k else {
        throw reader.fail("a weight of shape \(w.shape) does not multiply a sample of shape \(shape)")
      }
      let m = w.shape[1]
      let rows = count / k
      let weights = w.values
      return (
        affine(Array(shape.dropLast()) + [m]) { x in
          var y = [Double](repeating: 0, count: rows * m)
          for r in 0..<rows {
            var block = [Double](repeating: 0, count: m)
            accumulate(Array(x[(r * k)..<((r + 1) * k)]), weights, columns: m, scale: 1, into: &block)
            for j in 0..<m { y[r * m + j] = block[j] }
          }
          return y
        }, output
      )

    case "Conv":
      return (try convolution(reader, shape: shape), output)
    case "AveragePool", "GlobalAveragePool":
      return (try averagePool(reader, shape: shape, global: node.opType == "GlobalAveragePool"), output)
    case "MaxPool", "GlobalMaxPool":
      throw reader.fail(
        "max pooling has no low-degree polynomial form and is not supported; use AveragePool in the network (and retrain)"
      )

    case "BatchNormalization":
      try reader.require("training_mode", in: [0], default: 0, because: "only inference-mode normalization folds")
      guard shape.count >= 1 else { throw reader.fail("needs a channel dimension") }
      let epsilon = try reader.float("epsilon", default: 1e-5)
      let scale = try reader.requiredConstant(1, "scale").values
      let shift = try reader.requiredConstant(2, "B").values
      let mean = try reader.requiredConstant(3, "mean").values
      let variance = try reader.requiredConstant(4, "var").values
      let channels = shape[0]
      guard [scale, shift, mean, variance].allSatisfy({ $0.count == channels }) else {
        throw reader.fail("scale, B, mean and var need one value per channel (\(channels))")
      }
      let perChannel = count / channels
      let factor = (0..<channels).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
      return (
        affine(shape) { x in
          (0..<count).map { i in
            let c = i / perChannel
            return (x[i] - mean[c]) * factor[c] + shift[c]
          }
        }, output
      )

    case "Flatten":
      let axis = try reader.int("axis", default: 1)
      guard axis == 1 || axis == -shape.count else {
        throw reader.fail("only Flatten with axis 1 (keeping the batch) is supported")
      }
      return (affine([count]) { $0 }, output)

    case "Reshape":
      let target = try reader.requiredConstant(1, "shape").values.map { Int($0) }
      guard let first = target.first, [0, -1, 1].contains(first) else {
        throw reader.fail("the new shape \(target) must keep the batch dimension first (0, -1 or 1)")
      }
      var dims = Array(target.dropFirst())
      for (i, d) in dims.enumerated() where d == 0 {
        guard i < shape.count else { throw reader.fail("a 0 in the new shape \(target) copies a missing dimension") }
        dims[i] = shape[i]
      }
      let unknown = dims.indices.filter { dims[$0] == -1 }
      if first == -1, !unknown.isEmpty {
        throw reader.fail("the new shape \(target) has more than one unknown dimension")
      }
      if unknown.count == 1 {
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        guard known > 0, count % known == 0 else { throw reader.fail("cannot reshape \(shape) to \(target)") }
        dims[unknown[0]] = count / known
      }
      guard unknown.count <= 1, dims.allSatisfy({ $0 >= 1 }), dims.reduce(1, *) == count else {
        throw reader.fail("cannot reshape a sample of shape \(shape) to \(target)")
      }
      return (affine(dims) { $0 }, output)

    case "Transpose":
      guard let perm = try reader.ints("perm"), perm.count == shape.count + 1, perm.first == 0,
        Set(perm) == Set(0...shape.count)
      else {
        throw reader.fail("only a transpose that keeps the batch axis first (perm[0] = 0) is supported")
      }
      let axes = perm.dropFirst().map { $0 - 1 }
      let outputShape = axes.map { shape[$0] }
      var inputStrides = [Int](repeating: 1, count: shape.count)
      for axis in stride(from: shape.count - 2, through: 0, by: -1) {
        inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1]
      }
      // Output position p's source offset in the input.
      var source = [Int](repeating: 0, count: count)
      var index = [Int](repeating: 0, count: shape.count)
      for p in 0..<count {
        source[p] = zip(axes, index).reduce(0) { $0 + $1.1 * inputStrides[$1.0] }
        advance(&index, within: outputShape)
      }
      let sources = source
      return (affine(outputShape) { x in sources.map { x[$0] } }, output)

    case "ml.Scaler":
      let offset = try reader.floats("offset") ?? [0]
      let scale = try reader.floats("scale") ?? [1]
      guard shape.count == 1, [1, count].contains(offset.count), [1, count].contains(scale.count) else {
        throw reader.fail("offset and scale need one value or one per feature (\(count))")
      }
      return (
        affine(shape) { x in
          (0..<count).map { i in
            (x[i] - offset[offset.count == 1 ? 0 : i]) * scale[scale.count == 1 ? 0 : i]
          }
        }, output
      )

    case "ml.LinearClassifier", "ml.LinearRegressor":
      let classifier = node.opType == "LinearClassifier"
      let coefficients = try reader.floats("coefficients") ?? []
      guard shape.count == 1, !coefficients.isEmpty, coefficients.count % count == 0 else {
        throw reader.fail("\(coefficients.count) coefficients do not form rows of \(count) features")
      }
      let rows = coefficients.count / count
      let intercepts = try reader.floats("intercepts") ?? [Double](repeating: 0, count: rows)
      guard intercepts.count == rows else { throw reader.fail("needs one intercept per row (\(rows))") }
      if !classifier {
        let targets = try reader.int("targets", default: 1)
        guard targets == rows else { throw reader.fail("targets = \(targets) but \(rows) coefficient rows") }
      }
      let scoresOutput = classifier ? (node.outputs.count > 1 ? node.outputs[1] : "") : output
      return (
        affine([rows]) { x in
          (0..<rows).map { r in
            var sum = intercepts[r]
            for i in 0..<count { sum += coefficients[r * count + i] * x[i] }
            return sum
          }
        }, scoresOutput
      )

    default:
      if SupportedOps.headSet.contains(node.opType) {
        throw reader.fail("is a classifier-head op and can only come after the scores, not inside the network")
      }
      throw reader.fail("op \(node.domain).\(node.opType) is not supported (supported: \(SupportedOps.summary))")
    }
  }

  /// y[j] += scale · Σ_i x[i] · rows[i·columns + j], skipping zero features.
  private static func accumulate(_ x: [Double], _ rows: [Double], columns: Int, scale: Double, into y: inout [Double]) {
    y.withUnsafeMutableBufferPointer { out in
      rows.withUnsafeBufferPointer { w in
        for (i, value) in x.enumerated() where value != 0 {
          let factor = scale * value
          let row = w.baseAddress! + i * columns
          for j in 0..<columns { out[j] += factor * row[j] }
        }
      }
    }
  }

  /// Conv on a sample of shape [C, H, W]: 2-D, dilation 1, one group.
  private static func convolution(_ reader: NodeReader, shape: [Int]) throws(ONNXError) -> Layer {
    guard shape.count == 3 else { throw reader.fail("only 2-D convolutions of [C, H, W] samples are supported") }
    let weight = try reader.requiredConstant(1, "weight")
    guard weight.shape.count == 4 else { throw reader.fail("only 2-D kernels are supported") }
    let (channels, height, width) = (shape[0], shape[1], shape[2])
    let (outputChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
    try reader.require("group", in: [1], default: 1, because: "grouped and depthwise convolutions are not supported")
    guard weight.shape[1] == channels else {
      throw reader.fail("the kernel takes \(weight.shape[1]) channels, the sample has \(channels)")
    }
    if let dilations = try reader.ints("dilations"), dilations.contains(where: { $0 != 1 }) {
      throw reader.fail("dilations \(dilations) are not supported (only 1)")
    }
    let strides = try reader.ints("strides") ?? [1, 1]
    var pads = try reader.ints("pads") ?? [0, 0, 0, 0]
    guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }), pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
      throw reader.fail("strides and pads must be given for two spatial axes")
    }
    pads = try resolvedPads(
      reader, pads: pads, input: [height, width], kernel: [kernelHeight, kernelWidth], strides: strides)
    let outputHeight = (height + pads[0] + pads[2] - kernelHeight) / strides[0] + 1
    let outputWidth = (width + pads[1] + pads[3] - kernelWidth) / strides[1] + 1
    guard outputHeight >= 1, outputWidth >= 1 else { throw reader.fail("the kernel is larger than the padded image") }
    let bias = try reader.constant(2)?.values ?? [Double](repeating: 0, count: outputChannels)
    guard bias.count == outputChannels else { throw reader.fail("needs one bias per output channel") }
    let kernel = weight.values
    let (top, left, strideY, strideX) = (pads[0], pads[1], strides[0], strides[1])
    return Layer(
      node: reader.node,
      kind: .affine { x in
        let plane = outputHeight * outputWidth
        var y = [Double](repeating: 0, count: outputChannels * plane)
        for m in 0..<outputChannels {
          for p in 0..<plane { y[m * plane + p] = bias[m] }
        }
        // Each nonzero input pixel adds its contribution to the outputs whose windows hold it
        // (a probe's unit vector touches only those).
        y.withUnsafeMutableBufferPointer { out in
          kernel.withUnsafeBufferPointer { w in
            for c in 0..<channels {
              for iy in 0..<height {
                for ix in 0..<width {
                  let value = x[(c * height + iy) * width + ix]
                  if value == 0 { continue }
                  for ky in 0..<kernelHeight {
                    let sy = iy + top - ky
                    guard sy >= 0, sy % strideY == 0, sy / strideY < outputHeight else { continue }
                    for kx in 0..<kernelWidth {
                      let sx = ix + left - kx
                      guard sx >= 0, sx % strideX == 0, sx / strideX < outputWidth else { continue }
                      let position = (sy / strideY) * outputWidth + sx / strideX
                      for m in 0..<outputChannels {
                        out[m * plane + position] +=
                          w[((m * channels + c) * kernelHeight + ky) * kernelWidth + kx] * value
                      }
                    }
                  }
                }
              }
            }
          }
        }
        return y
      }, inputShape: shape, outputShape: [outputChannels, outputHeight, outputWidth],
      convolution: Layer.Convolution(
        inputShape: shape, outputChannels: outputChannels, kernel: (kernelHeight, kernelWidth),
        strides: (strideY, strideX), pads: pads, weights: kernel, bias: bias))
  }

  /// AveragePool (and GlobalAveragePool) on a sample of shape [C, H, W].
  private static func averagePool(_ reader: NodeReader, shape: [Int], global: Bool) throws(ONNXError) -> Layer {
    guard shape.count == 3 else { throw reader.fail("only 2-D pooling of [C, H, W] samples is supported") }
    let (channels, height, width) = (shape[0], shape[1], shape[2])
    var kernel = [height, width]
    var strides = [1, 1]
    var pads = [0, 0, 0, 0]
    var includePad = false
    if !global {
      guard let k = try reader.ints("kernel_shape"), k.count == 2, k.allSatisfy({ $0 >= 1 }) else {
        throw reader.fail("needs kernel_shape for two spatial axes")
      }
      kernel = k
      strides = try reader.ints("strides") ?? [1, 1]
      pads = try reader.ints("pads") ?? [0, 0, 0, 0]
      guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }), pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
        throw reader.fail("strides and pads must be given for two spatial axes")
      }
      try reader.require("ceil_mode", in: [0], default: 0, because: "only floor output sizes are supported")
      if let dilations = try reader.ints("dilations"), dilations.contains(where: { $0 != 1 }) {
        throw reader.fail("dilations \(dilations) are not supported (only 1)")
      }
      includePad = try reader.int("count_include_pad", default: 0) != 0
      pads = try resolvedPads(reader, pads: pads, input: [height, width], kernel: kernel, strides: strides)
    }
    let outputHeight = (height + pads[0] + pads[2] - kernel[0]) / strides[0] + 1
    let outputWidth = (width + pads[1] + pads[3] - kernel[1]) / strides[1] + 1
    guard outputHeight >= 1, outputWidth >= 1 else { throw reader.fail("the window is larger than the padded image") }
    let (top, left) = (pads[0], pads[1])
    let (k, s, countPadding) = (kernel, strides, includePad)
    return Layer(
      node: reader.node,
      kind: .affine { x in
        var y = [Double](repeating: 0, count: channels * outputHeight * outputWidth)
        for c in 0..<channels {
          for oy in 0..<outputHeight {
            for ox in 0..<outputWidth {
              var sum = 0.0
              var n = 0
              for ky in 0..<k[0] {
                let iy = oy * s[0] + ky - top
                for kx in 0..<k[1] {
                  let ix = ox * s[1] + kx - left
                  if iy >= 0, iy < height, ix >= 0, ix < width {
                    sum += x[(c * height + iy) * width + ix]
                    n += 1
                  } else if countPadding {
                    n += 1
                  }
                }
              }
              y[(c * outputHeight + oy) * outputWidth + ox] = n == 0 ? 0 : sum / Double(n)
            }
          }
        }
        return y
      }, inputShape: shape, outputShape: [channels, outputHeight, outputWidth])
  }

  /// Pads from `auto_pad` when it is set (SAME_UPPER, SAME_LOWER, VALID), else the explicit ones.
  private static func resolvedPads(_ reader: NodeReader, pads: [Int], input: [Int], kernel: [Int], strides: [Int])
    throws(ONNXError) -> [Int]
  {
    let autoPad = try reader.string("auto_pad", default: "NOTSET")
    switch autoPad {
    case "NOTSET": return pads
    case "VALID": return [0, 0, 0, 0]
    case "SAME_UPPER", "SAME_LOWER":
      var result = [0, 0, 0, 0]
      for axis in 0..<2 {
        let output = (input[axis] + strides[axis] - 1) / strides[axis]
        let total = max(0, (output - 1) * strides[axis] + kernel[axis] - input[axis])
        let small = total / 2
        let (begin, end) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small)
        result[axis] = begin
        result[axis + 2] = end
      }
      return result
    default: throw reader.fail("auto_pad \(autoPad) is not supported")
    }
  }
}
