/// Microsoft SEAL 4.x's serialized form, read and written without SEAL. `docs/serialization.md`
/// ("SEAL streams") describes every byte; this file holds the framing shared by all objects.
///
/// Every SEAL object is a 16-byte header followed by its members; a polynomial array inside an
/// object is itself a headed SEAL object (`DynArray`). All fields are little-endian.
///
/// | bytes | field |
/// |---|---|
/// | 2 | magic `0xA15E` |
/// | 1 | header size, 16 |
/// | 1, 1 | SEAL major and minor version |
/// | 1 | compression mode: 0 none, 1 zlib, 2 zstd |
/// | 2 | reserved, 0 |
/// | 8 | total size in bytes, header included |
public enum SEALFormat {
  /// The magic number at the start of every SEAL object.
  public static let magic: UInt16 = 0xA15E
  /// Bytes of a SEAL header.
  public static let headerSize = 16

  /// The SEAL version a header names.
  public struct Version: Sendable, Hashable, CustomStringConvertible {
    /// Major version; only 4 is read.
    public var major: UInt8
    /// Minor version.
    public var minor: UInt8

    /// A version `major.minor`.
    public init(major: UInt8, minor: UInt8) {
      self.major = major
      self.minor = minor
    }

    /// 4.0, written by default. SEAL 4.x loads a header whose major version is 4 and whose minor
    /// version is not newer than its own, and the layout of CKKS objects is the same in every 4.x,
    /// so 4.0 is the one header every SEAL 4 release accepts. A server answering a SEAL client
    /// should rather echo the version of the client's own objects (see the gateway).
    public static let compatible = Version(major: 4, minor: 0)

    /// `major.minor`.
    public var description: String { "\(major).\(minor)" }
  }

  /// SEAL's compression modes; only `none` is read or written by this library.
  public enum CompressionMode: UInt8, Sendable, CustomStringConvertible {
    /// Members stored as they are (what this library reads and writes).
    case none = 0
    /// Members deflated with zlib (refused on load).
    case zlib = 1
    /// Members compressed with Zstandard (refused on load).
    case zstd = 2

    /// The mode's name as SEAL spells it.
    public var description: String {
      switch self {
      case .none: return "none"
      case .zlib: return "zlib"
      case .zstd: return "zstd"
      }
    }
  }

  /// A parsed header: the version and the object's total size (header included).
  struct Header {
    let version: Version
    let totalSize: Int
  }

  /// Bytes of the header and member of a `UniformRandomGeneratorInfo` (generator type and seed).
  static let generatorInfoSize = headerSize + 1 + SEALUniformExpansion.seedByteCount

  static func writeHeader(_ writer: inout ByteWriter, version: Version, totalSize: Int) {
    writer.write(magic)
    writer.write(UInt8(headerSize))
    writer.write(version.major)
    writer.write(version.minor)
    writer.write(CompressionMode.none.rawValue)
    writer.write(UInt16(0))
    writer.write(UInt64(totalSize))
  }

  /// Reads and checks a header: magic, header size, major version 4, no compression, reserved
  /// bytes 0, and a total size of at least a header that fits in the bytes left.
  static func readHeader(_ reader: inout ByteReader) throws(SerializationError) -> Header {
    let start = reader.offset
    guard reader.remaining >= headerSize else {
      throw .sizeMismatch(expected: start + headerSize, actual: reader.bytes.count)
    }
    guard try reader.readUInt16() == magic else { throw .badMagic }
    let declaredHeaderSize = try reader.readByte()
    guard Int(declaredHeaderSize) == headerSize else { throw .invalidField("SEAL header size \(declaredHeaderSize)") }
    let version = Version(major: try reader.readByte(), minor: try reader.readByte())
    guard version.major == 4 else { throw .unsupportedSEALVersion(major: version.major, minor: version.minor) }
    let mode = try reader.readByte()
    guard mode == CompressionMode.none.rawValue else { throw .unsupportedCompression(mode: mode) }
    guard try reader.readUInt16() == 0 else { throw .invalidField("SEAL header reserved bytes must be 0") }
    let size = try reader.readUInt64()
    let available = reader.bytes.count - start
    guard size >= UInt64(headerSize), size <= UInt64(available) else {
      // A declared size near 2^63 must not overflow the expected count reported.
      let expected = size > UInt64(Int.max - start) ? Int.max : start + Int(size)
      throw .sizeMismatch(expected: expected, actual: reader.bytes.count)
    }
    return Header(version: version, totalSize: Int(size))
  }

