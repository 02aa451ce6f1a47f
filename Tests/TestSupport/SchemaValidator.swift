public import Foundation
import Yams

/// A JSON value, decoded exactly (booleans, integers and doubles stay distinct).
public indirect enum JSONValue: Equatable, Decodable, Sendable {
  case null
  case bool(Bool)
  case integer(Int64)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int64.self) {
      self = .integer(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  public static func parse(_ data: Data) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: data) }

  /// Converts what Yams loads (Swift dictionaries, arrays, strings, numbers, booleans).
  public init(yaml node: Any?) {
    switch node {
    case nil: self = .null
    case let value as Bool: self = .bool(value)
    case let value as Int: self = .integer(Int64(value))
    case let value as Double: self = .number(value)
    case let value as String: self = .string(value)
    case let value as [Any]: self = .array(value.map { JSONValue(yaml: $0) })
    case let value as [String: Any]: self = .object(value.mapValues { JSONValue(yaml: $0) })
    default: self = .string("\(node!)")
    }
  }

  public subscript(key: String) -> JSONValue? {
    if case .object(let object) = self { return object[key] }
    return nil
  }

  public var string: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  public var double: Double? {
    switch self {
    case .integer(let value): return Double(value)
    case .number(let value): return value
    default: return nil
    }
  }
}

/// The subset of JSON Schema 2020-12 the contract uses: type, enum, const, required, properties,
/// additionalProperties, items, minItems/maxItems, minimum/maximum and their exclusive forms,
/// minLength/maxLength, pattern, format date-time, contentEncoding base64, oneOf/anyOf/allOf and
/// `$ref` to `#/components/schemas/X` or `X.schema.json`. (No Swift package for JSON Schema
/// validation is available here; the Python `jsonschema` check in scripts/export_schemas.py
/// cross-checks the examples with a complete implementation.)
public struct SchemaValidator: Sendable {
  /// Component schemas by name.
  public let schemas: [String: JSONValue]

  public init(schemas: [String: JSONValue]) { self.schemas = schemas }

  /// Error messages for `value` against the schema `name` (empty when valid).
  public func validate(_ value: JSONValue, against name: String) -> [String] {
    guard let schema = schemas[name] else { return ["no schema named \(name)"] }
    var errors: [String] = []
    check(value, schema, path: "$", errors: &errors)
    return errors
  }

  private func resolve(_ reference: String) -> JSONValue? {
    if reference.hasPrefix("#/components/schemas/") {
      return schemas[String(reference.dropFirst("#/components/schemas/".count))]
    }
    if reference.hasSuffix(".schema.json") { return schemas[String(reference.dropLast(".schema.json".count))] }
    return nil
  }

  private func typeMatches(_ value: JSONValue, _ type: String) -> Bool {
    switch (type, value) {
    case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
    case ("integer", .integer): return true
    case ("integer", .number(let number)): return number.rounded() == number
    case ("number", .integer), ("number", .number): return true
    default: return false
    }
  }

  private func check(_ value: JSONValue, _ schema: JSONValue, path: String, errors: inout [String]) {
    if let reference = schema["$ref"]?.string {
      guard let target = resolve(reference) else {
        errors.append("\(path): unresolvable $ref \(reference)")
        return
      }
      check(value, target, path: path, errors: &errors)
    }
    switch schema["type"] {
    case .string(let type)? where !typeMatches(value, type):
      errors.append("\(path): expected \(type)")
      return
    case .array(let types)? where !types.contains(where: { $0.string.map { typeMatches(value, $0) } ?? false }):
      errors.append("\(path): expected one of \(types)")
      return
    default: break
    }
    if let constant = schema["const"], !equal(constant, value) { errors.append("\(path): must equal \(constant)") }
    if case .array(let options)? = schema["enum"], !options.contains(where: { equal($0, value) }) {
      errors.append("\(path): not one of the allowed values")
    }
    if let number = value.double, value != .null {
      if let minimum = schema["minimum"]?.double, number < minimum { errors.append("\(path): below \(minimum)") }
      if let maximum = schema["maximum"]?.double, number > maximum { errors.append("\(path): above \(maximum)") }
      if let minimum = schema["exclusiveMinimum"]?.double, number <= minimum {
        errors.append("\(path): not above \(minimum)")
      }
      if let maximum = schema["exclusiveMaximum"]?.double, number >= maximum {
        errors.append("\(path): not below \(maximum)")
      }
    }
    if case .string(let text) = value {
      if let minimum = schema["minLength"]?.double, Double(text.count) < minimum { errors.append("\(path): too short") }
      if let maximum = schema["maxLength"]?.double, Double(text.count) > maximum { errors.append("\(path): too long") }
      if let pattern = schema["pattern"]?.string {
        let expression = try! NSRegularExpression(pattern: pattern)
        if expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
          errors.append("\(path): does not match \(pattern)")
        }
      }
      if schema["format"]?.string == "date-time", ISO8601DateFormatter().date(from: text) == nil {
        errors.append("\(path): not an RFC 3339 date-time")
      }
      if schema["contentEncoding"]?.string == "base64", Data(base64Encoded: text) == nil {
        errors.append("\(path): not base64")
      }
    }
    if case .array(let items) = value {
      if let minimum = schema["minItems"]?.double, Double(items.count) < minimum {
        errors.append("\(path): fewer than \(Int(minimum)) items")
      }
      if let maximum = schema["maxItems"]?.double, Double(items.count) > maximum {
        errors.append("\(path): more than \(Int(maximum)) items")
      }
      if let itemSchema = schema["items"] {
        for (index, item) in items.enumerated() { check(item, itemSchema, path: "\(path)[\(index)]", errors: &errors) }
      }
    }
    if case .object(let object) = value {
      if case .array(let required)? = schema["required"] {
        for key in required.compactMap(\.string) where object[key] == nil {
          errors.append("\(path): missing \(key)")
        }
      }
      let properties: [String: JSONValue]
      if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [:] }
      for (key, member) in object {
        if let propertySchema = properties[key] {
          check(member, propertySchema, path: "\(path).\(key)", errors: &errors)
        } else if schema["additionalProperties"] == .bool(false) {
          errors.append("\(path): unexpected property \(key)")
        } else if let additional = schema["additionalProperties"], case .object = additional {
          check(member, additional, path: "\(path).\(key)", errors: &errors)
        }
      }
    }
    if case .array(let all)? = schema["allOf"] { for part in all { check(value, part, path: path, errors: &errors) } }
    if case .array(let any)? = schema["anyOf"] {
      if !any.contains(where: { part in
        var scratch: [String] = []
        check(value, part, path: path, errors: &scratch)
        return scratch.isEmpty
      }) {
        errors.append("\(path): matches none of anyOf")
      }
    }
    if case .array(let one)? = schema["oneOf"] {
      let matches = one.filter { part in
        var scratch: [String] = []
        check(value, part, path: path, errors: &scratch)
        return scratch.isEmpty
      }.count
      if matches != 1 { errors.append("\(path): matches \(matches) of oneOf, expected exactly 1") }
    }
  }

  private func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
    if let x = a.double, let y = b.double { return x == y }
    return a == b
  }
}

