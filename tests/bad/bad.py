#!/usr/bin/env python3
"""The catalogue of bad inputs: each case builds malformed files in a fresh
folder, runs lpsparsify on them and asserts

  * the exit code (a clean exit, never a signal),
  * the one line on stderr, "lpsparsify: " + a message matching the case's
    regular expression (it names the file, option or node at fault),
  * that the folder is unchanged afterwards: no output file, no temporary
    file left behind, and no input file modified (same bytes and mtime).

  bad.py LPSPARSIFY --list          the case names, one a line
  bad.py LPSPARSIFY CASE [CASE...]  runs cases; exit 0 when all pass,
                                    77 when all were skipped
  LPS_BAD_WRAPPER="valgrind --error-exitcode=99 ..." runs lpsparsify under
  a wrapper (tests/bad/tests.cmake does this for a sample under valgrind).

The files are generated with python3-onnx and numpy (tests/bad/cases.py).
"""
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402  (after the path tweak)

SKIP = 77
RUN_TIMEOUT_SECONDS = 120
# ASan's note about an allocation it refused (the program then reports it).
ASAN_ALLOCATION_WARNING = re.compile(r"==\d+==WARNING: AddressSanitizer failed to allocate")


def snapshot(folder):
    """Every entry below folder: its type, and for files the mtime and bytes."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    seen[os.path.relpath(path, folder)] = (kind, st.st_mtime_ns, f.read())
            else:
                # A folder's mtime moves when a temporary file came and went.
                seen[os.path.relpath(path, folder)] = (kind,)
    return seen


def describe_changes(before, after):
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append("left behind: " + name)
        elif name not in after:
            changes.append("removed: " + name)
        elif before[name] != after[name]:
            changes.append("modified: " + name)
    return changes


def run_case(binary, name):
    case = cases.CASES[name]
    if case.skip_reason and case.skip_reason():
        print("%s: skipped (%s)" % (name, case.skip_reason()))
        return SKIP
    work = tempfile.mkdtemp(prefix="lps-bad-")
    try:
        case.setup(work)
        before = snapshot(work)
        wrapper = shlex.split(os.environ.get("LPS_BAD_WRAPPER", ""))
        argv = wrapper + [binary] + case.argv
        # Under ASan a failed huge allocation must return NULL, as it does
        # without ASan, so that the clean out-of-memory path is what runs.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                     "allocator_may_return_null=1"]))
        try:
            proc = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL, env=env,
                                  capture_output=True, timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            print("%s: FAIL: no exit within %d s" % (name, RUN_TIMEOUT_SECONDS))
            return 1
        after = snapshot(work)
        errors = []
        stderr = proc.stderr.decode("utf-8", "replace")
        lines = [line for line in stderr.splitlines()
                 if line.strip() and not ASAN_ALLOCATION_WARNING.match(line)]
        if proc.returncode < 0:
            errors.append("killed by signal %d" % -proc.returncode)
        elif proc.returncode != case.exit_code:
            errors.append("exit %d, expected %d" % (proc.returncode, case.exit_code))
        if len(lines) != 1:
            errors.append("stderr has %d lines, expected 1" % len(lines))
        if not lines or not re.fullmatch("lpsparsify: " + case.message, lines[-1]):
            errors.append("message does not match 'lpsparsify: %s'" % case.message)
        if proc.stdout.strip() and not case.stdout_ok:
            errors.append("unexpected stdout")
        errors += describe_changes(before, after)
        if errors:
            print("%s: FAIL: %s\n  command: %s\n  stderr: %s" % (
                name, "; ".join(errors), " ".join(case.argv), stderr.strip()))
            return 1
        print("%s: ok: %s" % (name, lines[-1]))
        return 0
    finally:
        # A case may have made folders read-only; make them removable again.
        for dirpath, dirnames, _ in os.walk(work):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o700)
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    if sys.argv[2] == "--list":
        print("\n".join(cases.CASES))
        return 0
    results = [run_case(binary, name) for name in sys.argv[2:]]
    if all(r == SKIP for r in results):
        return SKIP
    return 1 if any(r not in (0, SKIP) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
