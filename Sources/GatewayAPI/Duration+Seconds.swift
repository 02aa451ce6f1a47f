// Shared by the server, the SDK and the CLI, which all build on the contract module.

extension Duration {
  /// The duration in seconds (fractional).
  package var seconds: Double { self / .seconds(1) }

  /// The duration in whole milliseconds, rounded down.
  package var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
