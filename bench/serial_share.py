#!/usr/bin/python3
"""How much of a profiled run executes outside the ops' parallel regions.

Reads `perf script -F comm,pid,tid,ip,sym` output of a run recorded with
call graphs and counts the samples of the main thread (tid == pid) that
have no OpenMP region (`*_omp_fn*`) and no OpenBLAS server thread on their
stack: the work only one core does while the others wait. Prints that
share of all samples, then the serial samples by leaf function and by the
nearest op or trainer function on the stack (docs/benchmarks.md, "Serial
passes on threads").

Usage (Release build in build-rel, a training-mode export from
bench/peer/throughput.py --workdir DIR):
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 perf record -F 500 \\
        --call-graph dwarf,16384 -o run.data build-rel/bench/bench_train \\
        --no-reference --batch 64 --steps 10 --data DIR/data-1x28x28-640 \\
        DIR/resnet_cnn.onnx
    perf script -F comm,pid,tid,ip,sym -i run.data | bench/serial_share.py
"""
import collections
import re
import sys

TOP = 20
# a parallel region's outlined body, or OpenBLAS's own worker threads
PARALLEL = re.compile(r"_omp_fn|blas_thread")
# the frames worth naming as the owner of a serial sample
OWNER = re.compile(r"forward|backward|_step|sgd|softmax|loss|bn_|pool|zero|exec|train|feeder",
                   re.I)
HEADER = re.compile(r"\s*(\S+)\s+(\d+)/(\d+)")


def read_samples(lines):
    """[(pid, tid, [frames, leaf first])] of perf script output."""
    samples, cur = [], None
    for line in lines:
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
        elif not line.startswith(("\t", " ")):
            m = HEADER.match(line)
            cur = (int(m.group(2)), int(m.group(3)), []) if m else None
        elif cur:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                cur[2].append(re.sub(r"\s*\(.*$", "", parts[1]))
    if cur:
        samples.append(cur)
    return samples


def owner(frames):
    for f in frames:
        if OWNER.search(f) and not f.startswith("__"):
            return f
    return frames[0] if frames else "?"


def main():
    samples = read_samples(sys.stdin)
    if not samples:
        sys.exit("serial_share: no samples on stdin (perf script -F comm,pid,tid,ip,sym)")
    serial = [s for s in samples if s[0] == s[1] and not any(PARALLEL.search(f) for f in s[2])]
    total = len(samples)
    print("samples %d, main thread outside parallel regions %d (%.1f%%)"
          % (total, len(serial), 100.0 * len(serial) / total))
    # OpenBLAS's own kernels have no frame pointers, so the main thread's
    # part of a GEMM threaded by OpenBLAS counts as serial above; the main
    # thread's excess over the busiest other thread does not depend on
    # the stacks (both threads work in a balanced parallel pass).
    per_tid = collections.Counter(s[1] for s in samples)
    main_tid = samples[0][0]
    others = [n for tid, n in per_tid.items() if tid != main_tid]
    busiest = max(others) if others else 0
    print("main thread %d samples, busiest other thread %d: excess %d (%.1f%%)"
          % (per_tid[main_tid], busiest, per_tid[main_tid] - busiest,
             100.0 * (per_tid[main_tid] - busiest) / total))
    for title, key in (("leaf", lambda s: s[2][0] if s[2] else "?"),
                       ("owner", lambda s: owner(s[2]))):
        print("-- serial by %s" % title)
        for name, count in collections.Counter(key(s) for s in serial).most_common(TOP):
            print("%6.2f%%  %s" % (100.0 * count / total, name))


if __name__ == "__main__":
    main()
