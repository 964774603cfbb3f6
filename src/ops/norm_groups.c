/* Group normalization core; the layout and formulas are in norm_groups.h. */
#include "ops/norm_groups.h"

#include <math.h>
#include <stddef.h>

/* Affine index of element m of group g. */
static inline int64_t affine_index(const lps_norm_layout *L, int64_t g, int64_t m)
{
    return (g % L->affine_period) * L->affine_stride + m / L->affine_run;
}

/* Mean and population variance of n floats, in double, two passes. */
static void moments(const float *x, int64_t n, double *mean, double *var)
{
    double s = 0.0, q = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    double mu = n > 0 ? s / (double)n : 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - mu;
        q += d * d;
    }
    *mean = mu;
    *var = n > 0 ? q / (double)n : 0.0;
}

/* Contract in norm_groups.h. */
void lps_norm_forward(const lps_norm_layout *L, float epsilon, const float *x,
                      const float *scale, const float *bias, float *y, float *mean,
                      float *invstd)
{
    for (int64_t g = 0; g < L->groups; g++) {
        const float *xg = x + g * L->size;
        float *yg = y + g * L->size;
        double mu, var;
        moments(xg, L->size, &mu, &var);
        float m = (float)mu, r = (float)(1.0 / sqrt(var + (double)epsilon));
        mean[g] = m;
        invstd[g] = r;
        for (int64_t i = 0; i < L->size; i += L->affine_run) {
            int64_t k = affine_index(L, g, i);
            float a = scale[k] * r, b = (bias ? bias[k] : 0.0f) - m * a;
            int64_t end = i + L->affine_run < L->size ? i + L->affine_run : L->size;
            for (int64_t j = i; j < end; j++)
                yg[j] = xg[j] * a + b;
        }
    }
}

/* Per group: sum(dxhat) and sum(dxhat * xhat) with dxhat = dy * scale[k];
 * accumulates dscale and dbias on the way. */
static void group_sums(const lps_norm_layout *L, int64_t g, const float *xg, const float *dyg,
                       const float *scale, float mean, float invstd, float *dscale,
                       float *dbias, double *sum_dxhat, double *sum_dxhat_xhat)
{
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < L->size; i += L->affine_run) {
        int64_t k = affine_index(L, g, i);
        int64_t end = i + L->affine_run < L->size ? i + L->affine_run : L->size;
        double sdy = 0.0, sdy_xhat = 0.0;
        for (int64_t j = i; j < end; j++) {
            float xhat = (xg[j] - mean) * invstd;
            sdy += dyg[j];
            sdy_xhat += (double)dyg[j] * xhat;
        }
        if (dscale)
            dscale[k] += (float)sdy_xhat;
        if (dbias)
            dbias[k] += (float)sdy;
        a += sdy * scale[k];
        b += sdy_xhat * scale[k];
    }
    *sum_dxhat = a;
    *sum_dxhat_xhat = b;
}

/* Contract in norm_groups.h. */
void lps_norm_backward(const lps_norm_layout *L, const float *x, const float *scale,
                       const float *mean, const float *invstd, const float *dy,
                       const float *dmean, const float *dinvstd, float *dx, float *dscale,
                       float *dbias)
{
    float inv_n = L->size > 0 ? 1.0f / (float)L->size : 0.0f;
    for (int64_t g = 0; g < L->groups; g++) {
        const float *xg = x + g * L->size;
        const float *dyg = dy ? dy + g * L->size : NULL;
        float mu = mean[g], r = invstd[g];
        double a = 0.0, b = 0.0;
        if (dyg)
            group_sums(L, g, xg, dyg, scale, mu, r, dscale, dbias, &a, &b);
        if (!dx)
            continue;
        float *dxg = dx + g * L->size;
        /* dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
         *      + dmean / n - dinvstd r^2 xhat / n */
        float c0 = (float)a * inv_n * r;
        float c1 = (float)b * inv_n * r + (dinvstd ? dinvstd[g] * r * r * inv_n : 0.0f);
        c0 -= dmean ? dmean[g] * inv_n : 0.0f;
        for (int64_t i = 0; i < L->size; i += L->affine_run) {
            float s = dyg ? scale[affine_index(L, g, i)] * r : 0.0f;
            int64_t end = i + L->affine_run < L->size ? i + L->affine_run : L->size;
            for (int64_t j = i; j < end; j++) {
                float xhat = (xg[j] - mu) * r;
                dxg[j] += (dyg ? dyg[j] * s : 0.0f) - c0 - xhat * c1;
            }
        }
    }
}
