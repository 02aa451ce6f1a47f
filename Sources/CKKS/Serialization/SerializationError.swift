/// Why bytes could not be loaded. Every check runs before anything large is allocated.
public enum SerializationError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The bytes do not start with the expected magic (`CKKS` for our format, 0xA15E for SEAL's).
  case badMagic
  /// A format version this library does not read.
  case unsupportedVersion(UInt8)
  /// The bytes hold another kind of object.
  case wrongObjectType(expected: UInt8, found: UInt8)
  /// The parameter fingerprint names no level of the given parameters.
  case unknownFingerprint
  /// The declared level does not match the fingerprint's.
  case levelMismatch(declared: Int, fingerprint: Int)
  /// The byte count differs from what the header declares.
  case sizeMismatch(expected: Int, actual: Int)
  /// The scale is not finite and positive, or too large for the level.
  case invalidScale(Double)
  /// A polynomial count outside what the object allows.
  case invalidPolynomialCount(Int)
  /// A ciphertext of three polynomials cannot be written in the decryption-only form.
  case notRelinearized(polynomials: Int)
  /// A residue is not below its prime.
  case residueOutOfRange(polynomial: Int, prime: Int, index: Int)
  /// A header field has a value outside its documented range.
  case invalidField(String)
  /// A SEAL stream whose major version is not 4.
  case unsupportedSEALVersion(major: UInt8, minor: UInt8)
  /// A compressed SEAL stream (zlib = 1, zstd = 2); only uncompressed streams are read.
  case unsupportedCompression(mode: UInt8)
  /// A seeded SEAL object whose random generator is not BLAKE2Xb (SEAL's `prng_type` byte).
  case unsupportedRandomGenerator(UInt8)

  /// A sentence naming the failed check.
  public var description: String {
    switch self {
    case .badMagic: return "bad magic number: not an object of this format"
    case .unsupportedVersion(let v): return "unsupported format version \(v)"
    case .wrongObjectType(let expected, let found): return "expected object type \(expected), found \(found)"
    case .unknownFingerprint: return "the parameter fingerprint matches no level of these parameters"
    case .levelMismatch(let declared, let fingerprint):
      return "declared level \(declared) does not match the fingerprint's level \(fingerprint)"
    case .sizeMismatch(let expected, let actual): return "expected \(expected) bytes, got \(actual)"
    case .invalidScale(let scale): return "invalid scale \(scale)"
    case .invalidPolynomialCount(let count): return "invalid polynomial count \(count)"
    case .notRelinearized(let polynomials):
      return "a ciphertext of \(polynomials) polynomials has no decryption-only form: relinearize it first"
    case .residueOutOfRange(let polynomial, let prime, let index):
      return "residue \(index) of polynomial \(polynomial) is not below prime \(prime)"
    case .invalidField(let field): return "invalid field: \(field)"
    case .unsupportedSEALVersion(let major, let minor):
      return "SEAL version \(major).\(minor) is not supported (SEAL 4.x streams are read)"
    case .unsupportedCompression(let mode):
      let name = SEALFormat.CompressionMode(rawValue: mode).map(\.description) ?? "unknown mode \(mode)"
      return "compressed SEAL stream (\(name)); save with compr_mode_type.none"
    case .unsupportedRandomGenerator(let type):
      let name = type == 2 ? "shake256" : "unknown generator \(type)"
      return "seeded SEAL object expands with \(name); only blake2xb (SEAL's default) is supported"
    }
  }
}
