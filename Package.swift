// swift-tools-version: 6.1
//
// One package, layered targets:
//   CKKS     — pure-Swift RNS-CKKS library, no dependencies at all (usable alone).
//   heinfer  — command-line entry point (today: library self-check; later: gateway, SDK, CLI).
// The gateway, SDK and CLI targets arrive with later issues (see docs/architecture.md).
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
  guard let cpu = getenv("CKKS_TARGET_CPU").map({ String(cString: $0) }), !cpu.isEmpty else { return [] }
  // The tuned build also selects the NTT loop structure that vectorizes (see NTTTables.forward).
  return [.unsafeFlags(["-target-cpu", cpu]), .define("CKKS_VECTORIZED_NTT")]
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
    .executable(name: "heinfer", targets: ["heinfer"]),
  ],
  targets: [
    .target(name: "CKKS", swiftSettings: strictSwift6 + tunedCPUFlags),
    .executableTarget(name: "heinfer", dependencies: ["CKKS"], swiftSettings: strictSwift6),
    // Development tool used by scripts/generate_reference_vectors.py (SEAL interoperability).
    .executableTarget(name: "ckks-reference-tool", dependencies: ["CKKS"], swiftSettings: strictSwift6),
    .testTarget(
      name: "CKKSTests",
      dependencies: ["CKKS"],
      resources: [.copy("Fixtures")],
      swiftSettings: strictSwift6),
  ]
)
