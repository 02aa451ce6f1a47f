/// Named parameter sets. Names state the ring degree and the bit sizes of Q and P; all of them
/// pass the 128-bit check and give SEAL's modulus chain for the same bit sizes.
extension ParameterDescription {
  /// N = 8192, Q = [60, 40, 40], P = [60], Δ = 2^40, depth 2: the set the SEAL/OpenFHE
  /// anchors in docs/benchmarks.md were measured with. 200 of 214 bits.
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public static let n8192_logq_60_40_40_logp_60 = ParameterDescription(
    degree: 8192, ciphertextPrimeBits: [60, 40, 40], specialPrimeBits: [60], defaultScale: 0x1p40)

  /// N = 16384, Q = [60, 6 × 40], P = [60], Δ = 2^40, depth 6. 360 of 430 bits.
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public static let n16384_logq_60_6x40_logp_60 = ParameterDescription(
    degree: 16384, ciphertextPrimeBits: [60, 40, 40, 40, 40, 40, 40], specialPrimeBits: [60],
    defaultScale: 0x1p40)

  /// N = 16384, Q = [60, 6 × 40], P = [60, 60], dnum = 3, Δ = 2^40, depth 6: the same ciphertext
  /// modulus with three key-switching digits instead of seven, so key switching needs about 45
  /// NTTs instead of 72 (docs/benchmarks.md measures relinearization and rotation with both). 420
  /// of 430 bits.
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public static let n16384_logq_60_6x40_logp_60_60_dnum3 = ParameterDescription(
    degree: 16384, ciphertextPrimeBits: [60, 40, 40, 40, 40, 40, 40], specialPrimeBits: [60, 60],
    defaultScale: 0x1p40, keySwitchingDigits: 3)

  /// N = 4096, Q = [60, 46], no special primes, Δ = 2^46: one rescale and no key switching,
  /// for depth-1 models such as coefficient-encoded dot products. 106 of 106 bits.
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public static let n4096_logq_60_46 = ParameterDescription(
    degree: 4096, ciphertextPrimeBits: [60, 46], specialPrimeBits: [], defaultScale: 0x1p46)

  /// Every named preset with its name.
  public static let presets: [(name: String, description: ParameterDescription)] = [
    ("n4096_logq_60_46", n4096_logq_60_46),
    ("n8192_logq_60_40_40_logp_60", n8192_logq_60_40_40_logp_60),
    ("n16384_logq_60_6x40_logp_60", n16384_logq_60_6x40_logp_60),
    ("n16384_logq_60_6x40_logp_60_60_dnum3", n16384_logq_60_6x40_logp_60_60_dnum3),
  ]
}
