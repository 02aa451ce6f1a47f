import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Evaluator")
struct EvaluatorTests {
  /// Everything a test needs for one parameter set, with deterministic randomness.
  struct Context {
    let parameters: CKKSParameters
    let encoder: CKKSEncoder
    let secretKey: SecretKey
    let encryptor: Encryptor
    let decryptor: Decryptor
    let evaluator: Evaluator
    let generator: SecureRandomGenerator

    init(_ description: ParameterDescription) throws {
      parameters = try CKKSParameters(description)
      encoder = CKKSEncoder(parameters: parameters)
      generator = try SecureRandomGenerator(
        seed: [UInt8](repeating: 9, count: 32), domain: SecureRandomGenerator.defaultDomain)
      secretKey = KeyGenerator.secretKey(parameters: parameters, using: generator)
      encryptor = Encryptor(publicKey: KeyGenerator.publicKey(secretKey: secretKey, using: generator))
      decryptor = Decryptor(secretKey: secretKey)
      evaluator = Evaluator(parameters: parameters)
    }

    func encrypt(_ values: [Double], level: Int? = nil) throws -> Ciphertext {
      try encryptor.encrypt(encoder.encode(values, level: level), using: generator)
    }

    func decrypt(_ ciphertext: Ciphertext) throws -> [Double] {
      encoder.decode(try decryptor.decrypt(ciphertext))
    }

