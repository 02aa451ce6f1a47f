import Foundation
import TestSupport
import Testing

@testable import CKKS

@Suite("CKKS encoder")
struct EncoderTests {
  struct EncoderCase: Decodable {
    let degree: Int
    let bitSizes: [Int]
    let level: Int
    let primes: [UInt64]
    let scaleExponent: Int
    let valueCount: Int
    let complex: Bool
    let ntt: [[UInt64]]?
    let nttDigests: [UInt64]?
    let nttHeads: [[UInt64]]?
  }
  struct EncoderFile: Decodable { let cases: [EncoderCase] }

  /// The generator's slot values (exact in binary64 in Python and Swift).
  static func input(_ i: Int, imaginary: Bool = false) -> Double {
    imaginary ? Double((i * 104_729) % 3001 - 1500) / 53.0 : Double((i * 7919) % 2001 - 1000) / 37.0
  }

  static func parameters(degree: Int, bitSizes: [Int], scale: Double = 0x1p40) throws -> CKKSParameters {
    try CKKSParameters(
      ParameterDescription(
        degree: degree, ciphertextPrimeBits: Array(bitSizes.dropLast()), specialPrimeBits: [bitSizes.last!],
        defaultScale: scale, security: degree < 1024 ? .insecureForTestingOnly : .classical128))
  }

  @Test("Encoding equals SEAL's CKKSEncoder output bit for bit")
  func sealEncoder() throws {
    let cases = try Fixtures.load("seal_encoder", as: EncoderFile.self).cases
    #expect(cases.count >= 8)
    for c in cases {
      let encoder = CKKSEncoder(parameters: try Self.parameters(degree: c.degree, bitSizes: c.bitSizes))
      let scale = Double(sign: .plus, exponent: c.scaleExponent, significand: 1)
      let plaintext: Plaintext
      if c.complex {
        let values = (0..<c.valueCount).map { ComplexNumber(Self.input($0), Self.input($0, imaginary: true)) }
        plaintext = try encoder.encode(complex: values, scale: scale, level: c.level)
      } else {
        plaintext = try encoder.encode((0..<c.valueCount).map { Self.input($0) }, scale: scale, level: c.level)
      }
      #expect(plaintext.polynomial.basis.moduli.map(\.value) == c.primes)
      #expect(plaintext.scale == scale)
      for i in 0..<c.primes.count {
        let row = plaintext.polynomial.limb(i)
        if let full = c.ntt {
          #expect(Array(row) == full[i], "N=\(c.degree) prime \(i)")
        } else {
          #expect(
            Fixtures.digest(row) == c.nttDigests![i],
            "N=\(c.degree) 2^\(c.scaleExponent) complex=\(c.complex) prime \(i)")
          #expect(Array(row.prefix(8)) == c.nttHeads![i])
        }
      }
    }
  }

  /// Bits of precision: -log2(max |decoded - expected|).
  @Test("Round trips keep the precision the scale allows on every preset")
  func roundTrips() throws {
    for (name, description) in ParameterDescription.presets {
      let parameters = try CKKSParameters(description)
      let encoder = CKKSEncoder(parameters: parameters)
      var rng = SplitMix64(seed: UInt64(parameters.degree))
      let values = (0..<parameters.slotCount).map { _ in Double(rng.next() % 2_000_001) / 1_000_000 - 1 }
      for level in 0...parameters.maximumLevel {
        let plaintext = try encoder.encode(values, level: level)
        let bits = Precision.bits(encoder.decode(plaintext), values)
        // Rounding to integers costs about log2(Δ) - log2(N)/2 bits; demand a margin below that.
        let expectedBits =
          Double(parameters.defaultScale.exponent) - Double(parameters.degree.trailingZeroBitCount) / 2 - 4
        #expect(bits >= expectedBits, "\(name) level \(level): \(bits) bits")
      }
      let complexValues = values.map { ComplexNumber($0, -$0 / 2) }
      let decoded = encoder.decodeComplex(try encoder.encode(complex: complexValues))
      #expect(Precision.bits(decoded.map(\.imaginary), values.map { -$0 / 2 }) > 20)
      let constant = encoder.decode(try encoder.encode(constant: -3.25))
      #expect(constant.allSatisfy { abs($0 + 3.25) < 1e-9 })
    }
  }

  @Test("Coefficient encoding round trips and carries inner products in coefficient 0")
  func coefficientEncoding() throws {
    let parameters = try CKKSParameters(.n4096_logq_60_46)
    let encoder = CKKSEncoder(parameters: parameters)
    let x = (0..<8).map { Double($0 + 1) / 10 }
    let w = [0.15, -0.08, 0.11, 0.07, -0.12, 0.09, 0.05, -0.04]
    let encodedX = try encoder.encodeCoefficients(x, scale: 0x1p30)
    #expect(Precision.bits(Array(encoder.decodeCoefficients(encodedX).prefix(8)), x) > 28)
    let encodedW = try encoder.encodeCoefficientsForInnerProduct(w, scale: 0x1p25)
    let product = Plaintext(polynomial: encodedX.polynomial * encodedW.polynomial, scale: 0x1p55)
    let expected = zip(x, w).map(*).reduce(0, +)
    #expect(abs(encoder.decodeCoefficients(product)[0] - expected) < 1e-6)
  }

  @Test("Bad input gives a clear error")
  func errors() throws {
    let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let encoder = CKKSEncoder(parameters: parameters)
    #expect(throws: EncodingError.tooManyValues(count: 4097, capacity: 4096)) {
      try encoder.encode([Double](repeating: 1, count: 4097))
    }
    #expect(throws: EncodingError.nonFiniteValue(index: 2)) { try encoder.encode([1, 2, .nan]) }
    #expect(throws: EncodingError.nonFiniteValue(index: 0)) { try encoder.encode(constant: .infinity) }
    #expect(throws: EncodingError.levelOutOfRange(3, maximum: 2)) { try encoder.encode([1], level: 3) }
    #expect(throws: EncodingError.invalidScale(0x1p100, modulusBits: 60)) {
      try encoder.encode([1], scale: 0x1p100, level: 0)
    }
    #expect(throws: EncodingError.invalidScale(-1, modulusBits: 140)) { try encoder.encode([1], scale: -1) }
    // A constant 2^30 at scale 2^40 is the coefficient 2^70: fine at the top level (140 bits),
    // too large at level 0 (60 bits).
    #expect(throws: EncodingError.valuesTooLarge(bits: 70, modulusBits: 60)) {
      try encoder.encode(constant: 0x1p30, scale: 0x1p40, level: 0)
    }
    let large = try encoder.encode(constant: 0x1p30, scale: 0x1p40)
    #expect(abs(encoder.decode(large)[17] - 0x1p30) < 1e-3)
    let message = EncodingError.valuesTooLarge(bits: 70, modulusBits: 60).description
    #expect(message.contains("70") && message.contains("60"))
  }
}
