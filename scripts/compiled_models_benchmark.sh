#!/usr/bin/env bash
# The ONNX models of models/onnx/ as a user serves them: `heinfer compile` (timed), then one
# release gateway serving the results, then
#   - `heinfer bench` on the HE.org network (one image per request), the bundled hand-written
#     mnist_cnn and the same network compiled from its ONNX export, in one run;
#   - every test split through `heinfer infer --csv` (compiled for throughput where inputs like
#     the calibration data allow it), end to end over HTTP, compared with onnxruntime's
#     predictions (scripts/onnx_agreement.py).
# Writes docs/compiled/: bench.json, runs.json and section.md, which `heinfer bench
# --compiled-results docs/compiled` (and so scripts/end_to_end_benchmark.sh) puts on the results
# page. About 20 minutes on 2 cores.
#
# Usage: scripts/compiled_models_benchmark.sh [--skip MODEL]... (e.g. --skip mnist_cnn_pool: its
# test split takes about 10 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/gateway.sh
skip=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --skip) skip+=("$2"); shift 2 ;;
    *) echo "usage: $0 [--skip MODEL]..." >&2; exit 64 ;;
  esac
done
build_heinfer release
OUT=docs/compiled
mkdir -p "$OUT"
MODELS="$WORK/models"
mkdir -p "$MODELS"
cp Sources/Gateway/Models/mnist_cnn-1.0.0.json "$MODELS/"

calibration() { if [[ $1 == sklearn_breast_cancer ]]; then echo datasets/breast_cancer/raw_calibration.csv; else echo datasets/mnist/calibration.csv; fi; }
test_split() { if [[ $1 == sklearn_breast_cancer ]]; then echo datasets/breast_cancer/raw_test.csv; else echo datasets/mnist/test.csv; fi; }

# compile NAME ID OPTIMIZE: compiles models/onnx/NAME.onnx as ID, records the report and the time.
compile() {
  local start end
  start=$(date +%s.%N)
  "$BIN" compile "models/onnx/$1.onnx" --calibration "$(calibration "$1")" --output "$MODELS/$2.json" --id "$2" \
    --optimize "$3" --unprotected-results > "$WORK/compile-$2.txt"
  end=$(date +%s.%N)
  python3 - "$2" "$1" "$3" "$start" "$end" "$WORK/compile-$2.txt" >> "$WORK/compiles.jsonl" <<'PY'
import json, re, sys
id, name, optimize, start, end, report = sys.argv[1:]
text = open(report).read()
keys = re.search(r"(\d+) Galois keys( \+ relinearization key)?.*?, ([\d.]+) MB uploaded \(seeded\), ([\d.]+) MB held", text)
lowered = re.search(r"served as: (\w+), layout (\w+)", text)
ring = re.search(r"parameters: N = (\d+)", text)
levels = re.search(r"encrypted program \((\d+) levels\)", text)
key_count = int(keys.group(1)) + (1 if keys.group(2) else 0) if keys else 0
lowering = re.search(r"with (\d+) evaluation keys, ([\d.]+) MB uploaded", text)
print(json.dumps({
    "id": id, "onnx": name, "optimize": optimize, "seconds": float(end) - float(start),
    "ring_degree": int(ring.group(1)) if ring else None, "levels": int(levels.group(1)) if levels else None,
    "kind": lowered.group(1), "layout": lowered.group(2),
    "keys": int(lowering.group(1)) if lowering else key_count,
    "key_mb_uploaded": float(lowering.group(2)) if lowering else (float(keys.group(3)) if keys else 0.0),
    "key_mb_held": None if lowering else (float(keys.group(4)) if keys else 0.0),
}))
PY
}

: > "$WORK/compiles.jsonl"
compile he_org_mnist_mlp he_org_mnist_mlp latency
compile mnist_cnn mnist_cnn_onnx latency
compile mnist_cnn_pool mnist_cnn_pool latency
for name in he_org_mnist_mlp mnist_cnn_pool sklearn_breast_cancer; do
  compile "$name" "${name}_batch" throughput
done
# One image per ciphertext: a test image far outside the calibration data (a pixel the scaler
# divides by a tiny deviation) overflows its scores, and interleaved it would spoil seven others.
compile sklearn_mnist_mlp sklearn_mnist_mlp latency

# The largest key budget any of them needs, as heinfer compile prints it, and room for the bench,
# which keeps every model's keys registered at once.
PORT=$(free_port)
start_gateway /health --models "$MODELS" --open --rate 0 --log-level warning --database "$WORK/jobs.sqlite" \
  --plain-private-models --max-key-sets-per-tenant 16 --max-body-bytes $((160 << 20)) --max-inflight-bytes $((640 << 20)) \
  --max-inflight-bytes-per-tenant $((640 << 20)) --max-key-bytes-per-tenant $((2 << 30))
URL="http://127.0.0.1:$PORT"

"$BIN" bench --url "$URL" --models he_org_mnist_mlp,mnist_cnn,mnist_cnn_onnx --runs 40 --warmup 3 --clients 1 \
  --throughput-requests 10 --reference-runs 0 --output "$WORK/bench"
