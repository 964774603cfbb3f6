#!/usr/bin/env python3
"""End-to-end checks of `train`, `eval` and `run` on the bundled LeNet-300-100
with a small generated dataset (python3-numpy, python3-onnx).

Usage: check_train.py CASE LPSPARSIFY WORKDIR SOURCE_DIR
  determinism  two trainings with the same --seed and thread count write
               byte-identical models; another seed writes a different one
  eval         eval's exit code, text line and --json keys/values
  run          run's outputs: shape, dtype, finite, equal to a numpy
               forward of the model's weights; bad input counts are usage
               errors
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

EXIT_USAGE = 2
N_TRAIN = 96
N_TEST = 48
CLASSES = 10
IMAGE = (1, 28, 28)
SEED = 7
OTHER_SEED = 8
# OpenBLAS may split a GEMM differently with another thread count, so the
# promise is per thread count; pin it for both runs.
THREADS = "2"
FAST = ["--epochs", "1", "--batch", "16", "--quiet"]
# lenet300.onnx is Flatten, then three Gemm(transB=1) with Relu between.
FORWARD_RTOL = 1e-4
FORWARD_ATOL = 1e-5


def run(tool, *args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=THREADS)
    return subprocess.run([tool, *args], capture_output=True, text=True, env=env)


def expect(res, code):
    assert res.returncode == code, \
        f"exit {res.returncode} != {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"


def setup(workdir, source):
    """A uint8 image dataset whose labels depend on the image (so training
    has something to learn); returns (model path, data dir)."""
    shutil.rmtree(workdir, ignore_errors=True)
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    rng = np.random.default_rng(1234)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, (n, *IMAGE), dtype=np.uint8)
        y = (x.reshape(n, -1)[:, :CLASSES].argmax(axis=1)).astype(np.int64)
        np.save(os.path.join(data, f"{split}.npy"), x)
        np.save(os.path.join(data, f"{split}_labels.npy"), y)
    return os.path.join(source, "models", "lenet300.onnx"), data


def read(path):
    with open(path, "rb") as f:
        return f.read()


def train(tool, model, data, out, seed):
    res = run(tool, "train", model, "--data", data, "-o", out, "--seed", str(seed), *FAST)
    expect(res, 0)
    return read(out)


def case_determinism(tool, workdir, source):
    model, data = setup(workdir, source)
    first = train(tool, model, data, os.path.join(workdir, "a.onnx"), SEED)
    second = train(tool, model, data, os.path.join(workdir, "b.onnx"), SEED)
    assert first == second, "two trainings with the same seed wrote different models"
    other = train(tool, model, data, os.path.join(workdir, "c.onnx"), OTHER_SEED)
    assert other != first, "another seed wrote the same model: the seed is not used"
    assert read(model) != first, "training wrote the untrained weights back"


def case_eval(tool, workdir, source):
    model, data = setup(workdir, source)
    res = run(tool, "eval", model, "--data", data, "--batch", "16")
    expect(res, 0)
    assert "accuracy" in res.stdout.lower(), res.stdout
    res = run(tool, "eval", model, "--data", data, "--batch", "16", "--json", "-")
    expect(res, 0)
    rep = json.loads(res.stdout)
    assert set(rep) >= {"model", "samples", "accuracy", "loss", "samples_per_second"}, rep
    assert rep["samples"] == N_TEST, rep
    assert 0.0 <= rep["accuracy"] <= 1.0, rep
    assert rep["loss"] > 0 and np.isfinite(rep["loss"]), rep
    assert rep["samples_per_second"] > 0, rep
    out = os.path.join(workdir, "eval.json")
    expect(run(tool, "eval", model, "--data", data, "--json", out, "--batch", "16"), 0)
    assert json.loads(read(out))["samples"] == N_TEST
    expect(run(tool, "eval", os.path.join(workdir, "missing.onnx"), "--data", data), EXIT_USAGE)


def numpy_forward(model_path, x):
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(model_path).graph.initializer}
    h = x.reshape(len(x), -1).astype(np.float64)
    gemms = [n for n in onnx.load(model_path).graph.node if n.op_type == "Gemm"]
    for k, node in enumerate(gemms):
        w, b = inits[node.input[1]], inits[node.input[2]]
        h = h @ w.T.astype(np.float64) + b
        if k + 1 < len(gemms):
            h = np.maximum(h, 0)
    return h


def case_run(tool, workdir, source):
    model, _ = setup(workdir, source)
    x = np.random.default_rng(5).standard_normal((4, *IMAGE)).astype(np.float32)
    xin = os.path.join(workdir, "x.npy")
    np.save(xin, x)
    out = os.path.join(workdir, "y.npy")
    res = run(tool, "run", model, "--input", xin, "--output", out)
    expect(res, 0)
    y = np.load(out)
    assert y.shape == (4, CLASSES) and y.dtype == np.float32, (y.shape, y.dtype)
    assert np.isfinite(y).all()
    ref = numpy_forward(model, x)
    assert np.allclose(y, ref, rtol=FORWARD_RTOL, atol=FORWARD_ATOL), np.abs(y - ref).max()
    # too many inputs, a wrong shape, and no --output are refused
    expect(run(tool, "run", model, "--input", xin, "--input", xin, "--output", out), EXIT_USAGE)
    bad = os.path.join(workdir, "bad.npy")
    np.save(bad, np.zeros((4, 3, 28, 28), np.float32))
    res = run(tool, "run", model, "--input", bad, "--output", out)
    assert res.returncode != 0 and "input" in res.stderr, res.stderr
    expect(run(tool, "run", model, "--input", xin), EXIT_USAGE)


def main():
    case, tool, workdir, source = sys.argv[1:]
    {"determinism": case_determinism, "eval": case_eval, "run": case_run}[case](
        tool, workdir, source)
    print(f"{case}: ok")


if __name__ == "__main__":
    main()
