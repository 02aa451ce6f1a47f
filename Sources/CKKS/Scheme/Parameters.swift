/// How the secret key's coefficients are drawn.
public enum SecretDistribution: Sendable, Hashable, Codable {
  /// Each coefficient uniform in {-1, 0, 1} (what the HE standard's security table assumes).
  case uniformTernary
  /// Exactly `hammingWeight` coefficients are ±1, the rest 0. Not covered by the 128-bit table.
  case sparseTernary(hammingWeight: Int)
}

/// Which security bound parameters are checked against.
public enum SecurityPolicy: Sendable, Hashable, Codable {
  /// 128-bit classical security for uniform ternary secrets under the current lattice-estimator
  /// bounds (``HomomorphicEncryptionStandard/maximumModulusBits128``): the default.
  case classical128
  /// 128-bit classical security as the 2018 Homomorphic Encryption Standard rated it
  /// (``HomomorphicEncryptionStandard/maximumModulusBits128Standard2018``), which allows one to
  /// three more modulus bits than current estimates support. Only for compatibility with
  /// parameters chosen under that table (SEAL's own default check still uses it).
  case classical128Standard2018
  /// No security check at all: for tiny parameters in tests and teaching. Never use this for
  /// data that matters; ciphertexts made with it can be decrypted without the key.
  case insecureForTestingOnly

  /// Degree N → the largest log2(Q·P) this policy allows; nil for no check.
  public var maximumModulusBits: [Int: Int]? {
    switch self {
    case .classical128: HomomorphicEncryptionStandard.maximumModulusBits128
    case .classical128Standard2018: HomomorphicEncryptionStandard.maximumModulusBits128Standard2018
    case .insecureForTestingOnly: nil
    }
  }
}

/// Largest total modulus sizes for 128-bit classical security with uniform ternary secrets.
public enum HomomorphicEncryptionStandard {
  /// Degree N → maximum log2(Q·P) under the lattice estimator as of the HomomorphicEncryption.org
  /// security guidelines (J.-P. Bossuat et al., "Security Guidelines for Implementing Homomorphic
  /// Encryption", IACR ePrint 2024/463, table for ternary secrets, 128-bit classical). The
  /// default bound.
  public static let maximumModulusBits128: [Int: Int] = [
    1024: 26, 2048: 53, 4096: 106, 8192: 214, 16384: 430, 32768: 868, 65536: 1747,
  ]

  /// Degree N → maximum log2(Q·P) in the 2018 Homomorphic Encryption Standard (M. Albrecht et al.,
  /// "Homomorphic Encryption Standard", 2018, Table 1, ternary secrets, 128-bit classical,
  /// https://homomorphicencryption.org/standard/). Newer estimates rate these moduli slightly
  /// below 128 bits; use only through ``SecurityPolicy/classical128Standard2018``.
  public static let maximumModulusBits128Standard2018: [Int: Int] = [
    1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881,
  ]
}

/// A plain description of CKKS parameters, validated once into ``CKKSParameters``.
///
/// Primes are generated with SEAL's `CoeffModulus::Create(N, ciphertextPrimeBits + specialPrimeBits)`,
/// so the same description gives the same modulus chain as SEAL.
public struct ParameterDescription: Sendable, Hashable, Codable {
  /// Ring degree N (a power of two); the number of complex slots is N/2.
  public var degree: Int
  /// Bit sizes of the ciphertext primes Q, in chain order: the first (base) prime is kept to
  /// the end; each later one is consumed by one rescale.
  public var ciphertextPrimeBits: [Int]
  /// Bit sizes of the special primes P used only by key switching (may be empty when no
  /// relinearization or rotation is needed).
  public var specialPrimeBits: [Int]
  /// Default encoding scale Δ (a power of two is usual), > 1.
  public var defaultScale: Double
  /// How the secret is sampled.
  public var secretDistribution: SecretDistribution
  /// Number of key-switching digits `dnum` (1 … number of ciphertext primes).
  public var keySwitchingDigits: Int
  /// Security check applied by validation.
  public var security: SecurityPolicy

