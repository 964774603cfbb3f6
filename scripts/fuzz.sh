#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60), starting from the seed corpus tests/fuzz/corpus.
# New inputs go to BUILD/fuzz-corpus/NAME, findings to BUILD/fuzz-artifacts/NAME,
# the log to BUILD/fuzz-NAME.log. Prints one line per harness with the
# executions and findings; exit status 1 when any harness found something.
#   FUZZ_SECONDS=20 scripts/fuzz.sh            # all harnesses
#   FUZZ_SECONDS=3600 scripts/fuzz.sh onnx     # one harness, for an hour
#   FUZZ_KEEP_GOING=1 scripts/fuzz.sh          # collect every finding (fork mode)
# Harnesses: idx npy csv (dataset readers), image (PNG/JPEG decode and
# input adaptation), onnx (model load, compile, run,
# save), external (external-data resolution), cli (number parsing).
set -eu

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-2}
# Seconds one input may take before it counts as a hang.
FUZZ_INPUT_TIMEOUT=${FUZZ_INPUT_TIMEOUT:-10}
# A fixed mutation seed makes a CI run replay the start of every longer local
# run with the same seed, so a clean long run vouches for the short one.
# FUZZ_SEED=0 lets libFuzzer pick a seed.
FUZZ_SEED=${FUZZ_SEED:-1}
# FUZZ_SLOW_OK=1 (what CI sets) reports an input slower than
# FUZZ_INPUT_TIMEOUT as "slow" instead of failing: under ASan on a shared
# machine a large but legitimate model (a big convolution) can take that
# long. Crashes, sanitizer reports, leaks and out-of-memory still fail.
FUZZ_SLOW_OK=${FUZZ_SLOW_OK:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
all="idx npy csv image onnx external"
if [ -f "$root/src/cli/options.c" ]; then all="$all cli"; fi
harnesses=${*:-$all}
# Requests over 1 GiB fail like a real out-of-memory (NULL from malloc), so
# that the clean LPS_ERR_NOMEM paths are exercised instead of being reported.
ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:max_allocation_size_mb=1024}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS
limits="-rss_limit_mb=3072 -malloc_limit_mb=2048 -timeout=$FUZZ_INPUT_TIMEOUT"
keep_going=
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep_going="-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1"
fi

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
    # Findings of earlier runs stay in $artifacts; only newer ones count.
    stamp=$build/fuzz-$h.started
    touch "$stamp"
    slow_opts=
    if [ "$FUZZ_SLOW_OK" = 1 ]; then slow_opts="-timeout_exitcode=0"; fi
    # shellcheck disable=SC2086 # $limits, $keep_going and $slow_opts are option lists
    if "$build/tests/fuzz_$h" -max_total_time="$FUZZ_SECONDS" -seed="$FUZZ_SEED" -print_final_stats=1 $limits \
        $keep_going $slow_opts -artifact_prefix="$artifacts/" "$corpus" "$root/tests/fuzz/corpus/$h" \
        >"$log" 2>&1; then
        result=clean
    else
        result=FINDING
    fi
    slow=0
    if [ "$FUZZ_SLOW_OK" = 1 ]; then
        # libFuzzer names an input over -report_slow_units (10 s) that ends
        # before its timeout check "slow-unit-*", one it stops "timeout-*".
        slow=$(find "$artifacts" -type f \( -name 'timeout-*' -o -name 'slow-unit-*' \) \
            -newer "$stamp" | wc -l)
        findings=$(find "$artifacts" -type f ! -name 'timeout-*' ! -name 'slow-unit-*' \
            -newer "$stamp" | wc -l)
    else
        findings=$(find "$artifacts" -type f -newer "$stamp" | wc -l)
    fi
    if [ "$findings" -gt 0 ]; then result=FINDING; fi
    if [ "$slow" -gt 0 ] && [ "$result" = clean ]; then result=slow; fi
    if [ "$result" = FINDING ]; then status=1; fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        # Fork mode reports progress lines "#N ..." instead of final stats.
        execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    printf '%-8s %-8s executions=%s artifacts=%s slow=%s corpus=%s log=%s\n' "$h" "$result" \
        "${execs:-?}" "$findings" "$slow" "$(find "$corpus" -type f | wc -l)" "$log"
done
exit $status
