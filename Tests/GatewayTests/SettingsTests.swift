import Foundation
import TestSupport
import Testing

@testable import Gateway

/// Reading the settings: precedence, strictness, the list the help and README show, and the
/// combinations the composition root refuses.
@Suite("Settings")
struct SettingsTests {
  static func temporaryFile(_ name: String, _ contents: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)").path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test("A flag wins over the environment, which wins over the file, which wins over the default")
  func precedence() async throws {
    let yaml = try Self.temporaryFile(
      "settings.yaml", "port: 7000\nworkers: 3\nqueue: 17\nstore: memory\nrate: 2.5\nopen: true\n")
    defer { try? FileManager.default.removeItem(atPath: yaml) }
    let settings = try await GatewaySettings.load(
      arguments: ["--port", "9000", "--job-ttl=120"],
      environment: ["HEINFER_PORT": "8000", "HEINFER_WORKERS": "5", "HEINFER_CONFIG": yaml, "PORT": "1"])
    #expect(settings.server.port == 9000, "flag")
    #expect(settings.workers == 5, "environment")
    #expect(settings.queueCapacity == 17, "file")
    #expect(settings.store == .memory)
    #expect(settings.server.requestsPerSecond == 2.5)
    #expect(settings.server.tenants.isOpen)
    #expect(settings.jobTimeToLive == .seconds(120))
    #expect(settings.maximumAttempts == 3, "default")
    #expect(settings.server.host == "127.0.0.1")
    try settings.validate()

    let json = try Self.temporaryFile("settings.json", #"{"store": "postgres", "databaseUrl": "postgres://u@h/d"}"#)
    defer { try? FileManager.default.removeItem(atPath: json) }
    let fromJSON = try await GatewaySettings.load(
      arguments: ["--no-workers"], environment: ["HEINFER_API_KEYS": "0123456789abcdef=a"], configurationFile: json)
    #expect(fromJSON.role == .front)
    #expect(fromJSON.store == .postgres)
    #expect(fromJSON.database?.host == "h")
    #expect(fromJSON.server.tenants.tenant(forKey: "0123456789abcdef") == "a")
    try fromJSON.validate()
  }

  @Test("A value of the wrong type or range, an unknown flag or API keys on the command line are refused by name")
  func strictness() async throws {
    func refusal(_ arguments: [String], _ environment: [String: String] = [:]) async -> String? {
      do {
        _ = try await GatewaySettings.load(arguments: arguments, environment: environment)
        return nil
      } catch {
        return error.description
      }
    }
    #expect(await refusal([], ["HEINFER_PORT": "http"])?.contains("HEINFER_PORT") == true)
    #expect(await refusal(["--port", "70000"])?.contains("0...65535") == true)
    #expect(await refusal(["--workers", "0"])?.contains("--workers") == true)
    #expect(await refusal(["--open", "maybe"])?.contains("true or false") == true)
    #expect(await refusal(["--store", "redis"])?.contains("sqlite, memory or postgres") == true)
    #expect(await refusal(["--log-level", "loud"])?.contains("logLevel") == true)
    #expect(await refusal(["--prot", "1"])?.contains("unknown setting --prot") == true)
    #expect(await refusal(["--api-keys", "0123456789abcdef=a"])?.contains("never go on the command line") == true)
    #expect(await refusal(["--store", "postgres", "--database-url", "mysql://x/y"])?.contains("postgres://") == true)
    #expect(await refusal([], ["HEINFER_CONFIG": "/nonexistent/settings.json"])?.contains("cannot read") == true)
    #expect(await refusal(["--port", "8081"]) == nil)
  }

  @Test("Roles and stores that cannot work together are refused before anything opens")
  func roles() throws {
    var settings = GatewaySettings()
    settings.server.tenants = .open
    try settings.validate()
    settings.role = .worker
    #expect(throws: GatewayConfigurationError.self) { try settings.validate() }
    settings.role = .front
    #expect(throws: GatewayConfigurationError.self) { try settings.validate() }
    settings.store = .postgres
    #expect(throws: GatewayConfigurationError.self, "no database URL") { try settings.validate() }
    settings.database = try PostgresSettings(url: "postgres://u:p@db.example:6543/jobs?sslmode=require&schema=blue")
    try settings.validate()
    #expect(settings.database?.port == 6543)
    #expect(settings.database?.schema == "blue")
    #expect(settings.database?.description.contains(":p@") == false, "the password stays out of logs")
    #expect(throws: PostgresSettingsError.self) { _ = try PostgresSettings(url: "postgres://u@h/d?schema=Bad-Name") }
    #expect(throws: PostgresSettingsError.self) { _ = try PostgresSettings(url: "postgres://u@h/d?sslmode=maybe") }
  }

  @Test("The help lists every setting once, with a flag (secrets excepted) and a variable; the README lists each")
  func catalog() throws {
    let catalog = GatewaySettings.catalog
    #expect(catalog.count >= 35)
    #expect(Set(catalog.map(\.key)).count == catalog.count, "each key once")
    #expect(Set(catalog.compactMap(\.flag)).count == catalog.compactMap(\.flag).count)
    #expect(catalog.filter { $0.flag == nil }.map(\.key) == ["apiKeys"], "only API keys stay off the command line")
    #expect(catalog.first { $0.key == "maxBodyBytes" }?.environmentVariable == "HEINFER_MAX_BODY_BYTES")
    let help = GatewaySettings.helpText
    let readme = try Repository.text("README.md")
    for setting in catalog {
      #expect(help.contains(setting.environmentVariable))
      #expect(readme.contains("`\(setting.environmentVariable)`"), "README lacks \(setting.key)")
      if let flag = setting.flag { #expect(readme.contains("`\(flag)`"), "README lacks \(flag)") }
    }
  }
}
