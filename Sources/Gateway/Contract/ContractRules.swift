/// The schema's patterns and limits that the generated decoder leaves unchecked (it checks types,
/// required fields and enumerations): enforced here before any work, with `400 INVALID_SCHEMA`,
/// in messages that name the rule and never echo the offending value.
public enum ContractRules {
  /// `ModelId`: `[a-z][a-z0-9_]{0,63}`.
  public static func isModelId(_ id: String) -> Bool {
    let scalars = Array(id.unicodeScalars)
    guard (1...64).contains(scalars.count), ("a"..."z").contains(scalars[0]) else { return false }
    return scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
  }

  /// `SemanticVersion`: `MAJOR.MINOR.PATCH` without leading zeros, at most 32 characters.
  public static func isSemanticVersion(_ version: String) -> Bool {
    let parts = version.split(separator: ".", omittingEmptySubsequences: false)
    return version.utf8.count <= 32 && parts.count == 3
      && parts.allSatisfy { part in
        !part.isEmpty && part.allSatisfy { ("0"..."9").contains($0) } && (part == "0" || part.first != "0")
      }
  }

  /// `JobId` and `KeyId`: 32 lowercase hexadecimal digits.
  public static func isIdentifier(_ id: String) -> Bool {
    id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
  }

  /// `batch_size`'s schema maximum: 2^53 − 1, the largest integer every JSON reader keeps exact.
  public static let maximumBatchSize = 9_007_199_254_740_991

  static func refuse(_ field: String, _ rule: String) -> GatewayError {
    GatewayError(.invalidSchema, "\(field) \(rule)", details: ["field": field])
  }

  static func modelId(_ id: String, field: String = "model_id") throws(GatewayError) {
    guard isModelId(id) else { throw refuse(field, "must match ^[a-z][a-z0-9_]{0,63}$") }
  }

  static func version(_ version: String, field: String = "version") throws(GatewayError) {
    guard isSemanticVersion(version) else { throw refuse(field, "must be MAJOR.MINOR.PATCH (at most 32 characters)") }
  }

  static func apiVersion(_ version: String?) throws(GatewayError) {
    guard let version else { return }
    guard isSemanticVersion(version) else {
      throw refuse("api_version", "must be MAJOR.MINOR.PATCH (at most 32 characters)")
    }
  }

  static func identifier(_ id: String, field: String) throws(GatewayError) {
    guard isIdentifier(id) else { throw refuse(field, "must be 32 lowercase hexadecimal digits") }
  }

  static func range(_ value: Int, _ allowed: ClosedRange<Int>, field: String) throws(GatewayError) {
    guard allowed.contains(value) else {
      throw refuse(field, "must be in \(allowed.lowerBound)…\(allowed.upperBound)")
    }
  }

  static func minimum(_ value: Int, _ least: Int, field: String) throws(GatewayError) {
    guard value >= least else { throw refuse(field, "must be at least \(least)") }
  }

  static func count(_ count: Int, _ allowed: ClosedRange<Int>, field: String) throws(GatewayError) {
    guard allowed.contains(count) else {
      throw refuse(field, "must hold \(allowed.lowerBound)…\(allowed.upperBound) items")
    }
  }
}
