import CKKS
import FuzzSupport

/// Ciphertexts in our format (full, seeded, shrunk for decryption) and SEAL's (full, seeded).
/// Whatever loads must serialize again and load back.
@_cdecl("FuzzCiphertext_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    let parameters = fuzzParameters
    var seeds: [[UInt8]] = []
    for level in 0...1 {
      for ciphertext in fuzzCiphertexts(level: level) {
        seeds.append(ciphertext.serialized(parameters: parameters))
        seeds.append(ciphertext.sealBytes(parameters: parameters))
      }
    }
    seeds.append(try! fuzzCiphertexts(level: 1)[1].serializedForDecryption(parameters: parameters, droppedLowBits: 5))
    let plaintext = try! CKKSEncoder(parameters: parameters).encode([1, 2])
    seeds.append(try! Encryptor(secretKey: fuzzSecretKey).sealSeededBytes(encrypting: plaintext))
    return seeds
  } test: { bytes in
    let parameters = fuzzParameters
    if let ciphertext = try? Ciphertext(deserializing: bytes, parameters: parameters) {
      precondition(
        (try? Ciphertext(deserializing: ciphertext.serialized(parameters: parameters), parameters: parameters)) != nil)
    }
    if let ciphertext = try? Ciphertext(sealBytes: bytes, parameters: parameters) {
      precondition(
        (try? Ciphertext(sealBytes: ciphertext.sealBytes(parameters: parameters), parameters: parameters)) != nil)
    }
  }
}
