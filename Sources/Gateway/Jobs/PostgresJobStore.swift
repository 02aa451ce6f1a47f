public import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Jobs, their results and the queue of pending evaluations in PostgreSQL, shared by every gateway
/// and worker process on the database (docs/deployment.md). A queued job keeps its request's
/// ciphertexts until a worker records its outcome, so a process that dies loses no accepted job:
/// its lease expires and another worker runs the job again.
///
/// Each operation is one SQL statement (data-modifying `WITH` clauses), so one round trip and one
/// implicit transaction: a request costs the front two round trips and a job costs its worker
/// two, however many ciphertexts it carries.
public final class PostgresJobStore: SharedJobQueue {
  let backend: PostgresBackend
  /// Least time between two sweeps for jobs whose workers kept dying (see ``claim(lease:maximumAttempts:)``).
  let exhaustedSweepInterval: Duration
  /// When this process last swept.
  private let lastExhaustedSweep = Mutex<ContinuousClock.Instant?>(nil)

  /// A store on `backend`'s database, which must be migrated
  /// (``PostgresBackend/migrate(settings:logger:)``) and running.
  public convenience init(backend: PostgresBackend) {
    self.init(backend: backend, exhaustedSweepInterval: .seconds(1))
  }

  init(backend: PostgresBackend, exhaustedSweepInterval: Duration) {
    self.backend = backend
    self.exhaustedSweepInterval = exhaustedSweepInterval
  }

  public var signals: QueueSignals { backend.signals }

  /// The job columns, in the order ``decodeJob(_:)`` reads them (indices 0…13).
  private static func jobColumns(of table: String) -> String {
    [
      "id", "tenant", "model_id", "version", "contract", "status", "created_at", "updated_at",
      "requested_batch_size", "processed_batch_size", "evaluation_ms", "error_code", "error_message", "fetched_at",
    ].map { "\(table).\($0)" }.joined(separator: ", ")
  }

  private static func decodeJob(_ row: PostgresRandomAccessRow) throws -> JobRecord {
    guard let contract = JobRecord.Contract(rawValue: try row[4].decode(String.self)),
      let status = JobRecord.Status(rawValue: try row[5].decode(String.self))
    else { throw JobStoreError.backend("unknown job contract or status in the database") }
    var job = JobRecord(
      id: try row[0].decode(String.self), tenant: try row[1].decode(String.self),
      modelId: try row[2].decode(String.self), version: try row[3].decode(String.self),
      batchSize: try row[8].decode(Int.self), now: Date(timeIntervalSince1970: try row[6].decode(Double.self)),
      contract: contract)
    job.status = status
    job.updatedAt = Date(timeIntervalSince1970: try row[7].decode(Double.self))
    job.processedBatchSize = try row[9].decode(Int.self)
    job.evaluationMilliseconds = try row[10].decode(Double.self)
    job.errorCode = try row[11].decode(String?.self)
    job.errorMessage = try row[12].decode(String?.self)
    job.fetchedAt = try row[13].decode(Double?.self).map { Date(timeIntervalSince1970: $0) }
    return job
  }

  /// A statement built piece by piece: literal SQL, and values sent as bound parameters.
  private struct Statement {
    var text = PostgresQuery.StringInterpolation(literalCapacity: 512, interpolationCount: 16)

    mutating func sql(_ literal: String) { text.appendLiteral(literal) }
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws {
      try text.appendInterpolation(value)
    }
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws {
      try text.appendInterpolation(value)
    }

    /// `, name AS (INSERT INTO table … SELECT <job>.id, position, payload FROM <job>, (VALUES …))`,
    /// nothing when `payloads` is empty.
    mutating func insertPayloads(_ name: String, into table: String, _ payloads: [Data], from job: String) throws {
      guard !payloads.isEmpty else { return }
      sql(", \(name) AS (INSERT INTO \(table) (job_id, position, payload) SELECT \(job).id, v.position, v.payload ")
      sql("FROM \(job), (VALUES ")
      for (position, payload) in payloads.enumerated() {
        sql(position == 0 ? "(" : ", (")
        try bind(position)
        sql("::integer, ")
        try bind(payload)
        sql("::bytea)")
      }
      sql(") AS v (position, payload))")
    }

