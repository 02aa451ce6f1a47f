public import CKKS
import Foundation
public import InferencePrograms

/// How the compiler trades latency, throughput and accuracy.
public struct CompilerOptions: Sendable, Equatable {
  public enum Optimization: String, Sendable, CaseIterable {
    /// One sample per ciphertext: the fewest operations per request.
    case latency
    /// As many samples per ciphertext as the slots hold, interleaved: every rotation serves them all.
    case throughput
  }

  public var optimization: Optimization
  /// Each activation's calibrated interval is widened on both sides by this fraction of its
  /// half-width, for inputs a little beyond what calibration saw.
  public var intervalMargin: Double
  /// The least fraction of calibration samples whose prediction from the approximated network
  /// must equal the graph's.
  public var minimumAgreement: Double
  /// The largest drop of accuracy on labelled calibration samples (a fraction: 0.005 = half a point).
  public var maximumAccuracyLoss: Double
  /// The largest Chebyshev depth per activation: degree up to 2^depth − 1.
  public var maximumActivationDepth: Int
  /// The least Chebyshev depth tried (2 by default: degree 3).
  public var minimumActivationDepth: Int
  /// Levels added to the least depth that meets the targets on the calibration samples (within
  /// the maximum): agreement measured on the samples the polynomials were fitted to overstates
  /// the agreement on unseen inputs (on the MNIST models here, 100 % on calibration against 98.7 %
  /// on the test split at degree 7, and 99.2 % at degree 15).
  public var extraActivationDepth: Int
  /// The evaluation keys' budget in bytes as a client uploads them: the compiler takes the first
  /// of (smallest ring, one key per baby step), (smallest ring, power-of-two keys), (next ring, …)
  /// whose keys fit, else the one with the smallest keys.
  public var maximumKeyBytes: Int
  /// Only this ring degree (nil: any, smallest first).
  public var ringDegree: Int?

  public init(
    optimization: Optimization = .latency, intervalMargin: Double = 0.25, minimumAgreement: Double = 0.99,
    maximumAccuracyLoss: Double = 0.005, maximumActivationDepth: Int = 6, minimumActivationDepth: Int = 2,
    extraActivationDepth: Int = 1, maximumKeyBytes: Int = 100_000_000, ringDegree: Int? = nil
  ) {
    self.maximumKeyBytes = maximumKeyBytes
    self.ringDegree = ringDegree
    self.minimumActivationDepth = minimumActivationDepth
    self.extraActivationDepth = extraActivationDepth
    self.optimization = optimization
    self.intervalMargin = intervalMargin
    self.minimumAgreement = minimumAgreement
    self.maximumAccuracyLoss = maximumAccuracyLoss
    self.maximumActivationDepth = maximumActivationDepth
  }
}

/// Samples the float graph runs on to measure each activation's inputs, and the approximated
/// network's agreement with it; labels, when given, also give both accuracies.
public struct CalibrationSet: Sendable {
  public var samples: [[Double]]
  public var labels: [Int]?

  public init(samples: [[Double]], labels: [Int]? = nil) {
    self.samples = samples
    self.labels = labels
  }
}

/// A graph compiled into a ``LayeredNetwork``, its parameters and the report on it.
public struct CompiledNetwork: Sendable {
  public var network: LayeredNetwork
  public var plan: ParameterPlanner.Plan
  /// Samples per ciphertext (1 for latency).
  public var samplesPerCiphertext: Int
  /// Scores are expected within ±scoreBound (twice what calibration saw).
  public var scoreBound: Double
  /// Inputs are expected within ±inputBound (what calibration saw).
  public var inputBound: Double
  /// How the linear stages' baby steps get their keys.
  public var rotationKeys: LinearTransformation.RotationKeys
  public var outputTransform: ScoreTransform
  public var report: CompilationReport

  /// The encrypted program.
  /// - Throws: ``ProgramError`` when the parameters cannot be built or the network does not fit them.
  public func program() throws -> LayeredNetworkProgram {
    let parameters = try CKKSParameters(plan.description)
    return try LayeredNetworkProgram(
      parameters: parameters, network: network, inputScale: plan.description.defaultScale,
      samplesPerCiphertext: samplesPerCiphertext, scoreBound: scoreBound, rotationKeys: rotationKeys)
  }
}

