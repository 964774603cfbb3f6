#include "sparsity/select.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    float score;
    int64_t index;
} scored;

static int by_score(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The pattern's choice, row by row (positions relative to run->first,
 * which starts a group). */
static lps_status patterned_keep(const float *score, const lps_select_run *run, uint8_t *keep,
                                 int64_t keep_ld, lps_error *err)
{
    lps_pattern p = run->pattern;
    if (!lps_pattern_fits(p, run->len, run->taps) || run->first % ((int64_t)p.m * run->taps) != 0)
        return lps_fail(err, LPS_ERR_INVALID,
                        "positions [%lld, %lld) with %lld taps do not split into %d:%d groups",
                        (long long)run->first, (long long)(run->first + run->len),
                        (long long)run->taps, p.n, p.m);
    for (int64_t i = 0; i < run->len * run->rows; i++)
        if (isnan(score[i]))
            return lps_fail(err, LPS_ERR_RUNTIME, "the pruning score of row %lld, position %lld "
                            "is NaN", (long long)(i / run->len),
                            (long long)(run->first + i % run->len));
    for (int64_t r = 0; r < run->rows; r++)
        lps_pattern_row_mask(p, run->taps, score + r * run->len, run->len, keep + r * keep_ld);
    return LPS_OK;
}

lps_status lps_select_keep(const float *score, const lps_select_run *run, int64_t n_prune,
                           uint8_t *keep, int64_t keep_ld, lps_error *err)
{
    if (lps_pattern_on(run->pattern))
        return patterned_keep(score, run, keep, keep_ld, err);
    int64_t len = run->rows * run->len;
    if (n_prune < 0)
        n_prune = 0;
    if (n_prune > len)
        n_prune = len;
    scored *order = malloc((size_t)(len > 0 ? len : 1) * sizeof *order);
    if (!order)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the mask selection");
    for (int64_t i = 0; i < len; i++) {
        if (isnan(score[i])) {
            free(order);
            return lps_fail(err, LPS_ERR_RUNTIME, "the pruning score of row %lld, position %lld "
                            "is NaN", (long long)(i / run->len),
                            (long long)(run->first + i % run->len));
        }
        order[i] = (scored){score[i], i};
    }
    qsort(order, (size_t)len, sizeof *order, by_score);
    for (int64_t i = 0; i < len; i++) {
        int64_t k = order[i].index;
        keep[k / run->len * keep_ld + k % run->len] = i >= n_prune;
    }
    free(order);
    return LPS_OK;
}

int64_t lps_select_share(double target, int64_t start, int64_t len)
{
    return llround(target * (double)(start + len)) - llround(target * (double)start);
}