    var query: PostgresQuery { PostgresQuery(stringInterpolation: text) }
  }

  /// Runs `statement` and returns its rows, turning errors into ``JobStoreError/backend(_:)``.
  private func rows(_ statement: Statement) async throws(JobStoreError) -> [PostgresRandomAccessRow] {
    let logger = backend.logger
    let query = statement.query
    return try await backend.withConnection { connection in
      var rows: [PostgresRandomAccessRow] = []
      for try await row in try await connection.query(query, logger: logger) { rows.append(row.makeRandomAccess()) }
      return rows
    }
  }

  private func rows(_ build: (inout Statement) throws -> Void) async throws(JobStoreError) -> [PostgresRandomAccessRow]
  {
    var statement = Statement()
    do { try build(&statement) } catch { throw .backend("cannot encode a value: \(error)") }
    return try await rows(statement)
  }

  /// The one integer of a one-row, one-column answer.
  private func integer(_ rows: [PostgresRandomAccessRow], column: Int = 0) throws(JobStoreError) -> Int {
    guard let row = rows.first else { throw .backend("no row") }
    do { return try row[column].decode(Int.self) } catch { throw .backend("\(error)") }
  }

  // MARK: JobStore

  public func insert(_ job: JobRecord) async throws(JobStoreError) {
    _ = try await insert(job, work: nil, maximumQueued: nil, share: nil)
  }

  /// Inserts `job` (with `work`'s inputs, and a notification to the workers when given) unless
  /// `maximumQueued` jobs already wait or its tenant holds its `share` of queued and running jobs
  /// and their stored input bytes; returns what happened.
  private func insert(_ job: JobRecord, work: PendingEvaluation?, maximumQueued: Int?, share: TenantQueueShare?)
    async throws(JobStoreError) -> EnqueueOutcome
  {
    let channel = backend.channel
    let answer = try await rows { statement in
      // room.code: 1 room, 0 the queue is full, 2 the tenant holds its share.
      statement.sql("WITH room AS (SELECT CASE WHEN false THEN 1")
      if let maximumQueued {
        statement.sql(" WHEN (SELECT count(*) FROM heinfer_job WHERE status = 'queued') >= ")
        try statement.bind(maximumQueued)
        statement.sql(" THEN 0")
      }
      if let share {
        statement.sql(" WHEN (SELECT count(*) FROM heinfer_job WHERE status IN ('queued', 'running') AND tenant = ")
        try statement.bind(job.tenant)
        statement.sql(") >= ")
        try statement.bind(share.jobs)
        statement.sql(
          " OR (SELECT coalesce(sum(input_bytes), 0) FROM heinfer_job WHERE status IN ('queued', 'running') AND tenant = "
        )
        try statement.bind(job.tenant)
        statement.sql(") + ")
        try statement.bind(work?.byteCount ?? 0)
        statement.sql(" > ")
        try statement.bind(share.bytes)
        statement.sql(" THEN 2")
      }
      statement.sql(" ELSE 1 END AS code)")
      statement.sql(
        """
        , job AS (INSERT INTO heinfer_job (id, tenant, model_id, version, contract, status, created_at, updated_at,
          requested_batch_size, processed_batch_size, evaluation_ms, error_code, error_message, input_bytes,
          result_bytes, evaluation_key_id, seal_version) SELECT
        """)
      let values: [any PostgresThrowingDynamicTypeEncodable] = [
        job.id, job.tenant, job.modelId, job.version, job.contract.rawValue, job.status.rawValue,
        job.createdAt.timeIntervalSince1970, job.updatedAt.timeIntervalSince1970, job.requestedBatchSize,
        job.processedBatchSize, job.evaluationMilliseconds,
      ]
      for (index, value) in values.enumerated() {
        statement.sql(index == 0 ? " " : ", ")
        try statement.text.appendInterpolation(value)
      }
      statement.sql(", ")
      try statement.bind(job.errorCode)
      statement.sql("::text, ")
      try statement.bind(job.errorMessage)
      statement.sql("::text, ")
      try statement.bind(work?.byteCount ?? 0)
      statement.sql(", ")
      try statement.bind(job.outputs.reduce(0) { $0 + $1.count })
      statement.sql(", ")
      try statement.bind(work?.evaluationKeyId)
      statement.sql("::text, ")
      try statement.bind(work?.sealVersion)
      statement.sql("::text FROM room WHERE room.code = 1 ON CONFLICT (id) DO NOTHING RETURNING id)")
      try statement.insertPayloads("inputs", into: "heinfer_job_input", work?.inputs ?? [], from: "job")
      try statement.insertPayloads("outputs", into: "heinfer_job_output", job.outputs, from: "job")
      if work != nil {
        statement.sql(", notified AS (SELECT pg_notify(")
        try statement.bind(channel)
        statement.sql(", 'queued') FROM job)")
        statement.sql(" SELECT (SELECT code FROM room), (SELECT count(*) FROM job), (SELECT count(*) FROM notified)")
      } else {
        statement.sql(" SELECT (SELECT code FROM room), (SELECT count(*) FROM job)")
      }
    }
    switch try integer(answer) {
    case 0: return .queueFull
    case 2: return .tenantShareFull
    default: break
    }
    guard try integer(answer, column: 1) == 1 else { throw .duplicate(job.id) }
    return .queued
  }

