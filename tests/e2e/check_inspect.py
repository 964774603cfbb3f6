#!/usr/bin/env python3
"""End-to-end check of `lpsparsify inspect --json -` against numpy.

Usage: check_inspect.py CASE LPSPARSIFY WORKDIR [SOURCE_DIR | TESTDATA_DIR]

Each case builds (or takes) an ONNX model, states which weights are
prunable and how their rows are laid out, runs the tool, and recomputes
every per-layer figure of the report independently: shape, fan_in,
params, zeros, sparsity, zero_rows, Hoyer (row mean and whole tensor),
that gamma_k solves the Gamma maximum-likelihood equation (digamma taken
as a numerical derivative of math.lgamma) and hoyer_expected_fit from it.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TOL = 1e-9          # double accumulation on both sides, different order
ML_TOL = 1e-6       # the ML equation, with a finite-difference digamma
LGAMMA_STEP = 1e-5  # relative step of the digamma finite difference

UNIT_MAJOR = "unit"      # row j is W[j, ...]
COLUMN_MAJOR = "column"  # row j is W[:, j]


def rows_of(w, layout):
    """The weight as a [units, fan_in] float64 matrix."""
    w = w.astype(np.float64)
    if layout == UNIT_MAJOR:
        return w.reshape(w.shape[0], -1)
    return w.T


def hoyer(v):
    n = v.size
    l2 = math.sqrt(float(np.sum(v * v)))
    if n < 2 or l2 == 0.0:
        return None
    sn = math.sqrt(n)
    return min(1.0, max(0.0, (sn - float(np.sum(np.abs(v))) / l2) / (sn - 1.0)))


def digamma(k):
    h = LGAMMA_STEP * k
    return (math.lgamma(k + h) - math.lgamma(k - h)) / (2.0 * h)


def expected_hoyer(n, k):
    if n < 2 or k is None:
        return None
    r = n * math.exp(math.lgamma(k + 0.5) + math.lgamma(n * k) - math.lgamma(k) - math.lgamma(n * k + 0.5))
    return (math.sqrt(n) - r) / (math.sqrt(n) - 1.0)


def close(got, want, tol, what):
    if want is None or got is None:
        assert got is None and want is None, f"{what}: got {got}, want {want}"
        return
    assert abs(got - want) <= tol * max(1.0, abs(want)), f"{what}: got {got!r}, want {want!r}"


def check_gamma(layer, w, what):
    x = w.astype(np.float64).ravel() ** 2
    x = x[x > 0]
    k = layer["gamma_k"]
    if x.size < 2 or np.all(x == x[0]):
        assert k is None, f"{what}: gamma_k {k} for a layer without spread"
        return
    s = math.log(float(np.mean(x))) - float(np.mean(np.log(x)))
    close(math.log(k) - digamma(k), s, ML_TOL, f"{what}: ML equation for gamma_k={k}")


def check_layer(layer, w, node, op, layout):
    what = layer["name"]
    assert layer["node"] == node, f"{what}: node {layer['node']} != {node}"
    assert layer["op"] == op, f"{what}: op {layer['op']} != {op}"
    assert layer["shape"] == list(w.shape), f"{what}: shape {layer['shape']} != {list(w.shape)}"
    rows = rows_of(w, layout)
    assert layer["fan_in"] == rows.shape[1], f"{what}: fan_in {layer['fan_in']} != {rows.shape[1]}"
    assert layer["rows"] == rows.shape[0], f"{what}: rows"
    assert layer["params"] == w.size, f"{what}: params"
    zeros = int(np.count_nonzero(w == 0))
    assert layer["zeros"] == zeros, f"{what}: zeros {layer['zeros']} != {zeros}"
    close(layer["sparsity"], zeros / w.size if w.size else None, TOL, f"{what}: sparsity")
    hs = [hoyer(r) for r in rows]
    zero_rows = sum(1 for r in rows if not np.any(r))
    assert layer["zero_rows"] == zero_rows, f"{what}: zero_rows {layer['zero_rows']} != {zero_rows}"
    defined = [h for h in hs if h is not None]
    close(layer["hoyer"], sum(defined) / len(defined) if defined else None, TOL, f"{what}: hoyer")
    close(layer["hoyer_tensor"], hoyer(w.astype(np.float64).ravel()), TOL, f"{what}: hoyer_tensor")
    check_gamma(layer, w, what)
    close(layer["hoyer_expected_fit"], expected_hoyer(rows.shape[1], layer["gamma_k"]), TOL,
          f"{what}: hoyer_expected_fit")


def run_inspect(tool, path):
    res = subprocess.run([tool, "inspect", path, "--json", "-"], capture_output=True, text=True)
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr}"
    assert res.stderr == "", f"unexpected stderr: {res.stderr}"
    assert "nan" not in res.stdout.lower(), "NaN in the JSON"
    return json.loads(res.stdout)


def check_report(report, model_path, model, expected):
    """expected: list of (initializer, node, op, layout) in graph order."""
    assert report["schema"] == "lpsparsify.report/1"
    m = report["model"]
    assert m["path"] == model_path
    assert m["bytes"] == os.path.getsize(model_path)
    assert m["ir_version"] == model.ir_version
    assert [(o["domain"], o["version"]) for o in m["opsets"]] == \
        [(o.domain, o.version) for o in model.opset_import]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    names = [layer["name"] for layer in report["layers"]]
    assert names == [e[0] for e in expected], f"layers {names} != {[e[0] for e in expected]}"
    params = zeros = 0
    for layer, (name, node, op, layout) in zip(report["layers"], expected):
        check_layer(layer, inits[name], node, op, layout)
        params += inits[name].size
        zeros += int(np.count_nonzero(inits[name] == 0))
    t = report["totals"]
    assert t["params"] == params and t["zeros"] == zeros, f"totals {t}"
    close(t["sparsity"], zeros / params if params else None, TOL, "totals.sparsity")


# ---- generated models -------------------------------------------------------

def save(model, workdir, name):
    model.ir_version = 7
    onnx.checker.check_model(model)
    path = os.path.join(workdir, name + ".onnx")
    onnx.save(model, path)
    return path


def make_model(nodes, inputs, outputs, inits, name):
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def case_matmul(rng, workdir):
    """MatMul with constant B [in, out] (one shared by two nodes) and with a constant A."""
    inits = {"B1": rng.normal(size=(6, 4)), "B2": rng.normal(size=(4, 4)),
             "A": rng.normal(size=(3, 6)), "bias": rng.normal(size=(4,))}
    nodes = [helper.make_node("MatMul", ["x", "B1"], ["h1"], name="mm1"),
             helper.make_node("Add", ["h1", "bias"], ["h2"], name="add"),
             helper.make_node("MatMul", ["h2", "B2"], ["h3"], name="mm2"),
             helper.make_node("MatMul", ["h3", "B2"], ["y"], name="mm3"),
             helper.make_node("MatMul", ["A", "z"], ["y2"], name="mm4")]
    model = make_model(nodes, [vi("x", ["N", 6]), vi("z", [6, 2])], [vi("y", ["N", 4]), vi("y2", [3, 2])],
                       inits, "matmul")
    return save(model, workdir, "matmul"), [("B1", "mm1", "MatMul", COLUMN_MAJOR),
                                            ("B2", "mm2", "MatMul", COLUMN_MAJOR),
                                            ("A", "mm4", "MatMul", UNIT_MAJOR)]


def case_conv_bn(rng, workdir):
    """Conv + BatchNormalization, a grouped Conv, then a Gemm head; 1-D params are not weights."""
    inits = {"conv1.weight": rng.normal(size=(8, 4, 3, 3)), "conv1.bias": rng.normal(size=(8,)),
             "bn.scale": rng.uniform(0.5, 1.5, size=(8,)), "bn.bias": rng.normal(size=(8,)),
             "bn.mean": rng.normal(size=(8,)), "bn.var": rng.uniform(0.5, 1.5, size=(8,)),
             "conv2.weight": rng.normal(size=(8, 2, 3, 3)),
             "fc.weight": rng.normal(size=(10, 8 * 4 * 4)), "fc.bias": rng.normal(size=(10,))}
    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1",
                              pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"],
                              ["b1"], name="bn"),
             helper.make_node("Relu", ["b1"], ["r1"], name="relu"),
             helper.make_node("Conv", ["r1", "conv2.weight"], ["c2"], name="conv2", group=4,
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c2"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="", transB=1)]
    model = make_model(nodes, [vi("x", ["N", 4, 8, 8])], [vi("y", ["N", 10])], inits, "conv_bn")
    return save(model, workdir, "conv_bn"), [("conv1.weight", "conv1", "Conv", UNIT_MAJOR),
                                             ("conv2.weight", "conv2", "Conv", UNIT_MAJOR),
                                             ("fc.weight", "Gemm#5", "Gemm", UNIT_MAJOR)]


def case_gemm(rng, workdir):
    """Gemm with transB=0 ([in, out] weight) and transB=1 ([out, in] weight)."""
    inits = {"w0": rng.normal(size=(5, 7)), "b0": rng.normal(size=(7,)),
             "w1": rng.normal(size=(3, 7)), "b1": rng.normal(size=(3,))}
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="g0", alpha=0.5, transB=0),
             helper.make_node("Gemm", ["h", "w1", "b1"], ["y"], name="g1", transB=1)]
    model = make_model(nodes, [vi("x", ["N", 5])], [vi("y", ["N", 3])], inits, "gemm")
    return save(model, workdir, "gemm"), [("w0", "g0", "Gemm", COLUMN_MAJOR),
                                          ("w1", "g1", "Gemm", UNIT_MAJOR)]


def case_zeros(rng, workdir):
    """Exact zeros, an all-zero row, an all-zero column, a zero layer, fan_in 1."""
    w = rng.normal(size=(6, 9))
    w[rng.uniform(size=w.shape) < 0.5] = 0.0
    w[2, :] = 0.0
    b = rng.normal(size=(9, 4))
    b[:, 1] = 0.0
    b[0, 0] = -0.0
    inits = {"w": w, "b": b, "dead": np.zeros((4, 4)), "thin": rng.normal(size=(1, 3))}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="g", transB=1, transA=0),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["x2", "b"], ["m"], name="mm"),
             helper.make_node("MatMul", ["m", "dead"], ["d"], name="mm_dead"),
             helper.make_node("MatMul", ["x3", "thin"], ["t"], name="mm_thin")]
    model = make_model(nodes, [vi("x", ["N", 9]), vi("x2", ["N", 9]), vi("x3", ["N", 1])],
                       [vi("r", ["N", 6]), vi("d", ["N", 4]), vi("t", ["N", 3])], inits, "zeros")
    return save(model, workdir, "zeros"), [("w", "g", "Gemm", UNIT_MAJOR),
                                           ("b", "mm", "MatMul", COLUMN_MAJOR),
                                           ("dead", "mm_dead", "MatMul", COLUMN_MAJOR),
                                           ("thin", "mm_thin", "MatMul", COLUMN_MAJOR)]


def case_lenet(source_dir):
    path = os.path.join(source_dir, "models", "lenet300.onnx")
    return path, [(f"fc{i}.weight", f"/fc{i}/Gemm", "Gemm", UNIT_MAJOR) for i in (1, 2, 3)]


def expected_from_graph(model):
    """docs/method.md section 1 re-derived from the graph, for real exports."""
    ranks = {i.name: len(i.dims) for i in model.graph.initializer}
    expected, seen = [], set()
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue
        ins = list(node.input) + ["", ""]
        weight = layout = None
        if node.op_type == "Conv" and ins[1] in ranks:
            weight, layout = ins[1], UNIT_MAJOR
        elif node.op_type == "Gemm" and ins[1] in ranks:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            weight, layout = ins[1], UNIT_MAJOR if trans_b else COLUMN_MAJOR
        elif node.op_type == "MatMul" and ranks.get(ins[1], 0) >= 2:
            weight, layout = ins[1], COLUMN_MAJOR
        elif node.op_type == "MatMul" and ranks.get(ins[0], 0) >= 2:
            weight, layout = ins[0], UNIT_MAJOR
        if weight is None or weight in seen:
            continue
        seen.add(weight)
        expected.append((weight, node.name or f"{node.op_type}#{index}", node.op_type, layout))
    return expected


# Real PyTorch exports in libonnx's test data; fewer models with weights
# than this means the data or the discovery changed and must be looked at.
TESTDATA_SUITES = ("pytorch-converted", "pytorch-operator")
TESTDATA_MIN_MODELS = 28


def check_testdata(tool, root):
    checked = 0
    for suite in TESTDATA_SUITES:
        for name in sorted(os.listdir(os.path.join(root, suite))):
            path = os.path.join(root, suite, name, "model.onnx")
            if not os.path.exists(path):
                continue
            model = onnx.load(path)
            expected = expected_from_graph(model)
            if not expected:
                continue
            check_report(run_inspect(tool, path), path, model, expected)
            checked += 1
    assert checked >= TESTDATA_MIN_MODELS, f"only {checked} models with weights under {root}"
    return checked


CASES = {"matmul": case_matmul, "conv_bn": case_conv_bn, "gemm": case_gemm, "zeros": case_zeros}


def main():
    case, tool, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(workdir, exist_ok=True)
    if case == "testdata":
        print(f"testdata: {check_testdata(tool, sys.argv[4])} models match")
        return
    if case == "lenet":
        path, expected = case_lenet(sys.argv[4])
    else:
        path, expected = CASES[case](np.random.default_rng(1234), workdir)
    report = run_inspect(tool, path)
    check_report(report, path, onnx.load(path), expected)
    print(f"{case}: {len(expected)} layers match")


if __name__ == "__main__":
    main()
