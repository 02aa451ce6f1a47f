import Foundation
import GatewayAPI
import Gateway
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// Wraps the gateway's responder so that every response any test sees is checked against the
/// contract: the status must be declared for the operation and the JSON body must validate
/// against its schema. Violations are recorded as test issues of the test that made the request.
struct ConformingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
  let inner: Inner

  struct Collector: ResponseBodyWriter {
    let sink: (ByteBuffer) -> Void
    mutating func write(_ buffer: ByteBuffer) async throws { sink(buffer) }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
  }

  final class Buffer: @unchecked Sendable {
    var bytes = ByteBuffer()
  }

  @Sendable func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
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

/// The gateway as tests run it: contract routes behind the conformance check.
enum TestGateway {
  static func application(
    service: InferenceService,
    configuration: GatewayConfiguration = GatewayConfiguration(tenants: .open, requestsPerSecond: nil)
  ) throws -> some ApplicationProtocol {
    let router = try GatewayApplication.router(
      service: service, configuration: configuration, logger: Logger(label: "test"))
    return Application(responder: ConformingResponder(inner: router.buildResponder()))
  }
}

@Suite("Contract conformance")
struct ConformanceTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  @Test(
    "Every *.schema.json is the OpenAPI component it names, for both contracts (scripts/export_schemas.py)",
    arguments: [
      ("schemas", "", Contract.shared, ContractInfo.version),
      ("schemas/reference-v1", "reference-v1/", Contract.reference, ReferenceRoutes.apiVersion),
    ])
  func exportedSchemasMatch(folderPath: String, idPrefix: String, contract: Contract, version: String) throws {
    let folder = Self.root.appendingPathComponent(folderPath)
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".schema.json") }
    let components = contract.validator.schemas
    #expect(Set(files.map { String($0.dropLast(".schema.json".count)) }) == Set(components.keys))
    #expect(contract.document["info"]?["version"]?.string == version)
    for file in files {
      let name = String(file.dropLast(".schema.json".count))
      guard case .object(var exported) = try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent(file)))
      else {
        Issue.record("\(file) is not an object")
        continue
      }
      #expect(exported.removeValue(forKey: "$schema") == .string("https://json-schema.org/draft/2020-12/schema"))
      #expect(exported.removeValue(forKey: "$id") == .string("https://heinfer.example/schemas/\(idPrefix)\(file)"))
      #expect(exported.removeValue(forKey: "title") == .string(name))
      #expect(exported.removeValue(forKey: "x-contract-version") == .string(version))
      #expect(Self.localReferences(.object(exported)) == components[name], "\(file) differs from the component")
    }
  }

  /// Rewrites `X.schema.json` references back to `#/components/schemas/X`.
  static func localReferences(_ value: JSONValue) -> JSONValue {
    switch value {
    case .object(let object):
      var result: [String: JSONValue] = [:]
      for (key, member) in object {
        if key == "$ref", case .string(let reference) = member, reference.hasSuffix(".schema.json") {
          result[key] = .string("#/components/schemas/" + reference.dropLast(".schema.json".count))
        } else {
          result[key] = localReferences(member)
        }
      }
      return .object(result)
    case .array(let items): return .array(items.map(localReferences))
    default: return value
    }
  }

  @Test(
    "Every example validates against the schema it names, for both contracts",
    arguments: [("docs/api/examples", Contract.shared, 10), ("docs/api/examples/reference-v1", Contract.reference, 6)])
  func examplesValidate(folderPath: String, contract: Contract, minimum: Int) throws {
    let folder = Self.root.appendingPathComponent(folderPath)
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
    #expect(files.count >= minimum)
    for file in files {
      let schema = String(file.split(separator: ".")[0])
      let value = try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent(file)))
      #expect(contract.validator.validate(value, against: schema) == [], "\(file)")
    }
  }

  @Test("The validator rejects what the contract forbids")
  func validatorCatchesViolations() throws {
    let validator = Contract.shared.validator
    func errors(_ json: String, _ schema: String) throws -> [String] {
      validator.validate(try JSONValue.parse(Data(json.utf8)), against: schema)
    }
    #expect(try errors(#"{"status":"ok","api_version":"0.8.0"}"#, "Health") == [])
    // The schema admits exactly the versions the server accepts.
    #expect(try !errors(#"{"status":"ok","api_version":"0.2.0"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"ok"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"fine","api_version":"0.8.0"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"ok","api_version":"0.8.0","extra":1}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"ok","api_version":"v2"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"error":{"code":"NOPE","message":"m"}}"#, "ErrorResponse").isEmpty)
    #expect(try !errors(#""abc""#, "JobId").isEmpty)
    #expect(try !errors(#"{"model_id":"m","version":"1.0.0","batch_size":0,"inputs":[]}"#, "InferRequest").isEmpty)
    // The reference contract: closed objects, hex payloads, FastAPI's error shape.
    let reference = Contract.reference.validator
    func referenceErrors(_ json: String, _ schema: String) throws -> [String] {
      reference.validate(try JSONValue.parse(Data(json.utf8)), against: schema)
    }
    #expect(try referenceErrors(#"{"detail":"no"}"#, "ErrorResponse") == [])
    #expect(try !referenceErrors(#"{"error":{"code":"X","message":"m"}}"#, "ErrorResponse").isEmpty)
    #expect(try !referenceErrors(#"{"status":"completed","job_id":"abc"}"#, "InferResponse").isEmpty)
    #expect(try !referenceErrors(#"{"encoding":"hex","payload":"abc"}"#, "CiphertextInput").isEmpty)
    #expect(try !referenceErrors(#"{"encoding":"base64","payload":"ab"}"#, "CiphertextInput").isEmpty)
    #expect(
      try !referenceErrors(#"{"status":"done","job_id":"0123456789abcdef0123456789abcdef"}"#, "JobResponse").isEmpty)
  }

  @Test("The conforming responder records an undeclared status and a body that violates its schema")
  func responderRecordsViolations() async throws {
    let router = Router()
    router.get("/health") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
    router.get("/models") { _, _ in Response(status: .init(code: 418)) }
    let app = Application(responder: ConformingResponder(inner: router.buildResponder()))
    try await app.test(.router) { client in
      await withKnownIssue("the body lacks api_version") {
        try await client.execute(uri: "/health", method: .get) { _ in }
      }
      await withKnownIssue("418 is not declared for GET /models") {
        try await client.execute(uri: "/models", method: .get) { _ in }
      }
    }
  }
}
