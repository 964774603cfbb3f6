#include "sparsity/oneshot.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *lps_oneshot_method_name(lps_oneshot_method m)
{
    return m == LPS_ONESHOT_SPARSEGPT ? "sparsegpt" : "wanda";
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* sum over rows of v_i^T H v_i for v [rows, cols], t scratch of the same size. */
static double quad_sum(const float *v, int64_t rows, int64_t cols, const float *h, float *t)
{
    double s = 0.0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)cols, 1.0f,
                v, (int)cols, h, (int)cols, 0.0f, t, (int)cols);
    for (int64_t k = 0; k < rows * cols; k++)
        s += (double)v[k] * (double)t[k];
    return s;
}

void lps_oneshot_recon_terms(const float *w0, const float *w, int64_t rows, int64_t cols,
                             const float *xxt, double *num2, double *den2)
{
    size_t n = (size_t)(rows * cols > 0 ? rows * cols : 1);
    /* calloc: GCC -O3 cannot see that d is written before it is read */
    float *d = calloc(n, sizeof *d), *t = malloc(n * sizeof *t);
    *num2 = *den2 = NAN;
    if (d && t) {
        for (int64_t k = 0; k < rows * cols; k++)
            d[k] = w0[k] - w[k];
        *num2 = quad_sum(d, rows, cols, xxt, t);
        *den2 = quad_sum(w0, rows, cols, xxt, t);
    }
    free(d);
    free(t);
}

/* The rows of a weight in its layout <-> a row-major [n_rows, row_len] matrix. */
static void gather_rows(const lps_row_layout *l, const float *src, float *dst)
{
    for (int64_t i = 0; i < l->n_rows; i++)
        for (int64_t j = 0; j < l->row_len; j++)
            dst[i * l->row_len + j] = src[lps_row_offset(l, i, j)];
}

static void scatter_rows(const lps_row_layout *l, const float *w, const uint8_t *keep,
                         float *data, uint8_t *mask)
{
    for (int64_t i = 0; i < l->n_rows; i++)
        for (int64_t j = 0; j < l->row_len; j++) {
            int64_t o = lps_row_offset(l, i, j);
            data[o] = w[i * l->row_len + j];
            mask[o] = keep[i * l->row_len + j];
        }
}

/* Runs the method on each row group of one calibrated layer. */
static lps_status prune_groups(const lps_oneshot_config *cfg, lps_oneshot_layer *L,
                               const lps_layer_acts *a, float *w, uint8_t *keep, const float *w0,
                               lps_error *err)
{
    const lps_row_layout *l = &L->weight->layout;
    int64_t rows = l->n_rows / a->groups, cols = l->row_len;
    double num2 = 0.0, den2 = 0.0;
    for (int64_t g = 0; g < a->groups; g++) {
        lps_oneshot_rows r = {w + g * rows * cols, keep + g * rows * cols, rows, cols,
                              g * rows * cols, L->weight->taps, L->pattern, L->target};
        const float *xxt = a->xxt + (size_t)(g * cols * cols);
        lps_status st = cfg->method == LPS_ONESHOT_WANDA
                            ? lps_wanda_prune(&r, a->sq_norm + g * cols, cfg->wanda_per_layer, err)
                            : lps_sparsegpt_prune(&r, xxt, a->positions, &cfg->sparsegpt, err);
        if (st != LPS_OK)
            return st;
        double n2, d2;
        lps_oneshot_recon_terms(w0 + g * rows * cols, r.w, rows, cols, xxt, &n2, &d2);
        num2 += n2;
        den2 += d2;
    }
    L->recon_error = den2 > 0.0 ? sqrt(fmax(num2, 0.0) / den2) : NAN;
    return LPS_OK;
}

lps_status lps_oneshot_calibrate(lps_plan *plan, const lps_oneshot_config *cfg,
                                 const lps_oneshot_layer *L, lps_layer_acts *acts, lps_error *err)
{
    const lps_prunable *pw = L->weight;
    const lps_row_layout *l = &pw->layout;
    memset(acts, 0, sizeof *acts);
    if (pw->input < 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "the weight reaches the node through a view "
                        "(docs/method.md, \"Weights behind views\"), which calibration does not "
                        "follow; --exclude it");
    lps_status st = lps_calibrate_layer(plan, &cfg->calibration, pw->node_index, pw->input, true,
                                        acts, err);
    if (st == LPS_OK &&
        (acts->features != l->row_len || acts->groups < 1 || l->n_rows % acts->groups != 0))
        st = lps_fail(err, LPS_ERR_UNSUPPORTED,
                      "its activations have %lld features in %lld groups, the weight has %lld "
                      "rows of %lld", (long long)acts->features, (long long)acts->groups,
                      (long long)l->n_rows, (long long)l->row_len);
    return st;
}

lps_status lps_oneshot_prune_layer(const lps_oneshot_config *cfg, lps_oneshot_layer *L,
                                   const lps_layer_acts *acts, lps_error *err)
{
    const lps_row_layout *l = &L->weight->layout;
    size_t numel = (size_t)(l->n_rows * l->row_len);
    float *w = malloc((numel ? numel : 1) * sizeof *w);
    float *w0 = malloc((numel ? numel : 1) * sizeof *w0);
    uint8_t *keep = malloc(numel ? numel : 1);
    lps_status st = LPS_OK;
    if (!w || !w0 || !keep) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    gather_rows(l, L->data, w);
    memcpy(w0, w, numel * sizeof *w);
    if ((st = prune_groups(cfg, L, acts, w, keep, w0, err)) == LPS_OK)
        scatter_rows(l, w, keep, L->data, L->mask);
cleanup:
    free(w);
    free(w0);
    free(keep);
    return st;
}

static lps_status prune_layer(lps_plan *plan, const lps_oneshot_config *cfg, lps_oneshot_layer *L,
                              int64_t *samples, lps_error *err)
{
    lps_layer_acts a;
    lps_status st = lps_oneshot_calibrate(plan, cfg, L, &a, err);
    if (st == LPS_OK) {
        *samples = a.samples;
        st = lps_oneshot_prune_layer(cfg, L, &a, err);
    }
    lps_layer_acts_release(&a);
    return st;
}

lps_status lps_oneshot_prune(lps_plan *plan, const lps_oneshot_config *cfg,
                             lps_oneshot_layer *layers, int n, lps_oneshot_stats *stats,
                             lps_error *err)
{
    double t0 = now_seconds();
    stats->samples = 0;
    for (int i = 0; i < n; i++) {
        lps_status st = prune_layer(plan, cfg, &layers[i], &stats->samples, err);
        if (st != LPS_OK)
            return lps_error_prefix(err, "%s: layer '%s' (node '%s')",
                                    lps_oneshot_method_name(cfg->method),
                                    layers[i].weight->initializer, layers[i].weight->node);
    }
    stats->seconds = now_seconds() - t0;
    return LPS_OK;
}
