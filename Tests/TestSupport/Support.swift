public import Foundation
public import NIOCore

/// A failed precondition of a test, thrown with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}

/// JSON as the tests send and read it: untyped objects for requests a test edits field by field
/// (including invalid ones), the contract's generated types for what the gateway answers.
public enum ContractJSON {
  /// `object` serialized (a request body).
  public static func body(_ object: Any) -> ByteBuffer {
    ByteBuffer(data: try! JSONSerialization.data(withJSONObject: object))
  }

  /// The JSON object in `buffer`, or an empty one when it is not an object.
  public static func object(_ buffer: ByteBuffer) -> [String: Any] {
    object(Data(buffer: buffer))
  }

  /// The JSON object in `data`, or an empty one when it is not an object.
  public static func object(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
  }

  /// The `error.code` of an error response.
  public static func errorCode(_ buffer: ByteBuffer) -> String? {
    (object(buffer)["error"] as? [String: Any])?["code"] as? String
  }

  /// `buffer` decoded as one of the contract's generated types (dates in RFC 3339).
  public static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
    try decode(type, Data(buffer: buffer))
  }

  /// `data` decoded as one of the contract's generated types (dates in RFC 3339).
  public static func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
    try decoder.decode(type, from: data)
  }

  private static let decoder: JSONDecoder = {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .custom { decoder in
      let text = try decoder.singleValueContainer().decode(String.self)
      let formatter = ISO8601DateFormatter()
      formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      if let date = formatter.date(from: text) { return date }
      formatter.formatOptions = [.withInternetDateTime]
      if let date = formatter.date(from: text) { return date }
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "not RFC 3339: \(text)"))
    }
    return decoder
  }()
}

/// Files of this repository (the tests read documents, schemas, models and datasets).
public enum Repository {
  /// The package root.
  public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The file at `relativePath` from the package root.
  public static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

  /// The text of the file at `relativePath` from the package root.
  public static func text(_ relativePath: String) throws -> String {
    try String(contentsOf: url(relativePath), encoding: .utf8)
  }
}

/// The committed datasets (`datasets/<name>/test.csv`: features then the label, with a header).
public enum Datasets {
  /// Features and labels of the held-out split of `name` (its first `limit` rows when given).
  public static func testSplit(_ name: String, limit: Int = .max) throws -> (features: [[Double]], labels: [Int]) {
    let text = try Repository.text("datasets/\(name)/test.csv")
    var features: [[Double]] = []
    var labels: [Int] = []
    for (line, row) in text.split(whereSeparator: \.isNewline).dropFirst().prefix(limit).enumerated() {
      let fields = row.split(separator: ",")
      let values = fields.dropLast().compactMap { Double(String($0)) }
      guard values.count == fields.count - 1, let label = fields.last.flatMap({ Int(String($0)) }) else {
        throw TestFailure("datasets/\(name)/test.csv row \(line + 1) is not numbers and a label")
      }
      features.append(values)
      labels.append(label)
    }
    return (features, labels)
  }
}

/// How closely decoded values match what was encoded.
public enum Precision {
  /// The largest absolute difference over the pairs of `values` and `expected` (the shorter one's
  /// length: decoded slots beyond the message are not compared), 0 for none, and infinity when a
  /// difference is not finite, so a NaN cannot pass for precision.
  public static func maximumError(_ values: [Double], _ expected: [Double]) -> Double {
    let differences = zip(values, expected).map { abs($0 - $1) }
    return differences.allSatisfy(\.isFinite) ? differences.max() ?? 0 : .infinity
  }

  /// Bits of precision: −log2 of the largest absolute difference (64 when there is none).
  public static func bits(_ values: [Double], _ expected: [Double]) -> Double {
    let error = maximumError(values, expected)
    return error == 0 ? 64 : -log2(error)
  }
}
