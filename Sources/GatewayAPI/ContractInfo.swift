/// Facts of the contract both sides share.
public enum ContractInfo {
  /// The contract version (`info.version` of schemas/openapi.yaml, sent as `api_version`; a test
  /// checks they are equal).
  public static let version = "0.8.0"
}
