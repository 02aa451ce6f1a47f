#!/usr/bin/env python3
"""Train the bundled linear models on real public datasets and write their model files.

    pip install scikit-learn      # 1.9.1 was used for the committed files
    python3 scripts/train_models.py [--only breast_cancer|wine|iris]

Writes, deterministically (fixed split seed):
  Sources/Gateway/Models/breast_cancer_logistic-1.0.0.json   binary logistic regression, sigmoid on the client
  Sources/Gateway/Models/wine_multiclass-1.0.0.json          3-class linear model, softmax on the client
  Sources/Gateway/Models/iris_mlp-1.0.0.json                 one hidden layer with a degree-2 activation
  datasets/{breast_cancer,wine,iris}/test.csv                held-out test splits (standardized features, label)
and prints the plaintext test accuracy of each model (docs/models.md records it). --only rewrites one
model's files and leaves the others alone.

iris_mlp's weight decay is chosen by cross-validation on the training split, and of several random
initializations the one with the lowest training loss is kept: the test split is never used to choose.

Inputs of both models are standardized features: (x - mean) / std with the training split's mean
and std, which the script also records in the model description. Standardized values of these
datasets stay within ±12 (the models' input_bound); the test CSVs are already standardized.
"""

import argparse
import csv
import json
import os

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "Sources", "Gateway", "Models")
SEED = 20261125
INPUT_BOUND = 12.0


def standardize(train, test):
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std, mean, std


def write_split(name, features, labels):
    folder = os.path.join(ROOT, "datasets", name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "test.csv")
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([f"x{i}" for i in range(features.shape[1])] + ["label"])
        for row, label in zip(features, labels):
            writer.writerow([f"{value:.17g}" for value in row] + [int(label)])
    return path


def model_file(model_id, description, weights, bias, transform, encryption, max_batch):
    return {
        "model_id": model_id,
        "version": "1.0.0",
        "description": description,
        "kind": "linear",
        "weights": [[float(w) for w in row] for row in weights],
        "bias": [float(b) for b in bias],
        "output_transform": transform,
        "encryption": encryption,
        "max_batch_size": max_batch,
        "input_bound": INPUT_BOUND,
    }


def write_model(model):
    with open(os.path.join(MODELS, f"{model['model_id']}-1.0.0.json"), "w") as handle:
        json.dump(model, handle, indent=2)
        handle.write("\n")


def train_linear(model_id, dataset, data, test_size, transform, encryption, describe):
    """Standardize, fit a (multinomial) logistic regression, write its model file and test split."""
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=test_size, random_state=SEED, stratify=data.target)
    x_train, x_test, mean, std = standardize(x_train, x_test)
    assert np.abs(x_test).max() <= INPUT_BOUND, "standardized test inputs exceed input_bound"
    classifier = LogisticRegression(C=0.5, max_iter=10_000).fit(x_train, y_train)
    accuracy = classifier.score(x_test, y_test)
    description = describe([round(float(m), 6) for m in mean], [round(float(s), 6) for s in std], accuracy, len(y_test))
    write_model(
        model_file(model_id, description, classifier.coef_, classifier.intercept_, transform, encryption, 1024))
    path = write_split(dataset, x_test, y_test)
    print(f"{model_id}: test accuracy {accuracy:.4f} ({len(y_test)} samples) -> {os.path.relpath(path, ROOT)}")


def main():
    parser = argparse.ArgumentParser(description="Train the bundled models and write their files.")
    parser.add_argument("--only", choices=["breast_cancer", "wine", "iris"], help="write this model's files only")
    only = parser.parse_args().only
    # Both models keep their weights private: results are masked, re-randomized and flooded
    # (docs/threat-model.md, "Model privacy"). N = 4096 with two 53-bit primes (106 bits, the
    # current 128-bit bound for N = 4096), no evaluation keys but the client's public key. Inputs
    # at 2^78 leave the scores a flooding error of 2^-11 after 2^85 of flooding noise; weights at
    # 2^18; one rescale, then 15 low bits dropped from the 53-bit result.
    encryption = {
        "poly_modulus_degree": 4096,
        "coeff_modulus_bits": [53, 53],
        "special_modulus_bits": [],
        "input_scale": 2.0**78,
        "weight_scale": 2.0**18,
        "result_dropped_bits": 15,
    }

    if only in (None, "breast_cancer"):
        train_linear(
            "breast_cancer_logistic", "breast_cancer", load_breast_cancer(), 0.25, "sigmoid", encryption,
            lambda mean, std, accuracy, count: (
                "Logistic regression on the Wisconsin breast-cancer data (scikit-learn's copy of the UCI set, 569 "
                "samples, 30 features; label 1 = benign). Inputs: standardized features (x − mean) / std with the "
                f"training split's statistics: mean = {mean}, std = {std}. The client applies the sigmoid. "
                f"Plaintext test accuracy {accuracy:.4f} on {count} held-out samples."))
    if only in (None, "wine"):
        train_linear(
            "wine_multiclass", "wine", load_wine(), 0.3, "softmax", encryption,
            lambda mean, std, accuracy, count: (
                "Multinomial logistic regression on the UCI wine data (scikit-learn's copy, 178 samples, 13 features, "
                f"3 cultivars). Inputs: standardized features with the training split's statistics: mean = {mean}, "
                f"std = {std}. The server returns the three class scores; the client applies softmax (and argmax for "
                f"the class). Plaintext test accuracy {accuracy:.4f} on {count} held-out samples."))
    if only in (None, "iris"):
        write_iris()


# The hidden activation of iris_mlp, lowest degree first: a(z) = 0.25 + 0.5 z + 0.125 z^2.
ACTIVATION = [0.25, 0.5, 0.125]


