"""Writes an image folder (ImageFolder layout) made from Fashion-MNIST.

    make_folder.py OUT_DIR [--train N] [--test N] [--npy]

OUT_DIR/train/<class>/*.png|jpg and OUT_DIR/val/<class>/*: the first N
training and test images per class, written as a mix that a real folder
has: grey PNG, RGB PNG, palette PNG, 16-bit grey PNG, grey and RGB JPEG
(baseline and progressive) and CMYK JPEG, at the native 28x28 and scaled up
to 32..64 pixels with non-square sides. With --npy it also writes
OUT_DIR/npy/{train,test}.npy (+ _labels.npy): the same images as uint8
[N, 28, 28], for comparing a folder run with an NPY run.
Needs /usr/bin/python3 with numpy and PIL (Debian python3-pil).
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

FASHION = "/usr/share/datasets/fashion-mnist"
# Numbered so that the sorted folder names keep Fashion-MNIST's label order.
CLASSES = ["0_tshirt", "1_trouser", "2_pullover", "3_dress", "4_coat", "5_sandal", "6_shirt",
           "7_sneaker", "8_bag", "9_boot"]
KINDS = ["png_grey", "png_rgb", "png_palette", "png_grey16", "jpg_grey", "jpg_rgb",
         "jpg_progressive", "jpg_cmyk"]
SIZES = [(28, 28), (28, 28), (32, 32), (40, 36), (64, 56)]
JPEG_QUALITY = 95


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def save(img28, kind, size, path):
    im = Image.fromarray(img28, "L")
    if size != (28, 28):
        im = im.resize(size, Image.BILINEAR)
    if kind == "png_grey":
        im.save(path + ".png")
    elif kind == "png_rgb":
        im.convert("RGB").save(path + ".png")
    elif kind == "png_palette":
        im.convert("P").save(path + ".png")
    elif kind == "png_grey16":
        Image.fromarray((np.asarray(im).astype(np.uint16) * 257), "I;16").save(path + ".png")
    elif kind == "jpg_grey":
        im.save(path + ".jpg", quality=JPEG_QUALITY)
    elif kind == "jpg_rgb":
        im.convert("RGB").save(path + ".jpg", quality=JPEG_QUALITY)
    elif kind == "jpg_progressive":
        im.convert("RGB").save(path + ".jpeg", quality=JPEG_QUALITY, progressive=True)
    else:
        im.convert("CMYK").save(path + ".jpg", quality=JPEG_QUALITY)


def write_split(out, split, images, labels, per_class, rng, sizes):
    chosen = []
    for c in range(len(CLASSES)):
        idx = np.nonzero(labels == c)[0][:per_class]
        os.makedirs(os.path.join(out, split, CLASSES[c]), exist_ok=True)
        for k, i in enumerate(idx):
            kind = KINDS[rng.integers(len(KINDS))]
            size = sizes[rng.integers(len(sizes))]
            save(images[i], kind, size, os.path.join(out, split, CLASSES[c], f"{k:05d}"))
            chosen.append(i)
    return np.array(chosen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=50)
    ap.add_argument("--test", type=int, default=20)
    ap.add_argument("--npy", action="store_true")
    ap.add_argument("--native", action="store_true", help="every image at 28x28")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for split, stem, n in (("train", "train", args.train), ("val", "t10k", args.test)):
        images = read_idx(f"{FASHION}/{stem}-images-idx3-ubyte.gz")
        labels = read_idx(f"{FASHION}/{stem}-labels-idx1-ubyte.gz")
        chosen = write_split(args.out, split, images, labels, n, rng,
                             [(28, 28)] if args.native else SIZES)
        if args.npy:
            os.makedirs(os.path.join(args.out, "npy"), exist_ok=True)
            name = "train" if split == "train" else "test"
            np.save(os.path.join(args.out, "npy", name + ".npy"), images[chosen])
            np.save(os.path.join(args.out, "npy", name + "_labels.npy"),
                    labels[chosen].astype(np.int64))


if __name__ == "__main__":
    main()
