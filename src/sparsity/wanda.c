/* Wanda (docs/method.md, "One-shot pruning from calibration"):
 * |W_ij| * ||X_j||_2, the lowest pruned
 * within each output row (the default) or within the whole layer. */
#include <math.h>
#include <stdlib.h>

#include "sparsity/oneshot.h"
#include "sparsity/select.h"

lps_status lps_wanda_prune(lps_oneshot_rows *r, const double *sq_norm, bool per_layer,
                           lps_error *err)
{
    int64_t n = r->rows * r->cols;
    float *score = malloc((size_t)(n > 0 ? n : 1) * sizeof *score);
    lps_status st = LPS_OK;
    if (!score)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the Wanda scores");
    for (int64_t i = 0; i < r->rows; i++)
        for (int64_t j = 0; j < r->cols; j++)
            score[i * r->cols + j] = (float)(fabs((double)r->w[i * r->cols + j]) * sqrt(sq_norm[j]));
    /* a group of rows_per_run rows shares one selection */
    int64_t rows_per_run = per_layer && !lps_pattern_on(r->pattern) ? r->rows : 1;
    for (int64_t i = 0; i < r->rows && st == LPS_OK; i += rows_per_run) {
        lps_select_run run = {rows_per_run, 0, r->cols, r->taps, r->pattern};
        int64_t offset = i * r->cols;
        st = lps_select_keep(score + offset, &run,
                             lps_select_share(r->target, r->start + offset, rows_per_run * r->cols),
                             r->keep + offset, r->cols, err);
    }
    for (int64_t k = 0; k < n && st == LPS_OK; k++)
        if (!r->keep[k])
            r->w[k] = 0.0f;
    free(score);
    return st;
}
