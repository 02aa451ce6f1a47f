import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Linear transformations (baby-step/giant-step diagonal method)")
struct LinearTransformationTests {
  typealias Context = EvaluatorTests.Context

  static func matrix(rows: Int, columns: Int, seed: UInt64) -> [[Double]] {
    var rng = SplitMix64(seed: seed)
    return (0..<rows).map { _ in (0..<columns).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 } }
  }

  /// `v` repeated across all slots (period `n`).
  static func periodic(_ v: [Double], period n: Int, slots: Int) -> [Double] {
    (0..<slots).map { t in t % n < v.count ? v[t % n] : 0 }
  }

  /// Applies `transformation` to v (written with the input period), rescales (after the call, or
  /// inside it before the folds with `rescaling`), decrypts; returns every copy of the output period.
  static func run(
    _ transformation: LinearTransformation, _ v: [Double], context: Context, keys: GaloisKeys, rescaling: Bool = false
  ) throws -> [[Double]] {
    let input = try context.encryptor.encrypt(
      context.encoder.encode(periodic(v, period: transformation.inputPeriod, slots: context.parameters.slotCount)),
      using: context.generator)
    let output =
      rescaling
      ? try transformation.apply(input, evaluator: context.evaluator, keys: keys, rescaling: true)
      : try context.evaluator.rescale(transformation.apply(input, evaluator: context.evaluator, keys: keys))
    #expect(output.level == input.level - 1)
    #expect(Evaluator.isSameScale(output.scale, input.scale))
    let slots = try context.decrypt(output)
    let r = transformation.outputPeriod
    return stride(from: 0, to: slots.count, by: r).map { Array(slots[$0..<($0 + r)]) }
  }

  static func product(_ m: [[Double]], _ v: [Double]) -> [Double] {
    m.map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
  }

  /// N = 4096 with one 30-bit prime to rescale away and a key-switching prime (102 bits in all).
  static let small = ParameterDescription(
    degree: 4096, ciphertextPrimeBits: [36, 30], specialPrimeBits: [36], defaultScale: 0x1p30)

  static func keys(_ transformation: LinearTransformation, _ context: Context) throws -> GaloisKeys {
    try KeyGenerator.galoisKeys(
      secretKey: context.secretKey,
      elements: transformation.galoisElements.map { try GaloisElement($0, degree: context.parameters.degree) },
      using: context.generator)
  }

  @Test("A 64 × 256 matrix by 64 extended diagonals: float64 in every copy, 16 rotations, 10 keys")
  func rectangular() throws {
    let context = try Context(Self.small)
    let m = Self.matrix(rows: 64, columns: 256, seed: 1)
    var rng = SplitMix64(seed: 2)
    let v = (0..<256).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 }
    let q = Double(context.parameters.ciphertextModuli[1])
    let transformation = try LinearTransformation(matrix: m, encoder: context.encoder, scale: q, level: 1)
    #expect(transformation.inputPeriod == 256 && transformation.outputPeriod == 64)
    // 64 dense extended diagonals: 7 baby steps, 7 giant steps by 8 (one key), folds by 64 and 128.
    #expect(transformation.babySteps == 8)
    #expect(transformation.galoisElements.count == 7 + 1 + 2)
    // Seven baby-step rotations against eight giant steps: each rotation finished on its own.
    #expect(!transformation.doubleHoisted)
    // Rescaled after the call, or before the folds (which then rotate at level 0).
    for rescaling in [false, true] {
      let copies = try Self.run(
        transformation, v, context: context, keys: try Self.keys(transformation, context), rescaling: rescaling)
      #expect(copies.count == 2048 / 64)
      // Sums of 256 products reach about ±16; at Δ = 2^30 that leaves 10 bits after the point
      // (a misplaced diagonal would be wrong in the units).
      let expected = Self.product(m, v)
      for copy in copies { #expect(Precision.bits(copy, expected) > 10, "rescaling \(rescaling)") }
    }
  }

  @Test("Interleaved batches and several inputs: Σ_m M_m·v_m for every vector of a batch, float64")
  func interleavedInputs() throws {
    let context = try Context(Self.small)
    // Two inputs, each holding 32 interleaved vectors of 32 entries (entry i of vector j at slot
    // i·32 + j); the 16 × 64 matrix's two 16 × 32 blocks act on them and the products add up.
    let (b, rows, columns, inputs) = (32, 16, 32, 2)
    let m = Self.matrix(rows: rows, columns: columns * inputs, seed: 7)
    let q = Double(context.parameters.ciphertextModuli[1])
    let transformation = try LinearTransformation(
      matrix: m, encoder: context.encoder, scale: q, level: 1, interleaving: b, inputs: inputs)
    #expect(transformation.inputPeriod == 32 && transformation.outputPeriod == 16 && transformation.inputCount == 2)
    // Six baby-step rotations against four giant steps: the double-hoisted form.
    #expect(transformation.doubleHoisted)
    // Every rotation is a multiple of the interleaving.
    let degree = context.parameters.degree
    let strided = (1..<(2048 / b)).map { GaloisElement.rotation(by: $0 * b, degree: degree).value }
    #expect(Set(transformation.galoisElements).isSubset(of: strided))
    var rng = SplitMix64(seed: 8)
    let vectors = (0..<inputs).map { _ in
      (0..<b).map { _ in (0..<columns).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 } }
    }
    let ciphertexts = try vectors.map { batch in
      let slots = (0..<context.parameters.slotCount).map { t in batch[t % b][(t / b) % columns] }
      return try context.encryptor.encrypt(context.encoder.encode(slots), using: context.generator)
    }
    let keys = try Self.keys(transformation, context)
    let output = try context.evaluator.rescale(
      transformation.apply(ciphertexts, evaluator: context.evaluator, keys: keys))
    let slots = try context.decrypt(output)
    for j in 0..<b {
      let expected = (0..<rows).map { row in
        (0..<inputs).reduce(0.0) { sum, input in
          sum + (0..<columns).reduce(0.0) { $0 + m[row][input * columns + $1] * vectors[input][j][$1] }
        }
      }
      // Vector j's output entry i at slot i·b + j, repeated with period 16·b.
      let copies = stride(from: 0, to: slots.count, by: rows * b).map { start in
        (0..<rows).map { slots[start + $0 * b + j] }
      }
      for copy in copies { #expect(Precision.bits(copy, expected) > 10, "vector \(j)") }
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("1 inputs for a transformation of 2")) {
      try transformation.apply(ciphertexts[0], evaluator: context.evaluator, keys: keys)
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("65 columns do not split into 2 inputs")) {
      _ = try LinearTransformation(
        matrix: Self.matrix(rows: 2, columns: 65, seed: 9), encoder: context.encoder, scale: q, level: 1, inputs: 2)
    }
    #expect(
      throws: EvaluationError.invalidLinearTransformation(
        "a 16 × 32 matrix on 128 interleaved vectors does not fit 2048 slots")
    ) {
      _ = try LinearTransformation(
        matrix: Self.matrix(rows: 16, columns: 32, seed: 9), encoder: context.encoder, scale: q, level: 1,
        interleaving: 128)
    }
  }

  @Test("Every baby-step choice gives the same product")
  func babyStepChoices() throws {
    let context = try Context(Self.small)
    let m = Self.matrix(rows: 16, columns: 16, seed: 4)
    let v = (0..<16).map { Double($0) / 16 - 0.5 }
    let q = Double(context.parameters.ciphertextModuli[1])
    let keys = try KeyGenerator.galoisKeys(
      secretKey: context.secretKey, rotationSteps: Array(1..<16), using: context.generator)
    for babySteps in [1, 2, 4, 16] {
      let transformation = try LinearTransformation(
        matrix: m, encoder: context.encoder, scale: q, level: 1, babySteps: babySteps)
      #expect(transformation.galoisElements.count == (babySteps - 1) + (babySteps < 16 ? 1 : 0))
      // Both forms: 15 baby-step rotations for one giant step are double hoisted, the rest not.
      #expect(transformation.doubleHoisted == (babySteps == 16))
      let copies = try Self.run(transformation, v, context: context, keys: keys)
      #expect(Precision.bits(copies[3], Self.product(m, v)) > 12, "baby steps \(babySteps)")
    }
    // A tall 32 × 8 matrix: 8 extended diagonals over a period-8 input, the output with period 32.
    let tall = Self.matrix(rows: 32, columns: 8, seed: 6)
    let transformation = try LinearTransformation(matrix: tall, encoder: context.encoder, scale: q, level: 1)
    #expect(transformation.inputPeriod == 8 && transformation.outputPeriod == 32)
    let w = (0..<8).map { Double($0) / 8 - 0.5 }
    let copies = try Self.run(transformation, w, context: context, keys: keys)
    #expect(Precision.bits(copies[2], Self.product(tall, w)) > 12)
  }

  @Test("Power-of-two keys: baby steps composed of rotations by 1, 2, 4, …; the same product with fewer keys")
  func powerOfTwoKeys() throws {
    let context = try Context(Self.small)
    let degree = context.parameters.degree
    let q = Double(context.parameters.ciphertextModuli[1])
    // 64 × 256 with 16 baby steps (15 keys one per step) and a 32 × 32 interleaved by 4 (keys by
    // multiples of 4): with power-of-two keys, only rotations by 2^k (times the interleaving).
    var rng = SplitMix64(seed: 11)
    for (rows, columns, b) in [(64, 256, 1), (32, 32, 4)] {
      let m = Self.matrix(rows: rows, columns: columns, seed: UInt64(rows))
      let perStep = try LinearTransformation(
        matrix: m, encoder: context.encoder, scale: q, level: 1, babySteps: 16, interleaving: b)
      let composed = try LinearTransformation(
        matrix: m, encoder: context.encoder, scale: q, level: 1, babySteps: 16, interleaving: b,
        rotationKeys: .powersOfTwo)
      let powers = (0..<11).map { GaloisElement.rotation(by: (1 << $0) * b, degree: degree).value }
      #expect(Set(composed.galoisElements).isSubset(of: powers))
      #expect(!Set(perStep.galoisElements).isSubset(of: powers))
      // 1, 2, 4, 8 for the baby steps, 16 for the giant steps, and the folds.
      #expect(composed.galoisElements.count == 5 + perStep.galoisElements.count - 16)
      #expect(!composed.doubleHoisted)
      // Planned without encoding: the same keys and cost.
      for transformation in [perStep, composed] {
        #expect(
          try LinearTransformation.plan(
            matrix: m, parameters: context.parameters, babySteps: 16, interleaving: b,
            rotationKeys: transformation.rotationKeys) == transformation.plan)
      }
      let vectors = (0..<b).map { _ in (0..<columns).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 } }
      let slots = (0..<context.parameters.slotCount).map { t in vectors[t % b][(t / b) % columns] }
      let input = try context.encryptor.encrypt(context.encoder.encode(slots), using: context.generator)
      for transformation in [perStep, composed] {
        let keys = try Self.keys(transformation, context)
        let output = try context.evaluator.rescale(
          transformation.apply(input, evaluator: context.evaluator, keys: keys))
        let decrypted = try context.decrypt(output)
        for j in 0..<b {
          let expected = Self.product(m, vectors[j])
          #expect(Precision.bits((0..<rows).map { decrypted[$0 * b + j] }, expected) > 10, "\(rows) × \(columns)")
        }
      }
    }
    #expect(
      LinearTransformation.composition(of: [0, 5, 7]).map { [$0.child, $0.parent] } == [
        [1, 0], [3, 1], [5, 1], [7, 3],
      ])
  }

  @Test(
    "Rotated copies: an input holding its own baby steps needs no baby-step rotation and one product per giant step")
  func rotatedCopies() throws {
    let context = try Context(Self.small)
    let degree = context.parameters.degree
    let q = Double(context.parameters.ciphertextModuli[1])
    // 2048 slots, a 64 × 256 matrix: 8 copies of v, copy t rotated left by t entries; g = 8,
    // 64 diagonals in 8 giant steps, then the copies and the 256 → 64 blocks folded.
    let m = Self.matrix(rows: 64, columns: 256, seed: 21)
    var rng = SplitMix64(seed: 22)
    let v = (0..<256).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 }
    let transformation = try LinearTransformation(
      matrix: m, encoder: context.encoder, scale: q, level: 1, rotatedCopies: true)
    #expect(transformation.babySteps == 8 && transformation.plan.productCount == 8)
    #expect(transformation.babyStepsUsed == [[0]])
    // Keys: the giant step 8 and the folds 64, 128, …, 1024.
    let expected = [8, 64, 128, 256, 512, 1024].map { GaloisElement.rotation(by: $0, degree: degree).value }
    #expect(transformation.galoisElements == expected.sorted())
    #expect(
      try LinearTransformation.plan(matrix: m, parameters: context.parameters, rotatedCopies: true)
        == transformation.plan)
    let slots = (0..<2048).map { s in v[(s % 256 + s / 256) % 256] }
    let input = try context.encryptor.encrypt(context.encoder.encode(slots), using: context.generator)
    let output = try context.evaluator.rescale(
      transformation.apply(input, evaluator: context.evaluator, keys: try Self.keys(transformation, context)))
    let decrypted = try context.decrypt(output)
    // The product in every 64-slot copy.
    for start in stride(from: 0, to: 2048, by: 512) {
      #expect(Precision.bits(Array(decrypted[start..<(start + 64)]), Self.product(m, v)) > 10)
    }
    #expect(throws: EvaluationError.self) {
      _ = try LinearTransformation(
        matrix: Self.matrix(rows: 64, columns: 16, seed: 3), encoder: context.encoder, scale: q, level: 1,
        rotatedCopies: true)
    }
  }

  @Test("Zero diagonals cost nothing: a diagonal matrix needs no rotation, a band only its offsets")
  func sparse() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let q = Double(context.parameters.ciphertextModuli[2])
    let diagonal = (0..<8).map { i in (0..<8).map { j in i == j ? Double(i + 1) : 0 } }
    let identity = try LinearTransformation(matrix: diagonal, encoder: context.encoder, scale: q, level: 2)
    #expect(identity.galoisElements.isEmpty)
    let v = (0..<8).map { Double($0) / 8 }
    let copies = try Self.run(identity, v, context: context, keys: GaloisKeys(keys: [:]))
    #expect(Precision.bits(copies[5], v.enumerated().map { Double($0.offset + 1) * $0.element }) > 14)
    // A cyclic band: diagonals 0 and 1 only, so one baby step and no giant step.
    let band = (0..<8).map { i in (0..<8).map { j in j == i ? 1.0 : (j == (i + 1) % 8 ? -0.5 : 0) } }
    let banded = try LinearTransformation(matrix: band, encoder: context.encoder, scale: q, level: 2, babySteps: 2)
    #expect(banded.galoisElements == [GaloisElement.rotation(by: 1, degree: 8192).value])
    let keys = try KeyGenerator.galoisKeys(secretKey: context.secretKey, rotationSteps: [1], using: context.generator)
    let result = try Self.run(banded, v, context: context, keys: keys)
    #expect(Precision.bits(result[0], Self.product(band, v)) > 14)
    // Strided diagonals (0 and 8 of 16, as a convolution's): a hoisted baby step by 8 costs less
    // than a giant step by 8, so the default takes all 16 as baby steps: one rotation by 8.
    var strided = [[Double]](repeating: [Double](repeating: 0, count: 16), count: 16)
    for i in 0..<16 {
      strided[i][i] = 1
      strided[i][(i + 8) % 16] = Double(i) / 16
    }
    let convolution = try LinearTransformation(matrix: strided, encoder: context.encoder, scale: q, level: 2)
    #expect(convolution.babySteps == 16)
    #expect(convolution.galoisElements == [GaloisElement.rotation(by: 8, degree: 8192).value])
    let eight = try KeyGenerator.galoisKeys(secretKey: context.secretKey, rotationSteps: [8], using: context.generator)
    let w = (0..<16).map { Double($0) / 16 }
    #expect(
      Precision.bits(try Self.run(convolution, w, context: context, keys: eight)[1], Self.product(strided, w)) > 14
    )
  }

  @Test("Bad matrices, steps, levels and missing keys are refused with the reason")
  func refusals() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    func build(_ m: [[Double]], babySteps: Int? = nil) throws {
      _ = try LinearTransformation(matrix: m, encoder: context.encoder, scale: 0x1p40, level: 2, babySteps: babySteps)
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("the matrix must be non-empty and rectangular")) {
      try build([[1, 2], [3]])
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("the matrix must be finite")) {
      try build([[1, .nan]])
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("a 1 × 4097 matrix does not fit 4096 slots")) {
      try build([[Double](repeating: 1, count: 4097)])
    }
    #expect(throws: EvaluationError.invalidBabySteps(3, maximum: 4)) {
      try build(Self.matrix(rows: 4, columns: 4, seed: 5), babySteps: 3)
    }
    #expect(throws: EvaluationError.invalidLinearTransformation("the matrix is zero")) {
      try build([[0, 0], [0, 0]])
    }
    let transformation = try LinearTransformation(
      matrix: Self.matrix(rows: 4, columns: 4, seed: 3), encoder: context.encoder, scale: 0x1p40, level: 2)
    let low = try context.encrypt([1, 2, 3, 4], level: 1)
    #expect(throws: EvaluationError.levelMismatch(1, 2)) {
      try transformation.apply(low, evaluator: context.evaluator, keys: GaloisKeys(keys: [:]))
    }
    #expect(throws: EvaluationError.self) {
      try transformation.apply(
        try context.encrypt([1, 2, 3, 4]), evaluator: context.evaluator, keys: GaloisKeys(keys: [:]))
    }
  }
}
