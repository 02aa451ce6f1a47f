import CKKS
import FuzzSupport

/// Secret keys in our format (2-bit ternary) and SEAL's (client-side storage and tools).
@_cdecl("FuzzSecretKey_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    [fuzzSecretKey.serialized(), fuzzSecretKey.sealBytes()]
  } test: { bytes in
    if let key = try? SecretKey(deserializing: bytes, parameters: fuzzParameters) {
      precondition((try? SecretKey(deserializing: key.serialized(), parameters: fuzzParameters)) != nil)
    }
    _ = try? SecretKey(sealBytes: bytes, parameters: fuzzParameters)
  }
}
