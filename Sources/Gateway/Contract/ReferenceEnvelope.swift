import Foundation
import NIOCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The request bodies of the reference contract (`schemas/reference-v1`), read in one pass as
/// they arrive. `POST /infer` carries about 12.6 MB of JSON whose bulk is hex: the payloads are
/// decoded from hex straight into bytes chunk by chunk while the body is still being received,
/// with no copy of the whole body, no intermediate strings and no JSON tree (a general JSON
/// decoder spends most of its time building exactly those). The scanner is strict: one object,
/// only the documented fields, each once, with the documented types.
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

  /// Parses a whole body held in memory.
  static func parseInfer(_ body: [UInt8]) async throws(GatewayError) -> InferBody {
    var scanner = JSONScanner(BufferSource(body))
    return try await parseInfer(&scanner)
  }

  /// Parses a body as its chunks arrive; `received`, when given, is told each chunk's size as it
  /// arrives (and may refuse it).
  static func parseInfer<Chunks: AsyncSequence>(
    streaming body: Chunks, limit: Int, received: (@Sendable (Int) throws(GatewayError) -> Void)? = nil
  ) async throws(GatewayError) -> InferBody where Chunks.Element == ByteBuffer {
    var scanner = JSONScanner(StreamSource(body.makeAsyncIterator(), limit: limit, received: received))
    return try await parseInfer(&scanner)
  }

  static func parseInfer<Source>(_ scanner: inout JSONScanner<Source>) async throws(GatewayError) -> InferBody {
    var modelId: String?
    var version: String?
    var batchSize: Int?
    var payloads: [[UInt8]]?
    try await scanner.object { (key, scanner) async throws(GatewayError) in
      switch key {
      case "model_id": modelId = try await scanner.string(field: key)
      case "version": version = try await scanner.string(field: key)
      case "batch_size": batchSize = try await scanner.integer(field: key)
      case "inputs":
        var list: [[UInt8]] = []
        try await scanner.array(field: key) { (index, scanner) async throws(GatewayError) in
          guard index < maximumInputs else { throw invalid("inputs has more than \(maximumInputs) items") }
          // Inputs are usually of one size: reserve the previous one's.
          list.append(try await input(&scanner, index: index, expectedBytes: list.last?.count ?? 0))
        }
        payloads = list
      default: throw invalid("unexpected field \(key); the body takes model_id, version, batch_size and inputs")
      }
    }
    try await scanner.end()
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

  private static func input<Source>(_ scanner: inout JSONScanner<Source>, index: Int, expectedBytes: Int)
    async throws(GatewayError) -> [UInt8]
  {
    var encoding: String?
    var payload: [UInt8]?
    try await scanner.object { (key, scanner) async throws(GatewayError) in
      switch key {
      case "encoding":
        encoding = try await scanner.string(field: "inputs[\(index)].encoding")
        guard encoding == "hex" else { throw invalid("inputs[\(index)].encoding must be \"hex\"") }
      case "payload":
        payload = try await scanner.hexString(field: "inputs[\(index)].payload", expectedBytes: expectedBytes)
      default: throw invalid("unexpected field inputs[\(index)].\(key); an input has encoding and payload")
      }
    }
    guard encoding != nil else { throw invalid("missing field inputs[\(index)].encoding") }
    guard let payload else { throw invalid("missing field inputs[\(index)].payload") }
    return payload
  }

  /// Parses a whole `POST /infer/plain` body held in memory.
  static func parsePlain(_ body: [UInt8]) async throws(GatewayError) -> PlainBody {
    var scanner = JSONScanner(BufferSource(body))
    var modelId: String?
    var version: String?
    var inputs: [Double]?
    try await scanner.object { (key, scanner) async throws(GatewayError) in
      switch key {
      case "model_id": modelId = try await scanner.string(field: key)
      case "version": version = try await scanner.string(field: key)
      case "inputs":
        var values: [Double] = []
        try await scanner.array(field: key) { (index, scanner) async throws(GatewayError) in
          guard index < 4096 else { throw invalid("inputs has more than 4096 items") }
          values.append(try await scanner.number(field: "inputs[\(index)]"))
        }
        inputs = values
      default: throw invalid("unexpected field \(key); the body takes model_id, version and inputs")
      }
    }
    try await scanner.end()
    guard let modelId, let version, let inputs else {
      let missing = [("model_id", modelId == nil), ("version", version == nil), ("inputs", inputs == nil)]
        .filter(\.1).map(\.0)
      throw invalid("missing field \(missing.joined(separator: ", "))")
    }
    return PlainBody(modelId: modelId, version: version, inputs: inputs)
  }

  static func invalid(_ message: String) -> GatewayError { GatewayError(.invalidSchema, message) }
}

