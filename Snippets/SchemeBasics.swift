// A preset, keys, encryption, a multiplication, a rotation and decryption with the CKKS library.

// snippet.hide
import CKKS

// snippet.show
let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)  // 128-bit, Δ = 2^40, depth 2
let encoder = CKKSEncoder(parameters: parameters)
let secretKey = KeyGenerator.secretKey(parameters: parameters)
let relinearizationKey = try KeyGenerator.relinearizationKey(secretKey: secretKey)
let galoisKeys = try KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: [1])

let x = try Encryptor(secretKey: secretKey).encrypt(encoder.encode([1.5, 2, 3, 4]))
let evaluator = Evaluator(parameters: parameters)
let squared = try evaluator.rescale(evaluator.multiplyRelinearize(x, x, key: relinearizationKey))
let rotated = try evaluator.rotate(squared, by: 1, keys: galoisKeys)  // slot i ← slot i + 1

let slots = encoder.decode(try Decryptor(secretKey: secretKey).decrypt(rotated))
print(slots.prefix(3))  // ≈ [4.0, 9.0, 16.0]
// snippet.hide
precondition(
  zip(slots.prefix(3), [4.0, 9, 16]).allSatisfy { abs($0 - $1) < 1e-4 }, "wrong decryption: \(slots.prefix(3))")
