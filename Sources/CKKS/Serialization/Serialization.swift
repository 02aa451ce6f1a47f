/// The binary format, version 1. `docs/serialization.md` describes every byte; this file is the
/// implementation. All multi-byte fields are little-endian. Loading checks the header, the
/// parameter fingerprint and the exact byte count before allocating any polynomial, and every
/// residue against its prime while unpacking.
public enum SerializationFormat {
  /// The four magic bytes `CKKS`.
  public static let magic: [UInt8] = Array("CKKS".utf8)
  /// The format version written by this library.
  public static let version: UInt8 = 1

  /// The object type byte.
  public enum ObjectType: UInt8, Sendable {
    case ciphertext = 1
    case plaintext = 2
    case publicKey = 3
    case relinearizationKey = 4
    case galoisKeys = 5
    case secretKey = 6
  }

  /// Flag bit 0: c1 is omitted and expanded from a 32-byte seed.
  static let seededFlag: UInt8 = 1

  /// Representation byte of ciphertext polynomials.
  static let evaluationRepresentation: UInt8 = 0
  static let coefficientRepresentation: UInt8 = 1

  /// Size of the common header: magic, version, type, flags, reserved byte, fingerprint.
  static let headerSize = 4 + 1 + 1 + 1 + 1 + 32

  static func writeHeader(_ writer: inout ByteWriter, type: ObjectType, flags: UInt8, fingerprint: ParameterFingerprint)
  {
    writer.write(magic)
    writer.write(version)
    writer.write(type.rawValue)
    writer.write(flags)
    writer.write(UInt8(0))
    for word in fingerprint.words { writer.write(word) }
  }

  /// Reads and checks the common header; returns the flags and the fingerprint.
  static func readHeader(_ reader: inout ByteReader, type: ObjectType) throws(SerializationError) -> (
    flags: UInt8, fingerprint: ParameterFingerprint
  ) {
    guard reader.remaining >= headerSize else { throw .sizeMismatch(expected: headerSize, actual: reader.remaining) }
    guard try reader.readBytes(4) == magic else { throw .badMagic }
    let readVersion = try reader.readByte()
    guard readVersion == version else { throw .unsupportedVersion(readVersion) }
    let readType = try reader.readByte()
    guard readType == type.rawValue else { throw .wrongObjectType(expected: type.rawValue, found: readType) }
    let flags = try reader.readByte()
    guard try reader.readByte() == 0 else { throw .invalidField("reserved byte must be 0") }
    var words: [UInt64] = []
    for _ in 0..<4 { words.append(try reader.readUInt64()) }
    return (flags, ParameterFingerprint(words: words))
  }

  /// Bytes of one polynomial over `basis` packed at `bitWidth(q_i) − dropped` bits per residue.
  static func packedPolynomialSize(_ basis: RNSBasis, dropped: Int) -> Int {
    basis.moduli.reduce(0) { $0 + ByteReader.packedSize(count: basis.degree, bits: $1.bitWidth - dropped) }
  }

  static func writePolynomial<R>(_ writer: inout ByteWriter, _ polynomial: RNSPolynomial<R>, dropped: Int = 0) {
    let n = polynomial.degree
    polynomial.residues.withUnsafeBufferPointer { buffer in
      for (i, q) in polynomial.basis.moduli.enumerated() {
        writer.writePacked(UnsafeBufferPointer(rebasing: buffer[(i * n)..<((i + 1) * n)]), bits: q.bitWidth - dropped)
      }
    }
  }

  static func readPolynomial<R>(
    _ reader: inout ByteReader, basis: RNSBasis, dropped: Int = 0, index: Int
  ) throws(SerializationError) -> RNSPolynomial<R> {
    let n = basis.degree
    var residues = [UInt64](repeating: 0, count: basis.count * n)
    try residues.withUnsafeMutableBufferPointer { (buffer) throws(SerializationError) in
      for (i, q) in basis.moduli.enumerated() {
        try reader.readPacked(
          into: buffer.baseAddress! + i * n, count: n, bits: q.bitWidth - dropped, shift: dropped, bound: q.value,
          polynomial: index, prime: i)
      }
    }
    return RNSPolynomial(uncheckedBasis: basis, residues: residues)
  }

  static func checkExactSize(_ reader: ByteReader, remainingBytes: Int) throws(SerializationError) {
    guard reader.remaining == remainingBytes else {
      throw .sizeMismatch(expected: reader.offset + remainingBytes, actual: reader.bytes.count)
    }
  }
}