/// A graph the compiler refuses after reading it: calibration problems, approximations that lose
/// too much, or depth beyond the largest secure chain. The message carries the numbers.
public struct CompilationError: Error, Sendable, Equatable, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Compiles a ``GraphChain`` into an encrypted program (docs/models.md, "Serving your own model"):
///
/// 1. runs the float graph on the calibration samples, recording every layer's range;
/// 2. folds each run of affine ops (and the map of the next activation's interval onto [−1, 1])
///    into one linear stage, by probing;
/// 3. replaces each activation by a Chebyshev interpolant on its calibrated interval (widened by
///    the margin), of the least degree 2^k − 1 whose network agrees with the graph, and the
///    square by itself;
/// 4. plans the parameters for the resulting depth and builds the program, which lists the keys.
public enum NetworkCompiler {
  /// - Throws: ``CompilationError`` with the numbers when calibration is unusable, ranges blow
  ///   up, no approximation meets the options' agreement and accuracy, or the depth exceeds the
  ///   largest secure chain (naming the layer where it runs out); ``ProgramError`` when the
  ///   program cannot be built.
  public static func compile(_ chain: GraphChain, calibration: CalibrationSet, options: CompilerOptions = .init())
    throws -> CompiledNetwork
  {
    let d = chain.inputCount
    guard !calibration.samples.isEmpty else { throw CompilationError("calibration needs at least one sample") }
    if let bad = calibration.samples.firstIndex(where: { $0.count != d || !$0.allSatisfy(\.isFinite) }) {
      throw CompilationError(
        "calibration sample \(bad + 1) has \(calibration.samples[bad].count) values (finite numbers expected), the model takes \(d)"
      )
    }
    if let labels = calibration.labels, labels.count != calibration.samples.count {
      throw CompilationError("\(labels.count) labels for \(calibration.samples.count) calibration samples")
    }

    // Segments: runs of affine layers, each followed by one activation (the last run by none).
    var segments: [(affine: [Layer], activation: Layer?)] = []
    var run: [Layer] = []
    for layer in chain.layers {
      if case .activation = layer.kind {
        segments.append((run, layer))
        run = []
      } else {
        run.append(layer)
      }
    }
    segments.append((run, nil))

    // 1. Calibration: every layer's outputs in float64.
    var ranges = [ClosedRange<Double>?](repeating: nil, count: chain.layers.count)
    var activationInputs = [ClosedRange<Double>?](repeating: nil, count: segments.count)
    // Up to 16,384 inputs of each activation, spread over the samples, for the fits.
    var activationSamples = [[Double]](repeating: [], count: segments.count)
    var originalScores: [[Double]] = []
    for sample in calibration.samples {
      var x = sample
      var layerIndex = 0
      for (s, segment) in segments.enumerated() {
        for layer in segment.affine {
          x = layer.apply(x)
          ranges[layerIndex] = widen(ranges[layerIndex], x)
          layerIndex += 1
        }
        if let activation = segment.activation {
          activationInputs[s] = widen(activationInputs[s], x)
          let step = max(1, x.count * calibration.samples.count / 16_384)
          activationSamples[s].append(
            contentsOf: stride(from: originalScores.count % step, to: x.count, by: step).map { x[$0] })
          x = activation.apply(x)
          ranges[layerIndex] = widen(ranges[layerIndex], x)
          layerIndex += 1
        }
      }
      originalScores.append(x)
    }
    var layerRanges: [CompilationReport.LayerRange] = []
    for (layer, range) in zip(chain.layers, ranges) {
      let range = range ?? 0...0
      layerRanges.append(.init(node: layer.node.label, shape: layer.outputShape, range: range))
      guard range.lowerBound.isFinite, range.upperBound.isFinite, max(-range.lowerBound, range.upperBound) <= 1e6 else {
        throw CompilationError(
          "values blow up at \(layer.node.label): calibration saw \(range.lowerBound) … \(range.upperBound) (more than 10^6 in magnitude); check the calibration data's scaling"
        )
      }
    }

    // 2. Affine maps.
    var width = d
    var maps: [LayeredNetwork.Linear?] = []
    for segment in segments {
      if segment.affine.isEmpty {
        maps.append(segment.activation == nil ? nil : AffineProbe.identity(width))
      } else {
        let map = AffineProbe.map(of: segment.affine, inputCount: width)
        width = map.rows
        maps.append(map)
      }
    }
    guard maps.last.flatMap({ $0 }) != nil || segments.count > 1 else {
      throw CompilationError("the graph has no affine layer to compute")
    }
    // A binary classifier with a logistic head scores both classes as s and −s (skl2onnx's
    // LinearClassifier): keep class 1's score, whose sigmoid is its probability.
    var scoreCount = chain.scoreCount
    if chain.outputTransform == .sigmoid, scoreCount > 1 {
      guard scoreCount == 2, let last = maps.last ?? nil, segments.last?.activation == nil,
        zip(last.row(0), last.row(1)).allSatisfy({ $0 == -$1 }), last.bias[0] == -last.bias[1]
      else {
        throw CompilationError(
          "a sigmoid over \(scoreCount) scores (independent probabilities) is not supported; one score, or two of a binary classifier"
        )
      }
      maps[maps.count - 1] = LayeredNetwork.Linear(
        rows: 1, columns: last.columns, weights: Array(last.row(1)), bias: [last.bias[1]])
      originalScores = originalScores.map { [$0[1]] }
      scoreCount = 1
    }

    // 3. Activations: intervals and the least uniform degree that keeps predictions.
    var intervals: [(center: Double, halfWidth: Double)?] = []
    for (s, segment) in segments.enumerated() {
      guard let layer = segment.activation, case .activation(let activation) = layer.kind, activation != .square,
        let range = activationInputs[s]
      else {
        intervals.append(nil)
        continue
      }
      let center = (range.lowerBound + range.upperBound) / 2
      let half = max((range.upperBound - range.lowerBound) / 2, 1e-3) * (1 + options.intervalMargin)
      intervals.append((center, half))
    }
    let originalPredictions = originalScores.map { prediction($0, transform: chain.outputTransform) }
    let originalAccuracy = accuracy(originalPredictions, calibration.labels)
    let scoreScale = originalScores.flatMap { $0 }.reduce(0) { max($0, abs($1)) }

    func network(activationDepth k: Int) -> (LayeredNetwork, [CompilationReport.ActivationFit], [String]) {
      var stages: [LayeredNetwork.Stage] = []
      var fits: [CompilationReport.ActivationFit] = []
      var sources: [String] = []
      for (s, segment) in segments.enumerated() {
        let source = (segment.affine.last ?? segment.activation)?.node.label ?? "input"
        if var map = maps[s] {
          if let interval = intervals[s] {
            map = AffineProbe.normalized(map, center: interval.center, halfWidth: interval.halfWidth)
          }
          stages.append(.linear(map))
          sources.append(source)
        }
        guard let layer = segment.activation, case .activation(let activation) = layer.kind else { continue }
        if activation == .square {
          stages.append(.square)
          sources.append(layer.node.label)
          continue
        }
        let (center, half) = intervals[s]!
        let degree = (1 << k) - 1
        let series = PolynomialFit.fit(
          { activation(center + half * $0) }, degree: degree,
          samples: activationSamples[s].map { ($0 - center) / half })
        var error = 0.0
        for i in 0...2000 {
          let y = -1 + Double(i) / 1000
          error = max(error, abs(series.value(at: y) - activation(center + half * y)))
        }
        stages.append(.chebyshev(series.coefficients))
        sources.append(layer.node.label)
        fits.append(
          .init(
            node: layer.node.label, function: activation.description,
            interval: (center - half)...(center + half), degree: degree, depth: k, maximumError: error))
      }
      return (LayeredNetwork(stages: stages), fits, sources)
    }

    let hasApproximations = intervals.contains { $0 != nil }
    var chosen: (LayeredNetwork, [CompilationReport.ActivationFit], [String], Double, Double?)?
    var attempts: [String] = []
    let firstDepth = max(2, options.minimumActivationDepth)
    func attempt(_ k: Int) -> (LayeredNetwork, [CompilationReport.ActivationFit], [String], Double, Double?, Double) {
      let (candidate, fits, sources) = network(activationDepth: k)
      let sparse = SparseNetwork(candidate)
      let scores = calibration.samples.map { sparse.scores($0) }
      let predictions = scores.map { prediction($0, transform: chain.outputTransform) }
      let agreement: Double
      if chain.outputTransform == .identity, scoreCount == 1 {
        agreement = regressionAgreement(scores, originalScores)
      } else {
        let same = zip(predictions, originalPredictions).filter { $0 == $1 }.count
        agreement = Double(same) / Double(scores.count)
      }
      let approximatedAccuracy = accuracy(predictions, calibration.labels)
      let loss = (originalAccuracy ?? 0) - (approximatedAccuracy ?? 0)
      attempts.append(
        "degree \((1 << k) - 1): agreement \(percent(agreement))"
          + (approximatedAccuracy.map { ", accuracy \(percent($0))" } ?? ""))
      return (candidate, fits, sources, agreement, approximatedAccuracy, loss)
    }
    let lastDepth = max(firstDepth, options.maximumActivationDepth)
    for k in (hasApproximations ? firstDepth : 1)...lastDepth {
      let (candidate, fits, sources, agreement, approximatedAccuracy, loss) = attempt(k)
      if agreement >= options.minimumAgreement, loss <= options.maximumAccuracyLoss {
        chosen = (candidate, fits, sources, agreement, approximatedAccuracy)
        let safer = min(k + max(0, options.extraActivationDepth), lastDepth)
        if hasApproximations, safer > k {
          let (candidate, fits, sources, agreement, approximatedAccuracy, _) = attempt(safer)
          attempts[attempts.count - 1] +=
            " (the least passing degree plus \(safer - k) level\(safer - k == 1 ? "" : "s") of margin)"
          chosen = (candidate, fits, sources, agreement, approximatedAccuracy)
        }
        break
      }
      if !hasApproximations { break }
    }
    guard let (approximated, fits, sources, agreement, approximatedAccuracy) = chosen else {
      throw CompilationError(
        "no approximation keeps the predictions: \(attempts.joined(separator: "; ")) against at least \(percent(options.minimumAgreement)) agreement"
          + (originalAccuracy.map {
            " and at most \(percent(options.maximumAccuracyLoss)) below the graph's accuracy \(percent($0))"
          } ?? "")
          + "; narrow the activations' ranges (retrain with smaller weights or normalization) or allow a larger depth")
    }

    // 4. Parameters, layout and program.
    let sparse = SparseNetwork(approximated)
    let approximatedScores = calibration.samples.map { sparse.scores($0) }
    let scoreBound = 2 * max(scoreScale, approximatedScores.flatMap { $0 }.reduce(0) { max($0, abs($1)) }, 1e-3)
    let inputBound = calibration.samples.flatMap { $0 }.reduce(0) { max($0, abs($1)) }
    var widest = 1
    for case .linear(let layer) in approximated.stages {
      widest = max(widest, padded(layer.rows), padded(layer.columns))
    }
    let depth = approximated.depth
    let allowed = { (plan: ParameterPlanner.Plan) in options.ringDegree.map { plan.description.degree == $0 } ?? true }
    let plans = ParameterPlanner.plans(depth: depth, scoreBound: scoreBound, widestSlots: widest).filter(allowed)
    guard !plans.isEmpty else {
      let fits = { (levels: Int) in
        ParameterPlanner.plans(depth: levels, scoreBound: scoreBound, widestSlots: widest).contains(where: allowed)
      }
      var limit = depth - 1
      while limit > 0, !fits(limit) { limit -= 1 }
      var used = 0
      var culprit = sources.last ?? "the last layer"
      for (stage, source) in zip(approximated.stages, sources) {
        used += LayeredNetwork.depth(of: stage)
        if used > limit {
          culprit = source
          break
        }
      }
      let largest = options.ringDegree ?? ParameterPlanner.degrees.last!
      throw CompilationError(
        "the network needs \(depth) levels; the largest chain within the security bounds (N = \(largest)) gives \(limit), which runs out at \(culprit). Use fewer or lower-degree activations (--max-activation-depth) or fewer layers"
      )
    }
    // The first ring and key choice whose keys fit the budget, else the smallest keys, from the
    // programs' key plans (nothing is encoded). A choice whose keys cannot beat the smallest so
    // far (the same key count on a ring of larger keys) is skipped.
    var candidates: [(compiled: CompiledNetwork, keys: Int, galois: Int, uploaded: Int, held: Int)] = []
    var keyPlans: [String] = []
    var keyCounts: [LinearTransformation.RotationKeys: Int] = [:]
    search: for plan in plans {
      let parameters = try CKKSParameters(plan.description)
      let slots = plan.description.degree / 2
      let samplesPerCiphertext = options.optimization == .latency ? 1 : max(1, slots / widest)
      for rotationKeys in LinearTransformation.RotationKeys.allCases {
        if let count = keyCounts[rotationKeys], let best = candidates.map(\.uploaded).min(),
          count * parameters.seededEvaluationKeyBytes >= best
        {
          continue
        }
        let compiled = CompiledNetwork(
          network: approximated, plan: plan, samplesPerCiphertext: samplesPerCiphertext, scoreBound: scoreBound,
          inputBound: inputBound, rotationKeys: rotationKeys, outputTransform: chain.outputTransform,
          report: CompilationReport(
            operations: chain.operations, head: chain.head, inputShape: chain.inputShape, scoreCount: scoreCount,
            outputTransform: chain.outputTransform, layers: layerRanges, activations: fits,
            stages: approximated.stages.map(CompilationReport.describe), depth: depth, plan: plan,
            samplesPerCiphertext: samplesPerCiphertext, galoisKeyCount: 0, relinearization: false,
            rotationKeys: rotationKeys, keyBytesUploaded: 0, keyBytesHeld: 0, keyPlans: [],
            calibrationCount: calibration.samples.count, agreement: agreement, originalAccuracy: originalAccuracy,
            approximatedAccuracy: approximatedAccuracy, attempts: attempts))
        let requirements = try LayeredNetworkProgram.keyRequirements(
          parameters: parameters, network: approximated, samplesPerCiphertext: samplesPerCiphertext,
          rotationKeys: rotationKeys)
        let keys = requirements.galoisElements.count + (requirements.relinearization ? 1 : 0)
        keyCounts[rotationKeys] = keys
        let uploaded = keys * parameters.seededEvaluationKeyBytes
        keyPlans.append(
          "N = \(plan.description.degree), \(rotationKeys == .powersOfTwo ? "powers of two" : "one key per baby step"): "
            + "\(keys) keys, " + String(format: "%.1f MB", Double(uploaded) / 1e6))
        candidates.append(
          (compiled, keys, requirements.galoisElements.count, uploaded, keys * parameters.evaluationKeyMemoryBytes))
        if uploaded <= options.maximumKeyBytes { break search }
        // Without rotations, the key choice changes nothing.
        if requirements.galoisElements.isEmpty { break }
      }
    }
    let fitting = candidates.last!.uploaded <= options.maximumKeyBytes
    let pick = fitting ? candidates.last! : candidates.min { $0.uploaded < $1.uploaded }!
    if !fitting {
      keyPlans.append(
        String(
          format: "none within the budget of %.1f MB (--max-key-mb): the smallest keys",
          Double(options.maximumKeyBytes) / 1e6))
    }
    var result = pick.compiled
    result.report.galoisKeyCount = pick.galois
    result.report.relinearization = pick.keys > pick.galois
    result.report.keyBytesUploaded = pick.uploaded
    result.report.keyBytesHeld = pick.held
    result.report.keyPlans = keyPlans
    return result
  }

