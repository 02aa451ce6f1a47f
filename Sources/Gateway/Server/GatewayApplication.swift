import Foundation
import GatewayAPI
public import Hummingbird
import HummingbirdCore
public import Logging
import OpenAPIHummingbird
public import ServiceLifecycle

/// How to run the gateway.
public struct GatewayConfiguration: Sendable {
  public var host: String
  public var port: Int
  /// API keys and tenants. The default holds no key and refuses every request; open mode only
  /// when set to ``TenantDirectory/open``.
  public var tenants: TenantDirectory
  /// Lets open mode listen on an address other than loopback (otherwise ``validate()`` refuses).
  public var allowsOpenModeOnNetwork: Bool
  /// Per-tenant request rate; `nil` disables rate limiting.
  public var requestsPerSecond: Double?
  /// Requests a tenant may make at once.
  public var burst: Double
  /// Largest accepted request body, in bytes.
  public var maximumBodyBytes: Int
  /// Most request bytes (bodies and what handlers deserialize from them) held at once across all
  /// requests (``RequestByteBudget``).
  public var maximumInFlightBodyBytes: Int
  /// Most request bytes one tenant's requests may hold at once (its share of
  /// ``maximumInFlightBodyBytes``).
  public var maximumInFlightBodyBytesPerTenant: Int
  /// Longest time to receive one request body (`408 REQUEST_TIMEOUT` after it).
  public var bodyTimeout: Duration
  /// A connection that sends nothing for this long (between requests or within one) is closed.
  public var idleTimeout: Duration
  /// Most open connections; further ones wait in the listen backlog until one closes.
  public var maximumConnections: Int

  public init(
    host: String = "127.0.0.1", port: Int = 8080,
    tenants: TenantDirectory = TenantDirectory(apiKeys: [:]), allowsOpenModeOnNetwork: Bool = false,
    requestsPerSecond: Double? = 50, burst: Double = 100, maximumBodyBytes: Int = 48 << 20,
    maximumInFlightBodyBytes: Int = 256 << 20, maximumInFlightBodyBytesPerTenant: Int? = nil,
    bodyTimeout: Duration = .seconds(60), idleTimeout: Duration = .seconds(30), maximumConnections: Int = 1024
  ) {
    self.host = host
    self.port = port
    self.tenants = tenants
    self.allowsOpenModeOnNetwork = allowsOpenModeOnNetwork
    self.requestsPerSecond = requestsPerSecond
    self.burst = burst
    self.maximumBodyBytes = maximumBodyBytes
    self.maximumInFlightBodyBytes = maximumInFlightBodyBytes
    // By default half the budget, and never less than one largest body.
    self.maximumInFlightBodyBytesPerTenant =
      maximumInFlightBodyBytesPerTenant
      ?? min(maximumInFlightBodyBytes, max(maximumBodyBytes, maximumInFlightBodyBytes / 2))
    self.bodyTimeout = bodyTimeout
    self.idleTimeout = idleTimeout
    self.maximumConnections = maximumConnections
  }
}

extension GatewayConfiguration {
  /// Refuses configurations that would serve nobody or everybody by accident: no API keys outside
  /// open mode, and open mode on an address other than loopback unless explicitly allowed.
  /// - Throws: ``GatewayConfigurationError`` saying what to change.
  public func validate() throws(GatewayConfigurationError) {
    if !tenants.isOpen, tenants.isEmpty {
      throw GatewayConfigurationError(
        "no API keys: give key=tenant entries in an API keys file or HEINFER_API_KEYS, or choose open mode "
          + "(every request is tenant 'public') explicitly for local use")
    }
    guard maximumInFlightBodyBytes >= maximumBodyBytes else {
      throw GatewayConfigurationError("the in-flight body budget must hold at least one largest body")
    }
    guard maximumInFlightBodyBytesPerTenant >= maximumBodyBytes,
      maximumInFlightBodyBytesPerTenant <= maximumInFlightBodyBytes
    else {
      throw GatewayConfigurationError(
        "a tenant's share of the in-flight budget must hold at least one largest body and at most the whole budget")
    }
    guard maximumConnections >= 1, idleTimeout > .zero, bodyTimeout > .zero else {
      throw GatewayConfigurationError("connections, idle timeout and body timeout must be positive")
    }
    if tenants.isOpen, !Self.isLoopback(host), !allowsOpenModeOnNetwork {
      throw GatewayConfigurationError(
        "open mode listens only on loopback; \(host) is not a loopback address (configure API keys, or allow "
          + "open mode on the network explicitly)")
    }
  }

  /// `localhost`, `::1` and 127.0.0.0/8.
  static func isLoopback(_ host: String) -> Bool {
    if host == "localhost" || host == "::1" || host == "[::1]" { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
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
    router.add(middleware: MethodGuardMiddleware())
    router.add(
      middleware: GatewayGuardMiddleware(
        tenants: configuration.tenants,
        limiter: configuration.requestsPerSecond.map { RateLimiter(perSecond: $0, burst: configuration.burst) },
        maximumBodyBytes: configuration.maximumBodyBytes,
        budget: RequestByteBudget(
          capacity: configuration.maximumInFlightBodyBytes,
          tenantCapacity: configuration.maximumInFlightBodyBytesPerTenant),
        bodyTimeout: configuration.bodyTimeout))
    ReferenceRoutes.register(
      on: router, service: service, maximumBodyBytes: configuration.maximumBodyBytes,
      bodyTimeout: configuration.bodyTimeout, logger: logger)
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
    try configuration.validate()
    return Application(
      router: try router(service: service, configuration: configuration, logger: logger),
      server: .http1(
        configuration: .init(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1))))),
      configuration: .init(
        address: .hostname(configuration.host, port: configuration.port), serverName: "heinfer",
        availableConnectionsDelegate: MaximumAvailableConnections(configuration.maximumConnections, logger: logger)),
      services: services,
      onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
      logger: logger)
  }
}
