import Foundation
import TestSupport
import Testing

@testable import CKKS

/// SEAL 4.x streams both ways, against `Fixtures/seal_streams.json` (recorded from real SEAL by
/// scripts/generate_seal_streams.py).
@Suite("SEAL streams")
struct SEALStreamTests {
  struct FromSeal: Decodable {
    let secretKey, publicKey, relinKeys, galoisKeys, plaintext: String
    let publicKeyCiphertext, symmetricCiphertext, lowerLevelCiphertext, productCiphertext: String
    let decoded: [String: [Double]]
    let rotated: [String: [Double]]
  }
  struct Ours: Decodable {
    let seed: String
    let digests: [String: String]
    let sealResavedSeededCiphertextDigest: String
    let sealResavedSeededPublicKeyDigest: String
    let decodedBySeal: [String: [Double]]
    let rotatedBySealWithOurKeys: [String: [Double]]
  }
  struct StreamsFile: Decodable {
    let degree: Int
    let bitSizes: [Int]
    let scaleExponent: Int
    let rotationSteps: [Int]
    let sealVersion: String
    let fromSeal: FromSeal
    let ours: Ours
  }

  static let file: StreamsFile = try! Fixtures.load("seal_streams")

  static let parameters: CKKSParameters = try! CKKSParameters(
    ParameterDescription(
      degree: file.degree, ciphertextPrimeBits: Array(file.bitSizes.dropLast()),
      specialPrimeBits: [file.bitSizes.last!],
      defaultScale: Double(sign: .plus, exponent: file.scaleExponent, significand: 1),
      security: .insecureForTestingOnly))

  /// The message the script encrypts: slot i = ((i·7919) mod 2001 − 1000) / 3700.
  static let message: [Double] = (0..<(file.degree / 2)).map { Double((($0 * 7919) % 2001) - 1000) / 3700.0 }

  static var sealVersion: SEALFormat.Version {
    let parts = file.sealVersion.split(separator: ".").map { UInt8($0)! }
    return SEALFormat.Version(major: parts[0], minor: parts[1])
  }

  static func bytes(_ base64: String) -> [UInt8] { [UInt8](Data(base64Encoded: base64)!) }

  static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

  let parameters = SEALStreamTests.parameters
  let secretKey = try! SecretKey(sealBytes: bytes(file.fromSeal.secretKey), parameters: parameters)

  func decoded(_ ciphertext: Ciphertext) throws -> [Double] {
    CKKSEncoder(parameters: parameters).decode(try Decryptor(secretKey: secretKey).decrypt(ciphertext))
  }

  @Test("SEAL's ciphertexts load and decrypt to what SEAL decrypts, at every level and size")
  func sealCiphertexts() throws {
    let seal = Self.file.fromSeal
    for name in ["publicKeyCiphertext", "symmetricCiphertext", "lowerLevelCiphertext"] {
      let stream = [
        "publicKeyCiphertext": seal.publicKeyCiphertext, "symmetricCiphertext": seal.symmetricCiphertext,
        "lowerLevelCiphertext": seal.lowerLevelCiphertext,
      ][name]!
      let ciphertext = try Ciphertext(sealBytes: Self.bytes(stream), parameters: parameters)
      let values = try decoded(ciphertext)
      #expect(Precision.maximumError(values, Self.message) < 1e-3, "\(name)")
      #expect(Precision.maximumError(values, try #require(seal.decoded[name])) < 1e-7, "\(name)")
    }
    let lower = try Ciphertext(sealBytes: Self.bytes(seal.lowerLevelCiphertext), parameters: parameters)
    #expect(lower.level == parameters.maximumLevel - 1)
    // SEAL's size-3 product, relinearized with SEAL's key by our evaluator, then rescaled.
    let product = try Ciphertext(sealBytes: Self.bytes(seal.productCiphertext), parameters: parameters)
    #expect(product.size == 3)
    let relinearizationKey = try RelinearizationKey(sealBytes: Self.bytes(seal.relinKeys), parameters: parameters)
    let evaluator = Evaluator(parameters: parameters)
    let result = try evaluator.rescale(try evaluator.relinearize(product, key: relinearizationKey))
    let sealResult = try #require(seal.decoded["productRelinearizedRescaled"])
    #expect(Precision.maximumError(try decoded(result), sealResult) < 1e-5)
  }

