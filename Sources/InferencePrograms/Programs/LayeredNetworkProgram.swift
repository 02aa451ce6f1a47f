public import CKKS
import Foundation

/// A network as the compiler lowers it: affine layers and polynomial activations, applied in
/// order to one sample's feature vector.
public struct LayeredNetwork: Sendable, Equatable {
  /// y = W·x + b with W of `rows × columns` (row-major, `rows · columns` values).
  public struct Linear: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var weights: [Double]
    public var bias: [Double]

    /// - Precondition: `weights.count == rows · columns`, `bias.count == rows`.
    public init(rows: Int, columns: Int, weights: [Double], bias: [Double]) {
      precondition(weights.count == rows * columns && bias.count == rows, "weights fill rows × columns")
      self.rows = rows
      self.columns = columns
      self.weights = weights
      self.bias = bias
    }

    /// Row `r` of W.
    public func row(_ r: Int) -> ArraySlice<Double> { weights[(r * columns)..<((r + 1) * columns)] }

    /// W·x + b in float64.
    public func apply(_ x: [Double]) -> [Double] {
      (0..<rows).map { r in zip(row(r), x).reduce(bias[r]) { $0 + $1.0 * $1.1 } }
    }
  }

  public enum Stage: Sendable, Equatable {
    case linear(Linear)
    /// p(y) = Σ c_k·T_k(y) on every value, the values mapped into [−1, 1] by the linear stage
    /// before it (degree ≥ 1).
    case chebyshev([Double])
    /// y² on every value (exact).
    case square
  }

  public var stages: [Stage]

  public init(stages: [Stage]) {
    self.stages = stages
  }

  /// Features per sample: the first linear stage's columns (0 without one).
  public var inputDimension: Int {
    for case .linear(let layer) in stages { return layer.columns }
    return 0
  }

  /// Scores per sample: the last linear stage's rows (0 without one).
  public var outputDimension: Int {
    for case .linear(let layer) in stages.reversed() { return layer.rows }
    return 0
  }

  /// The rescales one evaluation takes: one per linear stage and per square, and ⌈log2(d + 1)⌉
  /// per Chebyshev stage of degree d.
  public var depth: Int {
    stages.reduce(0) { $0 + Self.depth(of: $1) }
  }

  /// The rescales `stage` takes.
  public static func depth(of stage: Stage) -> Int {
    switch stage {
    case .linear, .square: return 1
    case .chebyshev(let coefficients):
      let degree = coefficients.lastIndex { $0 != 0 } ?? 0
      return Evaluator.chebyshevDepth(degree: max(degree, 1), interval: -1...1)
    }
  }

  /// The scores of one sample in float64, as the encrypted program computes them.
  public func scores(_ sample: [Double]) -> [Double] {
    stages.reduce(sample) { values, stage in
      switch stage {
      case .linear(let layer): return layer.apply(values)
      case .chebyshev(let coefficients):
        let series = ChebyshevSeries(coefficients: coefficients)
        return values.map { series.value(at: $0) }
      case .square: return values.map { $0 * $0 }
      }
    }
  }

  /// Checks that the stages chain: a linear stage first and last, each linear stage's columns the
  /// rows of the one before, finite values, Chebyshev stages of degree 1 … 1023.
  /// - Throws: ``ProgramError/invalidModel(_:)`` naming the stage.
  public func validate() throws(ProgramError) {
    guard case .linear? = stages.first, case .linear? = stages.last else {
      throw .invalidModel("a network starts and ends with a linear stage")
    }
    var width: Int?
    for (index, stage) in stages.enumerated() {
      switch stage {
      case .linear(let layer):
        guard layer.rows >= 1, layer.columns >= 1, layer.weights.count == layer.rows * layer.columns,
          layer.bias.count == layer.rows, layer.weights.allSatisfy(\.isFinite), layer.bias.allSatisfy(\.isFinite)
        else {
          throw .invalidModel("stage \(index): a linear stage needs finite rows × columns weights and rows biases")
        }
        if let width, width != layer.columns {
          throw .invalidModel("stage \(index): \(layer.columns) columns follow a stage of \(width) values")
        }
        width = layer.rows
      case .chebyshev(let coefficients):
        let degree = coefficients.lastIndex { $0 != 0 } ?? 0
        guard coefficients.allSatisfy(\.isFinite), degree >= 1, degree < 1024 else {
          throw .invalidModel("stage \(index): a Chebyshev stage needs finite coefficients of degree 1 … 1023")
        }
      case .square: break
      }
    }
  }
}

