import CKKS
import FuzzSupport

/// Relinearization keys in our format and SEAL's.
@_cdecl("FuzzRelinearizationKey_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    let key = try! KeyGenerator.relinearizationKey(secretKey: fuzzSecretKey)
    return [key.serialized(parameters: fuzzParameters), try! key.sealBytes(parameters: fuzzParameters)]
  } test: { bytes in
    if let key = try? RelinearizationKey(deserializing: bytes, parameters: fuzzParameters) {
      precondition(
        (try? RelinearizationKey(deserializing: key.serialized(parameters: fuzzParameters), parameters: fuzzParameters))
          != nil)
    }
    _ = try? RelinearizationKey(sealBytes: bytes, parameters: fuzzParameters)
  }
}
