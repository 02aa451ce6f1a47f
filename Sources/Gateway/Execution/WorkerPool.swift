import Dispatch
public import Foundation
public import ServiceLifecycle
import Synchronization

/// A fixed set of threads for CPU-bound evaluation, off Swift's cooperative pool and the event
/// loops, with a bounded queue, in jobs and in the bytes their inputs hold: when either is full,
/// ``submit(_:)`` and ``reserve(bytes:tenant:)`` refuse instead of letting work (and memory) pile
/// up. Each tenant's reserved, queued and running work is bounded too (``tenantJobCapacity``,
/// ``tenantByteCapacity``), so that one tenant cannot fill the queue for everyone.
public final class WorkerPool: Sendable {
  private struct State {
    var queue: [@Sendable () -> Void] = []
    var head = 0
    var accepting = true
    var running = 0
    /// Places promised by ``WorkerPool/reserve(bytes:tenant:)`` and not yet used.
    var reserved = 0
    /// Input bytes of the work reserved, queued or running.
    var bytes = 0
    /// Jobs and input bytes each tenant holds reserved, queued or running.
    var tenants: [String: (jobs: Int, bytes: Int)] = [:]

    mutating func releaseTenant(_ tenant: String?, bytes: Int) {
      guard let tenant, let held = tenants[tenant] else { return }
      tenants[tenant] = held.jobs > 1 ? (held.jobs - 1, held.bytes - bytes) : nil
    }
  }

  /// What ``WorkerPool/reserve(bytes:tenant:)`` answers.
  public enum Reservation: Sendable, Equatable {
    /// A place is promised.
    case granted
    /// The queue (in jobs or bytes) is full, or the pool is shutting down.
    case queueFull
    /// The tenant holds its share of the queue already.
    case tenantShareFull
  }

  /// Number of worker threads.
  public let threadCount: Int
  /// Most jobs waiting (not yet running) at once.
  public let queueCapacity: Int
  /// Most input bytes (deserialized ciphertexts) held by reserved, queued and running work.
  public let byteCapacity: Int
  /// Most jobs one tenant may hold reserved, queued or running at once.
  public let tenantJobCapacity: Int
  /// Most input bytes one tenant's reserved, queued and running jobs may hold.
  public let tenantByteCapacity: Int
  private let state = Mutex(State())
  private let available = DispatchSemaphore(value: 0)
  private let finished = DispatchGroup()

  /// Starts `threads` workers (default: one per active core). A tenant's share defaults to the
  /// whole queue.
  public init(
    threads: Int = ProcessInfo.processInfo.activeProcessorCount, queueCapacity: Int = 256, byteCapacity: Int = 1 << 30,
    tenantJobCapacity: Int? = nil, tenantByteCapacity: Int? = nil
  ) {
    precondition(threads >= 1 && queueCapacity >= 1 && byteCapacity >= 1)
    threadCount = threads
    self.queueCapacity = queueCapacity
    self.byteCapacity = byteCapacity
    self.tenantJobCapacity = tenantJobCapacity ?? Int.max
    self.tenantByteCapacity = tenantByteCapacity ?? byteCapacity
    precondition(self.tenantJobCapacity >= 1 && self.tenantByteCapacity >= 1)
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

  /// Promises a place in the queue for work whose inputs hold `bytes`, for `tenant` (nil: counted
  /// against the whole queue only), so that a caller can record a job before handing it over and
  /// never record one that will be refused. Refused when the queue or its byte capacity is full,
  /// the pool is shutting down, or the tenant holds its share. Every ``Reservation/granted`` must
  /// be followed by exactly one ``submit(reserved:bytes:tenant:)`` or
  /// ``cancelReservation(bytes:tenant:)`` with the same `bytes` and `tenant`.
  public func reserve(bytes: Int = 0, tenant: String? = nil) -> Reservation {
    state.withLock { state in
      guard state.accepting, state.queue.count - state.head + state.reserved < queueCapacity,
        bytes <= byteCapacity - state.bytes
      else { return .queueFull }
      if let tenant {
        let held = state.tenants[tenant] ?? (0, 0)
        guard held.jobs < tenantJobCapacity, bytes <= tenantByteCapacity - held.bytes else { return .tenantShareFull }
        state.tenants[tenant] = (held.jobs + 1, held.bytes + bytes)
      }
      state.reserved += 1
      state.bytes += bytes
      return .granted
    }
  }

  /// Queues `work` in a place promised by ``reserve(bytes:tenant:)``; its bytes (and the tenant's
  /// share) are given back when it has run. Queued even while shutting down: the promise was made
  /// before, and shutdown lets queued work finish.
  public func submit(reserved work: @escaping @Sendable () -> Void, bytes: Int = 0, tenant: String? = nil) {
    let release: @Sendable () -> Void = { [self] in
      state.withLock { state in
        state.bytes -= bytes
        state.releaseTenant(tenant, bytes: bytes)
      }
    }
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

  /// Gives back a place (and its bytes) promised by ``reserve(bytes:tenant:)``.
  public func cancelReservation(bytes: Int = 0, tenant: String? = nil) {
    state.withLock { state in
      precondition(state.reserved > 0, "cancelReservation() without a reservation")
      state.reserved -= 1
      state.bytes -= bytes
      state.releaseTenant(tenant, bytes: bytes)
    }
  }

  /// Input bytes held by reserved, queued and running work.
  public var heldBytes: Int { state.withLock { $0.bytes } }

  /// Jobs and input bytes `tenant` holds reserved, queued or running.
  public func held(by tenant: String) -> (jobs: Int, bytes: Int) { state.withLock { $0.tenants[tenant] ?? (0, 0) } }

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
