#!/usr/bin/env python3
"""Sparsification benchmark: LpSS against GMP at equal epochs.

For each model, target and method it runs
    lpsparsify MODEL --target S --method M --epochs E -o OUT --report R -q
and measures, independently of lpsparsify's own figures:
  - test accuracy with onnxruntime-node (tests/e2e_sparsify/ort_accuracy.js)
    on the Fashion-MNIST t10k split,
  - achieved sparsity counted with numpy over the Conv/Gemm/MatMul weights of
    the written file (dense and COO sparse initializers),
  - wall time of the lpsparsify run, and its CPU time (user + sys),
  - the output file size.
It prints a Markdown table (the one in docs/benchmarks.md) and writes every
output model and report under --workdir.

With --gemm-ratio BENCH_TRAIN it also prints, per run, the time the run's
GEMMs alone take and the ratio run wall time / GEMM-only time (issue 11's
"within 2x" goal for the default run): bench_train (bench/bench_train.c)
times cblas_sgemm alone on exactly the GEMMs one training step of the
model issues at the run's batch (forward, dW, dX; its "fwd" shapes are one
evaluation batch), and the run's GEMM-only time is
    epochs * ceil(train / batch) * step GEMMs
    + (epochs + 2) * ceil(test / batch) * forward GEMMs
(the dense evaluation, one per epoch and the final one, on the test split;
the training-only BatchNorm's few calibration batches are left out).

Usage:
  bench/sparsify/run.py --lpsparsify build/lpsparsify --model mlp=models/lenet300.onnx \\
      [--model cnn=models/cnn.onnx] [--targets 0.8,0.9,0.95] [--methods lpss,gmp] \\
      [--epochs 10] [--epochs-for cnn=2] [--extra-target mlp=0.98] [--workdir /tmp/bench] \\
      [--gemm-ratio build-rel/bench/bench_train]
Needs python3-onnx, python3-numpy, node and tests/interop/node_modules.
"""
import argparse
import gzip
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORT_SCRIPT = os.path.join(ROOT, "tests", "e2e_sparsify", "ort_accuracy.js")
NODE_MODULES = os.path.join(ROOT, "tests", "interop", "node_modules")
FMNIST = "/usr/share/datasets/fashion-mnist"
PRUNABLE_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}
PERCENT = 100.0


def prunable_names(model):
    """Conv/Gemm/MatMul weights of rank >= 2 stored as initializers."""
    inits = {t.name: len(t.dims) for t in model.graph.initializer}
    inits.update({s.values.name: len(s.dims) for s in model.graph.sparse_initializer})
    names = []
    for node in model.graph.node:
        if node.op_type not in PRUNABLE_OPS:
            continue
        cands = [node.input[1]] if node.op_type != "MatMul" else list(node.input[:2])
        for c in cands:
            if inits.get(c, 0) >= 2 and c not in names:
                names.append(c)
    return names


def count_sparsity(path):
    m = onnx.load(path)
    zeros = total = 0
    dense = {t.name: t for t in m.graph.initializer}
    sparse = {s.values.name: s for s in m.graph.sparse_initializer}
    for name in prunable_names(m):
        if name in dense:
            w = numpy_helper.to_array(dense[name])
            zeros += int(np.sum(w == 0.0))
            total += w.size
        else:
            s = sparse[name]
            numel = int(np.prod(s.dims))
            vals = numpy_helper.to_array(s.values)
            zeros += numel - vals.size + int(np.sum(vals == 0.0))
            total += numel
    return zeros / total


