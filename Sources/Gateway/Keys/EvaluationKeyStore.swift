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
  /// Serialized size as uploaded, in bytes (what counts against the quota).
  public let sizeBytes: Int
  public let createdAt: Date
  public let expiresAt: Date
}

/// Evaluation keys by id, scoped to tenants, with a time to live, a per-tenant quota in sets and
/// in bytes, and a bound on all keys held. Held in memory (keys are re-registered after a restart;
/// docs/api.md).
public final class EvaluationKeyStore: Sendable {
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
    timeToLive: Duration = .seconds(24 * 3600), maximumSetsPerTenant: Int = 8, maximumBytesPerTenant: Int = 64 << 20,
    maximumBytes: Int = 1 << 30
  ) {
    self.timeToLive = timeToLive
    self.maximumSetsPerTenant = maximumSetsPerTenant
    self.maximumBytesPerTenant = maximumBytesPerTenant
    self.maximumBytes = maximumBytes
  }

  /// Stores a new set for `tenant`.
  /// - Throws: `KEY_QUOTA_EXCEEDED` when the tenant would hold more than ``maximumSetsPerTenant``
  ///   live sets or ``maximumBytesPerTenant`` bytes; `UNAVAILABLE` when all keys together would
  ///   exceed ``maximumBytes``.
  func insert(
    tenant: String, modelId: String, version: String, relinearizationKey: RelinearizationKey?,
    galoisKeys: GaloisKeys?, publicKey: PublicKey? = nil, sizeBytes: Int, now: Date = Date()
  ) throws(GatewayError) -> EvaluationKeySet {
    let seconds = Double(timeToLive.components.seconds) + Double(timeToLive.components.attoseconds) / 1e18
    let set = EvaluationKeySet(
      id: RandomIdentifier.make(), tenant: tenant, modelId: modelId, version: version,
      relinearizationKey: relinearizationKey, galoisKeys: galoisKeys, publicKey: publicKey, sizeBytes: sizeBytes,
      createdAt: now,
      expiresAt: now.addingTimeInterval(seconds))
    let limit = maximumSetsPerTenant
    let byteLimit = maximumBytesPerTenant
    let totalLimit = maximumBytes
    try sets.withLock { (sets) throws(GatewayError) in
      sets = sets.filter { $0.value.expiresAt > now }
      let owned = sets.values.filter { $0.tenant == tenant }
      guard owned.count < limit else {
        throw GatewayError(
          .keyQuotaExceeded, "this tenant already holds \(limit) key sets; delete one (DELETE /keys/{key_id})",
          details: ["limit": "\(limit)"])
      }
      let ownedBytes = owned.reduce(0) { $0 + $1.sizeBytes }
      guard ownedBytes + sizeBytes <= byteLimit else {
        throw GatewayError(
          .keyQuotaExceeded,
          "this tenant's key sets would hold \(ownedBytes + sizeBytes) bytes, above its \(byteLimit); delete one "
            + "(DELETE /keys/{key_id})", details: ["limit_bytes": "\(byteLimit)"])
      }
      guard sets.values.reduce(0, { $0 + $1.sizeBytes }) + sizeBytes <= totalLimit else {
        throw GatewayError(
          .unavailable, "the gateway holds as many evaluation keys as it may; retry later",
          details: ["retry_after_seconds": "60"])
      }
      sets[set.id] = set
    }
    return set
  }

  /// The live set `id` of `tenant`, if any.
  func set(id: String, tenant: String, now: Date = Date()) -> EvaluationKeySet? {
    sets.withLock { sets in
      guard let set = sets[id], set.tenant == tenant, set.expiresAt > now else { return nil }
      return set
    }
  }

  /// Deletes set `id` of `tenant`; returns whether it existed.
  func delete(id: String, tenant: String) -> Bool {
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
