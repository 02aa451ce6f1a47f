import Foundation
import Synchronization

/// API keys and the tenants they belong to. Without keys the gateway runs in open mode: every
/// request belongs to the tenant ``openTenant`` (for local use; docs/api.md).
public struct TenantDirectory: Sendable {
  /// The tenant of every request in open mode.
  public static let openTenant = "public"
  private let keys: [(key: [UInt8], tenant: String)]

  /// Keys mapped to tenants; an empty map means open mode.
  public init(apiKeys: [String: String]) {
    keys = apiKeys.sorted { $0.key < $1.key }.map { (Array($0.key.utf8), $0.value) }
  }

  /// Parses `key=tenant` pairs separated by commas (the `--api-keys` / `HEINFER_API_KEYS` form).
  /// - Throws: ``GatewayConfigurationError`` for a malformed pair or a key shorter than 16 characters.
  public init(parsing specification: String) throws(GatewayConfigurationError) {
    var map: [String: String] = [:]
    for pair in specification.split(separator: ",") where !pair.trimmingCharacters(in: .whitespaces).isEmpty {
      let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, !parts[1].isEmpty else {
        throw GatewayConfigurationError("API keys must be key=tenant pairs separated by commas")
      }
      guard parts[0].count >= 16 else { throw GatewayConfigurationError("API keys must have at least 16 characters") }
      map[parts[0]] = parts[1]
    }
    self.init(apiKeys: map)
  }

  /// Whether requests need no key.
  public var isOpen: Bool { keys.isEmpty }

  /// The tenant of `key`, comparing against every key in time independent of where they differ.
  public func tenant(forKey key: String) -> String? {
    let candidate = Array(key.utf8)
    var found: String?
    for (stored, tenant) in keys {
      var difference = UInt8(stored.count == candidate.count ? 0 : 1)
      for i in 0..<stored.count { difference |= stored[i] ^ (i < candidate.count ? candidate[i] : 0) }
      if difference == 0 { found = tenant }
    }
    return found
  }
}

/// A configuration value the gateway cannot start with.
public struct GatewayConfigurationError: Error, Sendable, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// Per-tenant token buckets: `burst` requests at once, refilled at `perSecond`.
public final class RateLimiter: Sendable {
  private struct Bucket {
    var tokens: Double
    var updated: ContinuousClock.Instant
  }

  public let burst: Double
  public let perSecond: Double
  private let buckets = Mutex<[String: Bucket]>([:])

  /// - Parameters:
  ///   - perSecond: sustained requests per second per tenant (> 0).
  ///   - burst: requests a tenant may make at once (≥ 1).
  public init(perSecond: Double, burst: Double) {
    precondition(perSecond > 0 && burst >= 1)
    self.perSecond = perSecond
    self.burst = burst
  }

  /// Takes one token for `tenant`; returns `nil` when allowed, else whole seconds until a token is back.
  public func take(tenant: String, now: ContinuousClock.Instant = .now) -> Int? {
    buckets.withLock { buckets in
      var bucket = buckets[tenant] ?? Bucket(tokens: burst, updated: now)
      let elapsed = now - bucket.updated
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
      bucket.tokens = min(burst, bucket.tokens + max(0, seconds) * perSecond)
      bucket.updated = now
      if bucket.tokens >= 1 {
        bucket.tokens -= 1
        buckets[tenant] = bucket
        return nil
      }
      buckets[tenant] = bucket
      return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
    }
  }
}

/// The tenant of the request being handled, set by ``GatewayGuardMiddleware``.
enum RequestTenant {
  @TaskLocal static var current: String = TenantDirectory.openTenant
}
