import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("Chebyshev series and their encrypted evaluation")
struct ChebyshevTests {
  typealias Context = EvaluatorTests.Context

  static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

  static func points(_ count: Int, in interval: ClosedRange<Double>, seed: UInt64) -> [Double] {
    var rng = SplitMix64(seed: seed)
    let (a, b) = (interval.lowerBound, interval.upperBound)
    return (0..<count).map { _ in a + (b - a) * Double(rng.next() % 1_000_001) / 1_000_000 }
  }

  @Test("Interpolation, Clenshaw, the power basis and division by T_G agree in float64")
  func series() {
    let exponential = ChebyshevSeries(interpolating: exp, degree: 12, interval: -1...1)
    for x in Self.points(50, in: -1...1, seed: 1) { #expect(abs(exponential.value(at: x) - exp(x)) < 1e-11) }
    let wide = ChebyshevSeries(interpolating: Self.sigmoid, degree: 31, interval: -8...8)
    for x in Self.points(50, in: -8...8, seed: 2) { #expect(abs(wide.value(at: x) - Self.sigmoid(x)) < 1e-3) }
    // The power basis of y and the quotient/remainder by T_8 give the same values.
    let p = ChebyshevSeries(coefficients: [0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.05, -0.15, 0.2, 0.1, -0.3, 0.07])
    let power = p.powerCoefficients()
    let (q, r) = p.divided(byChebyshev: 8)
    for y in Self.points(40, in: -1...1, seed: 3) {
      let viaPowers = power.enumerated().reduce(0.0) { $0 + $1.element * pow(y, Double($1.offset)) }
      #expect(abs(viaPowers - p.value(at: y)) < 1e-12)
      let t8 = cos(8 * acos(y))
      let viaDivision =
        ChebyshevSeries(coefficients: q).value(at: y) * t8 + ChebyshevSeries(coefficients: r).value(at: y)
      #expect(abs(viaDivision - p.value(at: y)) < 1e-12)
    }
    #expect(r.count == 8 && q.count == 4)
    #expect(Evaluator.chebyshevDepth(degree: 15, interval: -1...1) == 4)
    #expect(Evaluator.chebyshevDepth(degree: 16, interval: -1...1) == 5)
    #expect(Evaluator.chebyshevDepth(degree: 31, interval: -8...8) == 6)
  }

  /// Encrypts `xs`, evaluates `series`, checks level and scale, returns the decrypted slots.
  static func evaluate(_ series: ChebyshevSeries, _ xs: [Double], context: Context, babySteps: Int? = nil) throws
    -> [Double]
  {
    let key = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let input = try context.encrypt(xs)
    let output = try context.evaluator.evaluateChebyshev(
      input, series: series, relinearizationKey: key, encoder: context.encoder, babySteps: babySteps)
    #expect(output.level == input.level - Evaluator.chebyshevDepth(degree: series.degree, interval: series.interval))
    #expect(output.scale == input.scale)
    return Array(try context.decrypt(output).prefix(xs.count))
  }

  @Test("Degree 15 on [−1, 1] in four levels at N = 8192, for every baby-step choice")
  func degree15() throws {
    let context = try Context(
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [40, 30, 30, 30, 30], specialPrimeBits: [40], defaultScale: 0x1p30))
    let series = ChebyshevSeries(interpolating: { Self.sigmoid(4 * $0) }, degree: 15, interval: -1...1)
    let xs = Self.points(64, in: -1...1, seed: 4)
    let expected = xs.map(series.value(at:))
    for babySteps in [nil, 2, 8] {
      let decrypted = try Self.evaluate(series, xs, context: context, babySteps: babySteps)
      #expect(Precision.bits(decrypted, expected) > 12, "baby steps \(babySteps ?? 0)")
    }
  }

  @Test("Degree 31 on [−8, 8] (the sigmoid) in six levels at N = 16384")
  func degree31() throws {
    let context = try Context(.n16384_logq_60_6x40_logp_60)
    let series = ChebyshevSeries(interpolating: Self.sigmoid, degree: 31, interval: -8...8)
    let xs = Self.points(64, in: -8...8, seed: 5)
    let decrypted = try Self.evaluate(series, xs, context: context)
    #expect(Precision.bits(decrypted, xs.map(series.value(at:))) > 14)
    #expect(Precision.bits(decrypted, xs.map(Self.sigmoid)) > 9)
  }

  @Test("A constant series and too few levels are refused")
  func refusals() throws {
    let context = try Context(.n8192_logq_60_40_40_logp_60)
    let key = try KeyGenerator.relinearizationKey(secretKey: context.secretKey, using: context.generator)
    let x = try context.encrypt([0.5])
    #expect(throws: EvaluationError.constantPolynomial) {
      try context.evaluator.evaluateChebyshev(
        x, series: ChebyshevSeries(coefficients: [1, 0]), relinearizationKey: key, encoder: context.encoder)
    }
    #expect(throws: EvaluationError.invalidBabySteps(3, maximum: nil)) {
      try context.evaluator.evaluateChebyshev(
        x, series: ChebyshevSeries(coefficients: [0, 1, 1]), relinearizationKey: key, encoder: context.encoder,
        babySteps: 3)
    }
    #expect(throws: EvaluationError.levelExhausted) {
      try context.evaluator.evaluateChebyshev(
        x, series: ChebyshevSeries(coefficients: [0, 0, 0, 0, 1]), relinearizationKey: key, encoder: context.encoder)
    }
  }
}
