import Foundation
import NIOCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The request bodies of the reference contract (`schemas/reference-v1`), read in one pass over
/// the body bytes. `POST /infer` carries about 12.6 MB of JSON whose bulk is hex: the payloads are
/// decoded from hex straight into bytes while scanning, with no intermediate strings or JSON
/// tree (a general JSON decoder spends most of its time building exactly those). The scanner is
/// strict: one object, only the documented fields, each once, with the documented types.
enum ReferenceEnvelope {
  /// `POST /infer`: `model_id`, `version`, `batch_size`, `inputs[] {encoding: "hex", payload}`.
  struct InferBody: Sendable {
    var modelId: String
    var version: String
    var batchSize: Int
    /// Decoded payloads (SEAL streams), in order.
    var payloads: [[UInt8]]
  }

  /// `POST /infer/plain`: `model_id`, `version`, `inputs` (numbers).
  struct PlainBody: Sendable {
    var modelId: String
    var version: String
    var inputs: [Double]
  }

  /// Most inputs accepted in one request (the body limit bounds their size).
  static let maximumInputs = 256

  static func parseInfer(_ body: [UInt8]) throws(GatewayError) -> InferBody {
    try body.withUnsafeBytes { raw in Result { () throws(GatewayError) in try parseInfer(raw) } }.get()
  }

  static func parseInfer(_ raw: UnsafeRawBufferPointer) throws(GatewayError) -> InferBody {
    var scanner = JSONScanner(raw)
    var modelId: String?
    var version: String?
    var batchSize: Int?
    var payloads: [[UInt8]]?
    try scanner.object { (key, scanner) throws(GatewayError) in
      switch key {
      case "model_id": modelId = try scanner.string(field: key)
      case "version": version = try scanner.string(field: key)
      case "batch_size": batchSize = try scanner.integer(field: key)
      case "inputs":
        var list: [[UInt8]] = []
        try scanner.array(field: key) { (index, scanner) throws(GatewayError) in
          guard index < maximumInputs else { throw invalid("inputs has more than \(maximumInputs) items") }
          list.append(try input(&scanner, index: index))
        }
        payloads = list
      default: throw invalid("unexpected field \(key); the body takes model_id, version, batch_size and inputs")
      }
    }
    try scanner.end()
    guard let modelId, let version, let batchSize, let payloads else {
      let missing = [
        ("model_id", modelId == nil), ("version", version == nil), ("batch_size", batchSize == nil),
        ("inputs", payloads == nil),
      ].filter(\.1).map(\.0)
      throw invalid("missing field \(missing.joined(separator: ", "))")
    }
    guard batchSize >= 1 else { throw invalid("batch_size must be at least 1") }
    guard !payloads.isEmpty else { throw invalid("inputs must have at least one item") }
    return InferBody(modelId: modelId, version: version, batchSize: batchSize, payloads: payloads)
  }

  private static func input(_ scanner: inout JSONScanner, index: Int) throws(GatewayError) -> [UInt8] {
    var encoding: String?
    var payload: [UInt8]?
    try scanner.object { (key, scanner) throws(GatewayError) in
      switch key {
      case "encoding":
        encoding = try scanner.string(field: "inputs[\(index)].encoding")
        guard encoding == "hex" else { throw invalid("inputs[\(index)].encoding must be \"hex\"") }
      case "payload": payload = try scanner.hexString(field: "inputs[\(index)].payload")
      default: throw invalid("unexpected field inputs[\(index)].\(key); an input has encoding and payload")
      }
    }
    guard encoding != nil else { throw invalid("missing field inputs[\(index)].encoding") }
    guard let payload else { throw invalid("missing field inputs[\(index)].payload") }
    return payload
  }

  static func parsePlain(_ body: [UInt8]) throws(GatewayError) -> PlainBody {
    try body.withUnsafeBytes { raw in Result { () throws(GatewayError) in try parsePlain(raw) } }.get()
  }

  static func parsePlain(_ raw: UnsafeRawBufferPointer) throws(GatewayError) -> PlainBody {
    var scanner = JSONScanner(raw)
    var modelId: String?
    var version: String?
    var inputs: [Double]?
    try scanner.object { (key, scanner) throws(GatewayError) in
      switch key {
      case "model_id": modelId = try scanner.string(field: key)
      case "version": version = try scanner.string(field: key)
      case "inputs":
        var values: [Double] = []
        try scanner.array(field: key) { (index, scanner) throws(GatewayError) in
          guard index < 4096 else { throw invalid("inputs has more than 4096 items") }
          values.append(try scanner.number(field: "inputs[\(index)]"))
        }
        inputs = values
      default: throw invalid("unexpected field \(key); the body takes model_id, version and inputs")
      }
    }
    try scanner.end()
    guard let modelId, let version, let inputs else {
      let missing = [("model_id", modelId == nil), ("version", version == nil), ("inputs", inputs == nil)]
        .filter(\.1).map(\.0)
      throw invalid("missing field \(missing.joined(separator: ", "))")
    }
    return PlainBody(modelId: modelId, version: version, inputs: inputs)
  }

