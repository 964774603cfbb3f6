#!/usr/bin/python3
"""Training throughput of lpsparsify against PyTorch, both sides in one run.

For every model, batch and thread count this trains the same network on
both sides and prints samples/s, their ratio, and each side's peak RSS:

- PyTorch (Debian python3-torch 1.13): the torch module in train mode, SGD
  with Nesterov momentum 0.9, cross-entropy, torch.set_num_threads(T).
- lpsparsify: the module's training-mode ONNX export (torch.onnx.export with
  training=TrainingMode.TRAINING, do_constant_folding=False, so BatchNorm and
  Dropout are kept), trained by bench/bench_train --no-reference, which runs
  the `lpsparsify train` loop (lps_trainer_run: the same optimiser and loss)
  with OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=T. The bundled models (cnn, mlp)
  are models/*.onnx themselves.

Both sides train on the same random samples held in memory (steps * batch
of them), two epochs, and time every step of the second (load, compile and
the first epoch are excluded); a side's rate is batch / median step time.
The last column, CPU ratio, is the same ratio of batch / median CPU time
per step (the process's, over all its threads): on a shared machine a
side's wall time follows how much of the cores the others leave it, where
its CPU time stays near the quiet figure, so at one thread the CPU ratio
stands in for the quiet one. At two threads it understates PyTorch's side
when its OpenMP threads spin while waiting (that counts as CPU time).
Each side runs in its own process, so peak RSS (ru_maxrss from wait4) is
per side and includes the data and, for PyTorch, the interpreter and
libraries a user also pays. The machine may be shared: the two sides run
interleaved, TRIALS times, and the table shows the median trial.

OpenBLAS: both sides call it (lpsparsify for its GEMMs, PyTorch 1.13 for
Linear and matmul; its convolutions run on oneDNN). A DYNAMIC_ARCH
OpenBLAS 0.3.21 runs its SSE3 Prescott kernel on CPUs newer than it knows
(Intel Emerald Rapids), and lpsparsify then re-executes itself with
OPENBLAS_CORETYPE naming the kernel the CPU can run (docs/architecture.md,
"OpenBLAS's kernel"). PyTorch runs with the same OPENBLAS_CORETYPE, read
off the lpsparsify side (OPENBLAS_VERBOSE), so that the peer is not slowed
by what lpsparsify fixed; a user's own OPENBLAS_CORETYPE is kept on both
sides. The table's header line names the core.

Models lpsparsify cannot load or train print "unsupported: <reason>" (the
first line of its error) in their row.

Usage (from the repository root, Release build in build-rel):
    /usr/bin/python3 bench/peer/throughput.py                 # full grid
    /usr/bin/python3 bench/peer/throughput.py --quick         # batch 64, 2 threads, 4 models
    /usr/bin/python3 bench/peer/throughput.py --models resnet18 --batches 64 --threads 2
    /usr/bin/python3 bench/peer/throughput.py --export-eval /tmp/lps-bench-models
        # writes resnet18-eval.onnx and mobilenetv2-eval.onnx there (eval
        # mode, BatchNorm folded) for bench/forward.sh, and exits
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ["resnet18", "mobilenetv2", "resnet_cnn", "cnn", "mlp", "transformer", "lstm"]
QUICK_MODELS = ["resnet18", "mobilenetv2", "cnn", "mlp"]
CLASSES = 10
LR = 0.01
MOMENTUM = 0.9
OPSET = 17
EPOCHS = 2          # the first warms up, the second is timed
DATA_SEED = 0


# ---------------------------------------------------------------- models

def input_shape(name):
    """Per-sample input shape of a model."""
    if name in ("resnet18", "mobilenetv2"):
        return (3, 32, 32)
    if name in ("transformer", "lstm"):
        return (28, 28)
    return (1, 28, 28)


def make_module(name):
    """The torch module of a bench model (random init, fixed seed)."""
    import torch
    import torchvision
    from torch import nn
    torch.manual_seed(0)
    if name == "resnet18":
        return torchvision.models.resnet18(num_classes=CLASSES)
    if name == "mobilenetv2":
        return torchvision.models.mobilenet_v2(num_classes=CLASSES)
    if name == "resnet_cnn":
        return ResidualCNN()
    if name == "cnn":
        return bundled_cnn()
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100),
                             nn.ReLU(), nn.Linear(100, CLASSES))
    if name == "transformer":
        return TokenTransformer()
    if name == "lstm":
        return TokenLSTM()
    raise ValueError(name)


def bundled_cnn():
    """models/cnn.onnx as a torch module (see models/make_cnn.py)."""
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, 64), nn.ReLU(),
        nn.Linear(64, CLASSES))


def _torch_classes():
    """Module classes that need torch at definition time."""
    from torch import nn

    class ResBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (x if self.down is None else self.down(x)))

    class ResidualCNN(nn.Module):
        """Conv+BN+residual CNN for 28x28: stem 32, blocks 32, 64/2, 128/2."""
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(32), nn.ReLU())
            self.blocks = nn.Sequential(ResBlock(32, 32, 1), ResBlock(32, 64, 2),
                                        ResBlock(64, 128, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(128, CLASSES)

        def forward(self, x):
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    class TokenTransformer(nn.Module):
        """2-layer TransformerEncoder over the 28 rows of an image as tokens."""
        def __init__(self, d_model=64, heads=4, ff=128):
            super().__init__()
            self.embed = nn.Linear(28, d_model)
            layer = nn.TransformerEncoderLayer(d_model, heads, ff, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2)
            self.fc = nn.Linear(d_model, CLASSES)

        def forward(self, x):
            return self.fc(self.encoder(self.embed(x)).mean(dim=1))

    class TokenLSTM(nn.Module):
        """2-layer LSTM over the 28 rows; logits from the last step."""
        def __init__(self, hidden=128):
            super().__init__()
            self.lstm = nn.LSTM(28, hidden, num_layers=2, batch_first=True)
            self.fc = nn.Linear(hidden, CLASSES)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1, :])

    return ResidualCNN, TokenTransformer, TokenLSTM


def ResidualCNN():
    return _torch_classes()[0]()


def TokenTransformer():
    return _torch_classes()[1]()


def TokenLSTM():
    return _torch_classes()[2]()


def onnx_path(name, workdir):
    """The ONNX file lpsparsify trains; exports it on first use."""
    if name == "cnn":
        return os.path.join(ROOT, "models", "cnn.onnx")
    if name == "mlp":
        return os.path.join(ROOT, "models", "lenet300.onnx")
    path = os.path.join(workdir, name + ".onnx")
    if not os.path.exists(path):
        in_child(["--export", path, "--models", name])
    return path


def in_child(argv):
    """Runs this script with argv in a child process. The exports and the
    data are made there, not in the driver: a measured child's ru_maxrss
    starts at the driver's RSS when it forks, so a driver that had imported
    torch (504 MiB) inflated both sides' peak RSS in a fresh workdir."""
    subprocess.run([sys.executable, os.path.abspath(__file__)] + argv, check=True)


