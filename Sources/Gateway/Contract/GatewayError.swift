import GatewayAPI

/// The documented error codes of the contract (`ErrorCode` in schemas/openapi.yaml) with their
/// HTTP statuses; docs/api.md explains each.
public enum ErrorCode: String, Sendable, CaseIterable {
  case invalidSchema = "INVALID_SCHEMA"
  case unauthorized = "UNAUTHORIZED"
  case payloadTooLarge = "PAYLOAD_TOO_LARGE"
  case rateLimited = "RATE_LIMITED"
  case unsupportedAPIVersion = "UNSUPPORTED_API_VERSION"
  case unknownModel = "UNKNOWN_MODEL"
  case invalidBatchSize = "INVALID_BATCH_SIZE"
  case invalidInput = "INVALID_INPUT"
  case invalidCiphertext = "INVALID_CIPHERTEXT"
  case invalidEvaluationKeys = "INVALID_EVALUATION_KEYS"
  case missingEvaluationKeys = "MISSING_EVALUATION_KEYS"
  case keyNotFound = "KEY_NOT_FOUND"
  case keyQuotaExceeded = "KEY_QUOTA_EXCEEDED"
  case jobQuotaExceeded = "JOB_QUOTA_EXCEEDED"
  case cryptoPolicyViolation = "CRYPTO_POLICY_VIOLATION"
  case jobNotFound = "JOB_NOT_FOUND"
  case jobFailed = "JOB_FAILED"
  case unavailable = "UNAVAILABLE"
  case requestTimeout = "REQUEST_TIMEOUT"
  case methodNotAllowed = "METHOD_NOT_ALLOWED"
  case plainInferenceRefused = "PLAIN_INFERENCE_REFUSED"
  case `internal` = "INTERNAL"

  /// The HTTP status this code is sent with.
  public var httpStatus: Int {
    switch self {
    case .invalidSchema, .unsupportedAPIVersion: 400
    case .unauthorized: 401
    case .plainInferenceRefused: 403
    case .payloadTooLarge: 413
    case .rateLimited: 429
    case .unknownModel, .jobNotFound, .keyNotFound: 404
    case .requestTimeout: 408
    case .methodNotAllowed: 405
    case .missingEvaluationKeys, .keyQuotaExceeded, .jobQuotaExceeded: 409
    case .invalidBatchSize, .invalidInput, .invalidCiphertext, .invalidEvaluationKeys, .cryptoPolicyViolation,
      .jobFailed:
      422
    case .unavailable: 503
    case .internal: 500
    }
  }
}

/// A refusal to send to the client: a documented code, a message safe to show, and details.
public struct GatewayError: Error, Sendable, Equatable {
  public let code: ErrorCode
  public let message: String
  /// Extra facts (field names, indices, limits); never internals.
  public let details: [String: String]

  /// Longest message and detail value sent: whatever a message quotes, the answer stays small.
  public static let maximumMessageLength = 512

  public init(_ code: ErrorCode, _ message: String, details: [String: String] = [:]) {
    func bounded(_ text: String, _ limit: Int) -> String {
      text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
    self.code = code
    self.message = bounded(message, GatewayError.maximumMessageLength)
    self.details = details.mapValues { bounded($0, 200) }
  }
}
