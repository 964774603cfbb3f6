#!/usr/bin/env python3
"""End-to-end checks of `lpsparsify MODEL --pattern N:M` (docs/cli.md), with
an N:M checker of its own: it reads the written file with onnx and numpy,
finds every weight from the graph (Conv W [M, C/g, k...]: channel axis 1 at
every (m, tap); Gemm B: axis 1 with transB=1, else 0; MatMul constant B
[..., K, N]: axis -2; constant A [M, K]: axis 1; LSTM/GRU/RNN W and R
[D, G*H, I]: axis 2; ConvTranspose W [C, M/g, k...]: axis 0) and requires,
for every weight whose input-channel count is a multiple of M, at most N
non-zero values in every group of M consecutive input channels; the others
must be left dense and reported so. It shares no code with the tool.

Cases:
  generated  a model with a Conv of 1 input channel (not eligible), a Conv of
             8, a grouped Conv, Gemm transB=0 and 1 and a rank-3 MatMul
             constant; lpss, gmp and magnitude at 2:4 and 4:8; --layer-target
             on the ineligible layer; the usage errors; the checker itself
             rejects an unstructured 50% model
  bundled    models/lenet300.onnx and models/cnn.onnx on a Fashion-MNIST subset
  torch      the ResNet and LSTM fixtures of tests/models/torch

Usage: check_pattern.py CASE LPSPARSIFY WORKDIR SOURCE_DIR
"""
import gzip
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cli_helpers import expect, run, sparsify_into

