import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

@testable import Gateway

/// A real PostgreSQL server for the tests that need one, from `HEINFER_TEST_DATABASE_URL`
/// (`scripts/test.sh` starts a throwaway server when the machine has one; `.ci/run` always does).
/// Without it those tests are cancelled with a message saying so, and reported as skipped; with
/// `HEINFER_REQUIRE_POSTGRES=1` (CI) they fail instead. Each test gets a schema of its own.
enum TestPostgres {
  static let url = ProcessInfo.processInfo.environment["HEINFER_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
  static let required = ProcessInfo.processInfo.environment["HEINFER_REQUIRE_POSTGRES"] == "1"

  /// Settings for a fresh schema, or the test's end: cancelled (skipped) without a server, failed
  /// when a server is required.
  static func freshSettings(maximumConnections: Int = 8) throws -> PostgresSettings {
    guard let url else {
      let message = "no PostgreSQL: set HEINFER_TEST_DATABASE_URL (scripts/postgres.sh start DIR prints one)"
      if required { throw TestPostgresUnavailable(message: message) }
      try Test.cancel(Comment(rawValue: "SKIPPED, " + message))
    }
    let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    let separator = url.contains("?") ? "&" : "?"
    return try PostgresSettings(url: url + separator + "schema=" + schema, maximumConnections: maximumConnections)
  }

  struct TestPostgresUnavailable: Error, CustomStringConvertible {
    let message: String
    var description: String { "HEINFER_REQUIRE_POSTGRES=1 but " + message }
  }

  /// Runs `body` with a migrated, running database in a new schema (dropped afterwards); more
  /// than one handle (`instances`) stands for several processes on the same schema.
  static func withDatabases<T: Sendable>(
    instances: Int = 1, _ body: @Sendable ([PostgresBackend]) async throws -> T
  ) async throws -> T {
    let settings = try freshSettings()
    var logger = Logger(label: "test-postgres")
    logger.logLevel = .error
    try await PostgresBackend.migrate(settings: settings, logger: logger)
    let databases = (0..<instances).map { _ in PostgresBackend(settings: settings, logger: logger) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
      for database in databases { group.addTask { try await database.run() } }
      defer { group.cancelAll() }
      do {
        let result = try await body(databases)
        try await dropSchema(settings, on: databases[0])
        return result
      } catch {
        try? await dropSchema(settings, on: databases[0])
        throw error
      }
    }
  }

  static func withDatabase<T: Sendable>(_ body: @Sendable (PostgresBackend) async throws -> T) async throws -> T {
    try await withDatabases { try await body($0[0]) }
  }

  private static func dropSchema(_ settings: PostgresSettings, on database: PostgresBackend) async throws {
    guard let schema = settings.schema else { return }
    try await database.client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"))
  }
}

@Suite("PostgreSQL for the tests")
struct TestPostgresTests {
  @Test("The server the tests need is there (skipped without one, failed when CI requires it)")
  func available() async throws {
    let version = try await TestPostgres.withDatabase { database in
      var version = ""
      for try await text in try await database.client.query("SHOW server_version").decode(String.self) {
        version = text
      }
      return version
    }
    #expect(!version.isEmpty)
  }
}

/// The key stores the same tests run against.
enum KeyStoreKind: String, CaseIterable, CustomTestStringConvertible {
  case memory, postgres
  var testDescription: String { rawValue }

  func withStore(
    timeToLive: Duration = .seconds(3600), maximumSetsPerTenant: Int = 8, maximumBytesPerTenant: Int = 64 << 20,
    maximumBytes: Int = 1 << 30, _ body: @Sendable (any EvaluationKeyStoring) async throws -> Void
  ) async throws {
    switch self {
    case .memory:
      try await body(
        EvaluationKeyStore(
          timeToLive: timeToLive, maximumSetsPerTenant: maximumSetsPerTenant,
          maximumBytesPerTenant: maximumBytesPerTenant, maximumBytes: maximumBytes))
    case .postgres:
      let registry = try ModelRegistry.bundled()
      try await TestPostgres.withDatabase { database in
        try await body(
          PostgresKeyStore(
            backend: database, registry: registry, timeToLive: timeToLive,
            maximumSetsPerTenant: maximumSetsPerTenant, maximumBytesPerTenant: maximumBytesPerTenant,
            maximumBytes: maximumBytes))
      }
    }
  }
}

extension KeyRegistration {
  /// A registration of `bytes` uploaded bytes holding no real key (for quota and expiry tests).
  static func fake(tenant: String, bytes: Int) -> KeyRegistration {
    KeyRegistration(
      tenant: tenant, modelId: "m", version: "1.0.0", relinearizationKey: nil, galoisKeys: nil, publicKey: nil,
      serializedRelinearizationKey: [UInt8](repeating: 7, count: bytes), serializedGaloisKeys: nil,
      serializedPublicKey: nil, sizeBytes: bytes)
  }
}
