#include "sparsity/hoyer.h"

#include <math.h>

/* Below this argument digamma/trigamma use the recurrence psi(x) = psi(x+1)
 * - 1/x; at and above it the asymptotic series is accurate to ~1e-16. */
#define LPS_PSI_ASYMPTOTIC_FROM 10.0

/* Newton iteration limits for the Gamma shape fit. Convergence is usually
 * reached in under ten steps; the cap only guards against a stuck loop. */
#define LPS_GAMMA_FIT_MAX_ITER 100
#define LPS_GAMMA_FIT_REL_TOL 1e-12

/* Slope of the published prediction curves: k = 0.4 (p - 1). */
#define LPS_GAMMA_K_PER_P 0.4

/* Sums |w| and w^2 of one row in double. */
static void row_norms(const float *w, const lps_row_layout *l, int64_t row,
                      double *l1, double *l2sq)
{
    double a = 0.0, b = 0.0;
    const float *p = w + lps_row_offset(l, row, 0);
    bool simple = lps_rows_simple(l);
    for (int64_t i = 0; i < l->row_len; i++) {
        double x = simple ? p[i * l->elem_stride] : w[lps_row_offset(l, row, i)];
        a += fabs(x);
        b += x * x;
    }
    *l1 = a;
    *l2sq = b;
}

/* H from the norms of a row of length n; NAN when undefined. */
static double hoyer_from_norms(double l1, double l2sq, int64_t n)
{
    if (n < 2 || !(l2sq > 0.0))
        return NAN;
    double sqrt_n = sqrt((double)n);
    double h = (sqrt_n - l1 / sqrt(l2sq)) / (sqrt_n - 1.0);
    return fmin(1.0, fmax(0.0, h));
}

double lps_hoyer_row(const float *w, const lps_row_layout *l, int64_t row)
{
    double l1, l2sq;
    row_norms(w, l, row, &l1, &l2sq);
    return hoyer_from_norms(l1, l2sq, l->row_len);
}

double lps_hoyer_vector(const float *w, int64_t n)
{
    lps_row_layout flat = {.n_rows = 1, .row_len = n, .row_stride = n, .elem_stride = 1};
    return lps_hoyer_row(w, &flat, 0);
}

lps_hoyer_mean lps_hoyer_layer(const float *w, const lps_row_layout *l)
{
    lps_hoyer_mean r = {NAN, 0, 0};
    double sum = 0.0;
    for (int64_t j = 0; j < l->n_rows; j++) {
        double l1, l2sq;
        row_norms(w, l, j, &l1, &l2sq);
        if (!(l2sq > 0.0)) {
            r.zero_rows++;
            continue;
        }
        double h = hoyer_from_norms(l1, l2sq, l->row_len);
        if (isnan(h))
            continue;
        sum += h;
        r.rows_used++;
    }
    if (r.rows_used > 0)
        r.mean = sum / (double)r.rows_used;
    return r;
}

/* log Gamma(a+1/2) - log Gamma(a) for a > 0. lgamma_r avoids the global
 * signgam that plain lgamma writes; the arguments are positive so the sign
 * is always +1. */
static double lgamma_half_step(double a)
{
    int sign;
    return lgamma_r(a + 0.5, &sign) - lgamma_r(a, &sign);
}

/* A usable Gamma shape: finite and positive. */
static int valid_shape(double k)
{
    return isfinite(k) && k > 0.0;
}

double lps_hoyer_expected(double n, double k)
{
    if (!(n >= 2.0) || !isfinite(n) || !valid_shape(k))
        return NAN;
    /* E[||w||_1/||w||_2] = n Gamma(k+1/2) Gamma(nk) / (Gamma(k) Gamma(nk+1/2)) */
    double log_ratio = lgamma_half_step(k) - lgamma_half_step(n * k);
    double expected_ratio = n * exp(log_ratio);
    double sqrt_n = sqrt(n);
    return (sqrt_n - expected_ratio) / (sqrt_n - 1.0);
}

double lps_hoyer_expected_limit(double k)
{
    if (!valid_shape(k))
        return NAN;
    return 1.0 - exp(lgamma_half_step(k)) / sqrt(k);
}

double lps_gamma_k_from_p(double p)
{
    if (!isfinite(p) || !(p > 1.0))
        return NAN;
    return LPS_GAMMA_K_PER_P * (p - 1.0);
}

