public import Configuration
import Foundation
public import Logging
import SystemPackage

/// One setting as users see it: a camelCase key, which is also its file key (`maxBodyBytes`),
/// its flag (`--max-body-bytes`) and its environment variable (`HEINFER_MAX_BODY_BYTES`).
public struct SettingDescription: Sendable, Hashable {
  /// The key in a configuration file, camelCase.
  public let key: String
  /// What the setting does, with its unit.
  public let help: String
  /// The default, as shown in the help.
  public let defaultValue: String
  /// Whether the command line may carry it (secrets may not: other users see the process list).
  public let allowedOnCommandLine: Bool

  /// `--kebab-case`, or nil for settings the command line may not carry.
  public var flag: String? { allowedOnCommandLine ? "--" + Self.words(key).joined(separator: "-") : nil }
  /// `HEINFER_SNAKE_CASE`.
  public var environmentVariable: String {
    "HEINFER_" + Self.words(key).joined(separator: "_").uppercased()
  }

  static func words(_ key: String) -> [String] {
    var words: [String] = []
    var current = ""
    for character in key {
      if character.isUppercase, !current.isEmpty {
        words.append(current)
        current = ""
      }
      current.append(character.lowercased())
    }
    if !current.isEmpty { words.append(current) }
    return words
  }
}

/// Every setting of the gateway and its workers, read once from a `ConfigReader` (the command
/// line, then the environment, then a configuration file, then these defaults), checked, and
/// handed to ``GatewayAssembly``. The list of settings (``catalog``) is what `heinfer serve --help`
/// and the README show.
public struct GatewaySettings: Sendable {
  /// What a process does.
  public enum Role: String, Sendable {
    /// HTTP and evaluation (`heinfer serve`).
    case all
    /// HTTP only; workers elsewhere evaluate (`heinfer serve --no-workers`, shared store only).
    case front
    /// Evaluation only (`heinfer worker`, shared store only).
    case worker
  }

  /// Where jobs and keys live.
  public enum StoreKind: String, Sendable, CaseIterable {
    /// One SQLite file: jobs survive restarts; keys in memory; one process.
    case sqlite
    /// Memory only; one process.
    case memory
    /// PostgreSQL: jobs, keys and the queue shared by every process on the database.
    case postgres
  }

  public var role: Role = .all
  /// HTTP server, tenants, rate limits, body and connection bounds.
  public var server = GatewayConfiguration()
  /// Folder of model files; nil for the bundled models.
  public var modelsFolder: String?
  /// Threads one evaluation's key switches may use.
  public var evaluationThreads = 2
  /// Serve models with private weights on `POST /infer/plain` too (their exact scores reveal the
  /// weights; off by default).
  public var servesPrivateModelsPlain = false
  public var store = StoreKind.sqlite
  /// The SQLite file (``StoreKind/sqlite``).
  public var sqlitePath = "heinfer-jobs.sqlite"
  /// The PostgreSQL database (``StoreKind/postgres``).
  public var database: PostgresSettings?
  /// Evaluation threads (workers) of this process.
  public var workers = ProcessInfo.processInfo.activeProcessorCount
  /// Jobs that may wait for a worker before new ones get `503 UNAVAILABLE`.
  public var queueCapacity = 256
  /// Bytes the deserialized inputs of queued and running jobs may hold in this process.
  public var maximumQueuedBytes = 1 << 30
  /// One tenant's share of the evaluation queue: jobs and input bytes it may have waiting or
  /// running at once (nil: a quarter of ``queueCapacity`` and of ``maximumQueuedBytes``).
  public var tenantQueueShare: TenantQueueShare?
  /// How long a worker's claim on a job lasts without renewal (shared queue).
  public var lease = Duration.seconds(30)
  /// Claims of one job before it is failed (shared queue).
  public var maximumAttempts = 3
  public var jobTimeToLive = Duration.seconds(3600)
  public var resultRetention = Duration.seconds(60)
  public var limits = JobLimits()
  public var keyTimeToLive = Duration.seconds(24 * 3600)
  public var maximumKeySetsPerTenant = 8
  public var maximumKeyBytesPerTenant = 256 << 20
  public var maximumKeyBytes = 2 << 30
  public var logLevel = Logger.Level.info

  /// The defaults: SQLite, no API keys (so ``validate()`` refuses until keys or open mode are set).
  public init() {}

