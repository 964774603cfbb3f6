"""Browser checks of `lpsparsify report` and --html (one ctest per case).

    check_html.py LPSPARSIFY SOURCE_DIR ARTIFACT_DIR CASE

Each case makes its reports with the real binary, draws the page and hands
it to check_page.js, which loads it in Debian's headless chromium and
compares the DOM with the JSON. Screenshots stay in ARTIFACT_DIR.
Cases:
  bundled  inspect of the bundled CNN (--json and --html)
  hostile  a model whose initializer and node names hold markup: sparsify
           with LpSS and GMP (--report, --html), then both overlaid
  large    a 500-layer model: inspect, then `report` (grouped table)
Exit 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
HOSTILE_NAMES = ['<script>alert("w1")</script>', "w2 & <b>'quoted'</b>"]
N_FEATURES, N_HIDDEN, N_CLASSES, N_ROWS = 8, 16, 3, 96
LARGE_LAYERS, LARGE_WIDTH = 500, 8


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)


def hostile_model(path):
    rng = np.random.default_rng(3)
    w1 = rng.standard_normal((N_FEATURES, N_HIDDEN)).astype(np.float32)
    w2 = rng.standard_normal((N_HIDDEN, N_CLASSES)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", HOSTILE_NAMES[0]], ["h"], name="<i>fc1</i>"),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("MatMul", ["r", HOSTILE_NAMES[1]], ["y"], name="fc2 \"&amp;\"")]
    graph = helper.make_graph(
        nodes, "hostile", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N_CLASSES])],
        [numpy_helper.from_array(w1, HOSTILE_NAMES[0]), numpy_helper.from_array(w2, HOSTILE_NAMES[1])])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                           producer_name="<script>producer</script>"), path)


def hostile_data(path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N_ROWS, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    with open(path, "w") as f:
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")


def large_model(path):
    rng = np.random.default_rng(5)
    nodes, inits, prev = [], [], "x"
    for i in range(LARGE_LAYERS):
        block = f"block{i // 10}"
        w = f"{block}.fc{i % 10}.weight"
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((LARGE_WIDTH, LARGE_WIDTH)) * (0.3 + (i % 7) / 10)).astype(np.float32), w))
        out = f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, w], [out], name=f"/{block}/fc{i % 10}/MatMul"))
        prev = out
    graph = helper.make_graph(
        nodes, "large", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", LARGE_WIDTH])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", LARGE_WIDTH])], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), path)


def check_page(here, page, shot, reports):
    node = os.environ.get("LPS_NODE", "node")
    proc = subprocess.run([node, os.path.join(here, "check_page.js"), page, shot] + reports)
    if proc.returncode != 0:
        sys.exit(f"{page}: browser check failed")


def main():
    lps, source, artifacts, case = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(artifacts, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        def out(name):
            return os.path.join(tmp, name)

        def shot(name):
            return os.path.join(artifacts, name + ".png")

        if case == "bundled":
            model = os.path.join(source, "models", "cnn.onnx")
            run([lps, "inspect", model, "--json", out("r.json"), "--html", out("r.html")])
            check_page(here, out("r.html"), shot("bundled_inspect"), [out("r.json")])
        elif case == "hostile":
            hostile_model(out("m.onnx"))
            hostile_data(out("d.csv"))
            common = [lps, out("m.onnx"), "--target", "0.5", "--data", out("d.csv"),
                      "--label-column", "-1", "--epochs", "3", "--batch", "16", "-q", "--seed", "1"]
            run(common + ["-o", out("lpss.onnx"), "--report", out("lpss.json"), "--html", out("lpss.html")])
            run(common + ["--method", "gmp", "-o", out("gmp.onnx"), "--report", out("gmp.json")])
            check_page(here, out("lpss.html"), shot("hostile_sparsify"), [out("lpss.json")])
            run([lps, "report", out("lpss.json"), out("gmp.json"), "--label", "<LpSS>", "--label", "GMP",
                 "-o", out("both.html")])
            check_page(here, out("both.html"), shot("hostile_overlay"), [out("lpss.json"), out("gmp.json")])
        elif case == "large":
            large_model(out("big.onnx"))
            run([lps, "inspect", out("big.onnx"), "--json", out("big.json")])
            run([lps, "report", out("big.json"), "-o", out("big.html")])
            check_page(here, out("big.html"), shot("large_500_layers"), [out("big.json")])
        else:
            sys.exit(f"unknown case {case}")


if __name__ == "__main__":
    main()
