/* N:M structured sparsity (docs/method.md, "N:M patterns"): at most N
 * non-zero weights in every group of M consecutive input channels of a
 * unit's row, at every kernel tap. This is the form TensorRT's sparse
 * kernels read from ordinary dense initializers (2:4).
 *
 * A row lists its positions input channel major: position i = c * taps + t,
 * where c is the input channel within the row and t the kernel tap (taps is
 * 1 for Gemm / MatMul / RNN rows, kh * kw for a 2-D Conv). Group g of a
 * row holds positions ((g / taps) * m + r) * taps + g % taps, r = 0..m-1:
 * m consecutive channels at one tap. */
#ifndef LPS_SPARSITY_PATTERN_H
#define LPS_SPARSITY_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/error.h"

/* Largest group size accepted. */
#define LPS_PATTERN_MAX_M 32

/* Keep at most n of every m; m == 0 means unstructured (no pattern). */
typedef struct lps_pattern {
    int n;
    int m;
} lps_pattern;

/* Parses "N:M" with 1 <= N < M <= LPS_PATTERN_MAX_M into *out. Returns
 * LPS_ERR_INVALID with a message quoting text (the caller prefixes the
 * option or key); *out is unchanged on failure. */
lps_status lps_pattern_parse(const char *text, lps_pattern *out, lps_error *err);

/* Whether p is a pattern (m > 0). */
static inline bool lps_pattern_on(lps_pattern p) { return p.m > 0; }

/* Sparsity the pattern sets: (m - n) / m; 0 without a pattern. */
double lps_pattern_sparsity(lps_pattern p);

/* Whether a row of row_len positions with `taps` positions per input
 * channel splits into whole groups: taps >= 1 divides row_len and m
 * divides the row's row_len / taps input channels. */
bool lps_pattern_fits(lps_pattern p, int64_t row_len, int64_t taps);

/* Position of member r of group g in a row (see above). */
static inline int64_t lps_pattern_position(lps_pattern p, int64_t taps, int64_t g, int r)
{
    return ((g / taps) * p.m + r) * taps + g % taps;
}

/* Orders the m members of one group best first into order[0..m): higher
 * tier first (tier may be NULL: all equal), then higher score, then lower
 * member index. Scores are compared as given (pass |w| for magnitude);
 * m <= LPS_PATTERN_MAX_M. */
void lps_pattern_order(const uint8_t *tier, const float *score, int m, int *order);

/* Chooses the mask of one row from per-weight scores: in every group the
 * n best-scoring positions (lps_pattern_order without tiers) get mask 1,
 * the others 0. score and mask hold the row's row_len values in position
 * order; p must fit the row (lps_pattern_fits). */
void lps_pattern_row_mask(lps_pattern p, int64_t taps, const float *score, int64_t row_len,
                          uint8_t *mask);

#endif