  /// Every setting, in the order the help lists them.
  public static var catalog: [SettingDescription] {
    let reader = SettingsReader(ConfigReader(provider: InMemoryProvider(values: [:])))
    _ = try? GatewaySettings(reading: reader)
    return reader.described
  }

  /// Reads every setting from `config`; missing ones keep their defaults.
  /// - Throws: ``GatewayConfigurationError`` naming the setting whose value has the wrong type or
  ///   range, or is unknown.
  public init(reading config: ConfigReader, role: Role = .all) throws(GatewayConfigurationError) {
    try self.init(reading: SettingsReader(config), role: role)
  }

  init(reading reader: SettingsReader, role: Role = .all) throws(GatewayConfigurationError) {
    self.role = role
    let defaults = GatewaySettings()
    let http = GatewayConfiguration()
    // HTTP and tenancy.
    server.host = try reader.string("host", http.host, "Address to listen on.")
    server.port = try reader.int("port", http.port, "Port to listen on (0 picks a free port).", range: 0...65535)
    let open = try reader.bool(
      "open", false, "Open mode: no API keys, every request is tenant 'public' (local use; loopback only).")
    server.allowsOpenModeOnNetwork = try reader.bool(
      "allowOpenOnNetwork", http.allowsOpenModeOnNetwork, "Let open mode listen on an address other than loopback.")
    let keysFile = try reader.optionalString(
      "apiKeysFile", "File of API keys: key=tenant or sha256:<hex>=tenant, one per line (# starts a comment).")
    let keys = try reader.optionalString(
      "apiKeys", "API keys as in the file, entries separated by commas (never on the command line).", secret: true,
      commandLine: false)
    server.tenants = try Self.tenants(open: open, file: keysFile, entries: keys)
    let rate = try reader.double("rate", 50, "Requests per second per tenant (0 disables rate limiting).", minimum: 0)
    server.requestsPerSecond = rate > 0 ? rate : nil
    server.burst = try reader.double("burst", http.burst, "Requests a tenant may make at once.", minimum: 1)
    server.maximumBodyBytes = try reader.int(
      "maxBodyBytes", http.maximumBodyBytes, "Largest request body in bytes (larger ones get 413 unread).",
      range: 1024...Int.max)
    server.maximumInFlightBodyBytes = try reader.int(
      "maxInflightBytes", http.maximumInFlightBodyBytes,
      "Most request bytes (bodies as they arrive, and the ciphertexts and keys deserialized from them) held at once "
        + "across all requests (more get 503).", range: 1024...Int.max)
    server.maximumInFlightBodyBytesPerTenant = try reader.int(
      "maxInflightBytesPerTenant",
      min(server.maximumInFlightBodyBytes, max(server.maximumBodyBytes, server.maximumInFlightBodyBytes / 2)),
      "Most request bytes one tenant's requests may hold at once, its share of --max-inflight-bytes (more get 503).",
      range: 1024...Int.max, defaultDescription: "half of --max-inflight-bytes, at least --max-body-bytes")
    server.bodyTimeout = try reader.seconds(
      "bodyTimeout", http.bodyTimeout, "Seconds to receive one request body (then 408).")
    server.idleTimeout = try reader.seconds(
      "idleTimeout", http.idleTimeout, "Seconds a connection may stay silent before it is closed.")
    server.maximumConnections = try reader.int(
      "maxConnections", http.maximumConnections, "Most open connections (more wait until one closes).",
      range: 1...Int.max)
    // Models and evaluation.
    modelsFolder = try reader.optionalString("models", "Folder of model files (*.json); default: the bundled models.")
    evaluationThreads = try reader.int(
      "evaluationThreads", defaults.evaluationThreads,
      "Threads one evaluation's key switches may use (1: each job on its worker thread only).", range: 1...256)
    servesPrivateModelsPlain = try reader.bool(
      "plainPrivateModels", defaults.servesPrivateModelsPlain,
      "Serve models with private weights on POST /infer/plain too: their exact scores reveal the weights to any "
        + "client (benchmarks and accuracy checks on a trusted network only).")
    // Store.
    let storeName = try reader.string(
      "store", defaults.store.rawValue,
      "Job and key store: sqlite (one file, one process), memory, or postgres (shared by every process).")
    guard let kind = StoreKind(rawValue: storeName) else {
      throw GatewayConfigurationError("store must be sqlite, memory or postgres, not \(storeName)")
    }
    store = kind
    sqlitePath = try reader.string("database", defaults.sqlitePath, "SQLite file of the job store (store sqlite).")
    let url = try reader.optionalString(
      "databaseUrl",
      "PostgreSQL URL (store postgres): postgres://user:password@host:port/db?sslmode=disable&schema=name; "
        + "prefer the environment variable, which other users cannot read in the process list.",
      secret: true)
    let connections = try reader.int(
      "databaseConnections", 16, "Most PostgreSQL connections of this process.", range: 2...1000)
    if let url {
      do { database = try PostgresSettings(url: url, maximumConnections: connections) } catch {
        throw GatewayConfigurationError("databaseUrl: \(error)")
      }
    }
    // Work.
    let noWorkers = try reader.bool(
      "noWorkers", false, "HTTP front only (store postgres): workers in other processes evaluate the jobs.")
    if noWorkers, role == .all { self.role = .front }
    workers = try reader.int(
      "workers", defaults.workers, "Evaluation worker threads (default: one per core).", range: 1...1024,
      defaultDescription: "cores")
    queueCapacity = try reader.int(
      "queue", defaults.queueCapacity, "Jobs that may wait for a worker before new ones get 503.", range: 1...Int.max)
    maximumQueuedBytes = try reader.int(
      "maxQueuedBytes", defaults.maximumQueuedBytes,
      "Most bytes the deserialized inputs of queued and running jobs may hold in this process.",
      range: (1 << 20)...Int.max)
    let tenantJobs = try reader.int(
      "maxQueuedJobsPerTenant", max(1, queueCapacity / 4),
      "Jobs one tenant may have waiting or running at once (then 503 for that tenant only).", range: 1...Int.max,
      defaultDescription: "a quarter of --queue")
    let tenantBytes = try reader.int(
      "maxQueuedBytesPerTenant", max(1 << 20, maximumQueuedBytes / 4),
      "Input bytes one tenant's waiting and running jobs may hold (deserialized in this process; as stored on "
        + "PostgreSQL).", range: 1...Int.max, defaultDescription: "a quarter of --max-queued-bytes")
    tenantQueueShare = TenantQueueShare(jobs: tenantJobs, bytes: tenantBytes)
    lease = try reader.seconds(
      "lease", defaults.lease, "Seconds a worker's claim on a job lasts without renewal (store postgres).")
    maximumAttempts = try reader.int(
      "maxAttempts", defaults.maximumAttempts, "Claims of one job before it fails (store postgres).", range: 1...100)
    // Jobs.
    jobTimeToLive = try reader.seconds(
      "jobTtl", defaults.jobTimeToLive, "Seconds a job and its result stay readable after their last change.")
    resultRetention = try reader.seconds(
      "resultRetention", defaults.resultRetention,
      "Seconds a result stays readable after it was first handed to its client.")
    limits.jobsPerTenant = try reader.int(
      "maxJobsPerTenant", defaults.limits.jobsPerTenant, "Jobs one tenant may hold at once (then 409).",
      range: 1...Int.max)
    limits.resultBytesPerTenant = try reader.int(
      "maxResultBytesPerTenant", defaults.limits.resultBytesPerTenant, "Result bytes one tenant may hold at once.",
      range: 1...Int.max)
    limits.storeBytes = try reader.int(
      "maxStoreBytes", defaults.limits.storeBytes, "Bytes the job store may hold (then 503).", range: 1...Int.max)
    // Keys.
    keyTimeToLive = try reader.seconds(
      "keyTtl", defaults.keyTimeToLive, "Seconds a registered evaluation key set stays usable.")
    maximumKeySetsPerTenant = try reader.int(
      "maxKeySetsPerTenant", defaults.maximumKeySetsPerTenant, "Evaluation key sets one tenant may hold at once.",
      range: 1...Int.max)
    maximumKeyBytesPerTenant = try reader.int(
      "maxKeyBytesPerTenant", defaults.maximumKeyBytesPerTenant,
      "Evaluation-key bytes one tenant may hold at once (as the deserialized keys take memory).",
      range: 1...Int.max)
    maximumKeyBytes = try reader.int(
      "maxKeyBytes", defaults.maximumKeyBytes,
      "Evaluation-key bytes all tenants together may hold (as the deserialized keys take memory).",
      range: 1...Int.max)
    let level = try reader.string(
      "logLevel", defaults.logLevel.rawValue, "Log level: trace, debug, info, notice, warning, error, critical.")
    guard let logLevel = Logger.Level(rawValue: level) else {
      throw GatewayConfigurationError("logLevel must be trace, debug, info, notice, warning, error or critical")
    }
    self.logLevel = logLevel
  }

