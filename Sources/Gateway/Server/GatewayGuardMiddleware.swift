import Foundation
import GatewayAPI
import HTTPTypes
public import Hummingbird
import NIOCore
import Synchronization

/// The checks that come before a body is read, in the contract's order: authentication, the
/// tenant's rate limit (counted after authentication), then the body: its size (`413` from the
/// `Content-Length` header before reading, or as soon as a streamed body exceeds the limit), the
/// budget of request bytes held at once, in all and per tenant (`503`, see
/// ``RequestByteBudget``; bytes are counted as they arrive, and the handler's deserialized
/// objects count too, ``RequestMemory``) and a deadline for receiving it (`408`). Bodies are collected here, except on the routes that parse them as
/// they arrive (`POST /reference/infer`), which enforce the same limit and deadline while reading.
/// `/health`, `/reference/health` and `/metrics` are exempt. Sets the request's tenant for the
/// handlers. Refusals on the reference contract's paths take its shape, `{"detail": "…"}`.
public struct GatewayGuardMiddleware<Context: RequestContext>: RouterMiddleware {
  let tenants: TenantDirectory
  let limiter: RateLimiter?
  let maximumBodyBytes: Int
  let budget: RequestByteBudget
  let bodyTimeout: Duration
  static var exemptPaths: Set<String> { ["/health", "/metrics", ReferenceRoutes.prefix + "/health"] }

  public init(
    tenants: TenantDirectory, limiter: RateLimiter?, maximumBodyBytes: Int,
    budget: RequestByteBudget = RequestByteBudget(capacity: .max), bodyTimeout: Duration = .seconds(60)
  ) {
    self.tenants = tenants
    self.limiter = limiter
    self.maximumBodyBytes = maximumBodyBytes
    self.budget = budget
    self.bodyTimeout = bodyTimeout
  }

  public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
    async throws -> Response
  {
    if Self.exemptPaths.contains(request.uri.path) { return try await next(request, context) }
    let path = request.uri.path
    let isReference = path == ReferenceRoutes.prefix || path.hasPrefix(ReferenceRoutes.prefix + "/")
    func response(_ error: GatewayError) -> Response {
      isReference ? ReferenceRoutes.errorResponse(error) : Self.response(error)
    }
    // 1. Authentication (a directory without keys refuses everyone unless it is open mode).
    let tenant: String
    if tenants.isOpen {
      tenant = TenantDirectory.openTenant
    } else {
      let header = request.headers[.authorization] ?? ""
      guard header.hasPrefix("Bearer "), let known = tenants.tenant(forKey: String(header.dropFirst(7))) else {
        return response(GatewayError(.unauthorized, "a valid API key is required (Authorization: Bearer <key>)"))
      }
      tenant = known
    }
    // 2. Rate limit, per tenant.
    if let limiter, let retryAfter = limiter.take(tenant: tenant) {
      var refusal = response(
        GatewayError(
          .rateLimited, "too many requests; retry in \(retryAfter) s", details: ["retry_after_seconds": "\(retryAfter)"]
        ))
      refusal.headers[.retryAfter] = "\(retryAfter)"
      return refusal
    }
    // 3. Body size, before reading.
    var request = request
    let tooLarge = GatewayError(
      .payloadTooLarge, "the body exceeds \(maximumBodyBytes) bytes", details: ["limit_bytes": "\(maximumBodyBytes)"])
    let declaredLength = request.headers[.contentLength].flatMap(Int.init)
    if let length = declaredLength, length > maximumBodyBytes {
      return response(tooLarge)
    }
    // 4. The budget, in all and per tenant: bytes are reserved as they arrive (a declared length is
    // a claim, not bytes: a slow upload holds only what it has sent), and everything is released
    // when the handler is done with the body (its deserialized ciphertexts and keys included).
    let busy = GatewayError(
      .unavailable, "the gateway is receiving too many request bytes for this tenant or in all; retry shortly",
      details: ["retry_after_seconds": "1"])
    func refuseBusy() -> Response {
      var refusal = response(busy)
      refusal.headers[.retryAfter] = "1"
      return refusal
    }
    let claim = BudgetClaim(budget, tenant: tenant)
    defer { claim.releaseAll() }
    func handle(_ request: Request) async throws -> Response {
      try await RequestTenant.$bound.withValue(tenant) {
        try await RequestMemory.$claim.withValue(claim) { try await next(request, context) }
      }
    }
    // Streamed routes read (and bound) their bodies themselves as they arrive, and count the bytes
    // against the claim as they come (``RequestMemory``).
    if ReferenceRoutes.streamedPaths.contains(path) { return try await handle(request) }
    // 5. Read the body within the limit, racing the deadline: a body still incomplete then gets
    // 408 at once, whether or not more bytes come. The buffer's first allocation (at most
    // 64 KiB of a declared length) is real memory: it is claimed before reading.
    let body = request.body
    let limit = maximumBodyBytes
    let capacity = min(declaredLength ?? 0, maximumBodyBytes, 64 << 10)
    guard claim.grow(to: capacity) else { return refuseBusy() }
    let outcome =
      try await Self.withDeadline(bodyTimeout) {
        try await Self.read(body, limit: limit, claim: claim, initialCapacity: capacity)
      } ?? .timedOut
    switch outcome {
    case .body(let buffer):
      request.body = RequestBody(buffer: buffer)
      return try await handle(request)
    case .tooLarge:
      return response(tooLarge)
    case .overBudget:
      return refuseBusy()
    case .timedOut:
      return response(Self.timedOut(bodyTimeout))
    }
  }

  /// `operation`'s result, or nil (and `operation` cancelled) if it has not finished within
  /// `timeout`: an incomplete body is refused at the deadline whether or not more bytes come.
  static func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T)
    async throws -> T?
  {
    try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask { try await operation() }
      group.addTask {
        try await Task.sleep(for: timeout)
        return nil
      }
      defer { group.cancelAll() }
      return try await group.next() ?? nil
    }
  }

  /// The refusal of a body not received within `timeout`.
  static func timedOut(_ timeout: Duration) -> GatewayError {
    GatewayError(
      .requestTimeout, "the body was not received within \(timeout.components.seconds) s",
      details: ["limit_seconds": "\(timeout.components.seconds)"])
  }

  enum BodyOutcome: Sendable {
    case body(ByteBuffer)
    case tooLarge
    case overBudget
    case timedOut
  }

  /// Collects `body` up to `limit` bytes, growing `claim` as bytes arrive beyond what it holds.
  /// The buffer starts at `initialCapacity` (which the caller has claimed) and grows as bytes
  /// arrive.
  static func read(_ body: RequestBody, limit: Int, claim: BudgetClaim, initialCapacity: Int) async throws
    -> BodyOutcome
  {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(initialCapacity)
    do {
      for try await chunk in body {
        let total = buffer.readableBytes + chunk.readableBytes
        guard total <= limit else { return .tooLarge }
        guard claim.grow(to: total) else { return .overBudget }
        var chunk = chunk
        buffer.writeBuffer(&chunk)
      }
    } catch is NIOTooManyBytesError {
      return .tooLarge
    } catch let error as HTTPError where error.status == .contentTooLarge {
      return .tooLarge
    }
    return .body(buffer)
  }

  /// The contract's JSON error response for `error`.
  static func response(_ error: GatewayError) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = (try? encoder.encode(GatewayAPIHandler.body(error))) ?? Data()
    return Response(
      status: .init(code: error.code.httpStatus),
      headers: [.contentType: "application/json; charset=utf-8"],
      body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }
}
