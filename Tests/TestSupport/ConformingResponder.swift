import Foundation
public import Hummingbird
import NIOCore
import Testing

/// Wraps the gateway's responder so that every response a route test sees is checked against the
/// contract: the status must be declared for the operation and the JSON body must validate
/// against its schema. Violations are recorded as test issues of the test that made the request.
public struct ConformingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
  let inner: Inner

  public init(inner: Inner) { self.inner = inner }

  struct Collector: ResponseBodyWriter {
    let sink: (ByteBuffer) -> Void
    mutating func write(_ buffer: ByteBuffer) async throws { sink(buffer) }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
  }

  final class Buffer: @unchecked Sendable {
    var bytes = ByteBuffer()
  }

  @Sendable public func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
    let response = try await inner.respond(to: request, context: context)
    let buffer = Buffer()
    try await response.body.write(
      Collector {
        var chunk = $0
        buffer.bytes.writeBuffer(&chunk)
      })
    let path = request.uri.path
    let (contract, relativePath) = Contract.serving(path)
    if response.status.code == 405 {
      // Only for a method the contract does not declare on a path it declares, naming in Allow
      // exactly the declared ones.
      let declared = contract.methods(for: relativePath)
      let allowed = Set(
        (response.headers[.allow] ?? "").split(separator: ",").map {
          $0.trimmingCharacters(in: .whitespaces).lowercased()
        })
      if declared.isEmpty || declared.contains(request.method.rawValue.lowercased()) || allowed != Set(declared) {
        Issue.record("contract: 405 for \(request.method) \(path) (declared \(declared), Allow \(allowed))")
      }
      var rebuilt = response
      rebuilt.body = ResponseBody(byteBuffer: buffer.bytes)
      return rebuilt
    }
    switch contract.responseSchema(method: request.method.rawValue, path: relativePath, status: response.status.code) {
    case .failure(let violation):
      Issue.record("contract: \(violation)")
    case .success(let schema?):
      do {
        let value = try JSONValue.parse(Data(buffer: buffer.bytes))
        let errors = contract.validator.validate(value, against: schema)
        if !errors.isEmpty {
          Issue.record("contract: \(request.method) \(path) \(response.status.code) body violates \(schema): \(errors)")
        }
      } catch {
        Issue.record("contract: \(request.method) \(path) \(response.status.code) body is not JSON")
      }
    case .success(nil):
      break
    }
    var rebuilt = response
    rebuilt.body = ResponseBody(byteBuffer: buffer.bytes)
    return rebuilt
  }
}
