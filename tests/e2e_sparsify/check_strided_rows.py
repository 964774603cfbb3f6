#!/usr/bin/env python3
"""End-to-end check of a weight whose rows are strided: ConvTranspose
W [C, M/group, k...] (docs/method.md, "Prunable weights and their rows").

A generated Conv -> ConvTranspose(group=2) -> GlobalAveragePool -> Gemm
model is inspected and sparsified to 0.5 in one epoch. numpy recomputes,
from the weights themselves, with the row of output channel g*M/g + m being
W[g*C/g:(g+1)*C/g, m, ...]:
- inspect: the ConvTranspose layer, its rows and fan-in, and its mean row
  Hoyer sparsity (a wrong row layout gives another mean);
- sparsify: exit 0, onnx.checker accepts the output, the report's zeros
  and row Hoyer of every layer equal numpy's, and the global sparsity is at
  the target.

Usage: check_strided_rows.py LPSPARSIFY WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TARGET, TARGET_TOL = 0.5, 0.005
HOYER_TOL = 1e-6
C, MG, GROUPS, K, CLASSES = 4, 3, 2, 3, 4


def make_model(rng):
    inits = {
        "conv.weight": rng.normal(0, 0.5, (C, 1, 3, 3)),
        "up.weight": rng.normal(0, 0.5, (C, MG, K, K)),
        "up.bias": rng.normal(0, 0.1, MG * GROUPS),
        "fc.weight": rng.normal(0, 0.5, (CLASSES, MG * GROUPS)),
        "fc.bias": np.zeros(CLASSES),
    }
    inits = {k: v.astype(np.float32) for k, v in inits.items()}
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu0"),
        helper.make_node("ConvTranspose", ["r", "up.weight", "up.bias"], ["u"], name="up",
                         group=GROUPS, strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node("Relu", ["u"], ["ur"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["ur"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "strided_rows",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def rows_of(name, w):
    """The rows (output units) of a weight as a [units, fan_in] array."""
    if name == "up.weight":
        cg = w.shape[0] // GROUPS
        return np.stack([w[g * cg:(g + 1) * cg, m].ravel()
                         for g in range(GROUPS) for m in range(w.shape[1])])
    return w.reshape(w.shape[0], -1)


def mean_row_hoyer(rows):
    hs = []
    n = rows.shape[1]
    for r in rows.astype(np.float64):
        l2 = np.sqrt(np.sum(r * r))
        if l2 > 0:
            hs.append((np.sqrt(n) - np.sum(np.abs(r)) / l2) / (np.sqrt(n) - 1))
    return float(np.mean(hs)) if hs else None


def weights(path):
    m = onnx.load(path)
    out = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for s in m.graph.sparse_initializer:
        dense = np.zeros(tuple(s.dims), np.float32).ravel()
        dense[numpy_helper.to_array(s.indices).ravel()] = numpy_helper.to_array(s.values)
        out[s.values.name] = dense.reshape(tuple(s.dims))
    return out


def check_layers(layers, w):
    by_name = {l["name"]: l for l in layers}
    assert set(by_name) == {"conv.weight", "up.weight", "fc.weight"}, by_name.keys()
    up = by_name["up.weight"]
    assert up["op"] == "ConvTranspose", up
    assert up["rows"] == MG * GROUPS and up["fan_in"] == C // GROUPS * K * K, up
    for name, layer in by_name.items():
        rows = rows_of(name, w[name])
        assert layer["zeros"] == int(np.sum(w[name] == 0.0)), (name, layer)
        want = mean_row_hoyer(rows)
        assert abs(layer["hoyer"] - want) < HOYER_TOL, (name, layer["hoyer"], want)


def run(tool, *args):
    res = subprocess.run([tool, *args], capture_output=True, text=True)
    assert res.returncode == 0, f"{args}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def main():
    tool, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    data = os.path.join(work, "data")
    os.makedirs(data)
    rng = np.random.default_rng(7)
    path = os.path.join(work, "model.onnx")
    onnx.save(make_model(rng), path)
    for split, n in (("train", 256), ("test", 64)):
        np.save(os.path.join(data, f"{split}.npy"), rng.normal(0, 1, (n, 1, 6, 6)).astype(np.float32))
        np.save(os.path.join(data, f"{split}_labels.npy"), rng.integers(0, CLASSES, n).astype(np.int64))
    check_layers(json.loads(run(tool, "inspect", path, "--json", "-").stdout)["layers"], weights(path))
    out, report = os.path.join(work, "sparse.onnx"), os.path.join(work, "report.json")
    run(tool, path, "--target", str(TARGET), "--epochs", "1", "--batch", "32", "-q",
        "--data", data, "-o", out, "--report", report)
    onnx.checker.check_model(out)
    w = weights(out)
    with open(report) as f:
        check_layers(json.load(f)["layers"], w)
    names = ("conv.weight", "up.weight", "fc.weight")
    got = sum(int(np.sum(w[n] == 0.0)) for n in names) / sum(w[n].size for n in names)
    assert abs(got - TARGET) <= TARGET_TOL, f"sparsity {got}"
    print(f"strided rows: sparsity {got:.4f}, layers and row Hoyer agree with numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
