import ArgumentParser
import CKKS
import Foundation
import Gateway
import GatewayAPI
@_spi(Benchmarking) import HEInferenceSDK
import Hummingbird
import InferencePrograms
import Logging
import ServiceLifecycle

/// `heinfer bench`: plaintext vs encrypted inference over real HTTP on loopback, per bundled model.
struct Bench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmark plaintext vs encrypted inference over loopback HTTP and write results and charts.",
    discussion: """
      Without --url, a gateway with the bundled models is started in this process on an ephemeral \
      loopback port (real HTTP). Writes <output>/benchmark_results.json (raw), \
      <output>/benchmark_results.md and SVG charts in <output>/benchmarks/. Samples come from \
      datasets/ when present (run from the repository root), else uniform in [-1, 1].
      """)

  @Option(help: "Gateway URL; default: start one in this process.")
  var url: String?

  /// The API key for `--url` (unused by the in-process gateway, which is in open mode).
  @OptionGroup var credentials: APIKeyOptions

  @Option(help: "Requests per latency measurement.")
  var runs: Int = 200

  @Option(help: "Warm-up requests per model (not measured).")
  var warmup: Int = 20

  @Option(help: "Comma-separated model ids (default: every model).")
  var models: String?

  @Option(help: "Concurrent clients for the throughput runs, comma separated.")
  var clients: String = "1,4,16"

  @Option(help: "Requests per throughput run.")
  var throughputRequests: Int = 400

  @Option(help: "Threads each evaluation's key switches may use in the in-process gateway (as heinfer serve).")
  var evaluationThreads: Int = 2

  @Option(
    help: "JSON written by scripts/tenseal_mnist.py --output (TenSEAL's MNIST network on this machine) to include.")
  var tensealResults: String?

  @Option(
    help:
      "Folder with the JSON of one process and of the cluster written by scripts/cluster_demo.sh, to include.")
  var clusterResults: String?

  @Option(
    help: "Folder written by scripts/compiled_models_benchmark.sh (its section.md goes on the page as written).")
  var compiledResults: String?

  @Option(help: "Folder for the results and charts.")
  var output: String = "docs"

  @Option(help: "Measured requests of the reference contract's scenario (12.6 MB each); 0 skips it.")
  var referenceRuns: Int = 50

  @Option(help: "JSON written by scripts/reference_client.py --json (a real SEAL client's timings) to include.")
  var sealClientResults: String?

  func validate() throws {
    guard runs >= 1, warmup >= 0, throughputRequests >= 1, referenceRuns >= 0 else {
      throw ValidationError("--runs and --throughput-requests must be ≥ 1")
    }
    guard !clientCounts.isEmpty else { throw ValidationError("--clients must list positive integers") }
    guard evaluationThreads >= 1 else { throw ValidationError("--evaluation-threads must be at least 1") }
  }

  var clientCounts: [Int] { clients.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } }

  func run() async throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    if let url {
      guard let base = URL(string: url) else { throw ValidationError("--url is not a URL") }
      let apiKey = try credentials.key()
      try await measureAll(
        GatewayClient(baseURL: base, apiKey: apiKey), baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url,
        apiKey: apiKey, gatewayDescription: url)
      return
    }
    var logger = Logger(label: "heinfer-bench")
    logger.logLevel = .warning
    // The default deployment (SQLite store, one worker per core), in a temporary file, open to
    // loopback only, without rate limits.
    let database = FileManager.default.temporaryDirectory.appendingPathComponent("heinfer-bench-\(UUID().uuidString)")
    defer {
      for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
    }
    var settings = GatewaySettings()
    settings.server = GatewayConfiguration(port: 0, tenants: .open, requestsPerSecond: nil)
    settings.sqlitePath = database.path
    settings.evaluationThreads = evaluationThreads
    // The plaintext baseline of models with private weights needs the operator's switch.
    settings.servesPrivateModelsPlain = true
    settings.logLevel = .warning
    let assembly = try await GatewayAssembly.build(settings, logger: logger)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = try assembly.application(onServerRunning: { continuation.yield($0) })
    let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await services.run() }
      var iterator = ports.makeAsyncIterator()
      guard let port = await iterator.next() else { throw ValidationError("the gateway did not start") }
      try await measureAll(
        GatewayClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!), baseURL: "http://127.0.0.1:\(port)",
        gatewayDescription:
          "in-process gateway on 127.0.0.1:\(port) (\(settings.workers) worker threads, "
          + "\(evaluationThreads) threads per key switch, SQLite job store; the plain route serves the models "
          + "with private weights through the operator's switch --plain-private-models)",
        registry: assembly.registry)
      await services.triggerGracefulShutdown()
      try await group.waitForAll()
    }
  }

  // MARK: Measurement

  func measureAll(
    _ gateway: GatewayClient, baseURL: String, apiKey: String? = nil, gatewayDescription: String,
    registry: ModelRegistry? = nil
  ) async throws {
    let wanted = models.map { Set($0.split(separator: ",").map(String.init)) }
    let catalogue: [ModelInfo]
    do { catalogue = try await gateway.models() } catch { throw ClientExit.report(error) }
    // The plaintext baseline needs the plain route, which serves models with private weights only
    // where the operator allows it.
    let refused = catalogue.filter { (wanted?.contains($0.id) ?? true) && !$0.servesPlain }.map(\.id)
    guard refused.isEmpty else {
      throw ValidationError(
        "the gateway does not serve \(refused.joined(separator: ", ")) on the plain route (private weights), which "
          + "the plaintext baseline needs: start it with --plain-private-models, or choose --models that publish "
          + "their weights")
    }
    var reports: [ModelReport] = []
    for model in catalogue where wanted?.contains(model.id) ?? true {
      FileHandle.standardError.write(Data("benchmarking \(model.id) \(model.version)…\n".utf8))
      do {
        var report = try await measure(model, gateway)
        report.protection = try protection(of: model, in: registry)
        reports.append(report)
      } catch let error as SDKError {
        throw ClientExit.report(error)
      }
    }
    var reference: ReferenceReport?
    if referenceRuns > 0 {
      FileHandle.standardError.write(Data("benchmarking the reference contract's scenario…\n".utf8))
      reference = try await ReferenceScenario(
        baseURL: baseURL, apiKey: apiKey, runs: referenceRuns, warmup: min(warmup, 5)
      ).measure()
      if let path = sealClientResults {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        reference?.sealClient = try decoder.decode(
          ReferenceReport.SEALClient.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
      }
    }
    var tenseal: TenSEALReport?
    if let path = tensealResults {
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      tenseal = try decoder.decode(TenSEALReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
    var cluster: ClusterComparison?
    if let folder = clusterResults {
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      func load(_ name: String) throws -> BenchmarkResults {
        try decoder.decode(
          BenchmarkResults.self, from: Data(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent(name)))
      }
      cluster = ClusterComparison(
        singleProcess: try load("single_process.json"), cluster: try load("two_fronts_two_workers.json"))
    }
    let compiledSection = try compiledResults.map {
      try String(contentsOf: URL(fileURLWithPath: $0).appendingPathComponent("section.md"), encoding: .utf8)
    }
    let results = BenchmarkResults(
      date: ISO8601DateFormatter().string(from: Date()), machine: Machine.current(), gateway: gatewayDescription,
      runs: runs, warmup: warmup, models: reports, reference: reference, tenseal: tenseal, cluster: cluster,
      compiledSection: compiledSection)
    try BenchmarkReport(results: results).write(to: URL(fileURLWithPath: output))
    FileHandle.standardError.write(Data("wrote \(output)/benchmark_results.md, .json and benchmarks/*.svg\n".utf8))
  }

  /// Samples for `model`: rows of its data set when present (for a compiled model, of the first
  /// data set whose rows have its feature count), else uniform in [-1, 1].
  func samples(for model: ModelInfo, count: Int) -> [[Double]] {
    let names = [
      "breast_cancer_logistic": "breast_cancer", "wine_multiclass": "wine", "iris_mlp": "iris", "mnist_cnn": "mnist",
      "mnist_cnn_batch": "mnist",
    ]
    // A bundled model's own data set, else (a compiled model) the first whose rows fit.
    let folders = (try? FileManager.default.contentsOfDirectory(atPath: "datasets"))?.sorted() ?? []
    for name in (names[model.id].map { [$0] } ?? []) + folders {
      guard let text = try? String(contentsOfFile: "datasets/\(name)/test.csv", encoding: .utf8) else { continue }
      let rows = text.split(whereSeparator: \.isNewline).dropFirst().map {
        $0.split(separator: ",").dropLast().compactMap { Double(String($0)) }
      }.filter { $0.count == model.inputDimension }
      if !rows.isEmpty { return (0..<count).map { rows[$0 % rows.count] } }
    }
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in
      (0..<model.inputDimension).map { _ in Double.random(in: -1...1, using: &generator) }
    }
  }

  /// Requests per one-sample figure of a layout for throughput.
  static let throughputLayoutRuns = 20

  func measure(_ model: ModelInfo, _ gateway: GatewayClient) async throws -> ModelReport {
    // A layout for throughput (groups of many ciphertexts) costs a full group even for one
    // sample: its one-sample figures take at most 20 requests after 2 warm-ups.
    let forThroughput = model.layout.ciphertextsPerGroup > 1
    let inputs = samples(for: model, count: forThroughput ? min(runs, Self.throughputLayoutRuns) : runs)
    let requestsPerRun = forThroughput ? min(throughputRequests, Self.throughputLayoutRuns) : throughputRequests
    let clock = ContinuousClock()
    // Warm-up (also registers evaluation keys and builds the session).
    for sample in inputs.prefix(max(1, forThroughput ? min(warmup, 2) : warmup)) {
      _ = try await gateway.infer(model: model.id, version: model.version, inputs: sample)
      _ = try await gateway.inferPlain(model: model.id, version: model.version, inputs: sample)
    }
    // Plain, one sample per request.
    var plainLatencies: [Double] = []
    var plainOutputs: [[Double]] = []
    let plainTraffic = TrafficLog()
    for sample in inputs {
      let start = clock.now
      let outputs = try await plainTraffic.record {
        try await gateway.inferPlain(model: model.id, version: model.version, inputs: sample)
      }
      plainLatencies.append((clock.now - start).seconds)
      plainOutputs.append(outputs)
    }
    // Encrypted, one sample per request, with stage timings and errors against the plain route.
    var latencies: [Double] = []
    var stages = [String: Double]()
    var errors: [Double] = []
    let traffic = TrafficLog()
    var ciphertextBytes = (up: 0, down: 0)
    for (sample, plain) in zip(inputs, plainOutputs) {
      var timings = StageTimings()
      let start = clock.now
      let prediction = try await traffic.record {
        try await gateway.infer(model: model.id, version: model.version, batch: [sample], timings: &timings)[0]
      }
      latencies.append((clock.now - start).seconds)
      stages["encode+encrypt", default: 0] += timings.encrypt
      stages["upload+queue", default: 0] += max(0, timings.submit - timings.evaluate)
      stages["evaluate", default: 0] += timings.evaluate
      stages["fetch", default: 0] += timings.wait
      stages["decrypt+decode", default: 0] += timings.decrypt
      errors += zip(prediction.outputs, plain).map { abs($0 - $1) }
      ciphertextBytes = (timings.requestBytes, timings.responseBytes)
    }
    let trafficTotals = traffic.snapshot
    let plainTotals = plainTraffic.snapshot
    // Throughput with concurrent clients.
    var encryptedThroughput: [String: Double] = [:]
    var plainThroughput: [String: Double] = [:]
    for count in clientCounts {
      encryptedThroughput[String(count)] = try await throughput(
        clients: count, requests: requestsPerRun, inputs: inputs
      ) { sample in
        _ = try await gateway.infer(model: model.id, version: model.version, inputs: sample)
      }
      plainThroughput[String(count)] = try await throughput(
        clients: count, requests: requestsPerRun, inputs: inputs
      ) { sample in
        _ = try await gateway.inferPlain(model: model.id, version: model.version, inputs: sample)
      }
    }
    // Batched: as many samples as one request may carry (up to 64 ciphertexts, and for a slow
    // model as many ciphertexts as take about 10 s), best of three.
    let p50 = LatencyStats(latencies).p50 / 1000
    let affordable = max(1, min(64, Int(10 / max(p50, 1e-3))))
    let batchSize = min(model.maxBatchSize, affordable * model.layout.samplesPerCiphertext)
    let batch = samples(for: model, count: batchSize)
    var best = Double.infinity
    for _ in 0..<3 {
      let start = clock.now
      _ = try await gateway.infer(model: model.id, version: model.version, batch: batch)
      best = min(best, (clock.now - start).seconds)
    }
    // A layout with many samples per group of ciphertexts is for throughput: full batches,
    // encrypted beforehand, submitted by 1 and 2 concurrent clients (what the server sustains).
    var preEncrypted: ModelReport.Batched.PreEncrypted?
    if model.layout.ciphertextsPerGroup > 1 {
      let session = try gateway.session(for: model)
      let prepared = try (0..<2).map { _ in try session.encrypt(batch) }
      let requestsPerRun = 12
      var perSecond: [String: Double] = [:]
      for clients in [1, 2] {
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
          for client in 0..<clients {
            group.addTask {
              for request in stride(from: client, to: requestsPerRun, by: clients) {
                let job = try await gateway.submit(
                  encrypted: prepared[request % prepared.count], sampleCount: batch.count, session: session,
                  wait: .seconds(10))
                _ = try await gateway.waitForResult(job)
              }
            }
          }
          try await group.waitForAll()
        }
        perSecond[String(clients)] = Double(requestsPerRun * batch.count) / (clock.now - start).seconds
      }
      preEncrypted = .init(
        requestsPerRun: requestsPerRun, ciphertextBytesPerRequest: prepared[0].reduce(0) { $0 + $1.count },
        predictionsPerSecond: perSecond)
    }
    let requests = max(1, trafficTotals.requests)
    let keys = model.needsEvaluationKeys ? try gateway.session(for: model).evaluationKeys() : (nil, nil, nil)
    return ModelReport(
      modelId: model.id, version: model.version, samplesPerCiphertext: model.layout.samplesPerCiphertext,
      polyModulusDegree: model.parameters.degree,
      evaluationKeyBytes: (keys.0?.count ?? 0) + (keys.1?.count ?? 0) + (keys.2?.count ?? 0),
      encrypted: .init(
        latencyMs: LatencyStats(latencies), stagesMs: stages.mapValues { 1000 * $0 / Double(inputs.count) },
        requestBytes: trafficTotals.requestBytes / requests, responseBytes: trafficTotals.responseBytes / requests,
        ciphertextBytesUp: ciphertextBytes.up, ciphertextBytesDown: ciphertextBytes.down,
        meanAbsoluteError: errors.reduce(0, +) / Double(max(1, errors.count)), maxAbsoluteError: errors.max() ?? 0,
        throughputRps: encryptedThroughput),
      plain: .init(
        latencyMs: LatencyStats(plainLatencies), requestBytes: plainTotals.requestBytes / max(1, plainTotals.requests),
        responseBytes: plainTotals.responseBytes / max(1, plainTotals.requests), throughputRps: plainThroughput),
      batched: .init(
        batchSize: batchSize,
        ciphertexts: model.layout.ciphertextCount(batchSize: batchSize), seconds: best,
        predictionsPerSecond: Double(batchSize) / best, preEncrypted: preEncrypted))
  }

  /// What protecting results costs a model with private weights: its published error bound and,
  /// in process, the time of the protection step (masking, flooding, re-randomization) on one
  /// result ciphertext, median of 50.
  func protection(of model: ModelInfo, in registry: ModelRegistry?) throws -> ModelReport.Protection? {
    guard model.resultsProtected, let bound = model.scoreErrorBound else { return nil }
    var milliseconds: Double?
    if let compiled = registry?.model(id: model.id, version: model.version),
      let program = compiled.program as? CoefficientLinearProgram, let settings = program.privacy
    {
      let parameters = compiled.parameters
      let secretKey = KeyGenerator.secretKey(parameters: parameters)
      let publicKey = KeyGenerator.publicKey(secretKey: secretKey)
      let ciphertext = try Encryptor(secretKey: secretKey).encrypt(
        CKKSEncoder(parameters: parameters).encodeCoefficients([0], level: program.inputLevel))
      let layout = program.linearLayout
      let revealed = (0..<layout.samplesPerCiphertext).flatMap { b in
        (0..<layout.outputDimension).map { layout.scoreIndex(sample: b, score: $0) }
      }
      let evaluator = Evaluator(parameters: parameters)
      let clock = ContinuousClock()
      var times: [Double] = []
      for _ in 0..<50 {
        let start = clock.now
        _ = try evaluator.sanitized(
          ciphertext, revealing: revealed, floodingBits: settings.floodingBits, publicKey: publicKey)
        times.append(1000 * (clock.now - start).seconds)
      }
      milliseconds = times.sorted()[times.count / 2]
    }
    return .init(
      statisticalSecurityBits: model.statisticalSecurityBits ?? 0, scoreErrorBound: bound,
      protectionMs: milliseconds)
  }

  /// Requests per second with `clients` concurrent loops sharing `requests` requests.
  func throughput(
    clients: Int, requests: Int, inputs: [[Double]], _ request: @escaping @Sendable ([Double]) async throws -> Void
  ) async throws -> Double {
    let perClient = max(1, requests / clients)
    let clock = ContinuousClock()
    let start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
      for client in 0..<clients {
        group.addTask {
          for index in 0..<perClient { try await request(inputs[(client * perClient + index) % inputs.count]) }
        }
      }
      try await group.waitForAll()
    }
    return Double(perClient * clients) / (clock.now - start).seconds
  }
}

