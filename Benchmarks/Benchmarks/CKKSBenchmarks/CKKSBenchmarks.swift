import Benchmark
import CKKS
import Foundation

// Single-thread micro-benchmarks of the CKKS arithmetic core. Each iteration does one
// operation; the reported wall-clock percentiles are per operation. Results and commands are
// recorded in docs/benchmarks.md.

private func ring(degree: Int, bitSizes: [Int]) -> RNSBasis {
  try! RNSBasis(degree: degree, moduli: Primes.sealCoefficientModulus(degree: degree, bitSizes: bitSizes))
}

private func randomPolynomial(_ basis: RNSBasis, seed: UInt8) -> RNSPolynomial<Coefficient> {
  let generator = try! SecureRandomGenerator(
    seed: [UInt8](repeating: seed, count: 32), domain: SecureRandomGenerator.defaultDomain)
  return Sampler.uniform(in: basis, using: generator).inverseNTT()
}

let benchmarks: @Sendable () -> Void = {
  // As the gateway does: keep polynomial-sized blocks in the heap (see AllocatorTuning).
  AllocatorTuning.keepLargeBuffersInHeap()
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput],
    timeUnits: .microseconds,
    warmupIterations: 50,
    maxDuration: .seconds(1),
    maxIterations: 1_000_000
  )

  // MARK: NTT, one prime
  for (degree, bits) in [(4096, 60), (8192, 50), (8192, 60), (8192, 61), (16384, 60), (32768, 60)] {
    let basis = ring(degree: degree, bitSizes: [bits])
    let tables = basis.nttTables[0]
    var data = Array(randomPolynomial(basis, seed: 1).limb(0))
    Benchmark("NTT forward N=\(degree) \(bits)-bit") { benchmark in
      for _ in benchmark.scaledIterations { tables.forward(inPlace: &data) }
      blackHole(data)
    }
    Benchmark("NTT inverse N=\(degree) \(bits)-bit") { benchmark in
      for _ in benchmark.scaledIterations { tables.inverse(inPlace: &data) }
      blackHole(data)
    }
  }

  // MARK: Modular multiplication throughput (8192 products per iteration)
  do {
    let basis = ring(degree: 8192, bitSizes: [60])
    let q = basis.moduli[0]
    let a = Array(randomPolynomial(basis, seed: 2).limb(0))
    let b = Array(randomPolynomial(basis, seed: 3).limb(0))
    // Raw buffers: the loop measures the arithmetic, not array bounds or exclusivity checks.
    let x = UnsafeMutablePointer<UInt64>.allocate(capacity: 8192)
    let y = UnsafeMutablePointer<UInt64>.allocate(capacity: 8192)
    let out = UnsafeMutablePointer<UInt64>.allocate(capacity: 8192)
    x.initialize(from: a, count: 8192)
    y.initialize(from: b, count: 8192)
    out.initialize(repeating: 0, count: 8192)
    Benchmark("Barrett multiply x8192 60-bit") { benchmark in
      for _ in benchmark.scaledIterations {
        for j in 0..<8192 { out[j] = q.multiply(x[j], y[j]) }
      }
      blackHole(out[17])
    }
    let w = ShoupOperand(b[0], modulus: q)
    Benchmark("Shoup multiply x8192 60-bit") { benchmark in
      for _ in benchmark.scaledIterations {
        for j in 0..<8192 { out[j] = q.multiplyShoup(x[j], by: w.value, shoup: w.shoup) }
      }
      blackHole(out[17])
    }
    let basis3 = ring(degree: 8192, bitSizes: [60, 40, 40])
    let left = randomPolynomial(basis3, seed: 4).forwardNTT()
    let right = randomPolynomial(basis3, seed: 5).forwardNTT()
    var z = left
    Benchmark("Polynomial multiply N=8192 3 primes (NTT form)") { benchmark in
      for _ in benchmark.scaledIterations {
        z.multiply(right)
      }
      blackHole(z)
    }
  }

  // MARK: Sampling, N = 8192 over Q = [60, 40, 40]
  do {
    let basis = ring(degree: 8192, bitSizes: [60, 40, 40])
    let generator = SecureRandomGenerator()
    Benchmark("Sample ternary secret + Gaussian error N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(Sampler.ternary(in: basis, using: generator))
        blackHole(Sampler.gaussian(in: basis, using: generator))
      }
    }
    Benchmark("Sample ternary secret N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(Sampler.ternary(in: basis, using: generator))
      }
    }
    Benchmark("Sample Gaussian error N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(Sampler.gaussian(in: basis, using: generator))
      }
    }
    Benchmark("Sample uniform N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(Sampler.uniform(in: basis, using: generator))
      }
    }
    let seed = [UInt8](repeating: 7, count: 32)
    Benchmark("Expand uniform from seed N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try Sampler.uniform(in: basis, seed: seed))
      }
    }
  }

  // MARK: Automorphism, rescale, basis conversion at N = 8192
  do {
    let basis = ring(degree: 8192, bitSizes: [60, 40, 40, 60])
    let polynomial = randomPolynomial(basis, seed: 6)
    let evaluation = polynomial.forwardNTT()
    let element = GaloisElement.rotation(by: 1, degree: 8192)
    let permutation = element.evaluationPermutation()
    Benchmark("Automorphism NTT form N=8192 4 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(evaluation.applyingGalois(permutation: permutation))
      }
    }
    Benchmark("Automorphism coefficient form N=8192 4 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(polynomial.applyingGalois(element))
      }
    }
    let rescaleInput = randomPolynomial(basis.prefix(3), seed: 8).forwardNTT()
    Benchmark("Rescale NTT form N=8192 3 to 2 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        // Includes copying the 3-prime input (the rescale works in place).
        var copy = rescaleInput
        copy.divideAndRoundByLastModulus()
        blackHole(copy)
      }
    }
    let rescaleCoefficientInput = randomPolynomial(basis.prefix(3), seed: 8)
    Benchmark("Rescale coefficient form N=8192 3 to 2 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        var copy = rescaleCoefficientInput
        copy.divideAndRoundByLastModulus()
        blackHole(copy)
      }
    }
    let qBasis = basis.prefix(3)
    let pBasis = RNSBasis(tables: [basis.nttTables[3]])
    let converter = BasisConverter(from: qBasis, to: pBasis)
    let input = randomPolynomial(qBasis, seed: 9)
    var output = RNSPolynomial<Coefficient>(zeroIn: pBasis)
    var scratch = [UInt64](repeating: 0, count: 3 * 8192)
    Benchmark("Basis conversion N=8192 3 primes to 1") { benchmark in
      for _ in benchmark.scaledIterations {
        converter.convert(input, into: &output, scratch: &scratch)
      }
      blackHole(output)
    }
    let converterUp = BasisConverter(from: pBasis, to: qBasis)
    let inputP = randomPolynomial(pBasis, seed: 10)
    var outputQ = RNSPolynomial<Coefficient>(zeroIn: qBasis)
    Benchmark("Basis conversion N=8192 1 prime to 3") { benchmark in
      for _ in benchmark.scaledIterations {
        converterUp.convert(inputP, into: &outputQ, scratch: &scratch)
      }
      blackHole(outputQ)
    }
  }

  // MARK: Scheme: encoding at N = 8192, Q = [60, 40, 40] (the anchors' parameter set)
  do {
    let parameters = try! CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let encoder = CKKSEncoder(parameters: parameters)
    let values = (0..<parameters.slotCount).map { Double($0 % 1000) / 1000 }
    Benchmark("Encode full slots N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try encoder.encode(values))
      }
    }
    let plaintext = try! encoder.encode(values)
    Benchmark("Decode full slots N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(encoder.decode(plaintext))
      }
    }
    var lowest = plaintext
    lowest.polynomial.dropLastModulus()
    lowest.polynomial.dropLastModulus()
    Benchmark("Decode full slots N=8192 1 prime") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(encoder.decode(lowest))
      }
    }
  }

  // MARK: Scheme operations at N = 8192, Q = [60, 40, 40], P = [60], scale 2^40 (the anchors' set)
  do {
    let parameters = try! CKKSParameters(.n8192_logq_60_40_40_logp_60)
    let encoder = CKKSEncoder(parameters: parameters)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let publicKey = KeyGenerator.publicKey(secretKey: secretKey)
    let relinearizationKey = try! KeyGenerator.relinearizationKey(secretKey: secretKey)
    let galoisKeys = try! KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: [1])
    let encryptor = Encryptor(publicKey: publicKey)
    let symmetricEncryptor = Encryptor(secretKey: secretKey)
    let decryptor = Decryptor(secretKey: secretKey)
    let evaluator = Evaluator(parameters: parameters)
    let generator = SecureRandomGenerator()
    let values = (0..<parameters.slotCount).map { Double($0 % 1000) / 1000 }
    let plaintext = try! encoder.encode(values)
    let ciphertext = try! encryptor.encrypt(plaintext)
    Benchmark("Encrypt public key N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try encryptor.encrypt(plaintext, using: generator))
      }
    }
    Benchmark("Encrypt secret key (seeded) N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try symmetricEncryptor.encrypt(plaintext, using: generator))
      }
    }
    Benchmark("Decrypt + decode N=8192 3 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(encoder.decode(try decryptor.decrypt(ciphertext)))
      }
    }
    Benchmark("Multiply ct x ct + relinearize N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.multiplyRelinearize(ciphertext, ciphertext, key: relinearizationKey))
      }
    }
    Benchmark("Rotate by 1 N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.rotate(ciphertext, by: 1, keys: galoisKeys))
      }
    }
    let workspace = EvaluatorWorkspace(parameters: parameters)
    Benchmark("Multiply ct x ct + relinearize in place (workspace) N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        var product = try evaluator.multiply(ciphertext, ciphertext)
        try evaluator.relinearize(&product, key: relinearizationKey, workspace: workspace)
        blackHole(product)
      }
    }
    Benchmark("Rotate by 1 in place (workspace) N=8192") { benchmark in
      var rotating = ciphertext
      for _ in benchmark.scaledIterations {
        try evaluator.rotate(&rotating, by: 1, keys: galoisKeys, workspace: workspace)
      }
      blackHole(rotating)
    }
    let threeKeys = try! KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: [1, 2, 3])
    Benchmark("Rotate by 1, 2, 3 separately N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        for step in 1...3 { blackHole(try evaluator.rotate(ciphertext, by: step, keys: threeKeys)) }
      }
    }
    Benchmark("Rotate by 1, 2, 3 hoisted N=8192") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.rotations(ciphertext, by: [1, 2, 3], keys: threeKeys))
      }
    }
    let product = try! evaluator.multiply(ciphertext, plaintext)
    Benchmark("Rescale ciphertext N=8192 3 to 2 primes") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.rescale(product))
      }
    }
  }

  // MARK: Depth 6 at N = 16384 (SEAL's anchors in docs/benchmarks.md): SEAL's layout (dnum = 7, P = [60])
  // and three key-switching digits with P = [60, 60].
  for (label, description) in [
    ("", ParameterDescription.n16384_logq_60_6x40_logp_60),
    (" dnum=3 P=2x60", .n16384_logq_60_6x40_logp_60_60_dnum3),
  ] {
    let parameters = try! CKKSParameters(description)
    let encoder = CKKSEncoder(parameters: parameters)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let relinearizationKey = try! KeyGenerator.relinearizationKey(secretKey: secretKey)
    let galoisKeys = try! KeyGenerator.galoisKeys(secretKey: secretKey, rotationSteps: [1])
    let evaluator = Evaluator(parameters: parameters)
    let ciphertext = try! Encryptor(secretKey: secretKey).encrypt(
      encoder.encode((0..<parameters.slotCount).map { Double($0 % 100) / 100 }))
    Benchmark("Multiply ct x ct + relinearize N=16384 7 primes\(label)") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.multiplyRelinearize(ciphertext, ciphertext, key: relinearizationKey))
      }
    }
    Benchmark("Rotate by 1 N=16384 7 primes\(label)") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.rotate(ciphertext, by: 1, keys: galoisKeys))
      }
    }
  }

  // MARK: Building blocks of encrypted networks: a dense 64 × 256 linear transformation
  // (extended diagonals: 7 hoisted baby steps, 7 giant steps, 2 folds), one evaluation per iteration.
  let dense: [[Double]] = (0..<64).map { (i: Int) -> [Double] in
    (0..<256).map { (j: Int) -> Double in Double((i * 31 + j * 17) % 200) / 100 - 1 }
  }
  for description in [ParameterDescription.n8192_logq_60_40_40_logp_60, .n16384_logq_60_6x40_logp_60] {
    linearTransformationBenchmark("Linear transformation 64x256", matrix: dense, parameters: description)
  }

  // Chebyshev series by baby-step/giant-step: degree 15 on [−1, 1] (4 levels) at N = 8192 and the
  // sigmoid's degree-31 interpolant on [−8, 8] (6 levels) at N = 16384.
  for (description, degree, interval) in [
    (
      ParameterDescription(
        degree: 8192, ciphertextPrimeBits: [40, 30, 30, 30, 30], specialPrimeBits: [40], defaultScale: 0x1p30),
      15, -1.0...1.0
    ),
    (.n16384_logq_60_6x40_logp_60, 31, -8.0...8.0),
  ] {
    let parameters = try! CKKSParameters(description)
    let encoder = CKKSEncoder(parameters: parameters)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let relinearizationKey = try! KeyGenerator.relinearizationKey(secretKey: secretKey)
    let evaluator = Evaluator(parameters: parameters)
    let series = ChebyshevSeries(interpolating: { 1 / (1 + exp(-$0)) }, degree: degree, interval: interval)
    let ciphertext = try! Encryptor(secretKey: secretKey).encrypt(
      encoder.encode((0..<parameters.slotCount).map { Double($0 % 200) / 100 - 1 }))
    Benchmark("Chebyshev degree \(degree) N=\(parameters.degree)") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(
          try evaluator.evaluateChebyshev(
            ciphertext, series: series, relinearizationKey: relinearizationKey, encoder: encoder))
      }
    }
  }

  // A convolution as the MNIST network's first layer: 4 channels of 7 × 7 kernels over the 64
  // windows of an image laid out kernel position by window (slot k·64 + p): a 256 × 4096 matrix
  // whose nonzero diagonals are the multiples of 64 (one hoisted rotation by 64, one giant step by
  // 128, then a rescale and 4 folds one level lower, as the served network applies it).
  var convolution = [[Double]](repeating: [Double](repeating: 0, count: 4096), count: 256)
  for c in 0..<4 {
    for p in 0..<64 {
      for k in 0..<49 { convolution[c * 64 + p][k * 64 + p] = Double((c * 7 + k * 3) % 11) / 100 - 0.05 }
    }
  }
  for description in [
    ParameterDescription(
      degree: 8192, ciphertextPrimeBits: [39, 27, 27, 27, 27, 27], specialPrimeBits: [40], defaultScale: 0x1p27),
    .n16384_logq_60_6x40_logp_60,
  ] {
    linearTransformationBenchmark(
      "Convolution 1 to 4 channels 7x7 stride 3", matrix: convolution, parameters: description, rescaling: true)
  }

  // The batched network's first two layers (64 images per group, docs/models.md): the convolution
  // as 4 weighted sums of 49 kernel-position ciphertexts at the inputs' level, and the hidden layer
  // as one linear transformation of the 4 channel ciphertexts, 64 interleaved images (rotations by
  // multiples of 64, 8 baby steps double hoisted) at the level the network applies it.
  for description in [
    ParameterDescription(
      degree: 8192, ciphertextPrimeBits: [39, 27, 27, 27, 27, 27], specialPrimeBits: [40], defaultScale: 0x1p27),
    .n16384_logq_60_6x40_logp_60,
  ] {
    let parameters = try! CKKSParameters(description)
    let encoder = CKKSEncoder(parameters: parameters)
    let secretKey = KeyGenerator.secretKey(parameters: parameters)
    let evaluator = Evaluator(parameters: parameters)
    let encryptor = Encryptor(secretKey: secretKey)
    let top = parameters.maximumLevel
    let images = parameters.slotCount / 64
    let group: [Ciphertext] = (0..<49).map { (k: Int) -> Ciphertext in
      let values: [Double] = (0..<parameters.slotCount).map { (t: Int) -> Double in Double((t + k) % 256) / 256 }
      return try! encryptor.encrypt(encoder.encode(values))
    }
    let weights: [[Double]] = (0..<4).map { (c: Int) -> [Double] in
      (0..<49).map { (k: Int) -> Double in Double((c * 7 + k * 3) % 11) / 100 - 0.05 }
    }
    let q = Double(parameters.ciphertextModuli[top])
    Benchmark("Batched convolution 4 sums of 49 ciphertexts N=\(parameters.degree)") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try evaluator.linearCombinations(group, weights: weights, constantScale: q))
      }
    }
    let level = top - 2
    let hidden = try! LinearTransformation(
      matrix: dense, encoder: encoder, scale: Double(parameters.ciphertextModuli[level]), level: level, babySteps: 8, interleaving: images, inputs: 4)
    let keys = try! KeyGenerator.galoisKeys(
      secretKey: secretKey, elements: hidden.galoisElements.map { try GaloisElement($0, degree: parameters.degree) })
    let channels = group.prefix(4).map { try! evaluator.dropLevel($0, to: level) }
    Benchmark("Batched hidden layer 4 x (64x64) x \(images) images N=\(parameters.degree) level \(level)") { benchmark in
      for _ in benchmark.scaledIterations {
        blackHole(try hidden.apply(Array(channels), evaluator: evaluator, keys: keys, rescaling: true))
      }
    }
  }
}

