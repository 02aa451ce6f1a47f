// A plaintext matrix applied to an encrypted vector: the diagonal method with baby-step/giant-step
// rotations; the transformation lists the Galois keys it needs.

// snippet.hide
import CKKS

// snippet.show
let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
let encoder = CKKSEncoder(parameters: parameters)
let secretKey = KeyGenerator.secretKey(parameters: parameters)

// A 4 × 8 matrix: the input holds v with period 8 (v repeated across the slots).
let matrix: [[Double]] = (0..<4).map { row in (0..<8).map { column in Double(row == column % 4 ? 1 : 0) / 2 } }
let transformation = try LinearTransformation(
  matrix: matrix, encoder: encoder, scale: Double(parameters.ciphertextModuli.last!), level: parameters.maximumLevel)
let keys = try KeyGenerator.galoisKeys(
  secretKey: secretKey,
  elements: transformation.galoisElements.map { try GaloisElement($0, degree: parameters.degree) })

let v: [Double] = [1, 2, 3, 4, 5, 6, 7, 8]
let input = try Encryptor(secretKey: secretKey).encrypt(
  encoder.encode((0..<parameters.slotCount).map { v[$0 % transformation.inputPeriod] }))
let evaluator = Evaluator(parameters: parameters)
let product = try transformation.apply(input, evaluator: evaluator, keys: keys, rescaling: true)

let y = encoder.decode(try Decryptor(secretKey: secretKey).decrypt(product)).prefix(4)
print(y)  // ≈ [3.0, 4.0, 5.0, 6.0]: row r sums v[r] and v[r + 4], halved
// snippet.hide
precondition(zip(y, [3.0, 4, 5, 6]).allSatisfy { abs($0 - $1) < 1e-4 }, "wrong product: \(y)")
