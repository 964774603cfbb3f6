#!/usr/bin/env python3
"""End-to-end checks of `lpsparsify MODEL --recipe FILE.json` (docs/recipe.md):

- round trip: a recipe and the equivalent flags write byte-identical models
  (same seed), for lpss with rules (exclude, per-layer target and p) and for
  magnitude with a pattern;
- command-line options override the recipe;
- one test per error class (invalid JSON, missing schema, unknown key at the
  top and in a rule, wrong type at the top and in a rule, bad value at the
  top and in a rule, duplicate key, a rule matching no layer, a bad regex, a
  rule with nothing to set): exit 2, one line naming the file and key path,
  nothing written;
- docs/recipe.md lists every option of `sparsify --help` (as a key or as
  not in recipes), and the tool accepts every listed key with its example
  value.

Usage: check_recipe.py LPSPARSIFY WORKDIR SOURCE_DIR
"""
import json
import os
import re
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cli_helpers import expect, run

EXIT_USAGE = 2
SCHEMA = "lpsparsify.recipe/1"


def make_model(rng, path):
    """x [N,16] -> Gemm fc1 [32,16] -> Relu -> Gemm fc2 [32,8] (transB=0) -> Relu -> Gemm fc3 [4,8]."""
    def init(name, shape):
        return numpy_helper.from_array(rng.normal(0, 0.4, shape).astype(np.float32), name)
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight"], ["a"], transB=1, name="fc1"),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Gemm", ["ar", "fc2.weight"], ["b"], name="fc2"),
             helper.make_node("Relu", ["b"], ["br"]),
             helper.make_node("Gemm", ["br", "fc3.weight"], ["y"], transB=1, name="fc3")]
    graph = helper.make_graph(
        nodes, "recipe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [init("fc1.weight", (32, 16)), init("fc2.weight", (32, 8)), init("fc3.weight", (4, 8))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def write(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def sparsify(tool, model, data, out, *args):
    res = run(tool, model, "--data", data, "-o", out, "-q", *args)
    expect(res, 0)
    with open(out, "rb") as f:
        return f.read()


def check_round_trip(tool, work, model, data):
    recipe = write(os.path.join(work, "lpss.json"), {
        "schema": SCHEMA, "target": 0.8, "method": "lpss", "epochs": 2, "batch": 32,
        "seed": 5, "lr": 0.01, "lr-schedule": "constant", "no-nesterov": True,
        "layers": [{"match": "^fc3", "exclude": True},
                   {"match": "fc", "target": 0.5},
                   {"match": "^fc1\\.weight$", "target": 0.6, "p": 1.4}]})
    a = sparsify(tool, model, data, os.path.join(work, "a.onnx"), "--recipe", recipe)
    b = sparsify(tool, model, data, os.path.join(work, "b.onnx"), "--target", "0.8",
                 "--method", "lpss", "--epochs", "2", "--batch", "32", "--seed", "5",
                 "--lr", "0.01", "--lr-schedule", "constant", "--no-nesterov",
                 "--exclude", "^fc3", "--layer-target", "fc1.weight=0.6",
                 "--layer-target", "fc2.weight=0.5", "--p-layer", "fc1.weight=1.4")
    assert a == b, "recipe and flags wrote different models"
    c = sparsify(tool, model, data, os.path.join(work, "c.onnx"), "--recipe", recipe,
                 "--seed", "6")
    assert c != a, "the seed had no effect: the round trip proves nothing"
    recipe = write(os.path.join(work, "pattern.json"), {
        "schema": SCHEMA, "method": "magnitude", "pattern": "2:4", "epochs": 1, "seed": 2})
    a = sparsify(tool, model, data, os.path.join(work, "p.onnx"), "--recipe", recipe)
    b = sparsify(tool, model, data, os.path.join(work, "q.onnx"), "--method", "magnitude",
                 "--pattern", "2:4", "--epochs", "1", "--seed", "2")
    assert a == b, "pattern recipe and flags wrote different models"


def achieved(tool, model, data, out, *args):
    rep = out + ".json"
    res = run(tool, model, "--data", data, "-o", out, "-q", "--report", rep, *args)
    expect(res, 0)
    with open(rep) as f:
        return json.load(f)


def check_override(tool, work, model, data):
    recipe = write(os.path.join(work, "override.json"), {
        "schema": SCHEMA, "target": 0.7, "method": "magnitude", "epochs": 1,
        "layers": [{"match": "^fc1", "target": 0.2}]})
    r = achieved(tool, model, data, os.path.join(work, "o1.onnx"), "--recipe", recipe)
    assert r["method"] == "magnitude" and r["target"] == 0.7, r["target"]
    sp = {l["name"]: l["sparsity"] for l in r["layers"]}
    assert abs(sp["fc1.weight"] - 0.2) < 0.01, sp
    r = achieved(tool, model, data, os.path.join(work, "o2.onnx"), "--recipe", recipe,
                 "--target", "0.5", "--method", "gmp", "--layer-target", "fc1.weight=0.4")
    assert r["method"] == "gmp" and r["target"] == 0.5, (r["method"], r["target"])
    sp = {l["name"]: l["sparsity"] for l in r["layers"]}
    assert abs(sp["fc1.weight"] - 0.4) < 0.01, sp
    assert len(r["epochs"]) == 1


ERRORS = [
    ('{"schema": "lpsparsify.recipe/1", "target": 0.5', "not valid JSON"),
    ({"target": 0.5}, 'schema: expected "lpsparsify.recipe/1"'),
    ({"schema": SCHEMA, "targt": 0.5}, "targt: unknown key"),
    ({"schema": SCHEMA, "output": "x.onnx"}, "output: unknown key"),
    ({"schema": SCHEMA, "layer-target": "fc1.weight=0.5"}, "layer-target: unknown key"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc", "tgt": 0.5}]},
     "layers[0].tgt: unknown key"),
    ({"schema": SCHEMA, "target": "0.5"}, "target: expected a number"),
    ({"schema": SCHEMA, "target": 0.5, "freeze-gain": 1}, "freeze-gain: expected true or false"),
    ({"schema": SCHEMA, "target": 0.5, "layers": {"match": "fc"}}, "layers: expected an array"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc1", "target": 0.5},
                                                  {"match": "fc2", "target": 0.5},
                                                  {"match": "fc3", "target": "0.5"}]},
     "layers[2].target: expected a number in [0, 1]"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": 3, "target": 0.5}]},
     "layers[0].match: expected a non-empty string"),
    ({"schema": SCHEMA, "target": 1.5}, "target: 1.5 is outside (0, 1)"),
    ({"schema": SCHEMA, "target": 0.5, "epochs": 1.5}, "epochs: '1.5' is not an integer"),
    ({"schema": SCHEMA, "target": 0.5, "method": "prune"}, "method: 'prune' is not lpss"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc", "p": 2.5}]},
     "layers[0].p: expected a number in (1, 2]"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc"}]},
     "layers[0]: needs target, p or exclude"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc", "exclude": True, "target": 0.1}]},
     "layers[0]: an excluded layer takes no target or p"),
    ('{"schema": "lpsparsify.recipe/1", "target": 0.5, "target": 0.6}', "target: given twice"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc", "target": 0.5},
                                                  {"match": "^conv", "target": 0.5}]},
     "layers[1].match: '^conv' matches no prunable layer"),
    ({"schema": SCHEMA, "target": 0.5, "layers": [{"match": "fc(", "target": 0.5}]},
     "layers[0].match: 'fc(' is not a valid regex"),
]