  public func update(_ job: JobRecord) async throws(JobStoreError) {
    guard try await recordOutcome(job, leaseToken: nil) else {
      let found = try await rows { statement in
        statement.sql("SELECT count(*) FROM heinfer_job WHERE id = ")
        try statement.bind(job.id)
      }
      throw try integer(found) == 1 ? .immutable(job.id) : .notFound(job.id)
    }
  }

  /// Writes `job`'s state, and its outputs when final, if it is not final yet (and, given a lease
  /// token, if it is running under that lease); once final, drops its inputs and notifies its
  /// end. Outputs are written once: a job gets them when it becomes final. Returns whether the
  /// job changed.
  private func recordOutcome(_ job: JobRecord, leaseToken: String?) async throws(JobStoreError) -> Bool {
    let channel = backend.channel
    let final = job.status.isFinal
    let answer = try await rows { statement in
      statement.sql("WITH done AS (UPDATE heinfer_job SET status = ")
      try statement.bind(job.status.rawValue)
      statement.sql(", updated_at = ")
      try statement.bind(job.updatedAt.timeIntervalSince1970)
      statement.sql(", processed_batch_size = ")
      try statement.bind(job.processedBatchSize)
      statement.sql(", evaluation_ms = ")
      try statement.bind(job.evaluationMilliseconds)
      statement.sql(", error_code = ")
      try statement.bind(job.errorCode)
      statement.sql("::text, error_message = ")
      try statement.bind(job.errorMessage)
      statement.sql("::text, result_bytes = ")
      try statement.bind(final ? job.outputs.reduce(0) { $0 + $1.count } : 0)
      if final { statement.sql(", input_bytes = 0, lease_token = NULL") }
      statement.sql(" WHERE id = ")
      try statement.bind(job.id)
      statement.sql(" AND status IN ('queued', 'running')")
      if let leaseToken {
        statement.sql(" AND status = 'running' AND lease_token = ")
        try statement.bind(leaseToken)
      }
      statement.sql(" RETURNING id)")
      if final {
        try statement.insertPayloads("outputs", into: "heinfer_job_output", job.outputs, from: "done")
        statement.sql(", inputs AS (DELETE FROM heinfer_job_input WHERE job_id IN (SELECT id FROM done))")
        statement.sql(", notified AS (SELECT pg_notify(")
        try statement.bind(channel)
        statement.sql(", 'finished:' || id) FROM done)")
        statement.sql(" SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM notified)")
      } else {
        statement.sql(" SELECT count(*) FROM done")
      }
    }
    return try integer(answer) == 1
  }

