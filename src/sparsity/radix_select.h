/* The exact-count selection behind the mask updates (sparsity/prune.h):
 * a radix selection on the float bits of |score| over one or more masks,
 * cut across threads (core/par.h) with results that do not depend on the
 * cut (docs/method.md, "Threads in the mask updates"). */
#ifndef LPS_SPARSITY_RADIX_SELECT_H
#define LPS_SPARSITY_RADIX_SELECT_H

#include <stdint.h>

#include "lpsparsify/error.h"

/* Candidates of a selection: positions whose mask has this value, or all. */
#define LPS_SELECT_ANY 2

/* One member of a selection: a mask and the scores ranking it. */
typedef struct lps_select_member {
    uint8_t *mask;
    const float *score;
    int64_t numel;
} lps_select_member;

/* Histogram workspace for the selections of one mask update. */
typedef struct lps_radix_selector lps_radix_selector;

/* A selector with room for lps_par_threads() chunks; NULL with
 * LPS_ERR_NOMEM in err. Free with lps_radix_selector_free. */
lps_radix_selector *lps_radix_selector_new(lps_error *err);

/* Frees s; NULL is a no-op. */
void lps_radix_selector_free(lps_radix_selector *s);

/* Flips the k best candidates of the members (smallest |score|, or
 * largest when `largest` is set; ties in member then index order) to the
 * opposite of `cand` (0 or 1); with cand == LPS_SELECT_ANY the selected
 * positions become 0 and the others 1. k is clamped to the candidates.
 * Scores must be finite (checked by the callers). The masks come out the
 * same at any thread count. Cannot fail. */
void lps_radix_select_flip(lps_radix_selector *s, const lps_select_member *ms, int n_members,
                           int cand, int64_t k, int largest);

#endif