  static func invalid(_ message: String) -> GatewayError { GatewayError(.invalidSchema, message) }
}

/// A strict single-pass JSON reader over a byte buffer, for the few shapes the reference
/// contract's bodies have. Every read is bounds-checked; errors are `INVALID_SCHEMA` refusals
/// naming the field and the offset.
struct JSONScanner {
  private let bytes: UnsafeRawBufferPointer
  private(set) var position = 0
  /// Longest ordinary string accepted (identifiers, versions, "hex").
  static let maximumStringLength = 256

  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  private func fail(_ message: String) -> GatewayError {
    GatewayError(.invalidSchema, "\(message) (at byte \(position))")
  }

  private mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x0A, 0x0D, 0x09: position += 1
      default: return
      }
    }
  }

  private mutating func peek() -> UInt8? {
    skipWhitespace()
    return position < bytes.count ? bytes[position] : nil
  }

  private mutating func expect(_ byte: UInt8, _ what: String) throws(GatewayError) {
    guard peek() == byte else { throw fail("expected \(what)") }
    position += 1
  }

  /// Only whitespace may follow the value.
  mutating func end() throws(GatewayError) {
    guard peek() == nil else { throw fail("unexpected content after the JSON value") }
  }

  /// An object: calls `member` once per key with the scanner positioned at its value; a key seen
  /// twice is refused.
  mutating func object(_ member: (String, inout JSONScanner) throws(GatewayError) -> Void) throws(GatewayError) {
    try expect(UInt8(ascii: "{"), "an object")
    var seen: Set<String> = []
    if peek() == UInt8(ascii: "}") {
      position += 1
      return
    }
    while true {
      let key = try string(field: "a key")
      guard seen.insert(key).inserted else { throw fail("duplicate field \(key)") }
      try expect(UInt8(ascii: ":"), "':' after \(key)")
      try member(key, &self)
      switch peek() {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "}"):
        position += 1
        return
      default: throw fail("expected ',' or '}' in an object")
      }
    }
  }

  /// An array: calls `element` with each index.
  mutating func array(field: String, _ element: (Int, inout JSONScanner) throws(GatewayError) -> Void)
    throws(GatewayError)
  {
    try expect(UInt8(ascii: "["), "\(field) to be an array")
    if peek() == UInt8(ascii: "]") {
      position += 1
      return
    }
    var index = 0
    while true {
      try element(index, &self)
      index += 1
      switch peek() {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "]"):
        position += 1
        return
      default: throw fail("expected ',' or ']' in \(field)")
      }
    }
  }

  /// A string of at most ``maximumStringLength`` characters, escapes decoded.
  mutating func string(field: String) throws(GatewayError) -> String {
    try expect(UInt8(ascii: "\""), "\(field) to be a string")
    var scalars = String.UnicodeScalarView()
    var utf8: [UInt8] = []
    var count = 0
    while true {
      guard position < bytes.count else { throw fail("unterminated string in \(field)") }
      let byte = bytes[position]
      position += 1
      count += 1
      guard count <= Self.maximumStringLength else { throw fail("\(field) is longer than \(Self.maximumStringLength)") }
      switch byte {
      case UInt8(ascii: "\""):
        guard let text = String(validating: utf8, as: UTF8.self) else { throw fail("\(field) is not valid UTF-8") }
        scalars.append(contentsOf: text.unicodeScalars)
        return String(scalars)
      case UInt8(ascii: "\\"):
        guard position < bytes.count else { throw fail("unterminated escape in \(field)") }
        let escape = bytes[position]
        position += 1
        let simple: [UInt8: UInt8] = [
          UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "b"): 0x08,
          UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
        ]
        if let value = simple[escape] {
          utf8.append(value)
        } else if escape == UInt8(ascii: "u") {
          var code = try hex4(field)
          if (0xD800..<0xDC00).contains(code) {
            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
              bytes[position + 1] == UInt8(ascii: "u")
            else { throw fail("unpaired surrogate in \(field)") }
            position += 2
            let low = try hex4(field)
            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \(field)") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          }
          guard let scalar = Unicode.Scalar(code) else { throw fail("invalid escape in \(field)") }
          utf8.append(contentsOf: Array(String(scalar).utf8))
        } else {
          throw fail("invalid escape in \(field)")
        }
      case 0x00..<0x20: throw fail("control character in \(field)")
      default: utf8.append(byte)
      }
    }
  }

  private mutating func hex4(_ field: String) throws(GatewayError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw fail("truncated escape in \(field)") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let nibble = HexCodec.nibble[Int(bytes[position])]
      guard nibble < 16 else { throw fail("invalid escape in \(field)") }
      value = value << 4 | UInt32(nibble)
      position += 1
    }
    return value
  }

  /// A string of hex digits (either case, even length, no escapes), decoded to bytes.
  mutating func hexString(field: String) throws(GatewayError) -> [UInt8] {
    try expect(UInt8(ascii: "\""), "\(field) to be a string")
    let start = position
    // The closing quote bounds the digits (a backslash can only be an escape, never hex); memchr
    // finds it in megabytes of digits far faster than a byte loop.
    guard start < bytes.count, let base = bytes.baseAddress,
      let quote = memchr(base + start, Int32(UInt8(ascii: "\"")), bytes.count - start)
    else { throw fail("unterminated string in \(field)") }
    let end = UnsafeRawPointer(quote) - base
    guard (end - start) % 2 == 0 else { throw fail("\(field) has an odd number of hex digits") }
    let decoded = HexCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    guard let decoded else { throw fail("\(field) is not lowercase or uppercase hex") }
    position = end + 1
    return decoded
  }

  /// A JSON number without fraction or exponent that fits an `Int`.
  mutating func integer(field: String) throws(GatewayError) -> Int {
    let token = try numberToken(field: field)
    guard let value = Int(token) else { throw fail("\(field) must be an integer") }
    return value
  }

  /// A finite JSON number.
  mutating func number(field: String) throws(GatewayError) -> Double {
    let token = try numberToken(field: field)
    guard let value = Double(token), value.isFinite else { throw fail("\(field) must be a finite number") }
    return value
  }

  /// The characters of a number in JSON's grammar.
  private mutating func numberToken(field: String) throws(GatewayError) -> String {
    guard let first = peek(), first == UInt8(ascii: "-") || (0x30...0x39).contains(first) else {
      throw fail("\(field) must be a number")
    }
    let start = position
    func digits() -> Int {
      let begin = position
      while position < bytes.count, (0x30...0x39).contains(bytes[position]) { position += 1 }
      return position - begin
    }
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    guard digits() > 0, bytes[integerStart] != 0x30 || position - integerStart == 1 else {
      throw fail("\(field) is not a valid number")
    }
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      position += 1
      guard digits() > 0 else { throw fail("\(field) is not a valid number") }
    }
    if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
      position += 1
      if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
        position += 1
      }
      guard digits() > 0 else { throw fail("\(field) is not a valid number") }
    }
    guard position - start <= 64 else { throw fail("\(field) has too many digits") }
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
  }
}

