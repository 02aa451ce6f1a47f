public import Foundation
import Synchronization

/// A job store in process memory (lost on restart); for tests and ephemeral deployments.
public final class InMemoryJobStore: JobStore {
  private struct State {
    var jobs: [String: JobRecord] = [:]
    /// Per tenant, kept with every change so that usage is one lookup.
    var usage: [String: JobUsage] = [:]
    var totalBytes = 0

    mutating func account(_ job: JobRecord, _ sign: Int) {
      let bytes = job.outputs.reduce(0) { $0 + $1.count }
      usage[job.tenant, default: JobUsage(jobs: 0, resultBytes: 0)].jobs += sign
      usage[job.tenant, default: JobUsage(jobs: 0, resultBytes: 0)].resultBytes += sign * bytes
      totalBytes += sign * bytes
    }

    mutating func put(_ job: JobRecord) {
      if let old = jobs[job.id] { account(old, -1) }
      jobs[job.id] = job
      account(job, 1)
    }

    mutating func remove(_ id: String) {
      if let old = jobs.removeValue(forKey: id) { account(old, -1) }
    }
  }

  private let state = Mutex(State())

  public init() {}

  public func insert(_ job: JobRecord) async throws(JobStoreError) {
    try state.withLock { (state) throws(JobStoreError) in
      guard state.jobs[job.id] == nil else { throw .duplicate(job.id) }
      state.put(job)
    }
  }

  public func update(_ job: JobRecord) async throws(JobStoreError) {
    try state.withLock { (state) throws(JobStoreError) in
      guard let existing = state.jobs[job.id] else { throw .notFound(job.id) }
      guard !existing.status.isFinal else { throw .immutable(job.id) }
      state.put(job)
    }
  }

  public func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord? {
    state.withLock { state in state.jobs[id].flatMap { $0.tenant == tenant ? $0 : nil } }
  }

  public func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError)
    -> Int
  {
    state.withLock { state in
      let expired = state.jobs.values.filter { job in
        job.updatedAt < cutoff || job.fetchedAt.map { $0 < fetchedCutoff } == true
      }.map(\.id)
      for id in expired { state.remove(id) }
      return expired.count
    }
  }

  public func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError) {
    state.withLock { state in
      guard var job = state.jobs[id], job.tenant == tenant, job.fetchedAt == nil else { return }
      job.fetchedAt = time
      state.put(job)
    }
  }

  public func usage(tenant: String) async throws(JobStoreError) -> JobUsage {
    state.withLock { $0.usage[tenant] ?? JobUsage(jobs: 0, resultBytes: 0) }
  }

  public func storedBytes() async throws(JobStoreError) -> Int {
    state.withLock { $0.totalBytes }
  }

  public func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int { 0 }
}
