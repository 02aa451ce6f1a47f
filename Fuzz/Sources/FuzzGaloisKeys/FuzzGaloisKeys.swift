import CKKS
import FuzzSupport

/// Galois keys in our format and SEAL's.
@_cdecl("FuzzGaloisKeys_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    let keys = try! KeyGenerator.galoisKeys(secretKey: fuzzSecretKey, rotationSteps: [1, -2], conjugation: true)
    let one = try! KeyGenerator.galoisKeys(secretKey: fuzzSecretKey, rotationSteps: [3])
    return [
      keys.serialized(parameters: fuzzParameters), try! keys.sealBytes(parameters: fuzzParameters),
      one.serialized(parameters: fuzzParameters),
    ]
  } test: { bytes in
    if let keys = try? GaloisKeys(deserializing: bytes, parameters: fuzzParameters) {
      precondition(
        (try? GaloisKeys(deserializing: keys.serialized(parameters: fuzzParameters), parameters: fuzzParameters)) != nil
      )
    }
    _ = try? GaloisKeys(sealBytes: bytes, parameters: fuzzParameters)
  }
}