def ort_accuracy(path):
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    res = subprocess.run(["node", ORT_SCRIPT, path,
                          os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"),
                          os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout)["accuracy"]


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return res, wall, cpu


# One bench_train line per GEMM shape: node, what ("Gemm fwd", "Conv dW"),
# transposes, m, n, k, calls per step and the sgemm rate.
SHAPE_LINE = re.compile(r"^\s+\S+\s+(\S+ \S+)\s+[NT]{2} m=(\d+)\s+n=(\d+)\s+k=(\d+)\s+"
                        r"x(\S+)\s+sgemm\s+(\S+) GFLOP/s")
GIGA = 1e9


def idx_count(path):
    """Samples in an IDX file (the count after the magic)."""
    with gzip.open(path, "rb") as f:
        head = f.read(8)
    return int.from_bytes(head[4:8], "big")


def sgemm_seconds(bench_train, model, batch):
    """(seconds of one training step's GEMMs, of its forward GEMMs) alone."""
    res = subprocess.run([bench_train, "--batch", str(batch), "--steps", "2", "--data",
                          "fashion-mnist", model], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{bench_train} {model}: exit {res.returncode}: {res.stderr.strip()}")
    step = forward = 0.0
    for line in res.stdout.splitlines():
        m = SHAPE_LINE.match(line)
        if not m:
            continue
        what, mm, n, k, calls, rate = m.groups()
        seconds = 2.0 * int(mm) * int(n) * int(k) * float(calls) / (float(rate) * GIGA)
        step += seconds
        if what.endswith("fwd"):
            forward += seconds
    if step == 0.0:
        sys.exit(f"{bench_train} {model}: no GEMM shapes in its output")
    return step, forward


def gemm_only_seconds(bench_train, model, report):
    """The run's GEMM time at the sgemm rate (see the module docstring)."""
    with open(report) as f:
        r = json.load(f)
    batch, epochs = r["global_batch"], len(r["epochs"])
    train = idx_count(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))
    test = idx_count(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
    step, forward = sgemm_seconds(bench_train, model, batch)
    return (epochs * math.ceil(train / batch) * step +
            (epochs + 2) * math.ceil(test / batch) * forward)


def pairs(items):
    out = {}
    for item in items or []:
        k, v = item.split("=", 1)
        out.setdefault(k, []).append(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lpsparsify", required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH")
    ap.add_argument("--targets", default="0.8,0.9,0.95")
    ap.add_argument("--methods", default="lpss,gmp")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--epochs-for", action="append", help="NAME=E")
    ap.add_argument("--extra-target", action="append", help="NAME=S: one more target for NAME")
    ap.add_argument("--workdir", default="/tmp/lps-bench-sparsify")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--gemm-ratio", metavar="BENCH_TRAIN",
                    help="also print each run's GEMM-only time and wall / GEMM-only")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    epochs_for = {k: int(v[-1]) for k, v in pairs(args.epochs_for).items()}
    extra = pairs(args.extra_target)
    rows = []
    print("| model | target | method | epochs | dense acc (ORT) | sparse acc (ORT) | Δ points "
          "| achieved | wall s | CPU s | output bytes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for spec in args.model:
        name, path = spec.split("=", 1)
        dense_acc = ort_accuracy(path)
        epochs = epochs_for.get(name, args.epochs)
        targets = [float(t) for t in args.targets.split(",")] + [float(t) for t in extra.get(name, [])]
        for target in targets:
            for method in args.methods.split(","):
                tag = f"{name}-{method}-{target:g}"
                out = os.path.join(args.workdir, f"{tag}.onnx")
                report = os.path.join(args.workdir, f"{tag}.json")
                cmd = [args.lpsparsify, path, "--target", str(target), "--method", method,
                       "--epochs", str(epochs), "-o", out, "--report", report, "-q"]
                res, wall, cpu = timed(cmd)
                if res.returncode != 0:
                    sys.exit(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr.strip()}")
                acc = ort_accuracy(out)
                row = {"model": name, "target": target, "method": method, "epochs": epochs,
                       "dense_accuracy": dense_acc, "accuracy": acc,
                       "achieved": count_sparsity(out), "wall_seconds": wall,
                       "cpu_seconds": cpu, "output_bytes": os.path.getsize(out),
                       "input_bytes": os.path.getsize(path), "command": " ".join(cmd)}
                rows.append(row)
                print(f"| {name} | {target:g} | {method} | {epochs} | {dense_acc * PERCENT:.2f}% "
                      f"| {acc * PERCENT:.2f}% | {(acc - dense_acc) * PERCENT:+.2f} "
                      f"| {row['achieved'] * PERCENT:.2f}% | {wall:.1f} | {cpu:.1f} "
                      f"| {row['output_bytes']} |", flush=True)
                if args.gemm_ratio:
                    gemm = gemm_only_seconds(args.gemm_ratio, path, report)
                    row["gemm_only_seconds"] = gemm
                    print(f"{tag}: GEMM-only {gemm:.2f} s at the sgemm rate, run {wall:.1f} s "
                          f"wall / {cpu:.1f} s CPU: wall / GEMM-only {wall / gemm:.2f}x, "
                          f"CPU / GEMM-only {cpu / gemm:.2f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
