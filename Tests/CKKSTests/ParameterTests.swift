import Testing

@testable import CKKS

@Suite("Parameters")
struct ParameterTests {
  struct BlakeVector: Decodable {
    let message: String
    let digestLength: Int
    let digest: String
  }
  struct Level: Decodable {
    let primes: [UInt64]
    let parmsId: [UInt64]
  }
  struct Chain: Decodable {
    let degree: Int
    let bitSizes: [Int]
    let levels: [Level]
  }
  struct FingerprintFile: Decodable {
    let blake2b: [BlakeVector]
    let sealChains: [Chain]
  }

  static func file() throws -> FingerprintFile { try Fixtures.load("fingerprints", as: FingerprintFile.self) }

  @Test("BLAKE2b equals Python's hashlib (RFC 7693)")
  func blake2b() throws {
    let vectors = try Self.file().blake2b
    #expect(vectors.count >= 10)
    for vector in vectors {
      let digest = BLAKE2b.hash(Fixtures.bytes(hex: vector.message), digestLength: vector.digestLength)
      #expect(
        digest == Fixtures.bytes(hex: vector.digest),
        "message \(vector.message.prefix(16))… length \(vector.digestLength)")
    }
  }

  @Test("Fingerprints equal SEAL's parms_id at every level")
  func sealParmsIds() throws {
    for chain in try Self.file().sealChains {
      for level in chain.levels {
        #expect(ParameterFingerprint(degree: chain.degree, moduli: level.primes).words == level.parmsId)
      }
    }
  }

  @Test("Presets validate and their chains and fingerprints are SEAL's")
  func presets() throws {
    let chains = try Self.file().sealChains
    for (name, description) in ParameterDescription.presets {
      let parameters = try CKKSParameters(description)
      #expect(
        parameters.totalModulusBits <= HomomorphicEncryptionStandard.maximumModulusBits128[parameters.degree]!,
        "\(name)")
      let bits = description.ciphertextPrimeBits + description.specialPrimeBits
      guard let chain = chains.first(where: { $0.degree == description.degree && $0.bitSizes == bits }) else {
        Issue.record("no SEAL chain recorded for \(name)")
        continue
      }
      // SEAL's key level holds every prime; its data levels drop the last prime one at a time.
      #expect(parameters.keyBasis.moduli.map(\.value) == chain.levels[0].primes)
      #expect(parameters.keyFingerprint.words == chain.levels[0].parmsId)
      for level in 0...parameters.maximumLevel {
        let primes = Array(parameters.ciphertextModuli.prefix(level + 1))
        #expect(parameters.basis(atLevel: level).moduli.map(\.value) == primes)
        if let sealLevel = chain.levels.first(where: { $0.primes == primes }) {
          #expect(parameters.levelFingerprints[level].words == sealLevel.parmsId)
          #expect(parameters.level(of: parameters.levelFingerprints[level]) == level)
        }
      }
    }
    let standard = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
    #expect(standard.ciphertextModuli == [1_152_921_504_606_748_673, 1_099_510_890_497, 1_099_511_480_321])
    #expect(standard.specialModuli == [1_152_921_504_606_830_593])
    #expect(standard.slotCount == 4096)
  }

  @Test("Insecure and malformed descriptions are refused with the rule they break")
  func refusals() {
    func refuse(_ description: ParameterDescription, _ expected: ParameterError) {
      #expect(throws: expected) { try CKKSParameters(description) }
    }
    refuse(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [60, 60, 60], specialPrimeBits: [60], defaultScale: 0x1p40),
      .insecureModulus(degree: 8192, totalBits: 240, maximumBits: 214))
    refuse(
      ParameterDescription(
        degree: 65536, ciphertextPrimeBits: [60], specialPrimeBits: [], defaultScale: 0x1p40,
        security: .classical128Standard2018),
      .degreeNotInSecurityTable(65536))
    refuse(
      ParameterDescription(degree: 8192, ciphertextPrimeBits: [], specialPrimeBits: [60], defaultScale: 0x1p40),
      .noCiphertextPrimes)
    refuse(
      ParameterDescription(degree: 8192, ciphertextPrimeBits: [62], specialPrimeBits: [], defaultScale: 0x1p40),
      .primeBitsOutOfRange(62))
    refuse(
      ParameterDescription(degree: 1000, ciphertextPrimeBits: [40], specialPrimeBits: [], defaultScale: 0x1p20),
      .unsupportedDegree(1000))
    refuse(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [60, 40], specialPrimeBits: [60], defaultScale: 0x1p40,
        secretDistribution: .sparseTernary(hammingWeight: 64)),
      .sparseSecretNeedsOptOut(hammingWeight: 64))
    for weight in [0, 8193] {
      refuse(
        ParameterDescription(
          degree: 8192, ciphertextPrimeBits: [60, 40], specialPrimeBits: [60], defaultScale: 0x1p40,
          secretDistribution: .sparseTernary(hammingWeight: weight), security: .insecureForTestingOnly),
        .invalidHammingWeight(weight, degree: 8192))
    }
    refuse(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [60, 40, 40], specialPrimeBits: [60], defaultScale: 0x1p40,
        keySwitchingDigits: 4),
      .invalidKeySwitchingDigits(4, primeCount: 3))
    refuse(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [60, 40, 40], specialPrimeBits: [40], defaultScale: 0x1p40,
        keySwitchingDigits: 1),
      .specialPrimesTooSmall(specialBits: 40, largestDigitBits: 140))
    for scale in [Double.nan, .infinity, 0.5, 0x1p200] {
      #expect(throws: ParameterError.self) {
        try CKKSParameters(
          ParameterDescription(
            degree: 8192, ciphertextPrimeBits: [60, 40], specialPrimeBits: [60], defaultScale: scale))
      }
    }
    // The message names the bound.
    let message = ParameterError.insecureModulus(degree: 8192, totalBits: 240, maximumBits: 214).description
    #expect(message.contains("240") && message.contains("214") && message.contains("128-bit"))
  }

  @Test("The 2024 bounds are enforced by default; the 2018 table only when named")
  func securityBounds() throws {
    let current = [1024: 26, 2048: 53, 4096: 106, 8192: 214, 16384: 430, 32768: 868, 65536: 1747]
    let standard2018 = [1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881]
    #expect(HomomorphicEncryptionStandard.maximumModulusBits128 == current)
    #expect(HomomorphicEncryptionStandard.maximumModulusBits128Standard2018 == standard2018)
    #expect(
      ParameterDescription(degree: 4096, ciphertextPrimeBits: [40], specialPrimeBits: [], defaultScale: 2)
        .security == .classical128)
    // Moduli at exactly the 2024 bound pass; the 2018 table's extra bits pass only under its policy.
    let cases: [(degree: Int, atBound: [Int], at2018Bound: [Int])] = [
      (2048, [53], [54]), (4096, [53, 53], [54, 55]), (8192, [54, 40, 60, 60], [58, 40, 60, 60]),
      (16384, [50, 60, 60, 60, 60, 60, 20, 60], [58, 60, 60, 60, 60, 60, 20, 60]),
    ]
    for (degree, atBound, at2018Bound) in cases {
      func description(_ bits: [Int], _ security: SecurityPolicy) -> ParameterDescription {
        ParameterDescription(
          degree: degree, ciphertextPrimeBits: bits.count == 1 ? bits : Array(bits.dropLast()),
          specialPrimeBits: bits.count == 1 ? [] : [bits.last!],
          defaultScale: 0x1p20, security: security)
      }
      let bound = current[degree]!
      #expect(try CKKSParameters(description(atBound, .classical128)).totalModulusBits == bound)
      let old = at2018Bound.reduce(0, +)
      #expect(throws: ParameterError.insecureModulus(degree: degree, totalBits: old, maximumBits: bound)) {
        try CKKSParameters(description(at2018Bound, .classical128))
      }
      #expect(try CKKSParameters(description(at2018Bound, .classical128Standard2018)).totalModulusBits == old)
    }
  }

  @Test("The loudly named opt-out accepts tiny test parameters")
  func optOut() throws {
    let tiny = ParameterDescription(
      degree: 16, ciphertextPrimeBits: [30, 20], specialPrimeBits: [30], defaultScale: 0x1p20,
      secretDistribution: .sparseTernary(hammingWeight: 4), security: .insecureForTestingOnly)
    let parameters = try CKKSParameters(tiny)
    #expect(parameters.degree == 16)
    #expect(parameters.maximumLevel == 1)
    #expect(throws: ParameterError.self) {
      var secure = tiny
      secure.security = .classical128
      _ = try CKKSParameters(secure)
    }
  }

  @Test("Key-switching digits partition the primes into dnum near-equal groups")
  func digits() {
    for primes in 1...12 {
      for digits in 1...primes {
        let groups = KeySwitchingDigits.partition(primeCount: primes, digits: digits)
        #expect(groups.count == digits)
        #expect(groups.allSatisfy { !$0.isEmpty })
        #expect(groups.flatMap { Array($0) } == Array(0..<primes))
        let sizes = groups.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
      }
    }
  }
}
