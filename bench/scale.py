#!/usr/bin/python3
"""Data-parallel scaling of lpsparsify training over MPI (docs/distributed.md).

For every model it runs bench/bench_train (the `lpsparsify train` step:
forward, backward, the gradient sum over the ranks, SGD) once as one
process and once as `mpirun -np 2` with the same per-rank batch (weak
scaling, as DistributedDataParallel is used: the global batch doubles), one
OpenBLAS/OpenMP thread per rank, and prints:

- samples/s (global batch / median step time) for 1 and 2 ranks, on the
  wall clock and on rank 0's CPU clock, and the scaling efficiency
  samples/s(2) / (2 * samples/s(1));
- the communication volume per step: the flat gradient (4 bytes per
  parameter, one MPI_Allreduce) plus five doubles of step sums; a ring
  allreduce moves 2 (K - 1) / K times that through every rank's link;
- the median time of that gradient sum measured alone on this machine
  (shared memory between the two ranks);
- the interconnect bandwidth above which K ranks reach 80% efficiency,
  without overlap of communication and computation: the sum may take a
  quarter of the one-rank compute time T, so BW >= 8 (K - 1) / K * V / T
  (latency ignored; the limit for many ranks is 8 V / T).

The models: the bundled MLP (models/lenet300.onnx) and CNN (models/cnn.onnx)
and torchvision's ResNet-18 (10 classes, 3x32x32) exported in training mode
as bench/peer/throughput.py does, on random in-memory samples.

Usage (from the repository root, Release build with LPS_MPI in build-rel):
    /usr/bin/python3 bench/scale.py [--models mlp,cnn,resnet18] [--batch 32] [--steps 20]
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANKS = 2
EFFICIENCY_GOAL = 0.8
STEP_SUMS_BYTES = 5 * 8     # lps_dist_step: five doubles
MEGA = 1e6
GIGA = 1e9


def load_throughput():
    """bench/peer/throughput.py: the model exports and the random data."""
    spec = importlib.util.spec_from_file_location(
        "throughput", os.path.join(ROOT, "bench", "peer", "throughput.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def parse(out):
    rates = {m.group(1): (float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r"^\s+(wall|cpu)\s+training\s+([\d.]+) samples/s\s+([\d.]+) ms/step",
                                  out, re.M)}
    m = re.search(r"allreduce of (\d+) floats \(([\d.]+) MB\) over \d+ ranks: ([\d.]+) ms", out)
    reduce = (int(m.group(1)), float(m.group(3))) if m else None
    if "wall" not in rates:
        raise RuntimeError("bench_train printed no rate:\n" + out)
    return rates, reduce


def bench(cmd):
    p = subprocess.run(cmd, env=environment(), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + p.stderr.strip().splitlines()[-1])
    return parse(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,resnet18")
    ap.add_argument("--batch", type=int, default=32, help="per rank")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (the second epoch)")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build-rel", "bench", "bench_train"))
    ap.add_argument("--mpirun", default="mpirun")
    args = ap.parse_args()
    tp = load_throughput()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            path = tp.onnx_path(name, work)
            data = tp.data_dir(name, args.batch * RANKS, args.steps, work)
            common = ["--no-reference", "--batch", str(args.batch), "--steps", str(args.steps),
                      "--data", data, path]
            one, _ = bench([args.bench] + common)
            two, reduce = bench([args.mpirun, "-np", str(RANKS), "--oversubscribe",
                                 "--mca", "btl", "self,vader", args.bench] + common)
            rows.append((name, one, two, reduce))
            print_row(rows[-1], args.batch)
    print_table(rows, args.batch)


def needed_bandwidth(volume, compute_seconds, ranks):
    """Bytes/s of link bandwidth for EFFICIENCY_GOAL at `ranks` (no overlap)."""
    budget = compute_seconds * (1.0 / EFFICIENCY_GOAL - 1.0)
    return 2.0 * (ranks - 1) / ranks * volume / budget


def print_row(row, batch):
    name, one, two, reduce = row
    print(f"{name}: batch {batch}/rank; 1 rank {one['wall'][0]:.0f} samples/s "
          f"({one['wall'][1]:.2f} ms/step), {RANKS} ranks {two['wall'][0]:.0f} samples/s "
          f"({two['wall'][1]:.2f} ms/step); allreduce {reduce[1]:.3f} ms for {reduce[0]} floats",
          flush=True)


def print_table(rows, batch):
    print(f"\n| model | parameters | MB/step | 1 rank samples/s (wall, cpu) | {RANKS} ranks "
          f"samples/s (wall, cpu) | efficiency (wall, cpu) | allreduce ms | GB/s for 80%, "
          f"K={RANKS} | K large |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, one, two, (floats, reduce_ms) in rows:
        volume = floats * 4 + STEP_SUMS_BYTES
        eff = {k: two[k][0] / (RANKS * one[k][0]) for k in ("wall", "cpu")}
        compute = one["cpu"][1] / 1e3     # one rank's step: the work each rank does
        bw_k = needed_bandwidth(volume, compute, RANKS) / GIGA
        bw_inf = 2.0 * volume / (compute * (1.0 / EFFICIENCY_GOAL - 1.0)) / GIGA
        print(f"| {name} | {floats:,} | {volume / MEGA:.2f} | {one['wall'][0]:.0f}, "
              f"{one['cpu'][0]:.0f} | {two['wall'][0]:.0f}, {two['cpu'][0]:.0f} | "
              f"{eff['wall']:.0%}, {eff['cpu']:.0%} | {reduce_ms:.2f} | {bw_k:.2f} | {bw_inf:.2f} |")
    print(f"\nbatch {batch} per rank, one thread per rank; efficiency = samples/s({RANKS}) / "
          f"({RANKS} x samples/s(1)).")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print("scale.py: " + str(e), file=sys.stderr)
        sys.exit(1)
