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

/* y = x * a_j + b_j with a_j = scale_j * r, b_j = bias_j - m * a_j: one
 * affine entry per element (LayerNormalization), without affine_index's
 * divisions, each element rounded as the per-run loop rounds it. */
static void affine_rows(const float *restrict x, const float *restrict scale,
                        const float *restrict bias, float m, float r, float *restrict y,
                        int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        float a = scale[j] * r, b = (bias ? bias[j] : 0.0f) - m * a;
        y[j] = x[j] * a + b;
    }
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
        if (L->affine_run == 1) {
            int64_t k0 = affine_index(L, g, 0);
            affine_rows(xg, scale + k0, bias ? bias + k0 : NULL, m, r, yg, L->size);
            continue;
        }
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
    if (L->affine_run == 1) {
        int64_t k0 = affine_index(L, g, 0);
        for (int64_t j = 0; j < L->size; j++) {
            float xhat = (xg[j] - mean) * invstd;
            double sdy_xhat = (double)dyg[j] * xhat;
            if (dscale)
                dscale[k0 + j] += (float)sdy_xhat;
            if (dbias)
                dbias[k0 + j] += dyg[j];
            a += (double)dyg[j] * scale[k0 + j];
            b += sdy_xhat * scale[k0 + j];
        }
        *sum_dxhat = a;
        *sum_dxhat_xhat = b;
        return;
    }
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

/* dx_j += dy_j * (scale_j * r) - c0 - xhat_j * c1: lps_norm_backward's
 * element loop for one affine entry per element. */
static void dx_rows(const float *restrict x, const float *restrict dy,
                    const float *restrict scale, float mu, float r, float c0, float c1,
                    float *restrict dx, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        float xhat = (x[j] - mu) * r;
        dx[j] += dy[j] * (scale[j] * r) - c0 - xhat * c1;
    }
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
        if (L->affine_run == 1 && dyg) {
            dx_rows(xg, dyg, scale + affine_index(L, g, 0), mu, r, c0, c1, dxg, L->size);
            continue;
        }
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
