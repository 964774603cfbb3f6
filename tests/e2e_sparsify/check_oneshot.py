#!/usr/bin/env python3
"""End-to-end checks of the calibrated one-shot methods (docs/method.md,
"One-shot pruning from calibration") on check_sparsify.py's generated
Conv + Gemm model:

- --epochs 0 with wanda and sparsegpt writes a valid model, every layer at
  its target (per-layer allocation), no epoch in the report, and the
  report keys calibration_samples, oneshot_seconds and per-layer
  reconstruction_error;
- Wanda's masks are recomputed here with numpy from the whole training
  split (--calibration 512 takes every sample, so the shuffle does not
  matter): the Conv's from its im2col columns, fc1's from the outputs of
  the already pruned Conv;
- one epoch after the one-shot result keeps its mask frozen;
- --finetune lpss after Wanda: the report has the frozen path's keys and
  the same one-shot figures, semi-pruning moves the one-shot mask and every
  layer ends at its target; lpss without a one-shot method or with
  --epochs 0 is a usage error;
- --pattern 2:4 with wanda and sparsegpt passes check_pattern.py's
  independent N:M check on the written file;
- --epochs 0 with a method that prunes while training is a usage error.

The lenet case recomputes Wanda on the bundled LeNet-300-100 and the
Fashion-MNIST training split (all 60,000 samples calibrate, so the shuffle
does not matter), per row and with --wanda-group layer: every layer's
input is the previous pruned layer's output, computed here.

Usage: check_oneshot.py generated LPSPARSIFY WORKDIR
       check_oneshot.py lenet LPSPARSIFY WORKDIR SOURCE_DIR
"""
import gzip
import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_pattern as cp  # noqa: E402
import check_sparsify as cs  # noqa: E402


def im2col(x):
    """[N, C, 8, 8] padded by 1 -> [N * 64, C * 9] rows ordered (c, kh, kw)."""
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([pad[:, :, i:i + 8, j:j + 8] for i in range(3) for j in range(3)], axis=2)
    n, c = x.shape[:2]
    return cols.reshape(n, c * 9, 64).transpose(0, 2, 1).reshape(n * 64, c * 9)


def share(target, start, length):
    """lps_select_share: llround rounds halves away from zero (Python's round() to even)."""
    return int(np.floor(target * (start + length) + 0.5)) - int(np.floor(target * start + 0.5))


def wanda_mask(w2d, x, target, per_layer=False):
    """Kept (True) positions of w2d [rows, fan-in] for activations x [positions, fan-in]:
    the lowest |W_ij| * ||X_j||_2 pruned per row, or over the whole layer (ties by position)."""
    score = np.abs(w2d.astype(np.float64)) * np.sqrt((x.astype(np.float64) ** 2).sum(axis=0))
    keep = np.ones_like(w2d, dtype=bool)
    if per_layer:
        keep.ravel()[np.argsort(score.ravel(), kind="stable")[:share(target, 0, w2d.size)]] = False
        return keep
    cols = w2d.shape[1]
    for r in range(w2d.shape[0]):
        keep[r, np.argsort(score[r], kind="stable")[:share(target, r * cols, cols)]] = False
    return keep


def fc1_inputs(w, x):
    b = w["conv.bias"]
    y = np.einsum("pk,mk->pm", im2col(x), w["conv.weight"].reshape(8, 9)) + b
    y = np.maximum(y, 0).reshape(x.shape[0], 64, 8).transpose(0, 2, 1).reshape(-1, 8, 8, 8)
    return y.reshape(-1, 8, 4, 2, 4, 2).max(axis=(3, 5)).reshape(x.shape[0], -1)


