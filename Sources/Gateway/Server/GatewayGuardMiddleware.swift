import Foundation
import GatewayAPI
import HTTPTypes
public import Hummingbird
import NIOCore

/// The checks that come before a body is read, in the contract's order: authentication, the
/// tenant's rate limit (counted after authentication), then the body size limit (`413` from the
/// `Content-Length` header before reading, or as soon as a streamed body exceeds the limit).
/// Bodies are collected here, except on the routes that parse them as they arrive
/// (`POST /reference/infer`), which enforce the same limit while reading.
/// `/health`, `/reference/health` and `/metrics` are exempt. Sets the request's tenant for the
/// handlers. Refusals on the reference contract's paths take its shape, `{"detail": "…"}`.
public struct GatewayGuardMiddleware<Context: RequestContext>: RouterMiddleware {
  let tenants: TenantDirectory
  let limiter: RateLimiter?
  let maximumBodyBytes: Int
  static var exemptPaths: Set<String> { ["/health", "/metrics", ReferenceRoutes.prefix + "/health"] }

  public init(tenants: TenantDirectory, limiter: RateLimiter?, maximumBodyBytes: Int) {
    self.tenants = tenants
    self.limiter = limiter
    self.maximumBodyBytes = maximumBodyBytes
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
    // 1. Authentication.
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
    // Streamed routes read (and bound) their bodies themselves as they arrive.
    if ReferenceRoutes.streamedPaths.contains(path) {
      return try await RequestTenant.$current.withValue(tenant) { try await next(request, context) }
    }
    do {
      // Room for the declared size up to 1 MiB at once (a declared length is a claim, not bytes:
      // beyond that the buffer grows as bytes arrive).
      var body = ByteBuffer()
      body.reserveCapacity(min(declaredLength ?? 0, maximumBodyBytes, 1 << 20))
      try await request.body.collect(upTo: maximumBodyBytes, into: &body)
      request.body = RequestBody(buffer: body)
    } catch is NIOTooManyBytesError {
      return response(tooLarge)
    } catch let error as HTTPError where error.status == .contentTooLarge {
      return response(tooLarge)
    }
    return try await RequestTenant.$current.withValue(tenant) { try await next(request, context) }
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
