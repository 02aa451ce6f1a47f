/// Encrypts plaintexts with a public key (anyone) or a secret key (the key owner; gives compact
/// seeded ciphertexts).
public struct Encryptor: Sendable {
  enum Key: Sendable {
    case publicKey(PublicKey)
    case secretKey(SecretKey)
  }

  let key: Key
  /// The parameters of the key.
  public let parameters: CKKSParameters

  /// Public-key encryption: `(pk0·u + e0 + m, pk1·u + e1)` at the plaintext's level.
  public init(publicKey: PublicKey) {
    key = .publicKey(publicKey)
    parameters = publicKey.parameters
  }

  /// Secret-key (symmetric) encryption: `(−a·s + e + m, a)` with `a` expanded from a fresh seed,
  /// so the ciphertext serializes as c0 and 32 bytes.
  public init(secretKey: SecretKey) {
    key = .secretKey(secretKey)
    parameters = secretKey.parameters
  }

  /// Encrypts `plaintext` at its level and scale.
  /// - Parameter generator: randomness; a new OS-seeded generator by default.
  /// - Throws: ``EvaluationError/parametersMismatch`` when the plaintext was encoded for other parameters.
  public func encrypt(_ plaintext: Plaintext, using generator: SecureRandomGenerator = SecureRandomGenerator())
    throws(EvaluationError) -> Ciphertext
  {
    let level = plaintext.level
    guard level <= parameters.maximumLevel,
      plaintext.polynomial.basis.isSameRing(as: parameters.basis(atLevel: level))
    else { throw .parametersMismatch }
    switch key {
    case .publicKey(let publicKey):
      // (pk0·u + e0 + m, pk1·u + e1) directly at the plaintext's level, with the key restricted
      // to those primes. (SEAL instead encrypts over Q ∪ P and divides by P; that lowers fresh
      // noise, which is already negligible at CKKS scales, at the price of eight extra NTTs.)
      let basis = plaintext.polynomial.basis
      let u = Sampler.ternary(in: basis, using: generator).forwardNTT()
      var c0 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
      c0.add(plaintext.polynomial)
      c0.multiplyAdd(u, prefixOf: publicKey.b)
      var c1 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
      c1.multiplyAdd(u, prefixOf: publicKey.a)
      return Ciphertext(polynomials: [c0, c1], scale: plaintext.scale)
    case .secretKey(let secretKey):
      let basis = plaintext.polynomial.basis
      let seed = generator.makeSeed()
      let a = try! Sampler.uniform(in: basis, seed: seed)
      var c0 = Sampler.gaussian(in: basis, using: generator).forwardNTT()
      c0.add(plaintext.polynomial)
      // c0 = e + m − a·s, limb by limb, reading s in place.
      subtractProduct(into: &c0, a, secretKey: secretKey)
      return Ciphertext(polynomials: [c0, a], scale: plaintext.scale, seed: seed)
    }
  }

  /// `target −= a·s` over the primes of `target` (a prefix of the key basis).
  func subtractProduct(
    into target: inout RNSPolynomial<Evaluation>, _ a: RNSPolynomial<Evaluation>, secretKey: SecretKey
  ) {
    let n = target.degree
    a.residues.withUnsafeBufferPointer { aBuffer in
      target.forEachLimb { limb, q, row in
        secretKey.withLimb(limb) { s in
          let x = aBuffer.baseAddress! + limb * n
          for j in 0..<n { row[j] = q.subtract(row[j], q.multiply(x[j], s[j])) }
        }
      }
    }
  }
}

/// Decrypts ciphertexts with the secret key.
public struct Decryptor: Sendable {
  /// The secret key.
  public let secretKey: SecretKey

  /// A decryptor for `secretKey`.
  public init(secretKey: SecretKey) {
    self.secretKey = secretKey
  }

  /// `c0 + c1·s (+ c2·s²)` at the ciphertext's level, with its scale.
  /// - Throws: ``EvaluationError/parametersMismatch`` when the ciphertext belongs to other parameters.
  public func decrypt(_ ciphertext: Ciphertext) throws(EvaluationError) -> Plaintext {
    let parameters = secretKey.parameters
    let level = ciphertext.level
    guard level <= parameters.maximumLevel, ciphertext.basis.isSameRing(as: parameters.basis(atLevel: level)) else {
      throw .parametersMismatch
    }
    var result = ciphertext.polynomials[0]
    let n = parameters.degree
    let size = ciphertext.size
    // Horner in s: ((c_{k} · s + c_{k-1}) · s + …) · s + c0, limb by limb, reading s in place.
    var accumulator = ciphertext.polynomials[size - 1]
    for index in stride(from: size - 2, through: 1, by: -1) {
      let next = ciphertext.polynomials[index]
      next.residues.withUnsafeBufferPointer { nextBuffer in
        accumulator.forEachLimb { limb, q, row in
          secretKey.withLimb(limb) { s in
            let c = nextBuffer.baseAddress! + limb * n
            for j in 0..<n { row[j] = q.multiplyAdd(row[j], s[j], c[j]) }
          }
        }
      }
    }
    accumulator.residues.withUnsafeBufferPointer { accumulatorBuffer in
      result.forEachLimb { limb, q, row in
        secretKey.withLimb(limb) { s in
          let x = accumulatorBuffer.baseAddress! + limb * n
          for j in 0..<n { row[j] = q.multiplyAdd(x[j], s[j], row[j]) }
        }
      }
    }
    return Plaintext(polynomial: result, scale: ciphertext.scale)
  }
}
