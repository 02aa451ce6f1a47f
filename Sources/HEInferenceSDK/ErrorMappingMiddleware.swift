import Foundation
import GatewayAPI
import HTTPTypes
import OpenAPIRuntime
import Synchronization

/// Adds the API key and turns every error response into ``SDKError/server(code:status:message:details:retryAfter:)``
/// before the generated client sees it, so SDK calls only handle success cases.
struct GatewayClientMiddleware: ClientMiddleware {
  let apiKey: String?

  func intercept(
    _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
    next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
  ) async throws -> (HTTPResponse, HTTPBody?) {
    var request = request
    if let apiKey { request.headerFields[.authorization] = "Bearer \(apiKey)" }
    let (response, responseBody) = try await next(request, body, baseURL)
    if let log = TrafficLog.current {
      func bytes(_ body: HTTPBody?) -> Int {
        guard let body, case .known(let length) = body.length else { return 0 }
        return Int(length)
      }
      log.add(requestBytes: bytes(body), responseBytes: bytes(responseBody))
    }
    guard response.status.code >= 400 else { return (response, responseBody) }
    var data: Data?
    if let responseBody { data = try? await Data(collecting: responseBody, upTo: 1 << 20) }
    guard let data, let error = try? JSONDecoder().decode(Components.Schemas.ErrorResponse.self, from: data) else {
      throw SDKError.unexpectedResponse(status: response.status.code, detail: "error response without the error body")
    }
    var details: [String: String] = [:]
    let detailValues: [String: (any Sendable)?] = error.error.details?.additionalProperties.value ?? [:]
    for (key, value) in detailValues {
      details[key] = value.map { "\($0)" } ?? "null"
    }
    throw SDKError.server(
      code: error.error.code, status: response.status.code, message: error.error.message, details: details,
      retryAfter: response.headerFields[.retryAfter].flatMap { Int($0) })
  }
}

/// Runs a generated-client call, unwrapping the SDK's own errors from the runtime's wrappers and
/// turning everything else into ``SDKError/transport(_:)``.
func mappingErrors<T>(_ body: () async throws -> T) async throws(SDKError) -> T {
  do {
    return try await body()
  } catch let error as SDKError {
    throw error
  } catch let error as ClientError {
    if let underlying = error.underlyingError as? SDKError { throw underlying }
    throw .transport(error.causeDescription + ": \(error.underlyingError)")
  } catch {
    throw .transport("\(error)")
  }
}