// MARK: Results

struct LatencyStats: Codable {
  var count: Int
  var mean: Double
  var p50: Double
  var p95: Double
  var p99: Double
  var min: Double

  /// Statistics in milliseconds of durations in seconds.
  init(_ seconds: [Double]) {
    let sorted = seconds.sorted().map { $0 * 1000 }
    count = sorted.count
    func percentile(_ p: Double) -> Double { sorted[Swift.min(sorted.count - 1, Int(Double(sorted.count) * p))] }
    mean = sorted.reduce(0, +) / Double(sorted.count)
    p50 = percentile(0.5)
    p95 = percentile(0.95)
    p99 = percentile(0.99)
    min = sorted[0]
  }
}

struct ModelReport: Codable {
  struct Encrypted: Codable {
    var latencyMs: LatencyStats
    var stagesMs: [String: Double]
    /// Mean HTTP body bytes per request and response (JSON with base64 payloads).
    var requestBytes: Int
    var responseBytes: Int
    /// Serialized ciphertext bytes of one request and one response (before base64).
    var ciphertextBytesUp: Int
    var ciphertextBytesDown: Int
    var meanAbsoluteError: Double
    var maxAbsoluteError: Double
    var throughputRps: [String: Double]
  }

  struct Plain: Codable {
    var latencyMs: LatencyStats
    var requestBytes: Int
    var responseBytes: Int
    var throughputRps: [String: Double]
  }

