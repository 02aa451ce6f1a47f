import Foundation
public import Gateway
public import Hummingbird
public import HummingbirdTesting
public import Logging

/// The gateway as the tests build it: the bundled models, an in-memory store by default, open
/// tenancy, no rate limit. Every helper shuts its worker pool down when `body` returns or throws.
public enum TestGateway {
  /// The bundled models, loaded once.
  public static let registry = try! ModelRegistry.bundled()
  public static let logger = Logger(label: "test")
  /// Open tenancy, no rate limit, an ephemeral port.
  public static let openConfiguration = GatewayConfiguration(port: 0, tenants: .open, requestsPerSecond: nil)

  /// A service evaluating on `pool` in this process.
  public static func service(
    registry: ModelRegistry = registry, store: any JobStore = InMemoryJobStore(),
    pool: WorkerPool = WorkerPool(threads: 2, queueCapacity: 64),
    keys: any EvaluationKeyStoring = EvaluationKeyStore(), limits: JobLimits = JobLimits(),
    metrics: GatewayMetrics = GatewayMetrics(), plainPrivateModels: Bool = false
  ) -> InferenceService {
    InferenceService(
      registry: registry, store: store, pool: pool, logger: logger, metrics: metrics, keys: keys, limits: limits,
      servesPrivateModelsPlain: plainPrivateModels)
  }

  /// The contract's routes for `service` behind ``ConformingResponder``: every response a test
  /// sees is checked against the contract.
  public static func application(
    service: InferenceService, configuration: GatewayConfiguration = openConfiguration
  ) throws -> some ApplicationProtocol {
    let router = try GatewayApplication.router(service: service, configuration: configuration, logger: logger)
    return Application(responder: ConformingResponder(inner: router.buildResponder()))
  }

  /// Runs `body` with Hummingbird's in-process client against ``application(service:configuration:)``
  /// for a service on `pool`.
  public static func withGateway<T: Sendable>(
    configuration: GatewayConfiguration = openConfiguration, store: any JobStore = InMemoryJobStore(),
    pool: WorkerPool = WorkerPool(threads: 2, queueCapacity: 64), keys: any EvaluationKeyStoring = EvaluationKeyStore(),
    limits: JobLimits = JobLimits(), plainPrivateModels: Bool = false,
    _ body: @escaping @Sendable (any TestClientProtocol) async throws -> T
  ) async throws -> T {
    let service = service(store: store, pool: pool, keys: keys, limits: limits, plainPrivateModels: plainPrivateModels)
    return try await shuttingDown(pool) {
      try await application(service: service, configuration: configuration).test(.router) { try await body($0) }
    }
  }

  /// Runs `body` with the port of the whole server (``GatewayApplication/make``: sockets, limits
  /// and middleware) listening on loopback.
  public static func withLiveGateway<T: Sendable>(
    registry: ModelRegistry = registry, configuration: GatewayConfiguration = openConfiguration,
    store: any JobStore = InMemoryJobStore(),
    pool: WorkerPool = WorkerPool(threads: 2, queueCapacity: 64), keys: any EvaluationKeyStoring = EvaluationKeyStore(),
    limits: JobLimits = JobLimits(), plainPrivateModels: Bool = false,
    _ body: @escaping @Sendable (_ port: Int) async throws -> T
  ) async throws -> T {
    let service = service(
      registry: registry, store: store, pool: pool, keys: keys, limits: limits, plainPrivateModels: plainPrivateModels)
    var configuration = configuration
    configuration.port = 0
    return try await shuttingDown(pool) {
      let app = try GatewayApplication.make(configuration: configuration, service: service, logger: logger)
      return try await app.test(.live) { client in
        guard let port = client.port else { throw TestFailure("the live test client has no port") }
        return try await body(port)
      }
    }
  }

  private static func shuttingDown<T>(_ pool: WorkerPool, _ body: () async throws -> T) async throws -> T {
    do {
      let result = try await body()
      await pool.shutdown()
      return result
    } catch {
      await pool.shutdown()
      throw error
    }
  }
}
