import ArgumentParser
import Foundation
import GatewayAPI
import HEInferenceSDK

#if canImport(Glibc)
  import Glibc
#endif

/// Where the gateway is and how to authenticate, shared by the client commands.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "Gateway URL (or HEINFER_URL).")
  var url: String = ProcessInfo.processInfo.environment["HEINFER_URL"] ?? "http://127.0.0.1:8080"

  @OptionGroup var credentials: APIKeyOptions

  @Option(help: "Seconds to wait for one request's job (a large compiled network's batch takes minutes).")
  var jobTimeout: Double = 600

  func client() throws -> GatewayClient {
    guard let base = URL(string: url), base.scheme == "http" || base.scheme == "https" else {
      throw ValidationError("--url must be an http(s) URL")
    }
    guard jobTimeout > 0, jobTimeout.isFinite else { throw ValidationError("--job-timeout must be positive") }
    return GatewayClient(baseURL: base, apiKey: try credentials.key(), jobTimeout: .seconds(jobTimeout))
  }
}

/// The API key of a client command. Every user of the machine can read a process's arguments, so
/// the key comes from a file (`--api-key-file`) or the environment (`HEINFER_API_KEY`); `--api-key`
/// still works but prints a warning.
struct APIKeyOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "File whose first line is the API key (whitespace around it ignored); or set HEINFER_API_KEY.",
      valueName: "path"))
  var apiKeyFile: String?

  @Option(
    help: """
      API key on the command line, where every user of the machine can read it in the process \
      list (a warning is printed): prefer --api-key-file or HEINFER_API_KEY. With none of the \
      three, no key is sent (a gateway in open mode).
      """)
  var apiKey: String?

  func validate() throws {
    guard apiKeyFile == nil || apiKey == nil else {
      throw ValidationError("give --api-key-file or --api-key, not both")
    }
  }

  /// The key to send: the first line of `--api-key-file`, else `--api-key` (with a warning on
  /// standard error), else `HEINFER_API_KEY`; nil when none is given (open mode).
  func key(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
    if let apiKeyFile {
      let text: String
      do { text = try String(contentsOfFile: apiKeyFile, encoding: .utf8) } catch {
        throw ValidationError("--api-key-file: cannot read \(apiKeyFile)")
      }
      let firstLine =
        text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? ""
      let key = firstLine.trimmingCharacters(in: .whitespacesAndNewlines)
      guard !key.isEmpty else { throw ValidationError("--api-key-file: the first line of \(apiKeyFile) is empty") }
      return key
    }
    if let apiKey {
      FileHandle.standardError.write(Data(Self.commandLineWarning.utf8))
      return apiKey
    }
    return environment["HEINFER_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// What `--api-key` prints on standard error.
  static let commandLineWarning = """
    heinfer: warning: a key given with --api-key is visible to every user of this machine in the \
    process list; set HEINFER_API_KEY or use --api-key-file PATH instead

    """
}

/// The model a client command works with.
struct ModelSelection: ParsableArguments {
  @Option(help: "Model id.")
  var model: String

  @Option(help: "Model version (default: the highest).")
  var version: String?

  /// The model's metadata from the gateway.
  func info(from gateway: GatewayClient) async throws(SDKError) -> ModelInfo {
    try await gateway.model(id: model, version: version)
  }
}

/// Exit statuses of the client commands (documented in `heinfer --help`).
enum ClientExit {
  /// The gateway refused the request (its error code is printed).
  static let refused: Int32 = 2
  /// The gateway could not be reached, or a job did not finish in time.
  static let unreachable: Int32 = 3
  /// The inputs (or the CSV file) are unusable.
  static let badInput: Int32 = 65

  /// Prints `error` on standard error and returns the exit code that matches it.
  static func report(_ error: SDKError) -> ExitCode {
    FileHandle.standardError.write(Data("heinfer: \(error)\n".utf8))
    switch error {
    case .invalidInput, .keyFile: return ExitCode(badInput)
    case .transport, .timeout: return ExitCode(unreachable)
    default: return ExitCode(refused)
    }
  }
}

/// `heinfer models`: the gateway's catalogue.
struct Models: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List the models a gateway serves.")

  @OptionGroup var connection: ConnectionOptions

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  func run() async throws {
    let gateway = try connection.client()
    let models: [ModelInfo]
    do { models = try await gateway.models() } catch { throw ClientExit.report(error) }
    if json {
      let rows = models.map { model in
        [
          "model_id": model.id, "version": model.version, "input_dimension": model.inputDimension,
          "output_dimension": model.outputDimension, "output_transform": model.transform.rawValue,
          "samples_per_ciphertext": model.layout.samplesPerCiphertext,
          "needs_evaluation_keys": model.needsEvaluationKeys,
          "poly_modulus_degree": model.parameters.degree,
        ] as [String: Any]
      }
      let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
      print(String(decoding: data, as: UTF8.self))
      return
    }
    print("model                    version  in → out  transform  N      samples/ct  keys")
    for model in models {
      let name = model.id.padding(toLength: 24, withPad: " ", startingAt: 0)
      let version = model.version.padding(toLength: 8, withPad: " ", startingAt: 0)
      let shape = "\(model.inputDimension) → \(model.outputDimension)".padding(toLength: 9, withPad: " ", startingAt: 0)
      let transform = model.transform.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
      let degree = String(model.parameters.degree).padding(toLength: 6, withPad: " ", startingAt: 0)
      let samples = String(model.layout.samplesPerCiphertext).padding(toLength: 11, withPad: " ", startingAt: 0)
      print("\(name) \(version) \(shape) \(transform) \(degree) \(samples) \(model.needsEvaluationKeys ? "yes" : "no")")
    }
  }
}

