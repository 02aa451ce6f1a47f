import Foundation

/// An elementwise nonlinearity of a graph, which the compiler replaces by a polynomial (the square
/// exactly, the others by Chebyshev approximations on calibrated intervals).
public enum Activation: Sendable, Equatable, CustomStringConvertible {
  case relu
  /// x for x ≥ 0, alpha·x otherwise.
  case leakyRelu(alpha: Double)
  case sigmoid
  case tanh
  /// log(1 + e^x).
  case softplus
  /// min(max(x, lower), upper); ReLU6 is `clip(0, 6)`.
  case clip(lower: Double, upper: Double)
  /// x², computed exactly with one ciphertext multiplication.
  case square

  /// f(x) in float64.
  public func callAsFunction(_ x: Double) -> Double {
    switch self {
    case .relu: return max(x, 0)
    case .leakyRelu(let alpha): return x >= 0 ? x : alpha * x
    case .sigmoid: return 1 / (1 + exp(-x))
    case .tanh: return Foundation.tanh(x)
    case .softplus: return x > 30 ? x : log1p(exp(x))
    case .clip(let lower, let upper): return min(max(x, lower), upper)
    case .square: return x * x
    }
  }

  public var description: String {
    switch self {
    case .relu: "Relu"
    case .leakyRelu(let alpha): "LeakyRelu(\(alpha))"
    case .sigmoid: "Sigmoid"
    case .tanh: "Tanh"
    case .softplus: "Softplus"
    case .clip(let lower, let upper): "Clip(\(lower), \(upper))"
    case .square: "x²"
    }
  }
}
