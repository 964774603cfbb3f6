#!/usr/bin/env bash
# Forward throughput of lpsparsify's engine against onnxruntime-node on the
# bundled models (models/*.onnx) at batch 1, 32 and 128, in the same run.
#
#   bench/forward.sh [MODEL.onnx ...]
#   BUILD_DIR  where the Release build goes (default build-bench)
#   THREADS    threads for both sides (default 2): OPENBLAS_NUM_THREADS and
#              OMP_NUM_THREADS for ours (OMP_WAIT_POLICY=PASSIVE: libgomp
#              reads it at load time, before main), intra-op threads for
#              onnxruntime (inter-op off)
#   SECONDS_PER_TRIAL  timed seconds per measurement (default 1)
#   TRIALS     measurements per side, interleaved ours/onnxruntime; the best
#              of each is kept, which filters out other load on the machine
#              (default 3)
#
# Prints one row per (model, batch): samples/s of each side and the ratio
# ours / onnxruntime (> 1: we are faster), from the median run time and
# from the fastest run time (both sides time each run alone, so preemption
# by other processes shows up as slow runs, not as lower means).
# Needs scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
THREADS=${THREADS:-2}
SECONDS_PER_TRIAL=${SECONDS_PER_TRIAL:-1}
TRIALS=${TRIALS:-3}
BATCHES=(1 32 128)

if [ ! -d tests/interop/node_modules/onnxruntime-node ]; then
  echo "forward.sh: onnxruntime-node missing; run scripts/install-deps.sh" >&2
  exit 1
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLPS_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_forward >/dev/null

if [ $# -gt 0 ]; then MODELS=("$@"); else MODELS=(models/*.onnx); fi

# Runs a command printing "samples_per_s=X best_samples_per_s=Y ..." and
# echoes "X Y".
rates_of() {
  "$@" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
                print r["samples_per_s"], r["best_samples_per_s"] }'
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; }

echo "threads=$THREADS trials=$TRIALS seconds_per_trial=$SECONDS_PER_TRIAL"
echo "median: samples/s of the median run (best of the trials); fastest: of the fastest run"
printf '%-22s %5s | %10s %10s %6s | %10s %10s %6s\n' model batch "ours" "ort" ratio \
  "ours" "ort" ratio
printf '%-22s %5s | %29s | %29s\n' "" "" "median samples/s" "fastest samples/s"
for model in "${MODELS[@]}"; do
  for batch in "${BATCHES[@]}"; do
    ours=0 ours_best=0 ort=0 ort_best=0
    for _ in $(seq "$TRIALS"); do
      read -r o ob < <(rates_of env OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" OMP_WAIT_POLICY=PASSIVE \
        "$BUILD_DIR/bench/bench_forward" "$model" "$batch" "$SECONDS_PER_TRIAL")
      read -r r rb < <(rates_of node bench/ort_forward.js "$model" "$batch" \
        "$SECONDS_PER_TRIAL" "$THREADS")
      ours=$(max "$ours" "$o") ours_best=$(max "$ours_best" "$ob")
      ort=$(max "$ort" "$r") ort_best=$(max "$ort_best" "$rb")
    done
    awk -v m="$(basename "$model")" -v b="$batch" -v o="$ours" -v r="$ort" \
        -v ob="$ours_best" -v rb="$ort_best" \
      'BEGIN { printf "%-22s %5d | %10.0f %10.0f %5.2fx | %10.0f %10.0f %5.2fx\n",
               m, b, o, r, o / r, ob, rb, ob / rb }'
  done
done
