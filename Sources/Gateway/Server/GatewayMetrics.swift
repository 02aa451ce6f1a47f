public import Prometheus

/// The gateway's own counters and timers, on a Prometheus registry (also the one the process-wide
/// swift-metrics factory writes to in `heinfer serve`, so Hummingbird's request metrics appear in
/// the same exposition). Holds no global state, so each test can have its own.
public final class GatewayMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  let jobsSubmitted: Counter
  let jobsCompleted: Counter
  let jobsFailed: Counter
  let jobsRefused: Counter
  let jobsReclaimed: Counter
  let resultsDiscarded: Counter
  let evaluationSeconds: DurationHistogram

  public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
    func counter(_ name: String, _ help: String) -> Counter {
      registry.makeCounter(
        descriptor: MetricNameDescriptor(namespace: "heinfer", metricName: name, unitName: "total", helpText: help))
    }
    jobsSubmitted = counter("jobs_submitted", "Encrypted jobs accepted.")
    jobsCompleted = counter("jobs_completed", "Encrypted jobs completed.")
    jobsFailed = counter("jobs_failed", "Encrypted jobs failed.")
    jobsRefused = counter("jobs_refused", "Encrypted jobs refused because the evaluation queue was full.")
    jobsReclaimed = counter(
      "jobs_reclaimed", "Jobs of the shared queue claimed again after the worker holding them stopped.")
    resultsDiscarded = counter(
      "results_discarded", "Evaluations not recorded because another worker had taken over the job's lease.")
    evaluationSeconds = registry.makeDurationHistogram(
      descriptor: MetricNameDescriptor(
        namespace: "heinfer", metricName: "evaluation", unitName: "seconds",
        helpText: "Homomorphic evaluation time per job."),
      buckets: [
        .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1),
      ])
  }

  /// The Prometheus text exposition.
  public func exposition() -> String { registry.emitToString() }
}
