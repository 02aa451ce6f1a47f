import Synchronization

/// Counts the HTTP body bytes of the requests made inside ``record(_:)``, for benchmarks
/// (`@_spi(Benchmarking) import HEInferenceSDK`).
@_spi(Benchmarking)
public final class TrafficLog: Sendable {
  private let totals = Mutex((requests: 0, requestBytes: 0, responseBytes: 0))

  public init() {}

  /// Requests made, and their request and response body bytes, so far.
  public var snapshot: (requests: Int, requestBytes: Int, responseBytes: Int) { totals.withLock { $0 } }

  func add(requestBytes: Int, responseBytes: Int) {
    totals.withLock {
      $0.requests += 1
      $0.requestBytes += requestBytes
      $0.responseBytes += responseBytes
    }
  }

  @TaskLocal static var current: TrafficLog?

  /// Runs `body`, counting the traffic of every SDK request it makes into this log.
  public func record<T>(_ body: () async throws -> T) async rethrows -> T {
    try await TrafficLog.$current.withValue(self) { try await body() }
  }
}