/// A ``LayeredNetwork`` evaluated in slots (``StridedSlotsLayout``).
///
/// Each linear stage is a ``LinearTransformation`` (baby-step/giant-step diagonals, hoisted
/// rotations) whose diagonals are encoded at `Δ·q_ℓ / s`, with s the input's scale and q_ℓ the
/// prime the following rescale removes, so its output comes back at exactly Δ; its bias is added
/// at that scale. The first stage takes the input's copies as its baby steps (``StridedSlotsLayout/copyRotation``) when
/// that costs fewer key switches. A Chebyshev stage runs ``Evaluator/evaluateChebyshev(_:series:relinearizationKey:encoder:scale:babySteps:)``
/// on [−1, 1] (the linear stage before it maps its interval there) with result scale Δ; a square
/// multiplies, relinearizes and rescales (scale s²/q_ℓ, which the next linear stage absorbs).
/// Inputs enter at level ``LayeredNetwork/depth``; the result is left at level 0, at scale Δ
/// unless the network ends on a square.
public struct LayeredNetworkProgram: InferenceProgram {
  public let network: LayeredNetwork
  public let slotLayout: StridedSlotsLayout
  public let inputLevel: Int
  public let resultScale: Double
  public let keyRequirements: EvaluationKeyRequirements
  let steps: [Step]
  let encoder: CKKSEncoder

  enum Step: Sendable {
    case linear(LinearTransformation, bias: Plaintext)
    case chebyshev(ChebyshevSeries, scale: Double)
    case square
  }

  /// Compiles `network` for `parameters`.
  /// - Parameters:
  ///   - inputScale: Δ, the clients' encoding scale and the scale of every linear stage's output.
  ///   - samplesPerCiphertext: b, a power of two: samples interleaved in one ciphertext.
  ///   - scoreBound: scores are expected within ±scoreBound (the base prime's headroom check).
  ///   - rotationKeys: the linear stages' baby steps with one key each (fastest) or composed of
  ///     power-of-two rotations (fewest keys, shared by all stages).
  /// - Throws: ``ProgramError/invalidModel(_:)`` for a network that does not chain, does not fit
  ///   the slots, needs more levels than the chain has, or whose scores overflow the base prime.
  public init(
    parameters: CKKSParameters, network: LayeredNetwork, inputScale: Double, samplesPerCiphertext: Int,
    scoreBound: Double, rotationKeys: LinearTransformation.RotationKeys = .perBabyStep
  ) throws(ProgramError) {
    func fail(_ rule: String) -> ProgramError { .invalidModel(rule) }
    try network.validate()
    let b = samplesPerCiphertext
    let slots = parameters.slotCount
    guard b >= 1, b & (b - 1) == 0 else { throw fail("samples per ciphertext must be a power of two") }
    func padded(_ n: Int) -> Int {
      var p = 1
      while p < n { p *= 2 }
      return p
    }
    let widest = network.stages.reduce(padded(network.inputDimension)) { widest, stage in
      guard case .linear(let layer) = stage else { return widest }
      return max(widest, padded(layer.rows), padded(layer.columns))
    }
    guard widest * b <= slots else {
      throw fail("a layer of \(widest) padded values times \(b) samples does not fit \(slots) slots")
    }
    let depth = network.depth
    guard parameters.maximumLevel >= depth else {
      throw fail("the network needs \(depth) rescales; the chain has \(parameters.maximumLevel)")
    }
    let needsKeys = network.stages.contains { if case .linear = $0 { false } else { true } }
    guard !parameters.specialModuli.isEmpty else {
      throw fail("a network needs special primes for its evaluation keys")
    }
    let q = parameters.ciphertextModuli.map { Double($0) }
    let delta = inputScale
    let encoder = CKKSEncoder(parameters: parameters)
    var level = depth
    var scale = delta
    var steps: [Step] = []
    var galois = Set<Int>()
    do {
      for stage in network.stages {
        switch stage {
        case .linear(let layer):
          let matrix = (0..<layer.rows).map { Array(layer.row($0)) }
          let transformation = try LinearTransformation(
            matrix: matrix, encoder: encoder, scale: delta * q[level] / scale, level: level, interleaving: b,
            rotationKeys: rotationKeys,
            rotatedCopies: steps.isEmpty
              && Self.firstStageTakesCopies(matrix, parameters: parameters, interleaving: b, rotationKeys: rotationKeys),
            threads: ProcessInfo.processInfo.activeProcessorCount)
          galois.formUnion(transformation.galoisElements)
          level -= 1
          scale = delta
          let period = padded(layer.rows) * b
          var slotsBias = [Double](repeating: 0, count: slots)
          for copy in stride(from: 0, to: slots, by: period) {
            for (i, value) in layer.bias.enumerated() {
              for j in 0..<b { slotsBias[copy + i * b + j] = value }
            }
          }
          steps.append(.linear(transformation, bias: try encoder.encode(slotsBias, scale: delta, level: level)))
        case .chebyshev(let coefficients):
          steps.append(.chebyshev(ChebyshevSeries(coefficients: coefficients), scale: delta))
          level -= LayeredNetwork.depth(of: stage)
          scale = delta
        case .square:
          steps.append(.square)
          scale = scale * scale / q[level]
          level -= 1
        }
      }
    } catch {
      throw fail("cannot encode the network's weights: \(error)")
    }
    guard scale >= 0x1p20 else {
      throw fail("the result's scale is 2^\(log2(scale)), below 2^20: raise the input scale")
    }
    guard scoreBound * scale < q[0] / 4 else {
      throw fail(
        "scores up to \(scoreBound) at scale 2^\(log2(scale)) overflow a quarter of the base prime (2^\(log2(q[0]).rounded(.down)))"
      )
    }
    self.network = network
    var rotatedCopies = false
    if case .linear(let first, _)? = steps.first { rotatedCopies = first.rotatedCopies }
    self.slotLayout = StridedSlotsLayout(
      slotCount: slots, inputDimension: network.inputDimension, outputDimension: network.outputDimension,
      samplesPerCiphertext: b, inputPeriod: padded(network.inputDimension) * b, copyRotation: rotatedCopies ? 1 : 0)
    self.inputLevel = depth
    self.resultScale = scale
    self.steps = steps
    self.encoder = encoder
    self.keyRequirements = EvaluationKeyRequirements(relinearization: needsKeys, galoisElements: galois.sorted())
  }

