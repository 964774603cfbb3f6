#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sparsity/hoyer.h"
#include "test_suite.h"

#define REF_TOL 1e-4

START_TEST(expected_matches_reference_values)
{
    /* docs/method.md section 6, k predicted from p. */
    ck_assert_double_eq_tol(lps_hoyer_expected(25, lps_gamma_k_from_p(2.0)), 0.2859, REF_TOL);
    ck_assert_double_eq_tol(lps_hoyer_expected(25, lps_gamma_k_from_p(1.1)), 0.7758, REF_TOL);
    ck_assert_double_eq_tol(lps_hoyer_expected(3136, lps_gamma_k_from_p(1.2)), 0.5568, REF_TOL);
    ck_assert_double_eq_tol(lps_gamma_k_from_p(1.5), 0.2, 1e-15);
}
END_TEST

START_TEST(expected_tends_to_limit_and_rejects_bad_args)
{
    double k = 0.08;
    double lim = lps_hoyer_expected_limit(k);
    ck_assert_double_eq_tol(lim, 0.5470479728, 1e-9);
    ck_assert_double_eq_tol(lps_hoyer_expected(1e8, k), lim, 1e-3);
    /* The approach is monotone: larger rows are closer to the limit. */
    ck_assert(fabs(lps_hoyer_expected(1e6, k) - lim) < fabs(lps_hoyer_expected(1e3, k) - lim));
    ck_assert(isnan(lps_hoyer_expected(1, k)));
    ck_assert(isnan(lps_hoyer_expected(25, 0.0)));
    ck_assert(isnan(lps_hoyer_expected(25, NAN)));
    ck_assert(isnan(lps_hoyer_expected_limit(-1.0)));
    ck_assert(isnan(lps_gamma_k_from_p(1.0)));
}
END_TEST

START_TEST(polygamma_known_values)
{
    const double euler_gamma = 0.57721566490153286;
    ck_assert_double_eq_tol(lps_digamma(1.0), -euler_gamma, 1e-13);
    ck_assert_double_eq_tol(lps_digamma(0.5), -euler_gamma - 2.0 * log(2.0), 1e-13);
    ck_assert_double_eq_tol(lps_digamma(100.0), 4.600161852738087, 1e-13);
    ck_assert_double_eq_tol(lps_trigamma(1.0), M_PI * M_PI / 6.0, 1e-13);
    ck_assert_double_eq_tol(lps_trigamma(0.5), M_PI * M_PI / 2.0, 1e-12);
    ck_assert_double_eq_tol(lps_trigamma(50.0), 0.020201333226697125, 1e-14);
    ck_assert(isnan(lps_digamma(0.0)));
    ck_assert(isnan(lps_trigamma(-2.0)));
}
END_TEST

START_TEST(uniform_magnitude_row_is_zero_and_one_hot_is_one)
{
    float w[] = {0.5f, -0.5f, 0.5f, -0.5f,   /* row 0: equal magnitudes */
                 0.0f, 3.0f, 0.0f, 0.0f};    /* row 1: one non-zero */
    int64_t dims[] = {2, 4};
    lps_row_layout l = lps_rows_unit_major(2, dims);
    ck_assert_double_eq_tol(lps_hoyer_row(w, &l, 0), 0.0, 1e-12);
    ck_assert_double_eq_tol(lps_hoyer_row(w, &l, 1), 1.0, 1e-12);
    lps_hoyer_mean m = lps_hoyer_layer(w, &l);
    ck_assert_double_eq_tol(m.mean, 0.5, 1e-12);
    ck_assert_int_eq(m.rows_used, 2);
    ck_assert_int_eq(m.zero_rows, 0);
}
END_TEST

START_TEST(column_layout_reads_columns)
{
    /* [in=3, out=2]: column 0 is one-hot, column 1 uniform. */
    float w[] = {0.0f, 1.0f,
                 2.0f, -1.0f,
                 0.0f, 1.0f};
    int64_t dims[] = {3, 2};
    lps_row_layout l = lps_rows_column_major(dims);
    ck_assert_double_eq_tol(lps_hoyer_row(w, &l, 0), 1.0, 1e-12);
    ck_assert_double_eq_tol(lps_hoyer_row(w, &l, 1), 0.0, 1e-12);
    /* Flattened: l1 = 5, l2^2 = 7 over n = 6. */
    double l1 = 5.0, l2 = sqrt(7.0), sn = sqrt(6.0);
    ck_assert_double_eq_tol(lps_hoyer_vector(w, 6), (sn - l1 / l2) / (sn - 1.0), 1e-12);
}
END_TEST

