#!/usr/bin/env python3
"""Checks one real-exporter fixture of tests/models/torch (written by export_torch.py)
against PyTorch's references and onnxruntime.

Usage: check_torch.py LPSPARSIFY NODE WORKDIR FIXTURES EXPECTATIONS NAME

The checks, in order:
  run       `lpsparsify run` on the fixture's batch equals PyTorch's logits and
            onnxruntime's, element-wise |d| <= ATOL + RTOL * |ref| (RTOL 1e-4);
            onnxruntime runs training-mode BatchNormalization in inference mode
            (Fixture.inference_copy), as lpsparsify and PyTorch's eval mode do
  train     one plain-SGD step on a dataset that is exactly that batch
            (`train --epochs 1 --batch B --lr LR --lr-schedule constant --momentum 0
            --no-nesterov --weight-decay 0 --bn-frozen`) gives lpsparsify's gradient
            g = (w0 - w1) / LR of every initializer that holds a parameter (LR 10,
            or 1 / 0.1 when the step overflows the evaluation after it);
            it equals autograd's: max |g - ref| <= 1e-3 max |ref| per tensor (plus the
            float32 rounding of w0 - w1)
  sparsify  `lpsparsify MODEL --target 0.5 --epochs 1` on the same tiny dataset exits 0
            and writes a model onnx.checker accepts and onnxruntime runs; every report
            layer's zero count matches numpy's count in the written weights, the
            achieved sparsity is within 0.5 points of 0.5, and onnxruntime's top-1
            accuracy on the evaluation split equals the report's
  coverage  the report's layers hold >= 90% of the model's rank >= 2 float weights

EXPECTATIONS (tests/models/expectations.txt) gives each fixture one of
  ok                     every check passes
  unsupported: OP, ...   loading fails: `lpsparsify run` exits 2 with one line naming
                         a node of one of the listed ops; the test FAILS once the model
                         loads (or names an unlisted op), so whoever adds the last of
                         them flips the line
  xfail CHECK: TEXT      the checks before CHECK pass and CHECK fails with a message
                         containing TEXT (the known gap); FAILS once CHECK passes
EXPECTATIONS may also be the word ok: every check must pass (what
update_expectations.py uses to find a fixture's state).
Exit status 0 when the fixture behaves as expected, 1 otherwise (with the reason).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ORT_JOBS = os.path.join(HERE, "ort_jobs.js")
ORT_PACKAGE = os.path.join(HERE, "..", "interop", "node_modules", "onnxruntime-node")
CHECKS = ("run", "train", "sparsify", "coverage")
RTOL_RUN, ATOL_RUN = 1e-4, 1e-5
RTOL_GRAD = 1e-3
# A gradient whose 1e-3 is below the rounding of w0 - w1 cannot be checked this way (dead
# units of the narrowest fixtures); at most this share of a fixture's tensors may be such.
MAX_UNRESOLVED = 0.1
# The step's learning rates, largest first: a large step lifts small gradients above the
# float32 rounding of w0 - w1; when it overflows the evaluation after the step (a
# non-finite logit, exit 1), the next is tried.
LRS = (10.0, 1.0, 0.1)
TARGET, TARGET_SLACK = 0.5, 0.005
COVERAGE = 0.9
F32_EPS = np.finfo(np.float32).eps


class CheckFailed(Exception):
    pass


def fail(msg):
    print(f"check_torch: {msg}", file=sys.stderr)
    sys.exit(1)


def read_expectations(path):
    """fixture name -> (kind, check or op, text); kind is ok, unsupported or xfail."""
    table = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, status = line.partition(" ")
            status = status.strip()
            if status == "ok":
                table[name] = ("ok", None, None)
            elif status.startswith("unsupported:"):
                ops = [o.strip() for o in status[len("unsupported:"):].split(",") if o.strip()]
                if not ops:
                    fail(f"{path}:{lineno}: unsupported needs the op types")
                table[name] = ("unsupported", ops, None)
            elif status.startswith("xfail "):
                check, _, text = status[len("xfail "):].partition(":")
                if check.strip() not in CHECKS or not text.strip():
                    fail(f"{path}:{lineno}: xfail needs CHECK: TEXT with CHECK in {CHECKS}")
                table[name] = ("xfail", check.strip(), text.strip())
            else:
                fail(f"{path}:{lineno}: unknown expectation {status!r}")
    return table


class Fixture:
    def __init__(self, tool, node, work, root, entry):
        self.tool, self.node, self.work = tool, node, work
        self.entry = entry
        self.model = os.path.join(root, entry["onnx"])
        folder = os.path.dirname(self.model)
        self.input = os.path.join(folder, "input.npy")
        self.labels = os.path.join(folder, "labels.npy")
        self.output = os.path.join(folder, "output.npy")
        self.grads = os.path.join(folder, "grads.npz")
        self.data = os.path.join(work, "data")
        self.report = None

    def lps(self, *args):
        r = subprocess.run([self.tool, *args], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    def ort(self, jobs):
        path = os.path.join(self.work, "ort_jobs.json")
        with open(path, "w") as f:
            json.dump(jobs, f)
        r = subprocess.run([self.node, ORT_JOBS, path], capture_output=True, text=True)
        if r.returncode != 0:
            raise CheckFailed(f"onnxruntime: {r.stderr.strip()}")

    def write_dataset(self):
        """The fixture's batch as both splits of an NPY dataset folder (docs/data.md)."""
        os.makedirs(self.data, exist_ok=True)
        for split in ("train", "test"):
            shutil.copy(self.input, os.path.join(self.data, f"{split}.npy"))
            shutil.copy(self.labels, os.path.join(self.data, f"{split}_labels.npy"))

    def train_sibling(self):
        """The training-mode export of the same model and opset: every parameter under its
        own name (export_torch.py)."""
        return os.path.join(os.path.dirname(self.model), f"op{self.entry['opset']}_train.onnx")

    def inference_copy(self, path):
        """`path` itself, or for a model with training-mode BatchNormalization a copy with
        those nodes in inference mode: onnxruntime honours training_mode (batch
        statistics), lpsparsify run and eval treat such nodes as in inference, like
        PyTorch's eval mode that the references come from."""
        proto = onnx.load(path)
        changed = False
        for node in proto.graph.node:
            if node.op_type != "BatchNormalization":
                continue
            for a in node.attribute:
                if a.name == "training_mode" and a.i != 0:
                    a.i, changed = 0, True
            if len(node.output) > 1:
                del node.output[1:]
                changed = True
        if not changed:
            return path
        copy = os.path.join(self.work, "inference_" + os.path.basename(path))
        onnx.save(proto, copy)
        return copy

    # --- the checks -------------------------------------------------------------------------

    def check_run(self):
        ours = os.path.join(self.work, "run.npy")
        rc, _, err = self.lps("run", self.model, "--input", self.input, "--output", ours)
        if rc != 0:
            raise CheckFailed(f"lpsparsify run exited {rc}: {err.strip()}")
        self.ort([{"model": self.inference_copy(self.model), "out": os.path.join(self.work, "ort"),
                   "inputs": [self.input]}])
        got = np.load(ours)
        for who, ref in (("PyTorch", np.load(self.output)),
                         ("onnxruntime", np.load(os.path.join(self.work, "ort_0.npy")))):
            compare_outputs(got, ref, who)

    def check_train(self):
        self.write_dataset()
        trained = os.path.join(self.work, "trained.onnx")
        for lr in LRS:
            rc, _, err = self.lps("train", self.model, "-o", trained, "--data", self.data, "-q",
                                  "--epochs", "1", "--batch", str(self.entry["batch"]), "--lr", str(lr),
                                  "--lr-schedule", "constant", "--momentum", "0", "--no-nesterov",
                                  "--weight-decay", "0", "--bn-frozen", "--seed", "0")
            if not (rc == 1 and "non-finite" in err):
                break
        if rc != 0:
            raise CheckFailed(f"lpsparsify train exited {rc}: {err.strip()}")
        before, after = float_weights(self.model), float_weights(trained)
        refs = np.load(self.grads)
        mapping = gradient_map(before, refs, float_weights(self.train_sibling()), identity_aliases(self.model))
        if not mapping:
            raise CheckFailed("no initializer maps to a parameter: nothing to compare")
        worst, unresolved = (0.0, None), []
        for init, (params, transform) in mapping.items():
            param = "+".join(params)
            ref = sum(refs[p].astype(np.float64) for p in params)
            if transform == "T":
                ref = ref.T
            w0 = before[init].astype(np.float64)
            if init not in after:
                raise CheckFailed(f"{init}: missing from the trained model")
            g = (w0 - after[init].astype(np.float64)) / lr
            scale = np.abs(ref).max()
            slack = 4 * F32_EPS * np.abs(w0).max() / lr
            err = np.abs(g - ref).max()
            if err > RTOL_GRAD * scale + slack:
                raise CheckFailed(f"gradient of {init} (parameter {param}{' transposed' if transform else ''}):"
                                  f" max |lpsparsify - autograd| = {err:.3g}, max |autograd| = {scale:.3g}")
            if 0 < RTOL_GRAD * scale < slack:
                unresolved.append(init)
            elif scale > 0 and err / scale > worst[0]:
                worst = (err / scale, init)
        if len(unresolved) > MAX_UNRESOLVED * len(mapping):
            raise CheckFailed(f"{len(unresolved)} of {len(mapping)} gradients are below the float32 resolution"
                              f" of w0 - w1 at lr {lr} (e.g. {unresolved[0]}): the check cannot see them")
        print(f"train (lr {lr}): {len(mapping) - len(unresolved)} gradients match autograd to within"
              f" {worst[0]:.2g} relative (worst {worst[1]}); {len(unresolved)} too small to resolve")

    def check_sparsify(self):
        self.write_dataset()
        sparse = os.path.join(self.work, "sparse.onnx")
        report = os.path.join(self.work, "report.json")
        rc, _, err = self.lps(self.model, "--target", str(TARGET), "--epochs", "1", "--data", self.data,
                              "--batch", str(self.entry["batch"]), "-o", sparse, "--report", report, "-q")
        if rc != 0:
            raise CheckFailed(f"lpsparsify sparsify exited {rc}: {err.strip()}")
        with open(report) as f:
            self.report = json.load(f)
        proto = onnx.load(sparse)
        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as e:
            raise CheckFailed(f"onnx.checker rejects the sparse model: {str(e).splitlines()[0]}")
        weights = float_weights(sparse)
        zeros = params = 0
        for layer in self.report["layers"]:
            w = weights.get(layer["name"])
            if w is None:
                raise CheckFailed(f"report layer {layer['name']} is not an initializer of the sparse model")
            counted = int(np.count_nonzero(w == 0))
            if counted != layer["zeros"] or w.size != layer["params"]:
                raise CheckFailed(f"{layer['name']}: report says {layer['zeros']} zeros of {layer['params']},"
                                  f" numpy counts {counted} of {w.size}")
            if not layer.get("excluded"):
                zeros, params = zeros + counted, params + w.size
        if params == 0:
            raise CheckFailed("the report lists no prunable layer")
        if abs(zeros / params - TARGET) > TARGET_SLACK:
            raise CheckFailed(f"numpy counts sparsity {zeros / params:.4f}, target {TARGET}")
        self.ort([{"model": self.inference_copy(sparse), "out": os.path.join(self.work, "ort_sparse"),
                   "inputs": [self.input]}])
        logits = np.load(os.path.join(self.work, "ort_sparse_0.npy"))
        accuracy = float(np.mean(np.argmax(logits, axis=1) == np.load(self.labels)))
        reported = self.report["accuracy"]["sparse"]
        if reported is None or abs(accuracy - reported) > 1e-9:
            raise CheckFailed(f"onnxruntime accuracy {accuracy} != report's {reported}")
        print(f"sparsify: {zeros}/{params} zeros ({zeros / params:.4f}), accuracy {accuracy} (onnxruntime = report)")

    def check_coverage(self):
        if self.report is None:
            raise CheckFailed("no sparsify report")
        proto = onnx.load(self.model)
        total = sum(int(np.prod(t.dims)) for t in proto.graph.initializer
                    if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2)
        covered = sum(layer["params"] for layer in self.report["layers"])
        share = covered / total if total else 1.0
        if share < COVERAGE:
            raise CheckFailed(f"report layers cover {covered} of {total} rank >= 2 float weights ({share:.1%})")
        print(f"coverage: {covered}/{total} rank >= 2 float weights in report layers ({share:.1%})")

    def check_unsupported(self, ops):
        rc, _, err = self.lps("run", self.model, "--input", self.input,
                              "--output", os.path.join(self.work, "run.npy"))
        lines = err.strip().splitlines()
        if rc == 0:
            fail(f"{self.entry['name']} now loads and runs: update its line in tests/models/expectations.txt")
        if rc != 2 or len(lines) != 1 or not any(f"({op})" in lines[0] for op in ops):
            fail(f"expected exit 2 and one line naming a node of {', '.join(ops)}, got exit {rc}: {err.strip()}")
        print(f"unsupported as expected: {lines[0]}")
        return lines[0].split(": ", 2)[-1] if lines[0].count(": ") >= 2 else lines[0]


