/// Loading and saving Microsoft SEAL 4.x objects (CKKS): `Ciphertext`, `Plaintext`, `PublicKey`,
/// `RelinKeys`, `GaloisKeys` and `SecretKey`, as SEAL's `save` writes them with compression
/// off, including SEAL's seeded (`Serializable`) forms. `docs/serialization.md` describes every
/// byte and the checks; `SEALFormat` holds the framing.
///
/// Loading is at least as strict as SEAL's own `load`: header fields, the declared sizes against
/// the bytes present before anything is allocated, the `parms_id` naming a level of the given
/// parameters (a data level for ciphertexts and plaintexts, the key level for keys), NTT form,
/// a finite positive scale below the level's modulus, correction factor 1, every residue below its
/// prime, and the whole input consumed.
extension CKKSParameters {
  /// The ciphertext basis of a data-level `parms_id`, nil for any other fingerprint (the key level
  /// included).
  func dataBasis(of fingerprint: ParameterFingerprint) -> RNSBasis? {
    level(of: fingerprint).map { basis(atLevel: $0) }
  }

  /// Checks that key-switching keys have SEAL's shape here: one special prime, one digit per
  /// ciphertext prime (SEAL's only layout).
  func requireSEALKeyLayout() throws(SerializationError) {
    guard specialModuli.count == 1, parameterDescription.keySwitchingDigits == ciphertextModuli.count else {
      throw .invalidField(
        "SEAL key-switching keys need exactly one special prime and one digit per ciphertext prime; "
          + "these parameters have \(specialModuli.count) special primes and "
          + "\(parameterDescription.keySwitchingDigits) digits")
    }
  }
}

extension Ciphertext {
  /// Loads a ciphertext written by SEAL 4.x (`Ciphertext::save` with `compr_mode_type::none`),
  /// in full or seeded form (a seeded ciphertext's c1 is expanded with SEAL's BLAKE2Xb rule).
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the sizes are checked against the bytes present.
  public init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let members = try SEALFormat.readCiphertext(
      &reader, degree: parameters.degree, sizes: 2...3, basisFor: parameters.dataBasis(of:))
    try SerializationFormat.checkExactSize(reader, remainingBytes: 0)
    self.init(polynomials: members.polynomials, scale: members.scale)
  }

  /// SEAL's serialized form (full, uncompressed) with a header naming `version`, loadable by
  /// every SEAL whose version is `version` or newer within the same major version.
  /// - Precondition: the ciphertext belongs to `parameters`.
  public func sealBytes(parameters: CKKSParameters, version: SEALFormat.Version = .compatible) -> [UInt8] {
    precondition(basis.isSameRing(as: parameters.basis(atLevel: level)), "ciphertext of other parameters")
    var writer = ByteWriter(
      capacity: SEALFormat.ciphertextSize(size: size, primeCount: basis.count, degree: basis.degree))
    SEALFormat.writeCiphertext(
      &writer, polynomials: polynomials, scale: scale, fingerprint: parameters.levelFingerprints[level],
      version: version)
    return writer.bytes
  }
}

