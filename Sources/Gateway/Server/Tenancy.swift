import Crypto
import Foundation
import Synchronization

/// API keys and the tenants they belong to, held as SHA-256 digests (a key in clear is hashed
/// when it is loaded, and a presented key is hashed before it is compared).
///
/// The gateway fails closed: a directory without keys refuses every request. Open mode, where
/// every request belongs to the tenant ``openTenant``, exists only when chosen explicitly
/// (``open``; `heinfer serve --open`), for local use.
public struct TenantDirectory: Sendable {
  /// The tenant of every request in open mode.
  public static let openTenant = "public"
  /// The shortest key accepted in clear.
  public static let minimumKeyLength = 16
  private let entries: [(digest: [UInt8], tenant: String)]
  /// Whether requests need no key (explicit open mode).
  public let isOpen: Bool

  /// Open mode: no authentication; every request is tenant ``openTenant``.
  public static let open = TenantDirectory(entries: [], isOpen: true)

  private init(entries: [(digest: [UInt8], tenant: String)], isOpen: Bool) {
    self.entries = entries
    self.isOpen = isOpen
  }

  /// Keys in clear mapped to tenants. An empty map refuses every request (it is not open mode).
  public init(apiKeys: [String: String]) {
    self.init(
      entries: apiKeys.sorted { $0.key < $1.key }.map { (TenantDirectory.digest(of: $0.key), $0.value) },
      isOpen: false)
  }

  /// Parses entries separated by commas or line breaks, the form of `--api-keys-file` and
  /// `HEINFER_API_KEYS`: `key=tenant` with a key of at least 16 characters, or
  /// `sha256:<64 hex digits>=tenant` with the SHA-256 of the key (`printf %s KEY | sha256sum`), so
  /// the file need not hold the key itself. Blank entries and lines starting with `#` are skipped.
  /// - Throws: ``GatewayConfigurationError`` for a malformed entry, a short key or a bad digest.
  public init(parsing specification: String) throws(GatewayConfigurationError) {
    var entries: [(digest: [UInt8], tenant: String)] = []
    for line in specification.split(whereSeparator: { $0 == "," || $0.isNewline }) {
      let entry = line.trimmingCharacters(in: .whitespaces)
      if entry.isEmpty || entry.hasPrefix("#") { continue }
      let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw GatewayConfigurationError("API keys must be key=tenant or sha256:<hex>=tenant entries")
      }
      let digest: [UInt8]
      if parts[0].hasPrefix("sha256:") {
        let hex = parts[0].dropFirst("sha256:".count).lowercased()
        var bytes: [UInt8] = []
        let valid = hex.count == 64 && Array(hex.utf8).withUnsafeBytes { HexCodec.decode($0, appendingTo: &bytes) }
        guard valid else {
          throw GatewayConfigurationError("a hashed API key is sha256: followed by 64 hexadecimal digits")
        }
        digest = bytes
      } else {
        guard parts[0].count >= TenantDirectory.minimumKeyLength else {
          throw GatewayConfigurationError(
            "API keys must have at least \(TenantDirectory.minimumKeyLength) characters")
        }
        digest = TenantDirectory.digest(of: parts[0])
      }
      guard !entries.contains(where: { $0.digest == digest }) else {
        throw GatewayConfigurationError("an API key appears twice")
      }
      entries.append((digest, parts[1]))
    }
    self.init(entries: entries, isOpen: false)
  }

  /// Whether the directory holds no key (and so, unless open, refuses every request).
  public var isEmpty: Bool { entries.isEmpty }

  /// The tenant of `key`: its digest is compared with every stored digest, in time independent
  /// of where they differ and of which one matches.
  public func tenant(forKey key: String) -> String? {
    let candidate = TenantDirectory.digest(of: key)
    var found: String?
    for (stored, tenant) in entries {
      var difference: UInt8 = 0
      for i in 0..<stored.count { difference |= stored[i] ^ candidate[i] }
      if difference == 0 { found = tenant }
    }
    return found
  }

  static func digest(of key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }
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
      bucket.tokens = min(burst, bucket.tokens + max(0, (now - bucket.updated).seconds) * perSecond)
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

/// The tenant of the request being handled, bound by ``GatewayGuardMiddleware`` after
/// authentication. Nothing is bound outside it, and reading it then is a refusal, never a default
/// tenant: a handler reached without the guard serves nobody.
enum RequestTenant {
  @TaskLocal static var bound: String?

  /// The authenticated tenant.
  /// - Throws: `UNAUTHORIZED` when no tenant is bound.
  static func current() throws(GatewayError) -> String {
    guard let bound else { throw GatewayError(.unauthorized, "no authenticated tenant for this request") }
    return bound
  }
}