    func randomValues(seed: UInt64) -> [Double] {
      var rng = SplitMix64(seed: seed)
      return (0..<parameters.slotCount).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 }
    }
  }

  /// Bits of precision: -log2(max |decoded - expected|).
  @Test("Additions, negation and plaintext operations keep full precision")
  func linearOperations() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let x = context.randomValues(seed: 1)
    let y = context.randomValues(seed: 2)
    let a = try context.encrypt(x)
    let b = try context.encrypt(y)
    let evaluator = context.evaluator
    #expect(Precision.bits(try context.decrypt(try evaluator.add(a, b)), zip(x, y).map(+)) > 20)
    #expect(Precision.bits(try context.decrypt(try evaluator.subtract(a, b)), zip(x, y).map(-)) > 20)
    #expect(Precision.bits(try context.decrypt(try evaluator.negate(a)), x.map { -$0 }) > 20)
    let plain = try context.encoder.encode(y)
    #expect(Precision.bits(try context.decrypt(try evaluator.add(a, plain)), zip(x, y).map(+)) > 20)
    #expect(Precision.bits(try context.decrypt(try evaluator.subtract(a, plain)), zip(x, y).map(-)) > 20)
    let product = try evaluator.rescale(try evaluator.multiply(a, plain))
    #expect(product.level == a.level - 1)
    #expect(Precision.bits(try context.decrypt(product), zip(x, y).map(*)) > 18)
  }

  @Test("Ciphertext multiplication, relinearization and rescale on every preset with keys")
  func multiplication() throws {
    for description in [
      ParameterDescription.n8192_logq_60_40_40_logp_60, .n16384_logq_60_6x40_logp_60,
      .n16384_logq_60_6x40_logp_60_60_dnum3,
    ] {
      let context = try Context(description)
      let relinearization = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
      let x = context.randomValues(seed: 3)
      var expected = x
      var ciphertext = try context.encrypt(x)
      // Square repeatedly down to level 0: depth = number of rescaling primes.
      for _ in 0..<context.parameters.maximumLevel {
        let product = try context.evaluator.multiply(ciphertext, ciphertext)
        #expect(product.size == 3)
        // The size-3 ciphertext already decrypts correctly.
        expected = expected.map { $0 * $0 }
        #expect(Precision.bits(try context.decrypt(try context.evaluator.rescale(product)), expected) > 14)
        ciphertext = try context.evaluator.rescale(try context.evaluator.relinearize(product, key: relinearization))
        #expect(ciphertext.size == 2)
        let bits = Precision.bits(try context.decrypt(ciphertext), expected)
        #expect(bits > 14, "N=\(context.parameters.degree) level \(ciphertext.level): \(bits) bits")
      }
      #expect(ciphertext.level == 0)
      #expect(throws: EvaluationError.levelExhausted) { try context.evaluator.rescale(ciphertext) }
    }
  }

  @Test("Rotations move slots exactly as SEAL's rotate_vector; conjugation conjugates")
  func rotations() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let slots = context.parameters.slotCount
    let keys = try KeyGenerator.galoisKeys(
      secretKey: context.secretKey, rotationSteps: [1, -1, 5, 1000], conjugation: true, using: context.generator)
    let x = context.randomValues(seed: 4)
    let ciphertext = try context.encrypt(x)
    for steps in [1, -1, 5, 1000] {
      let rotated = try context.evaluator.rotate(ciphertext, by: steps, keys: keys)
      // SEAL: a left rotation by r puts slot i + r in slot i. Key switching adds noise of about
      // σ·√N·q_digit/P per coefficient (×√N in the slots), ≈ 2^-20 relative to Δ = 2^40 here.
      let expected = (0..<slots).map { x[(($0 + steps) % slots + slots) % slots] }
      let bits = Precision.bits(try context.decrypt(rotated), expected)
      #expect(bits > 17, "steps \(steps): \(bits) bits")
    }
    let complexValues = x.map { ComplexNumber($0, $0 / 3) }
    let complexCiphertext = try context.encryptor.encrypt(
      context.encoder.encode(complex: complexValues), using: context.generator)
    let conjugated = context.encoder.decodeComplex(
      try context.decryptor.decrypt(try context.evaluator.conjugate(complexCiphertext, keys: keys)))
    #expect(Precision.bits(conjugated.map(\.imaginary), x.map { -$0 / 3 }) > 17)
    #expect(Precision.bits(conjugated.map(\.real), x) > 17)
    #expect(throws: EvaluationError.missingGaloisKey(element: GaloisElement.rotation(by: 2, degree: 8192).value)) {
      try context.evaluator.rotate(ciphertext, by: 2, keys: keys)
    }
    #expect(try context.evaluator.rotate(ciphertext, by: 0, keys: keys) == ciphertext)
  }

  @Test("Additions accept scales that differ by rounding only: the plaintext's or the smaller one is kept")
  func scaleTolerance() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let x = [0.5, -1.25, 3.0]
    let y = [0.25, 2.0, -1.0]
    let a = try context.encrypt(x)
    // The same exact scale reached another way (Δ·q/q is not always Δ in floating point).
    let b = try context.encryptor.encrypt(
      context.encoder.encode(y, scale: a.scale * (1 + 0x1p-45)), using: context.generator)
    #expect(b.scale != a.scale)
    let sum = try context.evaluator.add(a, b)
    #expect(sum.scale == min(a.scale, b.scale))
    #expect(try context.evaluator.add(b, a).scale == sum.scale)
    #expect(Precision.bits(try context.decrypt(sum), zip(x, y).map(+)) > 20)
    let plaintext = try context.encoder.encode(y)
    let plus = try context.evaluator.add(b, plaintext)
    #expect(plus.scale == plaintext.scale)
    #expect(try context.evaluator.subtract(b, plaintext).scale == plaintext.scale)
    #expect(Precision.bits(try context.decrypt(plus), y.map { 2 * $0 }) > 20)
    // Beyond the tolerance the scales are really different.
    let far = try context.encryptor.encrypt(
      context.encoder.encode(y, scale: a.scale * (1 + 0x1p-30)), using: context.generator)
    #expect(throws: EvaluationError.scaleMismatch(a.scale, far.scale)) { try context.evaluator.add(a, far) }
    #expect(throws: EvaluationError.self) {
      try context.evaluator.linearCombination([a, far], weights: [1, 1], constantScale: 1)
    }
    #expect(Evaluator.isSameScale(0x1p40, 0x1p40 * (1 + 0x1p-41)))
    #expect(!Evaluator.isSameScale(0x1p40, 0x1p40 * (1 + 0x1p-39)))
  }

  @Test("Known failure cases name what went wrong")
  func failures() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let a = try context.encrypt([1, 2, 3])
    let lower = try context.encrypt([1, 2, 3], level: 1)
    let otherScale = try context.encryptor.encrypt(context.encoder.encode([1], scale: 0x1p30), using: context.generator)
    #expect(throws: EvaluationError.levelMismatch(2, 1)) { try context.evaluator.add(a, lower) }
    #expect(throws: EvaluationError.scaleMismatch(0x1p40, 0x1p30)) { try context.evaluator.add(a, otherScale) }
    #expect(throws: EvaluationError.levelMismatch(2, 1)) { try context.evaluator.multiply(a, lower) }
    let size3 = try context.evaluator.multiply(a, a)
    #expect(throws: EvaluationError.notRelinearized(size: 3)) { try context.evaluator.multiply(size3, a) }
    #expect(throws: EvaluationError.alreadyRelinearized) {
      try context.evaluator.relinearize(a, key: try KeyGenerator.relinearizationKey(secretKey: context.secretKey))
    }
    #expect(try context.evaluator.dropLevel(a, to: 1).level == 1)
    #expect(throws: EvaluationError.invalidTargetLevel(3, current: 2)) { try context.evaluator.dropLevel(a, to: 3) }
    let message = EvaluationError.scaleMismatch(0x1p40, 0x1p30).description
    #expect(message.contains("2^40") && message.contains("2^30"))
    // Parameters without special primes cannot make switching keys.
    let small = try Context(.n4096_logq_60_46)
    #expect(throws: EvaluationError.keySwitchingUnavailable) {
      try KeyGenerator.relinearizationKey(secretKey: small.secretKey)
    }
    let foreign = try small.encrypt([1])
    #expect(throws: EvaluationError.parametersMismatch) { try context.evaluator.negate(foreign) }
  }
}