  /// The class a sample's scores predict: the largest score, or for one score whether it is
  /// positive (probability above one half after a sigmoid).
  public static func prediction(_ scores: [Double], transform: ScoreTransform) -> Int {
    if scores.count == 1 { return scores[0] > 0 ? 1 : 0 }
    return scores.indices.max { scores[$0] < scores[$1] } ?? 0
  }

  static func accuracy(_ predictions: [Int], _ labels: [Int]?) -> Double? {
    guard let labels, !labels.isEmpty else { return nil }
    return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
  }

  /// For a regressor: the fraction of samples whose approximated value is within 1 % of the
  /// calibration values' spread of the graph's.
  static func regressionAgreement(_ approximated: [[Double]], _ original: [[Double]]) -> Double {
    let values = original.map { $0[0] }
    let spread = max((values.max() ?? 0) - (values.min() ?? 0), 1e-9)
    return Double(zip(approximated, values).filter { abs($0.0[0] - $0.1) <= 0.01 * spread }.count)
      / Double(values.count)
  }

  static func widen(_ range: ClosedRange<Double>?, _ values: [Double]) -> ClosedRange<Double> {
    var (low, high) = (range?.lowerBound ?? .infinity, range?.upperBound ?? -.infinity)
    for v in values {
      if !(v >= low) { low = v }
      if !(v <= high) { high = v }
    }
    return low <= high ? low...high : -.infinity ... .infinity
  }

  static func padded(_ n: Int) -> Int {
    var p = 1
    while p < n { p *= 2 }
    return p
  }

  static func percent(_ fraction: Double) -> String { String(format: "%.2f %%", 100 * fraction) }
}
