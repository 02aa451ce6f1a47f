import Foundation

/// A grouped horizontal bar chart as standalone SVG (no dependencies): one group per category,
/// one bar per series, optional logarithmic axis for values spanning orders of magnitude.
struct SVGBarChart {
  struct Series {
    let name: String
    let color: String
    /// One value per category (nil: no bar).
    let values: [Double?]
  }

  let title: String
  let unit: String
  let categories: [String]
  let series: [Series]
  var logarithmic = false

  func render() -> String {
    let labelWidth = 190.0
    let plotWidth = 520.0
    let barHeight = 14.0
    let groupGap = 12.0
    let top = 50.0
    let groupHeight = Double(series.count) * barHeight + groupGap
    let height = top + Double(categories.count) * groupHeight + 40
    let width = labelWidth + plotWidth + 120
    let values = series.flatMap { $0.values.compactMap { $0 } }.filter { $0 > 0 }
    let maximum = values.max() ?? 1
    let minimum = logarithmic ? pow(10, floor(log10(values.min() ?? 1))) : 0
    func x(_ value: Double) -> Double {
      guard value > 0 else { return 0 }
      if logarithmic {
        let span = log10(maximum) - log10(minimum)
        return span <= 0 ? plotWidth : plotWidth * (log10(value) - log10(minimum)) / span
      }
      return plotWidth * value / maximum
    }
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      font-family="Helvetica, Arial, sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="10" y="22" font-size="15" font-weight="bold">\(escape(title))</text>
      <text x="10" y="40" fill="#555">\(escape(unit))\(logarithmic ? " (logarithmic scale)" : "")</text>

      """
    for (index, category) in categories.enumerated() {
      let y0 = top + Double(index) * groupHeight
      svg += "<text x=\"10\" y=\"\(y0 + Double(series.count) * barHeight / 2 + 4)\">\(escape(category))</text>\n"
      for (s, entry) in series.enumerated() {
        guard let value = entry.values[index] else { continue }
        let y = y0 + Double(s) * barHeight
        let length = max(1, x(value))
        svg += """
          <rect x="\(labelWidth)" y="\(y)" width="\(format(length))" height="\(barHeight - 2)" fill="\(entry.color)"/>
          <text x="\(format(labelWidth + length + 4))" y="\(y + barHeight - 4)" fill="#333">\(label(value))</text>

          """
      }
    }
    let legendY = height - 16
    var legendX = labelWidth
    for entry in series {
      svg += """
        <rect x="\(legendX)" y="\(legendY - 10)" width="10" height="10" fill="\(entry.color)"/>
        <text x="\(legendX + 14)" y="\(legendY)">\(escape(entry.name))</text>

        """
      legendX += 24 + Double(entry.name.count) * 7
    }
    return svg + "</svg>\n"
  }

  private func label(_ value: Double) -> String {
    if value >= 1_000_000 { return String(format: "%.2f M", value / 1_000_000) }
    if value >= 10_000 { return String(format: "%.1f k", value / 1000) }
    if value >= 100 { return String(format: "%.0f", value) }
    if value >= 1 { return String(format: "%.2f", value) }
    return String(format: "%.3g", value)
  }

  private func format(_ value: Double) -> String { String(format: "%.1f", value) }

  private func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}