/// A contract as loaded from its OpenAPI document: component schemas and, per operation and
/// status, the schema of the JSON response body.
public struct Contract: Sendable {
  public let document: JSONValue
  public let validator: SchemaValidator
  /// The path prefix the contract is served under (its `servers[0].url`, empty for none).
  public let prefix: String

  /// The gateway's own contract, schemas/openapi.yaml.
  public static let shared = load("schemas/openapi.yaml")
  /// The reference gateway's v1 contract, schemas/reference-v1/openapi.yaml, served under /reference.
  public static let reference = load("schemas/reference-v1/openapi.yaml")

  public static func load(_ relativePath: String) -> Contract {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent(relativePath)
    let text = try! String(contentsOf: url, encoding: .utf8)
    let document = JSONValue(yaml: try! Yams.load(yaml: text))
    guard case .object(let schemas)? = document["components"]?["schemas"] else { fatalError("no component schemas") }
    var prefix = ""
    if case .array(let servers)? = document["servers"], let url = servers.first?["url"]?.string { prefix = url }
    return Contract(document: document, validator: SchemaValidator(schemas: schemas), prefix: prefix)
  }

  /// The contract that serves `path`, and the path relative to its prefix.
  public static func serving(_ path: String) -> (Contract, String) {
    let reference = Contract.reference
    if path.hasPrefix(reference.prefix + "/") { return (reference, String(path.dropFirst(reference.prefix.count))) }
    return (shared, path)
  }

  /// The path template of the contract that `path` matches, e.g. `/jobs/{job_id}`.
  public func template(for path: String) -> String? {
    guard case .object(let paths)? = document["paths"] else { return nil }
    let segments = path.split(separator: "/", omittingEmptySubsequences: false)
    return paths.keys.first { template in
      let parts = template.split(separator: "/", omittingEmptySubsequences: false)
      return parts.count == segments.count
        && zip(parts, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
  }

  /// The methods (lowercase) the contract declares for the path template `path` matches.
  public func methods(for path: String) -> [String] {
    guard let template = template(for: path), case .object(let item)? = document["paths"]?[template] else { return [] }
    let verbs: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
    return item.keys.filter { verbs.contains($0) }.sorted()
  }

  /// The schema name of the JSON body for `method path` answering `status`, or `nil` when the
  /// contract declares no JSON body; throws a description when the status is undeclared.
  public func responseSchema(method: String, path: String, status: Int) -> Result<String?, ContractViolation> {
    guard let template = template(for: path), let operation = document["paths"]?[template]?[method.lowercased()] else {
      return .failure(ContractViolation(description: "\(method) \(path) is not in the contract"))
    }
    guard var response = operation["responses"]?[String(status)] else {
      return .failure(ContractViolation(description: "\(method) \(template) does not declare status \(status)"))
    }
    if let reference = response["$ref"]?.string {
      let name = String(reference.split(separator: "/").last!)
      guard let resolved = document["components"]?["responses"]?[name] else {
        return .failure(ContractViolation(description: "unresolvable response \(reference)"))
      }
      response = resolved
    }
    guard let schema = response["content"]?["application/json"]?["schema"] else { return .success(nil) }
    guard let reference = schema["$ref"]?.string else {
      return .failure(ContractViolation(description: "inline response schema for \(method) \(template)"))
    }
    return .success(String(reference.split(separator: "/").last!))
  }
}

public struct ContractViolation: Error, CustomStringConvertible {
  public let description: String
}
