/* The one mask choice of the calibrated one-shot methods (docs/method.md,
 * "One-shot pruning from calibration"): given a score per weight of a run
 * of one row's positions (higher = more important), which to keep. Wanda
 * calls it once per row, SparseGPT once per row of each column block; the
 * pattern (unstructured k-of-n here) is the only thing that varies. */
#ifndef LPS_SPARSITY_SELECT_H
#define LPS_SPARSITY_SELECT_H

#include <stdint.h>

#include "lpsparsify/error.h"
#include "sparsity/pattern.h"

/* Where the scores come from: `rows` rows (one for Wanda, a block's for
 * SparseGPT) at positions [first, first + len) of rows with `taps`
 * positions per input channel (Conv: its kernel taps; 1 for Gemm/MatMul),
 * and the N:M pattern the mask must follow (m == 0: unstructured). Under a
 * pattern, first and len are whole multiples of m * taps, so that every
 * group of the run lies inside it (sparsity/pattern.h). */
typedef struct lps_select_run {
    int64_t rows;
    int64_t first;
    int64_t len;
    int64_t taps;
    lps_pattern pattern;
} lps_select_run;

/* score is [rows, len] row-major; keep is [rows, keep_ld >= len].
 * Unstructured: sets keep = 0 for the n_prune lowest scores of the whole
 * run and 1 for the rest (n_prune clamped to [0, rows * len]); ties go to
 * the lower index first, so the choice is reproducible. Under a pattern:
 * keeps the N highest of every group of each row (lps_pattern_row_mask),
 * n_prune unused. Returns LPS_ERR_NOMEM (keep unchanged), LPS_ERR_RUNTIME
 * for a NaN score, LPS_ERR_INVALID for a run the pattern's groups do not
 * tile. */
lps_status lps_select_keep(const float *score, const lps_select_run *run, int64_t n_prune,
                           uint8_t *keep, int64_t keep_ld, lps_error *err);

/* Positions to prune in the run [start, start + len) of a layer's weights
 * (flattened row-major) so that every run gets its share and the layer as
 * a whole prunes exactly round(target * numel): round(target * (start +
 * len)) - round(target * start). */
int64_t lps_select_share(double target, int64_t start, int64_t len);

#endif
