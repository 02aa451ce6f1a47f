// swift-tools-version: 6.1
//
// libFuzzer harnesses for every decoder that reads bytes a client sends: the CKKS library's
// ciphertext, plaintext, public key, relinearization key, Galois keys and secret key (our
// format and SEAL's, each harness feeds both), and the request envelopes (ours, and the
// reference contract's streaming JSON reader). A nested package, so normal builds are untouched.
//
// Build and run (docs/reliability.md; scripts/fuzz.sh does both):
//   HEINFER_FUZZING=1 swift build -c release --package-path Fuzz
//   Fuzz/.build/release/FuzzCiphertext Fuzz/corpus/FuzzCiphertext -max_total_time=60
//
// HEINFER_FUZZING=1 instruments the root package's own targets (CKKS, GatewayAPI, Gateway) for
// libFuzzer and AddressSanitizer; the harnesses here are instrumented by their own settings.
import PackageDescription

let instrumented: [SwiftSetting] = [
  .unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"]), .swiftLanguageMode(.v6),
]
// lld: gold fails on the sanitizers' debug information here.
let linked: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

let harnesses = [
  "FuzzCiphertext", "FuzzPlaintext", "FuzzPublicKey", "FuzzRelinearizationKey", "FuzzGaloisKeys", "FuzzSecretKey",
  "FuzzInferRequest", "FuzzReferenceEnvelope",
]

let package = Package(
  name: "heinfer-fuzz",
  platforms: [.macOS(.v15)],
  dependencies: [.package(name: "encrypted-inference-gateway", path: "..")],
  targets: [
    .target(
      name: "FuzzSupport",
      dependencies: [.product(name: "CKKS", package: "encrypted-inference-gateway")],
      swiftSettings: instrumented)
  ]
    + harnesses.map { name in
      .executableTarget(
        name: name,
        dependencies: [
          "FuzzSupport",
          .product(name: "CKKS", package: "encrypted-inference-gateway"),
          .product(name: "Gateway", package: "encrypted-inference-gateway"),
        ],
        swiftSettings: instrumented, linkerSettings: linked)
    }
)
