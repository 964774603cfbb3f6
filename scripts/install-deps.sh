#!/usr/bin/env bash
# Installs every Debian 12 package lpsparsify needs to build, test and run,
# and the npm reference runtime used by the interop tests.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(build-essential cmake pkg-config
      protobuf-c-compiler libprotobuf-c-dev libopenblas-dev libcjson-dev zlib1g-dev check
      libpng-dev libjpeg62-turbo-dev libomp-dev python3-pil
      dataset-fashion-mnist libonnx-testdata python3-onnx python3-numpy
      clang libclang-rt-14-dev
      libopenmpi-dev openmpi-bin
      chromium)
# Node.js runs onnxruntime in the interop tests. Debian's nodejs and npm
# packages provide it on a fresh machine; a machine that already has a node
# and npm (for example from another nodejs package) keeps them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PKGS+=(nodejs npm)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# onnxruntime-node, the reference runtime of tests/interop and bench/forward.
# Its native library ships inside the npm package, so the postinstall
# download is skipped. node_modules is not committed; reinstalled only when
# the package is missing.
INTEROP_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/interop"
if [ ! -d "$INTEROP_DIR/node_modules/onnxruntime-node" ]; then
  (cd "$INTEROP_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
fi

# playwright-core drives Debian's chromium in tests/html (the browser checks
# of the HTML report); it ships no browser and downloads none.
HTML_TEST_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/html"
if [ ! -d "$HTML_TEST_DIR/node_modules/playwright-core" ]; then
  (cd "$HTML_TEST_DIR" && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
fi
