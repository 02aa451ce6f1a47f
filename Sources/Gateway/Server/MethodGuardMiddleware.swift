public import Hummingbird

/// Answers a method the contract does not declare on a path it does declare with `405` and an
/// `Allow` header (in the contract's error shape, or the reference's on `/reference`), instead
/// of the router's `404`. Unknown paths stay `404`.
public struct MethodGuardMiddleware<Context: RequestContext>: RouterMiddleware {
  /// Every declared path (templates with `{parameter}` segments) and its methods: ours
  /// (schemas/openapi.yaml) and the reference contract's under `/reference`
  /// (schemas/reference-v1/openapi.yaml); a test checks both documents against this table.
  static var declared: [(template: [Substring], methods: [HTTPRequest.Method])] {
    let ours: [(String, [HTTPRequest.Method])] = [
      ("/health", [.get]), ("/metrics", [.get]), ("/models", [.get]), ("/models/{model_id}/{version}", [.get]),
      ("/infer", [.post]), ("/infer/plain", [.post]), ("/keys", [.post]), ("/keys/{key_id}", [.get, .delete]),
      ("/jobs/{job_id}", [.get]),
    ]
    let reference: [(String, [HTTPRequest.Method])] = [
      ("/health", [.get]), ("/models", [.get]), ("/infer", [.post]), ("/infer/plain", [.post]),
      ("/jobs/{job_id}", [.get]),
    ]
    return (ours + reference.map { (ReferenceRoutes.prefix + $0.0, $0.1) }).map { path, methods in
      (path.split(separator: "/"), methods)
    }
  }

  public init() {}

  /// The methods declared for `path`, or nil when no declared path matches it.
  static func methods(for path: String) -> [HTTPRequest.Method]? {
    let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    for (template, methods) in declared where template.count == segments.count {
      let matches = zip(template, segments).allSatisfy { pattern, segment in
        pattern.hasPrefix("{") ? !segment.isEmpty : pattern == segment
      }
      if matches { return methods }
    }
    return nil
  }

  public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
    async throws -> Response
  {
    guard let methods = Self.methods(for: request.uri.path), !methods.contains(request.method) else {
      return try await next(request, context)
    }
    let allowed = methods.map(\.rawValue).joined(separator: ", ")
    let error = GatewayError(
      .methodNotAllowed, "\(request.method.rawValue.prefix(16)) is not allowed here; allowed: \(allowed)",
      details: ["allow": allowed])
    let path = request.uri.path
    var response =
      path == ReferenceRoutes.prefix || path.hasPrefix(ReferenceRoutes.prefix + "/")
      ? ReferenceRoutes.errorResponse(error) : GatewayGuardMiddleware<Context>.response(error)
    response.headers[.allow] = allowed
    return response
  }
}