  /// One tenant's share of the evaluation queue.
  public var queueShare: TenantQueueShare {
    tenantQueueShare ?? TenantQueueShare(jobs: max(1, queueCapacity / 4), bytes: max(1 << 20, maximumQueuedBytes / 4))
  }

  /// Refuses settings that cannot work together, before anything is opened.
  /// - Throws: ``GatewayConfigurationError`` saying what to change.
  public func validate() throws(GatewayConfigurationError) {
    if role != .worker { try server.validate() }
    if store == .postgres, database == nil {
      throw GatewayConfigurationError("store postgres needs databaseUrl (--database-url or HEINFER_DATABASE_URL)")
    }
    if store != .postgres, role != .all {
      throw GatewayConfigurationError(
        "\(role == .worker ? "heinfer worker" : "--no-workers") needs the shared store: --store postgres")
    }
    guard maximumKeyBytes >= maximumKeyBytesPerTenant else {
      throw GatewayConfigurationError("maxKeyBytes must be at least maxKeyBytesPerTenant")
    }
    guard server.maximumInFlightBodyBytes >= server.maximumBodyBytes else {
      throw GatewayConfigurationError("maxInflightBytes must be at least maxBodyBytes")
    }
  }

  /// Open mode, or the keys of `file`, or else `entries` (from the environment or a file).
  static func tenants(open: Bool, file: String?, entries: String?) throws(GatewayConfigurationError)
    -> TenantDirectory
  {
    if open {
      guard file == nil, entries == nil else {
        throw GatewayConfigurationError("open mode and API keys exclude each other")
      }
      return .open
    }
    var specification = entries ?? ""
    if let file {
      do {
        specification = try String(contentsOfFile: file, encoding: .utf8)
      } catch {
        throw GatewayConfigurationError("cannot read the API keys file \(file)")
      }
    }
    do {
      return try TenantDirectory(parsing: specification)
    } catch {
      throw GatewayConfigurationError("\(error)")
    }
  }

