import Foundation

/// Loads the JSON reference vectors recorded by `scripts/generate_reference_vectors.py`.
enum Fixtures {
  static func load<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
      throw FixtureError.missing(name)
    }
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
  }

  enum FixtureError: Error { case missing(String) }

  /// Bytes from a lowercase hex string.
  static func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
      let next = hex.index(index, offsetBy: 2)
      result.append(UInt8(hex[index..<next], radix: 16)!)
      index = next
    }
    return result
  }

  /// The test polynomial the generator feeds to SEAL: `(j*j*31337 + j*7 + 11*(i+1)) mod q_i`.
  static func inputCoefficient(limb i: Int, index j: Int, modulus q: UInt64) -> UInt64 {
    UInt64(j * j * 31337 + j * 7 + 11 * (i + 1)) % q
  }

  /// `Σ v_j · 3^j mod (2^61 - 1)`, the digest the generator records for large vectors.
  static func digest(_ values: some Collection<UInt64>) -> UInt64 {
    let p: UInt64 = (1 << 61) - 1
    var h: UInt64 = 0
    for v in values.reversed() {
      let product = h.multipliedFullWidth(by: 3)
      h = p.dividingFullWidth(product).remainder
      h = (h + v % p) % p
    }
    return h
  }
}

/// A tiny deterministic generator for test inputs (SplitMix64), independent of the library's RNG.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
