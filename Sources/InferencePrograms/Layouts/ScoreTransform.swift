import Foundation

/// The exact step a client applies to decrypted scores (`inference.output_transform`), also
/// applied by the plaintext route so both report the same quantity.
public enum ScoreTransform: String, Sendable, Codable, CaseIterable {
  /// The scores themselves.
  case identity
  /// 1 / (1 + e^(−s)) of the single score.
  case sigmoid
  /// e^(s_c − max) / Σ e^(s_j − max): class probabilities.
  case softmax
  /// s_c − max − log Σ e^(s_j − max): the logarithms of the class probabilities (ONNX LogSoftmax).
  case logSoftmax = "log_softmax"

  /// The transformed scores.
  public func apply(to scores: [Double]) -> [Double] {
    switch self {
    case .identity:
      return scores
    case .sigmoid:
      return scores.map { 1 / (1 + exp(-$0)) }
    case .softmax:
      let top = scores.max() ?? 0
      let exponentials = scores.map { exp($0 - top) }
      let total = exponentials.reduce(0, +)
      return exponentials.map { $0 / total }
    case .logSoftmax:
      let top = scores.max() ?? 0
      let logTotal = log(scores.reduce(0) { $0 + exp($1 - top) })
      return scores.map { $0 - top - logTotal }
    }
  }
}