/// Hex to bytes and back with lookup tables.
enum HexCodec {
  /// Nibble value of each byte, 255 for a byte that is not a hex digit.
  static let nibble: [UInt8] = (0..<256).map { byte in
    switch byte {
    case 0x30...0x39: UInt8(byte - 0x30)
    case 0x41...0x46: UInt8(byte - 0x41 + 10)
    case 0x61...0x66: UInt8(byte - 0x61 + 10)
    default: 255
    }
  }
  private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

  /// The byte of every pair of characters, indexed by the pair read as a little-endian u16
  /// (first character in the low byte); bit 8 is set when either character is not a hex digit.
  /// 128 KiB, of which the 22 × 22 valid pairs touch a few kilobytes.
  private static let pairs: [UInt16] = (0..<65536).map { key in
    let high = nibble[key & 0xFF]
    let low = nibble[key >> 8]
    return high < 16 && low < 16 ? UInt16(high << 4 | low) : 0x100
  }

  /// The bytes of an even-length run of hex digits, nil if any character is not a hex digit.
  static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
    let count = text.count / 2
    var invalid: UInt16 = 0
    let result = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
      pairs.withUnsafeBufferPointer { table in
        // Invariant: 2·count ≤ text.count, so every two-byte load is in bounds; a pair with a
        // non-digit sets bit 8 of `invalid`, reported after the loop (no branch per byte).
        for i in 0..<count {
          let value = table[Int(UInt16(littleEndian: text.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))]
          invalid |= value
          output[i] = UInt8(truncatingIfNeeded: value)
        }
      }
      initialized = count
    }
    return invalid & 0x100 == 0 ? result : nil
  }

  /// Appends the lowercase hex of `bytes` to `buffer`.
  static func write(_ bytes: Data, into buffer: inout ByteBuffer) {
    let count = 2 * bytes.count
    bytes.withUnsafeBytes { source in
      digits.withUnsafeBufferPointer { table in
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { output in
          // Invariant: the closure is given at least `count` writable bytes.
          for (i, byte) in source.enumerated() {
            output[2 * i] = table[Int(byte >> 4)]
            output[2 * i + 1] = table[Int(byte & 0x0F)]
          }
          return count
        }
      }
    }
  }
}
