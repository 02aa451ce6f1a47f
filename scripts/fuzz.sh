#!/usr/bin/env bash
# libFuzzer harnesses (Fuzz/, a nested package) for every decoder of client bytes: ciphertext,
# plaintext, public key, relinearization key, Galois keys and secret key (our format and SEAL's),
# and the request envelopes (ours through the generated contract type and validation, and the
# reference contract's streaming reader). Each harness writes valid objects into its corpus folder
# first (Fuzz/corpus/<harness>, not committed) and runs under AddressSanitizer; a crash, a leak, an
# out-of-memory or an input slower than 10 s makes it exit non-zero, leaving the input in
# Fuzz/artifacts/. A harness that runs far below its usual speed fails too (minimum_speed below).
#
#   ./scripts/fuzz.sh --smoke 15            # every harness for 15 s (the test command runs this)
#   ./scripts/fuzz.sh --runs 10000000       # every harness for 10 million executions (docs/reliability.md)
#   ./scripts/fuzz.sh --runs 1000000 FuzzCiphertext FuzzInferRequest
#
# The first build takes about 8 minutes on 2 cores (the root package's dependencies in release
# mode); later ones seconds. Exit status 0 only if every harness finishes clean.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(-max_total_time=15)
case "${1:-}" in
  --smoke) mode=(-max_total_time="$2"); shift 2 ;;
  --runs) mode=(-runs="$2"); shift 2 ;;
esac
harnesses=("$@")
if [[ ${#harnesses[@]} == 0 ]]; then
  harnesses=(FuzzCiphertext FuzzPlaintext FuzzPublicKey FuzzRelinearizationKey FuzzGaloisKeys FuzzSecretKey
    FuzzInferRequest FuzzReferenceEnvelope)
fi
# A failed build stops here: running harnesses left from an earlier build would test old code.
# The nested package's cached build plan does not learn of source files added to the root package
# (a path dependency): when a build fails, the plan is dropped and the build tried once more.
build_log=$(mktemp)
build() { HEINFER_FUZZING=1 swift build -c release --package-path Fuzz > "$build_log" 2>&1; }
if ! build && ! { rm -f Fuzz/.build/release.yaml Fuzz/.build/build.db Fuzz/.build/*/release/description.json; build; }; then
  grep -E "error" "$build_log" >&2 || tail -40 "$build_log" >&2
  echo "fuzz: the harnesses did not build" >&2
  exit 1
fi
grep -E "warning: |Build complete" "$build_log" || true
rm -f "$build_log"
# Lowest speed (executions per second over the whole run, libFuzzer's figure) each harness must
# reach: a tenth of the slowest of four 15 s smoke runs per harness measured on 2026-12-07 on the
# 2-core shared machine of docs/reliability.md, rounded down to hundreds. One of the four ran
# beside two busy processes holding both cores, which cost most harnesses a third to a half of
# their speed (FuzzReferenceEnvelope 6,682/s there, 11,007 to 12,136/s in the other three). Far
# below the minimum, every input costs more than its decoders explain (an expensive set-up or a
# leak check per input), and a run of 10 million executions would take days. Runs shorter than
# 10 s are not checked: the harness's start-up (the bundled models compile in about a second)
# weighs too much in them.
declare -A minimum_speed=(
  [FuzzCiphertext]=4100 [FuzzPlaintext]=5600 [FuzzPublicKey]=3600 [FuzzRelinearizationKey]=3900
  [FuzzGaloisKeys]=2500 [FuzzSecretKey]=6000 [FuzzInferRequest]=2900 [FuzzReferenceEnvelope]=600
)
mkdir -p Fuzz/corpus Fuzz/artifacts
status=0
for harness in "${harnesses[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  # Our request seeds carry real ciphertexts (20 to 200 KB of base64); mutating such inputs whole
  # is slow, so this harness works on their first 8 KB (the envelope, the schema rules and every
  # check before and in deserialization; ciphertext bytes themselves are FuzzCiphertext's).
  extra=()
  if [[ $harness == FuzzInferRequest ]]; then extra=(-max_len=8192); fi
  if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 "Fuzz/.build/release/$harness" "Fuzz/corpus/$harness" \
    "${mode[@]}" "${extra[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="Fuzz/artifacts/$harness-" \
    > "$log" 2>&1; then
    result="clean"
  else
    result="FAILED"
    status=1
    tail -40 "$log" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  speed=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
  seconds=$(($(date +%s) - start))
  minimum=${minimum_speed[$harness]:-0}
  if [[ $result == clean && $seconds -ge 10 && $speed =~ ^[0-9]+$ && $speed -lt $minimum ]]; then
    result="FAILED (too slow)"
    status=1
    echo "fuzz: $harness ran at $speed executions/s, expected at least $minimum/s (a tenth of its usual" \
      "speed, minimum_speed in scripts/fuzz.sh): something now costs far more per input" >&2
  fi
  echo "fuzz: $harness $result: $runs executions in $seconds s ($speed/s), coverage $coverage, corpus $(ls "Fuzz/corpus/$harness" | wc -l) inputs"
  rm -f "$log"
done
exit $status
