/* Normalization over contiguous groups, shared by LayerNormalization,
 * InstanceNormalization and GroupNormalization.
 *
 * X is viewed as [groups, size]: every group of `size` contiguous elements
 * is normalized by its own mean and population variance,
 *   xhat = (x - mean) * invstd,   invstd = 1 / sqrt(var + epsilon),
 * then scaled and shifted, y = xhat * scale[k] + bias[k], where the affine
 * index of element m of group g is
 *   k = (g % affine_period) * affine_stride + m / affine_run,
 * which covers every layout of these ops:
 *   LayerNormalization   period 1, stride 0, run 1       (k = m)
 *   InstanceNormalization period C, stride 1, run size   (k = channel)
 *   GroupNormalization-18 period G, stride 1, run size   (k = group)
 *   GroupNormalization-21 period G, stride C/G, run spatial (k = channel). */
#ifndef LPS_OPS_NORM_GROUPS_H
#define LPS_OPS_NORM_GROUPS_H

#include <stdint.h>

typedef struct lps_norm_layout {
    int64_t groups, size;
    int64_t affine_period, affine_stride, affine_run;
} lps_norm_layout;

/* Writes y and the per-group mean and invstd (arrays of L->groups floats).
 * Statistics are accumulated in double in two passes. bias may be NULL (0).
 * An empty group gets mean 0 and invstd 1 / sqrt(epsilon). */
void lps_norm_forward(const lps_norm_layout *L, float epsilon, const float *x,
                      const float *scale, const float *bias, float *y, float *mean,
                      float *invstd);

/* Accumulates the gradients of one lps_norm_forward: dx (may be NULL),
 * dscale and dbias (indexed like scale, may be NULL) from dy (NULL: no
 * gradient at y) and from gradients at the per-group mean and invstd when
 * those are outputs (dmean, dinvstd: L->groups floats or NULL). mean and
 * invstd are the forward's. */
void lps_norm_backward(const lps_norm_layout *L, const float *x, const float *scale,
                       const float *mean, const float *invstd, const float *dy,
                       const float *dmean, const float *dinvstd, float *dx, float *dscale,
                       float *dbias);

#endif