extension Encryptor {
  /// Secret-key encryption as SEAL's `encrypt_symmetric` does it, written as SEAL's seeded stream
  /// (what SEAL's `Serializable<Ciphertext>::save` writes): c0 in full, then a 64-byte seed from
  /// which SEAL (and ``Ciphertext/init(sealBytes:parameters:)``) expands c1 = a with BLAKE2Xb.
  /// About half the size of the full form.
  /// - Throws: ``EvaluationError/parametersMismatch`` for a plaintext of other parameters, and
  ///   ``EvaluationError/invalidKeyMaterial(_:)`` when this encryptor holds a public key.
  public func sealSeededBytes(
    encrypting plaintext: Plaintext, version: SEALFormat.Version = .compatible,
    using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> [UInt8] {
    guard case .secretKey(let secretKey) = key else {
      throw .invalidKeyMaterial("seeded encryption needs the secret key")
    }
    let level = plaintext.level
    guard level <= parameters.maximumLevel,
      plaintext.polynomial.basis.isSameRing(as: parameters.basis(atLevel: level))
    else { throw .parametersMismatch }
    let basis = plaintext.polynomial.basis
    let seed = SEALUniformExpansion.makeSeed(using: generator)
    let a = try! SEALUniformExpansion.uniform(
      in: basis, generator: SEALUniformExpansion.GeneratorType.blake2xb.rawValue, seed: seed)
    var c0 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
    c0.add(plaintext.polynomial)
    subtractProduct(into: &c0, a, secretKey: secretKey)
    var writer = ByteWriter(
      capacity: SEALFormat.ciphertextSize(size: 1, primeCount: basis.count, degree: basis.degree) + 96)
    SEALFormat.writeCiphertext(
      &writer, polynomials: [c0, a], scale: plaintext.scale, fingerprint: parameters.levelFingerprints[level],
      version: version, seed: seed)
    return writer.bytes
  }
}

extension KeyGenerator {
  /// A fresh public key of `secretKey` made as SEAL's `create_public_key` makes it, written as
  /// SEAL's seeded stream (what `Serializable<PublicKey>::save` writes): `b = −(a·s + e)` over the
  /// key level in full, then the 64-byte seed of `a` (SEAL's BLAKE2Xb expansion). About half the
  /// size of the full form; SEAL and ``PublicKey/init(sealBytes:parameters:)`` load it.
  public static func sealSeededPublicKeyBytes(
    secretKey: SecretKey, version: SEALFormat.Version = .compatible,
    using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) -> [UInt8] {
    let parameters = secretKey.parameters
    let seed = SEALUniformExpansion.makeSeed(using: generator)
    let a = try! SEALUniformExpansion.uniform(
      in: parameters.keyBasis, generator: SEALUniformExpansion.GeneratorType.blake2xb.rawValue, seed: seed)
    var b = a * secretKey.polynomial
    b.add(Sampler.gaussian(in: parameters.keyBasis, using: generator).forwardNTT())
    b.negate()
    let keyBasis = parameters.keyBasis
    var writer = ByteWriter(
      capacity: SEALFormat.ciphertextSize(size: 1, primeCount: keyBasis.count, degree: keyBasis.degree) + 96)
    SEALFormat.writeCiphertext(
      &writer, polynomials: [b, a], scale: 1, fingerprint: parameters.keyFingerprint, version: version, seed: seed)
    return writer.bytes
  }
}

extension SEALUniformExpansion {
  /// A fresh 64-byte SEAL seed drawn from `generator`.
  static func makeSeed(using generator: SecureRandomGenerator) -> [UInt8] {
    var seed: [UInt8] = []
    while seed.count < seedByteCount {
      let word = generator.next()
      for b in 0..<8 { seed.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(b)))) }
    }
    return seed
  }
}

extension Plaintext {
  /// Loads a CKKS plaintext written by SEAL 4.x (`Plaintext::save`, NTT form at a data level).
  /// - Throws: ``SerializationError`` naming the first failed check.
  public init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (scale, polynomial) = try Self.readSEAL(&reader, basisFor: parameters.dataBasis)
    try SerializationFormat.checkExactSize(reader, remainingBytes: 0)
    self.init(polynomial: polynomial, scale: scale)
  }

  /// SEAL's serialized form of this plaintext.
  /// - Precondition: the plaintext belongs to `parameters`.
  public func sealBytes(parameters: CKKSParameters, version: SEALFormat.Version = .compatible) -> [UInt8] {
    precondition(polynomial.basis.isSameRing(as: parameters.basis(atLevel: level)), "plaintext of other parameters")
    return Self.writeSEAL(polynomial, scale: scale, fingerprint: parameters.levelFingerprints[level], version: version)
  }

  static func readSEAL(_ reader: inout ByteReader, basisFor: (ParameterFingerprint) -> RNSBasis?)
    throws(SerializationError) -> (Double, RNSPolynomial<Evaluation>)
  {
    let start = reader.offset
    let header = try SEALFormat.readHeader(&reader)
    var words: [UInt64] = []
    for _ in 0..<4 { words.append(try reader.readUInt64()) }
    guard let basis = basisFor(ParameterFingerprint(words: words)) else { throw .unknownFingerprint }
    let expected = basis.count * basis.degree
    let coefficientCount = try reader.readUInt64()
    guard coefficientCount == UInt64(expected) else {
      throw .invalidField("coeff_count \(coefficientCount), expected \(expected)")
    }
    let scale = try reader.readDouble()
    guard scale.isFinite, scale > 0, Int(scale.exponent) < basis.product.bitWidth else { throw .invalidScale(scale) }
    let arrayStart = reader.offset
    let arrayHeader = try SEALFormat.readHeader(&reader)
    let count = try reader.readUInt64()
    guard count == UInt64(expected), arrayHeader.totalSize == SEALFormat.headerSize + 8 + 8 * expected else {
      throw .invalidField("plaintext array of \(count) residues, expected \(expected)")
    }
    let polynomial = try SEALFormat.readResidues(&reader, basis: basis, polynomial: 0)
    try SEALFormat.checkEnd(reader, start: arrayStart, header: arrayHeader)
    try SEALFormat.checkEnd(reader, start: start, header: header)
    return (scale, polynomial)
  }

  static func writeSEAL(
    _ polynomial: RNSPolynomial<Evaluation>, scale: Double, fingerprint: ParameterFingerprint,
    version: SEALFormat.Version
  ) -> [UInt8] {
    let count = polynomial.residues.count
    let total = SEALFormat.headerSize + 32 + 8 + 8 + SEALFormat.headerSize + 8 + 8 * count
    var writer = ByteWriter(capacity: total)
    SEALFormat.writeHeader(&writer, version: version, totalSize: total)
    for word in fingerprint.words { writer.write(word) }
    writer.write(UInt64(count))
    writer.write(scale)
    SEALFormat.writeHeader(&writer, version: version, totalSize: SEALFormat.headerSize + 8 + 8 * count)
    writer.write(UInt64(count))
    polynomial.residues.withUnsafeBufferPointer { writer.writeWords($0) }
    return writer.bytes
  }
}