  /// One request carrying as many samples as the model allows, best of three, client encryption
  /// and decryption included.
  struct Batched: Codable {
    var batchSize: Int
    var ciphertexts: Int
    var seconds: Double
    var predictionsPerSecond: Double
    /// Layouts whose groups span several ciphertexts only.
    var preEncrypted: PreEncrypted?

    /// Full batches encrypted before the clock starts, submitted and fetched by concurrent clients
    /// (HTTP, JSON, validation, evaluation and the result's download; no client cryptography).
    struct PreEncrypted: Codable {
      var requestsPerRun: Int
      var ciphertextBytesPerRequest: Int
      /// Predictions per second by number of concurrent clients.
      var predictionsPerSecond: [String: Double]
    }
  }

  var modelId: String
  var version: String
  var samplesPerCiphertext: Int
  var polyModulusDegree: Int
  /// Serialized bytes of the evaluation keys a session registers (0 when the model needs none).
  var evaluationKeyBytes: Int
  var encrypted: Encrypted
  var plain: Plain
  var batched: Batched
  /// Present for models whose results are protected (private weights).
  var protection: Protection?

  struct Protection: Codable {
    var statisticalSecurityBits: Int
    /// Largest |decrypted − float64| score the model publishes.
    var scoreErrorBound: Double
    /// Median time of the protection step on one result ciphertext (in process only).
    var protectionMs: Double?
  }
}

