import Foundation
import GatewayAPI
import HTTPTypes
import Logging
import OpenAPIRuntime

/// Turns every error that escapes a handler into the contract's error body: undecodable or
/// schema-violating bodies become `400 INVALID_SCHEMA`, a ``GatewayError`` its own status, and
/// anything else `500 INTERNAL` with a generic message (internals go to the log only).
struct ErrorMiddleware: ServerMiddleware {
  let logger: Logger

  func intercept(
    _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
    next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
  ) async throws -> (HTTPResponse, HTTPBody?) {
    do {
      return try await next(request, body, metadata)
    } catch {
      let gatewayError = classify(error)
      if gatewayError.code == .internal {
        logger.error("unhandled error", metadata: ["operation": "\(operationID)", "error": "\(error)"])
      }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      let data = try encoder.encode(GatewayAPIHandler.body(gatewayError))
      var response = HTTPResponse(status: .init(code: gatewayError.code.httpStatus))
      response.headerFields[.contentType] = "application/json; charset=utf-8"
      // A refusal that says when to retry (503 and 429) says it in the header too.
      if let seconds = gatewayError.details["retry_after_seconds"] {
        response.headerFields[.retryAfter] = seconds
      }
      return (response, HTTPBody(data))
    }
  }

  private func classify(_ error: any Error) -> GatewayError {
    if let error = error as? GatewayError { return error }
    if let error = error as? ServerError {
      if let underlying = error.underlyingError as? GatewayError { return underlying }
      if let decoding = error.underlyingError as? DecodingError {
        return GatewayError(.invalidSchema, describe(decoding))
      }
      // No decoded input means the request itself (content type, body, parameters) was refused.
      if error.operationInput == nil {
        return GatewayError(.invalidSchema, "the request does not match the contract: \(error.causeDescription)")
      }
    }
    return GatewayError(.internal, "internal error")
  }

  private func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
      let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
      return joined.isEmpty ? "the body" : joined
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field \(path(context.codingPath + [key]))"
    case .typeMismatch(_, let context): return "wrong type at \(path(context.codingPath))"
    case .valueNotFound(_, let context): return "missing value at \(path(context.codingPath))"
    case .dataCorrupted(let context): return "invalid value at \(path(context.codingPath)): \(context.debugDescription)"
    @unknown default: return "the body does not match the schema"
    }
  }
}
