#!/usr/bin/env python3
"""End-to-end checks of `lpsparsify sensitivity` (docs/cli.md):

- every measured point is recomputed here: the layer pruned alone by
  magnitude in numpy, the model run in numpy, top-1 accuracy on the same
  samples (all of them);
- the JSON has the documented keys; the table has a row per layer;
- --method wanda: every point recomputed the same way with Wanda's masks
  from the dense model's inputs to the layer (--calibration covering the
  whole train split); --method sparsegpt runs and reports its calibration;
  a Wanda suggestion re-run through `sparsify --method wanda --recipe`
  reaches its target;
- --samples takes a seeded subset (the same seed, the same numbers);
- --suggest S writes a recipe whose per-layer targets reach S by parameter
  count, and `sparsify --recipe` on it reaches its stated target within 0.5
  points (magnitude and lpss);
- errors: --recipe-out without --suggest, a bad --grid, a target the grid
  cannot reach, a method that is not one-shot, unlabelled data: exit 2, one line,
  nothing written.

Usage: check_sensitivity.py LPSPARSIFY WORKDIR
"""
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cli_helpers import expect, run

EXIT_USAGE = 2
TARGET_TOL = 0.005
GRID = (0.5, 0.7, 0.9)
N = 300


def make_model(rng, path):
    """x [N,16] -> fc1 [48,16] -> Relu -> fc2 [24,48] -> Relu -> fc3 [4,24] (Gemm transB=1, biases)."""
    w = {"fc1.weight": rng.normal(0, 0.5, (48, 16)), "fc1.bias": rng.normal(0, 0.1, 48),
         "fc2.weight": rng.normal(0, 0.3, (24, 48)), "fc2.bias": rng.normal(0, 0.1, 24),
         "fc3.weight": rng.normal(0, 0.4, (4, 24)), "fc3.bias": rng.normal(0, 0.1, 4)}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["a"], transB=1, name="fc1"),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Gemm", ["ar", "fc2.weight", "fc2.bias"], ["b"], transB=1, name="fc2"),
             helper.make_node("Relu", ["b"], ["br"]),
             helper.make_node("Gemm", ["br", "fc3.weight", "fc3.bias"], ["y"], transB=1, name="fc3")]
    graph = helper.make_graph(
        nodes, "sens", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(v, k) for k, v in w.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return w


def forward(w, x):
    h = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0)
    h = np.maximum(h @ w["fc2.weight"].T + w["fc2.bias"], 0)
    return h @ w["fc3.weight"].T + w["fc3.bias"]


def magnitude(wt, target):
    """The round(target * n) smallest |w| set to 0 (ties: lower flat index first)."""
    flat = wt.reshape(-1).copy()
    k = int(round(target * flat.size))
    order = np.argsort(np.abs(flat), kind="stable")
    flat[order[:k]] = 0
    return flat.reshape(wt.shape)


def layer_inputs(w, x, name):
    """The dense model's activations that weight `name` multiplies."""
    h = x
    for layer in ("fc1", "fc2", "fc3"):
        if name == layer + ".weight":
            return h
        h = np.maximum(h @ w[layer + ".weight"].T + w[layer + ".bias"], 0)
    raise KeyError(name)


def wanda(wt, inputs, target):
    """Per row, the lowest |w_ij| ||X_j|| pruned (round of the flat positions, ties to the lower index)."""
    score = np.abs(wt.astype(np.float64)) * np.sqrt((inputs.astype(np.float64) ** 2).sum(axis=0))
    out = wt.copy()
    cols = wt.shape[1]
    for r in range(wt.shape[0]):
        # llround: halves away from zero (Python's round() rounds them to even)
        k = int(np.floor(target * (r + 1) * cols + 0.5)) - int(np.floor(target * r * cols + 0.5))
        out[r, np.argsort(score[r], kind="stable")[:k]] = 0
    return out


