import CKKS
import Foundation

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
  _ argc: UnsafeMutablePointer<Int32>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The one input function a harness registers (libFuzzer's callback cannot capture context).
nonisolated(unsafe) private var currentTarget: (([UInt8]) -> Void)?

/// Runs libFuzzer on `test`. Before it starts, writes `seeds()` into the corpus folder (the first
/// argument that is not a flag) when that folder is missing or empty, so every run starts from
/// valid objects. Returns libFuzzer's exit status.
public func fuzz(
  _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, seeds: () -> [[UInt8]],
  test: @escaping ([UInt8]) -> Void
) -> Int32 {
  let arguments = (0..<Int(argc)).compactMap { argv?[$0].map { String(cString: $0) } }
  if let folder = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) {
    let manager = FileManager.default
    try? manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
    if (try? manager.contentsOfDirectory(atPath: folder))?.isEmpty ?? true {
      for (index, seed) in seeds().enumerated() {
        _ = manager.createFile(atPath: "\(folder)/seed-\(index)", contents: Data(seed))
      }
    }
  }
  currentTarget = test
  var count = argc
  var values = argv
  return runDriver(&count, &values) { data, size in
    currentTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
  }
}

/// Small parameters (N = 64, two ciphertext primes and a special prime, no security) so that
/// valid objects are a few kilobytes and mutations reach every field; the decoders are the same
/// for every size.
public let fuzzParameters = try! CKKSParameters(
  ParameterDescription(
    degree: 64, ciphertextPrimeBits: [30, 20], specialPrimeBits: [30], defaultScale: 0x1p20,
    security: .insecureForTestingOnly))

/// A fixed secret key and values for the seeds (deterministic corpora).
public let fuzzSecretKey = KeyGenerator.secretKey(
  parameters: fuzzParameters,
  using: try! SecureRandomGenerator(seed: [UInt8](repeating: 7, count: 32), domain: Array("heinfer-fuzz".utf8)))

/// A fresh ciphertext of a few values at `level`, both encryption forms.
public func fuzzCiphertexts(level: Int) -> [Ciphertext] {
  let encoder = CKKSEncoder(parameters: fuzzParameters)
  let plaintext = try! encoder.encode([0.5, -1.25, 3], level: level)
  let publicKey = KeyGenerator.publicKey(secretKey: fuzzSecretKey)
  return [
    try! Encryptor(secretKey: fuzzSecretKey).encrypt(plaintext),
    try! Encryptor(publicKey: publicKey).encrypt(plaintext),
  ]
}