@Suite("Evaluator: hoisting, slot sums, inner products")
struct EvaluatorCompositeTests {
  @Test("Hoisted rotations decrypt like individual rotations")
  func hoisted() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let slots = context.parameters.slotCount
    let steps = [0, 1, 3, -2, 17]
    let keys = try KeyGenerator.galoisKeys(secretKey: context.secretKey, rotationSteps: steps, using: context.generator)
    let x = context.randomValues(seed: 8)
    let ciphertext = try context.encrypt(x)
    let rotated = try context.evaluator.rotations(ciphertext, by: steps, keys: keys)
    #expect(Set(rotated.keys) == Set(steps))
    for step in steps {
      let expected = (0..<slots).map { x[(($0 + step) % slots + slots) % slots] }
      let hoisted = try context.decrypt(try #require(rotated[step]))
      #expect(Precision.bits(hoisted, expected) > 17, "step \(step)")
      let single = try context.decrypt(try context.evaluator.rotate(ciphertext, by: step, keys: keys))
      #expect(Precision.bits(hoisted, single) > 17)
    }
    #expect(throws: EvaluationError.self) { try context.evaluator.rotations(ciphertext, by: [5], keys: keys) }
  }

  @Test("Slot sums and inner products match float64")
  func sums() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let keys = try KeyGenerator.galoisKeysForSlotSums(secretKey: context.secretKey, using: context.generator)
    #expect(keys.elements.count == 12)  // log2(4096)
    let x = context.randomValues(seed: 9).map { $0 / 64 }
    let summed = try context.decrypt(try context.evaluator.sumSlots(try context.encrypt(x), keys: keys))
    let total = x.reduce(0, +)
    #expect(summed.allSatisfy { abs($0 - total) < 1e-3 })
    let weights = context.randomValues(seed: 10)
    let product = try context.evaluator.innerProduct(
      try context.encrypt(x), weights: try context.encoder.encode(weights), keys: keys)
    #expect(product.level == context.parameters.maximumLevel - 1)
    let expected = zip(x, weights).map(*).reduce(0, +)
    #expect(try context.decrypt(product).allSatisfy { abs($0 - expected) < 1e-3 })
  }
}

