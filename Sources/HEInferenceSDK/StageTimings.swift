/// How long each stage of an encrypted inference took (seconds), for benchmarks
/// (`@_spi(Benchmarking) import HEInferenceSDK`).
@_spi(Benchmarking)
public struct StageTimings: Sendable {
  /// Encoding and encryption on the client.
  public var encrypt: Double = 0
  /// The `POST /infer` call: upload, validation, queueing and (with `wait_ms`) evaluation.
  public var submit: Double = 0
  /// Evaluation on the server, as its job diagnostics report it.
  public var evaluate: Double = 0
  /// Polling for a result that was not ready when `POST /infer` answered.
  public var wait: Double = 0
  /// Decryption and decoding on the client.
  public var decrypt: Double = 0
  /// Serialized ciphertext bytes sent and received (before base64).
  public var requestBytes = 0
  public var responseBytes = 0

  public init() {}
}
