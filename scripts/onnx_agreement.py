#!/usr/bin/env python3
"""Compare encrypted predictions with onnxruntime's on the same test split.

    heinfer infer --model ID --csv datasets/mnist/test.csv --json > run.json
    python3 scripts/onnx_agreement.py run.json models/onnx/NAME.expected.json

`run.json` is what `heinfer infer --csv ... --json` prints (the decrypted scores of every sample,
in the CSV's order); `NAME.expected.json` is what scripts/onnx_models.py recorded from
onnxruntime on the plaintext graph. Prints the fraction of samples whose encrypted prediction
equals onnxruntime's and both accuracies, and exits 1 when the
agreement is below --min-agreement (0.99) or the accuracies differ by more than --max-loss
(0.005). Standard library only.
"""

import argparse
import json
import sys


def predictions(scores):
    """The predicted class of each sample: the largest score, or for one score whether it is positive."""
    if all(len(row) == 1 for row in scores):
        return [1 if row[0] > 0 else 0 for row in scores]
    return [max(range(len(row)), key=row.__getitem__) for row in scores]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="heinfer infer --csv ... --json output")
    parser.add_argument("expected", help="models/onnx/NAME.expected.json")
    parser.add_argument("--min-agreement", type=float, default=0.99)
    parser.add_argument("--max-loss", type=float, default=0.005)
    args = parser.parse_args()
    with open(args.run) as f:
        run = json.load(f)
    with open(args.expected) as f:
        expected = json.load(f)
    outputs = run["outputs"]
    reference = expected["predictions"]
    if len(outputs) != len(reference):
        sys.exit(f"{len(outputs)} encrypted results for {len(reference)} onnxruntime predictions")
    # The classes heinfer predicted (after the output transform); else from the scores.
    encrypted = run.get("predicted_class") or predictions(outputs)
    agreement = sum(a == b for a, b in zip(encrypted, reference)) / len(reference)
    accuracy = run.get("accuracy")
    loss = None if accuracy is None else expected["accuracy"] - accuracy
    print(
        json.dumps(
            {
                "model_id": run.get("model_id"),
                "samples": len(reference),
                "agreement_with_onnxruntime": agreement,
                "encrypted_accuracy": accuracy,
                "onnxruntime_accuracy": expected["accuracy"],
            },
            indent=2,
        )
    )
    if agreement < args.min_agreement or (loss is not None and abs(loss) > args.max_loss):
        sys.exit(1)


if __name__ == "__main__":
    main()