  /// Reads the settings from, in order of precedence: `arguments` (flags as the help lists
  /// them), the `HEINFER_*` variables of `environment`, the configuration file
  /// (`configurationFile`, else `HEINFER_CONFIG`; YAML when it ends in `.yaml` or `.yml`, else
  /// JSON), and the defaults. Does not ``validate()``.
  /// - Throws: ``GatewayConfigurationError`` for an unknown flag, a file that cannot be read, or
  ///   a value of the wrong type or range.
  public static func load(
    arguments: [String], environment: [String: String], configurationFile: String? = nil, role: Role = .all
  ) async throws(GatewayConfigurationError) -> GatewaySettings {
    try checkFlags(arguments)
    let variables = EnvironmentVariablesProvider(
      environmentVariables: environment, secretsSpecifier: .specific(["HEINFER_API_KEYS", "HEINFER_DATABASE_URL"])
    ).prefixKeys(with: "heinfer")
    var providers: [any ConfigProvider] = [
      // The provider skips its first argument, the program's name.
      CommandLineArgumentsProvider(arguments: ["heinfer"] + arguments), variables,
    ]
    if let file = configurationFile ?? ConfigReader(provider: variables).string(forKey: "config") {
      do {
        if file.hasSuffix(".yaml") || file.hasSuffix(".yml") {
          providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
        } else {
          providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file)))
        }
      } catch {
        throw GatewayConfigurationError("cannot read the configuration file \(file): \(error)")
      }
    }
    return try GatewaySettings(reading: ConfigReader(providers: providers), role: role)
  }

  /// Refuses flags that are not settings (a misspelt one would otherwise be ignored) and API keys
  /// on the command line.
  /// - Throws: ``GatewayConfigurationError`` naming the flag.
  public static func checkFlags(_ arguments: [String]) throws(GatewayConfigurationError) {
    let known = Set(catalog.compactMap(\.flag))
    for argument in arguments where argument.hasPrefix("-") {
      let flag = String(argument.split(separator: "=", maxSplits: 1)[0])
      guard known.contains(flag) else {
        if flag == "--api-keys" {
          throw GatewayConfigurationError(
            "API keys never go on the command line: use --api-keys-file or HEINFER_API_KEYS")
        }
        throw GatewayConfigurationError("unknown setting \(flag); `heinfer serve --help` lists them")
      }
    }
  }

  /// The settings as `heinfer serve --help` lists them.
  public static var helpText: String {
    catalog.map { setting in
      let names = [setting.flag, setting.environmentVariable].compactMap { $0 }.joined(separator: ", ")
      return "\(names) (default \(setting.defaultValue)): \(setting.help)"
    }.joined(separator: "\n\n")
  }
}

