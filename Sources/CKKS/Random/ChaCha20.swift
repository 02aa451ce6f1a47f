/// The ChaCha20 block function of RFC 8439 (https://www.rfc-editor.org/rfc/rfc8439), used as a
/// fast cryptographic stream to expand 32-byte seeds into random words.
///
/// Key: 8 little-endian words; nonce: 3 little-endian words; 32-bit block counter.
/// ``blocks(key:nonce:counter:into:)`` computes four consecutive blocks at once in SIMD lanes.
public enum ChaCha20 {
  /// Size of one keystream block in bytes.
  public static let blockSize = 64

  private static let constants: (UInt32, UInt32, UInt32, UInt32) = (0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574)

  @inline(__always)
  private static func rotate(_ x: SIMD4<UInt32>, _ n: UInt32) -> SIMD4<UInt32> {
    (x &<< SIMD4(repeating: n)) | (x &>> SIMD4(repeating: 32 - n))
  }

  @inline(__always)
  private static func quarterRound(
    _ a: inout SIMD4<UInt32>, _ b: inout SIMD4<UInt32>, _ c: inout SIMD4<UInt32>, _ d: inout SIMD4<UInt32>
  ) {
    a &+= b; d ^= a; d = rotate(d, 16)
    c &+= d; b ^= c; b = rotate(b, 12)
    a &+= b; d ^= a; d = rotate(d, 8)
    c &+= d; b ^= c; b = rotate(b, 7)
  }

  /// Writes the four keystream blocks for counters `counter … counter+3` (256 bytes) to `output`,
  /// as 64 little-endian 32-bit words per block. The counter wraps modulo 2^32.
  public static func blocks(
    key: SIMD8<UInt32>, nonce: SIMD3<UInt32>, counter: UInt32, into output: UnsafeMutablePointer<UInt32>
  ) {
    let c0 = SIMD4<UInt32>(repeating: constants.0)
    let c1 = SIMD4<UInt32>(repeating: constants.1)
    let c2 = SIMD4<UInt32>(repeating: constants.2)
    let c3 = SIMD4<UInt32>(repeating: constants.3)
    let k0 = SIMD4<UInt32>(repeating: key[0]), k1 = SIMD4<UInt32>(repeating: key[1])
    let k2 = SIMD4<UInt32>(repeating: key[2]), k3 = SIMD4<UInt32>(repeating: key[3])
    let k4 = SIMD4<UInt32>(repeating: key[4]), k5 = SIMD4<UInt32>(repeating: key[5])
    let k6 = SIMD4<UInt32>(repeating: key[6]), k7 = SIMD4<UInt32>(repeating: key[7])
    let counters = SIMD4<UInt32>(counter, counter &+ 1, counter &+ 2, counter &+ 3)
    let n0 = SIMD4<UInt32>(repeating: nonce[0]), n1 = SIMD4<UInt32>(repeating: nonce[1])
    let n2 = SIMD4<UInt32>(repeating: nonce[2])

    var x0 = c0, x1 = c1, x2 = c2, x3 = c3
    var x4 = k0, x5 = k1, x6 = k2, x7 = k3
    var x8 = k4, x9 = k5, x10 = k6, x11 = k7
    var x12 = counters, x13 = n0, x14 = n1, x15 = n2
    for _ in 0..<10 {
      quarterRound(&x0, &x4, &x8, &x12)
      quarterRound(&x1, &x5, &x9, &x13)
      quarterRound(&x2, &x6, &x10, &x14)
      quarterRound(&x3, &x7, &x11, &x15)
      quarterRound(&x0, &x5, &x10, &x15)
      quarterRound(&x1, &x6, &x11, &x12)
      quarterRound(&x2, &x7, &x8, &x13)
      quarterRound(&x3, &x4, &x9, &x14)
    }
    // Lane b of word w belongs to block b, word w; stored as little-endian keystream bytes.
    @inline(__always) func store(_ v: SIMD4<UInt32>, _ w: Int) {
      output[w] = v[0].littleEndian
      output[16 + w] = v[1].littleEndian
      output[32 + w] = v[2].littleEndian
      output[48 + w] = v[3].littleEndian
    }
    store(x0 &+ c0, 0); store(x1 &+ c1, 1); store(x2 &+ c2, 2); store(x3 &+ c3, 3)
    store(x4 &+ k0, 4); store(x5 &+ k1, 5); store(x6 &+ k2, 6); store(x7 &+ k3, 7)
    store(x8 &+ k4, 8); store(x9 &+ k5, 9); store(x10 &+ k6, 10); store(x11 &+ k7, 11)
    store(x12 &+ counters, 12); store(x13 &+ n0, 13); store(x14 &+ n1, 14); store(x15 &+ n2, 15)
  }

  /// One 64-byte keystream block (convenience for tests).
  public static func block(key: [UInt8], nonce: [UInt8], counter: UInt32) -> [UInt8] {
    precondition(key.count == 32 && nonce.count == 12)
    var output = [UInt32](repeating: 0, count: 64)
    output.withUnsafeMutableBufferPointer {
      blocks(key: keyWords(key), nonce: nonceWords(nonce), counter: counter, into: $0.baseAddress!)
    }
    return output[0..<16].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
  }

  /// Reads 32 key bytes as eight little-endian words.
  public static func keyWords(_ key: [UInt8]) -> SIMD8<UInt32> {
    precondition(key.count == 32)
    var words = SIMD8<UInt32>()
    for i in 0..<8 { words[i] = littleEndianWord(key, at: 4 * i) }
    return words
  }

  /// Reads 12 nonce bytes as three little-endian words.
  public static func nonceWords(_ nonce: [UInt8]) -> SIMD3<UInt32> {
    precondition(nonce.count == 12)
    return SIMD3(littleEndianWord(nonce, at: 0), littleEndianWord(nonce, at: 4), littleEndianWord(nonce, at: 8))
  }

  private static func littleEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
      | UInt32(bytes[offset + 3]) << 24
  }
}
