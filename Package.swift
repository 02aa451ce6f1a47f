// swift-tools-version: 6.1
//
// One package, layered targets:
//   CKKS     — pure-Swift RNS-CKKS library, no dependencies at all (usable alone).
//   heinfer  — command-line entry point (today: library self-check; later: gateway, SDK, CLI).
// The gateway, SDK and CLI targets arrive with later issues (see docs/architecture.md).
import PackageDescription

let strictSwift6: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "encrypted-inference-gateway",
  platforms: [.macOS(.v14)],
  products: [
    .library(name: "CKKS", targets: ["CKKS"]),
    .executable(name: "heinfer", targets: ["heinfer"]),
  ],
  targets: [
    .target(name: "CKKS", swiftSettings: strictSwift6),
    .executableTarget(name: "heinfer", dependencies: ["CKKS"], swiftSettings: strictSwift6),
    .testTarget(
      name: "CKKSTests",
      dependencies: ["CKKS"],
      resources: [.copy("Fixtures")],
      swiftSettings: strictSwift6),
  ]
)
