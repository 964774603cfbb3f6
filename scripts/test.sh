#!/usr/bin/env bash
# Quick-start command 2: install the dependencies, build, run the whole suite.
#   BUILD_DIR   build folder (default: build)
#   SANITIZE=1  build with AddressSanitizer and UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
SAN=OFF
if [ "${SANITIZE:-0}" = 1 ]; then SAN=ON; fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLPS_WERROR=ON -DLPS_SANITIZE=$SAN >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)"
