public import CKKS
public import Foundation
import Synchronization

/// One registered set of evaluation keys, deserialized and ready for evaluation.
public struct EvaluationKeySet: Sendable {
  /// 32 lowercase hex characters (128 random bits).
  public let id: String
  public let tenant: String
  public let modelId: String
  public let version: String
  public let relinearizationKey: RelinearizationKey?
  public let galoisKeys: GaloisKeys?
  /// The client's public key, for re-randomizing results of models with private weights.
  public let publicKey: PublicKey?
  /// Bytes the deserialized keys take in memory (what counts against the quotas).
  public let sizeBytes: Int
  public let createdAt: Date
  public let expiresAt: Date
}

/// Keys checked against a model and about to be stored, both deserialized (for evaluation, and
/// what counts against the quotas) and as uploaded (what a shared store keeps).
public struct KeyRegistration: Sendable {
  public var tenant: String
  public var modelId: String
  public var version: String
  public var relinearizationKey: RelinearizationKey?
  public var galoisKeys: GaloisKeys?
  public var publicKey: PublicKey?
  public var serializedRelinearizationKey: [UInt8]?
  public var serializedGaloisKeys: [UInt8]?
  public var serializedPublicKey: [UInt8]?
  /// Bytes the deserialized keys take in memory, in every process that loads them (what counts
  /// against the quotas): a seeded key takes about four times its serialized size (both
  /// polynomials, 8 bytes a residue). ``memoryBytes(relinearizationKey:galoisKeys:publicKey:)``.
  public var sizeBytes: Int

  /// Bytes `keys` take in memory.
  public static func memoryBytes(
    relinearizationKey: RelinearizationKey?, galoisKeys: GaloisKeys?, publicKey: PublicKey?
  ) -> Int {
    (relinearizationKey?.memoryBytes ?? 0) + (galoisKeys?.memoryBytes ?? 0) + (publicKey?.memoryBytes ?? 0)
  }
}

/// Where registered evaluation keys live: by id, scoped to tenants, with a time to live, a
/// per-tenant quota in sets and in bytes, and a bound on all keys held. Implementations must be
/// safe to call from many tasks at once.
public protocol EvaluationKeyStoring: Sendable {
  /// How long a key set stays usable after registration.
  var timeToLive: Duration { get }
  /// Stores a new set.
  /// - Throws: `KEY_QUOTA_EXCEEDED` when the tenant would hold too many sets or bytes;
  ///   `UNAVAILABLE` when all keys together would exceed the store's bound or the store fails.
  func insert(_ registration: KeyRegistration, now: Date) async throws(GatewayError) -> EvaluationKeySet
  /// The live set `id` of `tenant`, if any.
  /// - Throws: `UNAVAILABLE` when the store cannot be read.
  func set(id: String, tenant: String, now: Date) async throws(GatewayError) -> EvaluationKeySet?
  /// Deletes set `id` of `tenant`; returns whether it existed.
  /// - Throws: `UNAVAILABLE` when the store cannot be written.
  func delete(id: String, tenant: String) async throws(GatewayError) -> Bool
  /// Drops expired sets; returns how many.
  /// - Throws: `UNAVAILABLE` when the store cannot be written.
  func removeExpired(now: Date) async throws(GatewayError) -> Int
}

/// Evaluation keys held in memory, for one process (keys are re-registered after a restart;
/// docs/api.md).
public final class EvaluationKeyStore: EvaluationKeyStoring {
  /// How long a key set stays usable after registration.
  public let timeToLive: Duration
  /// Key sets one tenant may hold at once.
  public let maximumSetsPerTenant: Int
  /// Serialized key bytes one tenant may hold at once.
  public let maximumBytesPerTenant: Int
  /// Serialized key bytes all tenants together may hold.
  public let maximumBytes: Int
  private let sets = Mutex<[String: EvaluationKeySet]>([:])

  public init(
    timeToLive: Duration = .seconds(24 * 3600), maximumSetsPerTenant: Int = 8, maximumBytesPerTenant: Int = 256 << 20,
    maximumBytes: Int = 2 << 30
  ) {
    self.timeToLive = timeToLive
    self.maximumSetsPerTenant = maximumSetsPerTenant
    self.maximumBytesPerTenant = maximumBytesPerTenant
    self.maximumBytes = maximumBytes
  }

