public import GatewayAPI

/// Everything the SDK can fail with. Server refusals carry the contract's error code.
public enum SDKError: Error, Sendable, CustomStringConvertible {
  /// The gateway refused the request with a documented code (`retryAfter` in seconds for
  /// `RATE_LIMITED`).
  case server(
    code: GatewayErrorCode, status: Int, message: String, details: [String: String], retryAfter: Int?)
  /// The gateway answered something the contract does not allow (a bug on one side).
  case unexpectedResponse(status: Int, detail: String)
  /// The connection failed or timed out at the transport level.
  case transport(String)
  /// The job did not finish within the allowed time; it may still finish later.
  case timeout(jobId: String, waitedSeconds: Double)
  /// The job failed on the server (`code` absent only from a gateway that sends none).
  case jobFailed(jobId: String, code: GatewayErrorCode?, message: String)
  /// The inputs do not fit the model (checked before anything is encrypted).
  case invalidInput(String)
  /// The model's metadata cannot be used by this SDK (unknown layout, parameters refused, …).
  case incompatibleModel(String)
  /// A result could not be decrypted or decoded.
  case invalidResult(String)
  /// The key file could not be read or written.
  case keyFile(String)

  public var description: String {
    switch self {
    case .server(let code, let status, let message, _, let retryAfter):
      return "\(code.rawValue) (HTTP \(status)): \(message)" + (retryAfter.map { "; retry after \($0) s" } ?? "")
    case .unexpectedResponse(let status, let detail): return "unexpected response (HTTP \(status)): \(detail)"
    case .transport(let detail): return "transport error: \(detail)"
    case .timeout(let jobId, let waited): return "job \(jobId) not finished after \(waited) s"
    case .jobFailed(let jobId, let code, let message):
      return "job \(jobId) failed (\(code?.rawValue ?? "unknown")): \(message)"
    case .invalidInput(let detail): return "invalid input: \(detail)"
    case .incompatibleModel(let detail): return "incompatible model: \(detail)"
    case .invalidResult(let detail): return "invalid result: \(detail)"
    case .keyFile(let detail): return "key file: \(detail)"
    }
  }
}