def identity_aliases(path):
    """initializer -> the names Identity nodes give it. torch.onnx's eval-mode export keeps
    one copy of parameters with equal values and makes the others Identity outputs of it
    (ConvNeXt's equal layer scales), so that initializer's gradient is their sum."""
    proto = onnx.load(path)
    inits = {t.name for t in proto.graph.initializer}
    aliases = {}
    for node in proto.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            aliases.setdefault(node.input[0], []).append(node.output[0])
    return aliases


def gradient_map(weights, grads, params, aliases):
    """initializer -> (parameters, transform) for the initializers of `weights` that hold
    parameters: under their own name (transform "") plus any Identity aliases, or,
    renamed by eval-mode constant folding, as the exact transpose of one ("T": a Linear
    folded into MatMul). `params` are the parameters by name (the training-mode export).
    Initializers folded with other values (BatchNorm into Conv, RNN gate stacks, split
    attention projections) hold no parameter and are not compared."""
    mapping = {}
    for name, w in weights.items():
        if name in grads.files and grads[name].shape == w.shape:
            mapping[name] = ([name] + [a for a in aliases.get(name, []) if a in grads.files], "")
        elif w.ndim == 2:
            match = next((p for p, v in params.items() if p in grads.files and v.shape == w.shape[::-1]
                          and np.array_equal(v.T, w)), None)
            if match:
                mapping[name] = ([match], "T")
    return mapping