  /// Stores a new set for the registration's tenant.
  /// - Throws: `KEY_QUOTA_EXCEEDED` when the tenant would hold more than ``maximumSetsPerTenant``
  ///   live sets or ``maximumBytesPerTenant`` bytes; `UNAVAILABLE` when all keys together would
  ///   exceed ``maximumBytes``.
  public func insert(_ registration: KeyRegistration, now: Date = Date()) throws(GatewayError) -> EvaluationKeySet {
    let set = EvaluationKeySet(registration, id: RandomIdentifier.make(), now: now, timeToLive: timeToLive)
    let quota = KeyQuota(
      setsPerTenant: maximumSetsPerTenant, bytesPerTenant: maximumBytesPerTenant, totalBytes: maximumBytes)
    try sets.withLock { (sets) throws(GatewayError) in
      sets = sets.filter { $0.value.expiresAt > now }
      let owned = sets.values.filter { $0.tenant == set.tenant }
      try quota.check(
        ownedSets: owned.count, ownedBytes: owned.reduce(0) { $0 + $1.sizeBytes },
        totalBytes: sets.values.reduce(0, { $0 + $1.sizeBytes }), adding: set.sizeBytes)
      sets[set.id] = set
    }
    return set
  }

  /// The live set `id` of `tenant`, if any.
  public func set(id: String, tenant: String, now: Date = Date()) -> EvaluationKeySet? {
    sets.withLock { sets in
      guard let set = sets[id], set.tenant == tenant, set.expiresAt > now else { return nil }
      return set
    }
  }

  /// Deletes set `id` of `tenant`; returns whether it existed.
  public func delete(id: String, tenant: String) -> Bool {
    sets.withLock { sets in
      guard sets[id]?.tenant == tenant else { return false }
      sets[id] = nil
      return true
    }
  }

  /// Drops expired sets; returns how many.
  public func removeExpired(now: Date = Date()) -> Int {
    sets.withLock { sets in
      let before = sets.count
      sets = sets.filter { $0.value.expiresAt > now }
      return before - sets.count
    }
  }
}

extension EvaluationKeySet {
  /// A new set of `registration`'s keys, live for `timeToLive` from `now`.
  init(_ registration: KeyRegistration, id: String, now: Date, timeToLive: Duration) {
    self.init(
      id: id, tenant: registration.tenant, modelId: registration.modelId, version: registration.version,
      relinearizationKey: registration.relinearizationKey, galoisKeys: registration.galoisKeys,
      publicKey: registration.publicKey, sizeBytes: registration.sizeBytes, createdAt: now,
      expiresAt: now.addingTimeInterval(timeToLive.seconds))
  }
}

/// The bounds on registered keys, checked the same way by every store.
struct KeyQuota {
  var setsPerTenant: Int
  var bytesPerTenant: Int
  var totalBytes: Int

  /// - Throws: `KEY_QUOTA_EXCEEDED` when the tenant, holding `ownedSets` sets of `ownedBytes`,
  ///   would exceed its quota with `adding` more bytes; `UNAVAILABLE` when all keys (`totalBytes`
  ///   now) would exceed the store's bound.
  func check(ownedSets: Int, ownedBytes: Int, totalBytes held: Int, adding: Int) throws(GatewayError) {
    guard ownedSets < setsPerTenant else {
      throw GatewayError(
        .keyQuotaExceeded, "this tenant already holds \(setsPerTenant) key sets; delete one (DELETE /keys/{key_id})",
        details: ["limit": "\(setsPerTenant)"])
    }
    guard ownedBytes + adding <= bytesPerTenant else {
      throw GatewayError(
        .keyQuotaExceeded,
        "this tenant's key sets would hold \(ownedBytes + adding) bytes, above its \(bytesPerTenant); delete one "
          + "(DELETE /keys/{key_id})", details: ["limit_bytes": "\(bytesPerTenant)"])
    }
    guard held + adding <= totalBytes else {
      throw GatewayError(
        .unavailable, "the gateway holds as many evaluation keys as it may; retry later",
        details: ["retry_after_seconds": "60"])
    }
  }
}