extension SecretKey {
  /// Loads a secret key written by SEAL 4.x (`SecretKey::save`: a plaintext over the key level in
  /// NTT form). For tests and tools: a secret key never travels.
  /// - Throws: ``SerializationError`` naming the first failed check, including coefficients that
  ///   are not ternary.
  public convenience init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let keyBasis = parameters.keyBasis
    let (_, polynomial) = try Plaintext.readSEAL(&reader) {
      $0 == parameters.keyFingerprint ? keyBasis : nil
    }
    try SerializationFormat.checkExactSize(reader, remainingBytes: 0)
    self.init(parameters: parameters, polynomial: polynomial)
    guard isTernary else { throw .invalidField("secret key coefficients are not in {-1, 0, 1}") }
  }

  /// SEAL's serialized form of this secret key (a plaintext over the key level, scale 1).
  public func sealBytes(version: SEALFormat.Version = .compatible) -> [UInt8] {
    Plaintext.writeSEAL(polynomial, scale: 1, fingerprint: parameters.keyFingerprint, version: version)
  }

  /// Whether the coefficients (read from the first prime) are in {−1, 0, 1} and every prime
  /// holds the same integer polynomial.
  var isTernary: Bool {
    let coefficients = polynomial.inverseNTT()
    let n = parameters.degree
    let moduli = parameters.keyBasis.moduli
    return coefficients.residues.withUnsafeBufferPointer { rows in
      for j in 0..<n {
        let first = rows[j]
        let value: Int = first == 0 ? 0 : first == 1 ? 1 : first == moduli[0].value - 1 ? -1 : 2
        guard value != 2 else { return false }
        for (i, q) in moduli.enumerated().dropFirst() {
          let expected = value >= 0 ? UInt64(value) : q.value - 1
          guard rows[i * n + j] == expected else { return false }
        }
      }
      return true
    }
  }
}

extension PublicKey {
  /// Loads a public key written by SEAL 4.x (`PublicKey::save`, full or seeded: a size-2
  /// ciphertext over the key level).
  /// - Throws: ``SerializationError`` naming the first failed check.
  public init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let keyBasis = parameters.keyBasis
    let members = try SEALFormat.readCiphertext(&reader, degree: parameters.degree, sizes: 2...2) {
      $0 == parameters.keyFingerprint ? keyBasis : nil
    }
    try SerializationFormat.checkExactSize(reader, remainingBytes: 0)
    self.init(parameters: parameters, b: members.polynomials[0], a: members.polynomials[1], seed: nil)
  }

  /// SEAL's serialized form (full): the key as a size-2 ciphertext over the key level.
  public func sealBytes(version: SEALFormat.Version = .compatible) -> [UInt8] {
    var writer = ByteWriter(
      capacity: SEALFormat.ciphertextSize(size: 2, primeCount: parameters.keyBasis.count, degree: parameters.degree))
    SEALFormat.writeCiphertext(
      &writer, polynomials: [b, a], scale: 1, fingerprint: parameters.keyFingerprint, version: version)
    return writer.bytes
  }
}

