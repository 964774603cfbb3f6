"""End-to-end checks of image folders and input adaptation (one ctest per case).

    check_images.py LPSPARSIFY SOURCE_DIR CASE

Cases:
  folder_vs_npy  the bundled CNN evaluated on a folder of 28x28 PNG/JPEG files
                 (every kind make_folder.py writes) and on an NPY of the same
                 images: accuracies within 1 point (JPEG is lossy)
  sparsify       sparsify the bundled CNN from a folder of mixed sizes with
                 --augment light and --val-split: report names the classes and
                 the splits, onnxruntime-free checks of the written model
  skip_bad       a corrupt file fails the run naming it (exit 2, nothing
                 written); --skip-bad leaves it out and the report lists it
  fashion_rgb32  --data fashion-mnist feeds a 3x32x32 model unchanged on the
                 command line; the adaptation is said in one line
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_GAP_POINTS = 1.0


def run(argv, expect=0):
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != expect:
        sys.exit(f"{' '.join(argv)}: exit {proc.returncode} (wanted {expect}): {proc.stderr.strip()}")
    return proc


def make_folder(out, *flags):
    run([sys.executable, os.path.join(HERE, "make_folder.py"), out] + list(flags))


def accuracy(lps, model, data, *extra):
    proc = run([lps, "eval", model, "--data", data, "--json", "-"] + list(extra))
    return json.loads(proc.stdout)["accuracy"]


def case_folder_vs_npy(lps, source, tmp):
    folder = os.path.join(tmp, "f")
    make_folder(folder, "--train", "5", "--test", "60", "--npy", "--native")
    model = os.path.join(source, "models", "cnn.onnx")
    a = accuracy(lps, model, folder)
    b = accuracy(lps, model, os.path.join(folder, "npy"))
    print(f"folder {a:.4f}, npy {b:.4f}")
    if abs(a - b) * 100 > MAX_GAP_POINTS:
        sys.exit(f"folder accuracy {a:.4f} and NPY accuracy {b:.4f} differ by more than 1 point")


def case_sparsify(lps, source, tmp):
    folder = os.path.join(tmp, "f")
    make_folder(folder, "--train", "20", "--test", "10")
    out, rep = os.path.join(tmp, "s.onnx"), os.path.join(tmp, "r.json")
    proc = run([lps, os.path.join(source, "models", "cnn.onnx"), "--target", "0.5", "--epochs", "1",
                "--data", folder, "--augment", "light", "--val-split", "0.2", "--batch", "32",
                "--seed", "3", "-o", out, "--report", rep])
    if "lpsparsify: data: train: PNG/JPEG files -> 1x28x28 (NCHW)" not in proc.stderr:
        sys.exit("no adaptation line on stderr: " + proc.stderr)
    r = json.load(open(rep))
    want = sorted(os.listdir(os.path.join(folder, "train")))
    if r.get("classes") != want:
        sys.exit(f"classes {r.get('classes')} != {want}")
    if r.get("evaluation_split") != "val" or "test" not in r or r.get("skipped") != []:
        sys.exit("report lacks evaluation_split/test/skipped: " + json.dumps(r)[:400])
    m = onnx.load(out)
    onnx.checker.check_model(m)


def case_skip_bad(lps, source, tmp):
    folder = os.path.join(tmp, "f")
    make_folder(folder, "--train", "3", "--test", "3")
    bad = os.path.join(folder, "train", "3_dress", "zz_truncated.png")
    with open(os.path.join(folder, "train", "3_dress", sorted(os.listdir(
            os.path.join(folder, "train", "3_dress")))[0]), "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + data[8:30])
    out, rep = os.path.join(tmp, "s.onnx"), os.path.join(tmp, "r.json")
    base = [lps, os.path.join(source, "models", "cnn.onnx"), "--target", "0.5", "--epochs", "1",
            "--data", folder, "-q", "-o", out, "--report", rep]
    proc = run(base, expect=2)
    if "zz_truncated.png" not in proc.stderr or os.path.exists(out) or os.path.exists(rep):
        sys.exit("a corrupt image must fail naming it, writing nothing: " + proc.stderr)
    run(base + ["--skip-bad"])
    skipped = json.load(open(rep))["skipped"]
    if len(skipped) != 1 or "zz_truncated.png" not in skipped[0]:
        sys.exit(f"skipped {skipped}")


def rgb32_model(path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.standard_normal((10, 3 * 32 * 32)) * 0.01).astype(np.float32), "w")
    nodes = [helper.make_node("Flatten", ["x"], ["f"]),
             helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "rgb32", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def case_fashion_rgb32(lps, source, tmp):
    model = os.path.join(tmp, "rgb32.onnx")
    rgb32_model(model)
    proc = run([lps, "eval", model, "--data", "fashion-mnist"])
    line = "lpsparsify: data: test: 28x28 grey -> 3x32x32 (NCHW), grey to RGB, " \
           "resize shorter side to 36, centre crop 32, augment none"
    if line not in proc.stderr:
        sys.exit("adaptation line missing: " + proc.stderr)


def main():
    lps, source, case = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        globals()["case_" + case](lps, source, tmp)


if __name__ == "__main__":
    main()
