/* bench_forward MODEL BATCH [MIN_SECONDS]: inference throughput of the
 * engine on one model.
 *
 * Every non-fixed dim of every float input (a symbol such as "N" or an
 * unknown dim) is bound to BATCH, the inputs are filled with a fixed
 * pseudo-random pattern, and the compiled plan runs forward repeatedly:
 * WARMUP_RUNS untimed, then timed runs until MIN_SECONDS have passed (and at
 * least MIN_TIMED_RUNS, at most MAX_TIMED_RUNS). Prints one line:
 *   samples_per_s=<median> best_samples_per_s=<fastest run> runs=<n> seconds=<float>
 *   cpu_ms_per_run=<float>
 * Rates come from per-run times: the median run and the fastest run
 * describe the engine even on a loaded machine, where the mean mostly
 * measures how often the process was preempted. cpu_ms_per_run is the
 * process's CPU time (every thread's) over the timed runs per run: it
 * leaves out load, compile and warm-up, and time spent waiting for a core
 * on a shared machine, so it compares builds measured under other load.
 * Threads: OpenBLAS's (OPENBLAS_NUM_THREADS) and OpenMP's (OMP_NUM_THREADS)
 * from the environment. OMP_WAIT_POLICY defaults to PASSIVE by re-executing
 * (lps_default_runtime_env): spinning workers took 80% of a 2-thread
 * MobileNetV2 forward from OpenBLAS's threads on the loaded machine.
 * Exit status 0 on success, 1 with a one-line message on stderr otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/par.h"
#include "core/runtime_env.h"
#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"

#define DEFAULT_MIN_SECONDS 2.0
#define WARMUP_RUNS 3
#define MIN_TIMED_RUNS 5
#define MAX_TIMED_RUNS 100000
#define MAX_BENCH_INPUTS 16
#define MAX_BATCH 1000000L
#define NS_PER_S 1e9
#define MS_PER_S 1e3
/* A multiplicative hash spreads the index over [-1, 1): inputs look like
 * normalized data, not zeros, and are the same on every run. */
#define PATTERN_MULT 2654435761u
#define PATTERN_RANGE 4294967296.0

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_S;
}

static double now_seconds(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

/* Allocates t shaped like info with every non-fixed dim set to batch and
 * fills it with the pattern. Returns LPS_ERR_UNSUPPORTED for a non-float
 * input or an undeclared shape (the bench has no data to feed them). */
static lps_status make_input(const lps_value_info *info, int64_t batch, lps_tensor *t,
                             lps_error *err)
{
    int64_t dims[LPS_MAX_RANK];
    if (info->dtype != LPS_DT_FLOAT || info->rank < 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "input '%s': only float inputs with a declared shape are benchmarked",
                        info->name);
    for (int d = 0; d < info->rank; d++)
        dims[d] = info->dims[d].value >= 0 ? info->dims[d].value : batch;
    lps_status st = lps_tensor_alloc(t, LPS_DT_FLOAT, info->rank, dims, err);
    if (st != LPS_OK)
        return st;
    float *x = lps_tensor_f32(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        x[i] = (float)((uint32_t)((uint64_t)(i + 1) * PATTERN_MULT) / PATTERN_RANGE * 2.0 - 1.0);
    return LPS_OK;
}

int main(int argc, char **argv)
{
    lps_error err = {0};
    lps_model *m = NULL;
    lps_plan *plan = NULL;
    lps_exec_ctx *ctx = NULL;
    lps_tensor inputs[MAX_BENCH_INPUTS] = {0};
    size_t n_inputs = 0;
    double *times = NULL;
    int code = EXIT_FAILURE;
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s MODEL BATCH [MIN_SECONDS]\n", argv[0]);
        return EXIT_FAILURE;
    }
    /* as the CLI does (src/cli/main.c): OpenMP workers sleep between the
     * ops' parallel regions; the user's OMP_WAIT_POLICY wins */
    lps_default_runtime_env(argv);
    char *end;
    long batch = strtol(argv[2], &end, 10);
    double min_seconds = argc == 4 ? strtod(argv[3], NULL) : DEFAULT_MIN_SECONDS;
    if (*end != '\0' || batch < 1 || batch > MAX_BATCH || !(min_seconds > 0)) {
        fprintf(stderr, "bench_forward: BATCH must be 1..%ld and MIN_SECONDS positive\n",
                MAX_BATCH);
        return EXIT_FAILURE;
    }
    if (!(m = lps_model_load(argv[1], &err)) || !(plan = lps_plan_compile(m, NULL, &err)) ||
        !(ctx = lps_exec_ctx_new(NULL, &err)))
        goto cleanup;
    n_inputs = lps_plan_n_inputs(plan);
    if (n_inputs > MAX_BENCH_INPUTS) {
        lps_fail(&err, LPS_ERR_UNSUPPORTED, "%s: more than %d inputs", argv[1], MAX_BENCH_INPUTS);
        n_inputs = 0;
        goto cleanup;
    }
    for (size_t i = 0; i < n_inputs; i++)
        if (make_input(lps_plan_input_info(plan, i), batch, &inputs[i], &err) != LPS_OK ||
            lps_plan_set_input(plan, i, &inputs[i], &err) != LPS_OK)
            goto cleanup;
    for (int r = 0; r < WARMUP_RUNS; r++)
        if (lps_plan_forward(plan, ctx, &err) != LPS_OK)
            goto cleanup;
    if (!(times = malloc(MAX_TIMED_RUNS * sizeof *times))) {
        lps_fail(&err, LPS_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    long runs = 0;
    double start = now_seconds(), elapsed = 0, cpu_start = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    while (runs < MAX_TIMED_RUNS && (runs < MIN_TIMED_RUNS || elapsed < min_seconds)) {
        double t0 = now_seconds();
        if (lps_plan_forward(plan, ctx, &err) != LPS_OK)
            goto cleanup;
        double t1 = now_seconds();
        times[runs++] = t1 - t0;
        elapsed = t1 - start;
    }
    double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    qsort(times, (size_t)runs, sizeof *times, compare_doubles);
    printf("samples_per_s=%.1f best_samples_per_s=%.1f runs=%ld seconds=%.3f cpu_ms_per_run=%.4f\n",
           (double)batch / times[runs / 2], (double)batch / times[0], runs, elapsed,
           cpu * MS_PER_S / (double)runs);
    code = EXIT_SUCCESS;
cleanup:
    if (code != EXIT_SUCCESS)
        fprintf(stderr, "bench_forward: %s\n", err.msg);
    free(times);
    for (size_t i = 0; i < n_inputs; i++)
        lps_tensor_release(&inputs[i]);
    lps_exec_ctx_free(ctx);
    lps_plan_free(plan);
    lps_model_free(m);
    return code;
}
