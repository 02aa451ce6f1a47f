import ArgumentParser
import Foundation
import GatewayAPI
import HEInferenceSDK
import Synchronization

/// `heinfer load`: many concurrent clients against a running gateway with a realistic mix of
/// operations, for a fixed time; reports throughput, latency by operation and answers by status.
struct Load: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Drive a running gateway with concurrent clients and a realistic mix; report what happened.",
    discussion: """
      Each client loops until the time is up, choosing per iteration: an encrypted single-sample \
      inference (35%) or a batch of 32 (10%) on one of the models (logistic_v1, \
      breast_cancer_logistic, wine_multiclass, iris_mlp), a plaintext inference (40%), GET /models \
      (10%), or registering a new key set, using it once and deleting it (5%, one client per \
      tenant; GET /models for the others). Clients are spread over the API keys given (one tenant each). Answers are counted by HTTP status; 429 and 503 are \
      expected under overload, anything 5xx other than 503 is a failure.
      """)

  @Option(help: "The gateway.")
  var url = "http://127.0.0.1:8080"

  @Option(help: "File of client API keys, one per line (key or key=tenant); none: open mode.")
  var apiKeysFile: String?

  @Option(help: "Concurrent clients.")
  var clients = 64

  @Option(help: "Seconds to run.")
  var duration = 60

  @Option(help: "Append the id of every job the gateway accepted (202 or 200) to this file.")
  var jobIds: String?

  @Option(help: "Write the results as JSON to this file.")
  var json: String?

  func validate() throws {
    guard clients >= 1, duration >= 1 else { throw ValidationError("--clients and --duration must be at least 1") }
  }

  final class Tallies: Sendable {
    let state = Mutex(Tally())
  }

  struct Tally: Sendable {
    var latencies: [String: [Double]] = [:]
    var statuses: [String: Int] = [:]
    var accepted: [String] = []
    var failures: [String] = []
  }

  func run() async throws {
    guard let base = URL(string: url) else { throw ValidationError("--url is not a URL") }
    var keys: [String?] = [nil]
    if let apiKeysFile {
      keys = try String(contentsOfFile: apiKeysFile, encoding: .utf8).split(whereSeparator: \.isNewline)
        .map { $0.split(separator: "=").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "" }
        .filter { !$0.isEmpty && !$0.hasPrefix("#") }
      guard !keys.isEmpty else { throw ValidationError("no keys in \(apiKeysFile)") }
    }
    let gateways = keys.map { GatewayClient(baseURL: base, apiKey: $0, jobTimeout: .seconds(120)) }
    let models = try await gateways[0].models()
    let encrypted = ["logistic_v1", "logistic_v1", "breast_cancer_logistic", "wine_multiclass", "iris_mlp"]
    let samples = Dictionary(uniqueKeysWithValues: models.map { ($0.id, $0) })
    let tally = Tallies()
    let clock = ContinuousClock()
    let end = clock.now + .seconds(duration)
    let start = clock.now
    await withTaskGroup(of: Void.self) { group in
      for client in 0..<clients {
        let gateway = gateways[client % gateways.count]
        group.addTask {
          var generator = SystemRandomNumberGenerator()
          while clock.now < end {
            let roll = Int.random(in: 0..<100, using: &generator)
            let modelId = encrypted.randomElement(using: &generator)!
            guard let model = samples[modelId] else { continue }
            func sample() -> [Double] {
              (0..<model.inputDimension).map { _ in Double.random(in: -1...1, using: &generator) }
            }
            var operation = ""
            let began = clock.now
            var status = "200"
            var jobId: String?
            do {
              switch roll {
              case 0..<45:
                let batch = roll < 35 ? [sample()] : (0..<32).map { _ in sample() }
                operation = roll < 35 ? "encrypted \(modelId)" : "encrypted batch \(modelId)"
                let session = try gateway.session(for: model)
                let job = try await gateway.submit(batch, session: session, wait: .seconds(5))
                jobId = job.id
                status = job.isFinished ? "200" : "202"
                let result = try await gateway.waitForResult(job)
                _ = try gateway.predictions(from: result, session: session, sampleCount: batch.count)
              case 45..<85:
                // The plain route serves models with private weights only where the operator allows it.
                operation = "plain"
                guard let plainModel = model.servesPlain ? model : samples.values.first(where: \.servesPlain) else {
                  operation = "models"
                  _ = try await gateway.models()
                  break
                }
                let inputs = (0..<plainModel.inputDimension).map { _ in Double.random(in: -1...1, using: &generator) }
                _ = try await gateway.inferPlain(model: plainModel.id, version: plainModel.version, inputs: inputs)
              case 85..<95:
                operation = "models"
                _ = try await gateway.models()
              default:
                // One client per tenant registers (its standing sets plus one stay within the
                // tenant's quota of 8); the others read the catalogue instead.
                guard client < gateways.count, let privateModel = samples["breast_cancer_logistic"] else {
                  operation = "models"
                  _ = try await gateway.models()
                  break
                }
                operation = "key registration"
                let fresh = try InferenceSession(model: privateModel)
                try await gateway.registerKeys(fresh)
                do {
                  let input = (0..<privateModel.inputDimension).map { _ in Double.random(in: -1...1, using: &generator)
                  }
                  let job = try await gateway.submit([input], session: fresh, wait: .seconds(5))
                  jobId = job.id
                  _ = try await gateway.waitForResult(job)
                } catch {
                  try? await gateway.deleteKeys(fresh)
                  throw error
                }
                try await gateway.deleteKeys(fresh)
              }
            } catch {
              operation = "error"
              switch error as? SDKError {
              case .server(_, let code, _, _, _)?: status = String(code)
              case .unexpectedResponse(let code, _)?: status = "unexpected \(code)"
              case .jobFailed(_, let code, _)?: status = "job failed \(code?.rawValue ?? "")"
              case .timeout?: status = "timeout"
              default: status = "client error"
              }
              tally.state.withLock { $0.failures.append("\(error)") }
            }
            let milliseconds = 1000 * (clock.now - began).seconds
            tally.state.withLock { tally in
              tally.latencies[operation, default: []].append(milliseconds)
              tally.statuses[status, default: 0] += 1
              if let jobId { tally.accepted.append(jobId) }
            }
          }
        }
      }
    }
    let seconds = (clock.now - start).seconds
    let result = tally.state.withLock { $0 }
    let total = result.latencies.values.reduce(0) { $0 + $1.count }
    func percentile(_ values: [Double], _ p: Double) -> Double {
      let sorted = values.sorted()
      return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
    var report: [String: Any] = [
      "clients": clients, "seconds": seconds, "operations": total, "operations_per_second": Double(total) / seconds,
      "statuses": result.statuses, "accepted_jobs": result.accepted.count,
    ]
    var operations: [String: Any] = [:]
    print(
      String(
        format: "%d clients, %.1f s: %d operations, %.1f per second", clients, seconds, total, Double(total) / seconds))
    for (name, values) in result.latencies.sorted(by: { $0.key < $1.key }) {
      let p50 = percentile(values, 0.5)
      let p99 = percentile(values, 0.99)
      operations[name] = ["count": values.count, "p50_ms": p50, "p99_ms": p99]
      print(String(format: "  %-36@ %7d  p50 %8.1f ms  p99 %8.1f ms", name as NSString, values.count, p50, p99))
    }
    report["by_operation"] = operations
    print(
      "  statuses: "
        + result.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    for failure in Set(result.failures).prefix(5) { print("  e.g. \(failure)") }
    if let jobIds {
      let text = result.accepted.joined(separator: "\n") + (result.accepted.isEmpty ? "" : "\n")
      if let handle = FileHandle(forWritingAtPath: jobIds) {
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try handle.close()
      } else {
        try text.write(toFile: jobIds, atomically: true, encoding: .utf8)
      }
    }
    if let json {
      try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        .write(to: URL(fileURLWithPath: json))
    }
  }
}
