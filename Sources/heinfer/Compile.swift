import ArgumentParser
import CKKS
import Foundation
import Gateway
import InferencePrograms
import ModelCompiler

/// `heinfer compile`: an ONNX graph into a model file `heinfer serve --models` serves.
struct Compile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile an ONNX model (PyTorch, scikit-learn via skl2onnx) into an encrypted model file.",
    discussion: """
      Runs the graph on the calibration samples (CSV: one sample per row, features in the model's \
      input order, optionally a label column), replaces activations by Chebyshev polynomials on \
      the measured ranges, chooses the layout, the ring degree and primes within the security \
      bounds, and prints what it will cost and how accurate it is. Writes the model file (serve \
      its folder with `heinfer serve --models DIR`) and copies the ONNX file beside it. A model \
      whose approximation loses too much, whose ranges blow up, or that needs more levels than a \
      secure chain gives is refused with the numbers. Exit status: 0 written, 1 refused.
      """)

  @Argument(help: "The ONNX model file.")
  var model: String

  @Option(help: "Calibration samples: CSV, one sample per row (features, then optionally a label).")
  var calibration: String

  @Option(help: "Model id, [a-z][a-z0-9_]{0,63} (default: from the file name).")
  var id: String?

  @Option(help: "Model version, MAJOR.MINOR.PATCH.")
  var version = "1.0.0"

  @Option(help: "latency (one sample per ciphertext) or throughput (as many as the slots hold).")
  var optimize = "latency"

  @Option(help: "The model file to write (its folder is what `heinfer serve --models` takes).")
  var output: String

  @Option(help: "Least fraction of calibration samples whose prediction must survive the approximation.")
  var minAgreement = 0.99

  @Option(help: "Largest accuracy drop on labelled calibration samples, as a fraction (0.005 = half a point).")
  var maxAccuracyLoss = 0.005

  @Option(help: "Largest Chebyshev depth per activation (degree up to 2^depth − 1).")
  var maxActivationDepth = 6

  @Option(help: "Levels of margin added to the least activation depth that meets the targets.")
  var extraActivationDepth = 1

  @Option(help: "Widen each activation's calibrated interval by this fraction of its half-width.")
  var margin = 0.25

  @Option(
    help: """
      Evaluation-key budget in MB as a client uploads them: the smallest ring with one key per baby \
      step if its keys fit, else with power-of-two keys, else the next ring.
      """)
  var maxKeyMb = 100.0

  @Option(help: "Use only this ring degree (8192, 16384 or 32768; default: the smallest that fits the budget).")
  var ringDegree: Int?

  @Flag(
    help: """
      Serve a network whose results carry weight-dependent noise besides the scores (slot \
      networks cannot flood their results; docs/threat-model.md). Without it such a model is not written.
      """)
  var unprotectedResults = false

  func validate() throws {
    guard CompilerOptions.Optimization(rawValue: optimize) != nil else {
      throw ValidationError("--optimize takes latency or throughput")
    }
    guard maxKeyMb > 0 else { throw ValidationError("--max-key-mb must be positive") }
    if let ringDegree, !ParameterPlanner.degrees.contains(ringDegree) {
      throw ValidationError("--ring-degree takes \(ParameterPlanner.degrees.map(String.init).joined(separator: ", "))")
    }
  }

  func run() throws {
    let start = Date()
    let onnx: ONNXModel
    let chain: GraphChain
    let samples: CalibrationSet
    do {
      onnx = try ONNXModel(contentsOf: URL(fileURLWithPath: model))
      chain = try GraphChain(model: onnx)
      guard let text = try? String(contentsOfFile: calibration, encoding: .utf8) else {
        throw CompilationError("cannot read \(calibration)")
      }
      samples = try CalibrationSet(csv: text, featureCount: chain.inputCount)
    } catch {
      print("refused: \(error)")
      throw ExitCode(1)
    }
    let options = CompilerOptions(
      optimization: CompilerOptions.Optimization(rawValue: optimize) ?? .latency, intervalMargin: margin,
      minimumAgreement: minAgreement,
      maximumAccuracyLoss: maxAccuracyLoss, maximumActivationDepth: maxActivationDepth,
      extraActivationDepth: extraActivationDepth, maximumKeyBytes: Int(maxKeyMb * 1e6), ringDegree: ringDegree)
    let compiled: CompiledNetwork
    do {
      compiled = try NetworkCompiler.compile(chain, calibration: samples, options: options)
    } catch {
      print("refused: \(error)")
      throw ExitCode(1)
    }
    let modelURL = URL(fileURLWithPath: model)
    let modelId = id ?? Self.identifier(from: modelURL.deletingPathExtension().lastPathComponent)
    let outputURL = URL(fileURLWithPath: output)
    let sourceName = outputURL.deletingPathExtension().lastPathComponent + ".onnx"
    let report = compiled.report
    var lines = [
      "compiled \(modelURL.lastPathComponent) (\(onnx.producer.isEmpty ? "unknown exporter" : onnx.producer))"
    ]
    lines.append(report.text)

    // A single linear stage is served by the coefficient-encoded linear program: one plaintext
    // product per class instead of rotations, no evaluation keys, and protected results.
    var definition: ModelDefinition?
    // The evaluation keys of what is served: the compiled program's unless a lowering changes them.
    var keyBytes = (uploaded: report.keyBytesUploaded, held: report.keyBytesHeld)
    if case .linear(let layer)? = compiled.network.stages.first, compiled.network.stages.count == 1 {
      definition = Self.linearDefinition(
        layer, compiled: compiled, id: modelId, version: version, description: description(compiled, modelURL))
      if definition != nil { keyBytes = (0, 0) }
      lines.append(
        definition != nil
          ? "lowering: one linear stage, served as kind linear (coefficient encoding, N = 4096, no evaluation keys, "
            + "results masked and flooded) instead of strided_slots"
          : "lowering: one linear stage, but the coefficient encoding cannot flood its results within 10^-3 for inputs "
            + "up to \(compiled.inputBound) (standardize the inputs to use it): served as strided_slots")
    }
    if definition == nil {
      guard unprotectedResults else {
        print(lines.joined(separator: "\n"))
        print(
          "refused: the network's weights are private and slot networks cannot protect their results (they carry "
            + "weight-dependent noise besides the scores; docs/threat-model.md). Pass --unprotected-results to serve it anyway."
        )
        throw ExitCode(1)
      }
      if let cnn = ConvolutionalLowering(chain: chain, calibration: samples),
        let specialized = Self.convolutionalDefinition(
          cnn, compiled: compiled, id: modelId, version: version, description: description(compiled, modelURL),
          batched: options.optimization == .throughput)
      {
        definition = specialized.definition
        keyBytes = (specialized.keyBytes, specialized.heldBytes)
        lines.append(
          "lowering: one convolution of a square image, x², dense, x², dense: served as kind cnn ("
            + (options.optimization == .throughput
              ? "image_batch layout: one ciphertext per kernel position holding many images' windows"
              : "image_windows layout: the client cuts the convolution's windows")
            + ", so the convolution needs no rotation) instead of strided_slots, with \(specialized.keys) evaluation keys, "
            + String(format: "%.1f MB uploaded", Double(specialized.keyBytes) / 1e6))
      }
    }
    if definition == nil {
      let p = compiled.plan.description
      do {
        definition = try ModelFile.definition([
          "model_id": modelId, "version": version, "description": description(compiled, modelURL),
          "kind": "network",
          "network": [
            "source": sourceName, "samples_per_ciphertext": compiled.samplesPerCiphertext,
            "score_bound": compiled.scoreBound, "stages": try ModelFile.json(compiled.network),
            "rotation_keys": compiled.rotationKeys.rawValue,
          ],
          "output_transform": compiled.outputTransform.rawValue,
          "encryption": [
            "poly_modulus_degree": p.degree, "coeff_modulus_bits": p.ciphertextPrimeBits,
            "special_modulus_bits": p.specialPrimeBits, "key_switching_digits": p.keySwitchingDigits,
            "input_scale": p.defaultScale, "result_dropped_bits": 0,
          ],
          "max_batch_size": compiled.samplesPerCiphertext * Self.groupsPerRequest(p),
          "input_bound": max(compiled.inputBound, 1e-6) * 1.5, "result_protection": "none",
        ])
      } catch {
        print("refused: \(error)")
        throw ExitCode(1)
      }
    }
    guard let definition else { throw ExitCode(1) }
    // The gateway's own rules, before anything is written.
    let served: ModelRegistry
    do {
      served = try ModelRegistry(definitions: [(outputURL.lastPathComponent, definition)])
    } catch {
      print(lines.joined(separator: "\n"))
      print("refused: the gateway would not serve the result: \(error)")
      throw ExitCode(1)
    }
    let program = served.models[0].program
    lines.append(
      "served as: \(definition.kind.rawValue), layout \(program.layout.layoutDescription.kind.rawValue), "
        + "\(program.layout.samplesPerCiphertext) sample\(program.layout.samplesPerCiphertext == 1 ? "" : "s") "
        + "per ciphertext, max batch \(definition.maxBatchSize)")
    let trial = Self.trial(served.models[0], sample: samples.samples[0])
    lines.append(trial)
    do {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      try FileManager.default.createDirectory(
        at: outputURL.deletingLastPathComponent(), withIntermediateDirectories: true)
      try encoder.encode(definition).write(to: outputURL)
      if definition.kind == .network || definition.kind == .cnn {
        let copy = outputURL.deletingLastPathComponent().appendingPathComponent(sourceName)
        if copy.standardizedFileURL != modelURL.standardizedFileURL {
          try? FileManager.default.removeItem(at: copy)
          try FileManager.default.copyItem(at: modelURL, to: copy)
        }
      }
    } catch {
      print("cannot write \(output): \(error.localizedDescription)")
      throw ExitCode(1)
    }
    lines.append(
      String(
        format: "wrote %@ in %.1f s; serve it with: heinfer serve --models %@%@", output,
        Date().timeIntervalSince(start), outputURL.deletingLastPathComponent().path,
        Self.servingLimits(uploaded: keyBytes.uploaded, held: keyBytes.held).map { " " + $0 }.joined()))
    print(lines.joined(separator: "\n"))
  }

  func description(_ compiled: CompiledNetwork, _ url: URL) -> String {
    let report = compiled.report
    let accuracy =
      report.approximatedAccuracy.map {
        String(format: " Approximated accuracy on the calibration data %.2f %%.", 100 * $0)
      }
      ?? ""
    return "Compiled by heinfer compile from \(url.lastPathComponent): \(report.operations.joined(separator: " → ")), "
      + "\(report.activations.count) approximated activation\(report.activations.count == 1 ? "" : "s"), "
      + "\(report.depth) levels.\(accuracy)"
  }

  /// A lowercase identifier from a file name.
  static func identifier(from name: String) -> String {
    var id = String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    if id.first.map({ !$0.isLetter }) ?? true { id = "m_" + id }
    return String(id.prefix(64))
  }

  /// The kind `linear` file for a single linear stage: the bundled linear models' parameters
  /// (N = 4096, two 53-bit primes, Δx·Δw = 2^96), with the input scale lowered by the inputs'
  /// range (and the weight scale raised as much) until the program's headroom and flooding checks
  /// pass with a score error bound of at most 10^-3; nil when none does.
  static func linearDefinition(
    _ layer: LayeredNetwork.Linear, compiled: CompiledNetwork, id: String, version: String, description: String
  ) -> ModelDefinition? {
    let weights = (0..<layer.rows).map { Array(layer.row($0)) }
    let inputBound = max(compiled.inputBound, 1e-6) * 1.5
    let start = 78 - max(0, Int(log2(inputBound / 12).rounded(.up)))
    for exponent in stride(from: start, through: 40, by: -1) {
      let definition = try? ModelFile.definition([
        "model_id": id, "version": version, "description": description, "kind": "linear",
        "weights": weights, "bias": layer.bias, "output_transform": compiled.outputTransform.rawValue,
        "encryption": [
          "poly_modulus_degree": 4096, "coeff_modulus_bits": [53, 53], "special_modulus_bits": [Int](),
          // Δx·Δw stays 2^96, as in the bundled files: the flooding noise is sized in those units.
          "input_scale": Double(sign: .plus, exponent: exponent, significand: 1),
          "weight_scale": Double(sign: .plus, exponent: 96 - exponent, significand: 1),
          "result_dropped_bits": 15,
        ],
        "max_batch_size": 1024, "input_bound": inputBound,
      ])
      // Served, and scores within 10^-3 of float64 for inputs within the bound.
      if let definition, let registry = try? ModelRegistry(definitions: [("", definition)]),
        (registry.models[0].program.resultPrivacy?.scoreErrorBound ?? .infinity) <= 1e-3
      {
        return definition
      }
    }
    return nil
  }

  /// The network as the gateway's `cnn` kind on the compiled plan's parameters (its depth is the
  /// same: a product, a square, a product, a square, a product), in the `image_batch` layout when
  /// `batched`, if the gateway serves it; with its key count and upload size.
  static func convolutionalDefinition(
    _ cnn: ConvolutionalLowering, compiled: CompiledNetwork, id: String, version: String, description: String,
    batched: Bool
  ) -> (definition: ModelDefinition, keys: Int, keyBytes: Int, heldBytes: Int)? {
    let p = compiled.plan.description
    guard
      let definition = try? ModelFile.definition([
        "model_id": id, "version": version, "description": description, "kind": "cnn",
        "encrypted_layout": batched ? "image_batch" : "image_windows",
        "convolution": [
          "image_side": cnn.imageSide, "kernel": cnn.kernel, "stride": cnn.stride,
          "weights": cnn.convolutionWeights, "bias": cnn.convolutionBias,
        ],
        "hidden_weights": cnn.hiddenWeights, "hidden_bias": cnn.hiddenBias,
        "weights": cnn.outputWeights, "bias": cnn.outputBias,
        "value_bounds": ["convolution": cnn.convolutionBound, "hidden": cnn.hiddenBound, "scores": cnn.scoreBound],
        "output_transform": compiled.outputTransform.rawValue,
        "encryption": [
          "poly_modulus_degree": p.degree, "coeff_modulus_bits": p.ciphertextPrimeBits,
          "special_modulus_bits": p.specialPrimeBits, "key_switching_digits": p.keySwitchingDigits,
          "input_scale": p.defaultScale, "result_dropped_bits": 0,
        ],
        "max_batch_size": batched ? 64 : 16, "input_bound": max(compiled.inputBound, 1e-6) * 1.5,
        "result_protection": "none",
      ]),
      let registry = try? ModelRegistry(definitions: [("", definition)]),
      let parameters = try? CKKSParameters(p)
    else { return nil }
    let needs = registry.models[0].program.keyRequirements
    let keys = needs.galoisElements.count + (needs.relinearization ? 1 : 0)
    return (
      definition, keys, keys * parameters.seededEvaluationKeyBytes, keys * parameters.evaluationKeyMemoryBytes
    )
  }

  /// One calibration sample encrypted, evaluated and decrypted in process: the measured time and
  /// the error against the float64 program.
  /// The `heinfer serve` flags the model's evaluation keys need beyond the gateway's defaults:
  /// a body that holds their upload (base64 in JSON), in-flight room for it and the keys
  /// deserialized from it, and a per-tenant key budget that holds them as the server keeps them.
  static func servingLimits(uploaded: Int, held: Int) -> [String] {
    let defaults = GatewaySettings()
    func mebibytes(_ bytes: Double) -> Int { Int((bytes / Double(1 << 20)).rounded(.up)) << 20 }
    var flags: [String] = []
    // Base64 takes 4/3, JSON escapes its slashes (1/64 of the characters on average): 5 % of room.
    let body = mebibytes(Double(uploaded) * 4 / 3 * 1.05 + Double(1 << 20))
    let held = mebibytes(Double(held))
    if body > defaults.server.maximumBodyBytes { flags.append("--max-body-bytes \(body)") }
    // A registration holds its body and the keys deserialized from it at once.
    if body + held > defaults.server.maximumInFlightBodyBytes { flags.append("--max-inflight-bytes \(body + held)") }
    if body + held > defaults.server.maximumInFlightBodyBytesPerTenant {
      flags.append("--max-inflight-bytes-per-tenant \(body + held)")
    }
    if held > defaults.maximumKeyBytesPerTenant { flags.append("--max-key-bytes-per-tenant \(held)") }
    return flags
  }

  /// Ciphertexts one request may carry: up to 64, as many as fill three quarters of the gateway's
  /// default body limit (48 MiB) once base64-encoded, and three quarters of one tenant's default
  /// in-flight bytes (128 MiB) with their deserialized form beside the body: seeded ciphertexts at
  /// the input level take N·log2(Q)/8 bytes on the wire and 2·N·(primes)·8 once expanded.
  static func groupsPerRequest(_ description: ParameterDescription) -> Int {
    let defaults = GatewaySettings().server
    let wire = Double(description.degree * description.ciphertextPrimeBits.reduce(0, +)) / 8 * 4 / 3
    let expanded = Double(2 * description.degree * description.ciphertextPrimeBits.count * 8)
    let byBody = 0.75 * Double(defaults.maximumBodyBytes) / wire
    let byMemory = 0.75 * Double(defaults.maximumInFlightBodyBytesPerTenant) / (wire + expanded)
    return max(1, min(64, Int(min(byBody, byMemory))))
  }

  /// Key-switching threads of the trial: as `heinfer serve`'s default.
  static let threads = 2

  static func trial(_ model: CompiledModel, sample: [Double]) -> String {
    do {
      let parameters = model.parameters
      let program = model.program
      let secretKey = KeyGenerator.secretKey(parameters: parameters)
      let needs = program.keyRequirements
      let keys = EvaluationKeys(
        relinearization: needs.relinearization ? try KeyGenerator.relinearizationKey(secretKey: secretKey) : nil,
        galois: needs.galoisElements.isEmpty
          ? nil
          : try KeyGenerator.galoisKeys(
            secretKey: secretKey,
            elements: needs.galoisElements.map { try GaloisElement($0, degree: parameters.degree) }),
        publicKey: needs.publicKey ? KeyGenerator.publicKey(secretKey: secretKey) : nil)
      let encoder = CKKSEncoder(parameters: parameters)
      let plaintexts = try program.layout.encode(
        [sample], with: encoder, scale: model.definition.encryption.inputScale, level: program.inputLevel)
      let encryptor = Encryptor(secretKey: secretKey)
      let inputs = try plaintexts.map { try encryptor.encrypt($0) }
      let start = Date()
      let results = try program.evaluate(
        inputs, sampleCount: 1, keys: keys, evaluator: Evaluator(parameters: parameters, threads: threads))
      let seconds = Date().timeIntervalSince(start)
      let decryptor = Decryptor(secretKey: secretKey)
      let scores = program.layout.scores(
        inResults: try results.map { try decryptor.decrypt($0) }, with: encoder, count: 1)[0]
      let expected = program.plainScores(sample)
      let error = zip(scores, expected).map { abs($0 - $1) }.max() ?? 0
      return String(
        format: "trial: one encrypted sample evaluated in %.3f s on %d thread%@ (%@ build), largest score error %.2e",
        seconds, threads, threads == 1 ? "" : "s", Self.buildKind, error)
    } catch {
      return "trial: the encrypted evaluation failed: \(error)"
    }
  }

  #if DEBUG
    static let buildKind = "debug"
  #else
    static let buildKind = "release"
  #endif
}

/// Model files built as JSON objects and read back through the gateway's own decoder, which
/// refuses anything its rules do not know.
enum ModelFile {
  static func definition(_ object: [String: Any]) throws -> ModelDefinition {
    try ModelDefinition.decode(JSONSerialization.data(withJSONObject: object))
  }

  static func json(_ network: LayeredNetwork) throws -> Any {
    try JSONSerialization.jsonObject(with: JSONEncoder().encode(network))
  }
}
