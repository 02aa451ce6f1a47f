import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Linear combinations")
struct LinearCombinationTests {
  static func context() throws -> EvaluatorTests.Context {
    try EvaluatorTests.Context(
      ParameterDescription(
        degree: 4096, ciphertextPrimeBits: [50, 30, 30], specialPrimeBits: [50], defaultScale: 0x1p30,
        security: .insecureForTestingOnly))
  }

  @Test("Equals the sum of plaintext-constant products exactly, and decrypts to Σ w_i x_i after the rescale")
  func matchesProductsAndFloat64() throws {
    let context = try Self.context()
    let evaluator = context.evaluator
    let weights = [0.15, -0.08, 0.11, 0.07, -0.12, 0.0, 3.5]
    let inputs = (0..<weights.count).map { context.randomValues(seed: UInt64($0 + 1)) }
    let ciphertexts = try inputs.map { try context.encrypt($0) }
    let lastPrime = Double(context.parameters.ciphertextModuli.last!)
    let combined = try evaluator.linearCombination(ciphertexts, weights: weights, constantScale: lastPrime)
    #expect(combined.scale == ciphertexts[0].scale * lastPrime)
    // The same integers as encoding each weight as a constant plaintext and multiplying.
    var reference = try evaluator.multiply(
      ciphertexts[0], try context.encoder.encode(constant: weights[0], scale: lastPrime))
    for (ciphertext, weight) in zip(ciphertexts.dropFirst(), weights.dropFirst()) {
      reference = try evaluator.add(
        reference, try evaluator.multiply(ciphertext, try context.encoder.encode(constant: weight, scale: lastPrime)))
    }
    #expect(combined.polynomials == reference.polynomials)
    let rescaled = try evaluator.rescale(combined)
    #expect(rescaled.scale == ciphertexts[0].scale)
    let decoded = try context.decrypt(rescaled)
    let expected = (0..<context.parameters.slotCount).map { j in zip(weights, inputs).reduce(0) { $0 + $1.0 * $1.1[j] }
    }
    // Public-key noise at scale 2^30 times weights up to 3.5 over seven terms: about 12 bits here.
    #expect(Precision.bits(decoded, expected) > 10)
  }

  @Test("Several rows at once equal the plaintext-constant products of each row, on one thread or two")
  func severalRows() throws {
    let context = try Self.context()
    let rows = [[0.15, -0.08, 0.11], [2.5, 0.0, -1.75], [-0.001, 0.002, 0.003]]
    let ciphertexts = try (0..<3).map { try context.encrypt(context.randomValues(seed: UInt64($0 + 10))) }
    let lastPrime = Double(context.parameters.ciphertextModuli.last!)
    for threads in [1, 2] {
      let evaluator = Evaluator(parameters: context.parameters, threads: threads)
      let combined = try evaluator.linearCombinations(ciphertexts, weights: rows, constantScale: lastPrime)
      #expect(combined.count == 3)
      for (row, sum) in zip(rows, combined) {
        var reference = try evaluator.multiply(
          ciphertexts[0], try context.encoder.encode(constant: row[0], scale: lastPrime))
        for (ciphertext, weight) in zip(ciphertexts.dropFirst(), row.dropFirst()) {
          reference = try evaluator.add(
            reference,
            try evaluator.multiply(ciphertext, try context.encoder.encode(constant: weight, scale: lastPrime)))
        }
        #expect(sum.polynomials == reference.polynomials && sum.scale == reference.scale)
      }
    }
    #expect(throws: EvaluationError.self) {
      try context.evaluator.linearCombinations(ciphertexts, weights: [], constantScale: lastPrime)
    }
    #expect(throws: EvaluationError.self) {
      try context.evaluator.linearCombinations(ciphertexts, weights: [[1, 2, 3], [1, 2]], constantScale: lastPrime)
    }
  }

  @Test("Adding a constant equals adding its encoded plaintext exactly")
  func addConstant() throws {
    let context = try Self.context()
    let evaluator = context.evaluator
    let values = context.randomValues(seed: 42)
    let ciphertext = try context.encrypt(values)
    for constant in [0.4806, -1.25, 0.0] {
      let added = try evaluator.add(ciphertext, constant: constant)
      let reference = try evaluator.add(
        ciphertext, try context.encoder.encode(constant: constant, scale: ciphertext.scale, level: ciphertext.level))
      #expect(added == reference)
      #expect(Precision.bits(try context.decrypt(added), values.map { $0 + constant }) > 10)
    }
    #expect(throws: EvaluationError.self) { try evaluator.add(ciphertext, constant: 0x1p40) }
    #expect(throws: EvaluationError.self) { try evaluator.add(ciphertext, constant: .infinity) }
  }

  @Test("Refuses mismatched counts, levels, scales and weights too large for the constant scale")
  func refusals() throws {
    let context = try Self.context()
    let evaluator = context.evaluator
    let a = try context.encrypt([0.5])
    let lower = try context.encrypt([0.5], level: 1)
    #expect(throws: EvaluationError.self) { try evaluator.linearCombination([], weights: [], constantScale: 2) }
    #expect(throws: EvaluationError.self) { try evaluator.linearCombination([a], weights: [1, 2], constantScale: 2) }
    #expect(throws: EvaluationError.levelMismatch(2, 1)) {
      try evaluator.linearCombination([a, lower], weights: [1, 2], constantScale: 2)
    }
    var scaled = a
    scaled.scale *= 2
    #expect(throws: EvaluationError.scaleMismatch(a.scale, scaled.scale)) {
      try evaluator.linearCombination([a, scaled], weights: [1, 2], constantScale: 2)
    }
    #expect(throws: EvaluationError.self) { try evaluator.linearCombination([a], weights: [.nan], constantScale: 2) }
    #expect(throws: EvaluationError.self) { try evaluator.linearCombination([a], weights: [4], constantScale: 0x1p61) }
    #expect(throws: EvaluationError.self) { try evaluator.linearCombination([a], weights: [1], constantScale: 0) }
  }
}