/// `heinfer infer`: encrypted (or plain) inference from the command line.
struct Infer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Encrypt inputs locally, run a model on the gateway, decrypt the result.",
    discussion: """
      Inputs come from --input (one sample, comma separated) or --csv (one sample per row; a \
      header row is skipped, and a column named 'label' is used to report accuracy). Samples are \
      batched into as few ciphertexts as the model's layout allows. Exit status: 0 success, \
      \(ClientExit.refused) refused by the gateway, \(ClientExit.unreachable) gateway unreachable \
      or job timeout, \(ClientExit.badInput) unusable input.
      """)

  @OptionGroup var connection: ConnectionOptions

  @OptionGroup var selection: ModelSelection

  @Option(help: "One sample: comma-separated numbers.")
  var input: String?

  @Option(help: "CSV file with one sample per row.")
  var csv: String?

  @Option(help: "Keep the secret key in this file (created owner-only if missing).")
  var keyFile: String?

  @Flag(help: "Use the plaintext route instead (the gateway sees the inputs).")
  var plain = false

  @Flag(help: "Print JSON.")
  var json = false

  func validate() throws {
    guard (input == nil) != (csv == nil) else { throw ValidationError("give exactly one of --input and --csv") }
  }

  /// Samples and optional labels from the options.
  func samples() throws(SDKError) -> (samples: [[Double]], labels: [Int]?) {
    if let input {
      let values = input.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
        throw .invalidInput("--input must be comma-separated numbers")
      }
      return ([values.map { $0! }], nil)
    }
    guard let text = try? String(contentsOfFile: csv!, encoding: .utf8) else {
      throw .invalidInput("cannot read \(csv!)")
    }
    var rows = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",").map(String.init) }
    var labelColumn: Int?
    if let header = rows.first, header.contains(where: { Double($0.trimmingCharacters(in: .whitespaces)) == nil }) {
      labelColumn = header.firstIndex { $0.trimmingCharacters(in: .whitespaces).lowercased() == "label" }
      rows.removeFirst()
    }
    var samples: [[Double]] = []
    var labels: [Int] = []
    for (index, row) in rows.enumerated() {
      var fields = row
      if let labelColumn {
        guard labelColumn < fields.count, let label = Int(fields.remove(at: labelColumn)) else {
          throw .invalidInput("row \(index + 1): no integer label")
        }
        labels.append(label)
      }
      let values = fields.map { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard values.allSatisfy({ $0 != nil }) else { throw .invalidInput("row \(index + 1) is not all numbers") }
      samples.append(values.map { $0! })
    }
    guard !samples.isEmpty else { throw .invalidInput("\(csv!) has no rows") }
    return (samples, labelColumn == nil ? nil : labels)
  }

  /// What a run produced.
  struct Outcome {
    var model: ModelInfo
    var outputs: [[Double]] = []
    var predicted: [Int] = []
    var labels: [Int]?
  }

  func execute(_ gateway: GatewayClient) async throws(SDKError) -> Outcome {
    let (samples, labels) = try samples()
    let info = try await selection.info(from: gateway)
    var outcome = Outcome(model: info, labels: labels)
    if plain {
      for sample in samples {
        let values = try await gateway.inferPlain(model: info.id, version: info.version, inputs: sample)
        outcome.outputs.append(values)
        outcome.predicted.append(Prediction(scores: values, outputs: values).predictedClass)
      }
      return outcome
    }
    if let keyFile { _ = try gateway.session(for: info, keyFile: URL(fileURLWithPath: keyFile)) }
    // Batches of at most max_batch_size samples, with a progress line for long runs.
    let chunk = info.maxBatchSize
    for start in stride(from: 0, to: samples.count, by: chunk) {
      let batch = Array(samples[start..<min(start + chunk, samples.count)])
      let predictions = try await gateway.infer(model: info.id, version: info.version, batch: batch)
      outcome.outputs += predictions.map(\.outputs)
      outcome.predicted += predictions.map(\.predictedClass)
      if samples.count > chunk {
        FileHandle.standardError.write(Data("\rencrypted \(outcome.outputs.count)/\(samples.count) samples".utf8))
      }
    }
    if samples.count > chunk { FileHandle.standardError.write(Data("\n".utf8)) }
    return outcome
  }

  func run() async throws {
    let gateway = try connection.client()
    let outcome: Outcome
    do { outcome = try await execute(gateway) } catch { throw ClientExit.report(error) }
    let accuracy = outcome.labels.map { labels in
      Double(zip(labels, outcome.predicted).filter { $0 == $1 }.count) / Double(labels.count)
    }
    if json {
      var object: [String: Any] = [
        "model_id": outcome.model.id, "version": outcome.model.version, "mode": plain ? "plain" : "encrypted",
        "outputs": outcome.outputs, "predicted_class": outcome.predicted,
      ]
      if let accuracy { object["accuracy"] = accuracy }
      let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    } else {
      for (index, values) in outcome.outputs.enumerated() {
        let formatted = values.map { String(format: "%.9f", $0) }.joined(separator: ", ")
        print(outcome.outputs.count == 1 ? formatted : "\(index): \(formatted)")
      }
      if let accuracy {
        print("accuracy: \(String(format: "%.4f", accuracy)) on \(outcome.outputs.count) samples")
      }
    }
  }
}

