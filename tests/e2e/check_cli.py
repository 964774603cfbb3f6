#!/usr/bin/env python3
"""Command-line behaviour of lpsparsify: exit codes, one-line errors, output
routing of `inspect`. Standard library only.

Usage: check_cli.py CASE LPSPARSIFY WORKDIR SOURCE_DIR
"""
import json
import os
import shutil
import subprocess
import sys

USAGE = 2


def run(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


def expect(res, code, stdout_has=None, stderr_has=None):
    assert res.returncode == code, f"exit {res.returncode} != {code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    if stdout_has is not None:
        assert stdout_has in res.stdout, f"{stdout_has!r} not in stdout: {res.stdout}"
    if stderr_has is not None:
        assert stderr_has in res.stderr, f"{stderr_has!r} not in stderr: {res.stderr}"


def one_error_line(res, starts_with):
    lines = res.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {res.stderr!r}"
    assert lines[0].startswith(starts_with), f"{lines[0]!r} does not start with {starts_with!r}"
    assert res.stdout == "", f"unexpected stdout: {res.stdout!r}"


def case_help(tool, workdir, lenet):
    res = run(tool, "--help")
    expect(res, 0, stdout_has="inspect")
    expect(run(tool, "-h"), 0, stdout_has="Usage:")
    expect(run(tool, "inspect", "--help"), 0, stdout_has="--json")


def case_version(tool, workdir, lenet):
    res = run(tool, "--version")
    expect(res, 0)
    assert res.stdout.startswith("lpsparsify "), res.stdout


def case_unknown_option(tool, workdir, lenet):
    for args, bad in ((["--bogus"], "--bogus"), (["inspect", "--bogus", lenet], "--bogus"),
                      (["inspect", "-x", lenet], "-x")):
        res = run(tool, *args)
        expect(res, USAGE)
        one_error_line(res, "lpsparsify: ")
        assert f"'{bad}'" in res.stderr, res.stderr
    res = run(tool, "inspect", lenet, "--json")
    expect(res, USAGE, stderr_has="--json")
    one_error_line(res, "lpsparsify: inspect: ")


def case_bad_usage(tool, workdir, lenet):
    for args in ([], ["inspect"], ["inspect", lenet, lenet], ["frobnicate"]):
        res = run(tool, *args)
        expect(res, USAGE)
        assert res.stdout == "", res.stdout
    one_error_line(run(tool, "frobnicate"), "lpsparsify: unknown command 'frobnicate'")


def case_missing_file(tool, workdir, lenet):
    missing = os.path.join(workdir, "no-such-model.onnx")
    res = run(tool, "inspect", missing)
    expect(res, USAGE)
    one_error_line(res, f"lpsparsify: {missing}: ")
    res = run(tool, "inspect", workdir)
    expect(res, USAGE)
    one_error_line(res, f"lpsparsify: {workdir}: ")


def case_bad_model(tool, workdir, lenet):
    os.makedirs(workdir, exist_ok=True)
    junk = os.path.join(workdir, "junk.onnx")
    with open(junk, "wb") as f:
        f.write(b"\xff\xff\xff\xff this is not a protobuf")
    res = run(tool, "inspect", junk)
    expect(res, USAGE)
    one_error_line(res, f"lpsparsify: {junk}: ")


def case_default_command(tool, workdir, lenet):
    """`lpsparsify MODEL ...` runs the `sparsify` command with the same arguments;
    while no sparsify command is registered it is a clear usage error."""
    os.makedirs(workdir, exist_ok=True)
    other = os.path.join(workdir, "model.bin")  # an existing file without .onnx
    shutil.copyfile(lenet, other)
    registered = run(tool, "sparsify", "--help").returncode == 0
    for model in (lenet, other):
        res = run(tool, model, "--help")
        if registered:
            expect(res, 0)
            assert res.stdout == run(tool, "sparsify", "--help").stdout, "default is not sparsify"
        else:
            expect(res, USAGE, stderr_has="sparsifying is not available")
            one_error_line(res, f"lpsparsify: {model}: ")


def case_json_routing(tool, workdir, lenet):
    os.makedirs(workdir, exist_ok=True)
    to_stdout = run(tool, "inspect", lenet, "--json", "-")
    expect(to_stdout, 0)
    report = json.loads(to_stdout.stdout)  # nothing but the JSON on stdout
    out = os.path.join(workdir, "report.json")
    if os.path.exists(out):
        os.unlink(out)
    to_file = run(tool, "inspect", lenet, "--json", out)
    expect(to_file, 0, stdout_has="fc1.weight")
    with open(out) as f:
        assert json.load(f) == report, "file and stdout reports differ"
    assert [n for n in os.listdir(workdir) if n.startswith(".report.json")] == [], "temporary left"
    table = run(tool, "inspect", lenet)
    expect(table, 0)
    assert table.stdout == to_file.stdout
    lines = table.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    rows = lines[header + 1:header + 4]
    assert [r.split()[0] for r in rows] == ["fc1.weight", "fc2.weight", "fc3.weight"], rows
    col = lines[header].index("params") + len("params")
    for r in rows:  # right-aligned numbers end under their header
        assert r[col - 1].isdigit() and r[col] == " ", f"misaligned: {r!r}"
    res = run(tool, "inspect", lenet, "--json", lenet)
    expect(res, USAGE)
    one_error_line(res, f"lpsparsify: {lenet}: ")


CASES = {f.__name__[5:]: f for f in (case_help, case_version, case_unknown_option, case_bad_usage,
                                      case_missing_file, case_bad_model, case_default_command,
                                      case_json_routing)}


def main():
    case, tool, workdir, source = sys.argv[1:5]
    CASES[case](tool, workdir, os.path.join(source, "models", "lenet300.onnx"))
    print(f"{case}: ok")


if __name__ == "__main__":
    main()