  public func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord? {
    let answer = try await rows { statement in
      statement.sql("SELECT \(Self.jobColumns(of: "job")), output.payload FROM heinfer_job AS job ")
      statement.sql("LEFT JOIN heinfer_job_output AS output ON output.job_id = job.id AND job.status = 'completed' ")
      statement.sql("WHERE job.id = ")
      try statement.bind(id)
      statement.sql(" AND job.tenant = ")
      try statement.bind(tenant)
      statement.sql(" ORDER BY output.position")
    }
    guard let first = answer.first else { return nil }
    do {
      var job = try Self.decodeJob(first)
      job.outputs = try answer.compactMap { try $0[14].decode(Data?.self) }
      return job
    } catch {
      throw .backend("\(error)")
    }
  }

  public func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError)
    -> Int
  {
    // One statement: several processes may sweep at once; each row goes once.
    let answer = try await rows { statement in
      statement.sql("WITH gone AS (DELETE FROM heinfer_job WHERE updated_at < ")
      try statement.bind(cutoff.timeIntervalSince1970)
      statement.sql(" OR fetched_at < ")
      try statement.bind(fetchedCutoff.timeIntervalSince1970)
      statement.sql(" RETURNING id) SELECT count(*) FROM gone")
    }
    return try integer(answer)
  }

  public func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError) {
    _ = try await rows { statement in
      statement.sql("UPDATE heinfer_job SET fetched_at = ")
      try statement.bind(time.timeIntervalSince1970)
      statement.sql(" WHERE id = ")
      try statement.bind(id)
      statement.sql(" AND tenant = ")
      try statement.bind(tenant)
      statement.sql(" AND fetched_at IS NULL")
    }
  }

  public func usage(tenant: String) async throws(JobStoreError) -> JobUsage {
    try await admission(tenant: tenant).usage
  }

  /// Bytes of the inputs and results of the jobs held (not the database's files, which keep
  /// their size after deletes until PostgreSQL reuses the space).
  public func storedBytes() async throws(JobStoreError) -> Int {
    try await admission(tenant: "").storedBytes
  }

  /// Both in one scan.
  public func admission(tenant: String) async throws(JobStoreError) -> (usage: JobUsage, storedBytes: Int) {
    let answer = try await rows { statement in
      statement.sql("SELECT count(*) FILTER (WHERE tenant = ")
      try statement.bind(tenant)
      statement.sql("), COALESCE(sum(result_bytes) FILTER (WHERE tenant = ")
      try statement.bind(tenant)
      statement.sql("), 0)::bigint, COALESCE(sum(input_bytes + result_bytes), 0)::bigint FROM heinfer_job")
    }
    return (
      JobUsage(jobs: try integer(answer), resultBytes: try integer(answer, column: 1)),
      try integer(answer, column: 2)
    )
  }

  /// Nothing to do: a job left running by a process that died keeps its inputs, and another
  /// worker claims it again when its lease expires.
  public func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int { 0 }

  // MARK: SharedJobQueue

  public func enqueue(_ job: JobRecord, work: PendingEvaluation, maximumQueued: Int, share: TenantQueueShare?)
    async throws(JobStoreError) -> EnqueueOutcome
  {
    // The counts and the insert are one statement but not serialized against other fronts, so
    // the bounds hold to within the number of fronts submitting at the same moment.
    try await insert(job, work: work, maximumQueued: maximumQueued, share: share)
  }

  public func queuedCount() async throws(JobStoreError) -> Int {
    try integer(try await rows { $0.sql("SELECT count(*) FROM heinfer_job WHERE status = 'queued'") })
  }

  public func claim(lease: Duration, maximumAttempts: Int) async throws(JobStoreError) -> ClaimedJob? {
    try await failExhaustedJobs(maximumAttempts: maximumAttempts)
    let token = RandomIdentifier.make()
    let answer = try await rows { statement in
      statement.sql(
        """
        WITH next AS (
          SELECT id FROM heinfer_job
          WHERE status = 'queued'
            OR (status = 'running' AND lease_expires_at < extract(epoch FROM clock_timestamp()) AND attempts <
        """)
      try statement.bind(maximumAttempts)
      statement.sql(
        """
        )
          ORDER BY created_at LIMIT 1
          FOR UPDATE SKIP LOCKED),
        claimed AS (
          UPDATE heinfer_job AS job SET status = 'running', attempts = job.attempts + 1, lease_token =
        """)
      try statement.bind(token)
      statement.sql(", lease_expires_at = extract(epoch FROM clock_timestamp()) + ")
      try statement.bind(lease.seconds)
      statement.sql(
        """
          FROM next WHERE job.id = next.id
          RETURNING \(Self.jobColumns(of: "job")), job.attempts, job.evaluation_key_id, job.seal_version)
        SELECT \(Self.jobColumns(of: "claimed")), claimed.attempts, claimed.evaluation_key_id, claimed.seal_version,
          input.payload
        FROM claimed LEFT JOIN heinfer_job_input AS input ON input.job_id = claimed.id ORDER BY input.position
        """)
    }
    guard let first = answer.first else { return nil }
    do {
      return ClaimedJob(
        job: try Self.decodeJob(first),
        work: PendingEvaluation(
          inputs: try answer.compactMap { try $0[17].decode(Data?.self) },
          evaluationKeyId: try first[15].decode(String?.self), sealVersion: try first[16].decode(String?.self)),
        leaseToken: token, attempt: try first[14].decode(Int.self))
    } catch {
      throw .backend("\(error)")
    }
  }

  /// Fails the jobs whose lease expired after their last allowed attempt (their workers keep
  /// dying: better a failed job than a fleet killed one worker at a time); at most once per
  /// ``exhaustedSweepInterval`` in this process.
  private func failExhaustedJobs(maximumAttempts: Int) async throws(JobStoreError) {
    let now = ContinuousClock.now
    let interval = exhaustedSweepInterval
    let due = lastExhaustedSweep.withLock { last in
      guard last.map({ now - $0 >= interval }) ?? true else { return false }
      last = now
      return true
    }
    guard due else { return }
    let channel = backend.channel
    let answer = try await rows { statement in
      statement.sql(
        """
        WITH failed AS (
          UPDATE heinfer_job SET status = 'failed', error_code = 'JOB_FAILED',
            error_message = 'evaluation was interrupted ' || attempts || ' times (its worker stopped); not retried',
            updated_at = extract(epoch FROM clock_timestamp()), lease_token = NULL, input_bytes = 0
          WHERE status = 'running' AND lease_expires_at < extract(epoch FROM clock_timestamp()) AND attempts >=
        """)
      try statement.bind(maximumAttempts)
      statement.sql(" RETURNING id), inputs AS (DELETE FROM heinfer_job_input WHERE job_id IN (SELECT id FROM failed))")
      statement.sql(", notified AS (SELECT pg_notify(")
      try statement.bind(channel)
      statement.sql(", 'finished:' || id) FROM failed) SELECT id, (SELECT count(*) FROM notified) FROM failed")
    }
    for row in answer {
      let id = (try? row[0].decode(String.self)) ?? "?"
      backend.logger.error("job failed after repeated interrupted evaluations", metadata: ["job_id": "\(id)"])
    }
  }

  public func renew(_ claim: ClaimedJob, lease: Duration) async throws(JobStoreError) -> Bool {
    let answer = try await rows { statement in
      statement.sql(
        "WITH renewed AS (UPDATE heinfer_job SET lease_expires_at = extract(epoch FROM clock_timestamp()) + ")
      try statement.bind(lease.seconds)
      statement.sql(" WHERE id = ")
      try statement.bind(claim.job.id)
      statement.sql(" AND lease_token = ")
      try statement.bind(claim.leaseToken)
      statement.sql(" AND status = 'running' RETURNING id) SELECT count(*) FROM renewed")
    }
    return try integer(answer) == 1
  }

  public func complete(_ claim: ClaimedJob, outcome: JobRecord) async throws(JobStoreError) -> Bool {
    precondition(outcome.id == claim.job.id && outcome.status.isFinal)
    return try await recordOutcome(outcome, leaseToken: claim.leaseToken)
  }
}