/// Where a ``JSONScanner`` reads bytes from: a buffer in memory or a body arriving in chunks.
protocol JSONByteSource {
  /// Bytes consumed so far (for error messages).
  var offset: Int { get }
  /// The next byte without consuming it; nil at the end of the input.
  mutating func peek() async throws(GatewayError) -> UInt8?
  /// Consumes the byte ``peek()`` returned.
  mutating func advance()
  /// Consumes hex digits up to the next `"` (left unconsumed), appending their bytes to `output`.
  /// Returns false when a character before the quote is not a hex digit or their count is odd.
  /// - Throws: `INVALID_SCHEMA` when the input ends before a quote.
  mutating func readHexDigits(into output: inout [UInt8]) async throws(GatewayError) -> Bool
}

/// A body held in memory.
struct BufferSource: JSONByteSource {
  let bytes: [UInt8]
  private(set) var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

  mutating func advance() { offset += 1 }

  mutating func readHexDigits(into output: inout [UInt8]) throws(GatewayError) -> Bool {
    let start = offset
    let quote: Int? = bytes.withUnsafeBytes { raw in
      guard start < raw.count, let base = raw.baseAddress,
        let found = memchr(base + start, Int32(UInt8(ascii: "\"")), raw.count - start)
      else { return nil }
      return UnsafeRawPointer(found) - base
    }
    guard let quote else { throw GatewayError(.invalidSchema, "unterminated string (at byte \(start))") }
    offset = quote
    guard (quote - start) % 2 == 0 else { return false }
    return bytes.withUnsafeBytes {
      HexCodec.decode(UnsafeRawBufferPointer(rebasing: $0[start..<quote]), appendingTo: &output)
    }
  }
}

/// A body arriving in chunks (a request body): bytes are read as they come, and more than `limit`
/// bytes in all is refused with `PAYLOAD_TOO_LARGE` (for bodies without a declared length).
struct StreamSource<Chunks: AsyncIteratorProtocol>: JSONByteSource where Chunks.Element == ByteBuffer {
  private var chunks: Chunks
  private var chunk = ByteBuffer()
  private let limit: Int
  private var received = 0
  private let onChunk: (@Sendable (Int) throws(GatewayError) -> Void)?
  private(set) var offset = 0
  /// A hex digit whose partner is in the next chunk.
  private var carriedDigit: UInt8?

  init(_ chunks: Chunks, limit: Int, received: (@Sendable (Int) throws(GatewayError) -> Void)? = nil) {
    self.chunks = chunks
    self.limit = limit
    self.onChunk = received
  }

  /// Makes sure the current chunk has a byte; false at the end of the body.
  private mutating func fill() async throws(GatewayError) -> Bool {
    while chunk.readableBytes == 0 {
      let next: ByteBuffer?
      do {
        next = try await chunks.next()
      } catch {
        throw GatewayError(.invalidSchema, "the body could not be read to its end")
      }
      guard let next else { return false }
      received += next.readableBytes
      guard received <= limit else {
        throw GatewayError(
          .payloadTooLarge, "the body exceeds \(limit) bytes", details: ["limit_bytes": "\(limit)"])
      }
      try onChunk?(next.readableBytes)
      chunk = next
    }
    return true
  }

  mutating func peek() async throws(GatewayError) -> UInt8? {
    guard try await fill() else { return nil }
    return chunk.getInteger(at: chunk.readerIndex, as: UInt8.self)
  }

  mutating func advance() {
    chunk.moveReaderIndex(forwardBy: 1)
    offset += 1
  }

  mutating func readHexDigits(into output: inout [UInt8]) async throws(GatewayError) -> Bool {
    var valid = true
    while true {
      guard try await fill() else {
        throw GatewayError(.invalidSchema, "unterminated string (at byte \(offset))")
      }
      let (consumed, foundQuote, chunkValid, carry) = chunk.withUnsafeReadableBytes {
        raw -> (Int, Bool, Bool, UInt8?) in
        let base = raw.baseAddress!
        let end = memchr(base, Int32(UInt8(ascii: "\"")), raw.count).map { UnsafeRawPointer($0) - base } ?? raw.count
        var start = 0
        var ok = true
        // A digit carried from the previous chunk pairs with this chunk's first.
        if let carried = carriedDigit, end > 0 {
          let pair = [carried, raw[0]]
          ok = pair.withUnsafeBytes { HexCodec.decode($0, appendingTo: &output) }
          start = 1
        }
        let evenEnd = start + (end - start) / 2 * 2
        ok = HexCodec.decode(UnsafeRawBufferPointer(rebasing: raw[start..<evenEnd]), appendingTo: &output) && ok
        let carry: UInt8? =
          evenEnd < end ? raw[evenEnd] : (carriedDigit != nil && end == 0 ? carriedDigit : nil)
        return (end, end < raw.count, ok, carry)
      }
      valid = valid && chunkValid
      carriedDigit = carry
      chunk.moveReaderIndex(forwardBy: consumed)
      offset += consumed
      if foundQuote {
        defer { carriedDigit = nil }
        return valid && carriedDigit == nil
      }
    }
  }
}

