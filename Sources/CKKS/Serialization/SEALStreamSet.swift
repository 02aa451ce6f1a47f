/// The SEAL streams this library writes for one secret key, made in a fixed order from one
/// deterministic generator. Shared by `ckks-reference-tool seal-streams` (whose output
/// `scripts/generate_seal_streams.py` has real SEAL load and use) and the tests that check the
/// recorded results, so both make byte-identical streams. Package-internal: not library API.
package enum SEALStreamSet {
  /// Streams by name: "publicKey", "publicKeyCiphertext", "seededCiphertext", "plaintext",
  /// "relinKeys", "galoisKeys", "secretKey", "seededPublicKey". `values` are encoded at the default scale at the
  /// top level; the SEAL headers name ``SEALFormat/Version/compatible``.
  package static func make(secretKey: SecretKey, values: [Double], seed: [UInt8], rotationSteps: [Int]) throws
    -> [String: [UInt8]]
  {
    let parameters = secretKey.parameters
    let generator = try SecureRandomGenerator(seed: seed, domain: SecureRandomGenerator.defaultDomain)
    let plaintext = try CKKSEncoder(parameters: parameters).encode(values)
    let publicKey = KeyGenerator.publicKey(secretKey: secretKey, using: generator)
    let publicKeyCiphertext = try Encryptor(publicKey: publicKey).encrypt(plaintext, using: generator)
    let seeded = try Encryptor(secretKey: secretKey).sealSeededBytes(encrypting: plaintext, using: generator)
    let relinearization = try KeyGenerator.relinearizationKey(secretKey: secretKey, using: generator)
    let galois = try KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: rotationSteps, using: generator)
    let seededPublicKey = KeyGenerator.sealSeededPublicKeyBytes(secretKey: secretKey, using: generator)
    return [
      "publicKey": publicKey.sealBytes(),
      "publicKeyCiphertext": publicKeyCiphertext.sealBytes(parameters: parameters),
      "seededCiphertext": seeded,
      "plaintext": plaintext.sealBytes(parameters: parameters),
      "relinKeys": try relinearization.sealBytes(parameters: parameters),
      "galoisKeys": try galois.sealBytes(parameters: parameters),
      "secretKey": secretKey.sealBytes(),
      "seededPublicKey": seededPublicKey,
    ]
  }
}