def check_errors(tool, work, model, data):
    for k, (recipe, text) in enumerate(ERRORS):
        path = write(os.path.join(work, f"bad{k}.json"), recipe)
        out = os.path.join(work, f"bad{k}.onnx")
        res = run(tool, model, "--data", data, "-o", out, "-q", "--recipe", path,
                  "--report", out + ".json")
        expect(res, EXIT_USAGE)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{path}: {text}" in lines[0], (text, res.stderr)
        assert not os.path.exists(out) and not os.path.exists(out + ".json"), text
    res = run(tool, model, "--data", data, "--recipe", os.path.join(work, "missing.json"))
    expect(res, EXIT_USAGE)
    assert "missing.json" in res.stderr, res.stderr


def documented_keys(source):
    with open(os.path.join(source, "docs", "recipe.md")) as f:
        text = f.read()
    table = text[text.index("| key | JSON type | example |"):text.index("### `layers[i]`")]
    rows = re.findall(r"^\| `([a-z-]+)` \| [^|]+ \| `(.+?)` \| `--[a-z-]+` \|$", table, re.M)
    outside = re.findall(r"`(-[a-z-]+|--[a-z-]+)`", table[table.index("Not in recipes"):])
    return rows, outside


def check_docs(tool, work, model, source):
    rows, outside = documented_keys(source)
    assert len(rows) > 30, rows
    helptext = run(tool, "sparsify", "--help").stdout
    options = set(re.findall(r"^\s+(?:-\w, )?--([a-z][a-z-]*)", helptext, re.M))
    listed = {k for k, _ in rows} | {o.lstrip("-") for o in outside}
    missing = options - listed
    assert not missing, f"docs/recipe.md lists neither as a key nor as not in recipes: {missing}"
    for key, example in rows:
        path = write(os.path.join(work, "key.json"),
                     f'{{"schema": "{SCHEMA}", "{key}": {example}}}')
        res = run(tool, model, "--recipe", path, "--help")
        expect(res, 0)  # the recipe is applied, then --help answers


def main():
    tool, work, source = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(3)
    model = os.path.join(work, "model.onnx")
    make_model(rng, model)
    data = os.path.join(work, "data")
    os.makedirs(data)
    for split, n in (("train", 256), ("test", 128)):
        x = rng.normal(0, 1, (n, 16)).astype(np.float32)
        np.save(os.path.join(data, f"{split}.npy"), x)
        np.save(os.path.join(data, f"{split}_labels.npy"), rng.integers(0, 4, n).astype(np.int64))
    check_round_trip(tool, work, model, data)
    check_override(tool, work, model, data)
    check_errors(tool, work, model, data)
    check_docs(tool, work, model, source)
    print("recipe: ok")


if __name__ == "__main__":
    main()