@Suite("Evaluator: polynomial evaluation")
struct PolynomialEvaluationTests {
  static func evaluate(_ coefficients: [Double], at x: Double) -> Double {
    coefficients.reversed().reduce(0) { $0 * x + $1 }
  }

  @Test("Degree 1 to 3 polynomials at the depth bound, exact scale, on the N = 8192 preset")
  func lowDegree() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let key = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let x = context.randomValues(seed: 11).map { $0 * 4 }  // in [-4, 4]
    let ciphertext = try context.encrypt(x)
    // A cubic sigmoid approximation, a square, a line, and the reference model's linear activation.
    for coefficients in [[0.5, 0.197, 0, -0.004], [0, 0, 1], [0.25, -2], [0.5, 0.197]] {
      let result = try context.evaluator.evaluatePolynomial(
        ciphertext, coefficients: coefficients, relinearizationKey: key, encoder: context.encoder)
      let degree = coefficients.count - 1
      let depth = degree == 1 ? 1 : 2
      #expect(result.level == context.parameters.maximumLevel - depth)
      #expect(result.scale == ciphertext.scale)
      let expected = x.map { Self.evaluate(coefficients, at: $0) }
      let bits = Precision.bits(try context.decrypt(result), expected)
      #expect(bits > 12, "\(coefficients): \(bits) bits")
    }
  }

  @Test("Degree 7 on the N = 16384 preset uses three levels")
  func degreeSeven() throws {
    let context = try EvaluatorTests.Context(.n16384_logq_60_6x40_logp_60)
    let key = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let x = context.randomValues(seed: 12)
    let coefficients = [0.5, 0.25, 0, -0.02, 0, 0.001, 0, -0.0001]
    let result = try context.evaluator.evaluatePolynomial(
      try context.encrypt(x), coefficients: coefficients, relinearizationKey: key, encoder: context.encoder)
    #expect(result.level == context.parameters.maximumLevel - 3)
    let bits = Precision.bits(try context.decrypt(result), x.map { Self.evaluate(coefficients, at: $0) })
    #expect(bits > 12, "\(bits) bits")
  }

  @Test("Refusals: degree 0, too few levels, no key for degree ≥ 2")
  func refusals() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let ciphertext = try context.encrypt([1, 2])
    #expect(throws: EvaluationError.constantPolynomial) {
      try context.evaluator.evaluatePolynomial(
        ciphertext, coefficients: [3], relinearizationKey: nil, encoder: context.encoder)
    }
    let bottom = try context.evaluator.dropLevel(ciphertext, to: 0)
    #expect(throws: EvaluationError.levelExhausted) {
      try context.evaluator.evaluatePolynomial(
        bottom, coefficients: [0, 1], relinearizationKey: nil, encoder: context.encoder)
    }
    #expect(throws: EvaluationError.keySwitchingUnavailable) {
      try context.evaluator.evaluatePolynomial(
        ciphertext, coefficients: [0, 0, 1], relinearizationKey: nil, encoder: context.encoder)
    }
  }
}

