/* The execution context: a run's mode, its seeded generator and the scratch
 * workspace its nodes share. Opaque outside this file: callers create it
 * with lps_exec_ctx_new (include/lpsparsify/engine.h) and ops read it
 * through the accessors declared in src/ops/op.h. */
#include <stdlib.h>

#include "lpsparsify/engine.h"
#include "ops/op.h"

struct lps_exec_ctx {
    lps_run_options opt;
    uint64_t rng_state;      /* seeded; advanced by lps_ctx_random() */
    float *workspace;        /* shared scratch (im2col), grown on demand */
    size_t workspace_floats;
};

lps_exec_ctx *lps_exec_ctx_new(const lps_run_options *opt, lps_error *err)
{
    lps_exec_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lps_fail(err, LPS_ERR_NOMEM, "out of memory for an execution context");
        return NULL;
    }
    if (opt)
        ctx->opt = *opt;
    ctx->rng_state = ctx->opt.seed;
    return ctx;
}

void lps_exec_ctx_reseed(lps_exec_ctx *ctx, uint64_t seed)
{
    ctx->rng_state = seed;
}

uint64_t lps_exec_ctx_rng_state(const lps_exec_ctx *ctx)
{
    return ctx->rng_state;
}

void lps_exec_ctx_free(lps_exec_ctx *ctx)
{
    if (!ctx)
        return;
    free(ctx->workspace);
    free(ctx);
}

bool lps_ctx_training(const lps_exec_ctx *ctx)
{
    return ctx->opt.training;
}

bool lps_ctx_batch_stats(const lps_exec_ctx *ctx)
{
    return ctx->opt.bn_batch_stats;
}

bool lps_ctx_honors_training_flags(const lps_exec_ctx *ctx)
{
    return ctx->opt.honor_training_flags;
}

float *lps_ctx_workspace(lps_exec_ctx *ctx, size_t n, lps_error *err)
{
    if (n > ctx->workspace_floats) {
        float *p = realloc(ctx->workspace, n * sizeof(float));
        if (!p) {
            lps_fail(err, LPS_ERR_NOMEM, "out of memory for a %zu-float workspace", n);
            return NULL;
        }
        ctx->workspace = p;
        ctx->workspace_floats = n;
    }
    return ctx->workspace;
}

/* splitmix64: tiny, seedable, and good enough for dropout masks. Its
 * i-th output depends only on seed + i * gamma, so a block of outputs
 * needs no chain through the state. */
#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL
static float splitmix_uniform(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

float lps_ctx_random(lps_exec_ctx *ctx)
{
    return splitmix_uniform(ctx->rng_state += SPLITMIX_GAMMA);
}

void lps_ctx_random_fill(lps_exec_ctx *ctx, float *u, size_t n)
{
    uint64_t state = ctx->rng_state;
    for (size_t i = 0; i < n; i++)
        u[i] = splitmix_uniform(state + (uint64_t)(i + 1) * SPLITMIX_GAMMA);
    ctx->rng_state = state + (uint64_t)n * SPLITMIX_GAMMA;
}
