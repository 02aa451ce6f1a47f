import CKKS
import FuzzSupport

/// Public keys in our format (seeded, and full) and SEAL's (full and seeded).
@_cdecl("FuzzPublicKey_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    let key = KeyGenerator.publicKey(secretKey: fuzzSecretKey)
    let full = try! PublicKey(sealBytes: key.sealBytes(), parameters: fuzzParameters)
    return [
      key.serialized(), full.serialized(), key.sealBytes(),
      KeyGenerator.sealSeededPublicKeyBytes(secretKey: fuzzSecretKey),
    ]
  } test: { bytes in
    if let key = try? PublicKey(deserializing: bytes, parameters: fuzzParameters) {
      precondition((try? PublicKey(deserializing: key.serialized(), parameters: fuzzParameters)) == key)
    }
    _ = try? PublicKey(sealBytes: bytes, parameters: fuzzParameters)
  }
}
