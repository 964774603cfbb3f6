"""Helpers shared by the e2e checks of tests/e2e_sparsify: run the tool,
require an exit code, one sparsify run into a work folder."""
import os
import subprocess


def run(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


def expect(res, code):
    assert res.returncode == code, \
        f"exit {res.returncode} != {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"


def sparsify_into(tool, model, data, workdir, tag, options, *extra, code=0):
    """`tool MODEL --data DATA -o WORKDIR/TAG.onnx --report WORKDIR/TAG.json
    OPTIONS EXTRA` with exit status code; returns (model path, report path)."""
    out = os.path.join(workdir, f"{tag}.onnx")
    report = os.path.join(workdir, f"{tag}.json")
    expect(run(tool, model, "--data", data, "-o", out, "--report", report, *options, *extra), code)
    return out, report
