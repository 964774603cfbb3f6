#include <check.h>
#include <math.h>
#include <stdlib.h>

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
        {"core", pow_dot_is_power_then_partial_sums, 1},
    };
    return test_run_table("unitpow", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
