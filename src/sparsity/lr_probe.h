/* The automatic LpSGD step (docs/method.md, "The LpSGD step"): before the
 * first step, a few LpSGD updates from the input model at each of a few
 * step scales (lps_trainer_trial), scored by the loss of the batches that
 * follow them; the run keeps the scale with the lowest loss. */
#ifndef LPS_SPARSITY_LR_PROBE_H
#define LPS_SPARSITY_LR_PROBE_H

#include <stdint.h>

/* Candidate scales: the default 0.015 times these factors. */
#define LPS_LR_PROBE_MAX 8

typedef struct lps_lr_probe {
    int64_t n;                       /* candidates tried; 0: the probe did not run */
    double scale[LPS_LR_PROBE_MAX];  /* --lpsgd-lr SCALE of each candidate */
    double score[LPS_LR_PROBE_MAX];  /* mean loss after its updates over the pruning
                                      * depths; INFINITY: diverged */
    double chosen;                   /* the scale the run trains with */
    int64_t steps;                   /* updates per candidate */
    int64_t batches;                 /* forward passes in all: per depth the first batch,
                                      * shared, then `steps` per candidate */
    int64_t run_steps;               /* of the run, to state the probe's cost */
    double seconds;
} lps_lr_probe;

/* The candidate the run trains with, an index below pr->n (pr->n > 0): the
 * lowest score, unless the run is long (pr->run_steps above
 * PROBE_SHORT_RUN_STEPS) and it is within PROBE_TIE_MARGIN (8%) of the
 * default scale's finite score, which then wins; the default on a tie with
 * it, else the smallest step on a tie and when every candidate diverged
 * (INFINITY). */
int64_t lps_lr_probe_pick(const lps_lr_probe *pr);

#endif
