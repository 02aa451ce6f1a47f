import CKKS
import Dispatch
import Foundation
import FuzzSupport
import Logging
import NIOCore
import Synchronization

@testable import Gateway

/// The reference contract's `POST /infer` reader (a hand-written streaming JSON scanner that
/// decodes hex as it goes), whole and in small chunks (3 bytes, so that chunk boundaries fall
/// inside every token, escape and hex pair), then validation of what it read against the bundled
/// model's SEAL layout. Both readings must agree.
let service = InferenceService(
  registry: try! ModelRegistry.bundled(), store: InMemoryJobStore(), pool: WorkerPool(threads: 1, queueCapacity: 1),
  logger: Logger(label: "fuzz"))

struct Chunks: AsyncSequence, Sendable {
  let bytes: [UInt8]
  let size: Int
  struct AsyncIterator: AsyncIteratorProtocol {
    let bytes: [UInt8]
    let size: Int
    var offset = 0
    mutating func next() async -> ByteBuffer? {
      guard offset < bytes.count else { return nil }
      defer { offset += size }
      return ByteBuffer(bytes: bytes[offset..<Swift.min(offset + size, bytes.count)])
    }
  }
  func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, size: size) }
}

/// Runs asynchronous work to completion on the fuzzer's own thread: the task prefers this
/// executor, so its jobs (every one of them, the readers being nonisolated) are queued here and
/// run by ``run(_:)`` on the calling thread, and the task is created, run and freed before `run`
/// returns. libFuzzer counts the mallocs and frees of each input and, when they differ, runs the
/// input again and scans the whole heap for leaks (tens of milliseconds with the bundled models in
/// memory); a task freed on another thread after the input returned would make every input look
/// like a possible leak.
final class InlineExecutor: TaskExecutor {
  private let queue = Mutex<[UnownedJob]>([])
  /// Signalled once per queued job.
  private let queued = DispatchSemaphore(value: 0)

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    queue.withLock { $0.append(job) }
    queued.signal()
  }

  /// Runs `work` in a task on this executor and returns when the task has finished. Jobs are run
  /// as they are queued; if the work waits on something outside this executor, this waits for it.
  func run(_ work: @escaping @Sendable () async -> Void) {
    let finished = Flag()
    Task(executorPreference: self) {
      await work()
      finished.value.withLock { $0 = true }
    }
    while !finished.value.withLock({ $0 }) {
      queued.wait()
      queue.withLock { $0.removeFirst() }.runSynchronously(on: asUnownedTaskExecutor())
    }
  }

  private final class Flag: Sendable {
    let value = Mutex(false)
  }
}

let executor = InlineExecutor()

@_cdecl("FuzzReferenceEnvelope_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  fuzz(argc, argv) {
    // Small payloads: the scanner and hex decoder are what this harness explores (SEAL streams
    // themselves are FuzzCiphertext's); the seeds cover every field and both encodings.
    let hex = HexCodec.encode(Array(0..<64))
    return [
      Array(
        "{\"model_id\": \"logistic_v1\", \"version\": \"1.0.0\", \"batch_size\": 2, \"inputs\": [{\"encoding\": \"hex\", \"payload\": \"\(hex)\"}, {\"payload\": \"\(hex.uppercased())\", \"encoding\": \"hex\"}]}"
          .utf8),
      Array(
        "{\"model_id\": \"logistic_v1\", \"inputs\": [{\"encoding\": \"hex\", \"payload\": \"00ff\"}], \"version\": \"1.0.0\", \"batch_size\": 1}"
          .utf8),
      Array("{\"model_id\": \"a\\u00e9\\n\", \"version\": \"1.0.0\", \"batch_size\": 1e0, \"inputs\": []}".utf8),
    ]
  } test: { bytes in
    executor.run {
      let whole = try? await ReferenceEnvelope.parseInfer(bytes)
      let streamed = try? await ReferenceEnvelope.parseInfer(
        streaming: Chunks(bytes: bytes, size: 3), limit: 1 << 24)
      precondition(whole?.payloads == streamed?.payloads && whole?.modelId == streamed?.modelId)
      if let whole {
        _ = try? service.validate(
          SEALInferenceRequest(
            modelId: whole.modelId, version: whole.version, batchSize: whole.batchSize, inputs: whole.payloads))
      }
    }
  }
}
