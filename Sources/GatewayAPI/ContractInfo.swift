/// Facts of the contract both sides share.
public enum ContractInfo {
  /// The contract version (`info.version` of schemas/openapi.yaml, sent as `api_version`; a test
  /// checks they are equal).
  public static let version = "0.11.0"

  /// Whether a client built against `version` can talk to this server: same major version, and
  /// before 1.0.0 the same minor version too.
  public static func isCompatible(_ version: String) -> Bool {
    // MAJOR.MINOR.PATCH; only major and minor are compared (the patch may be any digits).
    let mine = self.version.split(separator: ".")
    let theirs = version.split(separator: ".", omittingEmptySubsequences: false)
    guard theirs.count == 3, theirs.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ("0"..."9").contains($0) } }) else {
      return false
    }
    return theirs[0] == mine[0] && (mine[0] != "0" || theirs[1] == mine[1])
  }
}
