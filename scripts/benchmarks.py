#!/usr/bin/env python3
"""Run the CKKS micro-benchmarks (portable and CPU-tuned builds) and record them.

    python3 scripts/benchmarks.py            # both builds, writes docs/benchmarks.md's results
    python3 scripts/benchmarks.py --filter 'NTT.*'

Runs `swift package --package-path Benchmarks benchmark` twice: once as shipped (portable) and
once with CKKS_TARGET_CPU=native (tuned for this machine). When the `seal-python` wheel is
installed it also times SEAL's NTT in the same run, so the comparison is a ratio measured on one
machine at one time. Replaces the block between the RESULTS markers in docs/benchmarks.md.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN, END = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"


def run_suite(extra_env, benchmark_filter):
    env = dict(os.environ, **extra_env)
    command = ["swift", "package", "--package-path", "Benchmarks", "benchmark", "--no-progress"]
    if benchmark_filter:
        command += ["--filter", benchmark_filter]
    print("$", " ".join(f"{k}={v}" for k, v in extra_env.items()), " ".join(command), flush=True)
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if output.returncode != 0:
        sys.stderr.write(output.stdout[-4000:] + output.stderr[-4000:])
        raise SystemExit("benchmark run failed")
    return parse(output.stdout)


def parse(text):
    """Map benchmark name -> (p0, p50, p99) wall-clock microseconds from package-benchmark's text output."""
    results = {}
    name = None
    for line in text.splitlines():
        if line and not line.startswith(("│", "╒", "╞", "├", "╘", " ", "=")) and "│" not in line:
            name = line.strip()
        match = re.match(r"│ Time \(wall clock\) \((μs|ms|ns)\) \*?\s*│(.*)", line)
        if match and name:
            unit = {"μs": 1.0, "ms": 1000.0, "ns": 0.001}[match.group(1)]
            cells = [c.strip() for c in match.group(2).split("│") if c.strip()]
            p0, _, p50, _, _, p99 = (float(c) * unit for c in cells[:6])
            results[name] = (p0, p50, p99)
    return results


def seal_ntt_microseconds():
    """SEAL's forward + inverse NTT time for one 60-bit limb at N = 8192, via seal-python."""
    try:
        import seal
    except ImportError:
        return None
    degree = 8192
    parms = seal.EncryptionParameters(seal.scheme_type.ckks)
    parms.set_poly_modulus_degree(degree)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(degree, [60, 60]))
    context = seal.SEALContext(parms, False, seal.sec_level_type.none)
    keygen = seal.KeyGenerator(context)
    encryptor = seal.Encryptor(context, keygen.create_public_key())
    evaluator = seal.Evaluator(context)
    ciphertext = encryptor.encrypt(seal.CKKSEncoder(context).encode([1.0], 2.0**40))
    best = float("inf")
    for _ in range(30):
        start = time.perf_counter()
        for _ in range(100):
            evaluator.transform_from_ntt_inplace(ciphertext)
            evaluator.transform_to_ntt_inplace(ciphertext)
        best = min(best, (time.perf_counter() - start) / 100)
    # Each round trip transforms 2 polynomials x 1 prime in each direction.
    return best / 2 * 1e6


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def render(portable, tuned, seal_pair):
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {cpu_model()} ({os.cpu_count()} cores), {swift}, "
        "single thread, wall clock per operation (p50, with p0 in brackets), microseconds.",
        "",
        "| benchmark | portable build | tuned build (`CKKS_TARGET_CPU=native`) |",
        "|---|---:|---:|",
    ]
    for name in portable:
        p = portable[name]
        t = tuned.get(name)
        tuned_cell = f"{t[1]:g} ({t[0]:g})" if t else "–"
        lines.append(f"| {name} | {p[1]:g} ({p[0]:g}) | {tuned_cell} |")
    if seal_pair is not None:
        ours = portable.get("NTT forward N=8192 60-bit"), portable.get("NTT inverse N=8192 60-bit")
        lines += ["", f"SEAL (seal-python wheel) forward + inverse NTT, N = 8192, one 60-bit prime, same run: "
                  f"{seal_pair:.1f} µs per pair (best of 30 x 100)."]
        if all(ours):
            best = ours[0][0] + ours[1][0]
            median = ours[0][1] + ours[1][1]
            lines.append(
                f"Ours, portable build: {best:g} µs per pair at p0 (comparable to SEAL's best-of figure), "
                f"{median:g} µs at p50 — SEAL / ours = {seal_pair / best:.2f} (p0), {seal_pair / median:.2f} (p50).")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filter", help="regular expression selecting benchmarks")
    args = parser.parse_args()
    portable = run_suite({}, args.filter)
    tuned = run_suite({"CKKS_TARGET_CPU": "native"}, args.filter)
    seal_pair = seal_ntt_microseconds()
    block = render(portable, tuned, seal_pair)
    print(block)
    with open(DOC) as f:
        document = f.read()
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        with open(DOC, "w") as f:
            f.write(f"{head}{BEGIN}\n{block}\n{END}{tail}")
        print(f"updated {os.path.relpath(DOC)}")


if __name__ == "__main__":
    main()
