public import Foundation

/// The state of one inference job, as stored. Completed and failed jobs are immutable.
public struct JobRecord: Sendable, Equatable, Codable {
  public enum Status: String, Sendable, Codable {
    case queued, running, completed, failed

    /// Whether the job can no longer change.
    public var isFinal: Bool { self == .completed || self == .failed }
  }

  /// The wire contract a job was submitted through, which fixes its result format. Each contract's
  /// `GET /jobs/{id}` shows only its own jobs.
  public enum Contract: String, Sendable, Codable {
    /// This gateway's contract (`schemas/openapi.yaml`): results in our format, base64.
    case gateway
    /// The reference gateway's v1 contract (`schemas/reference-v1`): results as SEAL streams, hex.
    case referenceV1 = "reference-v1"
  }

  /// 32 lowercase hex characters (128 random bits).
  public let id: String
  /// The tenant that created the job; other tenants never see it.
  public let tenant: String
  public let modelId: String
  public let version: String
  /// The contract the job came through.
  public let contract: Contract
  public var status: Status
  public let createdAt: Date
  public var updatedAt: Date
  /// Result ciphertexts (serialized), one per input ciphertext, when completed.
  public var outputs: [Data]
  public var requestedBatchSize: Int
  public var processedBatchSize: Int
  public var evaluationMilliseconds: Double
  /// Error code and message, when failed.
  public var errorCode: String?
  public var errorMessage: String?
  /// When the result was first handed to the client (nil until then); the result is deleted a
  /// retention period after it.
  public var fetchedAt: Date?

  public init(
    id: String, tenant: String, modelId: String, version: String, batchSize: Int, now: Date,
    contract: Contract = .gateway
  ) {
    self.id = id
    self.tenant = tenant
    self.modelId = modelId
    self.version = version
    self.contract = contract
    self.status = .queued
    self.createdAt = now
    self.updatedAt = now
    self.outputs = []
    self.requestedBatchSize = batchSize
    self.processedBatchSize = 0
    self.evaluationMilliseconds = 0
  }
}

/// Why a store refused an operation.
public enum JobStoreError: Error, Sendable, Equatable {
  /// A job with this id exists already.
  case duplicate(String)
  /// The job does not exist (or belongs to another tenant).
  case notFound(String)
  /// The job is completed or failed; results are immutable.
  case immutable(String)
  /// The storage backend failed; the message is for logs, never for clients.
  case backend(String)
}

/// What one tenant holds in a store.
public struct JobUsage: Sendable, Equatable {
  /// Jobs not deleted yet (any status).
  public var jobs: Int
  /// Bytes of their stored results.
  public var resultBytes: Int

  public init(jobs: Int, resultBytes: Int) {
    self.jobs = jobs
    self.resultBytes = resultBytes
  }
}

/// Where jobs live. Implementations must be safe to call from many tasks at once.
public protocol JobStore: Sendable {
  /// Stores a new job.
  func insert(_ job: JobRecord) async throws(JobStoreError)
  /// Replaces a job that is not final yet with `job` (same id).
  func update(_ job: JobRecord) async throws(JobStoreError)
  /// The job with `id` if it belongs to `tenant`.
  func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord?
  /// Deletes every job last updated before `cutoff`, and every job whose result was fetched
  /// before `fetchedCutoff`; returns how many were deleted.
  func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError) -> Int
  /// Records the first time job `id`'s final state was handed to its tenant (later calls keep the
  /// first time).
  func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError)
  /// What `tenant` holds.
  func usage(tenant: String) async throws(JobStoreError) -> JobUsage
  /// Bytes the store holds for live jobs (for SQLite, the database pages in use).
  func storedBytes() async throws(JobStoreError) -> Int
  /// Marks jobs left queued or running by a previous process as failed (called at start-up).
  func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int
  /// ``usage(tenant:)`` and ``storedBytes()`` together, for the check before a job is recorded
  /// (a store may answer both in one read).
  func admission(tenant: String) async throws(JobStoreError) -> (usage: JobUsage, storedBytes: Int)
}

extension JobStore {
  public func admission(tenant: String) async throws(JobStoreError) -> (usage: JobUsage, storedBytes: Int) {
    (try await usage(tenant: tenant), try await storedBytes())
  }
}
