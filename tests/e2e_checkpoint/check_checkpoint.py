#!/usr/bin/env python3
"""Checkpoint and resume of `lpsparsify` runs (docs/cli.md, "Checkpoint and
resume") on the bundled models and a small generated dataset:

- (lpss_mlp, gmp_cnn, train_cnn, wanda_lpss_cnn: Wanda then --finetune
  lpss, whose LpSGD states start at the one-shot pass) a run interrupted
  by SIGINT in the middle of its second epoch exits 130 with a checkpoint
  and no model or report; resumed with --resume it writes the same model,
  byte for byte, and the same report but for the wall-clock `seconds` of
  each epoch and `oneshot_seconds`, as the uninterrupted run with the same
  options;
- (refusals) resuming with another --target or --method, another model, a
  damaged or truncated checkpoint or none is refused with one line naming
  the cause, exit 2, and nothing written.

The interruption is SIGINT raised by the tool itself after a given step
(the test-only environment variable LPS_TEST_SIGINT_AFTER_STEP), so it
always lands on the same step.

Usage: check_checkpoint.py CASE LPSPARSIFY WORKDIR SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
N_TRAIN, N_TEST, CLASSES = 256, 64, 10
IMAGE = (1, 28, 28)
# 4 steps per epoch: step 6 is in the middle of epoch 2 of 3.
FAST = ["--epochs", "3", "--batch", "64", "-q", "--seed", "7"]
STOP_AFTER = 6
CHECKPOINT = "checkpoint.lpsck"


def run(tool, args, cwd, stop_after=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    env.pop("LPS_TEST_SIGINT_AFTER_STEP", None)
    if stop_after:
        env["LPS_TEST_SIGINT_AFTER_STEP"] = str(stop_after)
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=cwd, env=env)


def expect(res, code):
    assert res.returncode == code, \
        f"exit {res.returncode} != {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"


def setup(workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    rng = np.random.default_rng(99)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, (n, *IMAGE), dtype=np.uint8)
        y = (x.reshape(n, -1)[:, :CLASSES].argmax(axis=1)).astype(np.int64)
        np.save(os.path.join(data, f"{split}.npy"), x)
        np.save(os.path.join(data, f"{split}_labels.npy"), y)
    for sub in ("whole", "parts"):
        os.makedirs(os.path.join(workdir, sub))
    return data


def read(path):
    with open(path, "rb") as f:
        return f.read()


def without_wall_clock(report):
    """The report with each epoch's `seconds`, `oneshot_seconds` and the
    LpSGD step probe's `seconds` (wall clock) removed."""
    rep = json.loads(report)
    rep.pop("oneshot_seconds")
    probe = (rep.get("lpsgd_step") or {}).get("probe")
    if probe is not None:
        assert probe.pop("seconds") >= 0
    for epoch in rep.get("epochs", []):
        assert epoch.pop("seconds", None) is not None
    return rep


def check_resume(tool, workdir, source, command, model, extra):
    """Uninterrupted in whole/, interrupted and resumed in parts/, same
    relative outputs so that the report's command line is the same."""
    data = setup(workdir)
    model = os.path.join(source, "models", model)
    sparsify = command != "train"
    outputs = ["-o", "out.onnx"] + (["--report", "out.json"] if sparsify else [])
    args = [command, model, "--data", data, *FAST, *extra, *outputs]
    whole, parts = os.path.join(workdir, "whole"), os.path.join(workdir, "parts")
    expect(run(tool, args, whole), 0)

    res = run(tool, args + ["--checkpoint", "ck"], parts, stop_after=STOP_AFTER)
    expect(res, EXIT_INTERRUPTED)
    assert "interrupted at epoch 2 step 2; checkpoint in ck" in res.stderr, res.stderr
    assert os.listdir(parts) == ["ck"], f"an interrupted run wrote {os.listdir(parts)}"
    assert os.listdir(os.path.join(parts, "ck")) == [CHECKPOINT], os.listdir(os.path.join(parts, "ck"))

    res = run(tool, args + ["--checkpoint", "ck", "--resume", "ck"], parts)
    expect(res, 0)
    assert read(os.path.join(whole, "out.onnx")) == read(os.path.join(parts, "out.onnx")), \
        "the resumed run wrote another model than the uninterrupted one"
    if sparsify:
        a = without_wall_clock(read(os.path.join(whole, "out.json")))
        b = without_wall_clock(read(os.path.join(parts, "out.json")))
        assert a == b, "the resumed run's report differs beyond the wall-clock fields"
        assert len(a["epochs"]) == 3