  /// The SEAL version named by the header at the start of `bytes`, after the header's checks
  /// (magic, header size, major version 4, no compression, reserved bytes, total size).
  /// - Throws: ``SerializationError`` naming the failed check.
  public static func version(of bytes: [UInt8]) throws(SerializationError) -> Version {
    var reader = ByteReader(bytes)
    return try readHeader(&reader).version
  }

  /// Checks that an object that started at `start` with `header` ended exactly at the reader.
  static func checkEnd(_ reader: ByteReader, start: Int, header: Header) throws(SerializationError) {
    guard reader.offset - start == header.totalSize else {
      throw .invalidField("SEAL object declares \(header.totalSize) bytes but holds \(reader.offset - start)")
    }
  }

  // MARK: Ciphertext-shaped members (ciphertexts, public keys, key-switching entries)

  /// The members of a SEAL `Ciphertext` as read: its scale and polynomials (a seeded second
  /// polynomial already expanded).
  struct CiphertextMembers {
    var scale: Double
    var polynomials: [RNSPolynomial<Evaluation>]
  }

  /// Bytes of an unseeded SEAL ciphertext of `size` polynomials over `primeCount` primes.
  static func ciphertextSize(size: Int, primeCount: Int, degree: Int) -> Int {
    headerSize + 32 + 1 + 8 + 8 + 8 + 8 + 8 + headerSize + 8 + 8 * size * primeCount * degree
  }

  /// Reads one headed SEAL ciphertext. `basisFor` names the basis of a fingerprint the caller
  /// accepts (a data level for ciphertexts, the key level for keys), or nil to refuse it.
  /// `sizes` are the polynomial counts the caller accepts. Every check runs before the residues
  /// are allocated, with the residue count bounded by the header's declared size.
  static func readCiphertext(
    _ reader: inout ByteReader, degree: Int, sizes: ClosedRange<Int>,
    basisFor: (ParameterFingerprint) -> RNSBasis?
  ) throws(SerializationError) -> CiphertextMembers {
    let start = reader.offset
    let header = try readHeader(&reader)
    var words: [UInt64] = []
    for _ in 0..<4 { words.append(try reader.readUInt64()) }
    let fingerprint = ParameterFingerprint(words: words)
    guard let basis = basisFor(fingerprint) else { throw .unknownFingerprint }
    let nttForm = try reader.readByte()
    guard nttForm == 1 else { throw .invalidField("is_ntt_form \(nttForm): CKKS ciphertexts are in NTT form") }
    let size = try reader.readUInt64()
    guard size >= UInt64(sizes.lowerBound), size <= UInt64(sizes.upperBound) else {
      throw .invalidPolynomialCount(size > 1 << 20 ? Int.max : Int(size))
    }
    let declaredDegree = try reader.readUInt64()
    guard declaredDegree == UInt64(degree) else { throw .invalidField("poly_modulus_degree \(declaredDegree)") }
    let primeCount = try reader.readUInt64()
    guard primeCount == UInt64(basis.count) else {
      throw .invalidField("coeff_modulus_size \(primeCount) does not match the parms_id (\(basis.count) primes)")
    }
    let scale = try reader.readDouble()
    guard scale.isFinite, scale > 0, Int(scale.exponent) < basis.product.bitWidth else { throw .invalidScale(scale) }
    let correction = try reader.readUInt64()
    guard correction == 1 else { throw .invalidField("correction_factor \(correction): CKKS uses 1") }
    // The polynomial array: its own header, a count, the residues (polynomial → prime → coefficient).
    let arrayStart = reader.offset
    let arrayHeader = try readHeader(&reader)
    let count = try reader.readUInt64()
    let perPolynomial = basis.count * degree
    let seeded = count == UInt64(perPolynomial) && size == 2
    guard count == UInt64(Int(size) * perPolynomial) || seeded else {
      throw .invalidField("residue count \(count), expected \(Int(size) * perPolynomial)")
    }
    let storedPolynomials = seeded ? 1 : Int(size)
    guard arrayHeader.totalSize == headerSize + 8 + 8 * Int(count) else {
      throw .invalidField("polynomial array declares \(arrayHeader.totalSize) bytes for \(count) residues")
    }
    // Bounded before allocating: the array must fit in the bytes present.
    guard reader.remaining >= 8 * Int(count) else {
      throw .sizeMismatch(expected: reader.offset + 8 * Int(count), actual: reader.bytes.count)
    }
    var polynomials: [RNSPolynomial<Evaluation>] = []
    for index in 0..<storedPolynomials {
      polynomials.append(try readResidues(&reader, basis: basis, polynomial: index))
    }
    try checkEnd(reader, start: arrayStart, header: arrayHeader)
    if seeded {
      let infoStart = reader.offset
      let infoHeader = try readHeader(&reader)
      let generator = try reader.readByte()
      let seed = try reader.readBytes(SEALUniformExpansion.seedByteCount)
      try checkEnd(reader, start: infoStart, header: infoHeader)
      polynomials.append(try SEALUniformExpansion.uniform(in: basis, generator: generator, seed: seed))
    }
    try checkEnd(reader, start: start, header: header)
    return CiphertextMembers(scale: scale, polynomials: polynomials)
  }

