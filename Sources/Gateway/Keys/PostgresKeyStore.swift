import CKKS
public import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Evaluation keys in PostgreSQL, as uploaded, so that a set registered through one gateway is
/// used by every gateway and worker on the database. Each process keeps the sets it has
/// deserialized in a cache bounded in bytes; every lookup still asks the database whether the set
/// is live, so a deleted or expired set is never used.
public final class PostgresKeyStore: EvaluationKeyStoring {
  public let timeToLive: Duration
  let quota: KeyQuota
  /// Most bytes (as uploaded) of deserialized sets this process keeps.
  public let cacheBytes: Int
  private let backend: PostgresBackend
  private let registry: ModelRegistry
  private let cache = Mutex<[String: EvaluationKeySet]>([:])

  /// - Parameters:
  ///   - registry: the models, whose parameters deserialize the stored keys.
  ///   - cacheBytes: bound on the deserialized sets this process keeps.
  public init(
    backend: PostgresBackend, registry: ModelRegistry, timeToLive: Duration = .seconds(24 * 3600),
    maximumSetsPerTenant: Int = 8, maximumBytesPerTenant: Int = 256 << 20, maximumBytes: Int = 2 << 30,
    cacheBytes: Int = 256 << 20
  ) {
    self.backend = backend
    self.registry = registry
    self.timeToLive = timeToLive
    quota = KeyQuota(
      setsPerTenant: maximumSetsPerTenant, bytesPerTenant: maximumBytesPerTenant, totalBytes: maximumBytes)
    self.cacheBytes = cacheBytes
  }

  private func unavailable(_ error: any Error) -> GatewayError {
    backend.logger.error("key store failed", metadata: ["error": "\(String(reflecting: error))"])
    return GatewayError(
      .unavailable, "the key store is unavailable; retry later", details: ["retry_after_seconds": "5"])
  }

