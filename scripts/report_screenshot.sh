#!/usr/bin/env bash
# Regenerates docs/img/report.png, the README's picture of the HTML report:
# the bundled LeNet-300-100 sparsified to 90% by LpSS and by GMP (three
# epochs each, seed 1), both reports on one page, shot by Debian's headless chromium.
# Needs a built binary (BUILD_DIR, default build) and the dependencies of
# scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
LPS=${BUILD_DIR:-build}/lpsparsify
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
COMMON=(models/lenet300.onnx --target 0.9 --epochs 3 --seed 1 -q)
"$LPS" "${COMMON[@]}" -o "$WORK/lpss.onnx" --report "$WORK/lpss.json"
"$LPS" "${COMMON[@]}" --method gmp -o "$WORK/gmp.onnx" --report "$WORK/gmp.json"
"$LPS" report "$WORK/lpss.json" "$WORK/gmp.json" --label LpSS --label GMP -o "$WORK/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/profile" --hide-scrollbars --window-size=1200,1500 \
    --screenshot="$WORK/report.png" "file://$WORK/report.html" >/dev/null 2>&1
mkdir -p docs/img
cp "$WORK/report.png" docs/img/report.png
echo "docs/img/report.png from $WORK/report.html"
