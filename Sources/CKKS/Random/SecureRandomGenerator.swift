/// A cryptographic random generator: a 32-byte key expanded by ChaCha20 (RFC 8439).
///
/// - ``init()`` draws the key from the operating system CSPRNG (`getrandom` on Linux,
///   `arc4random` on Apple platforms, through `SystemRandomNumberGenerator`) — four system
///   calls per generator, not one per sample.
/// - ``init(seed:domain:)`` expands a caller-given 32-byte seed deterministically, which is what
///   seeded ciphertexts and keys use; the same seed and domain always give the same stream.
///
/// Stream layout (normative for seeded expansion): ChaCha20 with key = seed, nonce = the
/// 12-byte domain, block counter starting at 0; the keystream is read as consecutive
/// little-endian 64-bit words. After 2^32 blocks the next 32 keystream bytes become the new key
/// and the counter restarts (never reached in practice).
///
/// Not thread-safe: use one generator per task. The key and buffered keystream are zeroized on
/// release.
public final class SecureRandomGenerator: RandomNumberGenerator {
  /// Domain of the OS-seeded stream.
  public static let defaultDomain: [UInt8] = Array("CKKS-random\0".utf8)
  /// Domain for uniform polynomials expanded from a seed.
  public static let uniformPolynomialDomain: [UInt8] = Array("CKKS-uniform".utf8)

  private static let bufferedBlocks = 16
  private static let bufferWords = bufferedBlocks * 16  // 32-bit words
  private var key: SIMD8<UInt32>
  private let nonce: SIMD3<UInt32>
  private var counter: UInt32 = 0
  private let buffer: UnsafeMutablePointer<UInt32>
  /// Next unread 32-bit word of `buffer`; equal to `bufferWords` when empty.
  private var position: Int

  /// A generator keyed from the operating system CSPRNG.
  public convenience init() {
    var system = SystemRandomNumberGenerator()
    var seed = [UInt8](repeating: 0, count: 32)
    for i in 0..<4 {
      let word = system.next()
      for b in 0..<8 { seed[8 * i + b] = UInt8(truncatingIfNeeded: word >> (8 * b)) }
    }
    try! self.init(seed: seed, domain: SecureRandomGenerator.defaultDomain)
    seed.withUnsafeMutableBytes { secureZero($0) }
  }

  /// A deterministic generator expanding `seed`.
  /// - Parameters:
  ///   - seed: exactly 32 bytes.
  ///   - domain: exactly 12 bytes separating independent uses of one seed.
  /// - Throws: ``CKKSError/invalidSeedLength(_:)`` when the seed is not 32 bytes.
  public init(seed: [UInt8], domain: [UInt8]) throws(CKKSError) {
    guard seed.count == 32 else { throw .invalidSeedLength(seed.count) }
    precondition(domain.count == 12, "domain must be 12 bytes")
    key = ChaCha20.keyWords(seed)
    nonce = ChaCha20.nonceWords(domain)
    buffer = .allocate(capacity: SecureRandomGenerator.bufferWords)
    buffer.initialize(repeating: 0, count: SecureRandomGenerator.bufferWords)
    position = SecureRandomGenerator.bufferWords
  }

  deinit {
    secureZero(UnsafeMutableRawBufferPointer(start: buffer, count: SecureRandomGenerator.bufferWords * 4))
    withUnsafeMutableBytes(of: &key) { secureZero($0) }
    buffer.deallocate()
  }

  /// A fresh random 32-byte seed from this generator.
  public func makeSeed() -> [UInt8] {
    (0..<32).map { _ in UInt8(truncatingIfNeeded: nextWord32()) }
  }

  private func refill() {
    for block in stride(from: 0, to: SecureRandomGenerator.bufferedBlocks, by: 4) {
      if counter > UInt32.max - 3 { rekey() }
      ChaCha20.blocks(key: key, nonce: nonce, counter: counter, into: buffer + block * 16)
      counter &+= 4
    }
    position = 0
  }

  private func rekey() {
    let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
    defer {
      secureZero(UnsafeMutableRawBufferPointer(start: scratch, count: 256))
      scratch.deallocate()
    }
    ChaCha20.blocks(key: key, nonce: nonce, counter: counter, into: scratch)
    for i in 0..<8 { key[i] = UInt32(littleEndian: scratch[i]) }
    counter = 0
  }

  /// The next 32 bits of the stream.
  @inline(__always)
  public func nextWord32() -> UInt32 {
    if position == SecureRandomGenerator.bufferWords { refill() }
    let word = UInt32(littleEndian: buffer[position])
    position &+= 1
    return word
  }

  /// The next 64 bits of the stream (two consecutive 32-bit words, little-endian order).
  @inline(__always)
  public func next() -> UInt64 {
    if position &+ 2 > SecureRandomGenerator.bufferWords { refill() }
    let low = UInt64(UInt32(littleEndian: buffer[position]))
    let high = UInt64(UInt32(littleEndian: buffer[position &+ 1]))
    position &+= 2
    return low | high << 32
  }

  /// A uniform value in `[0, bound)` by Lemire's multiply-and-reject method (unbiased).
  /// `bound` must be non-zero. Consumes one 64-bit word per attempt.
  @inline(__always)
  public func uniform(below bound: UInt64) -> UInt64 {
    precondition(bound > 0)
    while true {
      let product = next().multipliedFullWidth(by: bound)
      if product.low >= bound { return product.high }
      // Only low parts below (2^64 mod bound) are biased; reject exactly those.
      let threshold = (0 &- bound) % bound
      if product.low >= threshold { return product.high }
    }
  }
}