// MARK: - Ciphertext

extension Ciphertext {
  /// The serialized bytes: c0 and c1 (and c2) in evaluation form, bit-packed; a seeded ciphertext
  /// stores the 32-byte seed instead of c1 (about half the size).
  /// - Precondition: the ciphertext belongs to `parameters`.
  public func serialized(parameters: CKKSParameters) -> [UInt8] {
    precondition(basis.isSameRing(as: parameters.basis(atLevel: level)), "ciphertext of other parameters")
    let seeded = seed != nil && size == 2
    var writer = ByteWriter(capacity: 64 + size * SerializationFormat.packedPolynomialSize(basis, dropped: 0))
    SerializationFormat.writeHeader(
      &writer, type: .ciphertext, flags: seeded ? SerializationFormat.seededFlag : 0,
      fingerprint: parameters.levelFingerprints[level])
    writer.write(UInt16(level))
    writer.write(UInt8(size))
    writer.write(SerializationFormat.evaluationRepresentation)
    writer.write(scale)
    if seeded { writer.write(seed!) }
    let stored = seeded ? [polynomials[0]] : polynomials
    for _ in stored { writer.write(UInt8(0)) }
    for polynomial in stored { SerializationFormat.writePolynomial(&writer, polynomial) }
    return writer.bytes
  }

  /// Bytes for a result that will only be decrypted: the ciphertext is reduced to level 0 (one
  /// prime), converted to coefficient form, and the `droppedLowBits` least significant bits of
  /// every coefficient are rounded away. Decryption then carries an extra error of at most about
  /// `2^droppedLowBits · (1 + ‖s‖₁) / Δ` in each coefficient of the message.
  /// - Throws: ``SerializationError/notRelinearized(polynomials:)`` for a size-3 ciphertext and ``SerializationError/invalidField(_:)`` when fewer than 1 bit per
  ///   residue would remain.
  public func serializedForDecryption(parameters: CKKSParameters, droppedLowBits: Int) throws(SerializationError)
    -> [UInt8]
  {
    try serializedForDecryption(parameters: parameters, droppedLowBits: (droppedLowBits, droppedLowBits))
  }

  /// ``serializedForDecryption(parameters:droppedLowBits:)`` with different counts for c0 and c1.
  /// c1's rounding reaches the message multiplied by the secret key (up to ‖s‖₁ times, about
  /// √(2N/3) times in deviation), c0's directly, so c0 can drop more bits for the same error.
  /// - Throws: as ``serializedForDecryption(parameters:droppedLowBits:)``.
  public func serializedForDecryption(parameters: CKKSParameters, droppedLowBits: (c0: Int, c1: Int))
    throws(SerializationError) -> [UInt8]
  {
    precondition(basis.isSameRing(as: parameters.basis(atLevel: level)), "ciphertext of other parameters")
    guard size == 2 else { throw .notRelinearized(polynomials: size) }
    let q = basis.moduli[0]
    let dropped = [droppedLowBits.c0, droppedLowBits.c1]
    guard dropped.allSatisfy({ $0 >= 0 && $0 < q.bitWidth }) else {
      throw .invalidField("droppedLowBits must be in [0, \(q.bitWidth - 1)]")
    }
    let lowest = parameters.basis(atLevel: 0)
    let n = parameters.degree
    var writer = ByteWriter(
      capacity: 64 + dropped.reduce(0) { $0 + SerializationFormat.packedPolynomialSize(lowest, dropped: $1) })
    SerializationFormat.writeHeader(&writer, type: .ciphertext, flags: 0, fingerprint: parameters.levelFingerprints[0])
    writer.write(UInt16(0))
    writer.write(UInt8(2))
    writer.write(SerializationFormat.coefficientRepresentation)
    writer.write(scale)
    for bits in dropped { writer.write(UInt8(bits)) }
    for (polynomial, droppedLowBits) in zip(polynomials, dropped) {
      var reduced = polynomial
      while reduced.basis.count > 1 { reduced.dropLastModulus() }
      var coefficients = reduced.inverseNTT().residues
      if droppedLowBits > 0 {
        let half = UInt64(1) << UInt64(droppedLowBits - 1)
        for j in 0..<n {
          // Round to the nearest multiple of 2^d; a value that would round up to q (≡ 0) becomes 0.
          let rounded = (coefficients[j] + half) >> UInt64(droppedLowBits)
          coefficients[j] = rounded << UInt64(droppedLowBits) >= q.value ? 0 : rounded
        }
      }
      coefficients.withUnsafeBufferPointer { writer.writePacked($0, bits: q.bitWidth - droppedLowBits) }
    }
    return writer.bytes
  }

