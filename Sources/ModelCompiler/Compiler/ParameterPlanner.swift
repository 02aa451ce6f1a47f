public import CKKS
import Foundation

/// Chooses the smallest ring degree and a prime chain within the current security bounds
/// (``HomomorphicEncryptionStandard/maximumModulusBits128``) that give a network its depth at
/// the precision it needs, and the key-switching digits that make its evaluation keys smallest.
public enum ParameterPlanner {
  /// The ring degrees tried, smallest first.
  public static let degrees = [8192, 16384, 32768]
  /// Scale bits tried, most precise first; below the last, results lose too much precision.
  public static let scaleBits = Array(stride(from: 40, through: 26, by: -2))

  /// A chain as planned.
  public struct Plan: Sendable, Equatable {
    public var description: ParameterDescription
    /// log2 Δ.
    public var scaleBits: Int
    /// Bytes of one evaluation key as SEAL serializes it uncompressed (two polynomials per digit
    /// over the key basis); a seeded upload is about half.
    public var bytesPerKey: Int
  }

  /// The plan for `depth` rescales, scores up to `scoreBound`, and `widestSlots` slots in use on
  /// the smallest ring degree that fits (the first of ``plans(depth:scoreBound:widestSlots:)``).
  /// - Returns: nil when no degree up to 32768 holds the depth at 26 bits of scale.
  public static func plan(depth: Int, scoreBound: Double, widestSlots: Int) -> Plan? {
    plans(depth: depth, scoreBound: scoreBound, widestSlots: widestSlots).first
  }

  /// For each ring degree that fits `depth` rescales, scores up to `scoreBound` and `widestSlots`
  /// slots in use, smallest first: the scale (at least 2^30 when one fits, else down to 2^26)
  /// whose chain gives the smallest evaluation keys, the larger scale on a tie. Keys dominate
  /// both what a client uploads and the time of every rotation, which both grow with
  /// digits × primes; a larger ring leaves room for more special primes and fewer digits, so its
  /// keys can be smaller although its ciphertexts are larger.
  public static func plans(depth: Int, scoreBound: Double, widestSlots: Int) -> [Plan] {
    let scoreBits = Int(max(0, log2(max(scoreBound, 1))).rounded(.up))
    var plans: [Plan] = []
    for degree in degrees where degree / 2 >= widestSlots {
      guard let maximum = HomomorphicEncryptionStandard.maximumModulusBits128[degree] else { continue }
      var candidates: [Plan] = []
      for s in scaleBits {
        // The base prime holds the scores at scale Δ with three bits of headroom, and at least
        // 10 bits beyond the scale.
        let baseBits = max(s + scoreBits + 3, s + 10)
        guard baseBits <= 60 else { continue }
        let primeBits = [baseBits] + [Int](repeating: s, count: depth)
        if let best = digits(for: primeBits, degree: degree, maximum: maximum) {
          let description = ParameterDescription(
            degree: degree, ciphertextPrimeBits: primeBits, specialPrimeBits: best.special,
            defaultScale: Double(1 << s), keySwitchingDigits: best.digits)
          candidates.append(Plan(description: description, scaleBits: s, bytesPerKey: best.bytes))
        }
      }
      let precise = candidates.filter { $0.scaleBits >= 30 }
      let pool = precise.isEmpty ? candidates : precise
      if let best = pool.min(by: { ($0.bytesPerKey, -$0.scaleBits) < ($1.bytesPerKey, -$1.scaleBits) }) {
        plans.append(best)
      }
    }
    return plans
  }

  /// The key-switching digits and special primes that fit `maximum` bits with the smallest keys.
  static func digits(for primeBits: [Int], degree: Int, maximum: Int) -> (digits: Int, special: [Int], bytes: Int)? {
    let total = primeBits.reduce(0, +)
    var best: (digits: Int, special: [Int], bytes: Int)?
    for dnum in 1...primeBits.count {
      let largest = KeySwitchingDigits.partition(primeCount: primeBits.count, digits: dnum).map { range in
        range.reduce(0) { $0 + primeBits[$1] }
      }.max()!
      let count = (largest + 59) / 60
      let bits = (largest + count - 1) / count
      // Special primes at least as large as the ciphertext primes keep key-switching noise small.
      let special = [Int](repeating: max(bits, primeBits.max()!), count: count)
      guard special.allSatisfy({ $0 <= 60 }), total + special.reduce(0, +) <= maximum else { continue }
      let bytes = dnum * 2 * degree * (primeBits.count + count) * 8
      if best.map({ bytes < $0.bytes }) ?? true { best = (dnum, special, bytes) }
    }
    return best
  }
}
