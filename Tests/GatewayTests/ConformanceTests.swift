import Foundation
import Gateway
import GatewayAPI
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

@Suite("Contract conformance")
struct ConformanceTests {
  @Test(
    "Every *.schema.json is the OpenAPI component it names, for both contracts (scripts/export_schemas.py)",
    arguments: [
      ("schemas", "", Contract.shared, ContractInfo.version),
      ("schemas/reference-v1", "reference-v1/", Contract.reference, ReferenceRoutes.apiVersion),
    ])
  func exportedSchemasMatch(folderPath: String, idPrefix: String, contract: Contract, version: String) throws {
    let folder = Repository.url(folderPath)
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
    let folder = Repository.url(folderPath)
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
    #expect(try errors(#"{"status":"ok","api_version":"0.11.0"}"#, "Health") == [])
    // The schema admits exactly the versions the server accepts.
    #expect(try !errors(#"{"status":"ok","api_version":"0.2.0"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"ok"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"fine","api_version":"0.11.0"}"#, "Health").isEmpty)
    #expect(try !errors(#"{"status":"ok","api_version":"0.11.0","extra":1}"#, "Health").isEmpty)
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
