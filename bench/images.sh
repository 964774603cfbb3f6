#!/usr/bin/env bash
# Does image decoding keep up with training? One training epoch of the
# bundled CNN and MLP from an image folder (PNG/JPEG of mixed kinds and
# sizes, decoded and adapted every batch) against the same epoch from an NPY
# of the same images held in memory, in the same run. The ratio folder / NPY
# in samples/s is 1.0 when decoding costs nothing; the decode-only rate
# (`lpsparsify eval` of a one-weight model on the folder) shows the ceiling.
#
#   bench/images.sh
#   BUILD_DIR  Release build (default build-bench)
#   THREADS    OpenMP and OpenBLAS threads (default 2)
#   PER_CLASS  training images per class (default 600, 6000 images)
# Needs scripts/install-deps.sh (python3-pil for the folder).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
THREADS=${THREADS:-2}
PER_CLASS=${PER_CLASS:-600}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$THREADS" --target lpsparsify_cli >/dev/null
LPS=$BUILD_DIR/lpsparsify
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 tests/images/make_folder.py "$WORK/f" --train "$PER_CLASS" --test 100 --npy

# Seconds of the single training epoch, from the report of a 1-epoch run.
epoch_seconds() {
  "$LPS" train "$1" --data "$2" --epochs 1 --batch 128 -q -o "$WORK/out.onnx" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$LPS" train "$1" --data "$2" --epochs 1 --batch 128 -q -o "$WORK/out.onnx" >/dev/null
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

n=$((PER_CLASS * 10))
printf "%-10s %12s %12s %8s\n" model "folder/s" "npy/s" ratio
for model in models/cnn.onnx models/lenet300.onnx; do
  folder=$(epoch_seconds "$model" "$WORK/f")
  npy=$(epoch_seconds "$model" "$WORK/f/npy")
  awk -v m="$(basename "$model" .onnx)" -v n="$n" -v a="$folder" -v b="$npy" \
    'BEGIN {printf "%-10s %12.0f %12.0f %8.2f\n", m, n / a, n / b, b / a}'
done
echo "(whole train command: open + decode check of every file, one epoch, evaluation;"
echo " $n training images, $THREADS threads, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
