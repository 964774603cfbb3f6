#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/unitpow.h"
#include "test_suite.h"

/* The accuracy promised in sparsity/unitpow.h. */
static const double REL_TOL = 3e-6;
static const double SMALL_RESULT = 1e-8;
static const double ABS_TOL_SMALL = 1e-13;

enum { GRID = 4099 }; /* odd size: exercises the padded tail */

START_TEST(matches_double_pow)
{
    /* 1, 2, 5 and 16 take the integer path (up to UNITPOW_INT_EXP_MAX) */
    static const float exponents[] = {1.0f, 1.05f, 1.5f, 2.0f, 3.3333333f, 5.0f, 14.285714f,
                                      15.285714f, 16.0f, 20.0f, 21.0f, 50.0f, 100.0f};
    float *x = malloc(GRID * sizeof *x);
    float *t = malloc(GRID * sizeof *t);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(t);
    for (size_t e = 0; e < sizeof exponents / sizeof exponents[0]; e++) {
        float a = exponents[e];
        for (int i = 0; i < GRID; i++) {
            /* log-spaced over [1e-12, 1] plus exact 0 and 1 */
            t[i] = i == 0 ? 0.0f : (float)pow(10.0, -12.0 * (double)(GRID - 1 - i) / (GRID - 2));
            x[i] = t[i];
        }
        t[GRID - 1] = 1.0f;
        x[GRID - 1] = 1.0f;
        lps_pow_unit_inplace(x, GRID, a);
        double worst = 0.0;
        for (int i = 0; i < GRID; i++) {
            double ref = pow((double)t[i], (double)a);
            if (ref >= SMALL_RESULT) {
                double rel = fabs(x[i] - ref) / ref;
                worst = rel > worst ? rel : worst;
            } else {
                ck_assert_msg(fabs(x[i] - ref) <= ABS_TOL_SMALL, "a=%g t=%g: %g vs %g", a,
                              t[i], x[i], ref);
            }
        }
        ck_assert_msg(worst <= REL_TOL, "a=%g: worst relative error %g", a, worst);
        ck_assert_float_eq(x[0], 0.0f);
    }
    free(x);
    free(t);
}
END_TEST

START_TEST(tiny_and_subnormal_inputs_flush_to_zero)
{
    float x[5] = {1e-39f, 1e-45f, 1e-20f, 0.0f, -0.0f};
    lps_pow_unit_inplace(x, 5, 7.0f);
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(x[i], 0.0f);
    float y[1] = {0.5f};
    lps_pow_unit_inplace(y, 1, 2.0f);
    ck_assert_float_eq_tol(y[0], 0.25f, 1e-7f);
}
END_TEST

/* t^k by binary powering in scalar floats, each product flushed to 0
 * below FLT_MIN: the integer path's definition (unitpow.c). */
static float pow_int_reference(float t, unsigned k)
{
    float base = t >= FLT_MIN ? t : 0.0f;
    unsigned top = 1u;
    while (top <= k / 2u)
        top <<= 1;
    float r = base;
    for (unsigned bit = top >> 1; bit; bit >>= 1) {
        r = r * r;
        r = r >= FLT_MIN ? r : 0.0f;
        if (k & bit) {
            r = r * base;
            r = r >= FLT_MIN ? r : 0.0f;
        }
    }
    return r;
}

/* The integer path flushes only its base and its result: the same bits
 * as flushing every product, checked on every float in two bands for each
 * integer exponent k: around 2^(-126/k), where t^k crosses FLT_MIN, and
 * around 2^-ceil(127/k), below which the base is zeroed (for k = 1 the
 * subnormals from 0). */
START_TEST(integer_powers_flush_as_every_product)
{
    enum { BAND = 1 << 13, BANDS = 2 };
    float *t = malloc(BAND * sizeof *t), *x = malloc(BAND * sizeof *x);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(x);
    for (unsigned k = 1; k <= 16; k++) {
        const double centres[BANDS] = {pow(2.0, -126.0 / (double)k),
                                       pow(2.0, -(double)((127u + k - 1u) / k))};
        for (int b = 0; b < BANDS; b++) {
            float centre = (float)centres[b];
            uint32_t mid;
            memcpy(&mid, &centre, sizeof mid);
            uint32_t first = mid < BAND / 2 ? 0u : mid - BAND / 2;
            for (uint32_t i = 0; i < BAND; i++) {
                uint32_t bits = first + i;
                memcpy(&t[i], &bits, sizeof bits);
                x[i] = t[i];
            }
            lps_pow_unit_inplace(x, BAND, (float)k);
            for (uint32_t i = 0; i < BAND; i++)
                ck_assert_msg(x[i] == pow_int_reference(t[i], k), "k=%u t=%a: %a, expected %a",
                              k, (double)t[i], (double)x[i],
                              (double)pow_int_reference(t[i], k));
        }
    }
    free(t);
    free(x);
}
END_TEST

/* lps_pow_unit_dot is the in-place power of |x| scale plus its dot with
 * |x| over the sixteen partial sums of lanes.h (position i into sum i mod
 * 16, the tail into sum 0, the sums added in order): the same bits, with
 * or without y, on both exponent paths and with tails shorter and longer
 * than one vector. */
START_TEST(pow_dot_is_power_then_partial_sums)
{
    enum { MAX_N = 61, PARTIALS = 16 };
    static const float exponents[] = {5.0f, 14.285714f};
    static const int lengths[] = {53, MAX_N};
    const float scale = 1.0f / 3.0f;
    float x[MAX_N], y[MAX_N], ref[MAX_N];
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        const int n = lengths[l];
        for (int i = 0; i < n; i++)
            x[i] = (i % 2 ? -3.0f : 3.0f) * (float)(i + 1) / (float)n;
        for (size_t e = 0; e < sizeof exponents / sizeof exponents[0]; e++) {
            float a = exponents[e];
            for (int i = 0; i < n; i++)
                ref[i] = fabsf(x[i]) * scale;
            lps_pow_unit_inplace(ref, n, a);
            double partial[PARTIALS] = {0};
            for (int i = 0; i < n; i++)
                partial[i < n / PARTIALS * PARTIALS ? i % PARTIALS : 0] +=
                    (double)ref[i] * (double)fabsf(x[i]);
            double expect = 0.0;
            for (int k = 0; k < PARTIALS; k++)
                expect += partial[k];
            ck_assert(lps_pow_unit_dot(x, y, n, scale, a) == expect);
            ck_assert(lps_pow_unit_dot(x, NULL, n, scale, a) == expect);
            for (int i = 0; i < n; i++)
                ck_assert_msg(y[i] == ref[i], "n=%d a=%g: y[%d] %g, expected %g", n, a, i, y[i],
                              ref[i]);
        }
    }
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", matches_double_pow, 1},
        {"core", tiny_and_subnormal_inputs_flush_to_zero, 1},
        {"core", integer_powers_flush_as_every_product, 1},
        {"core", pow_dot_is_power_then_partial_sums, 1},
    };
    return test_run_table("unitpow", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
