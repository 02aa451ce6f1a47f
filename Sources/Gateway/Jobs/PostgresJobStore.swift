public import Foundation
import Logging
import PostgresNIO

/// Jobs, their results and the queue of pending evaluations in PostgreSQL, shared by every gateway
/// and worker process on the database (docs/deployment.md). A queued job keeps its request's
/// ciphertexts until a worker records its outcome, so a process that dies loses no accepted job:
/// its lease expires and another worker runs the job again.
public final class PostgresJobStore: SharedJobQueue {
  let backend: PostgresBackend

  /// A store on `backend`'s database, which must be migrated (``PostgresBackend/migrate(settings:logger:)``)
  /// and running.
  public init(backend: PostgresBackend) {
    self.backend = backend
  }

  public var signals: QueueSignals { backend.signals }

  /// The job columns, in the order ``decodeJob(_:)`` reads them.
  private static func jobColumns(of table: String = "heinfer_job") -> String {
    [
      "id", "tenant", "model_id", "version", "contract", "status", "created_at", "updated_at",
      "requested_batch_size", "processed_batch_size", "evaluation_ms", "error_code", "error_message", "fetched_at",
    ].map { "\(table).\($0)" }.joined(separator: ", ")
  }

  private static func decodeJob(_ row: PostgresRow) throws -> JobRecord {
    let (id, tenant, modelId, version, contract, status, createdAt, updatedAt, requested) =
      try row.decode((String, String, String, String, String, String, Double, Double, Int).self)
    let columns = row.makeRandomAccess()
    guard let contract = JobRecord.Contract(rawValue: contract), let status = JobRecord.Status(rawValue: status)
    else { throw JobStoreError.backend("unknown job contract or status in the database") }
    var job = JobRecord(
      id: id, tenant: tenant, modelId: modelId, version: version, batchSize: requested,
      now: Date(timeIntervalSince1970: createdAt), contract: contract)
    job.status = status
    job.updatedAt = Date(timeIntervalSince1970: updatedAt)
    job.processedBatchSize = try columns[9].decode(Int.self)
    job.evaluationMilliseconds = try columns[10].decode(Double.self)
    job.errorCode = try columns[11].decode(String?.self)
    job.errorMessage = try columns[12].decode(String?.self)
    job.fetchedAt = try columns[13].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }
    return job
  }

  private static func payloads(
    _ table: String, of id: String, on connection: PostgresConnection, logger: Logger
  ) async throws -> [Data] {
    var payloads: [Data] = []
    let rows = try await connection.query(
      PostgresQuery(
        unsafeSQL: "SELECT payload FROM \(table) WHERE job_id = $1 ORDER BY position",
        binds: {
          var binds = PostgresBindings()
          binds.append(id)
          return binds
        }()), logger: logger)
    for try await payload in rows.decode(Data.self) { payloads.append(payload) }
    return payloads
  }

  private static func insertPayloads(
    _ table: String, _ payloads: [Data], of id: String, on connection: PostgresConnection, logger: Logger
  ) async throws {
    for (position, payload) in payloads.enumerated() {
      var binds = PostgresBindings()
      binds.append(id)
      binds.append(position)
      try binds.append(payload)
      try await connection.query(
        PostgresQuery(unsafeSQL: "INSERT INTO \(table) (job_id, position, payload) VALUES ($1, $2, $3)", binds: binds),
        logger: logger)
    }
  }

  // MARK: JobStore

  public func insert(_ job: JobRecord) async throws(JobStoreError) {
    try await insert(job, inputs: [], work: nil)
  }

  private func insert(_ job: JobRecord, inputs: [Data], work: PendingEvaluation?) async throws(JobStoreError) {
    let logger = backend.logger
    try await backend.transaction { connection in
      let resultBytes = job.outputs.reduce(0) { $0 + $1.count }
      let inserted = try await connection.query(
        """
        INSERT INTO heinfer_job (id, tenant, model_id, version, contract, status, created_at, updated_at,
          requested_batch_size, processed_batch_size, evaluation_ms, error_code, error_message, input_bytes,
          result_bytes, evaluation_key_id, seal_version)
        VALUES (\(job.id), \(job.tenant), \(job.modelId), \(job.version), \(job.contract.rawValue),
          \(job.status.rawValue), \(job.createdAt.timeIntervalSince1970), \(job.updatedAt.timeIntervalSince1970),
          \(job.requestedBatchSize), \(job.processedBatchSize), \(job.evaluationMilliseconds), \(job.errorCode),
          \(job.errorMessage), \(work?.byteCount ?? 0), \(resultBytes), \(work?.evaluationKeyId), \(work?.sealVersion))
        ON CONFLICT (id) DO NOTHING
        RETURNING id
        """, logger: logger)
      var any = false
      for try await _ in inserted { any = true }
      guard any else { throw JobStoreError.duplicate(job.id) }
      try await Self.insertPayloads("heinfer_job_output", job.outputs, of: job.id, on: connection, logger: logger)
      try await Self.insertPayloads("heinfer_job_input", inputs, of: job.id, on: connection, logger: logger)
    }
  }

  public func update(_ job: JobRecord) async throws(JobStoreError) {
    let logger = backend.logger
    let channel = backend.channel
    let changed = try await backend.transaction { connection in
      try await Self.recordOutcome(job, leaseToken: nil, channel: channel, on: connection, logger: logger)
    }
    guard changed else {
      let exists = try await backend.withConnection { connection in
        var found = false
        for try await _ in try await connection.query("SELECT 1 FROM heinfer_job WHERE id = \(job.id)", logger: logger)
        {
          found = true
        }
        return found
      }
      throw exists ? .immutable(job.id) : .notFound(job.id)
    }
  }

  /// Writes `job`'s state and outputs if it is not final yet (and, given a lease token, if it is
  /// running under that lease); once final, drops its inputs and notifies its end. Returns whether
  /// the row changed.
  private static func recordOutcome(
    _ job: JobRecord, leaseToken: String?, channel: String, on connection: PostgresConnection, logger: Logger
  ) async throws -> Bool {
    var binds = PostgresBindings()
    binds.append(job.id)
    binds.append(leaseToken)
    binds.append(job.status.rawValue)
    binds.append(job.updatedAt.timeIntervalSince1970)
    binds.append(job.processedBatchSize)
    binds.append(job.evaluationMilliseconds)
    binds.append(job.errorCode)
    binds.append(job.errorMessage)
    binds.append(job.outputs.reduce(0) { $0 + $1.count })
    let rows = try await connection.query(
      PostgresQuery(
        unsafeSQL: """
          UPDATE heinfer_job SET status = $3, updated_at = $4, processed_batch_size = $5, evaluation_ms = $6,
            error_code = $7, error_message = $8, result_bytes = $9,
            lease_token = CASE WHEN $3 IN ('completed', 'failed') THEN NULL ELSE lease_token END
          WHERE id = $1 AND status IN ('queued', 'running')
            AND ($2::text IS NULL OR (status = 'running' AND lease_token = $2::text))
          RETURNING id
          """, binds: binds), logger: logger)
    var changed = false
    for try await _ in rows { changed = true }
    guard changed else { return false }
    try await connection.query("DELETE FROM heinfer_job_output WHERE job_id = \(job.id)", logger: logger)
    try await insertPayloads("heinfer_job_output", job.outputs, of: job.id, on: connection, logger: logger)
    if job.status.isFinal {
      try await connection.query(
        "UPDATE heinfer_job SET input_bytes = 0 WHERE id = \(job.id)", logger: logger)
      try await connection.query("DELETE FROM heinfer_job_input WHERE job_id = \(job.id)", logger: logger)
      try await connection.query(
        "SELECT pg_notify(\(channel), \("finished:" + job.id))", logger: logger)
    }
    return true
  }

  public func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord? {
    let logger = backend.logger
    return try await backend.withConnection { connection in
      var found: JobRecord?
      for try await row in try await connection.query(
        PostgresQuery(
          unsafeSQL: "SELECT \(Self.jobColumns()) FROM heinfer_job WHERE id = $1 AND tenant = $2",
          binds: {
            var binds = PostgresBindings()
            binds.append(id)
            binds.append(tenant)
            return binds
          }()), logger: logger)
      {
        found = try Self.decodeJob(row)
      }
      guard var job = found else { return nil }
      if job.status == .completed {
        job.outputs = try await Self.payloads("heinfer_job_output", of: id, on: connection, logger: logger)
      }
      return job
    }
  }

  public func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError)
    -> Int
  {
    let logger = backend.logger
    // Plain deletes: several processes may sweep at once; each row goes once.
    return try await backend.withConnection { connection in
      var count = 0
      for try await _ in try await connection.query(
        """
        DELETE FROM heinfer_job WHERE updated_at < \(cutoff.timeIntervalSince1970)
          OR fetched_at < \(fetchedCutoff.timeIntervalSince1970) RETURNING id
        """, logger: logger)
      {
        count += 1
      }
      return count
    }
  }

  public func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError) {
    let logger = backend.logger
    try await backend.withConnection { connection in
      _ = try await connection.query(
        """
        UPDATE heinfer_job SET fetched_at = \(time.timeIntervalSince1970)
        WHERE id = \(id) AND tenant = \(tenant) AND fetched_at IS NULL
        """, logger: logger)
    }
  }

  public func usage(tenant: String) async throws(JobStoreError) -> JobUsage {
    let logger = backend.logger
    return try await backend.withConnection { connection in
      var usage = JobUsage(jobs: 0, resultBytes: 0)
      for try await (jobs, bytes) in try await connection.query(
        "SELECT count(*)::bigint, COALESCE(sum(result_bytes), 0)::bigint FROM heinfer_job WHERE tenant = \(tenant)",
        logger: logger
      ).decode((Int, Int).self) {
        usage = JobUsage(jobs: jobs, resultBytes: bytes)
      }
      return usage
    }
  }

  /// Bytes of the inputs and results of the jobs held (not the database's files, which keep
  /// their size after deletes until PostgreSQL reuses the space).
  public func storedBytes() async throws(JobStoreError) -> Int {
    let logger = backend.logger
    return try await backend.withConnection { connection in
      var total = 0
      for try await bytes in try await connection.query(
        "SELECT COALESCE(sum(input_bytes + result_bytes), 0)::bigint FROM heinfer_job", logger: logger
      ).decode(Int.self) {
        total = bytes
      }
      return total
    }
  }

  /// Nothing to do: a job left running by a process that died keeps its inputs, and another
  /// worker claims it again when its lease expires.
  public func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int { 0 }

  // MARK: SharedJobQueue

  public func enqueue(_ job: JobRecord, work: PendingEvaluation, maximumQueued: Int) async throws(JobStoreError)
    -> Bool
  {
    let logger = backend.logger
    let channel = backend.channel
    let queued = try await queuedCount()
    // Fronts check and insert without a lock between them, so the bound holds to within the
    // number of fronts submitting at the same moment.
    guard queued < maximumQueued else { return false }
    try await insert(job, inputs: work.inputs, work: work)
    try await backend.withConnection { connection in
      _ = try await connection.query("SELECT pg_notify(\(channel), 'queued')", logger: logger)
    }
    return true
  }

  public func queuedCount() async throws(JobStoreError) -> Int {
    let logger = backend.logger
    return try await backend.withConnection { connection in
      var count = 0
      for try await queued in try await connection.query(
        "SELECT count(*)::bigint FROM heinfer_job WHERE status = 'queued'", logger: logger
      ).decode(Int.self) {
        count = queued
      }
      return count
    }
  }

  public func claim(lease: Duration, maximumAttempts: Int) async throws(JobStoreError) -> ClaimedJob? {
    let logger = backend.logger
    let channel = backend.channel
    let token = RandomIdentifier.make()
    let seconds = lease / .seconds(1)
    return try await backend.transaction { connection in
      // Jobs whose workers died too often: fail them rather than let them kill more workers.
      let exhausted = try await connection.query(
        """
        UPDATE heinfer_job SET status = 'failed', error_code = 'JOB_FAILED',
          error_message = 'evaluation was interrupted ' || attempts || ' times (its worker stopped); not retried',
          updated_at = extract(epoch FROM clock_timestamp()), lease_token = NULL, input_bytes = 0
        WHERE status = 'running' AND lease_expires_at < extract(epoch FROM clock_timestamp())
          AND attempts >= \(maximumAttempts)
        RETURNING id
        """, logger: logger)
      var failed: [String] = []
      for try await id in exhausted.decode(String.self) { failed.append(id) }
      for id in failed {
        logger.error("job failed after repeated interrupted evaluations", metadata: ["job_id": "\(id)"])
        try await connection.query("DELETE FROM heinfer_job_input WHERE job_id = \(id)", logger: logger)
        try await connection.query(
          "SELECT pg_notify(\(channel), \("finished:" + id))", logger: logger)
      }
      let claimed = try await connection.query(
        PostgresQuery(
          unsafeSQL: """
            WITH next AS (
              SELECT id FROM heinfer_job
              WHERE status = 'queued'
                OR (status = 'running' AND lease_expires_at < extract(epoch FROM clock_timestamp()))
              ORDER BY created_at LIMIT 1
              FOR UPDATE SKIP LOCKED)
            UPDATE heinfer_job AS job SET status = 'running', attempts = job.attempts + 1, lease_token = $1,
              lease_expires_at = extract(epoch FROM clock_timestamp()) + $2
            FROM next WHERE job.id = next.id
            RETURNING \(Self.jobColumns(of: "job")),
              job.attempts, job.evaluation_key_id, job.seal_version
            """,
          binds: {
            var binds = PostgresBindings()
            binds.append(token)
            binds.append(seconds)
            return binds
          }()), logger: logger)
      var claim: ClaimedJob?
      for try await row in claimed {
        let job = try Self.decodeJob(row)
        let columns = row.makeRandomAccess()
        claim = ClaimedJob(
          job: job,
          work: PendingEvaluation(
            inputs: [], evaluationKeyId: try columns[15].decode(String?.self),
            sealVersion: try columns[16].decode(String?.self)),
          leaseToken: token, attempt: try columns[14].decode(Int.self))
      }
      guard var claim else { return nil }
      claim.work.inputs = try await Self.payloads("heinfer_job_input", of: claim.job.id, on: connection, logger: logger)
      return claim
    }
  }

  public func renew(_ claim: ClaimedJob, lease: Duration) async throws(JobStoreError) -> Bool {
    let logger = backend.logger
    let seconds = lease / .seconds(1)
    return try await backend.withConnection { connection in
      var renewed = false
      for try await _ in try await connection.query(
        """
        UPDATE heinfer_job SET lease_expires_at = extract(epoch FROM clock_timestamp()) + \(seconds)
        WHERE id = \(claim.job.id) AND lease_token = \(claim.leaseToken) AND status = 'running'
        RETURNING id
        """, logger: logger)
      {
        renewed = true
      }
      return renewed
    }
  }

  public func complete(_ claim: ClaimedJob, outcome: JobRecord) async throws(JobStoreError) -> Bool {
    precondition(outcome.id == claim.job.id && outcome.status.isFinal)
    let logger = backend.logger
    let channel = backend.channel
    return try await backend.transaction { connection in
      try await Self.recordOutcome(
        outcome, leaseToken: claim.leaseToken, channel: channel, on: connection, logger: logger)
    }
  }
}
