/// Appends little-endian fields to a byte array.
struct ByteWriter {
  private(set) var bytes: [UInt8] = []

  init(capacity: Int) { bytes.reserveCapacity(capacity) }

  mutating func write(_ value: UInt8) { bytes.append(value) }

  mutating func write(_ value: UInt16) {
    for b in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt16(b)))) }
  }

  mutating func write(_ value: UInt64) {
    for b in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(b)))) }
  }

  mutating func write(_ value: Double) { write(value.bitPattern) }

  mutating func write(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

  /// Appends each word as 8 little-endian bytes.
  mutating func writeWords(_ words: UnsafeBufferPointer<UInt64>) {
    #if _endian(little)
      bytes.append(contentsOf: UnsafeRawBufferPointer(words))
    #else
      for word in words { write(word) }
    #endif
  }

  /// Packs each value in `bits` bits (1…64), least significant bit first, and pads the end to a
  /// whole byte. Every value must be below 2^bits.
  mutating func writePacked(_ values: UnsafeBufferPointer<UInt64>, bits: Int) {
    // Invariant: fewer than 8 bits wait in the accumulator before each value is added, so
    // at most 71 bits are ever held (UInt128 is wide enough).
    var accumulator: UInt128 = 0
    var filled = 0
    for value in values {
      accumulator |= UInt128(value) << UInt128(filled)
      filled += bits
      while filled >= 8 {
        bytes.append(UInt8(truncatingIfNeeded: accumulator))
        accumulator >>= 8
        filled -= 8
      }
    }
    if filled > 0 { bytes.append(UInt8(truncatingIfNeeded: accumulator)) }
  }
}

/// Reads little-endian fields; every read is bounds-checked.
struct ByteReader {
  let bytes: [UInt8]
  private(set) var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  var remaining: Int { bytes.count - offset }

  mutating func readByte() throws(SerializationError) -> UInt8 {
    guard remaining >= 1 else { throw .sizeMismatch(expected: offset + 1, actual: bytes.count) }
    defer { offset += 1 }
    return bytes[offset]
  }

  mutating func readUInt16() throws(SerializationError) -> UInt16 {
    guard remaining >= 2 else { throw .sizeMismatch(expected: offset + 2, actual: bytes.count) }
    defer { offset += 2 }
    return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
  }

  mutating func readUInt64() throws(SerializationError) -> UInt64 {
    guard remaining >= 8 else { throw .sizeMismatch(expected: offset + 8, actual: bytes.count) }
    defer { offset += 8 }
    return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
  }

  mutating func readDouble() throws(SerializationError) -> Double { Double(bitPattern: try readUInt64()) }

  /// Moves past `count` bytes without reading them.
  mutating func skip(_ count: Int) throws(SerializationError) {
    guard count >= 0, remaining >= count else { throw .sizeMismatch(expected: offset + count, actual: bytes.count) }
    offset += count
  }

  mutating func readBytes(_ count: Int) throws(SerializationError) -> [UInt8] {
    guard count >= 0, remaining >= count else { throw .sizeMismatch(expected: offset + count, actual: bytes.count) }
    defer { offset += count }
    return Array(bytes[offset..<(offset + count)])
  }

  /// Unpacks `count` values of `bits` bits into `destination`, shifting each left by `shift`;
  /// each result must be below `bound`, else `residueOutOfRange` with the given coordinates.
  /// The caller has already checked that enough bytes remain.
  mutating func readPacked(
    into destination: UnsafeMutablePointer<UInt64>, count: Int, bits: Int, shift: Int, bound: UInt64,
    polynomial: Int, prime: Int
  ) throws(SerializationError) {
    let byteCount = ByteReader.packedSize(count: count, bits: bits)
    guard remaining >= byteCount else { throw .sizeMismatch(expected: offset + byteCount, actual: bytes.count) }
    let mask: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
    var bitPosition = 0
    for index in 0..<count {
      // Gather the value's bits from at most 9 consecutive bytes.
      var value: UInt64 = 0
      var gathered = 0
      var position = bitPosition
      while gathered < bits {
        let byte = UInt64(bytes[offset + position >> 3])
        let bitInByte = position & 7
        let take = min(8 - bitInByte, bits - gathered)
        value |= ((byte >> UInt64(bitInByte)) & ((1 << UInt64(take)) - 1)) << UInt64(gathered)
        gathered += take
        position += take
      }
      bitPosition += bits
      let residue = (value & mask) << UInt64(shift)
      guard residue < bound, shift == 0 || residue >> UInt64(shift) == value & mask else {
        throw .residueOutOfRange(polynomial: polynomial, prime: prime, index: index)
      }
      destination[index] = residue
    }
    offset += byteCount
  }

  /// Reads `destination.count` little-endian u64 words, each of which must be below `bound`,
  /// else `residueOutOfRange` with the given coordinates.
  mutating func readWords(
    into destination: UnsafeMutableBufferPointer<UInt64>, bound: UInt64, polynomial: Int, prime: Int
  ) throws(SerializationError) {
    let byteCount = 8 * destination.count
    guard remaining >= byteCount else { throw .sizeMismatch(expected: offset + byteCount, actual: bytes.count) }
    let start = offset
    // One pass: load, range-check and store; the bounds were checked above, so the loads stay
    // inside `bytes`.
    let outOfRange: Int? = bytes.withUnsafeBytes { raw in
      let source = UnsafeRawBufferPointer(rebasing: raw[start..<(start + byteCount)])
      for index in 0..<destination.count {
        let word = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))
        guard word < bound else { return index }
        destination[index] = word
      }
      return nil
    }
    if let index = outOfRange { throw .residueOutOfRange(polynomial: polynomial, prime: prime, index: index) }
    offset += byteCount
  }

  /// Bytes used by `count` values packed at `bits` bits, padded to a whole byte.
  static func packedSize(count: Int, bits: Int) -> Int { (count * bits + 7) / 8 }
}