  public func insert(_ registration: KeyRegistration, now: Date) async throws(GatewayError) -> EvaluationKeySet {
    let set = EvaluationKeySet(registration, id: RandomIdentifier.make(), now: now, timeToLive: timeToLive)
    let logger = backend.logger
    let quota = quota
    let outcome: Result<Void, GatewayError>
    do {
      outcome = try await backend.transaction { connection in
        // One registration per tenant at a time, so two fronts cannot both pass the quota check.
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(set.tenant)))", logger: logger)
        var owned = (sets: 0, bytes: 0)
        for try await (count, bytes) in try await connection.query(
          """
          SELECT count(*)::bigint, COALESCE(sum(size_bytes), 0)::bigint FROM heinfer_key_set
          WHERE tenant = \(set.tenant) AND expires_at > \(now.timeIntervalSince1970)
          """, logger: logger
        ).decode((Int, Int).self) {
          owned = (count, bytes)
        }
        var total = 0
        for try await bytes in try await connection.query(
          """
          SELECT COALESCE(sum(size_bytes), 0)::bigint FROM heinfer_key_set
          WHERE expires_at > \(now.timeIntervalSince1970)
          """, logger: logger
        ).decode(Int.self) {
          total = bytes
        }
        do throws(GatewayError) {
          try quota.check(ownedSets: owned.sets, ownedBytes: owned.bytes, totalBytes: total, adding: set.sizeBytes)
        } catch {
          return .failure(error)
        }
        try await connection.query(
          """
          INSERT INTO heinfer_key_set (id, tenant, model_id, version, relinearization_key, galois_keys, public_key,
            size_bytes, created_at, expires_at)
          VALUES (\(set.id), \(set.tenant), \(set.modelId), \(set.version),
            \(registration.serializedRelinearizationKey.map { Data($0) }),
            \(registration.serializedGaloisKeys.map { Data($0) }), \(registration.serializedPublicKey.map { Data($0) }),
            \(set.sizeBytes), \(set.createdAt.timeIntervalSince1970), \(set.expiresAt.timeIntervalSince1970))
          """, logger: logger)
        return .success(())
      }
    } catch {
      throw unavailable(error)
    }
    try outcome.get()
    remember(set)
    return set
  }

  public func set(id: String, tenant: String, now: Date) async throws(GatewayError) -> EvaluationKeySet? {
    let logger = backend.logger
    let live: Bool
    do {
      live = try await backend.withConnection { connection in
        var found = false
        for try await _ in try await connection.query(
          """
          SELECT 1 FROM heinfer_key_set
          WHERE id = \(id) AND tenant = \(tenant) AND expires_at > \(now.timeIntervalSince1970)
          """, logger: logger)
        {
          found = true
        }
        return found
      }
    } catch {
      throw unavailable(error)
    }
    guard live else {
      cache.withLock { _ = $0.removeValue(forKey: id) }
      return nil
    }
    if let cached = cache.withLock({ $0[id] }) { return cached }
    let loaded = try await load(id: id)
    if let loaded { remember(loaded) }
    return loaded
  }

  /// Reads and deserializes set `id`; nil when it is gone.
  private func load(id: String) async throws(GatewayError) -> EvaluationKeySet? {
    let logger = backend.logger
    typealias Row = (String, String, String, Data?, Data?, Data?, Int, Double, Double)
    let row: Row?
    do {
      row = try await backend.withConnection { connection in
        var found: Row?
        for try await columns in try await connection.query(
          """
          SELECT tenant, model_id, version, relinearization_key, galois_keys, public_key, size_bytes, created_at,
            expires_at
          FROM heinfer_key_set WHERE id = \(id)
          """, logger: logger
        ).decode(Row.self) {
          found = columns
        }
        return found
      }
    } catch {
      throw unavailable(error)
    }
    guard let (tenant, modelId, version, relinearization, galois, publicKey, size, created, expires) = row else {
      return nil
    }
    guard let model = registry.model(id: modelId, version: version) else {
      // The model is no longer served: its keys serve nothing.
      return nil
    }
    do {
      return EvaluationKeySet(
        id: id, tenant: tenant, modelId: modelId, version: version,
        relinearizationKey: try relinearization.map {
          try RelinearizationKey(deserializing: [UInt8]($0), parameters: model.parameters)
        },
        galoisKeys: try galois.map { try GaloisKeys(deserializing: [UInt8]($0), parameters: model.parameters) },
        publicKey: try publicKey.map { try PublicKey(deserializing: [UInt8]($0), parameters: model.parameters) },
        sizeBytes: size, createdAt: Date(timeIntervalSince1970: created),
        expiresAt: Date(timeIntervalSince1970: expires))
    } catch {
      // Checked when registered; a stored set that no longer loads is a fault of the store.
      throw unavailable(error)
    }
  }

  private func remember(_ set: EvaluationKeySet) {
    let bound = cacheBytes
    cache.withLock { cache in
      cache[set.id] = set
      var held = cache.values.reduce(0) { $0 + $1.sizeBytes }
      // Oldest registrations leave first; the set just added stays even when it alone exceeds the bound.
      for old in cache.values.sorted(by: { $0.createdAt < $1.createdAt }) where held > bound && old.id != set.id {
        cache[old.id] = nil
        held -= old.sizeBytes
      }
    }
  }

  public func delete(id: String, tenant: String) async throws(GatewayError) -> Bool {
    let logger = backend.logger
    cache.withLock { _ = $0.removeValue(forKey: id) }
    do {
      return try await backend.withConnection { connection in
        var deleted = false
        for try await _ in try await connection.query(
          "DELETE FROM heinfer_key_set WHERE id = \(id) AND tenant = \(tenant) RETURNING id", logger: logger)
        {
          deleted = true
        }
        return deleted
      }
    } catch {
      throw unavailable(error)
    }
  }

  public func removeExpired(now: Date) async throws(GatewayError) -> Int {
    let logger = backend.logger
    cache.withLock { cache in cache = cache.filter { $0.value.expiresAt > now } }
    do {
      return try await backend.withConnection { connection in
        var count = 0
        for try await _ in try await connection.query(
          "DELETE FROM heinfer_key_set WHERE expires_at <= \(now.timeIntervalSince1970) RETURNING id", logger: logger)
        {
          count += 1
        }
        return count
      }
    } catch {
      throw unavailable(error)
    }
  }
}
