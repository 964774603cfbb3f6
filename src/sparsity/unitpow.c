#include "sparsity/unitpow.h"

#include <float.h>
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
/* Integer exponents up to this are multiplied out (about 2 log2 a products
 * against some 40 operations and a division of the log2/exp2 path); the
 * rounding error grows with a, and at 16 it is still within the header's
 * bound (unitpow.h). 16 covers q - 1 = 1 / (p - 1) for p = 2, 1.5, 1.25,
 * 1.2, 1.1 and 1.0625 (docs/method.md, "Powers"). */
#define UNITPOW_INT_EXP_MAX 16


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

/* Lanes below the smallest normal float set to 0. */
LPS_LANE_FN lps_vec_f flush_tiny(lps_vec_f v)
{
    return (lps_vec_f)((lps_vec_i)v & (v >= FLT_MIN));
}

/* t^k for an integer k >= 1 by binary powering: with t <= 1 every factor
 * is at most 1, so once a partial product falls below FLT_MIN so does the
 * result; flushing each product there keeps every operand normal or 0 (no
 * slow subnormal arithmetic) and gives the general path's "below 2^-126 is
 * 0". Each product rounds once, so the relative error stays below
 * (k + log2 k) float roundings (unitpow.h). */
LPS_LANE_FN lps_vec_f pow_int(lps_vec_f t, unsigned k, unsigned top)
{
    lps_vec_f base = flush_tiny(t);
    lps_vec_f result = base;
    /* the highest set bit of k is the starting result; the rest square in */
    for (unsigned bit = top >> 1; bit; bit >>= 1) {
        result = flush_tiny(result * result);
        if (k & bit)
            result = flush_tiny(result * base);
    }
    return result;
}

/* The highest set bit of k >= 1 (pow_int's start), found once per call
 * rather than per vector. */
static unsigned top_bit(unsigned k)
{
    unsigned top = 1u;
    while (top <= k / 2u)
        top <<= 1;
    return top;
}

/* t^a on one vector: by multiplication when a is a small integer (top its
 * highest bit). */
LPS_LANE_FN lps_vec_f pow_lanes(lps_vec_f t, float a, unsigned int_exp, unsigned top)
{
    return int_exp ? pow_int(t, int_exp, top) : exp2_nonpositive(a * log2_unit(t));
}

/* a as an integer in [1, UNITPOW_INT_EXP_MAX], or 0 when it is not one. */
static unsigned integer_exponent(float a)
{
    if (!(a >= 1.0f && a <= (float)UNITPOW_INT_EXP_MAX))
        return 0;
    unsigned k = (unsigned)a;
    return (float)k == a ? k : 0;
}

LPS_LANE_CLONES
void lps_pow_unit_inplace(float *x, int64_t n, float a)
{
    const unsigned int_exp = integer_exponent(a);
    const unsigned top = int_exp ? top_bit(int_exp) : 0u;
    int64_t i = 0;
    lps_vec_f v;
    for (; i + LPS_LANES <= n; i += LPS_LANES) {
        memcpy(&v, x + i, sizeof v);
        v = pow_lanes(v, a, int_exp, top);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        /* The tail runs through the same lanes, padded with zeros. */
        size_t rest = (size_t)(n - i) * sizeof(float);
        v = (lps_vec_f){0};
        memcpy(&v, x + i, rest);
        v = pow_lanes(v, a, int_exp, top);
        memcpy(x + i, &v, rest);
    }
}

/* The LPS_LANES powers of lps_pow_unit_dot from x[0]: t = (|x| scale)^a
 * into *t, |x| returned. */
LPS_LANE_FN lps_vec_f unit_dot_lanes(const float *x, float scale, float a, unsigned int_exp,
                                     unsigned top, lps_vec_f *t)
{
    lps_vec_f ax = lps_vabs(lps_vload(x));
    *t = pow_lanes(ax * scale, a, int_exp, top);
    return ax;
}

LPS_LANE_CLONES
double lps_pow_unit_dot(const float *x, float *y, int64_t n, float scale, float a)
{
    const unsigned int_exp = integer_exponent(a);
    const unsigned top = int_exp ? top_bit(int_exp) : 0u;
    lps_vec_d acc = lps_vzero_d();
    int64_t i = 0;
    for (; i + LPS_BLOCK <= n; i += LPS_BLOCK) {
        lps_vec_f t0, t1;
        lps_vec_f ax0 = unit_dot_lanes(x + i, scale, a, int_exp, top, &t0);
        lps_vec_f ax1 = unit_dot_lanes(x + i + LPS_LANES, scale, a, int_exp, top, &t1);
        if (y) {
            lps_vstore(y + i, t0);
            lps_vstore(y + i + LPS_LANES, t1);
        }
        acc = lps_vacc_block(acc, t0, ax0, t1, ax1);
    }
    for (; i < n; i += LPS_LANES) {
        /* The tail's powers run through the same lanes, padded with zeros;
         * its products go into lane 0 in order. */
        int64_t count = n - i < LPS_LANES ? n - i : LPS_LANES;
        size_t rest = (size_t)count * sizeof(float);
        lps_vec_f ax = {0};
        memcpy(&ax, x + i, rest);
        ax = lps_vabs(ax);
        lps_vec_f t = pow_lanes(ax * scale, a, int_exp, top);
        if (y)
            memcpy(y + i, &t, rest);
        for (int64_t k = 0; k < count; k++)
            acc = lps_vacc_first(acc, (double)t[k] * (double)ax[k]);
    }
    return lps_vsum_d(acc);
}
