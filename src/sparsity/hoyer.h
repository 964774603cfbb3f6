/* Hoyer sparsity and its expectation under the gamma hypothesis
 * (docs/method.md sections 5 and 6).
 *
 * Everything here works on raw float buffers and a row layout, never on a
 * model, so that the trainer can measure the weights it is updating. All
 * sums are accumulated in double. "Undefined" results are NAN; callers turn
 * them into JSON null. */
#ifndef LPS_SPARSITY_HOYER_H
#define LPS_SPARSITY_HOYER_H

#include <stdint.h>

#include "sparsity/rows.h"

/* Hoyer sparsity of one row of w: (sqrt(n) - ||w||_1/||w||_2) / (sqrt(n) - 1)
 * with n = l->row_len. Returns NAN when the row is all zero or n < 2 (H is
 * undefined there). The result is clamped to [0, 1] against rounding. */
double lps_hoyer_row(const float *w, const lps_row_layout *l, int64_t row);

/* Hoyer sparsity of a contiguous vector of n values (the flattened tensor).
 * NAN when n < 2 or every value is zero. */
double lps_hoyer_vector(const float *w, int64_t n);

/* A layer's Hoyer sparsity: the mean of H over its rows. */
typedef struct lps_hoyer_mean {
    double mean;         /* NAN when no row has a defined H */
    int64_t rows_used;   /* rows that entered the mean */
    int64_t zero_rows;   /* all-zero rows, skipped */
} lps_hoyer_mean;

/* Mean row Hoyer sparsity of w laid out as l. All-zero rows are skipped and
 * counted in zero_rows. When l->row_len < 2 no row has a defined H: mean is
 * NAN, rows_used 0, and zero_rows still counts the all-zero rows. */
lps_hoyer_mean lps_hoyer_layer(const float *w, const lps_row_layout *l);

/* E[H] for a row of n weights whose squares are i.i.d. Gamma(k, theta),
 * evaluated with lgamma. Returns NAN when n < 2, k <= 0 or k is not finite. */
double lps_hoyer_expected(double n, double k);

/* The n -> infinity limit of lps_hoyer_expected: 1 - Gamma(k+1/2) /
 * (sqrt(k) Gamma(k)). NAN when k <= 0 or not finite. */
double lps_hoyer_expected_limit(double k);

/* Gamma shape predicted from the Lp exponent: k = 0.4 (p - 1). NAN when
 * p <= 1 or p is not finite. */
double lps_gamma_k_from_p(double p);

/* Maximum-likelihood Gamma shape k of x = w^2 over the non-zero entries of
 * w[0..count). Solves log(k) - digamma(k) = log(mean x) - mean(log x) by
 * safeguarded Newton, seeded with the moment estimate mean(x)^2 / var(x).
 * Returns NAN when fewer than 2 non-zero weights exist or all of them have
 * the same magnitude (the likelihood then has no finite maximum). */
double lps_gamma_fit_k(const float *w, int64_t count);

/* Digamma psi(x) and trigamma psi'(x) for x > 0 (NAN otherwise): recurrence
 * up to x >= 6, then the asymptotic series. Absolute error below 1e-12. */
double lps_digamma(double x);
double lps_trigamma(double x);

#endif