  public var layout: any SampleLayout { slotLayout }

  /// A linear stage's estimated time in key switches: a plaintext product of a diagonal costs
  /// about a tenth of one.
  static func cost(_ plan: LinearTransformation.Plan) -> Double {
    plan.keySwitchCost + 0.1 * Double(plan.productCount)
  }

  /// Whether the first linear stage takes the client's rotated copies as its baby steps: when
  /// its input leaves room for two copies or more and that costs less than rotating.
  static func firstStageTakesCopies(
    _ matrix: [[Double]], parameters: CKKSParameters, interleaving b: Int,
    rotationKeys: LinearTransformation.RotationKeys
  ) throws(EvaluationError) -> Bool {
    func padded(_ n: Int) -> Int { n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount) }
    let (rows, columns) = (matrix.count, matrix.first?.count ?? 0)
    guard padded(columns) >= padded(rows), parameters.slotCount / (padded(columns) * b) >= 2 else { return false }
    let rotating = try LinearTransformation.plan(
      matrix: matrix, parameters: parameters, interleaving: b, rotationKeys: rotationKeys)
    let copies = try LinearTransformation.plan(
      matrix: matrix, parameters: parameters, interleaving: b, rotationKeys: rotationKeys, rotatedCopies: true)
    return cost(copies) < cost(rotating)
  }

  /// The evaluation keys the program for these arguments would declare, without encoding its
  /// weights (what choosing between parameters and key forms needs).
  /// - Throws: ``ProgramError/invalidModel(_:)`` for a network that does not chain or fit the slots.
  public static func keyRequirements(
    parameters: CKKSParameters, network: LayeredNetwork, samplesPerCiphertext b: Int,
    rotationKeys: LinearTransformation.RotationKeys = .perBabyStep
  ) throws(ProgramError) -> EvaluationKeyRequirements {
    try network.validate()
    var galois = Set<Int>()
    var first = true
    do {
      for case .linear(let layer) in network.stages {
        let matrix = (0..<layer.rows).map { Array(layer.row($0)) }
        let copies =
          try first
          && firstStageTakesCopies(matrix, parameters: parameters, interleaving: b, rotationKeys: rotationKeys)
        let plan = try LinearTransformation.plan(
          matrix: matrix, parameters: parameters, interleaving: b, rotationKeys: rotationKeys, rotatedCopies: copies)
        galois.formUnion(plan.galoisElements)
        first = false
      }
    } catch {
      throw .invalidModel("cannot plan the network's layers: \(error)")
    }
    let needsRelinearization = network.stages.contains { if case .linear = $0 { false } else { true } }
    return EvaluationKeyRequirements(relinearization: needsRelinearization, galoisElements: galois.sorted())
  }

  /// Results are returned as evaluated: slot networks' noise depends on the weights and is not
  /// flooded (docs/threat-model.md, "Model privacy").
  public var resultPrivacy: ResultPrivacy? { nil }

  public func plainScores(_ sample: [Double]) -> [Double] { network.scores(sample) }

  public func evaluate(_ group: [Ciphertext], sampleCount: Int, keys: EvaluationKeys, evaluator: Evaluator) throws
    -> [Ciphertext]
  {
    var x = try checkedGroup(group)[0]
    guard let galoisKeys = keys.galois else { throw ProgramError.missingKeys("Galois keys") }
    let relinearizationKey = keys.relinearization
    if keyRequirements.relinearization, relinearizationKey == nil {
      throw ProgramError.missingKeys("the relinearization key")
    }
    for step in steps {
      switch step {
      case .linear(let transformation, let bias):
        x = try evaluator.rescale(transformation.apply(x, evaluator: evaluator, keys: galoisKeys))
        x = try evaluator.add(x, bias)
      case .chebyshev(let series, let scale):
        x = try evaluator.evaluateChebyshev(
          x, series: series, relinearizationKey: relinearizationKey!, encoder: encoder, scale: scale)
      case .square:
        x = try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey!))
      }
    }
    if x.level > 0 { x = try evaluator.dropLevel(x, to: 0) }
    return [x]
  }
}

