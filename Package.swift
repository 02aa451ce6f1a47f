// swift-tools-version: 6.2
//
// One package, layered targets (docs/architecture.md describes the layers):
//   CKKS                — pure-Swift RNS-CKKS library, no dependencies at all (usable alone).
//   InferencePrograms   — layouts and programs shared by gateway and SDK: where samples and scores
//                         sit in ciphertexts, and the homomorphic evaluation of each model kind.
//   ModelCompiler       — the ONNX reader and the compiler from graphs to those programs (layer
//                         plan, Chebyshev activations, parameters, the report `heinfer compile` prints).
//   GatewayAPI          — types and server/client stubs generated from schemas/openapi.yaml (the
//                         contract), and the contract version.
//   Gateway             — the server on Hummingbird: contract rules, model registry, execution
//                         (validation, worker pool, shared-queue workers), job and key stores
//                         (memory, SQLite, PostgreSQL), HTTP server, and the composition root.
//   HEInferenceSDK      — the client SDK: discovery, session, encryption, submission, decryption.
//   heinfer             — command-line entry point: `serve`, `worker`, `compile`, `models`, `infer`,
//                         `keys`, `bench`, `load`, `selfcheck`.
//   ckks-reference-tool — development tool for the SEAL interoperability fixtures.
//   TestSupport         — helpers shared by the test targets (gateway set-up, precision checks,
//                         dataset CSV readers).
//   CKKSTests, InferenceProgramsTests, GatewayTests, SDKTests — the test targets.
//   Snippets/           — the documentation's examples, built with the package and run by the
//                         test command.
//   Fuzz/, Benchmarks/  — nested packages with their own Package.swift: libFuzzer harnesses and
//                         CKKS micro-benchmarks, outside normal builds.
import PackageDescription

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opt-in build tuned for one CPU: `CKKS_TARGET_CPU=native swift build -c release` (or a CPU
/// name such as `znver4`, `skylake-avx512`, `haswell`). The default build stays portable; a
/// tuned binary may crash with SIGILL on an older CPU. See docs/benchmarks.md.
let tunedCPUFlags: [SwiftSetting] = {
  if let cpu = getenv("CKKS_TARGET_CPU").map({ String(cString: $0) }), !cpu.isEmpty {
    // The tuned build also selects the NTT loop structure that vectorizes (see NTTTables.forward).
    return [.unsafeFlags(["-target-cpu", cpu]), .define("CKKS_VECTORIZED_NTT")]
  }
  // `CKKS_VECTORIZED_NTT=1` selects that loop structure alone, portably: the test command uses it
  // to check both code paths without rebuilding the dependencies.
  if let flag = getenv("CKKS_VECTORIZED_NTT").map({ String(cString: $0) }), flag == "1" {
    return [.define("CKKS_VECTORIZED_NTT")]
  }
  return []
}()

/// Fuzzing build (`Fuzz/`, docs/reliability.md): with `HEINFER_FUZZING=1` our own targets are
/// instrumented for libFuzzer and AddressSanitizer, and built for testing so the harnesses can
/// reach internal parsers; dependencies stay as they are. Normal builds are untouched.
let fuzzingFlags: [SwiftSetting] = {
  guard let flag = getenv("HEINFER_FUZZING").map({ String(cString: $0) }), flag == "1" else { return [] }
  return [.unsafeFlags(["-sanitize=fuzzer,address", "-enable-testing"])]
}()

let strictSwift6: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "encrypted-inference-gateway",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "CKKS", targets: ["CKKS"]),
    .library(name: "InferencePrograms", targets: ["InferencePrograms"]),
    .library(name: "Gateway", targets: ["Gateway"]),
    .library(name: "HEInferenceSDK", targets: ["HEInferenceSDK"]),
    .executable(name: "heinfer", targets: ["heinfer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
    .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
    .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(
      url: "https://github.com/apple/swift-configuration", from: "1.4.0",
      traits: [.defaults, "YAML", "CommandLineArguments"]),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    // Only for `swift package generate-documentation` (the DocC catalogs); no target links it.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    .target(name: "CKKS", swiftSettings: strictSwift6 + tunedCPUFlags + fuzzingFlags),
    .target(name: "InferencePrograms", dependencies: ["CKKS"], swiftSettings: strictSwift6 + fuzzingFlags),
    // Reads ONNX graphs and compiles them into the programs above (depends on the protobuf runtime
    // only for the ONNX reader; the SDK and the gateway's serving path do not need it).
    .target(
      name: "ModelCompiler",
      dependencies: ["CKKS", "InferencePrograms", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: strictSwift6 + fuzzingFlags),
    .target(
      name: "GatewayAPI",
      dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
      swiftSettings: [.swiftLanguageMode(.v6)] + fuzzingFlags,
      plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
    .target(
      name: "Gateway",
      dependencies: [
        "CKKS", "GatewayAPI", "InferencePrograms",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
        .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Configuration", package: "swift-configuration"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      resources: [.copy("Models")],
      swiftSettings: strictSwift6 + fuzzingFlags),
    .target(
      name: "HEInferenceSDK",
      dependencies: [
        "CKKS", "GatewayAPI", "InferencePrograms",
        .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
        .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ],
      swiftSettings: strictSwift6),
    .executableTarget(
      name: "heinfer",
      dependencies: [
        "CKKS", "Gateway", "GatewayAPI", "HEInferenceSDK", "InferencePrograms", "ModelCompiler",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSwift6),
    // Development tool used by scripts/generate_reference_vectors.py (SEAL interoperability).
    .executableTarget(name: "ckks-reference-tool", dependencies: ["CKKS"], swiftSettings: strictSwift6),
    // Helpers every test target shares: the gateway as tests build it, the contract check on its
    // responses, JSON, datasets and precision.
    .target(
      name: "TestSupport",
      dependencies: [
        "CKKS", "Gateway", "GatewayAPI",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
      ],
      path: "Tests/TestSupport",
      swiftSettings: strictSwift6),
    .testTarget(
      name: "GatewayTests",
      dependencies: [
        "CKKS", "Gateway", "GatewayAPI", "InferencePrograms", "TestSupport",
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Yams", package: "Yams"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
      ],
      swiftSettings: strictSwift6),
    .testTarget(
      name: "SDKTests",
      dependencies: [
        "CKKS", "Gateway", "GatewayAPI", "HEInferenceSDK", "InferencePrograms", "TestSupport",
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
      ],
      swiftSettings: strictSwift6),
    .testTarget(
      name: "InferenceProgramsTests", dependencies: ["CKKS", "InferencePrograms", "TestSupport"],
      swiftSettings: strictSwift6),
    .testTarget(
      name: "ModelCompilerTests",
      dependencies: ["CKKS", "InferencePrograms", "ModelCompiler", "TestSupport"],
      exclude: ["Fixtures"],
      swiftSettings: strictSwift6),
    .testTarget(
      name: "CKKSTests",
      dependencies: ["CKKS", "TestSupport"],
      resources: [.copy("Fixtures")],
      swiftSettings: strictSwift6),
  ]
)