EXIT_USAGE = 2
METHODS = ("lpss", "gmp", "magnitude")
FAST = ["--epochs", "1", "--batch", "64", "-q"]


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def weights_of(model):
    """{initializer: (array, channel axis, groups along axis 0 or None)} of the
    weights the graph's nodes use as layer weights."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    found = {}
    for n in model.graph.node:
        ins = list(n.input)
        if n.op_type == "Conv" and ins[1] in inits:
            found[ins[1]] = (inits[ins[1]], 1, None)
        elif n.op_type == "ConvTranspose" and ins[1] in inits:
            found[ins[1]] = (inits[ins[1]], 0, attr(n, "group", 1))
        elif n.op_type == "Gemm" and ins[1] in inits:
            found[ins[1]] = (inits[ins[1]], 1 if attr(n, "transB", 0) else 0, None)
        elif n.op_type == "MatMul" and ins[1] in inits and inits[ins[1]].ndim >= 2:
            found[ins[1]] = (inits[ins[1]], inits[ins[1]].ndim - 2, None)
        elif n.op_type == "MatMul" and ins[0] in inits and inits[ins[0]].ndim == 2:
            found[ins[0]] = (inits[ins[0]], 1, None)
        elif n.op_type in ("LSTM", "GRU", "RNN"):
            for k in (1, 2):
                if ins[k] in inits:
                    found[ins[k]] = (inits[ins[k]], 2, None)
    return found


def violations(w, axis, n, m, groups):
    """Groups of m consecutive input channels (along axis, per group of a
    grouped ConvTranspose) with more than n non-zero values; None when the
    channel count is not a multiple of m."""
    if groups:
        w = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
        axis += 1
    c = w.shape[axis]
    if c % m:
        return None
    w = np.moveaxis(w, axis, -1)
    nz = (w.reshape(*w.shape[:-1], c // m, m) != 0).sum(axis=-1)
    return int((nz > n).sum())


def check_pattern(path, report_path, n, m):
    """The N:M check of a written model against its report. Returns the
    names of the eligible layers."""
    model = onnx.load(path)
    assert not model.graph.sparse_initializer, f"{path}: --storage auto wrote COO under --pattern"
    report = json.load(open(report_path))
    layers = {l["name"]: l for l in report["layers"]}
    summary = report["pattern"]
    assert summary["pattern"] == f"{n}:{m}" and summary["n"] == n and summary["m"] == m, summary
    eligible = []
    for name, (w, axis, groups) in weights_of(model).items():
        layer = layers[name]
        if layer["excluded"] and layer["pattern"] is None:
            continue  # --exclude or an embedding
        bad = violations(w, axis, n, m, groups)
        if bad is None:
            assert layer["pattern"] in ("dense", "unstructured"), (name, layer["pattern"])
            if layer["pattern"] == "dense":
                assert layer["excluded"] and name in summary["dense_layers"], name
                assert int((w == 0).sum()) == 0, f"{name}: left dense but has zeros"
            else:
                assert name in summary["unstructured_layers"], name
            continue
        assert bad == 0, f"{path}: {name}: {bad} groups of {m} with more than {n} non-zero"
        assert layer["pattern"] == f"{n}:{m}", (name, layer["pattern"])
        zeros = int((w == 0).sum())
        assert zeros == w.size * (m - n) // m, f"{name}: {zeros} zeros of {w.size}"
        eligible.append(name)
    assert eligible and summary["layers"] == len(eligible), (eligible, summary)
    assert abs(report["achieved"] - (m - n) / m) < 1e-9 or summary["unstructured_layers"], report["achieved"]
    onnx.checker.check_model(model)
    return eligible


def sparsify(tool, work, model, data, tag, *extra, code=0):
    return sparsify_into(tool, model, data, work, tag, FAST, *extra, code=code)


def save_split(data, split, x, y):
    os.makedirs(data, exist_ok=True)
    np.save(os.path.join(data, f"{split}.npy"), x)
    np.save(os.path.join(data, f"{split}_labels.npy"), y.astype(np.int64))


def generated_model(rng):
    """x [N,1,8,8] -> Conv 8 (C=1: not eligible) -> Conv 8 (C=8) -> Conv 8
    groups 2 (C/g=4) -> Flatten -> Gemm transB=1 [16, 512] -> MatMul
    [1, 16, 8] (rank-3 constant) -> Reshape -> Gemm transB=0 [8, 4]."""
    def init(name, shape, scale=0.3):
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)
    inits = [init("c1.w", (8, 1, 3, 3)), init("c2.w", (8, 8, 3, 3)), init("c3.w", (8, 4, 1, 1)),
             init("fc1.w", (16, 512), 0.05), init("mm.w", (1, 16, 8)), init("fc2.w", (8, 4)),
             numpy_helper.from_array(np.array([-1, 8], np.int64), "shape8")]
    nodes = [
        helper.make_node("Conv", ["x", "c1.w"], ["a"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "c2.w"], ["b"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["b"], ["br"]),
        helper.make_node("Conv", ["br", "c3.w"], ["c"], group=2, name="conv3"),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "fc1.w"], ["h"], transB=1, name="fc1"),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Unsqueeze", ["hr", "zero"], ["h3"]),
        helper.make_node("MatMul", ["h3", "mm.w"], ["g3"], name="mm"),
        helper.make_node("Reshape", ["g3", "shape8"], ["g"]),
        helper.make_node("Gemm", ["g", "fc2.w"], ["y"], name="fc2"),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "zero"))
    graph = helper.make_graph(nodes, "pattern", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 1, 8, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["N", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def case_generated(tool, work):
    rng = np.random.default_rng(7)
    path = os.path.join(work, "model.onnx")
    onnx.save(generated_model(rng), path)
    data = os.path.join(work, "data")
    for split, count in (("train", 256), ("test", 128)):
        x = rng.normal(0, 1, (count, 1, 8, 8)).astype(np.float32)
        save_split(data, split, x, rng.integers(0, 4, count))
    for method in METHODS:
        for n, m in ((2, 4), (4, 8)):
            out, rep = sparsify(tool, work, path, data, f"{method}_{n}_{m}", "--method", method,
                                "--pattern", f"{n}:{m}")
            eligible = check_pattern(out, rep, n, m)
            # c3.w has 4 input channels per group: eligible for 2:4, not 4:8
            expected = {"c2.w", "fc1.w", "mm.w", "fc2.w"} | ({"c3.w"} if m == 4 else set())
            assert set(eligible) == expected, eligible
    # an own target on the ineligible layer prunes it unstructured and counts it
    out, rep = sparsify(tool, work, path, data, "layer_target", "--method", "magnitude",
                        "--pattern", "2:4", "--layer-target", "c1.w=0.25")
    check_pattern(out, rep, 2, 4)
    c1 = numpy_helper.to_array([t for t in onnx.load(out).graph.initializer if t.name == "c1.w"][0])
    assert int((c1 == 0).sum()) == round(0.25 * c1.size), int((c1 == 0).sum())
    # the checker is not vacuous: an unstructured 50% model fails it
    out, rep = sparsify(tool, work, path, data, "unstructured", "--method", "magnitude",
                        "--target", "0.5", "--allocation", "per-layer")
    found = weights_of(onnx.load(out))
    w, axis, groups = found["c2.w"]
    assert violations(w, axis, 2, 4, groups) > 0, "unstructured 50% passed the 2:4 check"
    # usage errors: one line naming the option, exit 2, nothing written
    for args, text in ((["--pattern", "4:4"], "--pattern: '4:4' is not N:M"),
                       (["--pattern", "2:x"], "--pattern: '2:x' is not N:M"),
                       (["--pattern", "2:4", "--target", "0.9"], "--target 0.9 conflicts with --pattern 2:4"),
                       (["--pattern", "2:4", "--layer-target", "fc1.w=0.3"],
                        "--layer-target fc1.w: conflicts with --pattern 2:4")):
        out = os.path.join(work, "refused.onnx")
        res = run(tool, path, "--data", data, "-o", out, *FAST, *args)
        expect(res, EXIT_USAGE)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not os.path.exists(out)
    # --target equal to the pattern's sparsity is accepted
    out, rep = sparsify(tool, work, path, data, "same_target", "--method", "magnitude",
                        "--pattern", "2:4", "--target", "0.5")
    check_pattern(out, rep, 2, 4)


def idx_images(path, count):
    with gzip.open(path) as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=16)[:count * 784].reshape(count, 1, 28, 28)


def idx_labels(path, count):
    with gzip.open(path) as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, offset=8)[:count]


def case_bundled(tool, work, source):
    fm = "/usr/share/datasets/fashion-mnist"
    data = os.path.join(work, "data")
    for split, prefix, count in (("train", "train", 512), ("test", "t10k", 256)):
        save_split(data, split, idx_images(f"{fm}/{prefix}-images-idx3-ubyte.gz", count),
                   idx_labels(f"{fm}/{prefix}-labels-idx1-ubyte.gz", count))
    for name in ("lenet300", "cnn"):
        for method in METHODS:
            out, rep = sparsify(tool, work, os.path.join(source, "models", f"{name}.onnx"), data,
                                f"{name}_{method}", "--method", method, "--pattern", "2:4")
            check_pattern(out, rep, 2, 4)


def case_torch(tool, work, source):
    for fixture in ("resnet", "lstm"):
        folder = os.path.join(source, "tests", "models", "torch", fixture)
        data = os.path.join(work, fixture)
        os.makedirs(data, exist_ok=True)
        for split in ("train", "test"):
            shutil.copy(os.path.join(folder, "input.npy"), os.path.join(data, f"{split}.npy"))
            shutil.copy(os.path.join(folder, "labels.npy"), os.path.join(data, f"{split}_labels.npy"))
        for method in METHODS:
            out, rep = sparsify(tool, work, os.path.join(folder, "op13_eval.onnx"), data,
                                f"{fixture}_{method}", "--method", method, "--pattern", "2:4")
            check_pattern(out, rep, 2, 4)


def main():
    case, tool, work, source = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if case == "generated":
        case_generated(tool, work)
    elif case == "bundled":
        case_bundled(tool, work, source)
    elif case == "torch":
        case_torch(tool, work, source)
    else:
        sys.exit(f"unknown case {case}")
    print(f"pattern {case}: ok")


if __name__ == "__main__":
    main()
