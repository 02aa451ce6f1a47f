// swift-tools-version: 6.1
//
// Benchmarks for the CKKS library, kept in a nested package so that `swift build` and
// `swift test` at the root never build the benchmark tooling. Run from the repository root:
//
//   swift package --package-path Benchmarks benchmark
//
// and, for the build tuned to this machine's CPU (see docs/benchmarks.md):
//
//   CKKS_TARGET_CPU=native swift package --package-path Benchmarks benchmark
import Foundation
import PackageDescription

// A path dependency's identity is its folder name, which depends on where the repository was
// cloned; derive it instead of hard-coding it.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .lastPathComponent.lowercased()

let package = Package(
  name: "CKKSBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(path: ".."),
    .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
  ],
  targets: [
    .executableTarget(
      name: "CKKSBenchmarks",
      dependencies: [
        .product(name: "CKKS", package: rootPackage),
        .product(name: "Benchmark", package: "package-benchmark"),
      ],
      path: "Benchmarks/CKKSBenchmarks",
      swiftSettings: [.swiftLanguageMode(.v6)],
      plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
    )
  ]
)