  /// Describes a parameter set; `keySwitchingDigits` defaults to one digit per ciphertext prime
  /// (SEAL's choice).
  public init(
    degree: Int, ciphertextPrimeBits: [Int], specialPrimeBits: [Int], defaultScale: Double,
    secretDistribution: SecretDistribution = .uniformTernary, keySwitchingDigits: Int? = nil,
    security: SecurityPolicy = .classical128
  ) {
    self.degree = degree
    self.ciphertextPrimeBits = ciphertextPrimeBits
    self.specialPrimeBits = specialPrimeBits
    self.defaultScale = defaultScale
    self.secretDistribution = secretDistribution
    self.keySwitchingDigits = keySwitchingDigits ?? ciphertextPrimeBits.count
    self.security = security
  }
}

/// A SEAL-compatible fingerprint of one level of a modulus chain: BLAKE2b-256 of the 64-bit
/// little-endian words `[2 (CKKS), N, q_0, …, q_level, 0]`, i.e. SEAL's `parms_id`.
public struct ParameterFingerprint: Sendable, Hashable, CustomStringConvertible {
  /// The four 64-bit words, as SEAL stores `parms_id`.
  public let words: [UInt64]

  /// The fingerprint of degree N and the given primes.
  public init(degree: Int, moduli: [UInt64]) {
    var bytes: [UInt8] = []
    for word in [2, UInt64(degree)] + moduli + [0] {
      for b in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(b)))) }
    }
    let digest = BLAKE2b.hash(bytes, digestLength: 32)
    words = (0..<4).map { i in
      (0..<8).reduce(UInt64(0)) { $0 | UInt64(digest[8 * i + $1]) << (8 * UInt64($1)) }
    }
  }

  /// Wraps four words read from a serialized object.
  public init(words: [UInt64]) {
    precondition(words.count == 4)
    self.words = words
  }

  /// Lowercase hex of the 32 bytes (little-endian words), as SEAL prints `parms_id`.
  public var description: String {
    words.map { word in
      let hex = String(word, radix: 16)
      return String(repeating: "0", count: 16 - hex.count) + hex
    }.joined(separator: " ")
  }
}

/// Validated, immutable CKKS parameters: the modulus chain, its RNS bases and fingerprints.
public final class CKKSParameters: Sendable {
  /// What was validated.
  public let parameterDescription: ParameterDescription
  /// Ring degree N.
  public let degree: Int
  /// Number of complex slots, N/2.
  public var slotCount: Int { degree / 2 }
  /// Ciphertext primes q_0 … q_{L-1} in chain order.
  public let ciphertextModuli: [UInt64]
  /// Special primes p_0 … p_{k-1}.
  public let specialModuli: [UInt64]
  /// Q ∪ P (SEAL's key level), NTT tables shared with every other basis here.
  public let keyBasis: RNSBasis
  /// The basis of the top ciphertext level (all of Q).
  public let ciphertextBasis: RNSBasis
  /// The special primes P as a basis, or `nil` when there are none.
  public let specialBasis: RNSBasis?
  /// Fingerprint of each ciphertext level (index = level = number of primes − 1).
  public let levelFingerprints: [ParameterFingerprint]
  /// The fingerprint of the top level (all ciphertext primes): the one a model publishes and
  /// fresh ciphertexts carry.
  public var fingerprint: ParameterFingerprint { levelFingerprints[levelFingerprints.count - 1] }
  /// Fingerprint of the key level Q ∪ P.
  public let keyFingerprint: ParameterFingerprint
  /// Default scale Δ.
  public var defaultScale: Double { parameterDescription.defaultScale }
  /// The highest level (L − 1): a fresh ciphertext has `maximumLevel + 1` primes.
  public var maximumLevel: Int { ciphertextModuli.count - 1 }
  /// Total bits of Q·P, as checked against the security table.
  public let totalModulusBits: Int
  /// Key-switching precomputations, or `nil` without special primes.
  let keySwitcher: KeySwitcher?