def case_lpss_mlp(tool, workdir, source):
    check_resume(tool, workdir, source, "sparsify", "lenet300.onnx", ["--target", "0.9"])


def case_gmp_cnn(tool, workdir, source):
    check_resume(tool, workdir, source, "sparsify", "cnn.onnx",
                 ["--target", "0.8", "--method", "gmp"])


def case_wanda_lpss_cnn(tool, workdir, source):
    check_resume(tool, workdir, source, "sparsify", "cnn.onnx",
                 ["--target", "0.7", "--method", "wanda", "--calibration", "64",
                  "--finetune", "lpss"])


def case_train_cnn(tool, workdir, source):
    check_resume(tool, workdir, source, "train", "cnn_init.onnx", [])


def refused(tool, args, cwd, message):
    res = run(tool, args, cwd)
    expect(res, EXIT_USAGE)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], f"wanted '{message}', got {res.stderr!r}"
    assert not os.path.exists(os.path.join(cwd, "out.onnx")), "a refused resume wrote a model"
    assert not os.path.exists(os.path.join(cwd, "out.json")), "a refused resume wrote a report"


def case_refusals(tool, workdir, source):
    data = setup(workdir)
    lenet = os.path.join(source, "models", "lenet300.onnx")
    parts = os.path.join(workdir, "parts")
    base = ["sparsify", lenet, "--data", data, *FAST, "-o", "out.onnx", "--report", "out.json"]
    expect(run(tool, base + ["--target", "0.9", "--checkpoint", "ck"], parts, stop_after=2),
           EXIT_INTERRUPTED)
    ck = os.path.join(parts, "ck", CHECKPOINT)
    good = read(ck)

    refused(tool, base + ["--target", "0.8", "--resume", "ck"], parts,
            "checkpoint ck: --target differs (0.9 in the checkpoint, 0.8 now)")
    refused(tool, base + ["--target", "0.9", "--method", "gmp", "--resume", "ck"], parts,
            "checkpoint ck: --method gmp is given now, not for the checkpoint")
    other = os.path.join(workdir, "other.onnx")
    proto = onnx.load(lenet)
    proto.doc_string = "the same graph in other bytes"
    onnx.save(proto, other)
    refused(tool, ["sparsify", other] + base[2:] + ["--target", "0.9", "--resume", "ck"], parts,
            "checkpoint ck: the model differs")
    # the same options in another order and form are the same run
    res = run(tool, base + ["--target=0.90", "--resume", "ck"], parts)
    expect(res, 0)
    os.remove(os.path.join(parts, "out.onnx"))
    os.remove(os.path.join(parts, "out.json"))

    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    with open(ck, "wb") as f:
        f.write(damaged)
    refused(tool, base + ["--target", "0.9", "--resume", "ck"], parts, "damaged (CRC mismatch)")
    with open(ck, "wb") as f:
        f.write(good[:len(good) // 3])
    refused(tool, base + ["--target", "0.9", "--resume", "ck"], parts, "truncated")
    refused(tool, base + ["--target", "0.9", "--resume", "nowhere"], parts,
            "checkpoint nowhere: nowhere/checkpoint.lpsck: No such file or directory")


def main():
    case, tool, workdir, source = sys.argv[1:5]
    {"lpss_mlp": case_lpss_mlp, "gmp_cnn": case_gmp_cnn, "train_cnn": case_train_cnn,
     "wanda_lpss_cnn": case_wanda_lpss_cnn, "refusals": case_refusals}[case](tool, workdir, source)
    print(f"{case}: ok")


if __name__ == "__main__":
    main()
