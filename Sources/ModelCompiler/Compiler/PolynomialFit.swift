import CKKS
import Foundation
import InferencePrograms

/// Chebyshev approximations of activations on [−1, 1], fitted where the values are.
///
/// Interpolation at Chebyshev nodes spreads its error evenly over the interval, but a network's
/// pre-activations crowd near a few values (most ReLU inputs sit near the kink), and what matters
/// is the error there. The fit minimizes the squared error over the calibrated inputs, plus a
/// tenth of that weight spread uniformly over the interval's Chebyshev nodes, which keeps the
/// polynomial close to the function everywhere a test input might land.
enum PolynomialFit {
  /// The degree-`degree` series (in y on [−1, 1]) approximating `function` on `samples` (values
  /// of y, ideally within [−1, 1]).
  static func fit(_ function: (Double) -> Double, degree: Int, samples: [Double]) -> ChebyshevSeries {
    let n = degree + 1
    let grid = 8 * n
    let nodes = (0..<grid).map { j in cos(Double.pi * (Double(j) + 0.5) / Double(grid)) }
    // Data points weigh 1 each, the grid 1/10 of the data in total.
    let data = samples.filter { $0 >= -1 && $0 <= 1 }
    let gridWeight = data.isEmpty ? 1 : 0.1 * Double(data.count) / Double(grid)
    var normal = [Double](repeating: 0, count: n * n)
    var right = [Double](repeating: 0, count: n)
    var basis = [Double](repeating: 0, count: n)
    func add(_ y: Double, weight: Double) {
      basis[0] = 1
      if n > 1 { basis[1] = y }
      if n > 2 { for k in 2..<n { basis[k] = 2 * y * basis[k - 1] - basis[k - 2] } }
      let value = function(y) * weight
      for i in 0..<n {
        let bi = basis[i] * weight
        right[i] += basis[i] * value
        for j in i..<n { normal[i * n + j] += bi * basis[j] }
      }
    }
    for y in data { add(y, weight: 1) }
    for y in nodes { add(y, weight: gridWeight) }
    for i in 0..<n { for j in 0..<i { normal[i * n + j] = normal[j * n + i] } }
    let coefficients =
      solve(normal, right, n) ?? ChebyshevSeries(interpolating: function, degree: degree, interval: -1...1).coefficients
    return ChebyshevSeries(coefficients: coefficients.map { $0.isFinite ? $0 : 0 })
  }

  /// Solves the symmetric positive definite system by Gaussian elimination with partial
  /// pivoting; nil when it is singular.
  static func solve(_ matrix: [Double], _ vector: [Double], _ n: Int) -> [Double]? {
    var a = matrix
    var b = vector
    for column in 0..<n {
      var pivot = column
      for row in column..<n where abs(a[row * n + column]) > abs(a[pivot * n + column]) { pivot = row }
      guard abs(a[pivot * n + column]) > 1e-300 else { return nil }
      if pivot != column {
        for k in 0..<n { a.swapAt(column * n + k, pivot * n + k) }
        b.swapAt(column, pivot)
      }
      for row in (column + 1)..<n {
        let factor = a[row * n + column] / a[column * n + column]
        if factor == 0 { continue }
        for k in column..<n { a[row * n + k] -= factor * a[column * n + k] }
        b[row] -= factor * b[column]
      }
    }
    var x = [Double](repeating: 0, count: n)
    for row in stride(from: n - 1, through: 0, by: -1) {
      var sum = b[row]
      for k in (row + 1)..<n { sum -= a[row * n + k] * x[k] }
      x[row] = sum / a[row * n + row]
    }
    return x
  }
}

/// A ``LayeredNetwork`` in float64 with its linear stages stored sparse (a folded convolution
/// is mostly zeros): what the compiler runs on every calibration sample for every degree it tries.
struct SparseNetwork {
  enum Stage {
    case linear(rowStarts: [Int], columns: [Int], values: [Double], bias: [Double])
    case chebyshev(ChebyshevSeries)
    case square
  }

  let stages: [Stage]

  init(_ network: LayeredNetwork) {
    stages = network.stages.map { stage in
      switch stage {
      case .linear(let layer):
        var rowStarts = [0]
        var columns: [Int] = []
        var values: [Double] = []
        for r in 0..<layer.rows {
          for (c, w) in layer.row(r).enumerated() where w != 0 {
            columns.append(c)
            values.append(w)
          }
          rowStarts.append(columns.count)
        }
        return .linear(rowStarts: rowStarts, columns: columns, values: values, bias: layer.bias)
      case .chebyshev(let coefficients): return .chebyshev(ChebyshevSeries(coefficients: coefficients))
      case .square: return .square
      }
    }
  }

  /// The scores of one sample.
  func scores(_ sample: [Double]) -> [Double] {
    var x = sample
    for stage in stages {
      switch stage {
      case .linear(let rowStarts, let columns, let values, let bias):
        var y = bias
        x.withUnsafeBufferPointer { input in
          columns.withUnsafeBufferPointer { c in
            values.withUnsafeBufferPointer { v in
              for r in 0..<(rowStarts.count - 1) {
                var sum = y[r]
                for k in rowStarts[r]..<rowStarts[r + 1] { sum += v[k] * input[c[k]] }
                y[r] = sum
              }
            }
          }
        }
        x = y
      case .chebyshev(let series):
        for i in x.indices {
          x[i] = series.value(at: x[i])
        }
      case .square:
        for i in x.indices { x[i] *= x[i] }
      }
    }
    return x
  }
}
