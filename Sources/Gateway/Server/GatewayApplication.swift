import Foundation
import GatewayAPI
public import Hummingbird
public import Logging
import OpenAPIHummingbird
public import ServiceLifecycle

/// How to run the gateway.
public struct GatewayConfiguration: Sendable {
  public var host: String
  public var port: Int
  /// API keys and tenants (open mode when empty).
  public var tenants: TenantDirectory
  /// Per-tenant request rate; `nil` disables rate limiting.
  public var requestsPerSecond: Double?
  /// Requests a tenant may make at once.
  public var burst: Double
  /// Largest accepted request body, in bytes.
  public var maximumBodyBytes: Int

  public init(
    host: String = "127.0.0.1", port: Int = 8080,
    tenants: TenantDirectory = TenantDirectory(apiKeys: [:]), requestsPerSecond: Double? = 50, burst: Double = 100,
    maximumBodyBytes: Int = 16 << 20
  ) {
    self.host = host
    self.port = port
    self.tenants = tenants
    self.requestsPerSecond = requestsPerSecond
    self.burst = burst
    self.maximumBodyBytes = maximumBodyBytes
  }
}

/// Builds the Hummingbird application: routes generated from the contract, request logging,
/// the error middleware.
public enum GatewayApplication {
  /// The router with every contract route, for `Application` or for tests.
  public static func router(
    service: InferenceService, configuration: GatewayConfiguration = GatewayConfiguration(), logger: Logger
  ) throws -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: LogRequestsMiddleware(.info))
    router.add(middleware: MetricsMiddleware())
    router.add(
      middleware: GatewayGuardMiddleware(
        tenants: configuration.tenants,
        limiter: configuration.requestsPerSecond.map { RateLimiter(perSecond: $0, burst: configuration.burst) },
        maximumBodyBytes: configuration.maximumBodyBytes))
    ReferenceRoutes.register(
      on: router, service: service, maximumBodyBytes: configuration.maximumBodyBytes, logger: logger)
    let handler = GatewayAPIHandler(service: service)
    try handler.registerHandlers(on: router, middlewares: [ErrorMiddleware(logger: logger)])
    return router
  }

  /// The application listening on `configuration.host:port`, running `services` (e.g.
  /// ``JobCleanup``) beside the server until graceful shutdown.
  /// `onServerRunning` receives the listening port (useful with port 0).
  public static func make(
    configuration: GatewayConfiguration, service: InferenceService, services: [any Service] = [], logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
  ) throws -> some ApplicationProtocol {
    Application(
      router: try router(service: service, configuration: configuration, logger: logger),
      configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "heinfer"),
      services: services,
      onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
      logger: logger)
  }
}