/// The JSON form of a network in model files (docs/models.md, kind `network`): a list of stages,
/// each an object with one key. A linear stage stores its weights dense (`weights`, row-major) or,
/// when fewer than a third are nonzero, as `entries` of `[row, column, value]`.
extension LayeredNetwork: Codable {
  private enum StageKey: String, CodingKey {
    case linear, chebyshev, square
  }

  private enum LinearKey: String, CodingKey {
    case rows, columns, weights, entries, bias
  }

  public init(from decoder: any Decoder) throws {
    var list = try decoder.unkeyedContainer()
    var stages: [Stage] = []
    while !list.isAtEnd {
      let stage = try list.nestedContainer(keyedBy: StageKey.self)
      guard stage.allKeys.count == 1, let key = stage.allKeys.first else {
        throw DecodingError.dataCorruptedError(
          in: list, debugDescription: "a stage is an object with one key: linear, chebyshev or square")
      }
      switch key {
      case .chebyshev: stages.append(.chebyshev(try stage.decode([Double].self, forKey: .chebyshev)))
      case .square: stages.append(.square)
      case .linear:
        let linear = try stage.nestedContainer(keyedBy: LinearKey.self, forKey: .linear)
        let rows = try linear.decode(Int.self, forKey: .rows)
        let columns = try linear.decode(Int.self, forKey: .columns)
        let bias = try linear.decode([Double].self, forKey: .bias)
        guard rows >= 1, columns >= 1, rows <= 1 << 16, columns <= 1 << 16, bias.count == rows else {
          throw DecodingError.dataCorruptedError(
            forKey: .rows, in: linear, debugDescription: "rows and columns in 1 … 65536 and one bias per row")
        }
        var weights: [Double]
        if let dense = try linear.decodeIfPresent([Double].self, forKey: .weights) {
          guard dense.count == rows * columns, !linear.contains(.entries) else {
            throw DecodingError.dataCorruptedError(
              forKey: .weights, in: linear, debugDescription: "weights must hold rows × columns values (and no entries)"
            )
          }
          weights = dense
        } else {
          let entries = try linear.decode([[Double]].self, forKey: .entries)
          weights = [Double](repeating: 0, count: rows * columns)
          for entry in entries {
            guard entry.count == 3, let row = Int(exactly: entry[0]), let column = Int(exactly: entry[1]),
              (0..<rows).contains(row), (0..<columns).contains(column)
            else {
              throw DecodingError.dataCorruptedError(
                forKey: .entries, in: linear, debugDescription: "an entry is [row, column, value] inside the matrix")
            }
            weights[row * columns + column] = entry[2]
          }
        }
        stages.append(.linear(Linear(rows: rows, columns: columns, weights: weights, bias: bias)))
      }
    }
    self.init(stages: stages)
  }

  public func encode(to encoder: any Encoder) throws {
    var list = encoder.unkeyedContainer()
    for stage in stages {
      var container = list.nestedContainer(keyedBy: StageKey.self)
      switch stage {
      case .chebyshev(let coefficients): try container.encode(coefficients, forKey: .chebyshev)
      case .square: _ = container.nestedContainer(keyedBy: LinearKey.self, forKey: .square)
      case .linear(let layer):
        var linear = container.nestedContainer(keyedBy: LinearKey.self, forKey: .linear)
        try linear.encode(layer.rows, forKey: .rows)
        try linear.encode(layer.columns, forKey: .columns)
        let nonzero = layer.weights.indices.filter { layer.weights[$0] != 0 }
        if 3 * nonzero.count < layer.weights.count {
          let entries = nonzero.map { [Double($0 / layer.columns), Double($0 % layer.columns), layer.weights[$0]] }
          try linear.encode(entries, forKey: .entries)
        } else {
          try linear.encode(layer.weights, forKey: .weights)
        }
        try linear.encode(layer.bias, forKey: .bias)
      }
    }
  }
}
