#include "sparsity/stats_fix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lps_status lps_stats_layer_init(lps_stats_layer *L, lps_plan *plan, int value_id,
                                int64_t channels, lps_error *err)
{
    memset(L, 0, sizeof *L);
    size_t n = (size_t)channels;
    L->value_id = value_id;
    L->channels = channels;
    L->ref_mean = calloc(n, sizeof *L->ref_mean);
    L->ref_std = calloc(n, sizeof *L->ref_std);
    L->mean = calloc(n, sizeof *L->mean);
    L->std = calloc(n, sizeof *L->std);
    if (!L->ref_mean || !L->ref_std || !L->mean || !L->std)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for output statistics of %lld units",
                        (long long)channels);
    lps_plan_keep_value(plan, value_id);
    return LPS_OK;
}

lps_status lps_stats_layer_transfer(lps_stats_layer *L, lps_ckpt *c, lps_error *err)
{
    size_t n = (size_t)L->channels;
    lps_status st = lps_ckpt_doubles(c, "stats.ref_mean", L->ref_mean, n, err);
    if (st == LPS_OK)
        st = lps_ckpt_doubles(c, "stats.ref_std", L->ref_std, n, err);
    if (st == LPS_OK)
        st = lps_ckpt_doubles(c, "stats.mean", L->mean, n, err);
    if (st == LPS_OK)
        st = lps_ckpt_doubles(c, "stats.std", L->std, n, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "stats.ref_batches", &L->ref_batches, err);
    if (st == LPS_OK)
        st = lps_ckpt_bool(c, "stats.measured", &L->measured, err);
    return st;
}

void lps_stats_layer_release(lps_stats_layer *L)
{
    if (!L)
        return;
    free(L->ref_mean);
    free(L->ref_std);
    free(L->mean);
    free(L->std);
    memset(L, 0, sizeof *L);
}

/* Sums and squared sums per channel of x viewed as [outer, channels, inner]. */
static void channel_moments(const float *x, int64_t outer, int64_t channels, int64_t inner,
                            double *sum, double *sq)
{
    memset(sum, 0, (size_t)channels * sizeof *sum);
    memset(sq, 0, (size_t)channels * sizeof *sq);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < channels; c++) {
            const float *p = x + (o * channels + c) * inner;
            double s = 0.0, s2 = 0.0;
            for (int64_t i = 0; i < inner; i++) {
                s += p[i];
                s2 += (double)p[i] * p[i];
            }
            sum[c] += s;
            sq[c] += s2;
        }
}

bool lps_stats_layer_measure(lps_stats_layer *L, const lps_plan *plan, bool into_reference)
{
    const lps_tensor *t = lps_plan_value(plan, L->value_id);
    L->measured = false;
    if (!t || t->dtype != LPS_DT_FLOAT || t->rank < 2)
        return false;
    int axis = t->dims[1] == L->channels ? 1 : (t->dims[t->rank - 1] == L->channels ? t->rank - 1 : -1);
    if (axis < 0)
        return false;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++)
        inner *= t->dims[d];
    int64_t count = outer * inner;
    if (count < 2)
        return false;
    channel_moments(lps_tensor_f32(t), outer, L->channels, inner, L->mean, L->std);
    for (int64_t c = 0; c < L->channels; c++) {
        double m = L->mean[c] / (double)count;
        double var = L->std[c] / (double)count - m * m;
        L->mean[c] = m;
        L->std[c] = var > 0.0 ? sqrt(var) : 0.0;
    }
    L->measured = true;
    if (into_reference) {
        double w = 1.0 / (double)(L->ref_batches + 1);
        for (int64_t c = 0; c < L->channels; c++) {
            L->ref_mean[c] += w * (L->mean[c] - L->ref_mean[c]);
            L->ref_std[c] += w * (L->std[c] - L->ref_std[c]);
        }
        L->ref_batches++;
    }
    return true;
}

void lps_stats_layer_correction(const lps_stats_layer *L, int64_t c, float *scale, float *bias)
{
    double a = 1.0;
    if (L->std[c] > 0.0 && L->ref_std[c] > 0.0)
        a = pow(L->ref_std[c] / L->std[c], LPS_STATS_FIX_DAMPING);
    *scale = (float)a;
    if (!bias)
        return;
    /* y = s + b with mean(s) = mean - b; after scaling, mean a (mean - b) + b */
    double b = *bias;
    double scaled_mean = a * (L->mean[c] - b) + b;
    *bias = (float)(b + LPS_STATS_FIX_DAMPING * (L->ref_mean[c] - scaled_mean));
}