struct Machine: Codable {
  var cpu: String
  var cores: Int
  var os: String

  static func current() -> Machine {
    let cpuInfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let name =
      cpuInfo.split(separator: "\n").first { $0.hasPrefix("model name") }
      .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
      ?? "unknown CPU"
    return Machine(
      cpu: name, cores: ProcessInfo.processInfo.activeProcessorCount,
      os: ProcessInfo.processInfo.operatingSystemVersionString)
  }
}

struct BenchmarkResults: Codable {
  var date: String
  var machine: Machine
  var gateway: String
  var runs: Int
  var warmup: Int
  var models: [ModelReport]
  /// The reference contract's scenario, when measured.
  var reference: ReferenceReport?
  /// TenSEAL's MNIST network on this machine, when given.
  var tenseal: TenSEALReport?
  /// One process against fronts and workers on PostgreSQL, when given.
  var cluster: ClusterComparison?
  /// The compiled models' section, as scripts/compiled_models_benchmark.sh wrote it.
  var compiledSection: String?
}

/// One process against the cluster, from `scripts/cluster_demo.sh` (a class: it holds results,
/// which may hold one).
final class ClusterComparison: Codable, Sendable {
  let singleProcess: BenchmarkResults
  let cluster: BenchmarkResults

  init(singleProcess: BenchmarkResults, cluster: BenchmarkResults) {
    self.singleProcess = singleProcess
    self.cluster = cluster
  }
}

/// What `scripts/tenseal_mnist.py --output` writes (the fields the report uses).
struct TenSEALReport: Codable {
  struct Stats: Codable {
    var median: Double
    var p90: Double
    var mean: Double
  }
  struct Run: Codable {
    var threads: Int
    var label: String
    var keyBytes: [String: Int]
    var ms: [String: Stats]
    var bytes: [String: [String: Int]]
    var encryptedAccuracy: Double
    var predictionsEqualToPlaintext: Int
    var maxScoreDifference: Double
  }
  var tenseal: String
  var images: Int
  var runs: [Run]
}
