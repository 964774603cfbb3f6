/* Vectorisable float powers of numbers in [0, 1], the hot loop of LpSGD
 * (docs/method.md section 9: the element-wise powers dominate its cost).
 *
 * t^a is evaluated as 2^(a * log2 t) with branch-free polynomial log2 and
 * exp2 on the float bit pattern, or, for an integer a up to 16 (q - 1 for
 * p = 1.2, 1.25, 1.5, 2), by binary powering with each product flushed to 0
 * below FLT_MIN, written with GCC/Clang vector extensions:
 * gcc's -O2 cost model does not vectorise such a loop by itself, and libmvec
 * would need -ffast-math. The result depends on no libm version and is the
 * same on every target (plain IEEE float operations, no contraction under
 * -std=c11).
 *
 * Accuracy (measured by tests/unit/test_unitpow.c against double pow):
 * relative error below 3e-6 (typically 1.5e-6) for results >= 1e-8 with
 * 1 <= a <= 100, from rounding the float exponent a * log2 t; results
 * below 2^-126 are flushed to exactly 0 (absolute error < 1.2e-38), and
 * t == 0 gives exactly 0. */
#ifndef LPS_SPARSITY_UNITPOW_H
#define LPS_SPARSITY_UNITPOW_H

#include <stdint.h>

/* Replaces each x[i] (which must lie in [0, 1]; slightly above 1 from
 * rounding is tolerated) by x[i]^a, for an exponent a >= 1. Other inputs
 * (negative, NaN, a < 1) give unspecified finite-or-not values but no
 * undefined behaviour. */
void lps_pow_unit_inplace(float *x, int64_t n, float a);

/* With t_i = |x_i| * scale (in [0, 1] as above, so scale <= 1 / max|x|):
 * writes y_i = t_i^a to y, unless y is NULL, and returns sum_i y_i |x_i|
 * in double over sixteen partial sums (lanes.h, lps_vec_d), in one pass:
 * the power sum of an LpSGD q-norm (docs/method.md, "LpSGD": one power per
 * element per norm). y must not overlap x. */
double lps_pow_unit_dot(const float *x, float *y, int64_t n, float scale, float a);

#endif
