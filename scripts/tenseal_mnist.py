#!/usr/bin/env python3
"""Benchmark TenSEAL's encrypted MNIST tutorial network with our weights on our held-out digits.

    ./scripts/tenseal_mnist.sh [--images 100] [--output FILE] [--single-thread-only]
    python3 scripts/tenseal_mnist.py ...     # the same, where tenseal==0.3.18 and numpy import

What runs is TenSEAL 0.3.18's "Tutorial 4 - Encrypted Convolution on MNIST" as published: its
context (CKKS, N = 8192, coefficient modulus 31 + 6×26 + 31 bits, scale 2^26, public-key
encryption, generate_galois_keys()) and its evaluation (im2col_encoding → conv2d_im2col + bias per
channel → pack_vectors → square → mm + bias → square → mm + bias → decrypt), with the weights of the
bundled model file Sources/Gateway/Models/mnist_cnn-1.0.0.json (scripts/train_mnist.py) on the first --images rows of
datasets/mnist/test.csv. The network takes raw pixels 0…255 (the normalization is folded into the
convolution), so the image goes in as it is.

Layouts. TenSEAL's im2col puts pixel k (row by row in the 7×7 kernel, padded to 64) of window w
(the 8×8 output positions row by row) in slot 64·k + w; conv2d_im2col leaves channel c's 64 values
in window order and pack_vectors concatenates the channels, so slot 64·c + w: the column order of
hidden_weights. Each run checks both on the first image by decrypting the encoded input and the
packed convolution output, and stops if they differ from numpy's.

Two exact rescalings of the weights, so that TenSEAL computes our network's function with the
tutorial's parameters (both are printed and written to the JSON):

1. Scale compensation. After each rescale TenSEAL labels the ciphertext with the global scale 2^26,
   although SEAL divided by a prime q of the modulus chain (0.1 to 1 % below 2^26): every rescale
   multiplies the encrypted value by 2^26/q. The network has six rescales (convolution, packing,
   square, mm, square, mm). With the tutorial's small normalized values this stays under the noise;
   our intermediate values are large (the hidden layer reaches 18, its square 320), and unchanged
   weights give scores off by up to 3.3 on the 1,000 test images (4 % of the largest score, no
   prediction changes; `scale_drift_model` in the JSON computes it with numpy). So the weights are
   multiplied by the q/2^26 of the rescales that follow them: convolution kernel by q₆q₅/2^52, its
   bias by q₅/2^26, hidden weights by q₄q₃/2^52, output weights by q₂q₁/2^52 (SEAL drops the last
   prime of the chain first). --no-scale-compensation runs the weights as they are.
2. Last-layer divisor. After six rescales only the 31-bit prime q₀ is left, and at scale 2^26 a
   value decodes correctly only below 2^4 = 16 in absolute value (TenSEAL replicates the 10 scores
   over all slots, and a coefficient is bounded by the largest slot). Our scores reach 76; unchanged
   weights overflow on test image 15 (0-based; largest |score| 69). The output weights and bias are
   divided by 16 and the decrypted scores multiplied by 16.

Timings are per image, after the context and keys are made (timed once per run): encryption
(im2col_encoding: encoding and encryption), evaluation (the server's work, from the encrypted input
to the encrypted scores) and decryption. Sizes are those of .serialize(): the encrypted input, the
encrypted result, and the context without its secret key (public, relinearization and Galois keys:
what a client uploads). One run uses one thread (n_threads=1); a second uses TenSEAL's default
(n_threads = CPU count) unless --single-thread-only.
"""

import argparse
import json
import os
import platform
import re
import time

import numpy as np
import tenseal as ts
import tenseal.sealapi  # noqa: F401  (registers SEAL's Modulus type, read by data_primes)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
POLY_MODULUS_DEGREE = 8192
COEFF_MOD_BIT_SIZES = [31, 26, 26, 26, 26, 26, 26, 31]
SCALE_BITS = 26
KERNEL, STRIDE, POSITIONS = 7, 3, 8
SLOTS_PER_KERNEL_PIXEL = 64  # TenSEAL pads the 49 kernel pixels to the next power of two
LAST_LAYER_DIVISOR = 16.0


