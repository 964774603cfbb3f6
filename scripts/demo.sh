#!/usr/bin/env bash
# Quick-start command 1: install the dependencies, build (Release) and run
# the main job: sparsify the bundled trained LeNet-300-100 to 90% zeros on
# Fashion-MNIST and print the summary. The sparse model and the JSON report
# go to $BUILD_DIR/demo/.
#   BUILD_DIR   build folder (default: build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-release}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
mkdir -p "$BUILD_DIR/demo"
"$BUILD_DIR"/lpsparsify models/lenet300.onnx --target 0.9 \
    -o "$BUILD_DIR/demo/lenet300-sparse.onnx" --report "$BUILD_DIR/demo/lenet300-sparse.json"
