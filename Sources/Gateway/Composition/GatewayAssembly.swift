import Foundation
public import Hummingbird
public import Logging
public import ServiceLifecycle

/// The whole gateway built from one ``GatewaySettings``: models, job and key stores, execution
/// (local pool or shared queue), workers and cleanup, and the HTTP application, for every role.
/// `heinfer serve`, `heinfer worker`, `heinfer bench` and the tests all build it here.
public struct GatewayAssembly: Sendable {
  public let settings: GatewaySettings
  public let registry: ModelRegistry
  public let service: InferenceService
  /// The evaluation threads of this process (none in a front without workers).
  public let pool: WorkerPool?
  /// The background services, in start order; a service group stops them in reverse: cleanup,
  /// queue workers, the worker pool (after its queued work), the database last.
  public let services: [any Service]
  let logger: Logger

  /// Opens the stores and does the start-up work (migrations; failing jobs a previous process
  /// left unfinished in a one-process store) before anything serves requests.
  /// - Parameter registry: the models, when already loaded (several assemblies in one process
  ///   share them); nil loads them as the settings say.
  /// - Throws: ``GatewayConfigurationError`` for settings that cannot work or a store or models
  ///   folder that cannot be opened.
  public static func build(
    _ settings: GatewaySettings, registry: ModelRegistry? = nil, logger: Logger,
    metrics: GatewayMetrics = GatewayMetrics()
  ) async throws(GatewayConfigurationError) -> GatewayAssembly {
    try settings.validate()
    let models: ModelRegistry
    if let registry { models = registry } else { models = try loadModels(settings) }
    let registry = models
    let pool =
      settings.role == .front
      ? nil
      : WorkerPool(
        threads: settings.workers, queueCapacity: settings.queueCapacity, byteCapacity: settings.maximumQueuedBytes,
        tenantJobCapacity: settings.queueShare.jobs, tenantByteCapacity: settings.queueShare.bytes)
    var services: [any Service] = []
    if let pool { services.append(WorkerPoolService(pool)) }
    let service: InferenceService
    switch settings.store {
    case .sqlite, .memory:
      let store: any JobStore
      if settings.store == .sqlite {
        do {
          store = try SQLiteJobStore(path: settings.sqlitePath)
          // Jobs a previous process accepted but never finished cannot finish now: say so.
          let abandoned = try await store.failUnfinishedJobs(
            message: "the gateway restarted before the job finished", now: Date())
          if abandoned > 0 {
            logger.warning("jobs abandoned by a restart marked failed", metadata: ["count": "\(abandoned)"])
          }
        } catch {
          throw GatewayConfigurationError("cannot open the job store: \(error)")
        }
      } else {
        store = InMemoryJobStore()
      }
      // validate() allows only the role `all` on these stores, so the pool exists.
      guard let pool else { preconditionFailure("a one-process store without workers") }
      service = InferenceService(
        registry: registry, store: store, pool: pool, logger: logger, metrics: metrics,
        keys: EvaluationKeyStore(
          timeToLive: settings.keyTimeToLive, maximumSetsPerTenant: settings.maximumKeySetsPerTenant,
          maximumBytesPerTenant: settings.maximumKeyBytesPerTenant, maximumBytes: settings.maximumKeyBytes),
        limits: settings.limits, servesPrivateModelsPlain: settings.servesPrivateModelsPlain)
    case .postgres:
      let database = settings.database!
      do {
        try await PostgresBackend.migrate(settings: database, logger: logger)
      } catch {
        throw GatewayConfigurationError("\(error)")
      }
      let backend = PostgresBackend(settings: database, logger: logger)
      // First, so that it stops last: workers and cleanup still record on their way out.
      services.insert(backend, at: 0)
      service = InferenceService(
        registry: registry, queue: PostgresJobStore(backend: backend), queueCapacity: settings.queueCapacity,
        queueShare: settings.queueShare, logger: logger, metrics: metrics,
        keys: PostgresKeyStore(
          backend: backend, registry: registry, timeToLive: settings.keyTimeToLive,
          maximumSetsPerTenant: settings.maximumKeySetsPerTenant,
          maximumBytesPerTenant: settings.maximumKeyBytesPerTenant, maximumBytes: settings.maximumKeyBytes),
        limits: settings.limits, servesPrivateModelsPlain: settings.servesPrivateModelsPlain)
      if let pool {
        services.append(
          QueueWorkers(service: service, pool: pool, lease: settings.lease, maximumAttempts: settings.maximumAttempts))
      }
    }
    services.append(
      JobCleanup(
        store: service.store, keys: service.keys, timeToLive: settings.jobTimeToLive,
        retentionAfterFetch: settings.resultRetention, logger: logger))
    return GatewayAssembly(
      settings: settings, registry: registry, service: service, pool: pool, services: services, logger: logger)
  }

  private static func loadModels(_ settings: GatewaySettings) throws(GatewayConfigurationError) -> ModelRegistry {
    do {
      return try settings.modelsFolder.map {
        try ModelRegistry(folder: URL(fileURLWithPath: $0), evaluationThreads: settings.evaluationThreads)
      } ?? ModelRegistry.bundled(evaluationThreads: settings.evaluationThreads)
    } catch {
      throw GatewayConfigurationError("cannot load the models: \(error)")
    }
  }

  /// The HTTP application with the background services beside the server (roles `all` and
  /// `front`). `onServerRunning` receives the listening port (useful with port 0).
  public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws
    -> some ApplicationProtocol
  {
    try GatewayApplication.make(
      configuration: settings.server, service: service, services: services, logger: logger,
      onServerRunning: onServerRunning)
  }

  /// A worker's own small HTTP server: `GET /health` and `GET /metrics` (its evaluations) on the
  /// configured host and port, for probes and scraping, with the background services beside it.
  public func workerApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws
    -> some ApplicationProtocol
  {
    let router = Router()
    let metrics = service.metrics
    router.get("/health") { _, _ in #"{"status":"ok","role":"worker"}"# }
    router.get("/metrics") { _, _ in metrics.exposition() }
    return Application(
      router: router,
      configuration: .init(address: .hostname(settings.server.host, port: settings.server.port), serverName: "heinfer"),
      services: services, onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// Runs the process's role until SIGTERM or SIGINT, then shuts down gracefully: the server stops
  /// taking requests and finishes the ones in flight, workers finish the jobs they hold and
  /// record them, and the database closes last.
  public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
    if settings.role == .worker {
      try await workerApplication(onServerRunning: onServerRunning).runService()
    } else {
      try await application(onServerRunning: onServerRunning).runService()
    }
  }
}
