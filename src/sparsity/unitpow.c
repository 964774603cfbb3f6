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

/* t^k for an integer k >= 1 by binary powering, each product rounding
 * once, so the relative error stays below (k + log2 k) float roundings
 * (unitpow.h); a result below FLT_MIN is 0 (the general path's "below
 * 2^-126 is 0"). With t <= 1 every factor is at most 1, so once a partial
 * product falls below FLT_MIN every later one stays below it and the
 * final flush zeroes the result: the same values as flushing every
 * product, in two flushes instead of one a product. Bases below base_min
 * (pow_int_base_min: their k-th power is below 2^-127) are zeroed first,
 * so the partial products of the others stay normal (no slow subnormal
 * arithmetic) but for the last ones of bases just above base_min. */
LPS_LANE_FN lps_vec_f pow_int(lps_vec_f t, unsigned k, unsigned top, float base_min)
{
    lps_vec_f base = (lps_vec_f)((lps_vec_i)t & (t >= base_min));
    lps_vec_f result = base;
    /* the highest set bit of k is the starting result; the rest square in */
    for (unsigned bit = top >> 1; bit; bit >>= 1) {
        result = result * result;
        if (k & bit)
            result = result * base;
    }
    return flush_tiny(result);
}

/* pow_int's base_min for exponent k >= 1: 2^-ceil(127 / k), at most
 * 2^(-127/k), at least FLT_MIN (so a subnormal base is zeroed). */
static float pow_int_base_min(unsigned k)
{
    unsigned e = (127u + k - 1u) / k;
    e = e < 126u ? e : 126u;
    uint32_t bits = (uint32_t)(FLOAT_EXP_BIAS - (int32_t)e) << FLOAT_MANTISSA_BITS;
    float m;
    memcpy(&m, &bits, sizeof m);
    return m;
}

/* The highest set bit of k >= 1 (pow_int's start). */
static unsigned top_bit(unsigned k)
{
    unsigned top = 1u;
    while (top <= k / 2u)
        top <<= 1;
    return top;
}

/* An exponent a as pow_lanes uses it, found once per call rather than per
 * vector: k = a when a is an integer in [1, UNITPOW_INT_EXP_MAX] (then
 * multiplied out; top is k's highest bit, base_min pow_int's), else 0. */
typedef struct unit_exponent {
    float a;
    unsigned k, top;
    float base_min;
} unit_exponent;

static unit_exponent unit_exponent_of(float a)
{
    unit_exponent e = {a, 0u, 0u, 0.0f};
    if (a >= 1.0f && a <= (float)UNITPOW_INT_EXP_MAX && (float)(unsigned)a == a) {
        e.k = (unsigned)a;
        e.top = top_bit(e.k);
        e.base_min = pow_int_base_min(e.k);
    }
    return e;
}

/* t^a on one vector. */
LPS_LANE_FN lps_vec_f pow_lanes(lps_vec_f t, const unit_exponent *e)
{
    return e->k ? pow_int(t, e->k, e->top, e->base_min) : exp2_nonpositive(e->a * log2_unit(t));
}

/* t0^a and t1^a on the path int_path says (a constant where inlined):
 * the log2/exp2 path's two dependency chains (some 40 operations each)
 * side by side, so that they overlap in the CPU. */
LPS_LANE_FN void pow_pair(lps_vec_f t0, lps_vec_f t1, const unit_exponent *e, int int_path,
                          lps_vec_f *r0, lps_vec_f *r1)
{
    if (int_path) {
        *r0 = pow_int(t0, e->k, e->top, e->base_min);
        *r1 = pow_int(t1, e->k, e->top, e->base_min);
    } else {
        lps_vec_f l0 = log2_unit(t0), l1 = log2_unit(t1);
        *r0 = exp2_nonpositive(e->a * l0);
        *r1 = exp2_nonpositive(e->a * l1);
    }
}

LPS_LANE_CLONES
void lps_pow_unit_inplace(float *x, int64_t n, float a)
{
    const unit_exponent e = unit_exponent_of(a);
    int64_t i = 0;
    lps_vec_f v;
    for (; i + LPS_LANES <= n; i += LPS_LANES) {
        memcpy(&v, x + i, sizeof v);
        v = pow_lanes(v, &e);
        memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        /* The tail runs through the same lanes, padded with zeros. */
        size_t rest = (size_t)(n - i) * sizeof(float);
        v = (lps_vec_f){0};
        memcpy(&v, x + i, rest);
        v = pow_lanes(v, &e);
        memcpy(x + i, &v, rest);
    }
}

/* lps_pow_unit_dot on one path (int_path: a constant where inlined, so
 * that each path's loop is compiled on its own). */
LPS_LANE_FN double unit_dot(const float *x, float *y, int64_t n, float scale,
                            const unit_exponent *e, int int_path)
{
    lps_vec_d acc = lps_vzero_d();
    int64_t i = 0;
    for (; i + LPS_BLOCK <= n; i += LPS_BLOCK) {
        lps_vec_f t0, t1;
        lps_vec_f ax0 = lps_vabs(lps_vload(x + i)), ax1 = lps_vabs(lps_vload(x + i + LPS_LANES));
        pow_pair(ax0 * scale, ax1 * scale, e, int_path, &t0, &t1);
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
        lps_vec_f t = pow_lanes(ax * scale, e);
        if (y)
            memcpy(y + i, &t, rest);
        for (int64_t k = 0; k < count; k++)
            acc = lps_vacc_first(acc, (double)t[k] * (double)ax[k]);
    }
    return lps_vsum_d(acc);
}

LPS_LANE_CLONES
double lps_pow_unit_dot(const float *x, float *y, int64_t n, float scale, float a)
{
    const unit_exponent e = unit_exponent_of(a);
    return e.k ? unit_dot(x, y, n, scale, &e, 1) : unit_dot(x, y, n, scale, &e, 0);
}
