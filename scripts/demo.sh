#!/usr/bin/env bash
# Quick-start command 1: install the dependencies, build (Release) and run
# the main job on the bundled model.
#   BUILD_DIR   build folder (default: build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build-release}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
"$BUILD_DIR"/lpsparsify inspect models/lenet300.onnx
