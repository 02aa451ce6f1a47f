// Development tool for scripts/generate_reference_vectors.py and scripts/generate_seal_streams.py:
// encrypts a known message deterministically with a secret key recorded from SEAL, so the
// scripts can check that SEAL decrypts our ciphertexts and loads our SEAL streams. Not part of
// the library or the gateway.
//
//   ckks-reference-tool <request.json>              → JSON on standard output
//   ckks-reference-tool seal-streams <request.json> → JSON on standard output
//
// Request: {"degree", "bitSizes", "scaleExponent", "values", "secretKey" (base64 residues),
//           "seed" (hex, 32 bytes)}. Response: {"secretKeyCiphertext", "publicKeyCiphertext"},
// each {"residues": base64 of c0 then c1, limb-major little-endian u64, "scale", "primes"}.
//
// seal-streams request: {"degree", "bitSizes", "scaleExponent", "values", "secretKey" (base64
// of SEAL's SecretKey stream), "seed" (hex, 32 bytes), "rotationSteps"}. Response: base64 SEAL
// streams written by this library, made in a fixed order from one deterministic generator (the
// Swift tests repeat it): "publicKey", "publicKeyCiphertext", "seededCiphertext", "plaintext",
// "relinKeys", "galoisKeys", "secretKey", "seededPublicKey".
import CKKS
import Foundation

/// Both modes' request; `secretKey` is base64 of residues (default mode) or of SEAL's stream
/// (seal-streams), and only seal-streams reads `rotationSteps`.
struct Request: Decodable {
  let degree: Int
  let bitSizes: [Int]
  let scaleExponent: Int
  let values: [Double]
  let secretKey: String
  let seed: String
  let rotationSteps: [Int]?
}

struct EncodedCiphertext: Encodable {
  let residues: String
  let scale: Double
  let primes: [UInt64]
}

func base64(_ words: [UInt64]) -> String {
  var bytes: [UInt8] = []
  for word in words { for b in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(b)))) } }
  return Data(bytes).base64EncodedString()
}

func words(_ base64: String) -> [UInt64] {
  let data = [UInt8](Data(base64Encoded: base64)!)
  return stride(from: 0, to: data.count, by: 8).map { offset in
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[offset + $1]) << (8 * UInt64($1)) }
  }
}

func hexBytes(_ hex: String) -> [UInt8] {
  var bytes: [UInt8] = []
  var index = hex.startIndex
  while index < hex.endIndex {
    let next = hex.index(index, offsetBy: 2)
    bytes.append(UInt8(hex[index..<next], radix: 16)!)
    index = next
  }
  return bytes
}

/// Test parameters from SEAL's bit sizes (the last is the special prime) and a power-of-two scale.
func makeParameters(degree: Int, bitSizes: [Int], scaleExponent: Int) throws -> CKKSParameters {
  try CKKSParameters(
    ParameterDescription(
      degree: degree, ciphertextPrimeBits: Array(bitSizes.dropLast()), specialPrimeBits: [bitSizes.last!],
      defaultScale: Double(sign: .plus, exponent: scaleExponent, significand: 1), security: .insecureForTestingOnly))
}

if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "seal-streams" {
  let request = try JSONDecoder().decode(
    Request.self, from: Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[2])))
  let parameters = try makeParameters(
    degree: request.degree, bitSizes: request.bitSizes, scaleExponent: request.scaleExponent)
  guard let secretKeyBytes = Data(base64Encoded: request.secretKey) else {
    FileHandle.standardError.write("secretKey is not base64\n".data(using: .utf8)!)
    exit(2)
  }
  let secretKey = try SecretKey(sealBytes: [UInt8](secretKeyBytes), parameters: parameters)
  let streams = try SEALStreamSet.make(
    secretKey: secretKey, values: request.values, seed: hexBytes(request.seed),
    rotationSteps: request.rotationSteps ?? [])
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys]
  print(String(decoding: try encoder.encode(streams.mapValues { Data($0).base64EncodedString() }), as: UTF8.self))
  exit(0)
}

guard CommandLine.arguments.count == 2 else {
  FileHandle.standardError.write("usage: ckks-reference-tool [seal-streams] <request.json>\n".data(using: .utf8)!)
  exit(2)
}
let request = try JSONDecoder().decode(
  Request.self, from: Data(contentsOf: URL(fileURLWithPath: CommandLine.arguments[1])))
let parameters = try makeParameters(
  degree: request.degree, bitSizes: request.bitSizes, scaleExponent: request.scaleExponent)
let secretKey = try SecretKey(parameters: parameters, evaluationResidues: words(request.secretKey))
let plaintext = try CKKSEncoder(parameters: parameters).encode(request.values)
let generator = try SecureRandomGenerator(seed: hexBytes(request.seed), domain: SecureRandomGenerator.defaultDomain)
let symmetric = try Encryptor(secretKey: secretKey).encrypt(plaintext, using: generator)
let publicKey = KeyGenerator.publicKey(secretKey: secretKey, using: generator)
let asymmetric = try Encryptor(publicKey: publicKey).encrypt(plaintext, using: generator)
func encoded(_ ciphertext: Ciphertext) -> EncodedCiphertext {
  EncodedCiphertext(
    residues: base64(ciphertext.polynomials.flatMap(\.residues)), scale: ciphertext.scale,
    primes: ciphertext.basis.moduli.map(\.value))
}
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
let output = try encoder.encode([
  "secretKeyCiphertext": encoded(symmetric), "publicKeyCiphertext": encoded(asymmetric),
])
print(String(decoding: output, as: UTF8.self))
