#!/bin/sh
# Builds the dataset fuzz harnesses with clang (libFuzzer + ASan + UBSan) and
# runs each for FUZZ_SECONDS (default 60), starting from tests/fuzz/corpus.
# New inputs go to BUILD/fuzz-corpus, crashes to BUILD/fuzz-artifacts.
# Exit status 1 when any harness found something.
#   FUZZ_SECONDS=20 scripts/fuzz.sh            # all harnesses
#   scripts/fuzz.sh csv                        # one harness
set -eu

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
harnesses=${*:-idx npy csv}

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DLPS_WERROR=ON >/dev/null
for h in $harnesses; do
    cmake --build "$build" -j"$FUZZ_JOBS" --target "fuzz_$h" >/dev/null
done

status=0
for h in $harnesses; do
    corpus=$build/fuzz-corpus/$h
    artifacts=$build/fuzz-artifacts/$h
    log=$build/fuzz-$h.log
    mkdir -p "$corpus" "$artifacts"
    if "$build/tests/fuzz_$h" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" "$root/tests/fuzz/corpus/$h" >"$log" 2>&1; then
        result=clean
    else
        result=FINDING
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    findings=$(find "$artifacts" -type f | wc -l)
    printf '%-4s %-8s executions=%s artifacts=%s corpus=%s log=%s\n' "$h" "$result" \
        "${execs:-?}" "$findings" "$(find "$corpus" -type f | wc -l)" "$log"
done
exit $status