cp "$WORK/bench/benchmark_results.json" "$OUT/bench.json"

: > "$WORK/runs.jsonl"
for name in he_org_mnist_mlp sklearn_mnist_mlp mnist_cnn_pool sklearn_breast_cancer mnist_cnn; do
  if [[ " ${skip[*]:-} " == *" $name "* ]]; then continue; fi
  id="${name}_batch"
  [[ $name == mnist_cnn ]] && id=mnist_cnn_onnx
  [[ $name == sklearn_mnist_mlp ]] && id=sklearn_mnist_mlp
  start=$(date +%s.%N)
  if ! "$BIN" infer --url "$URL" --model "$id" --csv "$(test_split "$name")" --key-file "$WORK/$id.key" --json \
    > "$WORK/run-$id.json" 2> "$WORK/run-$id.err"; then
    echo "$(basename "$0"): $id failed:" >&2
    cat "$WORK/run-$id.err" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  python3 scripts/onnx_agreement.py "$WORK/run-$id.json" "models/onnx/$name.expected.json" --min-agreement 0 \
    --max-loss 1 > "$WORK/agreement-$id.json"
  python3 - "$id" "$start" "$end" "$WORK/agreement-$id.json" >> "$WORK/runs.jsonl" <<'PY'
import json, sys
id, start, end, path = sys.argv[1:]
record = json.load(open(path))
record.update({"id": id, "seconds": float(end) - float(start)})
print(json.dumps(record))
PY
done

python3 - "$WORK/compiles.jsonl" "$WORK/runs.jsonl" "$OUT" "${skip[*]:-}" <<'PY'
import json, sys, datetime
compiles = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
runs = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
out = sys.argv[3]
skipped = sys.argv[4].split()
bench = json.load(open(f"{out}/bench.json"))
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump({"date": date, "compiles": compiles, "runs": runs}, open(f"{out}/runs.json", "w"), indent=2)
models = {m["model_id"]: m for m in bench["models"]}
lines = [
    "## Compiled ONNX models",
    "",
    f"`scripts/compiled_models_benchmark.sh` on {date}, {bench['machine']['cores']} cores: the models of "
    "`models/onnx/` compiled by `heinfer compile` (release build) and served by one gateway; raw results in "
    "`docs/compiled/`.",
    "",
    "| compiled as | from | optimized for | compile (s) | served as | N | levels | keys | keys uploaded (MB) | keys held (MB) |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
for c in compiles:
    held = "–" if c["key_mb_held"] is None else f"{c['key_mb_held']:.1f}"
    lines.append(
        f"| {c['id']} | {c['onnx']}.onnx | {c['optimize']} | {c['seconds']:.1f} | {c['kind']}, {c['layout']} | "
        f"{c['ring_degree']} | {c['levels']} | {c['keys']} | {c['key_mb_uploaded']:.1f} | {held} |")
lines += [
    "",
    "One image per request, end to end over HTTP (client encryption, upload, evaluation, download, decryption), "
    f"{bench['runs']} requests after {bench['warmup']} warm-ups, in one run:",
    "",
    "| model | encrypted p50 / p95 (ms) | evaluation (ms) | request bytes | evaluation keys (MB, uploaded) |",
    "|---|---|---|---|---|",
]
for id in ["he_org_mnist_mlp", "mnist_cnn", "mnist_cnn_onnx"]:
    m = models.get(id)
    if not m:
        continue
    e = m["encrypted"]
    lines.append(
        f"| {id} | {e['latency_ms']['p50']:.1f} / {e['latency_ms']['p95']:.1f} | {e['stages_ms']['evaluate']:.1f} | "
        f"{e['request_bytes']:,} | {m['evaluation_key_bytes'] / 1e6:.1f} |")
if "mnist_cnn" in models and "mnist_cnn_onnx" in models:
    ratio = models["mnist_cnn_onnx"]["encrypted"]["latency_ms"]["p50"] / models["mnist_cnn"]["encrypted"]["latency_ms"]["p50"]
    lines += ["", f"The compiled `mnist_cnn` takes {ratio:.2f}× the hand-written model's p50 in this run."]
lines += [
    "",
    "Whole test splits through `heinfer infer --csv` (the `_batch` models compiled for throughput), end to end, against "
    "onnxruntime on the plaintext graph (`scripts/onnx_agreement.py`)"
    + (f"; left out of this run: {', '.join(skipped)} (`--skip`)" if skipped else "") + ":",
    "",
    "| model | samples | wall clock (s) | predictions equal to onnxruntime's | encrypted accuracy | onnxruntime accuracy |",
    "|---|---|---|---|---|---|",
]
for r in runs:
    accuracy = "–" if r["encrypted_accuracy"] is None else f"{100 * r['encrypted_accuracy']:.1f} %"
    lines.append(
        f"| {r['id']} | {r['samples']} | {r['seconds']:.1f} | {100 * r['agreement_with_onnxruntime']:.1f} % | "
        f"{accuracy} | {100 * r['onnxruntime_accuracy']:.1f} % |")
lines.append("")
open(f"{out}/section.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
