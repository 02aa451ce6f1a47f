import Dispatch
public import Foundation
public import ServiceLifecycle
import Synchronization

/// A fixed set of threads for CPU-bound evaluation, off Swift's cooperative pool and the event
/// loops, with a bounded queue, in jobs and in the bytes their inputs hold: when either is full,
/// ``submit(_:)`` and ``reserve(bytes:)`` refuse instead of letting work (and memory) pile up.
public final class WorkerPool: Sendable {
  private struct State {
    var queue: [@Sendable () -> Void] = []
    var head = 0
    var accepting = true
    var running = 0
    /// Places promised by ``WorkerPool/reserve(bytes:)`` and not yet used.
    var reserved = 0
    /// Input bytes of the work reserved, queued or running.
    var bytes = 0
  }

  /// Number of worker threads.
  public let threadCount: Int
  /// Most jobs waiting (not yet running) at once.
  public let queueCapacity: Int
  /// Most input bytes (deserialized ciphertexts) held by reserved, queued and running work.
  public let byteCapacity: Int
  private let state = Mutex(State())
  private let available = DispatchSemaphore(value: 0)
  private let finished = DispatchGroup()

  /// Starts `threads` workers (default: one per active core).
  public init(
    threads: Int = ProcessInfo.processInfo.activeProcessorCount, queueCapacity: Int = 256, byteCapacity: Int = 1 << 30
  ) {
    precondition(threads >= 1 && queueCapacity >= 1 && byteCapacity >= 1)
    threadCount = threads
    self.queueCapacity = queueCapacity
    self.byteCapacity = byteCapacity
    for index in 0..<threads {
      finished.enter()
      let thread = Thread { [self] in
        workLoop()
        finished.leave()
      }
      thread.name = "heinfer-worker-\(index)"
      thread.start()
    }
  }

  /// Queues `work`; returns `false` when the queue is full or the pool is shutting down.
  public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
    let accepted = state.withLock { state in
      guard state.accepting, state.queue.count - state.head + state.reserved < queueCapacity else { return false }
      state.queue.append(work)
      return true
    }
    if accepted { available.signal() }
    return accepted
  }

  /// Promises a place in the queue for work whose inputs hold `bytes`, so that a caller can
  /// record a job before handing it over and never record one that will be refused; false when
  /// the queue or its byte capacity is full, or the pool is shutting down. Every `true` must be
  /// followed by exactly one ``submit(reserved:bytes:)`` or ``cancelReservation(bytes:)`` with the
  /// same `bytes`.
  public func reserve(bytes: Int = 0) -> Bool {
    state.withLock { state in
      guard state.accepting, state.queue.count - state.head + state.reserved < queueCapacity,
        bytes <= byteCapacity - state.bytes
      else { return false }
      state.reserved += 1
      state.bytes += bytes
      return true
    }
  }

  /// Queues `work` in a place promised by ``reserve(bytes:)``; its bytes are given back when it
  /// has run. Queued even while shutting down: the promise was made before, and shutdown lets
  /// queued work finish.
  public func submit(reserved work: @escaping @Sendable () -> Void, bytes: Int = 0) {
    let release: @Sendable () -> Void = { [self] in state.withLock { $0.bytes -= bytes } }
    state.withLock { state in
      precondition(state.reserved > 0, "submit(reserved:) without a reservation")
      state.reserved -= 1
      state.queue.append {
        work()
        release()
      }
    }
    available.signal()
  }

  /// Gives back a place (and its bytes) promised by ``reserve(bytes:)``.
  public func cancelReservation(bytes: Int = 0) {
    state.withLock { state in
      precondition(state.reserved > 0, "cancelReservation() without a reservation")
      state.reserved -= 1
      state.bytes -= bytes
    }
  }

  /// Input bytes held by reserved, queued and running work.
  public var heldBytes: Int { state.withLock { $0.bytes } }

  /// Stops accepting work, lets queued work finish (and work submitted into places reserved
  /// before), and waits for the threads to exit.
  public func shutdown() async {
    state.withLock { $0.accepting = false }
    // A reserved place is about to be used (its job is being recorded): wait for it.
    while state.withLock({ $0.reserved > 0 }) { try? await Task.sleep(for: .milliseconds(5)) }
    for _ in 0..<threadCount { available.signal() }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      finished.notify(queue: .global()) { continuation.resume() }
    }
  }

  private func workLoop() {
    while true {
      available.wait()
      let next: (@Sendable () -> Void)? = state.withLock { state in
        guard state.head < state.queue.count else { return nil }
        let work = state.queue[state.head]
        state.head += 1
        if state.head > 64, state.head * 2 > state.queue.count {
          state.queue.removeFirst(state.head)
          state.head = 0
        }
        return work
      }
      guard let work = next else {
        // Woken without work: only shutdown does that.
        if state.withLock({ !$0.accepting }) { return }
        continue
      }
      work()
    }
  }
}

/// A ``WorkerPool`` as a service: it runs until graceful shutdown (or cancellation), then lets the
/// pool finish its queued work and stops its threads. In a service group it belongs before the
/// services that submit work, so that it stops after them.
public struct WorkerPoolService: Service {
  public let pool: WorkerPool

  public init(_ pool: WorkerPool) { self.pool = pool }

  public func run() async {
    try? await gracefulShutdown()
    await pool.shutdown()
  }
}
