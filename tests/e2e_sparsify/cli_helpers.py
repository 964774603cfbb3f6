"""Helpers shared by the e2e checks of tests/e2e_sparsify: run the tool,
require an exit code."""
import subprocess


def run(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


def expect(res, code):
    assert res.returncode == code, \
        f"exit {res.returncode} != {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
