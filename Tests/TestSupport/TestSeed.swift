import Foundation

/// Seeds of tests that draw random inputs: printed, so that a failure can be reproduced by running
/// the test again with `HEINFER_TEST_SEED=<seed>` (every seeded test then uses that seed).
public enum TestSeed {
  /// The seed for the test named `name`: `HEINFER_TEST_SEED` when it is set, else a fresh random
  /// one; printed either way.
  public static func value(_ name: String) -> UInt64 {
    let seed =
      ProcessInfo.processInfo.environment["HEINFER_TEST_SEED"].flatMap { UInt64($0) }
      ?? UInt64.random(in: 0...UInt64.max)
    print("\(name): seed \(seed) (rerun with HEINFER_TEST_SEED=\(seed))")
    return seed
  }

  /// A generator for the test named `name`, seeded by ``value(_:)``.
  public static func generator(_ name: String) -> SeededGenerator {
    SeededGenerator(seed: value(name))
  }
}

/// A deterministic generator for test inputs (SplitMix64): the same seed gives the same values.
/// Not for cryptographic use.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
