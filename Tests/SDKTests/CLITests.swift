import Dispatch
import Foundation
import Gateway
import TestSupport
import Testing

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

/// The `heinfer` client commands, run as a user runs them (the built executable, next to the test
/// bundle), against a real gateway on an ephemeral port.
@Suite("heinfer CLI")
struct CLITests {
  /// The `heinfer` executable that `swift test` built beside the test bundle.
  static var executable: URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("heinfer")
  }

  struct Run {
    let status: Int32
    let output: String
    let error: String
  }

  /// Runs heinfer on a Dispatch thread: waiting for it must not block Swift's cooperative pool,
  /// which also serves the gateway under test.
  /// `environment` is added to this process's environment for the run.
  static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async {
        continuation.resume(with: Result { try runBlocking(arguments, environment: environment) })
      }
    }
  }

  static func runBlocking(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "HEINFER_API_KEY" }
      .merging(environment) { $1 }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
      error: String(decoding: errorData, as: UTF8.self))
  }

  @Test("models, infer (single, CSV with accuracy, JSON, plain) and keys against a live gateway")
  func commands() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let csv = Repository.url("datasets/wine/test.csv").path
    let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).key").path
    defer { try? FileManager.default.removeItem(atPath: keyFile) }
    // The operator's switch lets the plain route serve wine_multiclass's private weights.
    try await SDKTests.withGateway(plainPrivateModels: true) { _, port in
      let url = ["--url", "http://127.0.0.1:\(port)"]
      let models = try await Self.run(["models"] + url)
      #expect(models.status == 0)
      for id in ["logistic_v1", "breast_cancer_logistic", "wine_multiclass", "iris_mlp"] {
        #expect(models.output.contains(id))
      }
      let single = try await Self.run(
        ["infer", "--model", "logistic_v1", "--input", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"] + url)
      #expect(single.status == 0)
      #expect(abs((Double(single.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) - 0.507289) < 1e-6)
      let batch = try await Self.run(["infer", "--model", "wine_multiclass", "--csv", csv, "--json"] + url)
      #expect(batch.status == 0, "\(batch.error)")
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(batch.output.utf8)) as? [String: Any])
      #expect(object["accuracy"] as? Double == 53.0 / 54.0)
      #expect((object["outputs"] as? [[Double]])?.count == 54)
      let plain = try await Self.run(["infer", "--model", "wine_multiclass", "--csv", csv, "--plain"] + url)
      #expect(plain.output.contains("accuracy: 0.9815"))
      let keys = try await Self.run(["keys", "--model", "iris_mlp", "--key-file", keyFile] + url)
      #expect(keys.status == 0)
      #expect(keys.output.contains("created") && keys.output.contains("Galois keys"))
      let again = try await Self.run(["keys", "--model", "iris_mlp", "--key-file", keyFile] + url)
      #expect(again.output.contains("loaded"))
    }
  }

  @Test(
    "compile, then serve and infer: a scikit-learn pipeline exported by skl2onnx predicts as onnxruntime, encrypted")
  func compileServeInfer() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("compiled-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("sklearn_breast_cancer-1.0.0.json").path
    let arguments = [
      "compile", Repository.url("models/onnx/sklearn_breast_cancer.onnx").path, "--calibration",
      Repository.url("datasets/breast_cancer/raw_calibration.csv").path, "--output", output,
    ]
    // Private weights in a slot network: refused until the operator acknowledges unprotected results.
    let refused = try await Self.run(arguments)
    #expect(refused.status == 1)
    #expect(refused.output.contains("Pass --unprotected-results"), "\(refused.output)")
    #expect(!FileManager.default.fileExists(atPath: output))
    let compiled = try await Self.run(arguments + ["--unprotected-results"])
    #expect(compiled.status == 0, "\(compiled.output)\(compiled.error)")
    for part in ["ops Scaler → LinearClassifier", "output transform sigmoid", "parameters: N = ", "trial:", "wrote"] {
      #expect(compiled.output.contains(part), "the report lacks \(part)")
    }
    #expect(
      FileManager.default.fileExists(atPath: folder.appendingPathComponent("sklearn_breast_cancer-1.0.0.onnx").path))
    // `heinfer serve --models` loads the folder through this registry.
    let registry = try ModelRegistry(folder: folder)
    #expect(registry.models.map(\.modelId) == ["sklearn_breast_cancer"])
    let csv = Repository.url("datasets/breast_cancer/raw_test.csv").path
    try await SDKTests.withGateway(registry: registry) { _, port in
      let run = try await Self.run(
        ["infer", "--model", "sklearn_breast_cancer", "--csv", csv, "--json", "--url", "http://127.0.0.1:\(port)"])
      #expect(run.status == 0, "\(run.error)")
      let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
      // onnxruntime's accuracy on the same 143 samples (models/onnx/sklearn_breast_cancer.expected.json).
      #expect(object["accuracy"] as? Double == 137.0 / 143.0)
    }
  }

  @Test(
    "The bundled mnist_cnn exported as ONNX compiles to the specialized cnn lowering and predicts as the hand-written model, encrypted"
  )
  func compiledConvolutionalNetwork() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("compiled-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("mnist_cnn_onnx-1.0.0.json").path
    let compiled = try await Self.run([
      "compile", Repository.url("models/onnx/mnist_cnn.onnx").path, "--calibration",
      Repository.url("datasets/mnist/calibration.csv").path, "--output", output, "--id", "mnist_cnn_onnx",
      "--unprotected-results",
    ])
    #expect(compiled.status == 0, "\(compiled.output)\(compiled.error)")
    #expect(compiled.output.contains("served as kind cnn"), "\(compiled.output)")
    #expect(compiled.output.contains("served as: cnn, layout image_windows"), "\(compiled.output)")
    let registry = try ModelRegistry(folder: folder)
    let bundled = try ModelRegistry(folder: Repository.url("Sources/Gateway/Models"))
    let handWritten = try #require(bundled.models.first { $0.modelId == "mnist_cnn" })
    // The first 32 test images: the compiled model's encrypted classes are the hand-written program's.
    let lines = try Repository.text("datasets/mnist/test.csv").split(whereSeparator: \.isNewline)
    let rows = lines.dropFirst().prefix(32)
    let csv = folder.appendingPathComponent("first.csv")
    try ([lines[0]] + rows).joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)
    let expected = rows.map { row in
      let pixels = row.split(separator: ",").dropLast().map { Double($0)! }
      let scores = handWritten.program.plainScores(pixels)
      return scores.indices.max { scores[$0] < scores[$1] }!
    }
    try await SDKTests.withGateway(registry: registry) { _, port in
      let run = try await Self.run(
        ["infer", "--model", "mnist_cnn_onnx", "--csv", csv.path, "--json", "--url", "http://127.0.0.1:\(port)"])
      #expect(run.status == 0, "\(run.error)")
      let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
      #expect(object["predicted_class"] as? [Int] == expected)
    }
  }

  @Test("Errors exit non-zero with a clear message: refused 2, unreachable 3, bad input 65, usage 64")
  func errors() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    try await SDKTests.withGateway { _, port in
      let url = ["--url", "http://127.0.0.1:\(port)"]
      let unknown = try await Self.run(["infer", "--model", "nobody", "--input", "1"] + url)
      #expect(unknown.status == 2)
      #expect(unknown.error.contains("UNKNOWN_MODEL"))
      let zeros = [String](repeating: "0", count: 13).joined(separator: ",")
      let privatePlain = try await Self.run(["infer", "--model", "wine_multiclass", "--input", zeros, "--plain"] + url)
      #expect(privatePlain.status == 2)
      #expect(privatePlain.error.contains("PLAIN_INFERENCE_REFUSED"), "\(privatePlain.error)")
      let badInput = try await Self.run(["infer", "--model", "logistic_v1", "--input", "1,2"] + url)
      #expect(badInput.status == 65)
      #expect(badInput.error.contains("takes 8"))
      let usage = try await Self.run(["infer", "--model", "logistic_v1"] + url)
      #expect(usage.status == 64)
      #expect(usage.error.contains("--input"))
    }
    let unreachable = try await Self.run(["models", "--url", "http://127.0.0.1:9"])
    #expect(unreachable.status == 3)
    #expect(unreachable.error.contains("transport"))
  }

  @Test(
    "bench writes raw JSON, the results page and its SVG charts from a real (short) run, reference scenario included")
  func bench() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let run = try await Self.run([
      "bench", "--runs", "3", "--warmup", "1", "--throughput-requests", "4", "--clients", "1,2",
      "--models", "logistic_v1", "--reference-runs", "2", "--output", folder.path,
    ])
    #expect(run.status == 0, "\(run.error)")
    let data = try Data(contentsOf: folder.appendingPathComponent("benchmark_results.json"))
    let results = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let models = try #require(results["models"] as? [[String: Any]])
    #expect(models.count == 1)
    let encrypted = try #require(models.first?["encrypted"] as? [String: Any])
    #expect((encrypted["request_bytes"] as? Int ?? 0) > 10_000)
    #expect((encrypted["mean_absolute_error"] as? Double ?? 1) < 1e-6)
    #expect((encrypted["throughput_rps"] as? [String: Double])?.keys.sorted() == ["1", "2"])
    let page = try String(contentsOf: folder.appendingPathComponent("benchmark_results.md"), encoding: .utf8)
    #expect(page.contains("logistic_v1: targets"))
    // The reference gateway's own request through /reference: 12.6 MB of hex, a SEAL result.
    let reference = try #require(results["reference"] as? [String: Any])
    #expect((reference["request_bytes"] as? Int ?? 0) > 12_000_000)
    #expect((reference["result_ciphertext_bytes"] as? Int) == 262_257)
    #expect((reference["absolute_error"] as? Double ?? 1) < 1e-4)
    #expect((reference["post_infer_ms"] as? [String: Any])?["count"] as? Int == 2)
    #expect(page.contains("The reference contract: the reference's own request"))
    for chart in ["latency", "sizes", "throughput"] {
      let svg = try String(contentsOf: folder.appendingPathComponent("benchmarks/\(chart).svg"), encoding: .utf8)
      #expect(svg.hasPrefix("<svg") && svg.contains("logistic_v1"))
    }
    let referenceChart = try String(
      contentsOf: folder.appendingPathComponent("benchmarks/reference.svg"), encoding: .utf8)
    #expect(referenceChart.hasPrefix("<svg") && referenceChart.contains("POST /infer"))
  }

  @Test("Client commands read the API key from --api-key-file or HEINFER_API_KEY; --api-key warns")
  func apiKeySources() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let key = "cli-test-key-0123456789"
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("cli-api-key-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: file) }
    // Only the first line counts, without the whitespace around it.
    try "  \(key) \r\nnot-the-key\n".write(to: file, atomically: true, encoding: .utf8)
    let configuration = GatewayConfiguration(
      port: 0, tenants: TenantDirectory(apiKeys: [key: "cli"]), requestsPerSecond: nil)
    try await SDKTests.withGateway(configuration: configuration) { _, port in
      let url = ["--url", "http://127.0.0.1:\(port)"]
      let none = try await Self.run(["models"] + url)
      #expect(none.status == 2, "no key: refused")
      let fromFile = try await Self.run(["models", "--api-key-file", file.path] + url)
      #expect(fromFile.status == 0, "\(fromFile.error)")
      #expect(fromFile.output.contains("logistic_v1"))
      #expect(!fromFile.error.contains("warning"))
      let fromEnvironment = try await Self.run(["models"] + url, environment: ["HEINFER_API_KEY": key])
      #expect(fromEnvironment.status == 0, "\(fromEnvironment.error)")
      #expect(!fromEnvironment.error.contains("warning"))
      let fromCommandLine = try await Self.run(["models", "--api-key", key] + url)
      #expect(fromCommandLine.status == 0, "\(fromCommandLine.error)")
      #expect(fromCommandLine.error.contains("warning: a key given with --api-key is visible to every user"))
      #expect(fromCommandLine.error.contains("HEINFER_API_KEY") && fromCommandLine.error.contains("--api-key-file"))
      let wrongFile = try await Self.run(["models", "--api-key-file", file.path + "-missing"] + url)
      #expect(wrongFile.status == 64 && wrongFile.error.contains("cannot read"), "\(wrongFile.error)")
      let both = try await Self.run(["models", "--api-key-file", file.path, "--api-key", key] + url)
      #expect(both.status == 64 && both.error.contains("not both"), "\(both.error)")
    }
  }

  @Test("serve fails closed: no keys, open mode off loopback and keys on the command line are refused")
  func serveFailsClosed() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let noKeys = try await Self.run(["serve", "--port", "0", "--store", "memory"])
    #expect(noKeys.status != 0 && noKeys.error.contains("no API keys"), "\(noKeys.error)")
    let network = try await Self.run(["serve", "--open", "--host", "0.0.0.0", "--port", "0", "--store", "memory"])
    #expect(network.status != 0 && network.error.contains("loopback"), "\(network.error)")
    let commandLine = try await Self.run(["serve", "--api-keys", "key-of-tenant-a-0001=a", "--store", "memory"])
    #expect(commandLine.status != 0, "API keys are not taken from the command line")
  }

  @Test("serve with a hashed key file authenticates, and stops cleanly on SIGTERM")
  func serveWithKeyFile() async throws {
    try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "heinfer was not built")
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: file) }
    // printf %s 0123456789abcdef-key | sha256sum
    try "# test tenant\nsha256:b3968bdcf7fd8101ac10aef0c1246e9d0f9b25c810d15f5a1f1764beea16f950=a\n"
      .write(to: file, atomically: true, encoding: .utf8)
    let port = 20_000 + Int.random(in: 0..<20_000)
    let process = Process()
    process.executableURL = Self.executable
    process.arguments = [
      "serve", "--api-keys-file", file.path, "--port", "\(port)", "--store", "memory", "--log-level", "warning",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer { if process.isRunning { process.terminate() } }
    func status(_ key: String?) async -> Int? {
      var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/models")!)
      if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
      guard let (_, response) = try? await URLSession.shared.data(for: request) else { return nil }
      return (response as? HTTPURLResponse)?.statusCode
    }
    var started = false
    for _ in 0..<100 where !started {
      started = await status(nil) != nil
      if !started { try await Task.sleep(for: .milliseconds(100)) }
    }
    try #require(started, "the gateway did not start")
    #expect(await status(nil) == 401)
    #expect(await status("0123456789abcdef-kez") == 401)
    #expect(await status("0123456789abcdef-key") == 200)
    process.terminate()  // SIGTERM
    try await Self.blockingWait(process)
    #expect(process.terminationStatus == 0)
  }

  static func blockingWait(_ process: Process) async throws {
    await withCheckedContinuation { continuation in
      DispatchQueue.global().async {
        process.waitUntilExit()
        continuation.resume()
      }
    }
  }
}