/// SEAL's `KSwitchKeys` framing: the key `parms_id`, a list (indexed by SEAL's key index) of
/// lists of digits, each digit a `PublicKey` (size-2 ciphertext over the key level).
enum SEALKeySwitchingKeys {
  /// Reads the framing and returns the non-empty entries by index.
  static func read(_ bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) -> [Int: KeySwitchingKey] {
    try parameters.requireSEALKeyLayout()
    var reader = ByteReader(bytes)
    let header = try SEALFormat.readHeader(&reader)
    var words: [UInt64] = []
    for _ in 0..<4 { words.append(try reader.readUInt64()) }
    guard ParameterFingerprint(words: words) == parameters.keyFingerprint else { throw .unknownFingerprint }
    let outerCount = try reader.readUInt64()
    guard outerCount <= UInt64(parameters.degree) else { throw .invalidField("key count \(outerCount)") }
    let digitCount = parameters.ciphertextModuli.count
    let keyBasis = parameters.keyBasis
    var keys: [Int: KeySwitchingKey] = [:]
    for index in 0..<Int(outerCount) {
      let innerCount = try reader.readUInt64()
      guard innerCount == 0 || innerCount == UInt64(digitCount) else {
        throw .invalidField("key \(index) has \(innerCount) digits, expected \(digitCount)")
      }
      guard innerCount > 0 else { continue }
      var digits: [KeySwitchingDigit] = []
      for _ in 0..<digitCount {
        let members = try SEALFormat.readCiphertext(&reader, degree: parameters.degree, sizes: 2...2) {
          $0 == parameters.keyFingerprint ? keyBasis : nil
        }
        digits.append(KeySwitchingDigit(b: members.polynomials[0], a: members.polynomials[1], seed: nil))
      }
      keys[index] = KeySwitchingKey(digits: digits)
    }
    try SEALFormat.checkEnd(reader, start: 0, header: header)
    try SerializationFormat.checkExactSize(reader, remainingBytes: 0)
    return keys
  }

  /// Writes `entries` (nil for an empty index) in full.
  static func write(_ entries: [KeySwitchingKey?], parameters: CKKSParameters, version: SEALFormat.Version) -> [UInt8] {
    let digitSize = SEALFormat.ciphertextSize(size: 2, primeCount: parameters.keyBasis.count, degree: parameters.degree)
    let digitTotal = entries.reduce(0) { $0 + ($1?.digits.count ?? 0) }
    let total = SEALFormat.headerSize + 32 + 8 + 8 * entries.count + digitTotal * digitSize
    var writer = ByteWriter(capacity: total)
    SEALFormat.writeHeader(&writer, version: version, totalSize: total)
    for word in parameters.keyFingerprint.words { writer.write(word) }
    writer.write(UInt64(entries.count))
    for entry in entries {
      writer.write(UInt64(entry?.digits.count ?? 0))
      for digit in entry?.digits ?? [] {
        SEALFormat.writeCiphertext(
          &writer, polynomials: [digit.b, digit.a], scale: 1, fingerprint: parameters.keyFingerprint, version: version)
      }
    }
    return writer.bytes
  }
}

extension RelinearizationKey {
  /// Loads relinearization keys written by SEAL 4.x (`RelinKeys::save`, full or seeded digits).
  /// - Throws: ``SerializationError`` naming the first failed check, also when the parameters do
  ///   not have SEAL's key layout (one special prime, one digit per ciphertext prime).
  public init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    let keys = try SEALKeySwitchingKeys.read(bytes, parameters: parameters)
    guard keys.count == 1, let key = keys[0] else {
      throw .invalidField("SEAL relinearization keys hold exactly the key of s² (index 0)")
    }
    self.init(key: key)
  }

  /// SEAL's serialized form (full digits).
  /// - Throws: ``SerializationError/invalidField(_:)`` when the parameters do not have SEAL's
  ///   key layout.
  public func sealBytes(parameters: CKKSParameters, version: SEALFormat.Version = .compatible)
    throws(SerializationError) -> [UInt8]
  {
    try parameters.requireSEALKeyLayout()
    return SEALKeySwitchingKeys.write([key], parameters: parameters, version: version)
  }
}

extension GaloisKeys {
  /// Loads Galois keys written by SEAL 4.x (`GaloisKeys::save`, full or seeded digits); SEAL
  /// stores the key of Galois element g at index (g − 1) / 2.
  /// - Throws: ``SerializationError`` naming the first failed check, also when the parameters do
  ///   not have SEAL's key layout.
  public init(sealBytes bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    let entries = try SEALKeySwitchingKeys.read(bytes, parameters: parameters)
    var keys: [Int: KeySwitchingKey] = [:]
    for (index, key) in entries {
      let element = 2 * index + 1
      guard element != 1 else { throw .invalidField("Galois element 1 (the identity) has no key") }
      keys[element] = key
    }
    self.init(keys: keys)
  }

  /// SEAL's serialized form (full digits), indexed as SEAL indexes Galois keys (N entries).
  /// - Throws: ``SerializationError/invalidField(_:)`` when the parameters do not have SEAL's
  ///   key layout.
  public func sealBytes(parameters: CKKSParameters, version: SEALFormat.Version = .compatible)
    throws(SerializationError) -> [UInt8]
  {
    try parameters.requireSEALKeyLayout()
    var entries = [KeySwitchingKey?](repeating: nil, count: parameters.degree)
    for (element, key) in keys { entries[(element - 1) / 2] = key }
    return SEALKeySwitchingKeys.write(entries, parameters: parameters, version: version)
  }
}
