#!/usr/bin/env bash
# Regenerates the bundled trained models from their seeded initialisations
# with `lpsparsify train`, then prints their Fashion-MNIST test accuracy as
# measured by lpsparsify and by onnxruntime (models/ort_eval.js).
#
#   bash scripts/train_models.sh [mlp] [cnn]    (default: both)
#
#   BUILD_DIR   build folder (default: build-release, built here if needed)
#   OPENBLAS_NUM_THREADS  default 1: OpenBLAS splits work by thread count,
#                         which changes rounding, so a fixed count makes the
#                         trained files reproducible on the same CPU
#
# The hyperparameters below are the ones documented in models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-release}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
LPS="$BUILD_DIR/lpsparsify"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

# LeNet-300-100: plain SGD (Nesterov momentum), cosine schedule, no augmentation.
MLP_ARGS=(--seed 0 --epochs 20 --batch 128 --lr 0.05 --lr-schedule cosine
          --momentum 0.9 --weight-decay 5e-4)
# The CNN: the same recipe over 15 epochs.
CNN_ARGS=(--seed 0 --epochs 15 --batch 128 --lr 0.05 --lr-schedule cosine
          --momentum 0.9 --weight-decay 5e-4)

train() {  # train INIT OUT ARGS...: trains, then reports both accuracies
  local init=$1 out=$2
  shift 2
  echo "== $LPS train $init -o $out $*"
  "$LPS" train "$init" -o "$out" "$@"
  "$LPS" eval "$out"
  if [ -d tests/interop/node_modules/onnxruntime-node ]; then
    node models/ort_eval.js "$out"
  else
    echo "onnxruntime check skipped: run 'ONNXRUNTIME_NODE_INSTALL=skip npm install' in tests/interop"
  fi
}

which=("$@")
if [ ${#which[@]} -eq 0 ]; then which=(mlp cnn); fi
for m in "${which[@]}"; do
  case $m in
    mlp) train models/lenet300_init.onnx models/lenet300.onnx "${MLP_ARGS[@]}" ;;
    cnn) train models/cnn_init.onnx models/cnn.onnx "${CNN_ARGS[@]}" ;;
    *) echo "train_models.sh: unknown model '$m' (expected mlp or cnn)" >&2; exit 2 ;;
  esac
done
