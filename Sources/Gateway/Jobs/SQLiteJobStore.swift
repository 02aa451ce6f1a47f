public import Foundation
import GRDB

/// The embedded default job store: one SQLite file (WAL mode) through GRDB, so jobs and their
/// results survive a restart. Result ciphertexts are stored as blobs, one row per output.
public final class SQLiteJobStore: JobStore {
  private let database: DatabasePool

  /// Opens (creating if needed) the database at `path` and migrates it.
  /// - Throws: ``JobStoreError/backend(_:)`` when the file cannot be opened or migrated.
  public init(path: String) throws(JobStoreError) {
    do {
      var configuration = Configuration()
      // WAL with synchronous = NORMAL: commits survive a crash of the gateway (the WAL is synced at
      // checkpoints), and only a power loss can drop the last few job updates; FULL would fsync
      // every commit, which cost about a millisecond per request here.
      configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
      database = try DatabasePool(path: path, configuration: configuration)
      try Self.migrator.migrate(database)
    } catch {
      throw .backend("cannot open the job database at \(path): \(error)")
    }
  }

  private static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1: jobs and outputs") { db in
      try db.create(table: "job") { table in
        table.primaryKey("id", .text)
        table.column("tenant", .text).notNull()
        table.column("modelId", .text).notNull()
        table.column("version", .text).notNull()
        table.column("status", .text).notNull()
        table.column("createdAt", .double).notNull()
        table.column("updatedAt", .double).notNull().indexed()
        table.column("requestedBatchSize", .integer).notNull()
        table.column("processedBatchSize", .integer).notNull()
        table.column("evaluationMilliseconds", .double).notNull()
        table.column("errorCode", .text)
        table.column("errorMessage", .text)
      }
      try db.create(table: "jobOutput") { table in
        table.column("jobId", .text).notNull().references("job", onDelete: .cascade)
        table.column("position", .integer).notNull()
        table.column("payload", .blob).notNull()
        table.primaryKey(["jobId", "position"])
      }
    }
    migrator.registerMigration("v2: the contract a job came through") { db in
      try db.alter(table: "job") { table in
        table.add(column: "contract", .text).notNull().defaults(to: JobRecord.Contract.gateway.rawValue)
      }
    }
    migrator.registerMigration("v3: when results were fetched; per-tenant usage") { db in
      try db.alter(table: "job") { table in table.add(column: "fetchedAt", .double) }
      try db.create(index: "job_fetchedAt", on: "job", columns: ["fetchedAt"])
      try db.create(index: "job_tenant", on: "job", columns: ["tenant"])
    }
    migrator.registerMigration("v4: per-tenant usage kept by triggers") { db in
      // What each tenant holds, kept by triggers so that the quota check before every job reads
      // one row instead of summing the tenant's results. Outputs are inserted once per job (when
      // it completes; a queued job has none) and leave with their job.
      try db.execute(
        sql: """
          CREATE TABLE tenantUsage (
            tenant TEXT PRIMARY KEY NOT NULL, jobs INTEGER NOT NULL, resultBytes INTEGER NOT NULL);
          INSERT INTO tenantUsage (tenant, jobs, resultBytes)
            SELECT job.tenant, COUNT(DISTINCT job.id), COALESCE(SUM(LENGTH(jobOutput.payload)), 0)
            FROM job LEFT JOIN jobOutput ON jobOutput.jobId = job.id GROUP BY job.tenant;
          CREATE TRIGGER jobInserted AFTER INSERT ON job BEGIN
            INSERT INTO tenantUsage (tenant, jobs, resultBytes) VALUES (NEW.tenant, 1, 0)
              ON CONFLICT (tenant) DO UPDATE SET jobs = jobs + 1;
          END;
          CREATE TRIGGER outputInserted AFTER INSERT ON jobOutput BEGIN
            UPDATE tenantUsage SET resultBytes = resultBytes + LENGTH(NEW.payload)
              WHERE tenant = (SELECT tenant FROM job WHERE id = NEW.jobId);
          END;
          CREATE TRIGGER jobDeleting BEFORE DELETE ON job BEGIN
            UPDATE tenantUsage SET jobs = jobs - 1,
              resultBytes = resultBytes - COALESCE((SELECT SUM(LENGTH(payload)) FROM jobOutput WHERE jobId = OLD.id), 0)
              WHERE tenant = OLD.tenant;
          END;
          """)
    }
    return migrator
  }

  public func insert(_ job: JobRecord) async throws(JobStoreError) {
    try await write { db in
      if try Row.fetchOne(db, sql: "SELECT 1 FROM job WHERE id = ?", arguments: [job.id]) != nil {
        throw JobStoreError.duplicate(job.id)
      }
      try db.execute(
        sql: """
          INSERT INTO job (id, tenant, modelId, version, status, createdAt, updatedAt, requestedBatchSize,
                           processedBatchSize, evaluationMilliseconds, errorCode, errorMessage, contract)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          job.id, job.tenant, job.modelId, job.version, job.status.rawValue, job.createdAt.timeIntervalSince1970,
          job.updatedAt.timeIntervalSince1970, job.requestedBatchSize, job.processedBatchSize,
          job.evaluationMilliseconds, job.errorCode, job.errorMessage, job.contract.rawValue,
        ])
      try Self.insertOutputs(job, db)
    }
  }

  public func update(_ job: JobRecord) async throws(JobStoreError) {
    try await write { db in
      // Only a job that is not final yet may change: results are immutable.
      try db.execute(
        sql: """
          UPDATE job SET status = ?, updatedAt = ?, processedBatchSize = ?, evaluationMilliseconds = ?,
                         errorCode = ?, errorMessage = ?
          WHERE id = ? AND status IN ('queued', 'running')
          """,
        arguments: [
          job.status.rawValue, job.updatedAt.timeIntervalSince1970, job.processedBatchSize,
          job.evaluationMilliseconds, job.errorCode, job.errorMessage, job.id,
        ])
      guard db.changesCount == 1 else {
        let exists = try Row.fetchOne(db, sql: "SELECT 1 FROM job WHERE id = ?", arguments: [job.id]) != nil
        throw exists ? JobStoreError.immutable(job.id) : JobStoreError.notFound(job.id)
      }
      try db.execute(sql: "DELETE FROM jobOutput WHERE jobId = ?", arguments: [job.id])
      try Self.insertOutputs(job, db)
    }
  }

  public func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord? {
    do {
      return try await database.read { db -> JobRecord? in
        guard
          let row = try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ? AND tenant = ?", arguments: [id, tenant])
        else { return nil }
        guard let contract = JobRecord.Contract(rawValue: row["contract"]) else {
          throw JobStoreError.backend("unknown job contract in the database")
        }
        var job = JobRecord(
          id: row["id"], tenant: row["tenant"], modelId: row["modelId"], version: row["version"],
          batchSize: row["requestedBatchSize"], now: Date(timeIntervalSince1970: row["createdAt"]),
          contract: contract)
        guard let status = JobRecord.Status(rawValue: row["status"]) else {
          throw JobStoreError.backend("unknown job status in the database")
        }
        job.status = status
        job.updatedAt = Date(timeIntervalSince1970: row["updatedAt"])
        job.processedBatchSize = row["processedBatchSize"]
        job.evaluationMilliseconds = row["evaluationMilliseconds"]
        job.errorCode = row["errorCode"]
        job.errorMessage = row["errorMessage"]
        job.fetchedAt = (row["fetchedAt"] as Double?).map { Date(timeIntervalSince1970: $0) }
        job.outputs = try Data.fetchAll(
          db, sql: "SELECT payload FROM jobOutput WHERE jobId = ? ORDER BY position", arguments: [id])
        return job
      }
    } catch let error as JobStoreError {
      throw error
    } catch {
      throw .backend("\(error)")
    }
  }

  public func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError)
    -> Int
  {
    try await write { db in
      try db.execute(
        sql: "DELETE FROM job WHERE updatedAt < ? OR fetchedAt < ?",
        arguments: [cutoff.timeIntervalSince1970, fetchedCutoff.timeIntervalSince1970])
      return db.changesCount
    }
  }

  public func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError) {
    try await write { db in
      try db.execute(
        sql: "UPDATE job SET fetchedAt = ? WHERE id = ? AND tenant = ? AND fetchedAt IS NULL",
        arguments: [time.timeIntervalSince1970, id, tenant])
    }
  }

  public func usage(tenant: String) async throws(JobStoreError) -> JobUsage {
    try await read { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT jobs, resultBytes FROM tenantUsage WHERE tenant = ?", arguments: [tenant])
      else { return JobUsage(jobs: 0, resultBytes: 0) }
      return JobUsage(jobs: row["jobs"], resultBytes: row["resultBytes"])
    }
  }

  public func storedBytes() async throws(JobStoreError) -> Int {
    try await read { db in
      // Pages in use: the file's pages minus the free ones SQLite reuses before growing the file.
      let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
      let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
      let size = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
      return (pages - free) * size
    }
  }

  public func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int {
    try await write { db in
      try db.execute(
        sql: """
          UPDATE job SET status = 'failed', errorCode = 'JOB_FAILED', errorMessage = ?, updatedAt = ?
          WHERE status IN ('queued', 'running')
          """,
        arguments: [message, now.timeIntervalSince1970])
      return db.changesCount
    }
  }

  private static func insertOutputs(_ job: JobRecord, _ db: Database) throws {
    for (position, payload) in job.outputs.enumerated() {
      try db.execute(
        sql: "INSERT INTO jobOutput (jobId, position, payload) VALUES (?, ?, ?)",
        arguments: [job.id, position, payload])
    }
  }

  /// Runs `body` in a read transaction, mapping errors to ``JobStoreError``.
  private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(JobStoreError) -> T {
    do {
      return try await database.read { db in try body(db) }
    } catch let error as JobStoreError {
      throw error
    } catch {
      throw .backend("\(error)")
    }
  }

  /// Runs `body` in a write transaction, mapping errors to ``JobStoreError``.
  @discardableResult
  private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(JobStoreError) -> T {
    do {
      return try await database.write { db in try body(db) }
    } catch let error as JobStoreError {
      throw error
    } catch {
      throw .backend("\(error)")
    }
  }
}
