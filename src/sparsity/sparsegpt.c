/* SparseGPT (docs/method.md, "One-shot pruning from calibration"): the
 * mask of each block of
 * columns by w^2 / [U]_jj^2, and the optimal-brain-surgeon update of the
 * remaining columns through the upper Cholesky factor U of H^-1, lazily
 * per block. Factorisations are LAPACK's (sparsity/lapack.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/lapack.h"
#include "sparsity/oneshot.h"
#include "sparsity/select.h"

/* H = 2 X X^T / n, dead inputs (zero diagonal: no activation ever) set to
 * 1 on the diagonal, plus damp * mean diagonal. Unlike the published code
 * their weights are not zeroed: the mask alone decides the zeros, so every
 * layer ends at exactly its target or pattern (docs/method.md). */
static void build_hessian(int64_t f, const float *xxt, int64_t n, double damp, float *h)
{
    double scale = 2.0 / (double)(n > 0 ? n : 1), mean = 0.0;
    for (int64_t k = 0; k < f * f; k++)
        h[k] = (float)(scale * xxt[k]);
    for (int64_t j = 0; j < f; j++) {
        if (h[j * f + j] == 0.0f)
            h[j * f + j] = 1.0f;
        mean += h[j * f + j];
    }
    mean /= (double)(f > 0 ? f : 1);
    for (int64_t j = 0; j < f; j++)
        h[j * f + j] += (float)(damp * mean);
}

/* h (symmetric) -> row-major upper U with H^-1 = U^T U. LAPACK is
 * column-major: its lower triangle is our upper one, and its lower
 * factor L (A = L L^T) read row-major is U (A = U^T U). */
static lps_status inverse_factor(float *h, int64_t f, lps_error *err)
{
    const char lower = 'L';
    int n = (int)f, info = 0;
    spotrf_(&lower, &n, h, &n, &info, 1);
    if (info == 0)
        spotri_(&lower, &n, h, &n, &info, 1);
    if (info == 0)
        spotrf_(&lower, &n, h, &n, &info, 1);
    if (info != 0)
        return lps_fail(err, LPS_ERR_RUNTIME,
                        "SparseGPT: the %lld x %lld Hessian is not positive definite (LAPACK "
                        "info %d); are the calibration activations finite?",
                        (long long)f, (long long)f, info);
    return LPS_OK;
}

/* Chooses the mask of columns [c0, c1) of every row at once: the block
 * prunes its share of the layer's target (score [rows, c1 - c0]). */
static lps_status block_masks(lps_oneshot_rows *r, const float *u, int64_t c0, int64_t c1,
                              float *score, lps_error *err)
{
    int64_t f = r->cols, len = c1 - c0;
    lps_select_run run = {r->rows, c0, len, r->taps, r->pattern};
    for (int64_t i = 0; i < r->rows; i++) {
        const float *w = r->w + i * f + c0;
        for (int64_t j = 0; j < len; j++) {
            double d = u[(c0 + j) * f + c0 + j];
            score[i * len + j] = (float)((double)w[j] * w[j] / (d * d));
        }
    }
    /* the share of a block is that of its columns in every row */
    int64_t n_prune = 0;
    for (int64_t i = 0; i < r->rows; i++)
        n_prune += lps_select_share(r->target, r->start + i * f + c0, len);
    return lps_select_keep(score, &run, n_prune, r->keep + c0, f, err);
}

/* Sweeps columns [c0, c1): prunes, and spreads each column's error over
 * the block's later columns; the scaled errors go to e [rows, c1 - c0]. */
static void block_sweep(lps_oneshot_rows *r, const float *u, int64_t c0, int64_t c1, float *e)
{
    int64_t f = r->cols, len = c1 - c0;
    for (int64_t c = c0; c < c1; c++) {
        const float *urow = u + c * f;
        float d = urow[c];
        for (int64_t i = 0; i < r->rows; i++) {
            float *w = r->w + i * f;
            float q = r->keep[i * f + c] ? w[c] : 0.0f;
            float err = (w[c] - q) / d;
            w[c] = q;
            e[i * len + (c - c0)] = err;
            if (err == 0.0f)
                continue;
            for (int64_t j = c + 1; j < c1; j++)
                w[j] -= err * urow[j];
        }
    }
}

lps_status lps_sparsegpt_prune(lps_oneshot_rows *r, const float *xxt, int64_t positions,
                               const lps_sparsegpt_config *cfg, lps_error *err)
{
    int64_t f = r->cols, block = cfg->block > 0 ? cfg->block : LPS_SPARSEGPT_DEFAULT_BLOCK;
    if (lps_pattern_on(r->pattern)) {
        /* whole groups per block: a group spans m * taps columns */
        int64_t span = (int64_t)r->pattern.m * r->taps;
        block = block < span ? span : block - block % span;
    }
    if (block > f)
        block = f > 0 ? f : 1;
    float *h = malloc((size_t)(f * f > 0 ? f * f : 1) * sizeof *h);
    float *e = malloc((size_t)(r->rows * block > 0 ? r->rows * block : 1) * sizeof *e);
    float *score = malloc((size_t)(r->rows * block > 0 ? r->rows * block : 1) * sizeof *score);
    lps_status st = LPS_OK;
    if (!h || !e || !score) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for SparseGPT's %lld x %lld Hessian",
                      (long long)f, (long long)f);
        goto cleanup;
    }
    build_hessian(f, xxt, positions, cfg->damp, h);
    if ((st = inverse_factor(h, f, err)) != LPS_OK)
        goto cleanup;
    for (int64_t c0 = 0; c0 < f; c0 += block) {
        int64_t c1 = c0 + block < f ? c0 + block : f;
        if ((st = block_masks(r, h, c0, c1, score, err)) != LPS_OK)
            goto cleanup;
        block_sweep(r, h, c0, c1, e);
        /* W[:, c1:] -= E U[c0:c1, c1:] */
        if (c1 < f)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r->rows, (int)(f - c1),
                        (int)(c1 - c0), -1.0f, e, (int)(c1 - c0), h + c0 * f + c1, (int)f, 1.0f,
                        r->w + c1, (int)f);
    }
cleanup:
    free(h);
    free(e);
    free(score);
    return st;
}
