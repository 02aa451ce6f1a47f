/// The ChaCha20 block function of RFC 8439 (https://www.rfc-editor.org/rfc/rfc8439), used as a
/// fast cryptographic stream to expand 32-byte seeds into random words.
///
/// Key: 8 little-endian words; nonce: 3 little-endian words; 32-bit block counter.
///
/// Scalar on purpose: with `SIMD4<UInt32>` lanes LLVM recognizes the rotations and, lacking a
/// vector rotate before AVX-512, moves every lane through a general register, which is slower
/// (measured in docs/benchmarks.md).
public enum ChaCha20 {
  /// Size of one keystream block in bytes.
  public static let blockSize = 64

  @inline(__always)
  private static func quarterRound(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32) {
    a &+= b
    d ^= a
    d = d << 16 | d >> 16
    c &+= d
    b ^= c
    b = b << 12 | b >> 20
    a &+= b
    d ^= a
    d = d << 8 | d >> 24
    c &+= d
    b ^= c
    b = b << 7 | b >> 25
  }

  /// Writes the keystream block for `counter` to `output` as 16 words whose in-memory bytes are
  /// the RFC's serialized block (little-endian words on every platform).
  /// - Precondition: `output` points at 16 writable words (``blockSize`` bytes).
  static func block(
    key: SIMD8<UInt32>, nonce: SIMD3<UInt32>, counter: UInt32, into output: UnsafeMutablePointer<UInt32>
  ) {
    let c0: UInt32 = 0x6170_7865
    let c1: UInt32 = 0x3320_646e
    let c2: UInt32 = 0x7962_2d32
    let c3: UInt32 = 0x6b20_6574
    var x0 = c0
    var x1 = c1
    var x2 = c2
    var x3 = c3
    var x4 = key[0]
    var x5 = key[1]
    var x6 = key[2]
    var x7 = key[3]
    var x8 = key[4]
    var x9 = key[5]
    var x10 = key[6]
    var x11 = key[7]
    var x12 = counter
    var x13 = nonce[0]
    var x14 = nonce[1]
    var x15 = nonce[2]
    for _ in 0..<10 {
      // Column round, then diagonal round.
      quarterRound(&x0, &x4, &x8, &x12)
      quarterRound(&x1, &x5, &x9, &x13)
      quarterRound(&x2, &x6, &x10, &x14)
      quarterRound(&x3, &x7, &x11, &x15)
      quarterRound(&x0, &x5, &x10, &x15)
      quarterRound(&x1, &x6, &x11, &x12)
      quarterRound(&x2, &x7, &x8, &x13)
      quarterRound(&x3, &x4, &x9, &x14)
    }
    output[0] = (x0 &+ c0).littleEndian
    output[1] = (x1 &+ c1).littleEndian
    output[2] = (x2 &+ c2).littleEndian
    output[3] = (x3 &+ c3).littleEndian
    output[4] = (x4 &+ key[0]).littleEndian
    output[5] = (x5 &+ key[1]).littleEndian
    output[6] = (x6 &+ key[2]).littleEndian
    output[7] = (x7 &+ key[3]).littleEndian
    output[8] = (x8 &+ key[4]).littleEndian
    output[9] = (x9 &+ key[5]).littleEndian
    output[10] = (x10 &+ key[6]).littleEndian
    output[11] = (x11 &+ key[7]).littleEndian
    output[12] = (x12 &+ counter).littleEndian
    output[13] = (x13 &+ nonce[0]).littleEndian
    output[14] = (x14 &+ nonce[1]).littleEndian
    output[15] = (x15 &+ nonce[2]).littleEndian
  }

  /// One 64-byte keystream block as bytes (convenience for tests and tools).
  public static func block(key: [UInt8], nonce: [UInt8], counter: UInt32) -> [UInt8] {
    precondition(key.count == 32 && nonce.count == 12)
    var output = [UInt32](repeating: 0, count: 16)
    output.withUnsafeMutableBufferPointer {
      block(key: keyWords(key), nonce: nonceWords(nonce), counter: counter, into: $0.baseAddress!)
    }
    return output.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: UInt32(littleEndian: word) >> (8 * $0)) } }
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
