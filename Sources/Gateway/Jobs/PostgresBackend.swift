import Foundation
public import Logging
import NIOSSL
import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Why the PostgreSQL settings were refused.
public struct PostgresSettingsError: Error, Sendable, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}

/// Where and how to reach PostgreSQL, parsed from a `postgres://user:password@host:port/database`
/// URL with optional query items `sslmode=disable|prefer|require` (default `prefer`, as in libpq)
/// and `schema=NAME` (the tables' schema, created if missing; default `public`), so that several
/// deployments can share one database.
public struct PostgresSettings: Sendable, CustomStringConvertible {
  public var host: String
  public var port: Int
  public var username: String
  public var password: String?
  public var database: String
  public enum TLSMode: String, Sendable { case disable, prefer, require }
  public var tls: TLSMode
  /// The schema holding the tables; nil for the database's default search path.
  public var schema: String?
  /// Most connections one process opens.
  public var maximumConnections: Int

  /// Parses `url`.
  /// - Throws: ``PostgresSettingsError`` naming what is missing or malformed.
  public init(url: String, maximumConnections: Int = 16) throws(PostgresSettingsError) {
    guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "")
    else { throw PostgresSettingsError("the database URL must look like postgres://user:password@host:port/database") }
    guard let host = components.host, !host.isEmpty else { throw PostgresSettingsError("the database URL has no host") }
    guard let user = components.user, !user.isEmpty else { throw PostgresSettingsError("the database URL has no user") }
    let database = String(components.path.drop(while: { $0 == "/" }))
    guard !database.isEmpty else { throw PostgresSettingsError("the database URL names no database") }
    let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
    guard let tls = TLSMode(rawValue: mode) else {
      throw PostgresSettingsError("sslmode must be disable, prefer or require, not \(mode)")
    }
    let schema = components.queryItems?.first(where: { $0.name == "schema" })?.value
    if let schema {
      guard !schema.isEmpty, schema.count <= 63,
        schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
        schema.first?.isLetter == true
      else {
        throw PostgresSettingsError("schema must be 1 to 63 lowercase letters, digits or _, starting with a letter")
      }
    }
    guard maximumConnections >= 2 else {
      throw PostgresSettingsError("at least 2 connections are needed (one listens for notifications)")
    }
    self.host = host
    self.port = components.port ?? 5432
    self.username = user
    self.password = components.password
    self.database = database
    self.tls = tls
    self.schema = schema
    self.maximumConnections = maximumConnections
  }

  /// The URL without its password (for logs).
  public var description: String {
    "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
      + (schema.map { "&schema=\($0)" } ?? "")
  }

  /// The notification channel of this schema's processes.
  var channel: String { "heinfer_events" + (schema.map { "_" + $0 } ?? "") }

  var clientConfiguration: PostgresClient.Configuration {
    let tlsConfiguration: PostgresClient.Configuration.TLS =
      switch tls {
      case .disable: .disable
      case .prefer: .prefer(.makeClientConfiguration())
      case .require: .require(.makeClientConfiguration())
      }
    var configuration = PostgresClient.Configuration(
      host: host, port: port, username: username, password: password, database: database, tls: tlsConfiguration)
    configuration.options.maximumConnections = maximumConnections
    configuration.options.connectTimeout = .seconds(5)
    if let schema {
      // A setting in the start-up message applies to the whole session.
      configuration.options.additionalStartupParameters = [("search_path", schema)]
    }
    return configuration
  }
}

