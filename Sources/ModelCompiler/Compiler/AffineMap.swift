import InferencePrograms

/// The affine map a run of consecutive affine layers computes, read off by probing: the image of
/// the zero vector is the bias, and the image of each unit vector minus the bias is a column.
/// Every op the compiler folds (Gemm, Conv, pooling, normalization, reshapes, scalers, constants)
/// is affine, so the probe is exact up to float64 rounding, and folding needs no per-op algebra.
enum AffineProbe {
  /// The map of `layers` (all affine) on `inputCount` values, composed layer by layer: each
  /// layer f = A·v + c maps the bias b to f(b) and every column m to f(m) − c, which keeps a
  /// sparse column sparse (zeros stay exactly zero) so the ops that skip zero inputs stay cheap.
  static func map(of layers: [Layer], inputCount: Int) -> LayeredNetwork.Linear {
    var bias = [Double](repeating: 0, count: inputCount)
    var columns = (0..<inputCount).map { j in
      var unit = [Double](repeating: 0, count: inputCount)
      unit[j] = 1
      return unit
    }
    for layer in layers {
      let offset = layer.apply([Double](repeating: 0, count: bias.count))
      bias = layer.apply(bias)
      columns = columns.map { column in
        let image = layer.apply(column)
        return zip(image, offset).map { $0 - $1 }
      }
    }
    let rows = bias.count
    var weights = [Double](repeating: 0, count: rows * inputCount)
    for (column, values) in columns.enumerated() {
      for row in 0..<rows {
        // Rounding can leave dust where the true weight is 0 (f(m) − c with a dense c).
        let value = values[row]
        weights[row * inputCount + column] = abs(value) < 1e-14 * max(1, abs(bias[row])) ? 0 : value
      }
    }
    return LayeredNetwork.Linear(rows: rows, columns: inputCount, weights: weights, bias: bias)
  }

  /// `map` followed by y ↦ (y − center) / halfWidth: the activation's interval onto [−1, 1].
  static func normalized(_ map: LayeredNetwork.Linear, center: Double, halfWidth: Double) -> LayeredNetwork.Linear {
    LayeredNetwork.Linear(
      rows: map.rows, columns: map.columns, weights: map.weights.map { $0 / halfWidth },
      bias: map.bias.map { ($0 - center) / halfWidth })
  }

  /// The identity on `count` values (a linear stage before an activation that follows another).
  static func identity(_ count: Int) -> LayeredNetwork.Linear {
    var weights = [Double](repeating: 0, count: count * count)
    for i in 0..<count { weights[i * count + i] = 1 }
    return LayeredNetwork.Linear(
      rows: count, columns: count, weights: weights, bias: [Double](repeating: 0, count: count))
  }
}