def check_calibrated(tool, work, model, data, w, x, y, magnitude_report):
    out = os.path.join(work, "sens_wanda.json")
    expect(run(tool, "sensitivity", model, "--data", data, "--grid", ",".join(map(str, GRID)),
               "--method", "wanda", "--calibration", str(N), "--json", out, "-q"), 0)
    r = json.load(open(out))
    assert r["method"] == "wanda" and r["calibration_samples"] == N, r
    assert magnitude_report["calibration_samples"] is None
    assert set(r) == set(magnitude_report), set(r) ^ set(magnitude_report)
    differs = False
    for layer, mag in zip(r["layers"], magnitude_report["layers"]):
        for point, mag_point in zip(layer["results"], mag["results"]):
            pruned = dict(w)
            pruned[layer["name"]] = wanda(w[layer["name"]], layer_inputs(w, x, layer["name"]),
                                          point["target"])
            acc = (forward(pruned, x).argmax(1) == y).mean()
            assert abs(point["accuracy"] - acc) <= 1.0 / N + 1e-9, (layer["name"], point, acc)
            differs = differs or point["loss"] != mag_point["loss"]
    assert differs, "wanda measured what magnitude measured"
    out = os.path.join(work, "sens_sparsegpt.json")
    expect(run(tool, "sensitivity", model, "--data", data, "--grid", ",".join(map(str, GRID)),
               "--method", "sparsegpt", "--calibration", "64", "--json", out, "-q"), 0)
    r = json.load(open(out))
    assert r["method"] == "sparsegpt" and r["calibration_samples"] == 64, r
    assert all(0 <= p["accuracy"] <= 1 for l in r["layers"] for p in l["results"])
    recipe = os.path.join(work, "suggest_wanda.json")
    expect(run(tool, "sensitivity", model, "--data", data, "--grid", "0.5,0.7,0.9",
               "--method", "wanda", "--suggest", "0.8", "--recipe-out", recipe, "-q"), 0)
    rep = os.path.join(work, "rerun_wanda.json")
    expect(run(tool, model, "--data", data, "--recipe", recipe, "--method", "wanda",
               "--epochs", "0", "-q", "-o", os.path.join(work, "rerun.onnx"), "--report", rep), 0)
    achieved = json.load(open(rep))["achieved"]
    assert abs(achieved - 0.8) <= TARGET_TOL, achieved


def check_measurements(tool, work, model, data, w, x, y):
    out = os.path.join(work, "sens.json")
    res = run(tool, "sensitivity", model, "--data", data, "--grid", ",".join(map(str, GRID)),
              "--json", out)
    expect(res, 0)
    rows = [l for l in res.stdout.splitlines() if l.startswith("fc")]
    assert len(rows) == 3, res.stdout
    r = json.load(open(out))
    assert r["schema"] == "lpsparsify.sensitivity/1" and r["method"] == "magnitude", r
    assert r["samples"] == N and r["grid"] == list(GRID) and r["suggest"] is None, r
    dense = (forward(w, x).argmax(1) == y).mean()
    assert abs(r["dense"]["accuracy"] - dense) < 1e-9, (r["dense"], dense)
    for layer in r["layers"]:
        assert layer["params"] == w[layer["name"]].size and layer["suggested"] is None, layer
        for point in layer["results"]:
            pruned = dict(w)
            pruned[layer["name"]] = magnitude(w[layer["name"]], point["target"])
            acc = (forward(pruned, x).argmax(1) == y).mean()
            # one borderline sample may flip between float orders of summation
            assert abs(point["accuracy"] - acc) <= 1.0 / N + 1e-9, (layer["name"], point, acc)
            assert abs(point["drop"] - (r["dense"]["accuracy"] - point["accuracy"])) < 1e-12
    return r


def check_subset(tool, work, model, data):
    outs = []
    for k, seed in enumerate(("1", "1", "2")):
        out = os.path.join(work, f"sub{k}.json")
        expect(run(tool, "sensitivity", model, "--data", data, "--samples", "100", "--seed", seed,
                   "--json", out, "-q"), 0)
        outs.append(json.load(open(out)))
    assert all(o["samples"] == 100 for o in outs)
    assert outs[0]["layers"] == outs[1]["layers"], "the same seed gave different numbers"
    assert outs[0]["layers"] != outs[2]["layers"], "the seed did not change the subset"