# Weight decay tried for iris_mlp, chosen by 5-fold cross-validation on the training split alone.
DECAYS = [1e-3, 3e-3, 1e-2, 3e-2]
RESTARTS = 5


def train_mlp(x, y, hidden, classes, decay, epochs=4000, rate=0.05, seed=SEED):
    """Full-batch Adam with a cosine learning-rate schedule on softmax cross-entropy for
    scores = W2 a(W1 x + b1) + b2 (numpy only). The L2 penalty decay/2 · |θ|² covers W1, b1 and W2:
    without it on b1 the network grows its hidden biases (and so |z|) to make up for small weights.
    Returns the parameters and the final penalized training loss."""
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(0, 0.5, (hidden, x.shape[1])), "b1": np.zeros(hidden),
        "W2": rng.normal(0, 0.5, (classes, hidden)), "b2": np.zeros(classes),
    }
    decayed = ("W1", "b1", "W2")
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    onehot = np.eye(classes)[y]
    c0, c1, c2 = ACTIVATION
    for step in range(1, epochs + 1):
        z = x @ params["W1"].T + params["b1"]
        a = c0 + c1 * z + c2 * z * z
        scores = a @ params["W2"].T + params["b2"]
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        g_scores = (p - onehot) / len(x)
        g_a = g_scores @ params["W2"]
        g_z = g_a * (c1 + 2 * c2 * z)
        grads = {"W1": g_z.T @ x, "b1": g_z.sum(axis=0), "W2": g_scores.T @ a, "b2": g_scores.sum(axis=0)}
        step_rate = rate * 0.5 * (1 + np.cos(np.pi * (step - 1) / epochs))
        for name, grad in grads.items():
            if name in decayed:
                grad = grad + decay * params[name]
            m, v = moments[name]
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad * grad
            moments[name] = (m, v)
            params[name] -= step_rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    penalty = 0.5 * decay * sum(float((params[k] ** 2).sum()) for k in decayed)
    return params, mlp_loss(params, x, y) + penalty


def mlp_scores(params, x):
    c0, c1, c2 = ACTIVATION
    z = x @ params["W1"].T + params["b1"]
    return (c0 + c1 * z + c2 * z * z) @ params["W2"].T + params["b2"]


def mlp_predict(params, x):
    return mlp_scores(params, x).argmax(axis=1)


def mlp_loss(params, x, y):
    scores = mlp_scores(params, x)
    scores -= scores.max(axis=1, keepdims=True)
    return float((np.log(np.exp(scores).sum(axis=1)) - scores[np.arange(len(y)), y]).mean())


def fit_iris_mlp(x, y):
    """Choose the weight decay by stratified 5-fold cross-validation on the training split (mean
    validation cross-entropy), then train on the whole training split from RESTARTS random
    initializations and keep the one with the lowest penalized training loss. The test split is
    never looked at."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    validation = {}
    for decay in DECAYS:
        losses = [mlp_loss(train_mlp(x[fit], y[fit], 4, 3, decay)[0], x[held], y[held])
                  for fit, held in folds.split(x, y)]
        validation[decay] = float(np.mean(losses))
    decay = min(DECAYS, key=lambda d: validation[d])
    runs = [train_mlp(x, y, 4, 3, decay, seed=SEED + restart) for restart in range(RESTARTS)]
    params, _ = min(runs, key=lambda run: run[1])
    print("iris_mlp: cross-validation loss by weight decay "
          + ", ".join(f"{d:g}: {validation[d]:.4f}" for d in DECAYS) + f"; chose {decay:g}")
    return params


def write_iris():
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target)
    x_train, x_test, mean, std = standardize(x_train, x_test)
    assert np.abs(x_test).max() <= 4, "standardized test inputs exceed input_bound"
    params = fit_iris_mlp(x_train, y_train)
    accuracy = float((mlp_predict(params, x_test) == y_test).mean())
    description = (
        "A one-hidden-layer network on the UCI iris data (scikit-learn's copy, 150 samples, 4 features, 3 species): "
        "4 hidden units with the activation 0.25 + 0.5·z + 0.125·z², 3 class scores; the client applies softmax. "
        f"Inputs: standardized features with the training split's statistics: mean = {[round(float(m), 6) for m in mean]}, "
        f"std = {[round(float(s), 6) for s in std]}. Evaluated in slots with rotations and one ciphertext multiplication "
        f"(needs registered evaluation keys). Its weights are private but its results are not protected: besides "
        f"the scores they carry noise that depends on the weights. Plaintext test accuracy {accuracy:.4f} on {len(y_test)} held-out samples.")
    model = {
        "model_id": "iris_mlp",
        "version": "1.0.0",
        "description": description,
        "kind": "mlp",
        "hidden_weights": [[float(w) for w in row] for row in params["W1"]],
        "hidden_bias": [float(b) for b in params["b1"]],
        "weights": [[float(w) for w in row] for row in params["W2"]],
        "bias": [float(b) for b in params["b2"]],
        "activation": {"name": "polynomial_degree2_v1", "coefficients": ACTIVATION},
        "output_transform": "softmax",
        "encryption": {
            "poly_modulus_degree": 8192,
            "coeff_modulus_bits": [50, 35, 35, 35],
            "special_modulus_bits": [50],
            "input_scale": 2.0**35,
            "result_dropped_bits": 2,
        },
        "max_batch_size": 4096,
        "input_bound": 4.0,
        "result_protection": "none",
    }
    write_model(model)
    path = write_split("iris", x_test, y_test)
    print(f"iris_mlp: test accuracy {accuracy:.4f} ({len(y_test)} samples) -> {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