  @Test("SEAL's keys load and work in our evaluator and encryptor")
  func sealKeys() throws {
    let seal = Self.file.fromSeal
    let publicKey = try PublicKey(sealBytes: Self.bytes(seal.publicKey), parameters: parameters)
    let plaintext = try CKKSEncoder(parameters: parameters).encode(Self.message)
    let encrypted = try Encryptor(publicKey: publicKey).encrypt(plaintext)
    #expect(Precision.maximumError(try decoded(encrypted), Self.message) < 1e-3)

    let galoisKeys = try GaloisKeys(sealBytes: Self.bytes(seal.galoisKeys), parameters: parameters)
    #expect(
      Set(galoisKeys.elements)
        == Set(Self.file.rotationSteps.map { GaloisElement.rotation(by: $0, degree: parameters.degree).value }))
    let sealCiphertext = try Ciphertext(sealBytes: Self.bytes(seal.publicKeyCiphertext), parameters: parameters)
    for step in Self.file.rotationSteps {
      let rotated = try Evaluator(parameters: parameters).rotate(sealCiphertext, by: step, keys: galoisKeys)
      let expected = try #require(seal.rotated[String(step)])
      #expect(Precision.maximumError(try decoded(rotated), expected) < 1e-5, "step \(step)")
    }
  }

  @Test("Loading then saving with SEAL's version gives SEAL's bytes back, for every object")
  func byteIdenticalRoundTrip() throws {
    let seal = Self.file.fromSeal
    let version = Self.sealVersion
    for stream in [
      seal.publicKeyCiphertext, seal.symmetricCiphertext, seal.lowerLevelCiphertext, seal.productCiphertext,
    ] {
      let bytes = Self.bytes(stream)
      #expect(
        try Ciphertext(sealBytes: bytes, parameters: parameters).sealBytes(parameters: parameters, version: version)
          == bytes)
    }
    let plaintext = Self.bytes(seal.plaintext)
    #expect(
      try Plaintext(sealBytes: plaintext, parameters: parameters).sealBytes(parameters: parameters, version: version)
        == plaintext)
    let publicKey = Self.bytes(seal.publicKey)
    #expect(try PublicKey(sealBytes: publicKey, parameters: parameters).sealBytes(version: version) == publicKey)
    let relinKeys = Self.bytes(seal.relinKeys)
    #expect(
      try RelinearizationKey(sealBytes: relinKeys, parameters: parameters).sealBytes(
        parameters: parameters, version: version) == relinKeys)
    let galoisKeys = Self.bytes(seal.galoisKeys)
    #expect(
      try GaloisKeys(sealBytes: galoisKeys, parameters: parameters).sealBytes(parameters: parameters, version: version)
        == galoisKeys)
    #expect(secretKey.sealBytes(version: version) == Self.bytes(seal.secretKey))
    // SEAL's plaintext is bit for bit our encoding of the same message.
    #expect(
      try Plaintext(sealBytes: plaintext, parameters: parameters)
        == CKKSEncoder(parameters: parameters).encode(Self.message))
  }

  @Test("Our streams are the ones real SEAL loaded and used correctly")
  func oursLoadedBySeal() throws {
    let ours = Self.file.ours
    let streams = try SEALStreamSet.make(
      secretKey: secretKey, values: Self.message, seed: Fixtures.bytes(hex: ours.seed),
      rotationSteps: Self.file.rotationSteps)
    #expect(Set(streams.keys) == Set(ours.digests.keys))
    for (name, bytes) in streams {
      #expect(Self.hex(BLAKE2b.hash(bytes, digestLength: 32)) == ours.digests[name], "\(name)")
    }
    // What SEAL computed with them (recorded) is the message, squared or rotated.
    for (name, values) in ours.decodedBySeal {
      let expected = name.contains("Squared") ? Self.message.map { $0 * $0 } : Self.message
      #expect(Precision.maximumError(values, expected) < 1e-3, "\(name)")
    }
    for (step, values) in ours.rotatedBySealWithOurKeys {
      let k = Int(step)!
      let expected = (0..<values.count).map { Self.message[($0 + k + Self.message.count) % Self.message.count] }
      #expect(Precision.maximumError(values, expected) < 1e-3, "step \(step)")
    }
    // Our seeded stream expands (with our BLAKE2Xb) to exactly what SEAL expanded it to.
    let seeded = try Ciphertext(sealBytes: try #require(streams["seededCiphertext"]), parameters: parameters)
    let resaved = Array(seeded.sealBytes(parameters: parameters, version: Self.sealVersion).dropFirst(16))
    #expect(Self.hex(BLAKE2b.hash(resaved, digestLength: 32)) == ours.sealResavedSeededCiphertextDigest)
    #expect(Precision.maximumError(try decoded(seeded), Self.message) < 1e-3)
    // Our seeded public key (SEAL's create_public_key form): SEAL expanded `a` to what we load.
    let seededPublicKey = try PublicKey(sealBytes: try #require(streams["seededPublicKey"]), parameters: parameters)
    let publicResaved = Array(seededPublicKey.sealBytes(version: Self.sealVersion).dropFirst(16))
    #expect(Self.hex(BLAKE2b.hash(publicResaved, digestLength: 32)) == ours.sealResavedSeededPublicKeyDigest)
    let encrypted = try Encryptor(publicKey: seededPublicKey).encrypt(
      try CKKSEncoder(parameters: parameters).encode(Self.message))
    #expect(Precision.maximumError(try decoded(encrypted), Self.message) < 1e-3)
    // The seeded form replaces c1 (8·k·N bytes) with the 81-byte generator information.
    let residueBytes = 8 * parameters.ciphertextModuli.count * parameters.degree
    #expect(streams["seededCiphertext"]!.count == streams["publicKeyCiphertext"]!.count - residueBytes + 81)
  }
}

/// Hostile and malformed SEAL streams: every check of the loader, each with the error it names.
@Suite("SEAL stream validation")
struct SEALStreamValidationTests {
  let parameters = SEALStreamTests.parameters
  let ciphertext = SEALStreamTests.bytes(SEALStreamTests.file.fromSeal.lowerLevelCiphertext)

  func load(_ bytes: [UInt8]) throws(SerializationError) -> Ciphertext {
    try Ciphertext(sealBytes: bytes, parameters: parameters)
  }

  func patched(_ offset: Int, _ value: UInt64, width: Int = 8) -> [UInt8] {
    var bytes = ciphertext
    for b in 0..<width { bytes[offset + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
    return bytes
  }

  @Test("Header fields: magic, header size, version, compression, reserved bytes, total size")
  func header() {
    #expect(throws: SerializationError.badMagic) { try load(patched(0, 0xA15F, width: 2)) }
    #expect(throws: SerializationError.invalidField("SEAL header size 17")) { try load(patched(2, 17, width: 1)) }
    #expect(throws: SerializationError.unsupportedSEALVersion(major: 3, minor: 6)) {
      try load(patched(3, 0x0603, width: 2))
    }
    #expect(throws: SerializationError.unsupportedSEALVersion(major: 5, minor: 0)) {
      try load(patched(3, 0x0005, width: 2))
    }
    #expect(throws: SerializationError.unsupportedCompression(mode: 1)) { try load(patched(5, 1, width: 1)) }
    #expect(throws: SerializationError.unsupportedCompression(mode: 2)) { try load(patched(5, 2, width: 1)) }
    #expect(SerializationError.unsupportedCompression(mode: 2).description.contains("zstd"))
    #expect(throws: SerializationError.invalidField("SEAL header reserved bytes must be 0")) {
      try load(patched(6, 1, width: 2))
    }
    #expect(throws: SerializationError.self) { try load(patched(8, UInt64(ciphertext.count + 1))) }
    #expect(throws: SerializationError.self) { try load(patched(8, UInt64(ciphertext.count - 1))) }
    #expect(throws: SerializationError.self) { try load(patched(8, .max)) }
    #expect(throws: SerializationError.self) { try load(ciphertext + [0]) }
    // Every SEAL version 4.x is read (the layout is the same in all of them).
    #expect((try? load(patched(3, 0x0904, width: 2))) != nil)
  }

  @Test("Ciphertext members: parms_id, NTT form, size, degree, prime count, scale, correction factor")
  func members() throws {
    // The key level is never a ciphertext level; an unknown parms_id neither.
    var keyLevel = ciphertext
    for (i, word) in parameters.keyFingerprint.words.enumerated() {
      for b in 0..<8 { keyLevel[16 + 8 * i + b] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(b))) }
    }
    #expect(throws: SerializationError.unknownFingerprint) { try load(keyLevel) }
    #expect(throws: SerializationError.unknownFingerprint) { try load(patched(16, 12345)) }
    #expect(throws: SerializationError.self) { try load(patched(48, 0, width: 1)) }
    for size: UInt64 in [0, 1, 4, 16, .max] {
      #expect(throws: SerializationError.self, "size \(size)") { try load(patched(49, size)) }
    }
    #expect(throws: SerializationError.self) { try load(patched(57, UInt64(parameters.degree * 2))) }
    #expect(throws: SerializationError.self) { try load(patched(65, 2)) }
    for scale in [0.0, -1.0, .nan, .infinity, 0x1p200] {
      #expect(throws: SerializationError.self, "scale \(scale)") { try load(patched(73, scale.bitPattern)) }
    }
    #expect(throws: SerializationError.invalidScale(-1)) { try load(patched(73, (-1.0).bitPattern)) }
    #expect(throws: SerializationError.self) { try load(patched(81, 2)) }
    // A declared residue count beyond the bytes present is refused before any allocation.
    #expect(throws: SerializationError.self) { try load(patched(105, UInt64(1) << 60)) }
    #expect(throws: SerializationError.self) { try load(patched(89 + 8, UInt64(1) << 40)) }
    // Sizes near 2^63 in a nested header must not overflow the error's arithmetic.
    for size in [UInt64(Int.max), UInt64(Int.max) - 50, UInt64.max] {
      #expect(throws: SerializationError.self) { try load(patched(89 + 8, size)) }
      #expect(throws: SerializationError.self) { try load(patched(8, size)) }
    }
  }

  @Test("Every residue must be below its prime")
  func residues() throws {
    let basis = parameters.basis(atLevel: parameters.maximumLevel - 1)
    let n = parameters.degree
    // The last residue of c1 modulo its last prime, and the first of c0 modulo the first.
    let lastOffset = 113 + 8 * (2 * basis.count * n - 1)
    #expect(throws: SerializationError.residueOutOfRange(polynomial: 1, prime: basis.count - 1, index: n - 1)) {
      try load(patched(lastOffset, basis.moduli.last!.value))
    }
    #expect(throws: SerializationError.residueOutOfRange(polynomial: 0, prime: 0, index: 0)) {
      try load(patched(113, .max))
    }
  }

  @Test("Seeded streams: the generator type is checked, truncated seeds are refused")
  func seeded() throws {
    let secretKey = try SecretKey(
      sealBytes: SEALStreamTests.bytes(SEALStreamTests.file.fromSeal.secretKey), parameters: parameters)
    let plaintext = try CKKSEncoder(parameters: parameters).encode([0.5])
    let seeded = try Encryptor(secretKey: secretKey).sealSeededBytes(encrypting: plaintext)
    let typeOffset = seeded.count - 65
    var shake = seeded
    shake[typeOffset] = 2
    #expect(throws: SerializationError.unsupportedRandomGenerator(2)) {
      try Ciphertext(sealBytes: shake, parameters: parameters)
    }
    var unknown = seeded
    unknown[typeOffset] = 0
    #expect(throws: SerializationError.unsupportedRandomGenerator(0)) {
      try Ciphertext(sealBytes: unknown, parameters: parameters)
    }
    #expect(throws: SerializationError.self) {
      try Ciphertext(sealBytes: Array(seeded.dropLast()), parameters: parameters)
    }
    // Public-key encryption cannot make seeded streams.
    let publicKey = KeyGenerator.publicKey(secretKey: secretKey)
    #expect(throws: EvaluationError.self) { try Encryptor(publicKey: publicKey).sealSeededBytes(encrypting: plaintext) }
  }

  @Test("Truncations at every header byte and across the body are refused")
  func truncations() {
    for length in Array(0..<130) + Array(stride(from: 130, to: ciphertext.count, by: 997)) {
      #expect(throws: SerializationError.self, "length \(length)") { try load(Array(ciphertext.prefix(length))) }
    }
  }

  @Test("Random corruptions never crash: each load either throws or yields a valid ciphertext")
  func corruptions() {
    var random = TestSeed.generator("SEALStreamTests.corruptions")
    for _ in 0..<400 {
      var bytes = ciphertext
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        // Mostly the metadata, sometimes the residues.
        let index =
          Bool.random(using: &random)
          ? Int.random(in: 0..<113, using: &random) : Int.random(in: 0..<bytes.count, using: &random)
        bytes[index] = UInt8.random(in: 0...255, using: &random)
      }
      if let loaded = try? load(bytes) {
        #expect(
          loaded.basis.moduli.enumerated().allSatisfy { i, q in
            loaded.polynomials.allSatisfy { p in
              p.residues[(i * parameters.degree)..<((i + 1) * parameters.degree)].allSatisfy { $0 < q.value }
            }
          })
      }
    }
  }

  @Test("Random corruptions of every SEAL object (plaintext, keys, seeded ciphertext) never crash")
  func corruptionsOfEveryObject() throws {
    let file = SEALStreamTests.file.fromSeal
    let secretKey = try SecretKey(sealBytes: SEALStreamTests.bytes(file.secretKey), parameters: parameters)
    let seeded = try Encryptor(secretKey: secretKey).sealSeededBytes(
      encrypting: try CKKSEncoder(parameters: parameters).encode([0.25]))
    let loaders: [(String, [UInt8], ([UInt8]) throws -> Void)] = [
      (
        "plaintext", SEALStreamTests.bytes(file.plaintext), { _ = try Plaintext(sealBytes: $0, parameters: parameters) }
      ),
      (
        "public key", SEALStreamTests.bytes(file.publicKey),
        { _ = try PublicKey(sealBytes: $0, parameters: parameters) }
      ),
      (
        "relinearization key", SEALStreamTests.bytes(file.relinKeys),
        {
          _ = try RelinearizationKey(sealBytes: $0, parameters: parameters)
        }
      ),
      (
        "Galois keys", SEALStreamTests.bytes(file.galoisKeys),
        { _ = try GaloisKeys(sealBytes: $0, parameters: parameters) }
      ),
      (
        "secret key", SEALStreamTests.bytes(file.secretKey),
        { _ = try SecretKey(sealBytes: $0, parameters: parameters) }
      ),
      ("seeded ciphertext", seeded, { _ = try Ciphertext(sealBytes: $0, parameters: parameters) }),
    ]
    var random = TestSeed.generator("SEALStreamTests.corruptionsOfEveryObject")
    for (name, original, load) in loaders {
      #expect(throws: Never.self, "\(name) loads unchanged") { try load(original) }
      for _ in 0..<60 {
        var bytes = original
        // Corrupt the framing and metadata (the first 130 bytes) or any byte, then sometimes truncate.
        for _ in 0..<Int.random(in: 1...3, using: &random) {
          let index =
            Bool.random(using: &random)
            ? Int.random(in: 0..<min(130, bytes.count), using: &random)
            : Int.random(in: 0..<bytes.count, using: &random)
          bytes[index] ^= UInt8.random(in: 1...255, using: &random)
        }
        if Int.random(in: 0..<4, using: &random) == 0 {
          bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
        }
        do { try load(bytes) } catch is SerializationError {} catch { Issue.record("\(name): untyped error \(error)") }
      }
    }
  }

  @Test("Keys: wrong level, wrong layout, bad counts and non-ternary secrets are refused")
  func keys() throws {
    let file = SEALStreamTests.file.fromSeal
    let relin = SEALStreamTests.bytes(file.relinKeys)
    // A relinearization stream is not Galois keys of element 1, and vice versa for counts.
    var badCount = relin
    badCount[48] = 2  // keys_dim1 = 2
    #expect((try? RelinearizationKey(sealBytes: badCount, parameters: parameters)) == nil)
    var badDigits = relin
    badDigits[56] = 3  // keys_dim2 = 3, one more than the ciphertext primes
    #expect(throws: SerializationError.self) { try RelinearizationKey(sealBytes: badDigits, parameters: parameters) }
    #expect(throws: SerializationError.self) { try GaloisKeys(sealBytes: relin, parameters: parameters) }
    #expect(throws: SerializationError.self) {
      try RelinearizationKey(sealBytes: Array(relin.dropLast(8)), parameters: parameters)
    }
    // A ciphertext stream is not a public key (data level, not the key level).
    #expect(throws: SerializationError.unknownFingerprint) {
      try PublicKey(sealBytes: SEALStreamTests.bytes(file.publicKeyCiphertext), parameters: parameters)
    }
    // A public key is not a ciphertext.
    #expect(throws: SerializationError.unknownFingerprint) {
      try Ciphertext(sealBytes: SEALStreamTests.bytes(file.publicKey), parameters: parameters)
    }
    // Parameters without SEAL's key layout (two special primes) cannot take SEAL keys.
    let twoSpecial = try CKKSParameters(
      ParameterDescription(
        degree: parameters.degree, ciphertextPrimeBits: [50, 30], specialPrimeBits: [50, 50], defaultScale: 0x1p30,
        security: .insecureForTestingOnly))
    #expect(throws: SerializationError.self) { try RelinearizationKey(sealBytes: relin, parameters: twoSpecial) }
    // A secret key whose coefficients are not ternary.
    let secret = SEALStreamTests.bytes(file.secretKey)
    var notTernary = secret
    notTernary[16 + 32 + 8 + 8 + 16 + 8] ^= 0x01
    #expect(throws: SerializationError.self) { try SecretKey(sealBytes: notTernary, parameters: parameters) }
  }
}
