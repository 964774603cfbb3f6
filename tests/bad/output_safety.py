#!/usr/bin/env python3
"""Output safety of lpsparsify, end to end (setup as in tests/bad/cases.py).

  output_safety.py LPSPARSIFY interrupt COMMAND SIGNAL
      Starts `lpsparsify COMMAND` (sparsify or train) on a dataset big enough
      to train for minutes, waits for the first epoch line, sends SIGNAL (INT
      or TERM) and expects exit 130, the one-line "interrupted" message, no
      output or temporary file, and the input unchanged.
  output_safety.py LPSPARSIFY read_only_input COMMAND
      Runs COMMAND to completion on a read-only (0444) model and expects the
      outputs written and the model's bytes and mtime unchanged (the mtime
      check matters as root, who may write to a 0444 file).
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bad  # noqa: E402
import cases  # noqa: E402

INTERRUPTED_EXIT = 130
BIG_ROWS = 20000
LONG_EPOCHS = "100000"
FIRST_EPOCH_TIMEOUT_SECONDS = 60
EXIT_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.05
READ_ONLY_FILE_MODE = 0o444


def command_line(command, epochs, quiet):
    data = cases.CSV_DATA + ["--epochs", epochs] + (["-q"] if quiet else [])
    if command == "sparsify":
        return ["model.onnx", "--target", "0.5"] + data + cases.SPARSIFY_OUT
    if command == "train":
        return ["train", "model.onnx", "-o", "out/trained.onnx"] + data
    sys.exit("unknown command " + command)


def big_csv():
    rows = cases.csv_rows(BIG_ROWS)
    return "\n".join(rows) + "\n"


def fail(msg):
    print("FAIL: " + msg)
    return 1


def interrupt(binary, command, signame, work):
    cases.base(work, data=big_csv())
    before = bad.snapshot(work)
    log = os.path.join(tempfile.mkdtemp(prefix="lps-interrupt-log-"), "stderr")
    try:
        with open(log, "wb") as err:
            proc = subprocess.Popen([binary] + command_line(command, LONG_EPOCHS, False),
                                    cwd=work, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.monotonic() + FIRST_EPOCH_TIMEOUT_SECONDS
            # The handlers are in place once training runs: wait for epoch 1.
            while b"epoch 1:" not in open(log, "rb").read():
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    return fail("no first epoch line; exit %s" % proc.poll())
                time.sleep(POLL_SECONDS)
            proc.send_signal(getattr(signal, "SIG" + signame))
            try:
                code = proc.wait(EXIT_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                return fail("no exit within %d s of SIG%s" % (EXIT_TIMEOUT_SECONDS, signame))
        stderr = open(log, "rb").read().decode("utf-8", "replace").splitlines()
    finally:
        shutil.rmtree(os.path.dirname(log), ignore_errors=True)
    errors = []
    if code != INTERRUPTED_EXIT:
        errors.append("exit %d, expected %d" % (code, INTERRUPTED_EXIT))
    last = stderr[-1] if stderr else ""
    if not re.fullmatch(r"lpsparsify: interrupted at epoch \d+ step \d+.*", last):
        errors.append("last stderr line is '%s'" % last)
    errors += bad.describe_changes(before, bad.snapshot(work))
    if errors:
        return fail("; ".join(errors))
    print("ok: SIG%s -> exit %d, '%s'" % (signame, code, last))
    return 0


def read_only_input(binary, command, work):
    cases.base(work)
    model = os.path.join(work, "model.onnx")
    os.chmod(model, READ_ONLY_FILE_MODE)
    before = bad.snapshot(work)["model.onnx"]
    proc = subprocess.run([binary] + command_line(command, "1", True), cwd=work,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=bad.RUN_TIMEOUT_SECONDS)
    errors = []
    if proc.returncode != 0:
        errors.append("exit %d: %s" % (proc.returncode, proc.stderr.decode().strip()))
    after = bad.snapshot(work)
    if after.get("model.onnx") != before:
        errors.append("the read-only model was modified")
    written = sorted(name for name in after if name.startswith("out/"))
    if not written:
        errors.append("no output written")
    if any("tmp" in name for name in written):
        errors.append("temporary file left: %s" % written)
    if errors:
        return fail("; ".join(errors))
    print("ok: model unchanged, wrote %s" % ", ".join(written))
    return 0


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="lps-safety-")
    try:
        if sys.argv[2] == "interrupt" and len(sys.argv) == 5:
            return interrupt(binary, sys.argv[3], sys.argv[4], work)
        if sys.argv[2] == "read_only_input":
            return read_only_input(binary, sys.argv[3], work)
        sys.exit(__doc__)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