def load():
    with open(os.path.join(ROOT, "Sources", "Gateway", "Models", "mnist_cnn-1.0.0.json")) as handle:
        raw = json.load(handle)
    weights = {
        "kernel": np.array(raw["convolution"]["weights"]),  # (4, 49): 7×7 row by row
        "kernel_bias": np.array(raw["convolution"]["bias"]),
        "hidden": np.array(raw["hidden_weights"]),  # (64, 256): input c·64 + w
        "hidden_bias": np.array(raw["hidden_bias"]),
        "output": np.array(raw["weights"]),  # (10, 64)
        "output_bias": np.array(raw["bias"]),
    }
    assert raw["convolution"]["kernel"] == KERNEL and raw["convolution"]["stride"] == STRIDE
    data = np.loadtxt(os.path.join(ROOT, "datasets", "mnist", "test.csv"), delimiter=",", skiprows=1)
    # The training script states the plaintext accuracy in the model's description.
    reported = float(re.search(r"Plaintext test accuracy ([0-9.]+)", raw["description"]).group(1))
    return weights, reported, data[:, :784].reshape(-1, 28, 28), data[:, 784].astype(int)


def windows(images):
    """(n, 28, 28) → (n, 64, 49): every output position's 7×7 window, positions row by row."""
    return np.stack(
        [
            images[:, r * STRIDE : r * STRIDE + KERNEL, c * STRIDE : c * STRIDE + KERNEL].reshape(len(images), -1)
            for r in range(POSITIONS)
            for c in range(POSITIONS)
        ],
        axis=1,
    )


def forward(w, images, drift=(1.0,) * 6):
    """float64 scores; returns (convolution outputs (n, 64, 4), scores (n, 10)).

    drift: the factor each of the six rescales applies to the value in TenSEAL (see the docstring);
    all 1 for the network itself."""
    z1 = drift[1] * (drift[0] * (windows(images) @ w["kernel"].T) + w["kernel_bias"])
    a1 = drift[2] * (z1 * z1).transpose(0, 2, 1).reshape(len(images), -1)  # channel-major: c·64 + w
    z2 = drift[3] * (a1 @ w["hidden"].T) + w["hidden_bias"]
    a2 = drift[4] * z2 * z2
    return z1, drift[5] * (a2 @ w["output"].T) + w["output_bias"]


def make_context(threads):
    options = {"n_threads": threads} if threads else {}
    context = ts.context(ts.SCHEME_TYPE.CKKS, POLY_MODULUS_DEGREE, coeff_mod_bit_sizes=COEFF_MOD_BIT_SIZES, **options)
    context.global_scale = 2**SCALE_BITS
    return context


def data_primes(context):
    """q₀ … q₆: the ciphertext modulus without the special prime."""
    return [m.value() for m in context.data.seal_context().first_context_data().parms().coeff_modulus()]


def rescale_drift(primes):
    """The factor 2^26/q of the six rescales in evaluation order (SEAL drops q₆ first)."""
    return [2**SCALE_BITS / q for q in reversed(primes[1:])]


def tenseal_weights(w, drift, compensate):
    """The weights as TenSEAL's tutorial hands them over (lists; transposed for mm), rescaled."""
    f = [1 / d for d in drift] if compensate else [1.0] * 6
    return {
        "kernels": (w["kernel"] * f[0] * f[1]).reshape(-1, KERNEL, KERNEL).tolist(),
        "kernel_bias": (w["kernel_bias"] * f[1]).tolist(),
        "hidden_t": (w["hidden"] * f[2] * f[3]).T.tolist(),
        "hidden_bias": w["hidden_bias"].tolist(),
        "output_t": (w["output"] * f[4] * f[5] / LAST_LAYER_DIVISOR).T.tolist(),
        "output_bias": (w["output_bias"] / LAST_LAYER_DIVISOR).tolist(),
    }


def convolution(enc_x, windows_nb, tw):
    channels = [enc_x.conv2d_im2col(k, windows_nb) + b for k, b in zip(tw["kernels"], tw["kernel_bias"])]
    return ts.CKKSVector.pack_vectors(channels)


def evaluate(enc_x, windows_nb, tw):
    """The tutorial's EncConvNet.forward."""
    x = convolution(enc_x, windows_nb, tw)
    x.square_()
    x = x.mm(tw["hidden_t"]) + tw["hidden_bias"]
    x.square_()
    return x.mm(tw["output_t"]) + tw["output_bias"]