def compare_outputs(got, ref, who):
    if got.shape != ref.shape or got.dtype != ref.dtype:
        raise CheckFailed(f"output {got.dtype}{list(got.shape)} vs {who}'s {ref.dtype}{list(ref.shape)}")
    bad = np.abs(got.astype(np.float64) - ref) > ATOL_RUN + RTOL_RUN * np.abs(ref)
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(got.astype(np.float64) - ref)), ref.shape)
        raise CheckFailed(f"output differs from {who}'s at {int(bad.sum())} of {ref.size} elements"
                          f" (worst at {list(i)}: {got[i]} vs {ref[i]})")


def float_weights(path):
    """name -> float32 array of every float initializer, dense or COO sparse_initializer."""
    proto = onnx.load(path)
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer
               if t.data_type == onnx.TensorProto.FLOAT}
    for s in proto.graph.sparse_initializer:
        if s.values.data_type != onnx.TensorProto.FLOAT:
            continue
        dense = np.zeros(int(np.prod(s.dims)), dtype=np.float32)
        dense[numpy_helper.to_array(s.indices).reshape(-1)] = numpy_helper.to_array(s.values)
        weights[s.values.name] = dense.reshape(tuple(s.dims))
    return weights


def main():
    if len(sys.argv) != 7:
        fail("usage: check_torch.py LPSPARSIFY NODE WORKDIR FIXTURES EXPECTATIONS NAME")
    tool, node, work, root, expectations, name = sys.argv[1:]
    if not node or not shutil.which(node):
        fail(f"node not found ({node!r}); run scripts/install-deps.sh")
    if not os.path.isdir(ORT_PACKAGE):
        fail(f"{ORT_PACKAGE} missing; run scripts/install-deps.sh")
    with open(os.path.join(root, "manifest.json")) as f:
        entry = next((e for e in json.load(f)["fixtures"] if e["name"] == name), None)
    if entry is None or "export_error" in entry:
        fail(f"{name}: not an exported fixture of {root}/manifest.json")
    table = {name: ("ok", None, None)} if expectations == "ok" else read_expectations(expectations)
    if name not in table:
        fail(f"{name} has no line in {expectations}")
    kind, what, text = table[name]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fixture = Fixture(tool, node, work, root, entry)
    results = {}
    try:
        verdict(fixture, kind, what, text, results)
    finally:
        # what tests/models/export_matrix.py puts into docs/exports.md
        with open(os.path.join(work, "result.json"), "w") as f:
            json.dump({"name": name, "expectation": [kind, what, text], "checks": results}, f)


def verdict(fixture, kind, what, text, results):
    """Runs the checks, records each outcome in `results` (check -> "pass" or the failure
    message) and exits 1 unless the fixture behaves as its expectation says."""
    name = fixture.entry["name"]
    if kind == "unsupported":
        results["run"] = fixture.check_unsupported(what)
        return
    for check in CHECKS:
        try:
            getattr(fixture, f"check_{check}")()
            results[check] = "pass"
        except CheckFailed as e:
            results[check] = str(e)
            if kind == "xfail" and check == what and text in str(e):
                print(f"{check}: fails as expected: {e}")
                return
            fail(f"{name}: {check}: {e}")
        if kind == "xfail" and check == what:
            fail(f"{name}: {check} now passes: set its line in tests/models/expectations.txt to ok")
    print(f"{name}: all checks pass")


if __name__ == "__main__":
    main()