def check_wanda(w_in, w_out, data, target):
    x = np.load(os.path.join(data, "train.npy"))
    conv = w_in["conv.weight"].reshape(8, 9)
    want = wanda_mask(conv, im2col(x), target)
    got = w_out["conv.weight"].reshape(8, 9) != 0
    assert (want == got).all(), f"conv mask differs at {np.argwhere(want != got)[:5]}"
    want = wanda_mask(w_in["fc1.weight"], fc1_inputs(w_out, x), target)
    got = w_out["fc1.weight"] != 0
    assert (want == got).mean() > 0.999, f"fc1 masks agree on {(want == got).mean():.4f}"
    # no weight update: kept weights are the input's
    for name in cs.PRUNABLE:
        kept = w_out[name] != 0
        assert np.array_equal(w_out[name][kept], w_in[name][kept]), name


def check_oneshot_report(rep, method, target, w):
    assert rep["method"] == method and rep["epochs"] == []
    assert rep["calibration_samples"] == 512, rep["calibration_samples"]
    assert 0 <= rep["oneshot_seconds"] < 60
    for layer in rep["layers"]:
        err = layer["reconstruction_error"]
        assert isinstance(err, float) and 0 < err < 1, (layer["name"], err)
        got = cs.sparsity(w, [layer["name"]])
        assert abs(got - target) <= cs.TARGET_TOL, (method, layer["name"], got)


def check_finetune_lpss(tool, path, data, workdir, w_oneshot, target):
    args = ("--target", str(target), "--method", "wanda", "--calibration", "512",
            "--epochs", "4")
    # 32 steps that move the survivors; frozen fine-tuning reads no LpSGD option
    own = {"frozen": (), "lpss": ("--lpsgd-lr", "0.5")}
    runs = {}
    for finetune in ("frozen", "lpss"):
        out, report = cs.sparsify(tool, path, data, workdir, "wanda_ft_" + finetune, *args,
                                  *own[finetune], "--finetune", finetune)
        runs[finetune] = (cs.check_output(path, out), cs.strict_json(report))
    (w_frozen, frozen), (w_lpss, lpss) = runs["frozen"], runs["lpss"]
    assert frozen["finetune"] == "frozen" and lpss["finetune"] == "lpss"
    assert set(frozen) == set(lpss), set(frozen) ^ set(lpss)
    for key in ("method", "calibration_samples", "target"):
        assert frozen[key] == lpss[key], key
    for a, b in zip(frozen["layers"], lpss["layers"]):
        assert set(a) == set(b), set(a) ^ set(b)
        # the same one-shot pass on both paths
        assert a["reconstruction_error"] == b["reconstruction_error"], a["name"]
        assert a["p"] is None and b["p"] > 1, (a["p"], b["p"])
    moved = 0
    for name in cs.PRUNABLE:
        assert np.array_equal(w_frozen[name] == 0, w_oneshot[name] == 0), f"frozen: {name} moved"
        got = cs.sparsity(w_lpss, [name])
        assert abs(got - target) <= cs.TARGET_TOL, (name, got)
        moved += int(((w_lpss[name] == 0) != (w_oneshot[name] == 0)).sum())
    assert moved > 0, "--finetune lpss left the one-shot mask as it was"
    print(f"finetune lpss: {moved} mask positions moved, accuracy frozen "
          f"{frozen['accuracy']['sparse']:.4f}, lpss {lpss['accuracy']['sparse']:.4f}")
    never = os.path.join(workdir, "never.onnx")
    # Refused before the model is read: a missing model gets the same message.
    missing = os.path.join(workdir, "missing.onnx")
    for extra, message in ((["--method", "lpss", "--epochs", "1"], "fine-tunes after a one-shot"),
                           (["--method", "wanda", "--epochs", "0"], "needs --epochs > 0"),
                           (["--method", "magnitude", "--epochs", "1", "--stats-fix", "on"],
                            "--stats-fix on: corrects statistics while LpSS or GMP prune")):
        for model in (path, missing):
            res = cs.run(tool, model, "--data", data, "--target", "0.5", "--finetune", "lpss",
                         *extra, "-o", never, "-q")
            cs.expect(res, cs.EXIT_USAGE)
            assert message in res.stderr and not os.path.exists(never), res.stderr


