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
    subcommands: [Serve.self, Models.self, Infer.self, Keys.self, Bench.self, Load.self, SelfCheck.self],
    defaultSubcommand: Serve.self)
}

/// `heinfer serve`: the gateway with the bundled models (or a models folder).
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the gateway.",
    discussion: """
      Every option can also be set by environment variable (HEINFER_HOST, HEINFER_PORT, \
      HEINFER_MODELS, HEINFER_WORKERS, HEINFER_QUEUE, HEINFER_STORE, HEINFER_DATABASE, \
      HEINFER_JOB_TTL, HEINFER_API_KEYS_FILE, HEINFER_OPEN=1, HEINFER_RATE, HEINFER_BURST, \
      HEINFER_MAX_BODY_BYTES, HEINFER_MAX_INFLIGHT_BYTES, HEINFER_BODY_TIMEOUT, HEINFER_IDLE_TIMEOUT, \
      HEINFER_MAX_CONNECTIONS, HEINFER_MAX_QUEUED_BYTES, HEINFER_RESULT_RETENTION, HEINFER_MAX_JOBS_PER_TENANT, \
      HEINFER_MAX_RESULT_BYTES_PER_TENANT, HEINFER_MAX_STORE_BYTES, HEINFER_MAX_KEY_BYTES_PER_TENANT, \
      HEINFER_MAX_KEY_BYTES, HEINFER_LOG_LEVEL); flags win. API keys come from a file \
      (--api-keys-file) or from HEINFER_API_KEYS (the same entries separated by commas), never from \
      the command line: key=tenant with a key of at least 16 characters, or sha256:<hex>=tenant with \
      the key's SHA-256 (printf %s KEY | sha256sum). Without keys the gateway refuses to start \
      unless --open is given.
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

  @Option(
    help:
      "File of API keys: key=tenant or sha256:<hex>=tenant, one per line (# starts a comment); default $HEINFER_API_KEYS_FILE."
  )
  var apiKeysFile: String?

  @Flag(help: "Open mode: no API keys, every request is tenant 'public' (local use; loopback only).")
  var open = ProcessInfo.processInfo.environment["HEINFER_OPEN"] == "1"

  @Flag(help: "Let open mode listen on an address other than loopback.")
  var allowOpenOnNetwork = false

  @Option(help: "Requests per second per tenant (0 disables rate limiting).")
  var rate: Double = Double(ProcessInfo.processInfo.environment["HEINFER_RATE"] ?? "") ?? 50

  @Option(help: "Requests a tenant may make at once before the rate applies.")
  var burst: Double = Double(ProcessInfo.processInfo.environment["HEINFER_BURST"] ?? "") ?? 100

  @Option(help: "Largest request body in bytes (larger ones get 413 before they are read).")
  var maxBodyBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_BODY_BYTES"] ?? "") ?? 48 << 20

  @Option(help: "Most request body bytes held at once across all requests (more get 503 and Retry-After).")
  var maxInflightBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_INFLIGHT_BYTES"] ?? "") ?? 256 << 20

  @Option(help: "Seconds to receive one request body (then 408).")
  var bodyTimeout: Int = Int(ProcessInfo.processInfo.environment["HEINFER_BODY_TIMEOUT"] ?? "") ?? 60

  @Option(help: "Seconds a connection may stay silent before it is closed.")
  var idleTimeout: Int = Int(ProcessInfo.processInfo.environment["HEINFER_IDLE_TIMEOUT"] ?? "") ?? 30

  @Option(help: "Most open connections (further ones wait until one closes).")
  var maxConnections: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_CONNECTIONS"] ?? "") ?? 1024

  @Option(help: "Most bytes the inputs of queued and running jobs may hold (further jobs get 503).")
  var maxQueuedBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_QUEUED_BYTES"] ?? "") ?? 1 << 30

  @Option(help: "Seconds a result stays readable after it was first handed to its client.")
  var resultRetention: Int = Int(ProcessInfo.processInfo.environment["HEINFER_RESULT_RETENTION"] ?? "") ?? 60

  @Option(help: "Jobs one tenant may hold at once (further ones get 409 JOB_QUOTA_EXCEEDED).")
  var maxJobsPerTenant: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_JOBS_PER_TENANT"] ?? "") ?? 10_000

  @Option(help: "Result bytes one tenant may hold at once.")
  var maxResultBytesPerTenant: Int =
    Int(ProcessInfo.processInfo.environment["HEINFER_MAX_RESULT_BYTES_PER_TENANT"] ?? "") ?? 512 << 20

  @Option(help: "Bytes the job store may hold (further jobs get 503 until results are deleted).")
  var maxStoreBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_STORE_BYTES"] ?? "") ?? 4 << 30

  @Option(help: "Evaluation-key bytes one tenant may hold at once.")
  var maxKeyBytesPerTenant: Int =
    Int(ProcessInfo.processInfo.environment["HEINFER_MAX_KEY_BYTES_PER_TENANT"] ?? "") ?? 64 << 20

  @Option(help: "Evaluation-key bytes all tenants together may hold.")
  var maxKeyBytes: Int = Int(ProcessInfo.processInfo.environment["HEINFER_MAX_KEY_BYTES"] ?? "") ?? 1 << 30

  @Option(help: "Threads one evaluation's key switches may use (1: each job on its worker thread only).")
  var evaluationThreads: Int = Int(ProcessInfo.processInfo.environment["HEINFER_EVALUATION_THREADS"] ?? "") ?? 2

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = ProcessInfo.processInfo.environment["HEINFER_LOG_LEVEL"] ?? "info"

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535") }
    guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    guard evaluationThreads >= 1 else { throw ValidationError("--evaluation-threads must be at least 1") }
    guard queue >= 1 else { throw ValidationError("--queue must be at least 1") }
    guard ["sqlite", "memory"].contains(store) else { throw ValidationError("--store must be sqlite or memory") }
    guard jobTTL >= 1 else { throw ValidationError("--job-ttl must be at least 1 second") }
    guard rate >= 0, burst >= 1 else { throw ValidationError("--rate must be ≥ 0 and --burst ≥ 1") }
    guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
    guard maxInflightBytes >= maxBodyBytes else {
      throw ValidationError("--max-inflight-bytes must be at least --max-body-bytes")
    }
    guard resultRetention >= 1, maxQueuedBytes >= 1 << 20, maxJobsPerTenant >= 1, maxResultBytesPerTenant >= 1,
      maxStoreBytes >= 1,
      maxKeyBytesPerTenant >= 1, maxKeyBytes >= maxKeyBytesPerTenant
    else {
      throw ValidationError(
        "retention, quotas and bounds must be positive, and --max-key-bytes at least --max-key-bytes-per-tenant")
    }
    guard bodyTimeout >= 1, idleTimeout >= 1, maxConnections >= 1 else {
      throw ValidationError("--body-timeout, --idle-timeout and --max-connections must be at least 1")
    }
    guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
  }

  func run() async throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    var logger = Logger(label: "heinfer")
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    // Checked before anything is opened (fail closed: no keys and no --open, or open mode on a
    // non-loopback address, stop here).
    let configuration = GatewayConfiguration(
      host: host, port: port,
      tenants: try Self.tenants(
        open: open, file: apiKeysFile ?? ProcessInfo.processInfo.environment["HEINFER_API_KEYS_FILE"]),
      allowsOpenModeOnNetwork: allowOpenOnNetwork, requestsPerSecond: rate > 0 ? rate : nil, burst: burst,
      maximumBodyBytes: maxBodyBytes, maximumInFlightBodyBytes: maxInflightBytes, bodyTimeout: .seconds(bodyTimeout),
      idleTimeout: .seconds(idleTimeout), maximumConnections: maxConnections)
    do { try configuration.validate() } catch { throw ValidationError("cannot start: \(error)") }
    if configuration.tenants.isOpen { logger.warning("open mode: no API keys, every request is tenant 'public'") }
    let registry: ModelRegistry
    do {
      let folder = models ?? ProcessInfo.processInfo.environment["HEINFER_MODELS"]
      registry =
        try folder.map { try ModelRegistry(folder: URL(fileURLWithPath: $0), evaluationThreads: evaluationThreads) }
        ?? ModelRegistry.bundled(evaluationThreads: evaluationThreads)
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

    let metrics = GatewayMetrics()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
    let pool = WorkerPool(threads: workers, queueCapacity: queue, byteCapacity: maxQueuedBytes)
    let service = InferenceService(
      registry: registry, store: jobs, pool: pool, logger: logger, metrics: metrics,
      keys: EvaluationKeyStore(maximumBytesPerTenant: maxKeyBytesPerTenant, maximumBytes: maxKeyBytes),
      limits: JobLimits(
        jobsPerTenant: maxJobsPerTenant, resultBytesPerTenant: maxResultBytesPerTenant, storeBytes: maxStoreBytes))
    let cleanup = JobCleanup(
      store: jobs, keys: service.keys, timeToLive: .seconds(jobTTL), retentionAfterFetch: .seconds(resultRetention),
      logger: logger)
    let app = try GatewayApplication.make(
      configuration: configuration, service: service, services: [cleanup], logger: logger)
    // Hummingbird's service group stops on SIGTERM/SIGINT after in-flight requests finish.
    try await app.runService()
    await pool.shutdown()
  }
}

extension Serve {
  /// Open mode, or the keys of `file` or else `HEINFER_API_KEYS` (never a command-line value, which
  /// other users of the machine can read in the process list).
  static func tenants(open: Bool, file: String?) throws -> TenantDirectory {
    let environment = ProcessInfo.processInfo.environment["HEINFER_API_KEYS"]
    if open {
      guard file == nil, environment == nil else {
        throw ValidationError("cannot start: --open and API keys exclude each other")
      }
      return .open
    }
    var specification = environment ?? ""
    if let file {
      do {
        specification = try String(contentsOfFile: file, encoding: .utf8)
      } catch {
        throw ValidationError("cannot start: cannot read the API keys file \(file)")
      }
    }
    do {
      return try TenantDirectory(parsing: specification)
    } catch {
      throw ValidationError("cannot start: \(error)")
    }
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