/// A strict single-pass JSON reader for the few shapes the reference contract's bodies have.
/// Every read is bounds-checked; errors are `INVALID_SCHEMA` refusals naming the field and the
/// offset.
struct JSONScanner<Source: JSONByteSource> {
  private var source: Source
  /// Longest ordinary string accepted, in UTF-8 bytes (identifiers, versions, "hex").
  static var maximumStringLength: Int { 256 }

  init(_ source: Source) { self.source = source }

  private func fail(_ message: String) -> GatewayError {
    GatewayError(.invalidSchema, "\(message) (at byte \(source.offset))")
  }

  private mutating func peekSkippingWhitespace() async throws(GatewayError) -> UInt8? {
    while let byte = try await source.peek() {
      switch byte {
      case 0x20, 0x0A, 0x0D, 0x09: source.advance()
      default: return byte
      }
    }
    return nil
  }

  private mutating func expect(_ byte: UInt8, _ what: String) async throws(GatewayError) {
    guard try await peekSkippingWhitespace() == byte else { throw fail("expected \(what)") }
    source.advance()
  }

  /// The next raw byte, consumed (nil at the end).
  private mutating func next() async throws(GatewayError) -> UInt8? {
    guard let byte = try await source.peek() else { return nil }
    source.advance()
    return byte
  }

  /// Only whitespace may follow the value.
  mutating func end() async throws(GatewayError) {
    guard try await peekSkippingWhitespace() == nil else { throw fail("unexpected content after the JSON value") }
  }

  /// An object: calls `member` once per key with the scanner positioned at its value; a key seen
  /// twice is refused.
  mutating func object(_ member: (String, inout JSONScanner) async throws(GatewayError) -> Void)
    async throws(GatewayError)
  {
    try await expect(UInt8(ascii: "{"), "an object")
    var seen: Set<String> = []
    if try await peekSkippingWhitespace() == UInt8(ascii: "}") {
      source.advance()
      return
    }
    while true {
      let key = try await string(field: "a key")
      guard seen.insert(key).inserted else { throw fail("duplicate field \(key)") }
      try await expect(UInt8(ascii: ":"), "':' after \(key)")
      try await member(key, &self)
      switch try await peekSkippingWhitespace() {
      case UInt8(ascii: ","): source.advance()
      case UInt8(ascii: "}"):
        source.advance()
        return
      default: throw fail("expected ',' or '}' in an object")
      }
    }
  }

  /// An array: calls `element` with each index.
  mutating func array(field: String, _ element: (Int, inout JSONScanner) async throws(GatewayError) -> Void)
    async throws(GatewayError)
  {
    try await expect(UInt8(ascii: "["), "\(field) to be an array")
    if try await peekSkippingWhitespace() == UInt8(ascii: "]") {
      source.advance()
      return
    }
    var index = 0
    while true {
      try await element(index, &self)
      index += 1
      switch try await peekSkippingWhitespace() {
      case UInt8(ascii: ","): source.advance()
      case UInt8(ascii: "]"):
        source.advance()
        return
      default: throw fail("expected ',' or ']' in \(field)")
      }
    }
  }