/// `heinfer keys`: create (or load) a secret key for a model and show what it produces.
struct Keys: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate or inspect the secret key kept for a model, and the evaluation keys it needs.")

  @OptionGroup var connection: ConnectionOptions

  @OptionGroup var selection: ModelSelection

  @Option(help: "Secret key file (created owner-only if missing).")
  var keyFile: String

  func run() async throws {
    let gateway = try connection.client()
    do {
      let info = try await selection.info(from: gateway)
      let existed = FileManager.default.fileExists(atPath: keyFile)
      let session = try InferenceSession(model: info, keyFile: URL(fileURLWithPath: keyFile))
      print("\(existed ? "loaded" : "created") \(keyFile) for \(info.id) \(info.version)")
      print("parameter fingerprint: \(session.parameters.fingerprint)")
      if info.needsEvaluationKeys {
        let keys = try session.evaluationKeys()
        print("relinearization key: \(keys.relinearization?.count ?? 0) bytes")
        print("Galois keys (elements \(info.galoisElements)): \(keys.galois?.count ?? 0) bytes")
        print("public key (re-randomizes results of private-weight models): \(keys.publicKey?.count ?? 0) bytes")
      } else {
        print("evaluation keys: none needed")
      }
    } catch {
      throw ClientExit.report(error)
    }
  }
}
