/// BLAKE2b (RFC 7693, https://www.rfc-editor.org/rfc/rfc7693) with a digest of 1…64 bytes,
/// optionally keyed, and its extendable-output form BLAKE2Xb
/// (https://www.blake2.net/blake2x.pdf).
///
/// Used for parameter fingerprints (SEAL's `parms_id` is the 32-byte BLAKE2b digest of the
/// parameter words, so ours equals SEAL's for the same modulus chain) and for expanding SEAL's
/// seeds (SEAL's default random generator is BLAKE2Xb keyed with the seed).
public enum BLAKE2b {
  private static let initializationVector: [UInt64] = [
    0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b, 0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1, 0x9b05_688c_2b3e_6c1f, 0x1f83_d9ab_fb41_bd6b, 0x5be0_cd19_137e_2179,
  ]

  private static let sigma: [[Int]] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
  ]

  /// The first three words of the 64-byte parameter block (the other five are zero here: no salt,
  /// no personalization). Byte layout: digest length, key length, fanout, depth, leaf length
  /// (u32), node offset (u32), XOF length (u32), node depth, inner length.
  struct ParameterBlock {
    var digestLength: Int
    var keyLength = 0
    var fanout = 1
    var depth = 1
    var leafLength: UInt32 = 0
    var nodeOffset: UInt32 = 0
    var xofLength: UInt32 = 0
    var nodeDepth = 0
    var innerLength = 0

    /// Parameter words 0, 1 and 2 (the rest are zero).
    var words: (UInt64, UInt64, UInt64) {
      (
        UInt64(digestLength) | UInt64(keyLength) << 8 | UInt64(fanout) << 16 | UInt64(depth) << 24
          | UInt64(leafLength) << 32,
        UInt64(nodeOffset) | UInt64(xofLength) << 32,
        UInt64(nodeDepth) | UInt64(innerLength) << 8
      )
    }
  }

  /// The digest of `message`, keyed with `key` (0…64 bytes; empty for the unkeyed hash).
  /// - Precondition: `1 ≤ digestLength ≤ 64`, `key.count ≤ 64`.
  public static func hash(_ message: [UInt8], digestLength: Int = 64, key: [UInt8] = []) -> [UInt8] {
    precondition((1...64).contains(digestLength), "BLAKE2b digests are 1 to 64 bytes")
    precondition(key.count <= 64, "BLAKE2b keys are at most 64 bytes")
    return hash(message, key: key, parameters: ParameterBlock(digestLength: digestLength, keyLength: key.count))
  }

  /// BLAKE2Xb: `outputLength` bytes (1…2^32 − 2) of extendable output of `message` keyed with
  /// `key` (0…64 bytes). Output block i is BLAKE2b of the 64-byte root hash with node offset i.
  public static func extendableOutput(_ message: [UInt8], key: [UInt8], outputLength: Int) -> [UInt8] {
    precondition(outputLength >= 1 && outputLength < Int(UInt32.max), "BLAKE2Xb output length out of range")
    precondition(key.count <= 64, "BLAKE2b keys are at most 64 bytes")
    var output: [UInt8] = []
    output.reserveCapacity(outputLength)
    extendableOutput(message, key: key, outputLength: outputLength) { output.append(contentsOf: $0) }
    return output
  }

  /// BLAKE2Xb, delivering the output 64 bytes (the last block possibly fewer) at a time.
  static func extendableOutput(
    _ message: [UInt8], key: [UInt8], outputLength: Int, _ consume: ([UInt8]) -> Void
  ) {
    let root = hash(
      message, key: key,
      parameters: ParameterBlock(digestLength: 64, keyLength: key.count, xofLength: UInt32(outputLength)))
    var remaining = outputLength
    var node: UInt32 = 0
    while remaining > 0 {
      let blockLength = min(64, remaining)
      let block = ParameterBlock(
        digestLength: blockLength, fanout: 0, depth: 0, leafLength: 64, nodeOffset: node,
        xofLength: UInt32(outputLength), innerLength: 64)
      consume(hash(root, key: [], parameters: block))
      remaining -= blockLength
      node += 1
    }
  }

  private static func hash(_ message: [UInt8], key: [UInt8], parameters: ParameterBlock) -> [UInt8] {
    var state = initializationVector
    let words = parameters.words
    state[0] ^= words.0
    state[1] ^= words.1
    state[2] ^= words.2
    // A key is processed as a first block of its own, zero-padded to 128 bytes.
    var input = key.isEmpty ? [] : key + [UInt8](repeating: 0, count: 128 - key.count)
    input += message
    var offset = 0
    var processed: UInt128 = 0
    // Every block but the last is compressed as non-final; an empty input is one zero block.
    while input.count - offset > 128 {
      processed += 128
      compress(&state, block: input[offset..<(offset + 128)], counter: processed, isLast: false)
      offset += 128
    }
    var last = Array(input[offset...])
    processed += UInt128(last.count)
    last += [UInt8](repeating: 0, count: 128 - last.count)
    compress(&state, block: last[...], counter: processed, isLast: true)
    var digest: [UInt8] = []
    digest.reserveCapacity(64)
    for word in state {
      for byte in 0..<8 { digest.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(byte)))) }
    }
    return Array(digest.prefix(parameters.digestLength))
  }

  private static func compress(_ state: inout [UInt64], block: ArraySlice<UInt8>, counter: UInt128, isLast: Bool) {
    var m = [UInt64](repeating: 0, count: 16)
    let base = block.startIndex
    for i in 0..<16 {
      for byte in 0..<8 { m[i] |= UInt64(block[base + 8 * i + byte]) << (8 * UInt64(byte)) }
    }
    var v = state + initializationVector
    v[12] ^= UInt64(truncatingIfNeeded: counter)
    v[13] ^= UInt64(truncatingIfNeeded: counter >> 64)
    if isLast { v[14] = ~v[14] }
    func mix(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt64, _ y: UInt64) {
      v[a] = v[a] &+ v[b] &+ x
      v[d] = rotateRight(v[d] ^ v[a], 32)
      v[c] = v[c] &+ v[d]
      v[b] = rotateRight(v[b] ^ v[c], 24)
      v[a] = v[a] &+ v[b] &+ y
      v[d] = rotateRight(v[d] ^ v[a], 16)
      v[c] = v[c] &+ v[d]
      v[b] = rotateRight(v[b] ^ v[c], 63)
    }
    for round in 0..<12 {
      let s = sigma[round % 10]
      mix(0, 4, 8, 12, m[s[0]], m[s[1]])
      mix(1, 5, 9, 13, m[s[2]], m[s[3]])
      mix(2, 6, 10, 14, m[s[4]], m[s[5]])
      mix(3, 7, 11, 15, m[s[6]], m[s[7]])
      mix(0, 5, 10, 15, m[s[8]], m[s[9]])
      mix(1, 6, 11, 12, m[s[10]], m[s[11]])
      mix(2, 7, 8, 13, m[s[12]], m[s[13]])
      mix(3, 4, 9, 14, m[s[14]], m[s[15]])
    }
    for i in 0..<8 { state[i] ^= v[i] ^ v[i + 8] }
  }

  @inline(__always)
  private static func rotateRight(_ x: UInt64, _ n: UInt64) -> UInt64 {
    x >> n | x << (64 - n)
  }
}