/// One PostgreSQL database shared by every gateway and worker process: a connection pool, the
/// schema's migrations, and a listener that turns the database's notifications into
/// ``QueueSignals``. Runs as a service (it must be running for queries to go through); put it
/// first in a service group so that it stops last.
public final class PostgresBackend: Service, Sendable {
  public let settings: PostgresSettings
  let client: PostgresClient
  let logger: Logger
  /// Wake-ups from every process on this database.
  public let signals = QueueSignals()
  /// The channel all processes notify and listen on; payloads are `queued` and `finished:<job id>`.
  let channel: String
  /// Whether the listener is subscribed, and who waits for it to be.
  private let listening = Mutex<(subscribed: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  public init(settings: PostgresSettings, logger: Logger) {
    self.settings = settings
    self.logger = logger
    channel = settings.channel
    client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
  }

  public func run() async throws {
    await withDiscardingTaskGroup { group in
      group.addTask { await self.client.run() }
      group.addTask { await self.listen() }
    }
  }

  /// Listens for notifications until cancelled, reconnecting after a lost connection; while it is
  /// away, workers and waiters fall back on polling.
  private func listen() async {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          try await self.client.withConnection { connection in
            try await connection.listen(on: self.channel) { notifications in
              self.setListening(true)
              defer { self.setListening(false) }
              // Whatever happened while nobody listened: let workers look for work now.
              self.signals.workQueued()
              for try await notification in notifications {
                if notification.payload == "queued" {
                  self.signals.workQueued()
                } else if notification.payload.hasPrefix("finished:") {
                  self.signals.jobFinished(String(notification.payload.dropFirst("finished:".count)))
                }
              }
            }
          }
        } catch {
          if Task.isCancelled { return }
          self.logger.warning(
            "database notifications lost; retrying", metadata: ["error": "\(String(reflecting: error))"])
        }
        try? await Task.sleep(for: .seconds(1))
      }
    }
  }

  private func setListening(_ subscribed: Bool) {
    let waiters = listening.withLock { state in
      state.subscribed = subscribed
      guard subscribed else { return [CheckedContinuation<Void, Never>]() }
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once this process listens for notifications (tests use it to avoid racing the
  /// subscription; the gateway does not need to wait: it also polls).
  func untilListening() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = listening.withLock { state in
        if state.subscribed { return true }
        state.waiters.append(continuation)
        return false
      }
      if now { continuation.resume() }
    }
  }

  /// Creates or upgrades the schema; safe to call from several processes at once (they take turns
  /// under an advisory lock). Runs a client of its own, so it works before ``run()`` starts.
  /// - Throws: ``JobStoreError/backend(_:)`` when the database cannot be reached or migrated.
  public static func migrate(settings: PostgresSettings, logger: Logger) async throws(JobStoreError) {
    let client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: logger)
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        try await client.withConnection { connection in
          // Session-level lock: held across the migrations' own transactions, released on return.
          try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
          do {
            if let schema = settings.schema {
              // The name was checked when the URL was parsed: lowercase letters, digits and _.
              try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
            }
            try await PostgresSchema.apply(on: connection, logger: logger)
          } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
            throw error
          }
          try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        }
      }
    } catch {
      throw .backend("cannot migrate the database at \(settings): \(String(reflecting: error))")
    }
  }

  /// The advisory lock key migrations hold (an arbitrary constant of this application).
  static let migrationLock: Int64 = 0x6865_696E_6665_72

  /// Runs `body` in a transaction, turning database errors into ``JobStoreError/backend(_:)``.
  func transaction<Result: Sendable>(
    _ body: @Sendable (PostgresConnection) async throws -> Result
  ) async throws(JobStoreError) -> Result {
    do {
      return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
    } catch let error as JobStoreError {
      throw error
    } catch let error as PostgresTransactionError {
      if let closure = error.closureError as? JobStoreError { throw closure }
      throw .backend(String(reflecting: error))
    } catch {
      throw .backend(String(reflecting: error))
    }
  }

  /// Runs `body` with a pooled connection, turning database errors into ``JobStoreError/backend(_:)``.
  func withConnection<Result: Sendable>(
    _ body: @Sendable (PostgresConnection) async throws -> Result
  ) async throws(JobStoreError) -> Result {
    do {
      return try await client.withConnection { connection in try await body(connection) }
    } catch let error as JobStoreError {
      throw error
    } catch {
      throw .backend(String(reflecting: error))
    }
  }
}

