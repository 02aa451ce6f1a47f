import ArgumentParser
import CKKS
import Foundation
import Gateway
import Hummingbird
import Logging
import Metrics
import Prometheus

@main
struct Heinfer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "heinfer",
    abstract: "Privacy-preserving inference over RNS-CKKS: the gateway and its tools.",
    subcommands: [Serve.self, Models.self, Infer.self, Keys.self, Bench.self, SelfCheck.self],
    defaultSubcommand: Serve.self)
}

/// `heinfer serve`: the gateway with the bundled models (or a models folder).
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the gateway.",
    discussion: """
      Every option can also be set by environment variable (HEINFER_HOST, HEINFER_PORT, \
      HEINFER_MODELS, HEINFER_WORKERS, HEINFER_QUEUE, HEINFER_STORE, HEINFER_DATABASE, \
      HEINFER_JOB_TTL, HEINFER_API_KEYS, HEINFER_RATE, HEINFER_BURST, HEINFER_MAX_BODY_BYTES, \
      HEINFER_LOG_LEVEL); flags win.
      """)

  @Option(help: "Address to listen on.")
  var host: String = ProcessInfo.processInfo.environment["HEINFER_HOST"] ?? "127.0.0.1"

  @Option(help: "Port to listen on (0 picks a free port).")
  var port: Int = Int(ProcessInfo.processInfo.environment["HEINFER_PORT"] ?? "") ?? 8080

  @Option(help: "Folder of model files (*.json); default: the bundled models.")
  var models: String?

  @Option(help: "Evaluation worker threads (default: one per core).")
  var workers: Int =
    Int(ProcessInfo.processInfo.environment["HEINFER_WORKERS"] ?? "") ?? ProcessInfo.processInfo.activeProcessorCount

  @Option(help: "Jobs that may wait for a worker before requests get 503 UNAVAILABLE.")
  var queue: Int = Int(ProcessInfo.processInfo.environment["HEINFER_QUEUE"] ?? "") ?? 256

  @Option(help: "Job store: sqlite (embedded, survives restarts) or memory.")
  var store: String = ProcessInfo.processInfo.environment["HEINFER_STORE"] ?? "sqlite"

  @Option(help: "SQLite file of the job store.")
  var database: String = ProcessInfo.processInfo.environment["HEINFER_DATABASE"] ?? "heinfer-jobs.sqlite"

  @Option(help: "Seconds a job and its result stay readable after their last change.")
  var jobTTL: Int = Int(ProcessInfo.processInfo.environment["HEINFER_JOB_TTL"] ?? "") ?? 3600

  @Option(help: "API keys as key=tenant pairs separated by commas (keys ≥ 16 characters); none: open mode.")
  var apiKeys: String?

  @Option(help: "Requests per second per tenant (0 disables rate limiting).")
  var rate: Double = Double(ProcessInfo.processInfo.environment["HEINFER_RATE"] ?? "") ?? 50

  @Option(help: "Requests a tenant may make at once before the rate applies.")
  var burst: Double = Double(ProcessInfo.processInfo.environment["HEINFER_BURST"] ?? "") ?? 100

  @Option(help: "Largest request body in bytes (larger ones get 413 before they are read).")
  var maxBodyBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_BODY_BYTES"] ?? "") ?? 16 << 20

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = ProcessInfo.processInfo.environment["HEINFER_LOG_LEVEL"] ?? "info"

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
    guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    guard queue >= 1 else { throw ValidationError("--queue must be at least 1") }
    guard ["sqlite", "memory"].contains(store) else { throw ValidationError("--store must be sqlite or memory") }
    guard jobTTL >= 1 else { throw ValidationError("--job-ttl must be at least 1 second") }
    guard rate >= 0, burst >= 1 else { throw ValidationError("--rate must be ≥ 0 and --burst ≥ 1") }
    guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
    guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
  }

  func run() async throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    var logger = Logger(label: "heinfer")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    let registry: ModelRegistry
    do {
      let folder = models ?? ProcessInfo.processInfo.environment["HEINFER_MODELS"]
      registry = try folder.map { try ModelRegistry(folder: URL(fileURLWithPath: $0)) } ?? ModelRegistry.bundled()
    } catch {
      throw ValidationError("cannot start: \(error)")
    }
    for model in registry.models {
      logger.info("serving model", metadata: ["model_id": "\(model.modelId)", "version": "\(model.version)"])
    }
    let jobs: any JobStore
    if store == "sqlite" {
      do {
        jobs = try SQLiteJobStore(path: database)
      } catch {
        throw ValidationError("cannot start: \(error)")
      }
      // Jobs a previous process accepted but never finished cannot finish now: say so.
      let abandoned = try await jobs.failUnfinishedJobs(
        message: "the gateway restarted before the job finished", now: Date())
      if abandoned > 0 {
        logger.warning("jobs abandoned by a restart marked failed", metadata: ["count": "\(abandoned)"])
      }
      logger.info("job store", metadata: ["kind": "sqlite", "path": "\(database)"])
    } else {
      jobs = InMemoryJobStore()
      logger.info("job store", metadata: ["kind": "memory"])
    }
    let tenants: TenantDirectory
    do {
      tenants = try TenantDirectory(parsing: apiKeys ?? ProcessInfo.processInfo.environment["HEINFER_API_KEYS"] ?? "")
    } catch {
      throw ValidationError("cannot start: \(error)")
    }
    if tenants.isOpen { logger.warning("no API keys configured: open mode, every request is tenant 'public'") }
    let metrics = GatewayMetrics()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
    let pool = WorkerPool(threads: workers, queueCapacity: queue)
    let service = InferenceService(registry: registry, store: jobs, pool: pool, logger: logger, metrics: metrics)
    let cleanup = JobCleanup(store: jobs, keys: service.keys, timeToLive: .seconds(jobTTL), logger: logger)
    let app = try GatewayApplication.make(
      configuration: GatewayConfiguration(
        host: host, port: port, tenants: tenants,
        requestsPerSecond: rate > 0 ? rate : nil, burst: burst, maximumBodyBytes: maxBodyBytes),
      service: service, services: [cleanup], logger: logger)
    // Hummingbird's service group stops on SIGTERM/SIGINT after in-flight requests finish.
    try await app.runService()
    await pool.shutdown()
  }
}

/// `heinfer selfcheck`: the CKKS library self-check.
struct SelfCheck: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selfcheck", abstract: "Verify the CKKS library on this machine and print timings.")

  func run() throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    if !selfCheck() { throw ExitCode(1) }
  }
}