/// Reads settings from a `ConfigReader` strictly (a value of the wrong type is an error, not the
/// default) and records each one it was asked for, so that the list of settings is the code
/// that reads them.
final class SettingsReader {
  let config: ConfigReader
  /// The settings read so far, in order. Only touched during ``GatewaySettings/init(reading:role:)``.
  private(set) var described: [SettingDescription] = []

  init(_ config: ConfigReader) { self.config = config }

  private func note(_ key: String, _ help: String, _ defaultValue: String, commandLine: Bool = true) {
    described.append(
      SettingDescription(key: key, help: help, defaultValue: defaultValue, allowedOnCommandLine: commandLine))
  }

  /// Whether any provider has a value for `key`, of any type.
  private func present(_ key: String) -> Bool {
    let configKey = ConfigKey(key)
    return config.string(forKey: configKey) != nil || config.int(forKey: configKey) != nil
      || config.double(forKey: configKey) != nil || config.bool(forKey: configKey) != nil
  }

  private func mismatch(_ key: String, _ expected: String) -> GatewayConfigurationError {
    let description = SettingDescription(key: key, help: "", defaultValue: "", allowedOnCommandLine: true)
    return GatewayConfigurationError(
      "\(key) (\(description.flag ?? ""), \(description.environmentVariable)) must be \(expected)")
  }

  /// - Parameters:
  ///   - secret: redacted wherever the configuration library reports values.
  ///   - commandLine: whether a flag may carry it (not for secrets other users must not see in
  ///     the process list).
  func optionalString(_ key: String, _ help: String, secret: Bool = false, commandLine: Bool = true)
    throws(GatewayConfigurationError) -> String?
  {
    note(key, help, "none", commandLine: commandLine)
    if let value = config.string(forKey: ConfigKey(key), isSecret: secret) { return value }
    if present(key) { throw mismatch(key, "a string") }
    return nil
  }

  func string(_ key: String, _ defaultValue: String, _ help: String) throws(GatewayConfigurationError) -> String {
    note(key, help, defaultValue)
    if let value = config.string(forKey: ConfigKey(key)) { return value }
    if present(key) { throw mismatch(key, "a string") }
    return defaultValue
  }

  func int(
    _ key: String, _ defaultValue: Int, _ help: String, range: ClosedRange<Int>, defaultDescription: String? = nil
  ) throws(GatewayConfigurationError) -> Int {
    note(key, help, defaultDescription ?? String(defaultValue))
    guard let value = config.int(forKey: ConfigKey(key)) else {
      if present(key) { throw mismatch(key, "an integer") }
      return defaultValue
    }
    guard range.contains(value) else {
      throw mismatch(key, range.upperBound == .max ? "at least \(range.lowerBound)" : "in \(range)")
    }
    return value
  }

  func double(_ key: String, _ defaultValue: Double, _ help: String, minimum: Double) throws(GatewayConfigurationError)
    -> Double
  {
    note(key, help, String(format: "%g", defaultValue))
    let value: Double
    if let read = config.double(forKey: ConfigKey(key)) {
      value = read
    } else if let read = config.int(forKey: ConfigKey(key)) {
      value = Double(read)
    } else {
      if present(key) { throw mismatch(key, "a number") }
      return defaultValue
    }
    guard value.isFinite, value >= minimum else { throw mismatch(key, "a number of at least \(minimum)") }
    return value
  }

  func bool(_ key: String, _ defaultValue: Bool, _ help: String) throws(GatewayConfigurationError) -> Bool {
    note(key, help, String(defaultValue))
    if let value = config.bool(forKey: ConfigKey(key)) { return value }
    if present(key) { throw mismatch(key, "true or false") }
    return defaultValue
  }

  /// A whole number of seconds, at least 1.
  func seconds(_ key: String, _ defaultValue: Duration, _ help: String) throws(GatewayConfigurationError) -> Duration {
    .seconds(try int(key, Int(defaultValue.components.seconds), help, range: 1...Int(Int32.max)))
  }
}