/// The schema, as an ordered list of migrations; each runs once, in its own transaction, and is
/// recorded in `heinfer_schema_migration`.
enum PostgresSchema {
  static let migrations: [(version: Int, name: String, statements: [String])] = [
    (
      1, "jobs, their inputs and outputs, evaluation keys",
      [
        """
        CREATE TABLE heinfer_job (
          id text PRIMARY KEY,
          tenant text NOT NULL,
          model_id text NOT NULL,
          version text NOT NULL,
          contract text NOT NULL,
          status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
          created_at double precision NOT NULL,
          updated_at double precision NOT NULL,
          requested_batch_size integer NOT NULL,
          processed_batch_size integer NOT NULL,
          evaluation_ms double precision NOT NULL,
          error_code text,
          error_message text,
          fetched_at double precision,
          input_bytes bigint NOT NULL DEFAULT 0,
          result_bytes bigint NOT NULL DEFAULT 0,
          evaluation_key_id text,
          seal_version text,
          attempts integer NOT NULL DEFAULT 0,
          lease_token text,
          lease_expires_at double precision
        )
        """,
        "CREATE INDEX heinfer_job_tenant ON heinfer_job (tenant)",
        "CREATE INDEX heinfer_job_updated ON heinfer_job (updated_at)",
        "CREATE INDEX heinfer_job_fetched ON heinfer_job (fetched_at) WHERE fetched_at IS NOT NULL",
        // The queue: only unfinished jobs, oldest first.
        "CREATE INDEX heinfer_job_pending ON heinfer_job (created_at) WHERE status IN ('queued', 'running')",
        """
        CREATE TABLE heinfer_job_input (
          job_id text NOT NULL REFERENCES heinfer_job (id) ON DELETE CASCADE,
          position integer NOT NULL,
          payload bytea NOT NULL,
          PRIMARY KEY (job_id, position)
        )
        """,
        """
        CREATE TABLE heinfer_job_output (
          job_id text NOT NULL REFERENCES heinfer_job (id) ON DELETE CASCADE,
          position integer NOT NULL,
          payload bytea NOT NULL,
          PRIMARY KEY (job_id, position)
        )
        """,
        """
        CREATE TABLE heinfer_key_set (
          id text PRIMARY KEY,
          tenant text NOT NULL,
          model_id text NOT NULL,
          version text NOT NULL,
          relinearization_key bytea,
          galois_keys bytea,
          public_key bytea,
          size_bytes bigint NOT NULL,
          created_at double precision NOT NULL,
          expires_at double precision NOT NULL
        )
        """,
        "CREATE INDEX heinfer_key_set_tenant ON heinfer_key_set (tenant)",
        "CREATE INDEX heinfer_key_set_expires ON heinfer_key_set (expires_at)",
        // Ciphertexts and keys are uniformly random: compressing them costs time and saves nothing.
        "ALTER TABLE heinfer_job_input ALTER COLUMN payload SET STORAGE EXTERNAL",
        "ALTER TABLE heinfer_job_output ALTER COLUMN payload SET STORAGE EXTERNAL",
        "ALTER TABLE heinfer_key_set ALTER COLUMN relinearization_key SET STORAGE EXTERNAL",
        "ALTER TABLE heinfer_key_set ALTER COLUMN galois_keys SET STORAGE EXTERNAL",
        "ALTER TABLE heinfer_key_set ALTER COLUMN public_key SET STORAGE EXTERNAL",
      ]
    )
  ]

  /// Applies the migrations not applied yet, each in a transaction; the caller holds the lock.
  static func apply(on connection: PostgresConnection, logger: Logger) async throws {
    try await connection.query(
      """
      CREATE TABLE IF NOT EXISTS heinfer_schema_migration (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
      """, logger: logger)
    var applied: Set<Int> = []
    for try await version in try await connection.query(
      "SELECT version FROM heinfer_schema_migration", logger: logger
    ).decode(Int.self) {
      applied.insert(version)
    }
    for migration in migrations where !applied.contains(migration.version) {
      try await connection.withTransaction(logger: logger) { connection in
        for statement in migration.statements {
          try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.query(
          "INSERT INTO heinfer_schema_migration (version, name) VALUES (\(migration.version), \(migration.name))",
          logger: logger)
      }
      logger.info("database migrated", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
    }
  }
}
