public import Foundation
import Synchronization

/// A job store in process memory (lost on restart); for tests and ephemeral deployments.
public final class InMemoryJobStore: JobStore {
  private let jobs = Mutex<[String: JobRecord]>([:])

  public init() {}

  public func insert(_ job: JobRecord) async throws(JobStoreError) {
    try jobs.withLock { (jobs) throws(JobStoreError) in
      guard jobs[job.id] == nil else { throw .duplicate(job.id) }
      jobs[job.id] = job
    }
  }

  public func update(_ job: JobRecord) async throws(JobStoreError) {
    try jobs.withLock { (jobs) throws(JobStoreError) in
      guard let existing = jobs[job.id] else { throw .notFound(job.id) }
      guard !existing.status.isFinal else { throw .immutable(job.id) }
      jobs[job.id] = job
    }
  }

  public func job(id: String, tenant: String) async throws(JobStoreError) -> JobRecord? {
    jobs.withLock { jobs in jobs[id].flatMap { $0.tenant == tenant ? $0 : nil } }
  }

  public func deleteJobs(updatedBefore cutoff: Date, fetchedBefore fetchedCutoff: Date) async throws(JobStoreError)
    -> Int
  {
    jobs.withLock { jobs in
      let expired = jobs.values.filter { job in
        job.updatedAt < cutoff || job.fetchedAt.map { $0 < fetchedCutoff } == true
      }.map(\.id)
      for id in expired { jobs[id] = nil }
      return expired.count
    }
  }

  public func markFetched(id: String, tenant: String, at time: Date) async throws(JobStoreError) {
    jobs.withLock { jobs in
      guard var job = jobs[id], job.tenant == tenant, job.fetchedAt == nil else { return }
      job.fetchedAt = time
      jobs[id] = job
    }
  }

  public func usage(tenant: String) async throws(JobStoreError) -> JobUsage {
    jobs.withLock { jobs in
      jobs.values.reduce(into: JobUsage(jobs: 0, resultBytes: 0)) { usage, job in
        guard job.tenant == tenant else { return }
        usage.jobs += 1
        usage.resultBytes += job.outputs.reduce(0) { $0 + $1.count }
      }
    }
  }

  public func storedBytes() async throws(JobStoreError) -> Int {
    jobs.withLock { jobs in jobs.values.reduce(0) { $0 + $1.outputs.reduce(0) { $0 + $1.count } } }
  }

  public func failUnfinishedJobs(message: String, now: Date) async throws(JobStoreError) -> Int { 0 }
}
