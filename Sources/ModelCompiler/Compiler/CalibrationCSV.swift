import Foundation

extension CalibrationSet {
  /// Reads samples from CSV text: one sample per row, its features in the model's input order,
  /// then optionally an integer label; a first row that is not numbers is a header (a last header
  /// field named `label`, `target`, `class` or `y` marks the label column).
  /// - Parameter featureCount: the model's inputs per sample; a row of one more value carries a label.
  /// - Throws: ``CompilationError`` naming the first row that is neither `featureCount` numbers nor
  ///   those and an integer label, or for a file without samples.
  public init(csv text: String, featureCount: Int) throws(CompilationError) {
    var samples: [[Double]] = []
    var labels: [Int] = []
    var labelled: Bool?
    for (index, line) in text.split(whereSeparator: \.isNewline).enumerated() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      if fields.allSatisfy(\.isEmpty) { continue }
      let values = fields.map { Double($0) }
      if index == 0, values.contains(where: { $0 == nil }) {
        let last = fields.last?.lowercased() ?? ""
        if ["label", "target", "class", "y"].contains(last) { labelled = true }
        continue
      }
      guard values.allSatisfy({ $0 != nil }) else {
        throw CompilationError("calibration row \(index + 1) is not all numbers")
      }
      let numbers = values.map { $0! }
      let hasLabel: Bool
      switch numbers.count {
      case featureCount where labelled != true: hasLabel = false
      case featureCount + 1 where labelled != false: hasLabel = true
      default:
        throw CompilationError(
          "calibration row \(index + 1) has \(numbers.count) values; the model takes \(featureCount) features"
            + (labelled == true ? " and a label" : " (and optionally a label)"))
      }
      if labelled == nil { labelled = hasLabel }
      guard numbers.allSatisfy(\.isFinite) else {
        throw CompilationError("calibration row \(index + 1) has a non-finite value")
      }
      if hasLabel {
        guard let label = Int(exactly: numbers[featureCount]) else {
          throw CompilationError("calibration row \(index + 1)'s label \(numbers[featureCount]) is not an integer")
        }
        labels.append(label)
      }
      samples.append(Array(numbers.prefix(featureCount)))
    }
    guard !samples.isEmpty else { throw CompilationError("the calibration file has no samples") }
    self.init(samples: samples, labels: labelled == true ? labels : nil)
  }
}