  /// Loads and validates a ciphertext for `parameters`.
  /// - Throws: ``SerializationError`` for any malformed, foreign or out-of-range content.
  public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .ciphertext)
    guard flags & ~SerializationFormat.seededFlag == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard let level = parameters.level(of: fingerprint) else { throw .unknownFingerprint }
    let declaredLevel = Int(try reader.readUInt16())
    guard declaredLevel == level else { throw .levelMismatch(declared: declaredLevel, fingerprint: level) }
    let count = Int(try reader.readByte())
    guard (2...3).contains(count) else { throw .invalidPolynomialCount(count) }
    let representation = try reader.readByte()
    guard
      representation == SerializationFormat.evaluationRepresentation
        || representation == SerializationFormat.coefficientRepresentation
    else { throw .invalidField("representation \(representation)") }
    let scale = try reader.readDouble()
    let basis = parameters.basis(atLevel: level)
    guard scale.isFinite, scale > 0, Int(scale.exponent) < basis.product.bitWidth + 64 else {
      throw .invalidScale(scale)
    }
    let seeded = flags & SerializationFormat.seededFlag != 0
    if seeded {
      guard count == 2, representation == SerializationFormat.evaluationRepresentation else {
        throw .invalidField("a seeded ciphertext has 2 polynomials in evaluation form")
      }
    }
    let seed = seeded ? try reader.readBytes(32) : nil
    let storedCount = seeded ? 1 : count
    var dropped: [Int] = []
    let smallestWidth = basis.moduli.map(\.bitWidth).min()!
    for _ in 0..<storedCount {
      let d = Int(try reader.readByte())
      guard d < smallestWidth, d == 0 || representation == SerializationFormat.coefficientRepresentation else {
        throw .invalidField("dropped low bits \(d)")
      }
      dropped.append(d)
    }
    // Exact size check before allocating any polynomial.
    let expected = dropped.reduce(0) { $0 + SerializationFormat.packedPolynomialSize(basis, dropped: $1) }
    try SerializationFormat.checkExactSize(reader, remainingBytes: expected)
    var polynomials: [RNSPolynomial<Evaluation>] = []
    for index in 0..<storedCount {
      if representation == SerializationFormat.coefficientRepresentation {
        let coefficients: RNSPolynomial<Coefficient> = try SerializationFormat.readPolynomial(
          &reader, basis: basis, dropped: dropped[index], index: index)
        polynomials.append(coefficients.forwardNTT())
      } else {
        polynomials.append(try SerializationFormat.readPolynomial(&reader, basis: basis, index: index))
      }
    }
    if let seed { polynomials.append(try! Sampler.uniform(in: basis, seed: seed)) }
    self.init(polynomials: polynomials, scale: scale, seed: seed)
  }
}

// MARK: - Plaintext

extension Plaintext {
  /// The serialized bytes (evaluation form, bit-packed).
  public func serialized(parameters: CKKSParameters) -> [UInt8] {
    precondition(polynomial.basis.isSameRing(as: parameters.basis(atLevel: level)), "plaintext of other parameters")
    var writer = ByteWriter(capacity: 64 + SerializationFormat.packedPolynomialSize(polynomial.basis, dropped: 0))
    SerializationFormat.writeHeader(
      &writer, type: .plaintext, flags: 0, fingerprint: parameters.levelFingerprints[level])
    writer.write(UInt16(level))
    writer.write(scale)
    SerializationFormat.writePolynomial(&writer, polynomial)
    return writer.bytes
  }

  /// Loads and validates a plaintext for `parameters`.
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the header and sizes are checked.
  public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .plaintext)
    guard flags == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard let level = parameters.level(of: fingerprint) else { throw .unknownFingerprint }
    let declaredLevel = Int(try reader.readUInt16())
    guard declaredLevel == level else { throw .levelMismatch(declared: declaredLevel, fingerprint: level) }
    let scale = try reader.readDouble()
    let basis = parameters.basis(atLevel: level)
    guard scale.isFinite, scale > 0, Int(scale.exponent) < basis.product.bitWidth + 64 else {
      throw .invalidScale(scale)
    }
    try SerializationFormat.checkExactSize(
      reader, remainingBytes: SerializationFormat.packedPolynomialSize(basis, dropped: 0))
    self.init(polynomial: try SerializationFormat.readPolynomial(&reader, basis: basis, index: 0), scale: scale)
  }
}