def case_oneshot(tool, workdir):
    path, data = cs.setup(workdir)
    w_in = cs.weights_of(onnx.load(path))
    target = 0.5
    for method in ("wanda", "sparsegpt"):
        out, report = cs.sparsify(tool, path, data, workdir, method, "--target", str(target),
                                  "--method", method, "--calibration", "512", "--epochs", "0")
        w = cs.check_output(path, out)
        check_oneshot_report(cs.strict_json(report), method, target, w)
        if method == "wanda":
            check_wanda(w_in, w, data, target)
            check_finetune_lpss(tool, path, data, workdir, w, target)
        # fine-tuning afterwards: same zeros, trained survivors
        tuned, report = cs.sparsify(tool, path, data, workdir, method + "_tuned", "--target",
                                    str(target), "--method", method, "--calibration", "512",
                                    "--epochs", "1")
        wt = cs.check_output(path, tuned)
        rep = cs.strict_json(report)
        assert len(rep["epochs"]) == 1 and rep["calibration_samples"] == 512
        for name in cs.PRUNABLE:
            assert np.array_equal(wt[name] == 0, w[name] == 0), f"{method}: {name} mask moved"
        assert any(not np.array_equal(wt[n], w[n]) for n in cs.PRUNABLE), "nothing was trained"
        print(f"{method}: accuracy {rep['accuracy']['dense']:.4f} -> one-shot, tuned "
              f"{rep['accuracy']['sparse']:.4f}")
    for method in ("wanda", "sparsegpt"):
        out, report = cs.sparsify(tool, path, data, workdir, method + "_24", "--pattern", "2:4",
                                  "--method", method, "--epochs", "0")
        eligible = cp.check_pattern(out, report, 2, 4)
        assert eligible == ["fc1.weight", "fc2.weight"], eligible
    # magnitude has no calibration: the keys are null
    out, report = cs.sparsify(tool, path, data, workdir, "magnitude", "--target", "0.5",
                              "--method", "magnitude", "--epochs", "0")
    rep = cs.strict_json(report)
    assert rep["calibration_samples"] is None and rep["oneshot_seconds"] is None
    assert all(l["reconstruction_error"] is None for l in rep["layers"])
    res = cs.run(tool, path, "--data", data, "--target", "0.5", "--epochs", "0",
                 "-o", os.path.join(workdir, "never.onnx"), "-q")
    cs.expect(res, cs.EXIT_USAGE)
    assert "--epochs: 0 needs a one-shot" in res.stderr and not os.path.exists(os.path.join(workdir, "never.onnx"))


def case_lenet(tool, workdir, source):
    model = os.path.join(source, "models", "lenet300.onnx")
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
    w_in = cs.weights_of(onnx.load(model))
    target = 0.5
    for group in ("row", "layer"):
        out, report = cs.sparsify(tool, model, "fashion-mnist", workdir, "lenet_" + group,
                                  "--target", str(target), "--method", "wanda", "--wanda-group",
                                  group, "--calibration", str(len(x)), "--epochs", "0")
        w = cs.weights_of(onnx.load(out))
        assert cs.strict_json(report)["calibration_samples"] == len(x)
        h = x
        for layer in ("fc1", "fc2", "fc3"):
            name = layer + ".weight"
            want = wanda_mask(w_in[name], h, target, per_layer=group == "layer")
            got = w[name] != 0
            assert np.array_equal(want, got), \
                f"{group}: {name} differs at {(want != got).sum()} of {got.size} positions"
            assert np.array_equal(w[name][got], w_in[name][got]), f"{group}: {name} updated"
            h = h @ w[name].T.astype(np.float64) + w[layer + ".bias"]
            h = np.maximum(h, 0) if layer != "fc3" else h
        print(f"lenet wanda --wanda-group {group}: masks equal the numpy recount")


def main():
    case, tool, workdir = sys.argv[1:4]
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    if case == "generated":
        case_oneshot(tool, workdir)
    elif case == "lenet":
        case_lenet(tool, workdir, sys.argv[4])
    else:
        raise SystemExit(f"check_oneshot.py: unknown case '{case}'")
    print(f"oneshot {case}: ok")


if __name__ == "__main__":
    main()