/// Registers "<name> N=<degree> <primes> primes": `matrix` applied at the top level of a fresh
/// encryption, with exactly the Galois keys it needs (and rescaled before its folds with `rescaling`).
private func linearTransformationBenchmark(
  _ name: String, matrix: [[Double]], parameters description: ParameterDescription, rescaling: Bool = false
) {
  let parameters = try! CKKSParameters(description)
  let encoder = CKKSEncoder(parameters: parameters)
  let secretKey = KeyGenerator.secretKey(parameters: parameters)
  let top = parameters.maximumLevel
  let transformation = try! LinearTransformation(
    matrix: matrix, encoder: encoder, scale: Double(parameters.ciphertextModuli[top]), level: top)
  let keys = try! KeyGenerator.galoisKeys(
    secretKey: secretKey,
    elements: transformation.galoisElements.map { try GaloisElement($0, degree: parameters.degree) })
  let evaluator = Evaluator(parameters: parameters)
  let ciphertext = try! Encryptor(secretKey: secretKey).encrypt(
    encoder.encode((0..<parameters.slotCount).map { Double($0 % 256) / 256 }))
  Benchmark("\(name) N=\(parameters.degree) \(parameters.ciphertextModuli.count) primes") { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(try transformation.apply(ciphertext, evaluator: evaluator, keys: keys, rescaling: rescaling))
    }
  }
}
