#include "sparsity/calibrate.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "train/feeder.h"

/* Positions gathered before one X^T X update: large enough for BLAS to run
 * well, small enough to bound the buffer (floats, with the features). */
#define GATHER_FLOATS ((size_t)4 << 20)

/* Per-layer accumulation state across batches. */
typedef struct gatherer {
    lps_layer_acts *acts;
    bool want_xxt;
    int64_t cap;        /* positions the buffer holds */
    int64_t used;       /* positions in it now */
    float *buf;         /* [cap, features] */
    float *work;        /* features * positions (one chunk) */
} gatherer;

/* Adds the gathered positions to group g's statistics. */
static void flush(gatherer *ga, int64_t g)
{
    lps_layer_acts *a = ga->acts;
    int64_t f = a->features;
    double *norm = a->sq_norm + g * f;
    for (int64_t p = 0; p < ga->used; p++) {
        const float *x = ga->buf + p * f;
        for (int64_t j = 0; j < f; j++)
            norm[j] += (double)x[j] * (double)x[j];
    }
    if (ga->want_xxt && ga->used > 0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)f, (int)ga->used, 1.0f, ga->buf,
                    (int)f, 1.0f, a->xxt + (size_t)(g * f * f), (int)f);
    ga->used = 0;
}

/* First batch: sizes the statistics and the buffers from the view. */
static lps_status gatherer_init(gatherer *ga, const lps_activation_view *v, lps_error *err)
{
    lps_layer_acts *a = ga->acts;
    a->groups = v->groups;
    a->features = v->features;
    size_t f = (size_t)(v->features > 0 ? v->features : 1);
    ga->cap = (int64_t)(GATHER_FLOATS / f);
    if (ga->cap < v->positions)
        ga->cap = v->positions;
    a->sq_norm = calloc((size_t)v->groups * f, sizeof *a->sq_norm);
    ga->buf = malloc((size_t)ga->cap * f * sizeof *ga->buf);
    ga->work = malloc((size_t)(v->positions > 0 ? v->positions : 1) * f * sizeof *ga->work);
    if (ga->want_xxt)
        a->xxt = calloc((size_t)v->groups * f * f, sizeof *a->xxt);
    if (!a->sq_norm || !ga->buf || !ga->work || (ga->want_xxt && !a->xxt))
        return lps_fail(err, LPS_ERR_NOMEM,
                        "out of memory for the calibration statistics (%lld features)",
                        (long long)v->features);
    return LPS_OK;
}

/* Accumulates the current forward's activations of the layer. */
static lps_status gather_forward(gatherer *ga, const lps_plan *plan, size_t node, int input,
                                 lps_error *err)
{
    lps_activation_view v;
    lps_status st = lps_plan_activation_view(plan, node, input, &v, err);
    if (st != LPS_OK)
        return st;
    if (!ga->buf && (st = gatherer_init(ga, &v, err)) != LPS_OK)
        return st;
    if (v.groups != ga->acts->groups || v.features != ga->acts->features || v.positions > ga->cap)
        return lps_fail(err, LPS_ERR_INVALID,
                        "calibration: the activations of node %zu changed shape between batches",
                        node);
    for (int64_t g = 0; g < v.groups; g++) {
        for (int64_t c = 0; c < v.chunks; c++) {
            if (ga->used + v.positions > ga->cap)
                flush(ga, g);
            lps_plan_activation_chunk(plan, node, input, c, g,
                                      ga->buf + ga->used * v.features, ga->work);
            ga->used += v.positions;
        }
        flush(ga, g);
    }
    ga->acts->positions += v.chunks * v.positions;
    return LPS_OK;
}

/* Fills the lower triangles from the upper ones ssyrk wrote. */
static void symmetrize(lps_layer_acts *a)
{
    int64_t f = a->features;
    for (int64_t g = 0; a->xxt && g < a->groups; g++) {
        float *h = a->xxt + (size_t)(g * f * f);
        for (int64_t i = 0; i < f; i++)
            for (int64_t j = 0; j < i; j++)
                h[i * f + j] = h[j * f + i];
    }
}

lps_status lps_calibrate_layer(lps_plan *plan, const lps_calibration *c, size_t node, int input,
                               bool want_xxt, lps_layer_acts *out, lps_error *err)
{
    lps_feeder feeder;
    gatherer ga = {.acts = out, .want_xxt = want_xxt};
    lps_exec_ctx *ctx = NULL;
    memset(out, 0, sizeof *out);
    lps_status st = lps_feeder_init(&feeder, plan, c->data, &c->preprocess, c->batch, true,
                                    c->seed, err);
    if (st != LPS_OK)
        return st;
    if (!(ctx = lps_exec_ctx_new(NULL, err))) {
        st = err->status;
        goto cleanup;
    }
    while (out->samples < c->samples) {
        int64_t count = 0;
        if ((st = lps_feeder_next(&feeder, &count, err)) != LPS_OK || count == 0)
            break;
        if (count > c->samples - out->samples)
            count = c->samples - out->samples;
        lps_feeder_limit(&feeder, count);
        if ((st = lps_feeder_bind(&feeder, plan, err)) != LPS_OK ||
            (st = lps_plan_forward(plan, ctx, err)) != LPS_OK ||
            (st = gather_forward(&ga, plan, node, input, err)) != LPS_OK)
            break;
        out->samples += count;
    }
    if (st == LPS_OK && out->samples == 0)
        st = lps_fail(err, LPS_ERR_INVALID, "calibration: the training split has no samples");
    if (st == LPS_OK)
        symmetrize(out);
cleanup:
    free(ga.buf);
    free(ga.work);
    lps_exec_ctx_free(ctx);
    lps_feeder_release(&feeder);
    return st;
}

void lps_layer_acts_release(lps_layer_acts *a)
{
    if (!a)
        return;
    free(a->sq_norm);
    free(a->xxt);
    memset(a, 0, sizeof *a);
}