def export(name, path):
    import warnings
    import torch
    warnings.simplefilter("ignore")  # the exporter's advice on training-mode exports
    module = make_module(name)
    module.train()
    x = torch.randn((2,) + input_shape(name))
    torch.onnx.export(module, x, path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=OPSET,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)


EVAL_MODELS = ["resnet18", "mobilenetv2"]


def export_eval(name, path):
    """The inference export bench/forward.sh times: eval mode, constant
    folding on (BatchNorm folded into the convolutions), batch dim N."""
    import torch
    module = make_module(name)
    module.eval()
    x = torch.randn((1,) + input_shape(name))
    torch.onnx.export(module, x, path + ".tmp", input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, opset_version=OPSET,
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- data

def data_dir(name, batch, steps, workdir):
    """NPY train split (float samples, int64 labels) for bench_train; the
    torch worker reads the same files."""
    shape = input_shape(name)
    d = os.path.join(workdir, "data-%s-%d" % ("x".join(map(str, shape)), batch * steps))
    if not os.path.exists(os.path.join(d, "train_labels.npy")):
        in_child(["--make-data", d, "--models", name, "--batches", str(batch),
                  "--steps", str(steps)])
    return d


def make_data(d, shape, n):
    import numpy as np
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(DATA_SEED)
    np.save(os.path.join(d, "train.npy"), rng.random((n,) + shape, dtype=np.float32))
    np.save(os.path.join(d, "train_labels.npy"), rng.integers(0, CLASSES, n, dtype=np.int64))


# ---------------------------------------------------------------- workers

def torch_worker(args):
    """Trains the torch module; prints {"samples_per_s": ...} as JSON."""
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    x_all = torch.from_numpy(np.load(os.path.join(args.data, "train.npy")))
    y_all = torch.from_numpy(np.load(os.path.join(args.data, "train_labels.npy")))
    module = make_module(args.model)
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(DATA_SEED)
    steps, b = args.steps, args.batch
    times, cpu_times = [], []
    for epoch in range(EPOCHS):
        perm = torch.randperm(steps * b, generator=gen)
        for s in range(steps):
            t0, c0 = time.perf_counter(), time.process_time()
            idx = perm[s * b:(s + 1) * b]
            x, y = x_all[idx], y_all[idx]
            opt.zero_grad()
            loss = loss_fn(module(x), y)
            loss.backward()
            opt.step()
            if epoch == EPOCHS - 1:
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
    print(json.dumps({"samples_per_s": b / statistics.median(times),
                      "cpu_samples_per_s": b / statistics.median(cpu_times)}))


def run_measured(cmd, env):
    """Runs cmd; returns (returncode, stdout, stderr, peak RSS in MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=errf)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        errf.seek(0)
        return (proc.returncode, out.read().decode(), errf.read().decode(),
                usage.ru_maxrss / 1024.0)


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


BLAS_CORE = re.compile(r"^Core: (\S+)", re.M)


def lps_blas_core(bench):
    """The OpenBLAS core the lpsparsify side runs: the last one OpenBLAS
    names at load (the second, when the program re-executed itself)."""
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    proc = subprocess.run([bench, "--help"], env=env, capture_output=True, text=True)
    cores = BLAS_CORE.findall(proc.stdout + proc.stderr)
    return cores[-1] if cores else None


def run_torch(model, batch, threads, steps, data):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--models", model,
           "--batches", str(batch), "--threads", str(threads), "--steps", str(steps),
           "--data", data]
    rc, out, err, rss = run_measured(cmd, thread_env(threads))
    if rc != 0:
        raise RuntimeError("torch worker failed: " + err.strip().splitlines()[-1])
    rates = json.loads(out.strip().splitlines()[-1])
    return rates["samples_per_s"], rates["cpu_samples_per_s"], rss


WALL_RATE = re.compile(r"^\s*wall\s+training\s+([0-9.]+) samples/s", re.M)
CPU_RATE = re.compile(r"^\s*cpu\s+training\s+([0-9.]+) samples/s", re.M)


def run_lps(bench, path, batch, threads, steps, data):
    """samples/s, CPU samples/s and RSS, or (None, None, reason) when
    lpsparsify cannot train it."""
    cmd = [bench, "--no-reference", "--batch", str(batch), "--steps", str(steps), "--data",
           data, path]
    rc, out, err, rss = run_measured(cmd, thread_env(threads))
    m, cpu = WALL_RATE.search(out), CPU_RATE.search(out)
    if rc != 0 or not m or not cpu:
        lines = (err.strip() or out.strip() or "exit %d" % rc).splitlines()
        reason = lines[-1].replace("bench_train: ", "").replace(path + ": ", "")
        return None, None, reason
    return float(m.group(1)), float(cpu.group(1)), rss


# ---------------------------------------------------------------- driver

def bench_row(args, model, batch, threads):
    steps = args.steps
    data = data_dir(model, batch, steps, args.workdir)
    try:
        path = onnx_path(model, args.workdir)
    except Exception as e:  # an exporter failure is a row, not the end of the run
        return {"model": model, "batch": batch, "threads": threads,
                "unsupported": "export failed: %s" % str(e).splitlines()[0]}
    ours, theirs, ours_rss, theirs_rss, ours_cpu, theirs_cpu = [], [], [], [], [], []
    unsupported = None
    for _ in range(args.trials):
        rate, cpu, rss = run_torch(model, batch, threads, steps, data)
        theirs.append(rate)
        theirs_cpu.append(cpu)
        theirs_rss.append(rss)
        if unsupported is None:
            rate, cpu, rss = run_lps(args.bench, path, batch, threads, steps, data)
            if rate is None:
                unsupported = rss
            else:
                ours.append(rate)
                ours_cpu.append(cpu)
                ours_rss.append(rss)
    row = {"model": model, "batch": batch, "threads": threads,
           "torch_samples_per_s": statistics.median(theirs),
           "torch_cpu_samples_per_s": statistics.median(theirs_cpu),
           "torch_rss_mib": statistics.median(theirs_rss)}
    if unsupported is not None:
        row["unsupported"] = unsupported
    else:
        row.update({"lps_samples_per_s": statistics.median(ours),
                    "lps_cpu_samples_per_s": statistics.median(ours_cpu),
                    "lps_rss_mib": statistics.median(ours_rss)})
        row["ratio"] = row["lps_samples_per_s"] / row["torch_samples_per_s"]
        row["rss_ratio"] = row["lps_rss_mib"] / row["torch_rss_mib"]
        row["cpu_ratio"] = row["lps_cpu_samples_per_s"] / row["torch_cpu_samples_per_s"]
    return row


def format_row(r):
    head = "| %s | %d | %d |" % (r["model"], r["batch"], r["threads"])
    if "torch_samples_per_s" not in r:
        return head + " unsupported: %s | | | | | | |" % r["unsupported"]
    torch_part = " %.1f | %.0f |" % (r["torch_samples_per_s"], r["torch_rss_mib"])
    if "unsupported" in r:
        return head + " unsupported: %s | |%s | | |" % (r["unsupported"], torch_part)
    return head + " %.1f | %.0f | %.1f | %.0f | **%.2fx** | %.2f | %.2fx |" % (
        r["lps_samples_per_s"], r["lps_rss_mib"], r["torch_samples_per_s"],
        r["torch_rss_mib"], r["ratio"], r["rss_ratio"], r["cpu_ratio"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="batch 64, 2 threads, " + ",".join(QUICK_MODELS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="32,64,128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=10, help="steps per epoch (default 10)")
    ap.add_argument("--trials", type=int, default=3, help="interleaved trials (default 3)")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build-rel", "bench", "bench_train"))
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "lps-peer-bench"))
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--export", help=argparse.SUPPRESS)
    ap.add_argument("--export-eval", metavar="DIR",
                    help="write %s as NAME-eval.onnx (eval mode) to DIR and exit"
                    % ",".join(EVAL_MODELS))
    ap.add_argument("--make-data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.export:
        export(args.models, args.export)
        return 0
    if args.export_eval:
        os.makedirs(args.export_eval, exist_ok=True)
        for name in EVAL_MODELS:
            export_eval(name, os.path.join(args.export_eval, name + "-eval.onnx"))
        return 0
    if args.make_data:
        make_data(args.make_data, input_shape(args.models), int(args.batches) * args.steps)
        return 0
    if args.worker:
        args.model, args.batch, args.threads = args.models, int(args.batches), int(args.threads)
        torch_worker(args)
        return 0
    if args.quick:
        args.models, args.batches, args.threads = ",".join(QUICK_MODELS), "64", "2"
    if not os.access(args.bench, os.X_OK):
        print("throughput.py: %s is not built (cmake -S . -B build-rel "
              "-DCMAKE_BUILD_TYPE=Release && cmake --build build-rel)" % args.bench,
              file=sys.stderr)
        return 2
    os.makedirs(args.workdir, exist_ok=True)
    core = lps_blas_core(args.bench)
    if core and "OPENBLAS_CORETYPE" not in os.environ:
        os.environ["OPENBLAS_CORETYPE"] = core
    print("OpenBLAS core of both sides: %s" % (core or "not reported"))
    print("load before: %s" % open("/proc/loadavg").read().strip())
    print("| model | batch | threads | lpsparsify samples/s | lpsparsify RSS MiB | "
          "PyTorch samples/s | PyTorch RSS MiB | ratio | RSS ratio | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for model in args.models.split(","):
        for threads in map(int, args.threads.split(",")):
            for batch in map(int, args.batches.split(",")):
                row = bench_row(args, model, batch, threads)
                rows.append(row)
                print(format_row(row), flush=True)
    print("load after: %s" % open("/proc/loadavg").read().strip())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
