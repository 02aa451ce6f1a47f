import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime
import TestSupport
import Testing

@testable import Gateway

@Suite("Error middleware")
struct ErrorMiddlewareTests {
  struct SecretFailure: Error, CustomStringConvertible {
    var description: String { "database password hunter2 at /var/lib/heinfer" }
  }

  func run(_ error: any Error) async throws -> (HTTPResponse, [String: Any]) {
    let middleware = ErrorMiddleware(logger: Logger(label: "test"))
    let (response, body) = try await middleware.intercept(
      HTTPRequest(method: .get, scheme: nil, authority: nil, path: "/models"), body: nil,
      metadata: ServerRequestMetadata(), operationID: "listModels"
    ) { _, _, _ in throw error }
    let data = try await Data(collecting: try #require(body), upTo: 1 << 20)
    return (response, ContractJSON.object(data))
  }

  @Test("An unexpected error becomes 500 INTERNAL with a generic message that echoes nothing")
  func internalErrorsAreOpaque() async throws {
    let (response, body) = try await run(SecretFailure())
    #expect(response.status.code == 500)
    let error = try #require(body["error"] as? [String: Any])
    #expect(error["code"] as? String == "INTERNAL")
    let text = String(describing: body)
    #expect(!text.contains("hunter2") && !text.contains("/var/lib"))
  }

  @Test("A GatewayError keeps its code and status")
  func gatewayErrorsKeepTheirStatus() async throws {
    let (response, body) = try await run(GatewayError(.unsupportedAPIVersion, "nope"))
    #expect(response.status.code == 400)
    #expect((body["error"] as? [String: Any])?["code"] as? String == "UNSUPPORTED_API_VERSION")
  }
}