  /// Writes one headed SEAL ciphertext of `polynomials`, or, with a `seed`, the seeded form: the
  /// first polynomial in full and the BLAKE2Xb seed of the second (which must be that seed's
  /// expansion; it is not written).
  static func writeCiphertext(
    _ writer: inout ByteWriter, polynomials: [RNSPolynomial<Evaluation>], scale: Double,
    fingerprint: ParameterFingerprint, version: Version, seed: [UInt8]? = nil
  ) {
    precondition(seed == nil || (polynomials.count == 2 && seed?.count == SEALUniformExpansion.seedByteCount))
    let basis = polynomials[0].basis
    let stored = seed == nil ? polynomials : [polynomials[0]]
    let count = stored.count * basis.count * basis.degree
    let total =
      seed == nil
      ? ciphertextSize(size: polynomials.count, primeCount: basis.count, degree: basis.degree)
      : ciphertextSize(size: 1, primeCount: basis.count, degree: basis.degree) + generatorInfoSize
    writeHeader(&writer, version: version, totalSize: total)
    for word in fingerprint.words { writer.write(word) }
    writer.write(UInt8(1))
    writer.write(UInt64(polynomials.count))
    writer.write(UInt64(basis.degree))
    writer.write(UInt64(basis.count))
    writer.write(scale)
    writer.write(UInt64(1))
    writeHeader(&writer, version: version, totalSize: headerSize + 8 + 8 * count)
    writer.write(UInt64(count))
    for polynomial in stored { polynomial.residues.withUnsafeBufferPointer { writer.writeWords($0) } }
    if let seed {
      writeHeader(&writer, version: version, totalSize: generatorInfoSize)
      writer.write(SEALUniformExpansion.GeneratorType.blake2xb.rawValue)
      writer.write(seed)
    }
  }

  /// Reads the residues of one polynomial over `basis`, each checked below its prime.
  static func readResidues(_ reader: inout ByteReader, basis: RNSBasis, polynomial: Int) throws(SerializationError)
    -> RNSPolynomial<Evaluation>
  {
    let n = basis.degree
    var residues = [UInt64](repeating: 0, count: basis.count * n)
    try residues.withUnsafeMutableBufferPointer { (buffer) throws(SerializationError) in
      for (i, q) in basis.moduli.enumerated() {
        try reader.readWords(
          into: UnsafeMutableBufferPointer(rebasing: buffer[(i * n)..<((i + 1) * n)]), bound: q.value,
          polynomial: polynomial, prime: i)
      }
    }
    return RNSPolynomial(uncheckedBasis: basis, residues: residues)
  }
}