def check_layout(context, image, z1, tw):
    """Decrypts the encoded input and the packed convolution output and compares them with numpy."""
    enc_x, windows_nb = ts.im2col_encoding(context, image.tolist(), KERNEL, KERNEL, STRIDE)
    expected = np.zeros((SLOTS_PER_KERNEL_PIXEL, windows_nb))
    expected[: KERNEL * KERNEL] = windows(image[None])[0].T
    input_error = float(np.abs(np.array(enc_x.decrypt()) - expected.ravel()).max())
    packed = np.array(convolution(enc_x, windows_nb, tw).decrypt())
    conv_error = float(np.abs(packed - z1.T.ravel()).max())
    # The errors are about 1e-4 on pixels up to 255 and up to 3e-2 on convolution outputs up to 6 (the
    # rotations' noise); a wrong order gives errors as large as the values.
    if input_error > 0.05 or conv_error > 0.05 * np.abs(z1).max():
        raise SystemExit(f"layout mismatch: input error {input_error:.3g}, convolution error {conv_error:.3g}")
    return {"encoded_input_max_error": input_error, "packed_convolution_max_error": conv_error}


def stats(values, scale=1.0):
    values = np.asarray(values, dtype=float) * scale
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90)), "mean": float(values.mean())}


def run(threads, images, labels, tw, plain_scores, z1):
    started = time.perf_counter()
    context = make_context(threads)
    made = time.perf_counter()
    context.generate_galois_keys()
    keyed = time.perf_counter()
    layout = check_layout(context, images[0], z1[0], tw)
    key_bytes = {
        "upload": len(context.serialize()),  # public, relinearization and Galois keys; no secret key
        "public_key": len(context.serialize(save_galois_keys=False, save_relin_keys=False)),
        "relin_keys": len(context.serialize(save_public_key=False, save_galois_keys=False)),
        "galois_keys": len(context.serialize(save_public_key=False, save_relin_keys=False)),
    }
    times = {"encrypt": [], "evaluate": [], "decrypt": []}
    sizes = {"encrypted_input": [], "encrypted_result": []}
    scores = []
    for image in images:
        pixels = image.tolist()
        t0 = time.perf_counter()
        enc_x, windows_nb = ts.im2col_encoding(context, pixels, KERNEL, KERNEL, STRIDE)
        t1 = time.perf_counter()
        enc_scores = evaluate(enc_x, windows_nb, tw)
        t2 = time.perf_counter()
        decrypted = enc_scores.decrypt()
        t3 = time.perf_counter()
        scores.append(np.array(decrypted) * LAST_LAYER_DIVISOR)
        for name, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[name].append(seconds)
        sizes["encrypted_input"].append(len(enc_x.serialize()))
        sizes["encrypted_result"].append(len(enc_scores.serialize()))
    scores = np.array(scores)
    difference = np.abs(scores - plain_scores).max(axis=1)
    return {
        "threads": threads or os.cpu_count(),
        "label": "n_threads=1" if threads else "TenSEAL default (n_threads = CPU count)",
        "setup_ms": {
            "context_and_public_relin_keys": (made - started) * 1e3,
            "galois_keys": (keyed - made) * 1e3,
        },
        "key_bytes": key_bytes,
        "layout_check": layout,
        "ms": {name: stats(values, 1e3) for name, values in times.items()},
        "bytes": {name: {"median": int(np.median(v)), "min": min(v), "max": max(v)} for name, v in sizes.items()},
        "encrypted_accuracy": float((scores.argmax(axis=1) == labels).mean()),
        "predictions_equal_to_plaintext": int((scores.argmax(axis=1) == plain_scores.argmax(axis=1)).sum()),
        "max_score_difference": float(difference.max()),
        # per image: largest difference over the image's largest |score|
        "max_relative_score_difference": float((difference / np.abs(plain_scores).max(axis=1)).max()),
    }


