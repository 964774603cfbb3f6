#!/usr/bin/env python3
"""End-to-end checks of sequence datasets (docs/data.md, "Several model
inputs") with generated models (python3-numpy, python3-onnx) and
onnxruntime-node as the reference.

Usage: check_sequences.py CASE LPSPARSIFY NODE WORKDIR SOURCE_DIR
  tokens  a bag-of-embeddings classifier with two inputs, int64 token ids
          [N, T] and a float mask [N, T]: train reads the directory form
          (S.ids.npy, S.mask.npy) and the NAME=FILE form alike; eval's
          accuracy of the trained model equals onnxruntime's
  lstm    an LSTM classifier over float32 sequences [N, T, F]: sparsify
          --target 0.5 --epochs 1 writes a model that onnxruntime loads,
          whose LSTM W and R hold the zeros the report says (numpy count),
          and whose eval accuracy equals onnxruntime's
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ORT_RUN = os.path.join(HERE, "..", "interop", "ort_run.js")
N_TRAIN, N_TEST = 96, 48
SEQ, VOCAB, EMBED, CLASSES = 6, 20, 8, 3
FEATURES, HIDDEN = 4, 8
SEED = 3
FAST = ["--epochs", "1", "--batch", "16", "--quiet", "--seed", str(SEED)]
TARGET = 0.5
# Zeros counted independently over the report's layers must be within this
# of the target (the target is met over all layers, not per layer).
SPARSITY_SLACK = 0.02


def run(*cmd):
    res = subprocess.run(list(cmd), capture_output=True, text=True)
    assert res.returncode == 0, f"{' '.join(cmd)}: exit {res.returncode}\n{res.stdout}{res.stderr}"
    return res


def save_model(graph, path, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, path)


def token_model(path):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((VOCAB, EMBED)).astype(np.float32), "emb"),
             numpy_helper.from_array(rng.standard_normal((EMBED, CLASSES)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([2], np.int64), "axis2")]
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="embed"),
             helper.make_node("Unsqueeze", ["mask", "axis2"], ["m"], name="mask3"),
             helper.make_node("Mul", ["e", "m"], ["em"], name="masked"),
             helper.make_node("ReduceMean", ["em"], ["pooled"], axes=[1], keepdims=0, name="pool"),
             helper.make_node("MatMul", ["pooled", "w"], ["y"], name="fc")]
    graph = helper.make_graph(
        nodes, "tokens",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", SEQ]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", SEQ])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])], inits)
    save_model(graph, path)


def lstm_model(path):
    rng = np.random.default_rng(2)

    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.4).astype(np.float32), name)
    inits = [w("W", [1, 4 * HIDDEN, FEATURES]), w("R", [1, 4 * HIDDEN, HIDDEN]),
             w("B", [1, 8 * HIDDEN]), w("fc", [CLASSES, HIDDEN]), w("fc_b", [CLASSES]),
             numpy_helper.from_array(np.array([0], np.int64), "axis0"),
             numpy_helper.from_array(np.array([1, 0, 2], np.int64), "perm")]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2], name="seq_first"),
             helper.make_node("LSTM", ["xt", "W", "R", "B"], ["", "h"], hidden_size=HIDDEN,
                              name="lstm"),
             helper.make_node("Squeeze", ["h", "axis0"], ["h2"], name="last"),
             helper.make_node("Gemm", ["h2", "fc", "fc_b"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(
        nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", SEQ, FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", CLASSES])], inits[:-1])
    save_model(graph, path)


def token_data(folder):
    """Labels from the first token, so there is something to learn."""
    rng = np.random.default_rng(4)
    os.makedirs(folder)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        ids = rng.integers(0, VOCAB, (n, SEQ), dtype=np.int64)
        mask = (rng.random((n, SEQ)) > 0.2).astype(np.float32)
        np.save(os.path.join(folder, f"{split}.ids.npy"), ids)
        np.save(os.path.join(folder, f"{split}.mask.npy"), mask)
        np.save(os.path.join(folder, f"{split}_labels.npy"), ids[:, 0] % CLASSES)


def eval_json(tool, model, data):
    return json.loads(run(tool, "eval", model, "--data", data, "--batch", "16", "--json",
                          "-").stdout)


def ort_accuracy(node, model, workdir, inputs, labels):
    prefix = os.path.join(workdir, "ort")
    run(node, ORT_RUN, model, prefix, *inputs)
    logits = np.load(prefix + "_0.npy")
    return float((logits.argmax(axis=1) == np.load(labels)).mean())


def case_tokens(tool, node, workdir):
    data = os.path.join(workdir, "data")
    model = os.path.join(workdir, "tokens.onnx")
    token_model(model)
    token_data(data)
    a, b = os.path.join(workdir, "a.onnx"), os.path.join(workdir, "b.onnx")
    run(tool, "train", model, "--data", data, "-o", a, *FAST)
    pairs = ",".join(f"{k}={os.path.join(data, 'train.' + k + '.npy')}" for k in ("mask", "ids"))
    pairs += f",labels={os.path.join(data, 'train_labels.npy')}"
    run(tool, "train", model, "--data", pairs, "-o", b, *FAST)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read(), "the directory and NAME=FILE forms trained differently"
    rep = eval_json(tool, a, data)
    assert rep["samples"] == N_TEST, rep
    ort = ort_accuracy(node, a, workdir, [os.path.join(data, "test.ids.npy"),
                                          os.path.join(data, "test.mask.npy")],
                       os.path.join(data, "test_labels.npy"))
    assert abs(rep["accuracy"] - ort) < 1e-9, f"eval {rep['accuracy']} != onnxruntime {ort}"
    print(f"tokens: eval accuracy {rep['accuracy']:.4f} equals onnxruntime's")


def case_lstm(tool, node, workdir):
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    rng = np.random.default_rng(5)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.standard_normal((n, SEQ, FEATURES)).astype(np.float32)
        np.save(os.path.join(data, f"{split}.npy"), x)
        np.save(os.path.join(data, f"{split}_labels.npy"), (x[:, -1, 0] > 0).astype(np.int64))
    model = os.path.join(workdir, "lstm.onnx")
    lstm_model(model)
    out, report = os.path.join(workdir, "sparse.onnx"), os.path.join(workdir, "report.json")
    run(tool, model, "--target", str(TARGET), "--data", data, "-o", out, "--report", report,
        *FAST)
    layers = {l["name"]: l for l in json.load(open(report))["layers"]}
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
    assert {"W", "R"} <= set(layers), f"LSTM W and R missing from the report: {sorted(layers)}"
    for name, layer in layers.items():
        zeros = int((inits[name] == 0).sum())
        assert zeros == layer["zeros"], (name, zeros, layer)
    total = sum(inits[name].size for name in layers)
    zeros = sum(int((inits[name] == 0).sum()) for name in layers)
    assert abs(zeros / total - TARGET) <= SPARSITY_SLACK, (zeros, total)
    rep = eval_json(tool, out, data)
    ort = ort_accuracy(node, out, workdir, [os.path.join(data, "test.npy")],
                       os.path.join(data, "test_labels.npy"))
    assert abs(rep["accuracy"] - ort) < 1e-9, f"eval {rep['accuracy']} != onnxruntime {ort}"
    print(f"lstm: W, R at {TARGET} sparsity; eval accuracy {ort:.4f} equals onnxruntime's")


def main():
    case, tool, node, workdir = sys.argv[1:5]
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    {"tokens": case_tokens, "lstm": case_lstm}[case](tool, node, workdir)


if __name__ == "__main__":
    main()
