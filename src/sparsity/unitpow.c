#include "sparsity/unitpow.h"

#include <string.h>

#include "sparsity/lanes.h"

static const float SQRT2_F = 1.41421356f;
static const float LOG2E_F = 1.44269504f;
static const float LN2_F = 0.693147181f;
/* 2^-126 is the smallest normal float; below it results are flushed to 0. */
static const float EXP2_MIN_ARG = -126.0f;
static const uint32_t FLOAT_ABS_MASK = 0x7fffffffu;
static const uint32_t FLOAT_MANTISSA_MASK = 0x007fffffu;
static const uint32_t FLOAT_ONE_BITS = 0x3f800000u;
static const int FLOAT_MANTISSA_BITS = 23;
static const int32_t FLOAT_EXP_BIAS = 127;


/* log2(t) for t >= 0 (t = 0 and subnormals give about -127): the exponent
 * from the bits plus ln(m) on m in [sqrt(1/2), sqrt(2)) from the atanh series
 * 2 (s + s^3/3 + s^5/5 + s^7/7 + s^9/9), s = (m-1)/(m+1), |s| <= 0.172, whose
 * truncation error (< 4e-10) is far below float rounding. */
LPS_LANE_FN lps_vec_f log2_unit(lps_vec_f t)
{
    lps_vec_u bits = (lps_vec_u)t & FLOAT_ABS_MASK;
    lps_vec_i e = (lps_vec_i)(bits >> FLOAT_MANTISSA_BITS) - FLOAT_EXP_BIAS;
    lps_vec_f m = (lps_vec_f)((bits & FLOAT_MANTISSA_MASK) | FLOAT_ONE_BITS);
    lps_vec_i big = m > SQRT2_F;
    m = lps_vselect(big, 0.5f * m, m);
    e -= big; /* big lanes are -1 */
    lps_vec_f s = (m - 1.0f) / (m + 1.0f);
    lps_vec_f s2 = s * s;
    lps_vec_f series = 1.0f + s2 * (1.0f / 3.0f + s2 * (1.0f / 5.0f + s2 * (1.0f / 7.0f +
                   s2 * (1.0f / 9.0f))));
    return __builtin_convertvector(e, lps_vec_f) + 2.0f * s * series * LOG2E_F;
}

/* 2^x for x <= ~0.5: 2^n * e^(f ln 2) with n the nearest integer and
 * |f| <= 1/2; the degree-7 Taylor polynomial's error is below 6e-9.
 * Arguments under -126 give 0. */
LPS_LANE_FN lps_vec_f exp2_nonpositive(lps_vec_f x)
{
    lps_vec_i flush = x < EXP2_MIN_ARG;
    x = lps_vselect(flush, (lps_vec_f){0} + EXP2_MIN_ARG, x);
    /* 0.5 - x > 0, so truncation is floor and n = round(x). */
    lps_vec_i n = -__builtin_convertvector(0.5f - x, lps_vec_i);
    lps_vec_f y = (x - __builtin_convertvector(n, lps_vec_f)) * LN2_F;
    lps_vec_f poly = 1.0f + y * (1.0f + y * (1.0f / 2.0f + y * (1.0f / 6.0f + y * (1.0f / 24.0f +
                 y * (1.0f / 120.0f + y * (1.0f / 720.0f + y * (1.0f / 5040.0f)))))));
    lps_vec_f scale = (lps_vec_f)((lps_vec_u)(n + FLOAT_EXP_BIAS) << FLOAT_MANTISSA_BITS);
    return (lps_vec_f)((lps_vec_i)(poly * scale) & ~flush);
}

LPS_LANE_CLONES
void lps_pow_unit_inplace(float *x, int64_t n, float a)
{
    int64_t i = 0;
    lps_vec_f v;
    for (; i + LPS_LANES <= n; i += LPS_LANES) {
        memcpy(&v, x + i, sizeof v);
        v = exp2_nonpositive(a * log2_unit(v));
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        /* The tail runs through the same lanes, padded with zeros. */
        size_t rest = (size_t)(n - i) * sizeof(float);
        v = (lps_vec_f){0};
        memcpy(&v, x + i, rest);
        v = exp2_nonpositive(a * log2_unit(v));
        memcpy(x + i, &v, rest);
    }
}
