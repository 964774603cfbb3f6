#!/usr/bin/env python3
"""Runs one model with `lpsparsify run` and with onnxruntime-node on the same
inputs and checks that every output agrees.

Usage: check_interop.py LPSPARSIFY NODE WORKDIR KIND TARGET
  KIND model        TARGET is an .onnx file; inputs are seeded random normals
                    shaped like its graph inputs, symbolic dims bound to
                    SYMBOLIC_DIM (one value per dim name, shared by inputs)
  KIND conformance  TARGET is an ONNX test case folder; the inputs are its
                    test_data_set_0/input_*.pb (given to lpsparsify as .pb,
                    to onnxruntime converted to .npy)
  KIND generated    TARGET names a model in gen_models.py, written to WORKDIR
                    first and then treated like KIND model

Agreement: same shape and dtype; integer and bool outputs equal; float
outputs within |ours - ort| <= ATOL + RTOL * |ort| element-wise, NaN where
onnxruntime has NaN. RTOL is the issue's 1e-4; ATOL absorbs float32
summation-order noise on outputs that cancel to nearly zero.

Missing node or onnxruntime-node is a failure, never a skip: the test
command (scripts/test.sh) installs both.
"""
import os
import shutil
import subprocess
import sys
import zlib

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_models  # noqa: E402

RTOL = 1e-4
ATOL = 1e-5
SYMBOLIC_DIM = 3
HERE = os.path.dirname(os.path.abspath(__file__))
ORT_RUN = os.path.join(HERE, "ort_run.js")
ORT_PACKAGE = os.path.join(HERE, "node_modules", "onnxruntime-node")


def fail(msg):
    print(f"check_interop: {msg}", file=sys.stderr)
    sys.exit(1)


def check_reference_runtime(node):
    if not node or not shutil.which(node):
        fail(f"node not found ({node!r}); run scripts/install-deps.sh")
    if not os.path.isdir(ORT_PACKAGE):
        fail(f"{ORT_PACKAGE} missing; run scripts/install-deps.sh "
             "(it runs npm install in tests/interop)")


def random_inputs(model_path, workdir):
    """Writes one seeded random NPY per non-initializer graph input."""
    model = onnx.load(model_path)
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(zlib.crc32(os.path.basename(model_path).encode()))
    paths = []
    for k, vi in enumerate(i for i in model.graph.input if i.name not in inits):
        tt = vi.type.tensor_type
        if tt.elem_type != onnx.TensorProto.FLOAT:
            fail(f"{model_path}: input {vi.name} is not float; no random generator for it")
        shape = [d.dim_value if d.HasField("dim_value") else SYMBOLIC_DIM for d in tt.shape.dim]
        path = os.path.join(workdir, f"input_{k}.npy")
        np.save(path, rng.standard_normal(shape).astype(np.float32))
        paths.append(path)
    return paths, paths


def conformance_inputs(case_dir, workdir):
    """Returns (.pb paths for lpsparsify, .npy copies for onnxruntime)."""
    data = os.path.join(case_dir, "test_data_set_0")
    pbs = sorted((f for f in os.listdir(data) if f.startswith("input_") and f.endswith(".pb")),
                 key=lambda f: int(f[len("input_"):-len(".pb")]))
    ours, ort = [], []
    for f in pbs:
        t = onnx.TensorProto()
        with open(os.path.join(data, f), "rb") as fh:
            t.ParseFromString(fh.read())
        npy = os.path.join(workdir, f[:-len(".pb")] + ".npy")
        np.save(npy, numpy_helper.to_array(t))
        ours.append(os.path.join(data, f))
        ort.append(npy)
    return ours, ort


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        fail(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}{res.stderr}")


def compare(k, ours, ref):
    where = f"output {k}"
    if ours.shape != ref.shape:
        fail(f"{where}: shape {ours.shape} != onnxruntime {ref.shape}")
    if ours.dtype != ref.dtype:
        fail(f"{where}: dtype {ours.dtype} != onnxruntime {ref.dtype}")
    if not np.issubdtype(ref.dtype, np.floating):
        bad = np.argwhere(ours != ref)
        if bad.size:
            i = tuple(bad[0])
            fail(f"{where}: {len(bad)} elements differ, first at {i}: {ours[i]} != {ref[i]}")
        print(f"{where}: {ref.shape} {ref.dtype}, equal")
        return
    nan_ref, nan_ours = np.isnan(ref), np.isnan(ours)
    if (nan_ref != nan_ours).any():
        fail(f"{where}: NaN positions differ from onnxruntime")
    a, b = ours[~nan_ref].astype(np.float64), ref[~nan_ref].astype(np.float64)
    used = np.abs(a - b) / (ATOL + RTOL * np.abs(b))  # > 1: out of tolerance
    worst = int(used.argmax()) if used.size else 0
    if used.size and used[worst] > 1:
        fail(f"{where}: {int((used > 1).sum())} of {used.size} elements beyond rtol {RTOL} "
             f"atol {ATOL}; worst: ours {a[worst]!r} onnxruntime {b[worst]!r}")
    print(f"{where}: {ref.shape} {ref.dtype}, max |diff| {np.abs(a - b).max() if a.size else 0:.2e}, "
          f"{used[worst] if used.size else 0:.0%} of the tolerance used")


def main():
    if len(sys.argv) != 6:
        fail(__doc__)
    lps, node, workdir, kind, target = sys.argv[1:]
    check_reference_runtime(node)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    if kind == "generated":
        model = os.path.join(workdir, f"{target}.onnx")
        gen_models.save(target, model)
        ours_in, ort_in = random_inputs(model, workdir)
    elif kind == "model":
        model = target
        ours_in, ort_in = random_inputs(model, workdir)
    elif kind == "conformance":
        model = os.path.join(target, "model.onnx")
        ours_in, ort_in = conformance_inputs(target, workdir)
    else:
        fail(f"unknown KIND {kind!r}")

    ours_out = os.path.join(workdir, "ours.npy")
    cmd = [lps, "run", model, "--output", ours_out]
    for p in ours_in:
        cmd += ["--input", p]
    run(cmd)
    ort_prefix = os.path.join(workdir, "ort")
    run([node, ORT_RUN, model, ort_prefix, *ort_in])

    n_out = len(onnx.load(model).graph.output)
    for k in range(n_out):
        ours = os.path.join(workdir, "ours.npy" if k == 0 else f"ours_{k}.npy")
        compare(k, np.load(ours), np.load(f"{ort_prefix}_{k}.npy"))
    print(f"{n_out} outputs agree with onnxruntime")


if __name__ == "__main__":
    main()
