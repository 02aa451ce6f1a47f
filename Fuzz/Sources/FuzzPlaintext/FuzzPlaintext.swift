import CKKS
import FuzzSupport

/// Plaintexts in our format and SEAL's.
@_cdecl("FuzzPlaintext_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    let parameters = fuzzParameters
    let encoder = CKKSEncoder(parameters: parameters)
    return (0...1).flatMap { level -> [[UInt8]] in
      let plaintext = try! encoder.encode([0.25, -4, 8], level: level)
      return [plaintext.serialized(parameters: parameters), plaintext.sealBytes(parameters: parameters)]
    }
  } test: { bytes in
    let parameters = fuzzParameters
    if let plaintext = try? Plaintext(deserializing: bytes, parameters: parameters) {
      precondition(
        (try? Plaintext(deserializing: plaintext.serialized(parameters: parameters), parameters: parameters)) != nil)
    }
    _ = try? Plaintext(sealBytes: bytes, parameters: parameters)
  }
}
