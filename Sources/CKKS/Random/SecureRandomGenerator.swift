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
/// little-endian 64-bit words. When the block counter reaches 2^32 - 1, the first 32 bytes of that block become the new key
/// and the counter restarts (never reached in practice).
///
/// Not thread-safe: use one generator per task. The key and buffered keystream are zeroized on
/// release.
public final class SecureRandomGenerator: RandomNumberGenerator {
  /// Domain of the OS-seeded stream.
  public static let defaultDomain: [UInt8] = Array("CKKS-random\0".utf8)
  /// Domain for uniform polynomials expanded from a seed.
  public static let uniformPolynomialDomain: [UInt8] = Array("CKKS-uniform".utf8)

  /// Keystream blocks computed per refill.
  private static let bufferedBlocks = 16
  /// 32-bit words per refill.
  private static let bufferWords = 256

  /// Mutable generator state. It lives behind a `let` pointer so the hot path (`next()`) pays no
  /// dynamic exclusivity checks, which class stored properties would (docs/benchmarks.md).
  private struct State {
    var key: SIMD8<UInt32>
    var counter: UInt32
    /// Next unread 32-bit word of the buffer; `bufferWords` when the buffer is used up.
    var position: Int
  }

  private let nonce: SIMD3<UInt32>
  private let state: UnsafeMutablePointer<State>
  /// The buffered keystream, `bufferWords` little-endian 32-bit words.
  private let buffer: UnsafeMutablePointer<UInt32>

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
    nonce = ChaCha20.nonceWords(domain)
    state = .allocate(capacity: 1)
    state.initialize(to: State(key: ChaCha20.keyWords(seed), counter: 0, position: SecureRandomGenerator.bufferWords))
    buffer = .allocate(capacity: SecureRandomGenerator.bufferWords)
    buffer.initialize(repeating: 0, count: SecureRandomGenerator.bufferWords)
  }

  deinit {
    secureZero(UnsafeMutableRawBufferPointer(start: buffer, count: SecureRandomGenerator.bufferWords * 4))
    secureZero(UnsafeMutableRawBufferPointer(start: state, count: MemoryLayout<State>.size))
    buffer.deallocate()
    state.deallocate()
  }

  /// A fresh random 32-byte seed from this generator.
  public func makeSeed() -> [UInt8] {
    (0..<32).map { _ in UInt8(truncatingIfNeeded: nextWord32()) }
  }

  private func refill() {
    for block in 0..<SecureRandomGenerator.bufferedBlocks {
      if state.pointee.counter == UInt32.max { rekey() }
      ChaCha20.block(key: state.pointee.key, nonce: nonce, counter: state.pointee.counter, into: buffer + block * 16)
      state.pointee.counter &+= 1
    }
    state.pointee.position = 0
  }

  private func rekey() {
    let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: 16)
    defer {
      secureZero(UnsafeMutableRawBufferPointer(start: scratch, count: 64))
      scratch.deallocate()
    }
    ChaCha20.block(key: state.pointee.key, nonce: nonce, counter: state.pointee.counter, into: scratch)
    for i in 0..<8 { state.pointee.key[i] = UInt32(littleEndian: scratch[i]) }
    state.pointee.counter = 0
  }

  /// The next 32 bits of the stream.
  @inline(__always)
  public func nextWord32() -> UInt32 {
    if state.pointee.position == SecureRandomGenerator.bufferWords { refill() }
    let position = state.pointee.position
    state.pointee.position = position &+ 1
    return UInt32(littleEndian: buffer[position])
  }

  /// The next 64 bits of the stream (two consecutive 32-bit words, little-endian order).
  @inline(__always)
  public func next() -> UInt64 {
    if state.pointee.position &+ 2 > SecureRandomGenerator.bufferWords { refill() }
    let position = state.pointee.position
    state.pointee.position = position &+ 2
    let low = UInt64(UInt32(littleEndian: buffer[position]))
    let high = UInt64(UInt32(littleEndian: buffer[position &+ 1]))
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
