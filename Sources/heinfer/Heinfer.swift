import ArgumentParser
import CKKS
import Foundation
import Gateway
import Hummingbird
import Logging
import Metrics
import Prometheus

@main
struct Heinfer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "heinfer",
    abstract: "Privacy-preserving inference over RNS-CKKS: the gateway and its tools.",
    subcommands: [
      Serve.self, Worker.self, Compile.self, Models.self, Infer.self, Keys.self, Bench.self, Load.self, SelfCheck.self,
    ],
    defaultSubcommand: Serve.self)
}

/// `heinfer serve`: the gateway with the bundled models (or a models folder).
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the gateway (HTTP and evaluation workers; HTTP only with --no-workers).",
    discussion: SettingsCommandLine.discussion)

  @OptionGroup var settings: SettingsCommandLine

  func run() async throws { try await settings.run(role: .all) }
}

/// `heinfer worker`: evaluation only, on the shared PostgreSQL queue.
struct Worker: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run evaluation workers on the shared queue (--store postgres); HTTP only for /health and /metrics.",
    discussion: SettingsCommandLine.discussion)

  @OptionGroup var settings: SettingsCommandLine

  func run() async throws { try await settings.run(role: .worker) }
}

/// The settings of `serve` and `worker`, read through swift-configuration: flags, then
/// environment variables, then a configuration file, then defaults (``GatewaySettings``).
struct SettingsCommandLine: ParsableArguments {
  static let discussion = """
    Every setting comes from a flag, else its environment variable, else the configuration file \
    (--config or HEINFER_CONFIG: JSON, or YAML for *.yaml/*.yml, with the camelCase keys below), \
    else its default. API keys come from a file (--api-keys-file) or HEINFER_API_KEYS (the same \
    entries separated by commas), never from the command line: key=tenant with a key of at least 16 \
    characters, or sha256:<hex>=tenant with the key's SHA-256 (printf %s KEY | sha256sum). Without \
    keys the gateway refuses to start unless --open is given.

    Settings (flag, environment variable, default):
    \(GatewaySettings.helpText)
    """

  @Option(help: "Configuration file: JSON, or YAML when it ends in .yaml or .yml (default $HEINFER_CONFIG).")
  var config: String?

  @Argument(parsing: .allUnrecognized, help: .hidden)
  var arguments: [String] = []

  func validate() throws {
    do { try GatewaySettings.checkFlags(arguments) } catch { throw ValidationError("\(error)") }
  }

  /// The settings for `role`.
  func settings(role: GatewaySettings.Role) async throws -> GatewaySettings {
    do {
      let settings = try await GatewaySettings.load(
        arguments: arguments, environment: ProcessInfo.processInfo.environment, configurationFile: config, role: role)
      try settings.validate()
      return settings
    } catch {
      throw ValidationError("cannot start: \(error)")
    }
  }

  func run(role: GatewaySettings.Role) async throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    let settings = try await settings(role: role)
    var logger = Logger(label: "heinfer")
    logger.logLevel = settings.logLevel
    if settings.server.tenants.isOpen, role != .worker {
      logger.warning("open mode: no API keys, every request is tenant 'public'")
    }
    let metrics = GatewayMetrics()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
    let assembly: GatewayAssembly
    do {
      assembly = try await GatewayAssembly.build(settings, logger: logger, metrics: metrics)
    } catch {
      throw ValidationError("cannot start: \(error)")
    }
    for model in assembly.registry.models {
      logger.info("serving model", metadata: ["model_id": "\(model.modelId)", "version": "\(model.version)"])
    }
    logger.info(
      "starting",
      metadata: [
        "role": "\(role == .all && settings.role == .front ? "front" : settings.role.rawValue)",
        "store": "\(settings.store.rawValue)",
        "database": "\(settings.store == .postgres ? settings.database?.description ?? "" : settings.sqlitePath)",
        "workers": "\(assembly.pool?.threadCount ?? 0)",
      ])
    try await assembly.run()
  }
}

/// `heinfer selfcheck`: the CKKS library self-check.
struct SelfCheck: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selfcheck", abstract: "Verify the CKKS library on this machine and print timings.")

  func run() throws {
    AllocatorTuning.keepLargeBuffersInHeap()
    if !selfCheck() { throw ExitCode(1) }
  }
}