  /// Validates a description.
  /// - Throws: ``ParameterError`` naming the rule that was broken.
  public init(_ description: ParameterDescription) throws(ParameterError) {
    let n = description.degree
    guard n >= 16, n <= 1 << 16, n & (n - 1) == 0 else { throw .unsupportedDegree(n) }
    guard !description.ciphertextPrimeBits.isEmpty else { throw .noCiphertextPrimes }
    for bits in description.ciphertextPrimeBits + description.specialPrimeBits
    where !(2...Modulus.maximumBitWidth).contains(bits) {
      throw .primeBitsOutOfRange(bits)
    }
    let allBits = description.ciphertextPrimeBits + description.specialPrimeBits
    let primes: [UInt64]
    do {
      primes = try Primes.sealCoefficientModulus(degree: n, bitSizes: allBits)
    } catch {
      throw .primes(error)
    }
    let totalBits = primes.reduce(0) { $0 + Modulus($1).bitWidth }

    switch description.secretDistribution {
    case .uniformTernary: break
    case .sparseTernary(let h):
      guard h >= 1, h <= n else { throw .invalidHammingWeight(h, degree: n) }
    }
    if let table = description.security.maximumModulusBits {
      guard let maximum = table[n] else { throw .degreeNotInSecurityTable(n) }
      guard totalBits <= maximum else { throw .insecureModulus(degree: n, totalBits: totalBits, maximumBits: maximum) }
      if case .sparseTernary(let h) = description.secretDistribution {
        throw .sparseSecretNeedsOptOut(hammingWeight: h)
      }
    }

    let q = Array(primes.prefix(description.ciphertextPrimeBits.count))
    let p = Array(primes.dropFirst(description.ciphertextPrimeBits.count))
    let dnum = description.keySwitchingDigits
    guard dnum >= 1, dnum <= q.count else { throw .invalidKeySwitchingDigits(dnum, primeCount: q.count) }
    if !p.isEmpty {
      let specialBits = p.reduce(0) { $0 + Modulus($1).bitWidth }
      let digitBits = KeySwitchingDigits.partition(primeCount: q.count, digits: dnum).map { range in
        range.reduce(0) { $0 + Modulus(q[$1]).bitWidth }
      }
      let largest = digitBits.max() ?? 0
      guard specialBits >= largest else {
        throw .specialPrimesTooSmall(specialBits: specialBits, largestDigitBits: largest)
      }
    }
    // A value v encodes to about v·Δ, which must stay below Q/2.
    let scale = description.defaultScale
    let ciphertextBits = q.reduce(0) { $0 + Modulus($1).bitWidth }
    guard scale.isFinite, scale > 1, Int(scale.exponent) < ciphertextBits - 1 else { throw .invalidScale(scale) }

    let key: RNSBasis
    do {
      key = try RNSBasis(degree: n, moduli: primes)
    } catch {
      throw .primes(error)
    }
    parameterDescription = description
    degree = n
    ciphertextModuli = q
    specialModuli = p
    keyBasis = key
    ciphertextBasis = key.prefix(q.count)
    let special = p.isEmpty ? nil : RNSBasis(tables: Array(key.nttTables.suffix(p.count)))
    specialBasis = special
    keySwitcher = special.map {
      KeySwitcher(keyBasis: key, ciphertextPrimeCount: q.count, specialBasis: $0, digitCount: dnum)
    }
    levelFingerprints = (1...q.count).map { ParameterFingerprint(degree: n, moduli: Array(q.prefix($0))) }
    keyFingerprint = ParameterFingerprint(degree: n, moduli: primes)
    totalModulusBits = totalBits
  }

  /// The basis of ciphertexts at `level` (level + 1 primes).
  /// - Precondition: `0 ≤ level ≤ maximumLevel`.
  public func basis(atLevel level: Int) -> RNSBasis {
    precondition(level >= 0 && level <= maximumLevel, "level out of range")
    return ciphertextBasis.prefix(level + 1)
  }

  /// The level whose fingerprint this is, or `nil` when it names no level of these parameters.
  public func level(of fingerprint: ParameterFingerprint) -> Int? {
    levelFingerprints.firstIndex(of: fingerprint)
  }
}

/// How hybrid key switching groups the ciphertext primes into digits.
public enum KeySwitchingDigits {
  /// Splits prime indices `0..<primeCount` into exactly `digits` contiguous, non-empty groups
  /// whose sizes differ by at most one (`1 ≤ digits ≤ primeCount`).
  public static func partition(primeCount: Int, digits: Int) -> [Range<Int>] {
    precondition(digits >= 1 && digits <= primeCount)
    return (0..<digits).map { i in (i * primeCount / digits)..<((i + 1) * primeCount / digits) }
  }
}
