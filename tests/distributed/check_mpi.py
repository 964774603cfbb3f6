#!/usr/bin/env python3
"""Data-parallel runs under mpirun (docs/distributed.md), two ranks on this
machine (--oversubscribe, shared memory and loopback only):

- (mlp, cnn, gmp) equivalence: with the same seed, `mpirun -np 2` at
  --batch B gives the same sparse model as one process at --batch 2B: at
  most 0.1% of each weight's zero positions differ (a weight within float
  summation distance of a threshold can fall on either side of it),
  accuracy within 1 point, the weights both runs keep within 1e-2; the
  report has ranks and global_batch.
  The MLP's training split (2049 samples) ends in a global batch of one
  sample, so one rank's share of it is empty.
- (train) the train command likewise, with no masks to flip: weights within
  1e-3 and accuracy within 0.1 points.
- (fail) a failure on one rank only (its --data is missing) ends the job:
  the rank's exit code, one message, no output written.
- (diverge) ranks that drift apart (another --lr on rank 1) are caught by
  the weight checksum: exit 1 naming it, no output written.
- (sigint) SIGINT to mpirun mid-run: non-zero exit, at most one message,
  no output written.
- (resume) a two-rank run interrupted mid-epoch with --checkpoint (rank 0
  writes it, exit 130) and resumed on two ranks writes the same model, byte
  for byte, as an uninterrupted two-rank run; resuming on one rank is
  refused naming the rank count.

Usage: check_mpi.py CASE LPSPARSIFY MPIRUN WORKDIR SOURCE_DIR
"""
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

FASHION = "/usr/share/datasets/fashion-mnist"
ACCURACY_TOL = 0.001        # 0.1 points
WEIGHT_TOL = 1e-3           # float summation order differs between the runs
# One process sums a batch's gradient in one GEMM, K ranks in K parts and
# then over MPI: weights end ~3e-7 apart, and a weight that close to a drop
# or grow threshold can flip; a flip then moves the weights around it.
# Seeds 1-10 of the MLP case (2026-12-02, docs/distributed.md): 0-45 of
# fc1's 235,200 positions flipped (0.02%), kept weights up to 2.8e-3 apart,
# sparse accuracy up to 0.4 points (4 of 1,001 images). Half of them flipped
# nothing. A wrong gradient average or a rank training other samples moves
# far more than these bounds.
MASK_FLIP_TOL = 1e-3
SPARSE_WEIGHT_TOL = 1e-2
SPARSE_ACCURACY_TOL = 0.01  # 1 point
EXIT_USAGE = 2
EXIT_RUNTIME = 1
RANKS = 2
SIGINT_AFTER_EPOCHS = 1
TIMEOUT = 600


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def idx(path, offset, shape):
    with gzip.open(path) as f:
        data = np.frombuffer(f.read(), np.uint8, offset=offset)
    return data.reshape(shape)


def make_data(workdir, n_train, n_test):
    """A Fashion-MNIST subset as an NPY folder (docs/data.md)."""
    folder = os.path.join(workdir, "data")
    os.makedirs(folder, exist_ok=True)
    for split, stem, n in (("train", "train", n_train), ("t10k", "t10k", n_test)):
        images = idx(f"{FASHION}/{split}-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28))[:n]
        labels = idx(f"{FASHION}/{split}-labels-idx1-ubyte.gz", 8, (-1,))[:n]
        np.save(os.path.join(folder, stem + ".npy"), np.ascontiguousarray(images))
        np.save(os.path.join(folder, stem + "_labels.npy"), labels.astype(np.int64))
    return folder


def environment():
    env = dict(os.environ)
    # One thread per rank and in the single process: the same summation
    # order inside each GEMM, and two ranks fit the two cores.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.getuid() == 0:  # CI containers run as root; mpirun refuses it otherwise
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # ASan builds: Open MPI's own leaks are suppressed (openmpi.supp says
    # why); full unwinding so that their stacks reach its libraries.
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openmpi.supp")
    env["LSAN_OPTIONS"] = ":".join(filter(None, [env.get("LSAN_OPTIONS"),
                                                 "suppressions=" + supp, "print_suppressions=0"]))
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                 "fast_unwind_on_malloc=0"]))
    return env


def mpirun_prefix(mpirun):
    # Loopback only: shared memory between the ranks, the launcher's
    # control channel on lo; orte_execute_quiet drops Open MPI's own banner
    # after MPI_Abort, so the rank's line is the one message.
    return [mpirun, "--oversubscribe", "--mca", "btl", "self,vader",
            "--mca", "oob_tcp_if_include", "lo", "--mca", "orte_execute_quiet", "1"]


