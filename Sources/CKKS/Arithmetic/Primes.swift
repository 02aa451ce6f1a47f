/// Primality testing and NTT-friendly prime generation.
public enum Primes {
  /// Deterministic Miller–Rabin test, exact for every 64-bit integer.
  ///
  /// The first twelve primes as witnesses are known to decide primality for all
  /// `n < 3.3 · 10^24` (Sorenson & Webster, 2015), which covers `UInt64`.
  public static func isPrime(_ n: UInt64) -> Bool {
    if n < 2 { return false }
    let witnesses: [UInt64] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
    for p in witnesses {
      if n == p { return true }
      if n % p == 0 { return false }
    }
    // n - 1 = d * 2^s with d odd.
    let s = (n - 1).trailingZeroBitCount
    let d = (n - 1) >> UInt64(s)
    witnessLoop: for a in witnesses {
      var x = powerMod(a, d, n)
      if x == 1 || x == n - 1 { continue }
      for _ in 1..<max(s, 1) {
        x = multiplyMod(x, x, n)
        if x == n - 1 { continue witnessLoop }
      }
      return false
    }
    return true
  }

  /// Generates `count` primes `p ≡ 1 (mod factor)` with exactly `bitWidth` bits, largest first,
  /// searching downward from `2^bitWidth - 1` as SEAL's `get_primes` does.
  /// - Throws: ``CKKSError/primeGenerationFailed(bitWidth:degree:requested:)`` when the bit
  ///   range holds fewer qualifying primes.
  public static func descendingPrimes(
    congruentToOneModulo factor: UInt64, bitWidth: Int, count: Int
  ) throws(CKKSError) -> [UInt64] {
    precondition((2...Modulus.maximumBitWidth).contains(bitWidth))
    var result: [UInt64] = []
    result.reserveCapacity(count)
    var candidate = ((UInt64(1) << UInt64(bitWidth)) - 1) / factor * factor + 1
    let lowerBound = UInt64(1) << UInt64(bitWidth - 1)
    while result.count < count && candidate > lowerBound {
      if isPrime(candidate) { result.append(candidate) }
      if candidate < factor { break }
      candidate -= factor
    }
    guard result.count == count else {
      throw .primeGenerationFailed(bitWidth: bitWidth, degree: Int(factor / 2), requested: count)
    }
    return result
  }

  /// The RNS modulus chain SEAL 4.1's `CoeffModulus::Create(degree, bitSizes)` returns.
  ///
  /// SEAL's convention: for each distinct bit size b, find as many primes `p ≡ 1 (mod 2N)` of
  /// exactly b bits as b occurs, searching downward from `2^b`; then walk `bitSizes` in order
  /// and give each entry the *smallest* remaining prime of its size. So `[60, 40, 40, 60]` at
  /// N = 8192 yields the second-largest 60-bit prime first and the largest last.
  ///
  /// SEAL accepts bit sizes up to 60; this function also accepts 61 (same rule).
  /// - Parameters:
  ///   - degree: the ring degree N, a power of two in `[2, 2^17]`.
  ///   - bitSizes: the bit size of every prime, each in `[2, 61]`.
  /// - Throws: ``CKKSError/invalidBitSizes(_:)`` for sizes out of range,
  ///   ``CKKSError/primeGenerationFailed(bitWidth:degree:requested:)`` when too few primes exist.
  public static func sealCoefficientModulus(degree: Int, bitSizes: [Int]) throws(CKKSError) -> [UInt64] {
    guard degree >= 2, degree <= 1 << 17, degree & (degree - 1) == 0 else {
      throw .invalidDegree(degree)
    }
    guard !bitSizes.isEmpty, bitSizes.allSatisfy({ (2...Modulus.maximumBitWidth).contains($0) }) else {
      throw .invalidBitSizes(bitSizes)
    }
    var counts: [Int: Int] = [:]
    for size in bitSizes { counts[size, default: 0] += 1 }
    var pool: [Int: [UInt64]] = [:]
    for (size, count) in counts {
      pool[size] = try descendingPrimes(congruentToOneModulo: 2 * UInt64(degree), bitWidth: size, count: count)
    }
    return bitSizes.map { size in pool[size]!.removeLast() }
  }

  // MARK: Helpers (modulus not restricted to 61 bits)

  static func multiplyMod(_ a: UInt64, _ b: UInt64, _ n: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return n.dividingFullWidth(product).remainder
  }

  static func powerMod(_ base: UInt64, _ exponent: UInt64, _ n: UInt64) -> UInt64 {
    var result: UInt64 = 1
    var square = base % n
    var e = exponent
    while e > 0 {
      if e & 1 == 1 { result = multiplyMod(result, square, n) }
      square = multiplyMod(square, square, n)
      e >>= 1
    }
    return result
  }

  /// The smallest primitive `order`-th root of unity modulo the prime `q`, as SEAL's
  /// `try_minimal_primitive_root` chooses it. `order` must be a power of two dividing `q - 1`.
  static func minimalPrimitiveRoot(order: UInt64, modulus: Modulus) -> UInt64? {
    let q = modulus.value
    guard order >= 2, (q - 1) % order == 0 else { return nil }
    let cofactor = (q - 1) / order
    // x^((q-1)/order) has order dividing `order`; it is primitive iff its (order/2)-th power is -1.
    var generator: UInt64 = 0
    for x in UInt64(2)..<q {
      let candidate = modulus.power(x, cofactor)
      if modulus.power(candidate, order / 2) == q - 1 {
        generator = candidate
        break
      }
    }
    guard generator != 0 else { return nil }
    // All primitive roots are the odd powers of one of them; keep the smallest.
    let square = modulus.multiply(generator, generator)
    var current = generator
    var smallest = generator
    for _ in 0..<(order / 2) {
      smallest = min(smallest, current)
      current = modulus.multiply(current, square)
    }
    return smallest
  }
}