START_TEST(all_zero_row_is_skipped_and_counted)
{
    float w[] = {1.0f, 0.0f, 0.0f,
                 0.0f, 0.0f, 0.0f,
                 1.0f, 1.0f, 1.0f};
    int64_t dims[] = {3, 3};
    lps_row_layout l = lps_rows_unit_major(2, dims);
    ck_assert(isnan(lps_hoyer_row(w, &l, 1)));
    lps_hoyer_mean m = lps_hoyer_layer(w, &l);
    ck_assert_int_eq(m.zero_rows, 1);
    ck_assert_int_eq(m.rows_used, 2);
    ck_assert_double_eq_tol(m.mean, 0.5, 1e-12);
    float zeros[4] = {0};
    ck_assert(isnan(lps_hoyer_vector(zeros, 4)));
}
END_TEST

START_TEST(rows_of_length_one_have_no_hoyer)
{
    float w[] = {2.0f, 0.0f, -1.0f};
    int64_t dims[] = {3, 1};
    lps_row_layout l = lps_rows_unit_major(2, dims);
    ck_assert(isnan(lps_hoyer_row(w, &l, 0)));
    lps_hoyer_mean m = lps_hoyer_layer(w, &l);
    ck_assert(isnan(m.mean));
    ck_assert_int_eq(m.rows_used, 0);
    ck_assert_int_eq(m.zero_rows, 1);
    ck_assert(isnan(lps_hoyer_vector(w, 1)));
}
END_TEST

/* splitmix64: a small deterministic generator for the synthetic samples. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
    return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *s)
{
    return sqrt(-2.0 * log(uniform01(s))) * cos(2.0 * M_PI * uniform01(s));
}

/* Marsaglia-Tsang Gamma(k, 1), with the U^(1/k) boost for k < 1. */
static double gamma_sample(double k, uint64_t *s)
{
    if (k < 1.0)
        return gamma_sample(k + 1.0, s) * pow(uniform01(s), 1.0 / k);
    double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal(s), v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = uniform01(s);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

#define FIT_SAMPLES 20000
#define FIT_REL_TOL 0.05

START_TEST(ml_fit_recovers_gamma_shape)
{
    const double shapes[] = {0.08, 0.4, 1.0, 3.0};
    float *w = malloc(FIT_SAMPLES * sizeof *w);
    ck_assert_ptr_nonnull(w);
    uint64_t seed = 12345;
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        for (int i = 0; i < FIT_SAMPLES; i++) {
            float mag = (float)sqrt(gamma_sample(shapes[t], &seed) * 0.01);
            w[i] = (i % 2) ? -mag : mag;
        }
        double k = lps_gamma_fit_k(w, FIT_SAMPLES);
        ck_assert_msg(fabs(k - shapes[t]) < FIT_REL_TOL * shapes[t],
                      "k=%g fitted %g", shapes[t], k);
    }
    free(w);
}
END_TEST

START_TEST(ml_fit_solves_likelihood_equation)
{
    float w[] = {0.1f, -0.3f, 0.0f, 0.25f, 0.05f, -0.7f, 0.0f, 0.12f};
    double k = lps_gamma_fit_k(w, 8);
    double mean = 0.0, mean_log = 0.0;
    int n = 0;
    for (int i = 0; i < 8; i++) {
        double x = (double)w[i] * w[i];
        if (x > 0.0) {
            mean += x;
            mean_log += log(x);
            n++;
        }
    }
    mean /= n;
    mean_log /= n;
    ck_assert_double_eq_tol(log(k) - lps_digamma(k), log(mean) - mean_log, 1e-10);
}
END_TEST

START_TEST(ml_fit_undefined_cases)
{
    float one[] = {0.0f, 0.5f, 0.0f};
    float equal[] = {0.5f, -0.5f, 0.5f};
    ck_assert(isnan(lps_gamma_fit_k(one, 3)));
    ck_assert(isnan(lps_gamma_fit_k(equal, 3)));
    ck_assert(isnan(lps_gamma_fit_k(NULL, 0)));
    /* Nearly equal magnitudes give a very large but finite k. */
    float close[] = {1.0f, 1.0001f, 0.9999f, 1.0f};
    double k = lps_gamma_fit_k(close, 4);
    ck_assert(isfinite(k) && k > 1e6);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", expected_matches_reference_values, 1},
        {"core", expected_tends_to_limit_and_rejects_bad_args, 1},
        {"core", polygamma_known_values, 1},
        {"core", uniform_magnitude_row_is_zero_and_one_hot_is_one, 1},
        {"core", column_layout_reads_columns, 1},
        {"core", all_zero_row_is_skipped_and_counted, 1},
        {"core", rows_of_length_one_have_no_hoyer, 1},
        {"core", ml_fit_recovers_gamma_shape, 1},
        {"core", ml_fit_solves_likelihood_equation, 1},
        {"core", ml_fit_undefined_cases, 1},
    };
    return test_run_table("hoyer", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