def run(cmd, expect=0):
    p = subprocess.run(cmd, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
    if expect is not None and p.returncode != expect:
        fail(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect}\n{p.stdout}\n{p.stderr}")
    return p


def weights(path):
    m = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def compare_models(one, two, check_masks, weight_tol):
    a, b = weights(one), weights(two)
    if a.keys() != b.keys():
        fail(f"{one} and {two} hold different initializers")
    for name in a:
        flipped = (a[name] == 0) != (b[name] == 0)
        if check_masks and a[name].ndim > 1:
            differ = int(flipped.sum())
            if differ > MASK_FLIP_TOL * a[name].size:
                fail(f"{name}: {differ} of {a[name].size} zero positions differ between 1 and "
                     f"{RANKS} ranks")
        kept = ~flipped if check_masks else np.ones(a[name].shape, bool)
        gap = (float(np.abs(a[name][kept].astype(np.float64) - b[name][kept]).max())
               if kept.any() else 0.0)
        if gap > weight_tol:
            fail(f"{name}: weights differ by {gap} between 1 and {RANKS} ranks")


def sparsify_args(model, data, batch, out, extra):
    # --train-bn off: its BatchNorms normalise with each rank's own batch, so
    # K ranks at B are not one process at K*B (it is off with ranks anyway).
    return [model, "--target", "0.9", "--data", data, "--epochs", "2", "--batch", str(batch),
            "--seed", "7", "--storage", "dense", "--train-bn", "off", "-q", "-o", out + ".onnx",
            "--report", out + ".json"] + extra


def check_report(path, ranks, global_batch):
    rep = json.load(open(path))
    if rep.get("ranks") != ranks or rep.get("global_batch") != global_batch:
        fail(f"{path}: ranks {rep.get('ranks')} global_batch {rep.get('global_batch')}, "
             f"expected {ranks} and {global_batch}")
    return rep


def equivalence(tool, mpirun, workdir, model, n_train, n_test, batch, extra):
    data = make_data(workdir, n_train, n_test)
    one, two = os.path.join(workdir, "one"), os.path.join(workdir, "two")
    run([tool] + sparsify_args(model, data, RANKS * batch, one, extra))
    run(mpirun_prefix(mpirun) + ["-np", str(RANKS), tool] +
        sparsify_args(model, data, batch, two, extra))
    r1 = check_report(one + ".json", 1, RANKS * batch)
    r2 = check_report(two + ".json", RANKS, RANKS * batch)
    for key in ("dense", "sparse"):
        gap = abs(r1["accuracy"][key] - r2["accuracy"][key])
        if gap > (ACCURACY_TOL if key == "dense" else SPARSE_ACCURACY_TOL):
            fail(f"{key} accuracy {r1['accuracy'][key]} (1 rank) vs {r2['accuracy'][key]} "
                 f"({RANKS} ranks)")
    compare_models(one + ".onnx", two + ".onnx", check_masks=True, weight_tol=SPARSE_WEIGHT_TOL)
    print(f"ok: masks within {MASK_FLIP_TOL:.1%}, accuracy {r1['accuracy']['sparse']:.4f} vs "
          f"{r2['accuracy']['sparse']:.4f}")


def train_case(tool, mpirun, workdir, src):
    data = make_data(workdir, 1001, 500)
    model = os.path.join(src, "models", "lenet300_init.onnx")
    one, two = os.path.join(workdir, "one.onnx"), os.path.join(workdir, "two.onnx")
    common = ["--data", data, "--epochs", "2", "--seed", "3", "-q"]
    p1 = run([tool, "train", model, "-o", one, "--batch", "64"] + common)
    p2 = run(mpirun_prefix(mpirun) + ["-np", str(RANKS), tool, "train", model, "-o", two,
                                      "--batch", "32"] + common)
    if p1.stdout or p2.stdout or p2.stderr:
        fail(f"-q printed something:\n{p1.stdout}{p2.stdout}{p2.stderr}")
    compare_models(one, two, check_masks=False, weight_tol=WEIGHT_TOL)
    e1 = run([tool, "eval", one, "--data", data, "--json", "-"]).stdout
    e2 = run([tool, "eval", two, "--data", data, "--json", "-"]).stdout
    a1, a2 = json.loads(e1)["accuracy"], json.loads(e2)["accuracy"]
    if abs(a1 - a2) > ACCURACY_TOL:
        fail(f"train accuracy {a1} (1 rank) vs {a2} ({RANKS} ranks)")
    # eval sharded over the ranks, the counts summed: the same figures.
    e3 = run(mpirun_prefix(mpirun) + ["-np", str(RANKS), tool, "eval", two, "--data", data,
                                      "--json", "-"]).stdout
    r2, r3 = json.loads(e2), json.loads(e3)
    if r3["samples"] != r2["samples"] or abs(r3["accuracy"] - r2["accuracy"]) > 1e-12 or \
            abs(r3["loss"] - r2["loss"]) > 1e-6:
        fail(f"eval on {RANKS} ranks {e3} differs from one process {e2}")
    print(f"ok: train accuracy {a1:.4f} vs {a2:.4f}")


def lpsparsify_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("lpsparsify:")]


def check_nothing_written(workdir, stem):
    left = [f for f in os.listdir(workdir) if f.startswith(stem)]
    if left:
        fail(f"files written by a failed job: {left}")


