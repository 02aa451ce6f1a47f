public import Foundation
public import GatewayAPI

/// A documented error code of the gateway's contract (`ErrorCode` in `schemas/openapi.yaml`), as
/// carried by ``SDKError/server(code:status:message:details:retryAfter:)`` and
/// ``SDKError/jobFailed(jobId:code:message:)``.
public typealias GatewayErrorCode = Components.Schemas.ErrorCode

/// An encrypted inference job as the gateway reports it (`POST /infer`, `GET /jobs/{job_id}`).
public struct InferenceJob: Sendable, Equatable {
  /// Where the job is in its life: `queued` and `running` change, `completed` and `failed` are final.
  public enum Status: String, Sendable, Equatable {
    case queued, running, completed, failed
  }

  /// Why a job failed, as the gateway says it.
  public struct Failure: Sendable, Equatable {
    /// The contract's code (absent only from a gateway that sends none).
    public let code: GatewayErrorCode?
    /// A human-readable reason.
    public let message: String
  }

  /// The job's id (32 hexadecimal characters).
  public let id: String
  /// The model and version the job runs.
  public let modelId: String
  public let version: String
  public let status: Status
  public let createdAt: Date
  public let updatedAt: Date
  /// The encrypted result, once `status` is `completed`.
  public let result: EncryptedResult?
  /// Why the job failed, once `status` is `failed`.
  public let failure: Failure?

  /// Whether the job is completed or failed.
  public var isFinished: Bool { status == .completed || status == .failed }

  init(_ job: Components.Schemas.Job) {
    id = job.jobId
    modelId = job.modelId
    version = job.version
    status = Status(job.status)
    createdAt = job.createdAt
    updatedAt = job.updatedAt
    result = job.result.map(EncryptedResult.init)
    failure = job.status == .failed ? Failure(code: job.errorCode, message: job.error ?? "failed") : nil
  }
}

extension InferenceJob.Status {
  init(_ status: Components.Schemas.JobStatus) {
    switch status {
    case .queued: self = .queued
    case .running: self = .running
    case .completed: self = .completed
    case .failed: self = .failed
    }
  }
}

/// A job's encrypted result: what the client decrypts with its session
/// (``GatewayClient/predictions(from:session:sampleCount:)``).
public struct EncryptedResult: Sendable, Equatable {
  /// The result ciphertexts as serialized bytes, one per group of input ciphertexts, in order.
  public let ciphertexts: [[UInt8]]
  /// Samples the client asked for and samples the server evaluated (fewer only when the batch was
  /// truncated to the model's limit).
  public let requestedBatchSize: Int
  public let processedBatchSize: Int
  /// Seconds the server spent evaluating.
  public let evaluationSeconds: Double

  init(_ result: Components.Schemas.JobResult) {
    ciphertexts = ([result.payload] + (result.additionalPayloads ?? [])).map { Array($0.data) }
    requestedBatchSize = result.diagnostics.requestedBatchSize
    processedBatchSize = result.diagnostics.processedBatchSize
    evaluationSeconds = result.diagnostics.evaluationMs / 1000
  }
}
