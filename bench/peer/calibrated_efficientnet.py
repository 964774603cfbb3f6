#!/usr/bin/python3
"""Writes the divergence case of issue 10: a torchvision EfficientNet-B1
(10 classes, no pretrained weights) whose BatchNorm statistics are calibrated
on real images, as a trained model has them, exported in eval mode (BN folded
into the convolutions), plus the first 512 training images as NPY.

  bench/peer/calibrated_efficientnet.py OUTDIR
  lpsparsify OUTDIR/efficientnet_b1.onnx --target 0.5 --epochs 1 --data OUTDIR/data

Images: Fashion-MNIST padded to 3x32x32 (x / 255), as bench/peer/quality.
Debian python3-torch / torchvision, test time only.
"""
import gzip
import os
import sys

import numpy as np
import torch
import torchvision

FMNIST = "/usr/share/datasets/fashion-mnist"
SAMPLES = 512
CALIBRATION_BATCH = 64


def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    rank = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * d:8 + 4 * d], "big") for d in range(rank)]
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def images(split, n):
    x = read_idx(os.path.join(FMNIST, f"{split}-images-idx3-ubyte.gz"))[:n]
    y = read_idx(os.path.join(FMNIST, f"{split}-labels-idx1-ubyte.gz"))[:n].astype(np.int64)
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1)), y


def main():
    out = sys.argv[1]
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    x, y = images("train", SAMPLES)
    tx, ty = images("t10k", SAMPLES)
    np.save(os.path.join(data, "train.npy"), x)
    np.save(os.path.join(data, "train_labels.npy"), y)
    np.save(os.path.join(data, "t10k.npy"), tx)
    np.save(os.path.join(data, "t10k_labels.npy"), ty)
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b1(num_classes=10)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for s in range(0, SAMPLES, CALIBRATION_BATCH):
            model(torch.from_numpy(x[s:s + CALIBRATION_BATCH]).float() / 255.0)
    model.eval()
    torch.onnx.export(model, torch.zeros(2, 3, 32, 32), os.path.join(out, "efficientnet_b1.onnx"),
                      opset_version=17, training=torch.onnx.TrainingMode.EVAL,
                      do_constant_folding=True, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})


if __name__ == "__main__":
    main()