// MARK: - Keys

extension PublicKey {
  /// The serialized bytes: the seed of `a` and `b` over Q ∪ P (about half of the full key), or
  /// `b` and `a` in full for a key without a seed (one loaded from SEAL).
  public func serialized() -> [UInt8] {
    let polynomialSize = SerializationFormat.packedPolynomialSize(parameters.keyBasis, dropped: 0)
    var writer = ByteWriter(capacity: 80 + 2 * polynomialSize)
    SerializationFormat.writeHeader(
      &writer, type: .publicKey, flags: seed == nil ? 0 : SerializationFormat.seededFlag,
      fingerprint: parameters.keyFingerprint)
    if let seed { writer.write(seed) }
    SerializationFormat.writePolynomial(&writer, b)
    if seed == nil { SerializationFormat.writePolynomial(&writer, a) }
    return writer.bytes
  }

  /// Loads and validates a public key for `parameters`.
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the header and sizes are checked.
  public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .publicKey)
    guard flags & ~SerializationFormat.seededFlag == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard fingerprint == parameters.keyFingerprint else { throw .unknownFingerprint }
    let seeded = flags == SerializationFormat.seededFlag
    let seed = seeded ? try reader.readBytes(32) : nil
    let polynomialSize = SerializationFormat.packedPolynomialSize(parameters.keyBasis, dropped: 0)
    try SerializationFormat.checkExactSize(reader, remainingBytes: (seeded ? 1 : 2) * polynomialSize)
    let b: RNSPolynomial<Evaluation> = try SerializationFormat.readPolynomial(
      &reader, basis: parameters.keyBasis, index: 0)
    let a: RNSPolynomial<Evaluation> =
      if let seed { try! Sampler.uniform(in: parameters.keyBasis, seed: seed) } else {
        try SerializationFormat.readPolynomial(&reader, basis: parameters.keyBasis, index: 1)
      }
    self.init(parameters: parameters, b: b, a: a, seed: seed)
  }
}

extension KeySwitchingKey {
  /// Whether every digit's `a` is expanded from a seed (keys made here); keys loaded from SEAL
  /// carry `a` explicitly and are written in full.
  var isSeeded: Bool { digits.allSatisfy { $0.seed != nil } }

  func write(_ writer: inout ByteWriter, seeded: Bool) {
    writer.write(UInt16(digits.count))
    for digit in digits {
      if seeded { writer.write(digit.seed!) }
      SerializationFormat.writePolynomial(&writer, digit.b)
      if !seeded { SerializationFormat.writePolynomial(&writer, digit.a) }
    }
  }

  static func read(_ reader: inout ByteReader, parameters: CKKSParameters, seeded: Bool) throws(SerializationError)
    -> KeySwitchingKey
  {
    let count = Int(try reader.readUInt16())
    let expectedDigits = parameters.parameterDescription.keySwitchingDigits
    guard count == expectedDigits, parameters.keySwitcher != nil else {
      throw .invalidField("digit count \(count), expected \(expectedDigits)")
    }
    let polynomialSize = SerializationFormat.packedPolynomialSize(parameters.keyBasis, dropped: 0)
    let digitSize = seeded ? 32 + polynomialSize : 2 * polynomialSize
    guard reader.remaining >= count * digitSize else {
      throw .sizeMismatch(expected: reader.offset + count * digitSize, actual: reader.bytes.count)
    }
    var digits: [KeySwitchingDigit] = []
    for index in 0..<count {
      let seed = seeded ? try reader.readBytes(32) : nil
      // Errors name b_j as polynomial 2j and a_j as 2j + 1.
      let b: RNSPolynomial<Evaluation> = try SerializationFormat.readPolynomial(
        &reader, basis: parameters.keyBasis, index: 2 * index)
      let a: RNSPolynomial<Evaluation> =
        if let seed { try! Sampler.uniform(in: parameters.keyBasis, seed: seed) } else {
          try SerializationFormat.readPolynomial(&reader, basis: parameters.keyBasis, index: 2 * index + 1)
        }
      digits.append(KeySwitchingDigit(b: b, a: a, seed: seed))
    }
    return KeySwitchingKey(digits: digits)
  }

