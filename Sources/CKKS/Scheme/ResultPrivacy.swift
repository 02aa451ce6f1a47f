/// Circuit privacy for results that leave the evaluator: what the decryptor may read, and nothing
/// about how it was computed.
///
/// A result `(c0, c1)` of a plaintext computation on a client's ciphertext reveals more than its
/// intended outputs: every other coefficient of the message, a `c1` that is the client's own
/// uniform polynomial times the server's plaintext, and noise that depends on that plaintext.
/// ``Evaluator/sanitized(_:revealing:floodingBits:publicKey:using:)`` removes all three:
///
/// 1. **Masking**: every coefficient of the message outside `revealed` gets a fresh value uniform
///    modulo Q (each residue uniform modulo its prime, hence uniform modulo Q by the CRT), so it
///    is independent of everything else.
/// 2. **Flooding**: every revealed coefficient gets fresh integer noise uniform in
///    `[−2^f, 2^f)`. If the computation noise there is at most `B` in absolute value, the
///    statistical distance between the flooded value and fresh noise added to the exact value is
///    at most `B / 2^(f+1)` per coefficient (sum over the revealed coefficients for all of them).
/// 3. **Re-randomization**: a fresh public-key encryption of zero `(pk0·u + e0, pk1·u + e1)` is
///    added, so that `c1` becomes `c1 + pk1·u + e1`, computationally uniform under Ring-LWE with
///    the fresh secret `u`, whatever `c1` was. The extra noise `e0 + e1·s + e_pk·u` does not depend
///    on the computation. `u` is not ternary but uniform in `[−2^15, 2^15]`
///    (``rerandomizationSecretBound``, about 16 bits a coefficient).
///
/// With a well-formed public key (`pk1` uniform, `pk0 = −pk1·s + e` with the decryptor's small
/// secret and error), `e_pk·u` is small. The server cannot check `pk0`: a client that registers
/// `pk0 = −pk1·s + E` with a large, structured `E` decrypts `E·u` at the revealed coefficients,
/// linear combinations of `u` that the flooding hides only below `2^f`. Each revealed coefficient
/// therefore tells at most `log2 Q − f − 1` bits about `u`, whatever `E` is; the wide `u` keeps
/// that a small fraction of its entropy, so `pk1·u + e1` stays Ring-LWE with a secret of high
/// min-entropy (docs/threat-model.md gives the numbers per model).
extension Evaluator {
  /// The largest flooding exponent: the noise and the revealed values must stay far below Q/2.
  public static let maximumFloodingBits = 120

  /// The re-randomization's secret `u` has coefficients uniform in `[−bound, bound]`: wide, so
  /// that what a malformed public key can read of it at the revealed coefficients is a small
  /// fraction of its entropy; its noise `e_pk·u` stays below `19·N·bound` for a well-formed key.
  public static let rerandomizationSecretBound: Int64 = 1 << 15

