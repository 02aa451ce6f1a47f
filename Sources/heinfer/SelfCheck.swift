// `heinfer selfcheck`: verifies the CKKS library on this machine and prints timings.
// Exit status 0 means every check passed.
import CKKS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

struct CheckFailure: Error, CustomStringConvertible {
  let description: String
}

/// Runs one named check, printing its outcome; returns whether it passed.
func check(_ name: String, _ body: () throws -> String) -> Bool {
  do {
    let detail = try body()
    print("  ok    \(name)\(detail.isEmpty ? "" : " — \(detail)")")
    return true
  } catch {
    print("  FAIL  \(name): \(error)")
    return false
  }
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
  if !condition { throw CheckFailure(description: message()) }
}

/// Median wall-clock time of `body` in microseconds over `runs` runs.
func medianMicroseconds(runs: Int, _ body: () -> Void) -> Double {
  let clock = ContinuousClock()
  var samples: [Double] = []
  for _ in 0..<runs {
    let elapsed = clock.measure(body)
    samples.append(elapsed.seconds * 1e6)
  }
  return samples.sorted()[runs / 2]
}

/// `value` rounded to `digits` decimals, for printing.
func formatted(_ value: Double, digits: Int = 1) -> String {
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  return "\((value * scale).rounded() / scale)"
}

func selfCheck() -> Bool {
  print("CKKS library self-check")
  var passed = true
  let degree = 8192
  var basis: RNSBasis?

  passed =
    check("SEAL-compatible modulus chain for N = 8192, bit sizes [60, 40, 40, 60]") {
      let primes = try Primes.sealCoefficientModulus(degree: degree, bitSizes: [60, 40, 40, 60])
      try require(primes.allSatisfy { Primes.isPrime($0) && $0 % UInt64(2 * degree) == 1 }, "not NTT-friendly primes")
      basis = try RNSBasis(degree: degree, moduli: primes)
      return primes.map(String.init).joined(separator: ", ")
    } && passed
  guard let basis else { return false }
  let generator = SecureRandomGenerator()

  passed =
    check("NTT round trip and negacyclic product (N = 8192, 4 primes)") {
      let a = Sampler.uniform(in: basis, using: generator).inverseNTT()
      try require(a.forwardNTT().inverseNTT() == a, "inverse ∘ forward is not the identity")
      // a·X^k by NTT equals the explicit negacyclic shift.
      let k = 1234
      var monomial = [Int64](repeating: 0, count: degree)
      monomial[k] = 1
      let shifted = (a.forwardNTT() * RNSPolynomial(basis: basis, signedCoefficients: monomial).forwardNTT())
        .inverseNTT()
      for (limb, q) in basis.moduli.enumerated() {
        let row = Array(a.limb(limb))
        for j in 0..<degree {
          let expected = j >= k ? row[j - k] : q.negate(row[j - k + degree])
          try require(shifted.residues[limb * degree + j] == expected, "product mismatch at \(j)")
        }
      }
      return ""
    } && passed

  passed =
    check("Rescale equals exact round(x / q_last)") {
      let x = Sampler.uniform(in: basis, using: generator).inverseNTT()
      var rescaled = x
      rescaled.divideAndRoundByLastModulus()
      let last = basis.moduli.last!.value
      for j in stride(from: 0, to: degree, by: 97) {
        let value = x.centeredCoefficient(at: j)
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: last)
        var rounded = quotient
        if remainder * 2 > Int128(last) { rounded = rounded + MultiwordInteger(UInt64(1)) }
        if remainder * 2 < -Int128(last) { rounded = rounded - MultiwordInteger(UInt64(1)) }
        try require(rescaled.centeredCoefficient(at: j) == rounded, "coefficient \(j)")
      }
      return ""
    } && passed

  passed =
    check("Samplers: ternary secret and σ = 3.2 Gaussian error") {
      let error = Sampler.gaussian(in: basis, using: generator)
      var sumOfSquares = 0.0
      for j in 0..<degree {
        let v = error.centeredCoefficient(at: j).doubleValue
        try require(abs(v) <= 19, "error coefficient \(v) beyond the 6σ cut")
        sumOfSquares += v * v
      }
      let sigma = (sumOfSquares / Double(degree)).squareRoot()
      try require(abs(sigma - 3.2) < 0.2, "σ measured \(sigma)")
      return "measured σ = \(formatted(sigma, digits: 2))"
    } && passed

  passed =
    check("CKKS round trip: encrypt, multiply + relinearize + rescale, rotate, serialize, decrypt") {
      let parameters = try CKKSParameters(.n8192_logq_60_40_40_logp_60)
      let encoder = CKKSEncoder(parameters: parameters)
      let secretKey = KeyGenerator.secretKey(parameters: parameters)
      let relinearization = try KeyGenerator.relinearizationKey(secretKey: secretKey)
      let galois = try KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: [1])
      let evaluator = Evaluator(parameters: parameters)
      let values = (0..<parameters.slotCount).map { Double($0 % 17) / 17 - 0.5 }
      let encrypted = try Encryptor(secretKey: secretKey).encrypt(encoder.encode(values))
      let bytes = encrypted.serialized(parameters: parameters)
      let received = try Ciphertext(deserializing: bytes, parameters: parameters)
      let squared = try evaluator.rescale(evaluator.multiplyRelinearize(received, received, key: relinearization))
      let rotated = try evaluator.rotate(squared, by: 1, keys: galois)
      let decoded = encoder.decode(try Decryptor(secretKey: secretKey).decrypt(rotated))
      let slots = parameters.slotCount
      let error = (0..<slots).map { abs(decoded[$0] - values[($0 + 1) % slots] * values[($0 + 1) % slots]) }.max()!
      try require(error < 1e-4, "maximum error \(error)")
      return "\(bytes.count) bytes per seeded ciphertext, maximum error \(error)"
    } && passed

  let tables = basis.nttTables[0]
  var data = Array(Sampler.uniform(in: basis, using: generator).limb(0))
  let forward = medianMicroseconds(runs: 301) { tables.forward(inPlace: &data) }
  let inverse = medianMicroseconds(runs: 301) { tables.inverse(inPlace: &data) }
  let threeLevels = basis.prefix(3)
  let sampling = medianMicroseconds(runs: 101) {
    _ = Sampler.ternary(in: threeLevels, using: generator)
    _ = Sampler.gaussian(in: threeLevels, using: generator)
  }
  print("timings (median, this build; see docs/benchmarks.md for the benchmark suite):")
  print("  forward NTT, N = 8192, one 60-bit prime: \(formatted(forward)) µs")
  print("  inverse NTT, N = 8192, one 60-bit prime: \(formatted(inverse)) µs")
  print("  ternary secret + Gaussian error, N = 8192, 3 primes: \(formatted(sampling)) µs")
  print(passed ? "all checks passed" : "SOME CHECKS FAILED")
  return passed
}