def check_suggestion(tool, work, model, data, w):
    for suggest in (0.6, 0.8):
        recipe = os.path.join(work, f"suggest{suggest}.json")
        out = os.path.join(work, f"suggest{suggest}.sens.json")
        expect(run(tool, "sensitivity", model, "--data", data, "--grid", "0.5,0.7,0.9",
                   "--suggest", str(suggest), "--recipe-out", recipe, "--json", out, "-q"), 0)
        rec = json.load(open(recipe))
        assert rec["schema"] == "lpsparsify.recipe/1" and rec["target"] == suggest, rec
        targets = {}
        for rule in rec["layers"]:
            name = rule["match"][1:-1].replace("\\", "")
            targets[name] = rule["target"]
        assert set(targets) == set(k for k in w if k.endswith("weight")), targets
        total = sum(w[k].size for k in targets)
        assert abs(sum(w[k].size * t for k, t in targets.items()) / total - suggest) < 1e-9
        sens = json.load(open(out))
        assert {l["name"]: l["suggested"] for l in sens["layers"]} == targets
        for method in ("magnitude", "lpss"):
            rep = os.path.join(work, f"rerun_{method}_{suggest}.json")
            expect(run(tool, model, "--data", data, "--recipe", recipe, "--method", method,
                       "--epochs", "1", "-q", "-o", os.path.join(work, "rerun.onnx"),
                       "--report", rep), 0)
            r = json.load(open(rep))
            assert abs(r["achieved"] - rec["target"]) <= TARGET_TOL, (method, r["achieved"], rec)


def check_errors(tool, work, model, data, unlabelled):
    out = os.path.join(work, "err.json")
    cases = [(["--recipe-out", os.path.join(work, "r.json")], "--recipe-out needs --suggest"),
             (["--grid", "0.9,0.5"], "--grid: targets must increase"),
             (["--grid", "0.5,1"], "--grid: targets must increase"),
             (["--suggest", "0.97"], "--suggest 0.97: allocation: the grid reaches at most 0.95"),
             (["--method", "lpss"], "--method: 'lpss' is not magnitude, wanda or sparsegpt"),
             (["--samples", "0"], "--samples")]
    for args, text in cases:
        res = run(tool, "sensitivity", model, "--data", data, "--json", out, *args)
        expect(res, EXIT_USAGE)
        assert text in res.stderr and len(res.stderr.strip().splitlines()) == 1, (text, res.stderr)
        assert not os.path.exists(out), args
    res = run(tool, "sensitivity", model, "--data", unlabelled, "--json", out)
    expect(res, EXIT_USAGE)
    assert "needs labelled data" in res.stderr, res.stderr
    assert not os.path.exists(out)


def main():
    tool, work = sys.argv[1:3]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(11)
    model = os.path.join(work, "model.onnx")
    w = make_model(rng, model)
    x = rng.normal(0, 1, (N, 16)).astype(np.float32)
    y = forward(w, x).argmax(1)
    flip = rng.random(N) < 0.1
    y[flip] = rng.integers(0, 4, int(flip.sum()))
    data, unlabelled = os.path.join(work, "data"), os.path.join(work, "unlabelled")
    for d in (data, unlabelled):
        os.makedirs(d)
        for split in ("train", "test"):
            np.save(os.path.join(d, f"{split}.npy"), x)
            if d == data:
                np.save(os.path.join(d, f"{split}_labels.npy"), y.astype(np.int64))
    r = check_measurements(tool, work, model, data, w, x, y)
    check_calibrated(tool, work, model, data, w, x, y, r)
    check_subset(tool, work, model, data)
    check_suggestion(tool, work, model, data, w)
    check_errors(tool, work, model, data, unlabelled)
    print("sensitivity: ok")


if __name__ == "__main__":
    main()