  static func serializedSize(parameters: CKKSParameters, seeded: Bool) -> Int {
    let polynomialSize = SerializationFormat.packedPolynomialSize(parameters.keyBasis, dropped: 0)
    return 2 + parameters.parameterDescription.keySwitchingDigits * (seeded ? 32 + polynomialSize : 2 * polynomialSize)
  }
}

extension CKKSParameters {
  /// Bytes one evaluation key made here takes serialized: a relinearization key, or one key of
  /// ``GaloisKeys/serialized(parameters:)`` with its element (headers aside): per digit a 32-byte
  /// seed and `b` bit-packed over Q ∪ P. 0 without special primes.
  public var seededEvaluationKeyBytes: Int {
    keySwitcher == nil ? 0 : 4 + KeySwitchingKey.serializedSize(parameters: self, seeded: true)
  }

  /// Bytes one evaluation key's residues take in memory once loaded (`b` and the expanded `a` of
  /// every digit, 8 bytes per residue). 0 without special primes.
  public var evaluationKeyMemoryBytes: Int {
    keySwitcher == nil ? 0 : parameterDescription.keySwitchingDigits * 2 * keyBasis.moduli.count * degree * 8
  }
}

extension RelinearizationKey {
  /// The serialized bytes: per digit, the seed of `a` and the packed `b` (or `b` and `a` in full
  /// for a key loaded from SEAL).
  public func serialized(parameters: CKKSParameters) -> [UInt8] {
    let seeded = key.isSeeded
    var writer = ByteWriter(capacity: 64 + KeySwitchingKey.serializedSize(parameters: parameters, seeded: seeded))
    SerializationFormat.writeHeader(
      &writer, type: .relinearizationKey, flags: seeded ? SerializationFormat.seededFlag : 0,
      fingerprint: parameters.keyFingerprint)
    key.write(&writer, seeded: seeded)
    return writer.bytes
  }

  /// Loads and validates a relinearization key for `parameters`.
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the header and sizes are checked.
  public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .relinearizationKey)
    guard flags & ~SerializationFormat.seededFlag == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard fingerprint == parameters.keyFingerprint else { throw .unknownFingerprint }
    let seeded = flags == SerializationFormat.seededFlag
    try SerializationFormat.checkExactSize(
      reader, remainingBytes: KeySwitchingKey.serializedSize(parameters: parameters, seeded: seeded))
    self.init(key: try KeySwitchingKey.read(&reader, parameters: parameters, seeded: seeded))
  }
}

extension GaloisKeys {
  /// The serialized bytes: the key count, then per key its Galois element (u32) and digits.
  public func serialized(parameters: CKKSParameters) -> [UInt8] {
    let seeded = keys.values.allSatisfy(\.isSeeded)
    let perKey = 4 + KeySwitchingKey.serializedSize(parameters: parameters, seeded: seeded)
    var writer = ByteWriter(capacity: 64 + keys.count * perKey)
    SerializationFormat.writeHeader(
      &writer, type: .galoisKeys, flags: seeded ? SerializationFormat.seededFlag : 0,
      fingerprint: parameters.keyFingerprint)
    writer.write(UInt16(keys.count))
    for element in elements {
      for b in 0..<4 { writer.write(UInt8(truncatingIfNeeded: element >> (8 * b))) }
      keys[element]!.write(&writer, seeded: seeded)
    }
    return writer.bytes
  }

  /// The Galois elements serialized Galois keys hold, read without loading (or expanding) any
  /// key, so that a caller can refuse unwanted elements before paying for them.
  /// - Throws: ``SerializationError`` for a header, size or element that
  ///   ``init(deserializing:parameters:)`` would refuse as well.
  public static func elements(inSerialized bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError)
    -> [Int]
  {
    var reader = ByteReader(bytes)
    let (seeded, count) = try readHeader(&reader, parameters: parameters)
    let keyBytes = KeySwitchingKey.serializedSize(parameters: parameters, seeded: seeded)
    var elements: [Int] = []
    for _ in 0..<count {
      var element = 0
      for b in 0..<4 { element |= Int(try reader.readByte()) << (8 * b) }
      elements.append(element)
      try reader.skip(keyBytes)
    }
    return elements
  }

