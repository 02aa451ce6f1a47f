public import CKKS

/// Where samples and scores sit in the polynomial coefficients of a `coefficient_linear` model
/// (docs/api.md, "Encrypted layouts").
///
/// Sample b of a ciphertext occupies coefficients `b·stride + i` for features i in `[0, d)`. The
/// server multiplies by `W(X) = Σ_c Σ_i w_{c,i} X^(c·d + d − 1 − i)` and adds the biases, so score
/// c of sample b lands in coefficient `b·stride + (d − 1) + c·d`. With `stride = (k + 1)·d` no other
/// sample or class contributes there and no product wraps around X^N = −1, so one plaintext
/// multiplication computes every score of every sample in the ciphertext, with no rotation keys.
///
/// A sample's other coefficients are not read by an honest client, but a client may fill them, and
/// through them every score coefficient of one product depends on every class's weights. With
/// ``resultPerClass`` the server multiplies by each class's row `W_c(X) = Σ_i w_{c,i}
/// X^(c·d + d − 1 − i)` separately and returns one result per class: result c holds score c of
/// every sample at the same coefficient, computed from that sample's d features and class c's
/// weights only.
public struct CoefficientLinearLayout: Sendable, Equatable {
  /// Ring degree N.
  public let degree: Int
  /// Features per sample, d.
  public let inputDimension: Int
  /// Scores per sample, k.
  public let outputDimension: Int
  /// Whether a group gives one result per class (result c holding score c) instead of one result
  /// holding every score.
  public let resultPerClass: Bool

  public init(degree: Int, inputDimension: Int, outputDimension: Int, resultPerClass: Bool = false) {
    self.degree = degree
    self.inputDimension = inputDimension
    self.outputDimension = outputDimension
    self.resultPerClass = resultPerClass && outputDimension > 1
  }

  /// Coefficients between consecutive samples: (k + 1)·d.
  public var sampleStride: Int { (outputDimension + 1) * inputDimension }
  /// Offset of score 0 within a sample's block: d − 1.
  public var resultOffset: Int { inputDimension - 1 }
  /// Coefficients between consecutive scores of one sample: d.
  public var classStride: Int { inputDimension }
  /// Samples that fit in one ciphertext: ⌊N / stride⌋ (0 when a sample does not fit).
  public var samplesPerCiphertext: Int { degree / sampleStride }

  /// The coefficient vector (length N) holding `samples` (at most ``samplesPerCiphertext``, each of
  /// length d), ready for coefficient encoding at the input scale.
  public func inputCoefficients(_ samples: [[Double]]) -> [Double] {
    precondition(samples.count <= samplesPerCiphertext)
    var coefficients = [Double](repeating: 0, count: degree)
    for (b, sample) in samples.enumerated() {
      precondition(sample.count == inputDimension)
      for (i, x) in sample.enumerated() { coefficients[b * sampleStride + i] = x }
    }
    return coefficients
  }

  /// The coefficient vector of the weight polynomial W(X) for `weights[c][i]`.
  public func weightCoefficients(_ weights: [[Double]]) -> [Double] {
    var coefficients = [Double](repeating: 0, count: degree)
    for (c, row) in weights.enumerated() {
      for (i, w) in row.enumerated() { coefficients[c * classStride + inputDimension - 1 - i] = w }
    }
    return coefficients
  }

  /// The coefficient vector of class c's row alone, `W_c(X) = Σ_i w_{c,i} X^(c·d + d − 1 − i)`.
  public func weightCoefficients(_ row: [Double], ofClass c: Int) -> [Double] {
    var coefficients = [Double](repeating: 0, count: degree)
    for (i, w) in row.enumerated() { coefficients[c * classStride + inputDimension - 1 - i] = w }
    return coefficients
  }

  /// The coefficient vector adding `bias[c]` to score c of every sample slot.
  public func biasCoefficients(_ bias: [Double]) -> [Double] {
    var coefficients = [Double](repeating: 0, count: degree)
    for b in 0..<samplesPerCiphertext {
      for (c, value) in bias.enumerated() { coefficients[scoreIndex(sample: b, score: c)] = value }
    }
    return coefficients
  }

  /// The coefficient holding score c of sample b.
  public func scoreIndex(sample b: Int, score c: Int) -> Int {
    b * sampleStride + resultOffset + c * classStride
  }

  /// Reads the scores of the first `count` samples from decoded result coefficients.
  public func scores(fromCoefficients coefficients: [Double], count: Int) -> [[Double]] {
    (0..<count).map { b in (0..<outputDimension).map { c in coefficients[scoreIndex(sample: b, score: c)] } }
  }

  /// Reads the scores of the first `count` samples from the decoded coefficients of a group's
  /// results: one result, or with ``resultPerClass`` one per class, score c from result c.
  public func scores(fromResults results: [[Double]], count: Int) -> [[Double]] {
    precondition(results.count == resultsPerGroup, "a group has \(resultsPerGroup) results")
    guard resultPerClass else { return scores(fromCoefficients: results[0], count: count) }
    return (0..<count).map { b in (0..<outputDimension).map { c in results[c][scoreIndex(sample: b, score: c)] } }
  }
}

extension CoefficientLinearLayout: SampleLayout {
  public var layoutDescription: LayoutDescription {
    LayoutDescription(
      kind: .coefficientLinear, samplesPerCiphertext: samplesPerCiphertext, resultsPerGroup: resultsPerGroup,
      sampleStride: sampleStride, resultOffset: resultOffset, classStride: classStride)
  }

  /// k with ``resultPerClass``, else 1.
  public var resultsPerGroup: Int { resultPerClass ? outputDimension : 1 }

  public func encode(_ samples: [[Double]], with encoder: CKKSEncoder, scale: Double, level: Int)
    throws(EncodingError) -> [Plaintext]
  {
    [try encoder.encodeCoefficients(inputCoefficients(samples), scale: scale, level: level)]
  }

  public func scores(in plaintext: Plaintext, with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    precondition(!resultPerClass, "a group gives one result per class: use scores(inResults:with:count:)")
    return scores(fromCoefficients: encoder.decodeCoefficients(plaintext), count: count)
  }

  public func scores(inResults plaintexts: [Plaintext], with encoder: CKKSEncoder, count: Int) -> [[Double]] {
    scores(fromResults: plaintexts.map { encoder.decodeCoefficients($0) }, count: count)
  }
}