  /// A string of at most ``maximumStringLength`` characters, escapes decoded.
  mutating func string(field: String) async throws(GatewayError) -> String {
    try await expect(UInt8(ascii: "\""), "\(field) to be a string")
    var utf8: [UInt8] = []
    while true {
      guard let byte = try await next() else { throw fail("unterminated string in \(field)") }
      guard byte == UInt8(ascii: "\"") || utf8.count < Self.maximumStringLength else {
        throw fail("\(field) is longer than \(Self.maximumStringLength) bytes")
      }
      switch byte {
      case UInt8(ascii: "\""):
        guard let text = String(validating: utf8, as: UTF8.self) else { throw fail("\(field) is not valid UTF-8") }
        return text
      case UInt8(ascii: "\\"):
        guard let escape = try await next() else { throw fail("unterminated escape in \(field)") }
        let simple: [UInt8: UInt8] = [
          UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F, UInt8(ascii: "b"): 0x08,
          UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09,
        ]
        if let value = simple[escape] {
          utf8.append(value)
        } else if escape == UInt8(ascii: "u") {
          var code = try await hex4(field)
          if (0xD800..<0xDC00).contains(code) {
            guard try await next() == UInt8(ascii: "\\"), try await next() == UInt8(ascii: "u") else {
              throw fail("unpaired surrogate in \(field)")
            }
            let low = try await hex4(field)
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

  private mutating func hex4(_ field: String) async throws(GatewayError) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = try await next() else { throw fail("truncated escape in \(field)") }
      let nibble = HexCodec.nibble[Int(byte)]
      guard nibble < 16 else { throw fail("invalid escape in \(field)") }
      value = value << 4 | UInt32(nibble)
    }
    return value
  }

  /// A string of hex digits (either case, even length, no escapes), decoded to bytes;
  /// `expectedBytes` is reserved up front (0: grow as needed).
  mutating func hexString(field: String, expectedBytes: Int = 0) async throws(GatewayError) -> [UInt8] {
    try await expect(UInt8(ascii: "\""), "\(field) to be a string")
    var output: [UInt8] = []
    output.reserveCapacity(expectedBytes)
    // A backslash can only be an escape, never hex: it makes the digits invalid.
    guard try await source.readHexDigits(into: &output) else {
      throw fail("\(field) is not an even number of hex digits")
    }
    source.advance()  // the closing quote
    guard !output.isEmpty else { throw fail("\(field) is empty") }
    return output
  }

  /// A JSON number with an integral value that fits an `Int` (`2`, and as JSON Schema's
  /// `integer` allows, `2.0` or `2e0`).
  mutating func integer(field: String) async throws(GatewayError) -> Int {
    let token = try await numberToken(field: field)
    if let value = Int(token) { return value }
    guard let value = Double(token), value.rounded() == value, abs(value) < 0x1p53 else {
      throw fail("\(field) must be an integer")
    }
    return Int(value)
  }

  /// A finite JSON number.
  mutating func number(field: String) async throws(GatewayError) -> Double {
    let token = try await numberToken(field: field)
    guard let value = Double(token), value.isFinite else { throw fail("\(field) must be a finite number") }
    return value
  }

  /// The characters of a number in JSON's grammar (at most 64).
  private mutating func numberToken(field: String) async throws(GatewayError) -> String {
    guard let first = try await peekSkippingWhitespace(), first == UInt8(ascii: "-") || (0x30...0x39).contains(first)
    else { throw fail("\(field) must be a number") }
    var token: [UInt8] = []
    func take() async throws(GatewayError) -> UInt8? {
      guard let byte = try await source.peek() else { return nil }
      source.advance()
      token.append(byte)
      guard token.count <= 64 else { throw fail("\(field) has too many digits") }
      return byte
    }
    func digits() async throws(GatewayError) -> Int {
      var count = 0
      while let byte = try await source.peek(), (0x30...0x39).contains(byte) {
        _ = try await take()
        count += 1
      }
      return count
    }
    if first == UInt8(ascii: "-") { _ = try await take() }
    let leading = try await source.peek()
    let integerDigits = try await digits()
    guard integerDigits > 0, leading != 0x30 || integerDigits == 1 else { throw fail("\(field) is not a valid number") }
    if try await source.peek() == UInt8(ascii: ".") {
      _ = try await take()
      guard try await digits() > 0 else { throw fail("\(field) is not a valid number") }
    }
    if let byte = try await source.peek(), byte | 0x20 == UInt8(ascii: "e") {
      _ = try await take()
      if let sign = try await source.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
        _ = try await take()
      }
      guard try await digits() > 0 else { throw fail("\(field) is not a valid number") }
    }
    return String(decoding: token, as: UTF8.self)
  }
}

/// Hex to bytes and back with lookup tables (package-wide: the CLI's benchmark uses it too).
package enum HexCodec {
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

  /// Appends the bytes of an even-length run of hex digits to `output`; false (with `output`
  /// holding garbage past its old end) if any character is not a hex digit.
  static func decode(_ text: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) -> Bool {
    let count = text.count / 2
    guard count > 0 else { return true }
    var invalid: UInt16 = 0
    let old = output.count
    output.append(contentsOf: repeatElement(0, count: count))
    output.withUnsafeMutableBufferPointer { destination in
      pairs.withUnsafeBufferPointer { table in
        // Invariant: 2·count ≤ text.count and old + count ≤ destination.count, so every load and
        // store is in bounds; a pair with a non-digit sets bit 8 of `invalid`, checked after the
        // loop (no branch per byte).
        for i in 0..<count {
          let value = table[Int(UInt16(littleEndian: text.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))]
          invalid |= value
          destination[old + i] = UInt8(truncatingIfNeeded: value)
        }
      }
    }
    return invalid & 0x100 == 0
  }

  /// Lowercase hex of `bytes`.
  package static func encode(_ bytes: [UInt8]) -> String {
    var buffer = ByteBuffer()
    write(Data(bytes), into: &buffer)
    return String(buffer: buffer)
  }

  /// The bytes of `text`, nil unless it is an even number of hex digits (either case).
  package static func decode(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    return digits.withUnsafeBytes { decode($0, appendingTo: &bytes) } ? bytes : nil
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