  /// Reads the header and the key count, and checks that exactly `count` keys' bytes follow.
  private static func readHeader(_ reader: inout ByteReader, parameters: CKKSParameters) throws(SerializationError)
    -> (seeded: Bool, count: Int)
  {
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .galoisKeys)
    guard flags & ~SerializationFormat.seededFlag == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard fingerprint == parameters.keyFingerprint else { throw .unknownFingerprint }
    let seeded = flags == SerializationFormat.seededFlag
    let count = Int(try reader.readUInt16())
    let perKey = 4 + KeySwitchingKey.serializedSize(parameters: parameters, seeded: seeded)
    try SerializationFormat.checkExactSize(reader, remainingBytes: count * perKey)
    return (seeded, count)
  }

  /// Loads and validates Galois keys for `parameters`.
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the header and sizes are checked.
  public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (seeded, count) = try Self.readHeader(&reader, parameters: parameters)
    var keys: [Int: KeySwitchingKey] = [:]
    for _ in 0..<count {
      var element = 0
      for b in 0..<4 { element |= Int(try reader.readByte()) << (8 * b) }
      guard (try? GaloisElement(element, degree: parameters.degree)) != nil, element != 1, keys[element] == nil else {
        throw .invalidField("Galois element \(element)")
      }
      keys[element] = try KeySwitchingKey.read(&reader, parameters: parameters, seeded: seeded)
    }
    self.init(keys: keys)
  }
}

extension SecretKey {
  /// The serialized secret key for client-side storage: its N ternary coefficients at 2 bits each
  /// (0 → 0, 1 → 1, −1 → 3). Never send these bytes anywhere.
  public func serialized() -> [UInt8] {
    let n = parameters.degree
    // Recover the coefficients from the first prime (they are in {−1, 0, 1}).
    var coefficients = [UInt64](repeating: 0, count: n)
    let q = parameters.keyBasis.moduli[0]
    withLimb(0) { s in
      for j in 0..<n { coefficients[j] = s[j] }
    }
    coefficients.withUnsafeMutableBufferPointer { parameters.keyBasis.nttTables[0].inverse($0.baseAddress!) }
    for j in 0..<n {
      let c = coefficients[j]
      precondition(c <= 1 || c == q.value - 1, "secret key coefficients must be ternary")
      coefficients[j] = c == q.value - 1 ? 3 : c
    }
    var writer = ByteWriter(capacity: 64 + n / 4)
    SerializationFormat.writeHeader(&writer, type: .secretKey, flags: 0, fingerprint: parameters.keyFingerprint)
    coefficients.withUnsafeBufferPointer { writer.writePacked($0, bits: 2) }
    coefficients.withUnsafeMutableBytes { secureZero($0) }
    return writer.bytes
  }

  /// Loads a secret key stored by ``serialized()``.
  /// - Throws: ``SerializationError`` naming the first failed check; nothing large is allocated
  ///   before the header and sizes are checked.
  public convenience init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws(SerializationError) {
    var reader = ByteReader(bytes)
    let (flags, fingerprint) = try SerializationFormat.readHeader(&reader, type: .secretKey)
    guard flags == 0 else { throw .invalidField("unknown flags \(flags)") }
    guard fingerprint == parameters.keyFingerprint else { throw .unknownFingerprint }
    let n = parameters.degree
    try SerializationFormat.checkExactSize(reader, remainingBytes: ByteReader.packedSize(count: n, bits: 2))
    var codes = [UInt64](repeating: 0, count: n)
    try codes.withUnsafeMutableBufferPointer { (buffer) throws(SerializationError) in
      try reader.readPacked(into: buffer.baseAddress!, count: n, bits: 2, shift: 0, bound: 4, polynomial: 0, prime: 0)
    }
    var values = [Int64](repeating: 0, count: n)
    for j in 0..<n {
      guard codes[j] != 2 else { throw .invalidField("secret key coefficient code 2") }
      values[j] = codes[j] == 3 ? -1 : Int64(codes[j])
    }
    let polynomial = RNSPolynomial<Coefficient>(basis: parameters.keyBasis, signedCoefficients: values).forwardNTT()
    codes.withUnsafeMutableBytes { secureZero($0) }
    values.withUnsafeMutableBytes { secureZero($0) }
    self.init(parameters: parameters, polynomial: polynomial)
  }
}
