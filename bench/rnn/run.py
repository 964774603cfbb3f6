#!/usr/bin/env python3
"""Training throughput of recurrent classifiers: lpsparsify against PyTorch
on the same export, in the same run (Debian python3-torch; /usr/bin/python3).

    /usr/bin/python3 bench/rnn/run.py LPSPARSIFY [--threads N] [--kind lstm|gru|rnn]

For each kind: an nn.LSTM / nn.GRU / nn.RNN classifier (batch_first, one
layer, input 32, hidden 128, 32 steps, 4 classes) is exported at opset 13
with its own random weights; both sides then train one epoch of 2048
sequences at batch 64 with SGD (momentum 0.9, Nesterov). PyTorch's time is
the best of two epochs of its own loop; lpsparsify's is the epoch time that
`lpsparsify train` prints (training steps only, evaluation excluded). Prints
samples/s of each side and the ratio ours / PyTorch (> 1: we are faster).
The machine should be otherwise idle: both sides are timed on the same cores.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

SEQ, INPUT, HIDDEN, CLASSES, N, BATCH = 32, 32, 128, 4, 2048, 64
TORCH_TRIALS = 2


class Classifier(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](INPUT, HIDDEN,
                                                                          batch_first=True)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def torch_rate(model, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    best = float("inf")
    for _ in range(TORCH_TRIALS):
        start = time.perf_counter()
        for i in range(0, N, BATCH):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + BATCH]), y[i:i + BATCH]).backward()
            opt.step()
        best = min(best, time.perf_counter() - start)
    return N / best


def ours_rate(tool, model_path, data, threads, workdir):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    res = subprocess.run([tool, "train", model_path, "--data", data, "-o",
                          os.path.join(workdir, "out.onnx"), "--epochs", "1", "--batch",
                          str(BATCH)], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"lpsparsify train failed: {res.stderr}")
    seconds = float(re.search(r"epoch 1: .* ([0-9.]+)s\s*$", res.stderr, re.M).group(1))
    return N / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kind", action="append", choices=["lstm", "gru", "rnn"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {args.threads}, {N} sequences of {SEQ}x{INPUT}, hidden {HIDDEN}, batch {BATCH}")
    print(f"{'kind':6} {'ours samples/s':>15} {'torch samples/s':>16} {'ratio':>7}")
    for kind in args.kind or ["lstm", "gru", "rnn"]:
        with tempfile.TemporaryDirectory() as work:
            x = torch.randn(N, SEQ, INPUT)
            y = (x[:, -1, 0] > 0).long() + 2 * (x[:, 0, 1] > 0).long()
            data = os.path.join(work, "data")
            os.makedirs(data)
            for split in ("train", "test"):
                np.save(os.path.join(data, f"{split}.npy"), x.numpy())
                np.save(os.path.join(data, f"{split}_labels.npy"), y.numpy())
            model = Classifier(kind)
            path = os.path.join(work, f"{kind}.onnx")
            torch.onnx.export(model, x[:2], path, opset_version=13, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
            ours = ours_rate(args.tool, path, data, args.threads, work)
            ref = torch_rate(model, x, y)
            print(f"{kind:6} {ours:15.0f} {ref:16.0f} {ours / ref:7.2f}")


if __name__ == "__main__":
    main()
