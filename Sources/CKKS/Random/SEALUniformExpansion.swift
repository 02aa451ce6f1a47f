/// SEAL's seeded uniform polynomials, so that seeded objects written by Microsoft SEAL 4.x
/// (`Serializable` ciphertexts and keys, whose second polynomial is replaced by a seed) can be
/// expanded here to the very residues SEAL expands.
///
/// SEAL's rule (`sample_poly_uniform` with `Blake2xbPRNG`), restated from its source:
/// - The generator's byte stream is the concatenation of 4096-byte blocks; block c is
///   BLAKE2Xb with 4096 bytes of output, keyed with the 64-byte seed, of the message `c` as a
///   little-endian u64 (c = 0, 1, 2, …).
/// - The polynomial's N·k words (prime by prime, coefficient by coefficient) are read first, as
///   consecutive little-endian u64 from the stream. Then, prime by prime and coefficient by
///   coefficient, a word w ≥ m_i = (2^64 − 1) − ((2^64 − 1) mod q_i) − 1 is replaced by the next word of
///   the stream until it is below m_i; the residue is w mod q_i. The result is taken as evaluation
///   (NTT) form, as SEAL does for CKKS.
enum SEALUniformExpansion {
  /// SEAL's `prng_type` byte.
  enum GeneratorType: UInt8 {
    case blake2xb = 1
    case shake256 = 2
  }

  /// Bytes of a SEAL seed (`prng_seed_byte_count`: eight u64 words).
  static let seedByteCount = 64
  /// Bytes SEAL's generators produce per refill.
  static let blockByteCount = 4096

  /// SEAL's BLAKE2Xb byte stream keyed with a seed.
  struct Blake2xbStream {
    let seed: [UInt8]
    private var counter: UInt64 = 0
    private var block: [UInt8] = []
    private var position = 0

    init(seed: [UInt8]) {
      precondition(seed.count == SEALUniformExpansion.seedByteCount)
      self.seed = seed
    }

    mutating func nextWord() -> UInt64 {
      var word: UInt64 = 0
      for byte in 0..<8 {
        if position == block.count { refill() }
        word |= UInt64(block[position]) << (8 * UInt64(byte))
        position += 1
      }
      return word
    }

    private mutating func refill() {
      var message: [UInt8] = []
      for b in 0..<8 { message.append(UInt8(truncatingIfNeeded: counter >> (8 * UInt64(b)))) }
      block = BLAKE2b.extendableOutput(message, key: seed, outputLength: SEALUniformExpansion.blockByteCount)
      position = 0
      counter += 1
    }
  }

  /// The uniform polynomial SEAL expands from `seed` over `basis` (evaluation form).
  /// - Throws: ``SerializationError/unsupportedRandomGenerator(_:)`` for any generator but
  ///   BLAKE2Xb (SEAL's default; SHAKE-256 is an option of SEAL's build that is not read here).
  static func uniform(in basis: RNSBasis, generator: UInt8, seed: [UInt8]) throws(SerializationError)
    -> RNSPolynomial<Evaluation>
  {
    guard generator == GeneratorType.blake2xb.rawValue else { throw .unsupportedRandomGenerator(generator) }
    var stream = Blake2xbStream(seed: seed)
    let n = basis.degree
    var words = [UInt64](repeating: 0, count: basis.count * n)
    for index in words.indices { words[index] = stream.nextWord() }
    for (i, q) in basis.moduli.enumerated() {
      let limit = UInt64.max - UInt64.max % q.value - 1
      for j in 0..<n {
        var word = words[i * n + j]
        while word >= limit { word = stream.nextWord() }
        words[i * n + j] = word % q.value
      }
    }
    return RNSPolynomial(uncheckedBasis: basis, residues: words)
  }
}