def summary(result):
    out = result["rescaling"]
    lines = [
        f"TenSEAL {result['tenseal']}: MNIST tutorial network, our weights, first {result['images']} held-out digits",
        "parameters: CKKS N = 8192, coefficient modulus 31 + 6×26 + 31 bits, scale 2^26, public-key encryption",
        f"rescaling: last layer ÷ {out['last_layer_divisor']:g} (decrypted scores × {out['last_layer_divisor']:g}); "
        + (
            "scale compensation: kernel × {conv_kernel:.6f}, kernel bias × {conv_bias:.6f}, hidden × "
            "{hidden_weights:.6f}, output × {output_weights:.6f}".format(**out["scale_compensation"]["factors"])
            if out["scale_compensation"]["applied"]
            else "no scale compensation"
        ),
        f"plaintext (numpy float64): accuracy {result['plaintext_accuracy_all']:.3f} on all "
        f"{result['test_images']} (as train_mnist.py reports), {result['plaintext_accuracy']:.3f} on these",
        f"without scale compensation (numpy model, all {result['test_images']}): scores off by up to "
        f"{result['scale_drift_model']['max_score_difference']:.2f}, "
        f"{result['scale_drift_model']['predictions_changed']} predictions change",
    ]
    for r in result["runs"]:
        ms, size, keys = r["ms"], r["bytes"], r["key_bytes"]
        lines += [
            f"run {r['label']} ({r['threads']} thread{'s' if r['threads'] > 1 else ''}):",
            f"  keys: context + public/relin {r['setup_ms']['context_and_public_relin_keys']:.0f} ms, "
            f"Galois {r['setup_ms']['galois_keys']:.0f} ms; upload {keys['upload'] / 1e6:.1f} MB "
            f"(Galois {keys['galois_keys'] / 1e6:.1f} MB, relin {keys['relin_keys'] / 1e6:.2f} MB, "
            f"public {keys['public_key'] / 1e6:.2f} MB)",
        ]
        for stage in ("encrypt", "evaluate", "decrypt"):
            s = ms[stage]
            lines.append(f"  {stage:8s} median {s['median']:8.1f} ms  p90 {s['p90']:8.1f} ms  mean {s['mean']:8.1f} ms")
        lines += [
            f"  encrypted input {size['encrypted_input']['median'] / 1e3:.1f} kB, "
            f"encrypted result {size['encrypted_result']['median'] / 1e3:.1f} kB (medians)",
            f"  accuracy {r['encrypted_accuracy']:.3f}, {r['predictions_equal_to_plaintext']}/{result['images']} "
            f"predictions equal to plaintext, largest score difference {r['max_score_difference']:.3f} "
            f"({100 * r['max_relative_score_difference']:.2f} % of that image's largest score)",
        ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100, help="first N rows of datasets/mnist/test.csv")
    parser.add_argument("--output", help="write the results as JSON to this file")
    parser.add_argument("--single-thread-only", action="store_true", help="skip the default-threads run")
    parser.add_argument("--no-scale-compensation", action="store_true", help="weights as they are (see above)")
    args = parser.parse_args()
    compensate = not args.no_scale_compensation

    w, reported_accuracy, all_images, all_labels = load()
    all_z1, all_scores = forward(w, all_images)
    plaintext_accuracy_all = float((all_scores.argmax(axis=1) == all_labels).mean())
    if abs(plaintext_accuracy_all - reported_accuracy) > 0.5 / len(all_labels):
        raise SystemExit(f"numpy gives accuracy {plaintext_accuracy_all}, the model file says {reported_accuracy}")
    n = min(args.images, len(all_labels))
    images, labels, z1, plain_scores = all_images[:n], all_labels[:n], all_z1[:n], all_scores[:n]

    primes = data_primes(make_context(1))  # SEAL's CoeffModulus::Create: the same in every context
    drift = rescale_drift(primes)
    _, drifted = forward(w, all_images, drift)
    tw = tenseal_weights(w, drift, compensate)
    runs = [run(1, images, labels, tw, plain_scores, z1)]
    if not args.single_thread_only:
        runs.append(run(None, images, labels, tw, plain_scores, z1))
    result = {
        "tenseal": ts.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": {"processor": platform.machine(), "cpu_count": os.cpu_count()},
        "parameters": {
            "scheme": "CKKS",
            "poly_modulus_degree": POLY_MODULUS_DEGREE,
            "coeff_mod_bit_sizes": COEFF_MOD_BIT_SIZES,
            "global_scale": f"2^{SCALE_BITS}",
            "data_primes": primes,
            "encryption": "public key (TenSEAL's default, as in the tutorial)",
            "galois_keys": "generate_galois_keys() (TenSEAL's default rotation set)",
        },
        "images": n,
        "test_images": len(all_labels),
        "plaintext_accuracy_all": plaintext_accuracy_all,
        "plaintext_accuracy": float((plain_scores.argmax(axis=1) == labels).mean()),
        "rescaling": {
            "last_layer_divisor": LAST_LAYER_DIVISOR,
            "scale_compensation": {
                "applied": compensate,
                "rescale_drift": drift,
                "factors": {
                    "conv_kernel": 1 / (drift[0] * drift[1]),
                    "conv_bias": 1 / drift[1],
                    "hidden_weights": 1 / (drift[2] * drift[3]),
                    "output_weights": 1 / (drift[4] * drift[5]),
                },
            },
        },
        # What the weights as they are would give (numpy, all test images, no noise).
        "scale_drift_model": {
            "max_score_difference": float(np.abs(drifted - all_scores).max()),
            "predictions_changed": int((drifted.argmax(axis=1) != all_scores.argmax(axis=1)).sum()),
        },
        "runs": runs,
    }
    print(summary(result))
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")


if __name__ == "__main__":
    main()
