#!/usr/bin/env bash
# The HomomorphicEncryption.org ML-inference workload's MNIST step list (github
# fhe-benchmarking/ml-inference, harness/run_submission.py: key generation, input encryption,
# encrypted computation, result decryption) run with our tools on its network
# (models/onnx/he_org_mnist_mlp.onnx), one image at a time, and reported in the harness's
# results format (Timing and Bandwidth):
#   - Key Generation: `heinfer keys` (secret key and every evaluation key the model declares);
#   - Input encryption, Encrypted computation, Result decryption: `heinfer bench`'s stages of one
#     image over HTTP (client encoding and encryption; the server's evaluation; decryption and
#     decoding), means over --runs requests;
#   - Bandwidth: the serialized keys, one image's ciphertext and its result.
# Writes docs/compiled/heorg_workload.json. About two minutes.
#
# Usage: scripts/heorg_workload.sh [--runs N] (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/gateway.sh
runs=20
while [[ $# -gt 0 ]]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N]" >&2; exit 64 ;;
  esac
done
build_heinfer release
mkdir -p "$WORK/models" docs/compiled
"$BIN" compile models/onnx/he_org_mnist_mlp.onnx --calibration datasets/mnist/calibration.csv \
  --output "$WORK/models/he_org_mnist_mlp.json" --unprotected-results > "$WORK/compile.txt"
# The serve flags the compile report asks for (its last line), for keys this large.
read -r -a flags <<< "$(tail -1 "$WORK/compile.txt" | sed 's/.*--models [^ ]*//')"
PORT=$(free_port)
start_gateway /health --models "$WORK/models" --open --rate 0 --log-level warning --database "$WORK/jobs.sqlite" \
  --plain-private-models "${flags[@]}"
URL="http://127.0.0.1:$PORT"

start=$(date +%s.%N)
"$BIN" keys --url "$URL" --model he_org_mnist_mlp --key-file "$WORK/secret.key" > "$WORK/keys.txt"
end=$(date +%s.%N)
"$BIN" bench --url "$URL" --models he_org_mnist_mlp --runs "$runs" --warmup 2 --clients 1 --throughput-requests 1 \
  --reference-runs 0 --output "$WORK/bench"

python3 - "$start" "$end" "$WORK/keys.txt" "$WORK/bench/benchmark_results.json" docs/compiled/heorg_workload.json <<'PY'
import json, re, sys
start, end, keys_path, bench_path, out = sys.argv[1:]
keys = open(keys_path).read()
key_bytes = sum(int(n) for n in re.findall(r": (\d+) bytes", keys))
bench = json.load(open(bench_path))
model = bench["models"][0]
stages = model["encrypted"]["stages_ms"]
def seconds(x): return f"{x:.4f}s"
def megabytes(n): return f"{n / 1e6:.1f}M"
timing = {
    "Key Generation": seconds(float(end) - float(start)),
    "Input encryption": seconds(stages["encode+encrypt"] / 1000),
    "Encrypted computation": seconds(stages["evaluate"] / 1000),
    "Result decryption": seconds(stages["decrypt+decode"] / 1000),
}
timing["Total"] = seconds(sum(float(v[:-1]) for v in timing.values()))
result = {
    "model_name": "mlp",
    "dataset_name": "mnist",
    "implementation": "heinfer (Swift RNS-CKKS), models/onnx/he_org_mnist_mlp.onnx compiled by heinfer compile",
    "date": bench["date"],
    "machine": bench["machine"],
    "Timing": timing,
    "Bandwidth": {
        "Public and evaluation keys": megabytes(key_bytes),
        "Encrypted input": megabytes(model["encrypted"]["ciphertext_bytes_up"]),
        "Encrypted results": megabytes(model["encrypted"]["ciphertext_bytes_down"]),
    },
    "End to end over HTTP, p50": seconds(model["encrypted"]["latency_ms"]["p50"] / 1000),
    "Runs": bench["runs"],
}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result, indent=2))
PY