@Suite("Evaluator: in-place forms with a reused workspace")
struct InPlaceEvaluatorTests {
  @Test("In-place relinearization and rotation agree with the allocating forms across reuse")
  func inPlace() throws {
    let context = try EvaluatorTests.Context(.n8192_logq_60_40_40_logp_60)
    let slots = context.parameters.slotCount
    let relinearization = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let keys = try KeyGenerator.galoisKeys(
      secretKey: context.secretKey, rotationSteps: [1, -3], using: context.generator)
    let workspace = EvaluatorWorkspace(parameters: context.parameters)
    var x = context.randomValues(seed: 21)
    var ciphertext = try context.encrypt(x)
    let original = ciphertext
    // Several operations through one workspace, at decreasing levels.
    for step in [1, -3, 1] {
      try context.evaluator.rotate(&ciphertext, by: step, keys: keys, workspace: workspace)
      x = (0..<slots).map { x[(($0 + step) % slots + slots) % slots] }
      #expect(Precision.bits(try context.decrypt(ciphertext), x) > 15, "rotation \(step)")
    }
    var product = try context.evaluator.multiply(ciphertext, ciphertext)
    try context.evaluator.relinearize(&product, key: relinearization, workspace: workspace)
    product = try context.evaluator.rescale(product)
    #expect(Precision.bits(try context.decrypt(product), x.map { $0 * $0 }) > 14)
    var lower = try context.evaluator.rescale(
      try context.evaluator.multiply(product, try context.encoder.encode([1], level: 1)))
    try context.evaluator.rotate(&lower, by: 1, keys: keys, workspace: workspace)
    #expect(lower.level == 0)
    // The ciphertext copied before the in-place operations still holds the original values.
    let again = try context.decrypt(original)
    #expect(Precision.bits(again, context.randomValues(seed: 21)) > 20)
  }
}

@Suite("Evaluator: key switching on several threads")
struct ParallelKeySwitchingTests {
  @Test(
    "Rotations, hoisted rotations, relinearization and linear transformations: the same ciphertexts on 1, 2 and 3 threads"
  )
  func sameResults() throws {
    // Five single-prime digits and a special prime: the digits and limbs split unevenly.
    let context = try EvaluatorTests.Context(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [40, 30, 30, 30, 30], specialPrimeBits: [40], defaultScale: 0x1p30))
    let relinearization = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let keys = try KeyGenerator.galoisKeys(
      secretKey: context.secretKey, rotationSteps: [1, 5, -7], using: context.generator)
    let input = try context.encrypt(context.randomValues(seed: 5))
    // A wide linear transformation: its giant steps' inner sums are computed side by side too.
    let matrix = LinearTransformationTests.matrix(rows: 16, columns: 64, seed: 8)
    let transformation = try LinearTransformation(
      matrix: matrix, encoder: context.encoder, scale: 0x1p30, level: input.level)
    let transformationKeys = try LinearTransformationTests.keys(transformation, context)
    func run(threads: Int) throws -> [Ciphertext] {
      let evaluator = Evaluator(parameters: context.parameters, threads: threads)
      let rotated = try evaluator.rotate(input, by: 5, keys: keys)
      let hoisted = try evaluator.rotations(input, by: [1, -7], keys: keys)
      let squared = try evaluator.multiplyRelinearize(rotated, rotated, key: relinearization)
      let lower = try evaluator.rotate(try evaluator.rescale(squared), by: 1, keys: keys)
      let product = try transformation.apply(input, evaluator: evaluator, keys: transformationKeys, rescaling: true)
      return [rotated, hoisted[1]!, hoisted[-7]!, squared, lower, product]
    }
    let sequential = try run(threads: 1)
    for threads in [2, 3] {
      let parallel = try run(threads: threads)
      for (index, (a, b)) in zip(sequential, parallel).enumerated() {
        #expect(a.polynomials == b.polynomials, "result \(index) on \(threads) threads")
      }
    }
    // And they decrypt to the rotation (the comparison above is not between two wrong results;
    // a public-key encryption at Δ = 2^30 starts with about 13 bits).
    let slots = context.parameters.slotCount
    let x = context.randomValues(seed: 5)
    #expect(Precision.bits(try context.decrypt(sequential[0]), (0..<slots).map { x[($0 + 5) % slots] }) > 10)
  }
}
