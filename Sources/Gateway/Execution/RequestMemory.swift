import Synchronization

/// A budget of request bytes the gateway holds at once, across all connections: bodies as they
/// arrive, and the ciphertexts and keys handlers deserialize from them, until their handler
/// returns. Each tenant may hold at most ``tenantCapacity`` of it, so that one tenant's slow or
/// large uploads cannot starve another's. A request that would exceed either is refused with
/// `503 UNAVAILABLE` and `Retry-After`.
public final class RequestByteBudget: Sendable {
  /// Most bytes held at once, by all tenants together.
  public let capacity: Int
  /// Most bytes one tenant's requests may hold at once.
  public let tenantCapacity: Int
  private struct Usage {
    var total = 0
    var tenants: [String: Int] = [:]
  }
  private let usage = Mutex(Usage())

  /// - Parameters:
  ///   - capacity: bytes (≥ the largest body accepted, else large bodies never fit).
  ///   - tenantCapacity: bytes one tenant may hold (default: the whole budget).
  public init(capacity: Int, tenantCapacity: Int? = nil) {
    precondition(capacity >= 0)
    self.capacity = capacity
    self.tenantCapacity = min(tenantCapacity ?? capacity, capacity)
  }

  /// Takes `bytes` for `tenant`; false (taking nothing) when they do not fit the budget or the
  /// tenant's share of it.
  func reserve(_ bytes: Int, tenant: String) -> Bool {
    usage.withLock { usage in
      let held = usage.tenants[tenant] ?? 0
      guard bytes <= capacity - usage.total, bytes <= tenantCapacity - held else { return false }
      usage.total += bytes
      usage.tenants[tenant] = held + bytes
      return true
    }
  }

  /// Gives `bytes` of `tenant` back.
  func release(_ bytes: Int, tenant: String) {
    guard bytes > 0 else { return }
    usage.withLock { usage in
      usage.total -= bytes
      let left = (usage.tenants[tenant] ?? 0) - bytes
      usage.tenants[tenant] = left > 0 ? left : nil
    }
  }

  /// Bytes held now.
  public var inUse: Int { usage.withLock { $0.total } }

  /// Bytes `tenant` holds now.
  public func inUse(by tenant: String) -> Int { usage.withLock { $0.tenants[tenant] ?? 0 } }
}

/// The bytes one request holds in a ``RequestByteBudget``, all given back at once when the
/// request is done.
final class BudgetClaim: Sendable {
  let budget: RequestByteBudget
  let tenant: String
  private let held = Mutex(0)

  init(_ budget: RequestByteBudget, tenant: String) {
    self.budget = budget
    self.tenant = tenant
  }

  /// Holds at least `total` bytes; false (holding what it held) when the budget cannot give more.
  func grow(to total: Int) -> Bool {
    held.withLock { held in
      guard total > held else { return true }
      guard budget.reserve(total - held, tenant: tenant) else { return false }
      held = total
      return true
    }
  }

  /// Bytes held now.
  var heldBytes: Int { held.withLock { $0 } }

  /// Holds `bytes` more; false (holding what it held) when the budget cannot give them.
  func add(_ bytes: Int) -> Bool {
    held.withLock { held in
      guard bytes > 0 else { return true }
      guard budget.reserve(bytes, tenant: tenant) else { return false }
      held += bytes
      return true
    }
  }

  /// Gives `bytes` back (at most what it holds).
  func remove(_ bytes: Int) {
    let given = held.withLock { held in
      let given = min(max(bytes, 0), held)
      held -= given
      return given
    }
    budget.release(given, tenant: tenant)
  }

  /// Gives everything back.
  func releaseAll() {
    budget.release(
      held.withLock { held in
        defer { held = 0 }
        return held
      }, tenant: tenant)
  }
}

/// What the current request holds in the byte budget (bound by ``GatewayGuardMiddleware`` for the
/// request's handler): the deserialized objects a handler makes from a body count against the
/// same budget as the body.
enum RequestMemory {
  @TaskLocal static var claim: BudgetClaim?

  /// Counts `bytes` more against the current request's claim; nothing without one (code that runs
  /// outside a request, such as tests calling the service directly).
  /// - Throws: `PAYLOAD_TOO_LARGE` when the request alone needs more than a tenant may hold (it
  ///   would never fit), `UNAVAILABLE` when the budget, or the tenant's share of it, cannot hold
  ///   them now.
  static func charge(_ bytes: Int) throws(GatewayError) {
    guard let claim, !claim.add(bytes) else { return }
    let needed = claim.heldBytes + bytes
    let share = claim.budget.tenantCapacity
    if needed > share {
      throw GatewayError(
        .payloadTooLarge,
        "this request needs at least \(needed) bytes in memory (its body and what is deserialized from it), more "
          + "than one tenant's requests may hold at once (\(share))",
        details: ["limit_bytes": "\(share)"])
    }
    throw GatewayError(
      .unavailable,
      "the gateway is holding too many request bytes for this tenant or in all; retry shortly",
      details: ["retry_after_seconds": "1"])
  }

  /// Gives back `bytes` counted by ``charge(_:)`` (objects the request no longer holds itself).
  static func release(_ bytes: Int) {
    claim?.remove(bytes)
  }
}