def one_rank_case(tool, mpirun, workdir, src, case):
    """MPMD: rank 0 and rank 1 get different arguments."""
    data = make_data(workdir, 1001, 500)
    model = os.path.join(src, "models", "lenet300.onnx")
    out = os.path.join(workdir, "out")
    good = sparsify_args(model, data, 32, out, [])
    if case == "fail":
        bad = sparsify_args(model, os.path.join(workdir, "missing"), 32, out, [])
        expect, words = EXIT_USAGE, "missing"
    else:
        bad = sparsify_args(model, data, 32, out, ["--lr", "0.05"])
        expect, words = EXIT_RUNTIME, "differ"
    p = run(mpirun_prefix(mpirun) + ["-np", "1", tool] + good + [":", "-np", "1", tool] + bad,
            expect=expect)
    lines = lpsparsify_lines(p.stderr)
    if len(lines) != 1 or words not in lines[0]:
        fail(f"expected one message about '{words}', got:\n{p.stderr}")
    check_nothing_written(workdir, "out")
    print("ok: " + lines[0])


def sigint_case(tool, mpirun, workdir, src):
    data = make_data(workdir, 2049, 500)
    model = os.path.join(src, "models", "lenet300.onnx")
    out = os.path.join(workdir, "out")
    args = sparsify_args(model, data, 32, out, [])
    args[args.index("--epochs") + 1] = "50"
    args.remove("-q")
    p = subprocess.Popen(mpirun_prefix(mpirun) + ["-np", str(RANKS), tool] + args,
                         env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    # Rank 0 prints one line per epoch off a terminal: interrupt mid-run.
    epochs = 0
    deadline = time.time() + TIMEOUT
    while epochs < SIGINT_AFTER_EPOCHS and time.time() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        epochs += line.startswith("epoch ")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=TIMEOUT)
    if epochs < SIGINT_AFTER_EPOCHS:
        fail(f"the job ended before its first epoch: {err}")
    if p.returncode == 0:
        fail("SIGINT to mpirun: exit 0")
    if len(lpsparsify_lines(err)) > 1:
        fail(f"more than one message:\n{err}")
    check_nothing_written(workdir, "out")
    print(f"ok: exit {p.returncode}, {lpsparsify_lines(err)}")


def resume_case(tool, mpirun, workdir, src):
    data = make_data(workdir, 1001, 300)
    model = os.path.join(src, "models", "lenet300.onnx")
    ck = os.path.join(workdir, "ck")
    two = mpirun_prefix(mpirun) + ["-np", str(RANKS), tool]
    full = os.path.join(workdir, "full")
    part = os.path.join(workdir, "part")
    run(two + sparsify_args(model, data, 32, full, []))
    # The test hook raises SIGINT on every rank after step 20 (of 32):
    # the ranks stop together and rank 0 checkpoints.
    env_cmd = ["env", "LPS_TEST_SIGINT_AFTER_STEP=20"]
    p = run(env_cmd + two + sparsify_args(model, data, 32, part, ["--checkpoint", ck]),
            expect=None)
    if p.returncode != 130 or os.path.exists(part + ".onnx"):
        fail(f"interrupted run: exit {p.returncode}, expected 130 and no model\n{p.stderr}")
    if not os.path.exists(os.path.join(ck, "checkpoint.lpsck")):
        fail("no checkpoint written")
    run(two + sparsify_args(model, data, 32, part, ["--checkpoint", ck, "--resume", ck]))
    if open(full + ".onnx", "rb").read() != open(part + ".onnx", "rb").read():
        fail("the resumed model differs from the uninterrupted one")
    p = run([tool] + sparsify_args(model, data, 32, os.path.join(workdir, "one"),
                                   ["--checkpoint", ck, "--resume", ck]), expect=EXIT_USAGE)
    if "ranks differs" not in p.stderr:
        fail(f"resume on one rank: {p.stderr}")
    print("ok: resumed byte-identical; " + p.stderr.strip())


def main():
    case, tool, mpirun, workdir, src = sys.argv[1:6]
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    models = os.path.join(src, "models")
    if case == "mlp":
        equivalence(tool, mpirun, workdir, os.path.join(models, "lenet300.onnx"), 2049, 1001,
                    32, [])
    elif case == "gmp":
        equivalence(tool, mpirun, workdir, os.path.join(models, "lenet300.onnx"), 1001, 500,
                    32, ["--method", "gmp"])
    elif case == "cnn":
        equivalence(tool, mpirun, workdir, os.path.join(models, "cnn.onnx"), 513, 300, 32, [])
    elif case == "train":
        train_case(tool, mpirun, workdir, src)
    elif case in ("fail", "diverge"):
        one_rank_case(tool, mpirun, workdir, src, case)
    elif case == "sigint":
        sigint_case(tool, mpirun, workdir, src)
    elif case == "resume":
        resume_case(tool, mpirun, workdir, src)
    else:
        fail("unknown case " + case)


if __name__ == "__main__":
    main()
