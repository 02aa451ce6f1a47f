#!/usr/bin/env python3
"""Train the bundled linear models on real public datasets and write their model files.

    pip install scikit-learn      # 1.9.1 was used for the committed files
    python3 scripts/train_models.py

Writes, deterministically (fixed split seed):
  Sources/Gateway/Models/breast_cancer_logistic-1.0.0.json   binary logistic regression, sigmoid on the client
  Sources/Gateway/Models/wine_multiclass-1.0.0.json          3-class linear model, softmax on the client
  datasets/breast_cancer/test.csv, datasets/wine/test.csv    held-out test splits (standardized features, label)
and prints the plaintext test accuracy of each model (docs/models.md records it).

Inputs of both models are standardized features: (x - mean) / std with the training split's mean
and std, which the script also records in the model description. Standardized values of these
datasets stay within ±12 (the models' input_bound); the test CSVs are already standardized.
"""

import csv
import json
import os

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

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


def main():
    # Both models: N = 2048, one 54-bit prime (the 128-bit bound for N = 2048), no evaluation keys.
    encryption = {
        "poly_modulus_degree": 2048,
        "coeff_modulus_bits": [54],
        "special_modulus_bits": [],
        "input_scale": 2.0**20,
        "weight_scale": 2.0**22,
        "result_dropped_bits": 8,
    }

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED, stratify=data.target)
    x_train, x_test, mean, std = standardize(x_train, x_test)
    assert np.abs(x_test).max() <= INPUT_BOUND, "standardized test inputs exceed input_bound"
    classifier = LogisticRegression(C=0.5, max_iter=10_000).fit(x_train, y_train)
    accuracy = classifier.score(x_test, y_test)
    description = (
        "Logistic regression on the Wisconsin breast-cancer data (scikit-learn's copy of the UCI set, 569 samples, "
        f"30 features; label 1 = benign). Inputs: standardized features (x − mean) / std with the training split's "
        f"statistics: mean = {[round(m, 6) for m in mean]}, std = {[round(s, 6) for s in std]}. "
        f"The client applies the sigmoid. Plaintext test accuracy {accuracy:.4f} on {len(y_test)} held-out samples.")
    model = model_file(
        "breast_cancer_logistic", description, classifier.coef_, classifier.intercept_, "sigmoid", encryption, 1024)
    with open(os.path.join(MODELS, "breast_cancer_logistic-1.0.0.json"), "w") as handle:
        json.dump(model, handle, indent=2)
        handle.write("\n")
    path = write_split("breast_cancer", x_test, y_test)
    print(f"breast_cancer_logistic: test accuracy {accuracy:.4f} ({len(y_test)} samples) -> {os.path.relpath(path, ROOT)}")

    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=SEED, stratify=data.target)
    x_train, x_test, mean, std = standardize(x_train, x_test)
    assert np.abs(x_test).max() <= INPUT_BOUND, "standardized test inputs exceed input_bound"
    classifier = LogisticRegression(C=0.5, max_iter=10_000).fit(x_train, y_train)
    accuracy = classifier.score(x_test, y_test)
    description = (
        "Multinomial logistic regression on the UCI wine data (scikit-learn's copy, 178 samples, 13 features, "
        f"3 cultivars). Inputs: standardized features with the training split's statistics: "
        f"mean = {[round(m, 6) for m in mean]}, std = {[round(s, 6) for s in std]}. The server returns the "
        f"three class scores; the client applies softmax (and argmax for the class). Plaintext test accuracy "
        f"{accuracy:.4f} on {len(y_test)} held-out samples.")
    model = model_file(
        "wine_multiclass", description, classifier.coef_, classifier.intercept_, "softmax", encryption, 1024)
    with open(os.path.join(MODELS, "wine_multiclass-1.0.0.json"), "w") as handle:
        json.dump(model, handle, indent=2)
        handle.write("\n")
    path = write_split("wine", x_test, y_test)
    print(f"wine_multiclass: test accuracy {accuracy:.4f} ({len(y_test)} samples) -> {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
