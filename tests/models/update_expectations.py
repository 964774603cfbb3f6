#!/usr/bin/env python3
"""Rewrites tests/models/expectations.txt from what every fixture does now.

    python3 tests/models/update_expectations.py BUILD_DIR [NAME...]

Runs check_torch.py with every check expected to pass (two at a time) for the named
fixtures (default: all) and writes each one's line: ok; unsupported: OPS when the
model does not load (OPS: the op named by the error first, then every other op type
of the fixture that has no case in tests/unit/op_cases.h, i.e. no registry entry); or xfail CHECK: TEXT for the
first failing check, TEXT being its message up to the first number or path. Review
the diff: an xfail line is a known gap to explain, not a result to accept blindly.
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "torch")
EXPECTATIONS = os.path.join(HERE, "expectations.txt")
SOURCE = os.path.dirname(os.path.dirname(HERE))


def registry_names():
    """The ONNX op types lpsparsify implements: tests/unit/op_cases.h has a case per
    registry entry (test_registry fails on a def without one)."""
    with open(os.path.join(SOURCE, "tests", "unit", "op_cases.h")) as f:
        return set(re.findall(r'OP_CASE\("([A-Za-z]+)"', f.read()))


def probe(build, node, entry):
    work = os.path.join(build, "torch_probe", entry["name"])
    r = subprocess.run([sys.executable, os.path.join(HERE, "check_torch.py"), os.path.join(build, "lpsparsify"),
                        node, work, ROOT, "ok", entry["name"]], capture_output=True, text=True)
    return r.returncode, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""


def line_for(entry, rc, message, supported):
    if rc == 0:
        return "ok"
    m = re.search(r"\((\w+)\): operator is not supported", message)
    if m:
        ops = [m.group(1)] + sorted(set(entry["ops"]) - supported - {m.group(1)})
        return "unsupported: " + ", ".join(ops)
    m = re.match(r"check_torch: [^:]+: (\w+): (.*)", message)
    if not m:
        return f"xfail ???: {message}"
    text = re.sub(r"^lpsparsify \w+ exited \d+: (lpsparsify: )?", "", m.group(2))
    text = re.sub(r"\S*/\S*:?\s*", "", text)
    text = re.split(r"\s-?\d[\d.e-]*\b", " " + text)[0].strip(" :(")
    return f"xfail {m.group(1)}: {text}"


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: update_expectations.py BUILD_DIR [NAME...]")
    build, names = sys.argv[1], set(sys.argv[2:])
    node = shutil.which("node") or shutil.which("nodejs")
    with open(os.path.join(ROOT, "manifest.json")) as f:
        entries = [e for e in json.load(f)["fixtures"] if "export_error" not in e]
    with open(EXPECTATIONS) as f:
        lines = f.read().splitlines()
    header = [l for l in lines if l.startswith("#") or not l.strip()]
    current = {l.split()[0]: l.split(None, 1)[1] for l in lines if l.strip() and not l.startswith("#")}
    todo = [e for e in entries if not names or e["name"] in names]
    supported = registry_names()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(zip((e["name"] for e in todo), pool.map(lambda e: probe(build, node, e), todo)))
    for e in todo:
        current[e["name"]] = line_for(e, *results[e["name"]], supported)
    body = [f"{e['name']:32s} {current[e['name']]}" for e in entries if e["name"] in current]
    with open(EXPECTATIONS, "w") as f:
        f.write("\n".join(header + body) + "\n")
    ok = sum(1 for e in entries if current.get(e["name"]) == "ok")
    print(f"update_expectations: {ok} of {len(entries)} fixtures ok")


if __name__ == "__main__":
    main()
