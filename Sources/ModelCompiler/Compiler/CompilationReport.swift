public import CKKS
import Foundation
public import InferencePrograms

/// What a compilation decided and what it costs, printed by `heinfer compile` before anything
/// is served.
public struct CompilationReport: Sendable {
  /// One layer's output range on the calibration samples.
  public struct LayerRange: Sendable, Equatable {
    public var node: String
    public var shape: [Int]
    public var range: ClosedRange<Double>
  }

  /// One activation's approximation.
  public struct ActivationFit: Sendable, Equatable {
    public var node: String
    public var function: String
    /// The calibrated interval, widened by the margin.
    public var interval: ClosedRange<Double>
    public var degree: Int
    /// Levels the polynomial uses.
    public var depth: Int
    /// max |p(x) − f(x)| over the interval.
    public var maximumError: Double
  }

  public var operations: [String]
  public var head: String
  public var inputShape: [Int]
  public var scoreCount: Int
  public var outputTransform: ScoreTransform
  public var layers: [LayerRange]
  public var activations: [ActivationFit]
  /// The lowered stages, one line each.
  public var stages: [String]
  /// Rescales per evaluation.
  public var depth: Int
  public var plan: ParameterPlanner.Plan
  public var samplesPerCiphertext: Int
  public var galoisKeyCount: Int
  public var relinearization: Bool
  /// How the linear stages' baby steps get their keys.
  public var rotationKeys: LinearTransformation.RotationKeys
  /// Bytes of all evaluation keys as a client uploads them (seeded, bit-packed).
  public var keyBytesUploaded: Int
  /// Bytes the server holds for them (expanded, 8 per residue).
  public var keyBytesHeld: Int
  /// Each ring and key choice considered, with its keys' size, in the order tried.
  public var keyPlans: [String]
  public var calibrationCount: Int
  /// Fraction of calibration samples whose approximated prediction equals the graph's.
  public var agreement: Double
  public var originalAccuracy: Double?
  public var approximatedAccuracy: Double?
  /// Each degree tried, with its agreement.
  public var attempts: [String]

  /// Evaluation keys: the Galois keys and the relinearization key.
  public var keyCount: Int { galoisKeyCount + (relinearization ? 1 : 0) }

  static func describe(_ stage: LayeredNetwork.Stage) -> String {
    switch stage {
    case .linear(let layer):
      let nonzero = layer.weights.filter { $0 != 0 }.count
      return "linear \(layer.columns) → \(layer.rows) (\(nonzero) nonzero weights)"
    case .chebyshev(let coefficients):
      return "Chebyshev polynomial of degree \((coefficients.lastIndex { $0 != 0 } ?? 0)) on [−1, 1]"
    case .square: return "square"
    }
  }

  /// The report as `heinfer compile` prints it.
  public var text: String {
    let p = plan.description
    func number(_ x: Double) -> String {
      String(format: abs(x) >= 1e4 || (abs(x) < 1e-3 && x != 0) ? "%.3g" : "%.4f", x)
    }
    func percent(_ x: Double?) -> String { x.map { String(format: "%.2f %%", 100 * $0) } ?? "n/a (no labels)" }
    var lines: [String] = []
    lines.append("graph: input \(inputShape), \(scoreCount) scores; ops \(operations.joined(separator: " → "))")
    lines.append("head (client side): \(head.isEmpty ? "none" : head) → output transform \(outputTransform.rawValue)")
    lines.append("layer ranges on \(calibrationCount) calibration samples:")
    for layer in layers {
      lines.append(
        "  \(layer.node) \(layer.shape): \(number(layer.range.lowerBound)) … \(number(layer.range.upperBound))")
    }
    if activations.isEmpty {
      lines.append("activations: none approximated")
    } else {
      lines.append("activations:")
      for fit in activations {
        lines.append(
          "  \(fit.node) \(fit.function) on [\(number(fit.interval.lowerBound)), \(number(fit.interval.upperBound))]: "
            + "Chebyshev degree \(fit.degree) (\(fit.depth) levels), max error \(number(fit.maximumError))")
      }
      lines.append("  tried: \(attempts.joined(separator: "; "))")
    }
    lines.append("encrypted program (\(depth) levels):")
    for stage in stages { lines.append("  \(stage)") }
    lines.append(
      "layout: strided_slots, \(samplesPerCiphertext) sample\(samplesPerCiphertext == 1 ? "" : "s") per ciphertext")
    if samplesPerCiphertext > 1, !activations.isEmpty {
      lines.append(
        "  note: a sample whose activations leave their intervals (unlike the calibration data) can push its scores "
          + "past the base prime and spoil every sample of its ciphertext; --optimize latency confines it to itself")
    }
    lines.append(
      "parameters: N = \(p.degree), primes \(p.ciphertextPrimeBits.map(String.init).joined(separator: "+")) bits, "
        + "special \(p.specialPrimeBits.map(String.init).joined(separator: "+")), \(p.keySwitchingDigits) key-switching digits, "
        + "log2 Q·P = \((p.ciphertextPrimeBits + p.specialPrimeBits).reduce(0, +)) (bound \(HomomorphicEncryptionStandard.maximumModulusBits128[p.degree] ?? 0)), scale 2^\(plan.scaleBits)"
    )
    lines.append(
      "keys: \(galoisKeyCount) Galois keys\(relinearization ? " + relinearization key" : "") "
        + "(\(rotationKeys == .powersOfTwo ? "powers of two" : "one per baby step")), "
        + String(
          format: "%.1f MB uploaded (seeded), %.1f MB held by the server", Double(keyBytesUploaded) / 1e6,
          Double(keyBytesHeld) / 1e6))
    if keyPlans.count > 1 { lines.append("  considered: \(keyPlans.joined(separator: "; "))") }
    lines.append(
      "accuracy on calibration data: graph \(percent(originalAccuracy)), approximated \(percent(approximatedAccuracy)); "
        + "predictions agree on \(percent(agreement))")
    return lines.joined(separator: "\n")
  }
}
