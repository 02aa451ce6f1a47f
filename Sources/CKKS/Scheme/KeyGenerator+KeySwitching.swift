// Key-switching keys: relinearization and Galois keys, generated on the client from its secret key.

extension KeyGenerator {
  /// The relinearization key of `secretKey` (switches s² to s).
  /// - Throws: ``EvaluationError/keySwitchingUnavailable`` without special primes.
  public static func relinearizationKey(
    secretKey: SecretKey, using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> RelinearizationKey {
    guard let switcher = secretKey.parameters.keySwitcher else { throw .keySwitchingUnavailable }
    let square = secretKey.polynomial * secretKey.polynomial
    return RelinearizationKey(key: switcher.makeKey(from: square, secretKey: secretKey, using: generator))
  }

  /// Galois keys for the given left-rotation steps (negative: right) and, optionally, conjugation.
  /// - Throws: ``EvaluationError/keySwitchingUnavailable`` without special primes,
  ///   ``EvaluationError/invalidRotation(_:)`` for steps outside (−slots, slots).
  public static func galoisKeys(
    secretKey: SecretKey, rotationSteps: [Int], conjugation: Bool = false,
    using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> GaloisKeys {
    let parameters = secretKey.parameters
    var elements: [GaloisElement] = []
    for steps in rotationSteps {
      guard abs(steps) < parameters.slotCount else { throw .invalidRotation(steps) }
      elements.append(GaloisElement.rotation(by: steps, degree: parameters.degree))
    }
    if conjugation { elements.append(GaloisElement.conjugation(degree: parameters.degree)) }
    return try galoisKeys(secretKey: secretKey, elements: elements, using: generator)
  }

  /// Galois keys for the given Galois elements (e.g. the `galois_elements` a model declares).
  /// - Throws: ``EvaluationError/keySwitchingUnavailable`` without special primes.
  public static func galoisKeys(
    secretKey: SecretKey, elements: [GaloisElement], using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> GaloisKeys {
    guard let switcher = secretKey.parameters.keySwitcher else { throw .keySwitchingUnavailable }
    precondition(elements.allSatisfy { $0.degree == secretKey.parameters.degree }, "elements of another ring degree")
    var keys: [Int: KeySwitchingKey] = [:]
    for element in elements where keys[element.value] == nil && element.value != 1 {
      let rotated = secretKey.polynomial.applyingGalois(element)
      keys[element.value] = switcher.makeKey(from: rotated, secretKey: secretKey, using: generator)
    }
    return GaloisKeys(keys: keys)
  }
}

extension KeyGenerator {
  /// Galois keys for the rotations by 1, 2, 4, …, N/4 that ``Evaluator/sumSlots(_:keys:)`` uses.
  /// - Throws: ``EvaluationError/keySwitchingUnavailable`` without special primes.
  public static func galoisKeysForSlotSums(
    secretKey: SecretKey, using generator: SecureRandomGenerator = SecureRandomGenerator()
  ) throws(EvaluationError) -> GaloisKeys {
    var steps: [Int] = []
    var step = 1
    while step < secretKey.parameters.slotCount {
      steps.append(step)
      step *= 2
    }
    return try galoisKeys(secretKey: secretKey, rotationSteps: steps, using: generator)
  }
}