  /// Returns a ciphertext that decrypts, at the coefficients in `revealed`, to what `ciphertext`
  /// decrypts to plus fresh noise uniform in `[−2^floodingBits, 2^floodingBits)`, and to
  /// independent uniform values modulo Q everywhere else, with a freshly re-randomized `c1`.
  ///
  /// - Parameters:
  ///   - ciphertext: two polynomials, at any level; the scale is kept.
  ///   - revealed: coefficient indices in `[0, N)` the decryptor may read.
  ///   - floodingBits: `f` in `0 … maximumFloodingBits`; the caller sizes it from a bound of the
  ///     computation noise (`f ≥ log2(B) + statistical security bits`) and checks that values
  ///     plus `2^f` stay below Q/2.
  ///   - publicKey: the decryptor's public key (same parameters), for the re-randomization.
  ///   - generator: randomness; a new OS-seeded generator by default.
  /// - Throws: ``EvaluationError/notRelinearized(size:)`` for a ciphertext of three polynomials,
  ///   ``EvaluationError/parametersMismatch`` for a ciphertext or key of other parameters, and
  ///   ``EvaluationError/invalidResultMask(_:)`` for a revealed index outside `[0, N)` or a
  ///   flooding exponent out of range.
  public func sanitized(
    _ ciphertext: Ciphertext, revealing revealed: [Int], floodingBits: Int, publicKey: PublicKey,
    using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> Ciphertext {
    try check(ciphertext)
    guard ciphertext.size == 2 else { throw .notRelinearized(size: ciphertext.size) }
    guard publicKey.parameters === parameters else { throw .parametersMismatch }
    guard (0...Evaluator.maximumFloodingBits).contains(floodingBits) else {
      throw .invalidResultMask("flooding bits \(floodingBits) outside 0…\(Evaluator.maximumFloodingBits)")
    }
    let basis = ciphertext.basis
    let n = basis.degree
    var isRevealed = [Bool](repeating: false, count: n)
    for index in revealed {
      guard (0..<n).contains(index) else { throw .invalidResultMask("coefficient \(index) outside 0…\(n - 1)") }
      isRevealed[index] = true
    }

    // Every prime must exceed the wide u's values (and the key's primes are the ciphertext's).
    guard basis.moduli.allSatisfy({ $0.value > 2 * UInt64(Evaluator.rerandomizationSecretBound) }) else {
      throw .invalidResultMask("re-randomization needs every prime above 2^16")
    }
    // The re-randomization's wide secret u, drawn first (a generator seeded for a test replays it).
    // u, the flooding noise and the mask are the server's secrets: zeroized when done (whoever
    // learns the flooding noise undoes it).
    var u = Sampler.centeredUniform(in: basis, bound: Evaluator.rerandomizationSecretBound, using: generator)
      .forwardNTT()
    defer { u.zeroize() }

    // The mask: uniform residues off the revealed coefficients, the flooding noise on them.
    var mask = RNSPolynomial<Coefficient>(zeroIn: basis)
    let flooding = FloodingNoise(bits: floodingBits)
    var noise = [(high: UInt64, low: UInt64)](repeating: (0, 0), count: n)
    defer { noise.withUnsafeMutableBytes { secureZero($0) } }
    defer { mask.zeroize() }
    for j in 0..<n where isRevealed[j] { noise[j] = flooding.sample(generator) }
    mask.forEachLimb { _, q, row in
      let offset = flooding.offset(modulo: q)
      for j in 0..<n {
        row[j] =
          isRevealed[j]
          ? q.subtract(q.reduce(high: noise[j].high, low: noise[j].low), offset)
          : generator.uniform(below: q.value)
      }
    }

    // A fresh encryption of zero (pk0·u + e0, pk1·u + e1) under the decryptor's key, at the
    // ciphertext's level, with the wide u (the key restricted to the ciphertext's primes).
    var c0 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
    c0.multiplyAdd(u, prefixOf: publicKey.b)
    var maskInEvaluationForm = mask.forwardNTT()
    defer { maskInEvaluationForm.zeroize() }
    c0.add(maskInEvaluationForm)
    c0.add(ciphertext.polynomials[0])
    var c1 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
    c1.multiplyAdd(u, prefixOf: publicKey.a)
    c1.add(ciphertext.polynomials[1])
    // A new ciphertext: its c1 no longer expands from any seed the input may have carried.
    return Ciphertext(polynomials: [c0, c1], scale: ciphertext.scale)
  }
}

/// Integer noise uniform in `[−2^bits, 2^bits)`, drawn as `bits + 1` uniform bits `r` (two words)
/// and read as `r − 2^bits`.
struct FloodingNoise {
  let bits: Int

  /// `r`, uniform in `[0, 2^(bits+1))`.
  func sample(_ generator: SecureRandomGenerator) -> (high: UInt64, low: UInt64) {
    let width = bits + 1
    let low = generator.next()
    if width >= 64 {
      let highBits = width - 64
      let high = highBits == 0 ? 0 : generator.next() >> UInt64(64 - highBits)
      return (high, low)
    }
    return (0, low >> UInt64(64 - width))
  }

  /// `2^bits mod q`.
  func offset(modulo q: Modulus) -> UInt64 {
    bits < 64 ? q.reduce(UInt64(1) << UInt64(bits)) : q.reduce(high: UInt64(1) << UInt64(bits - 64), low: 0)
  }
}