double lps_digamma(double x)
{
    if (!(x > 0.0) || !isfinite(x))
        return NAN;
    double shift = 0.0;
    while (x < LPS_PSI_ASYMPTOTIC_FROM) {
        shift -= 1.0 / x;
        x += 1.0;
    }
    double r = 1.0 / (x * x);
    /* Bernoulli-number series: -1/(12x^2) + 1/(120x^4) - 1/(252x^6) + ... */
    double series = r * (-1.0 / 12 + r * (1.0 / 120 + r * (-1.0 / 252 + r * (1.0 / 240
                  + r * (-1.0 / 132 + r * (691.0 / 32760 + r * (-1.0 / 12)))))));
    return shift + log(x) - 0.5 / x + series;
}

double lps_trigamma(double x)
{
    if (!(x > 0.0) || !isfinite(x))
        return NAN;
    double shift = 0.0;
    while (x < LPS_PSI_ASYMPTOTIC_FROM) {
        shift += 1.0 / (x * x);
        x += 1.0;
    }
    double r = 1.0 / (x * x);
    /* 1/x + 1/(2x^2) + 1/(6x^3) - 1/(30x^5) + 1/(42x^7) - 1/(30x^9) + ... */
    double series = (1.0 / 6 + r * (-1.0 / 30 + r * (1.0 / 42 + r * (-1.0 / 30
                  + r * (5.0 / 66 + r * (-691.0 / 2730 + r * (7.0 / 6))))))) * r / x;
    return shift + 1.0 / x + 0.5 * r + series;
}

/* log(x) - digamma(x), computed without cancellation for large x where both
 * terms are nearly equal (that is where very regular layers put k). */
static double log_minus_digamma(double x)
{
    if (x < LPS_PSI_ASYMPTOTIC_FROM)
        return log(x) - lps_digamma(x);
    double r = 1.0 / (x * x);
    double series = r * (1.0 / 12 + r * (-1.0 / 120 + r * (1.0 / 252 + r * (-1.0 / 240
                  + r * (1.0 / 132 + r * (-691.0 / 32760 + r * (1.0 / 12)))))));
    return 0.5 / x + series;
}

/* Sufficient statistics of x = w^2 over the non-zero weights. */
typedef struct gamma_stats {
    int64_t count;
    double mean;       /* mean of x */
    double var;        /* population variance of x */
    double mean_log;   /* mean of log x */
} gamma_stats;

/* Statistics of w^2 over the non-zero entries of w[0..count); count 0 in the
 * result when there are none. */
static gamma_stats gamma_stats_of(const float *w, int64_t count)
{
    gamma_stats s = {0, 0.0, 0.0, 0.0};
    double sum = 0.0, sum_log = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double x = (double)w[i] * (double)w[i];
        if (x > 0.0) {
            s.count++;
            sum += x;
            sum_log += log(x);
        }
    }
    if (s.count == 0)
        return s;
    s.mean = sum / (double)s.count;
    s.mean_log = sum_log / (double)s.count;
    /* Second pass: the one-pass variance loses everything when k is large. */
    double ss = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double x = (double)w[i] * (double)w[i];
        if (x > 0.0)
            ss += (x - s.mean) * (x - s.mean);
    }
    s.var = ss / (double)s.count;
    return s;
}

double lps_gamma_fit_k(const float *w, int64_t count)
{
    gamma_stats st = gamma_stats_of(w, count);
    if (st.count < 2 || !(st.var > 0.0))
        return NAN;
    double k = st.mean * st.mean / st.var;
    double target = log(st.mean) - st.mean_log;
    /* Jensen makes target > 0 whenever var > 0; rounding can still bring it
     * to zero for nearly equal magnitudes, where the moment estimate is the
     * best answer available. */
    if (!(target > 0.0))
        return k;
    for (int it = 0; it < LPS_GAMMA_FIT_MAX_ITER; it++) {
        double f = log_minus_digamma(k) - target;
        double slope = 1.0 / k - lps_trigamma(k);
        double next = k - f / slope;
        /* f is convex and decreasing: Newton from the right can overshoot
         * below zero; halving puts k left of the root, from where Newton
         * converges monotonically. */
        if (!(next > 0.0))
            next = 0.5 * k;
        if (fabs(next - k) <= LPS_GAMMA_FIT_REL_TOL * k) {
            k = next;
            break;
        }
        k = next;
    }
    return k;
}
