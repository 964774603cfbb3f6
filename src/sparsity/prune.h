/* Masks over a set of prunable tensors: semi-pruning with threshold
 * adaptation (docs/method.md section 4), projection to an exact target,
 * one-shot magnitude pruning and gradual magnitude pruning (section 7).
 *
 * The functions see each tensor through an lps_prune_tensor view: a weight
 * buffer giving magnitudes, a mask (1 = active) and, for the grow step, the
 * full unmasked gradient, all three in the same layout (flat index k means
 * the same weight everywhere). For an LpSGD tensor pass its row-order
 * buffers (lps_lpsgd_latent_weight, st->mask, lps_lpsgd_pack of the
 * gradient) with lps_lpsgd_packed_layout; for a plain tensor (GMP) pass the
 * weight, its mask and the tensor's own row layout.
 *
 * Sparsity counts masked positions: zeros = positions with mask 0, over
 * tensors that are not excluded. Every selection picks an exact count and
 * breaks magnitude ties by (tensor order in the set, flat index), so runs
 * are reproducible. Selections are radix selections on the float bits of
 * |x| (two histogram passes, no sort, no copy of the weights).
 *
 * A tensor with an N:M pattern (docs/method.md, "N:M patterns") only ever
 * masks, in each group, members among its M - N smallest: the projections
 * and the one-shot / GMP selections pick the same counts as unstructured,
 * under that constraint, so that at the pattern's sparsity every group has
 * exactly M - N zeros. The exact projection (lps_project_to_target) sets
 * every group to its N largest, active positions first. The drop and grow
 * steps stay unstructured. */
#ifndef LPS_SPARSITY_PRUNE_H
#define LPS_SPARSITY_PRUNE_H

#include <stdint.h>

#include "core/ckpt_stream.h"
#include "lpsparsify/error.h"
#include "sparsity/pattern.h"
#include "sparsity/rows.h"

/* lps_prune_tensor.target value meaning "use the run's global target". */
#define LPS_PRUNE_GLOBAL_TARGET (-1.0)

typedef struct lps_prune_tensor {
    const char *name;     /* initializer name, for messages */
    lps_row_layout layout;/* rows of weight / mask / grad */
    int64_t numel;        /* must equal layout.n_rows * layout.row_len */
    const float *weight;  /* magnitudes, masked positions included (their latent value) */
    const float *grad;    /* full unmasked d(loss)/dw; read by the grow step only */
    uint8_t *mask;        /* 1 = active, 0 = pruned; updated in place */
    double target;        /* own target sparsity in [0, 1], or LPS_PRUNE_GLOBAL_TARGET */
    int excluded;         /* nonzero: never pruned and not counted */
    /* In the global pool, the share of the pool's density the tensor keeps
     * at least: never sparser than 1 - keep_share (1 - t) at the pool's
     * target t; the rest of the pool takes the difference. 1 for the
     * classifier (never sparser than the target), 0 for no floor
     * (docs/method.md, "The classifier under global allocation"). */
    double keep_share;
    /* N:M pattern of the mask (m == 0: unstructured) and the positions per
     * input channel of a row (sparsity/pattern.h). A patterned tensor is
     * its own group; its target should be lps_pattern_sparsity. */
    lps_pattern pattern;
    int64_t taps;
} lps_prune_tensor;

typedef enum lps_prune_allocation {
    LPS_ALLOC_GLOBAL = 0, /* one magnitude threshold across the tensors sharing the global target */
    LPS_ALLOC_PER_LAYER   /* each tensor hits the target on its own */
} lps_prune_allocation;

/* Checks every view (name, buffers, layout tiling numel, target range) and
 * the global target in [0, 1]. Returns LPS_ERR_INVALID naming the tensor. */
lps_status lps_prune_check(const lps_prune_tensor *ts, int n, double global_target,
                           lps_error *err);

/* Counts masked positions (*zeros) and all positions (*total) over the
 * tensors that are not excluded. */
void lps_prune_count(const lps_prune_tensor *ts, int n, int64_t *zeros, int64_t *total);

/* Makes the masks hit the target exactly: a group of tensors with target S
 * and N weights ends with round(S * N) masked positions. With global
 * allocation the tensors without their own target form one group; with
 * per-layer allocation, and for every tensor with its own target, each
 * tensor is its own group. A tensor of the global pool that the pool's
 * ranking would make sparser than its keep_share floor is its own group at
 * the floor instead, and the rest of the pool takes the remaining count (so
 * the pool's total is unchanged). A group with too few zeros masks its
 * smallest-|weight| active positions; one with too many restores its
 * largest-|weight| masked positions; the rest of the mask is kept. Returns
 * LPS_ERR_INVALID (see lps_prune_check), LPS_ERR_RUNTIME naming a tensor
 * whose weight is not finite, LPS_ERR_NOMEM; masks are unchanged on failure. */
lps_status lps_project_to_target(lps_prune_tensor *ts, int n, double global_target,
                                 lps_prune_allocation alloc, lps_error *err);

/* Raises every group to at least round(fraction * S * N) masked positions
 * (groups and S as in lps_project_to_target), masking its smallest-|weight|
 * active positions; a group already at or above that count is left alone.
 * fraction in [0, 1]. Same failures, masks unchanged on failure. */
lps_status lps_project_at_least(lps_prune_tensor *ts, int n, double global_target,
                                lps_prune_allocation alloc, double fraction, lps_error *err);

/* One-shot magnitude pruning: masks only the round(S * N) smallest |weight|
 * of each group (groups as in lps_project_to_target), ignoring the previous
 * mask. Same failures, masks unchanged on failure. */
lps_status lps_magnitude_prune(lps_prune_tensor *ts, int n, double global_target,
                               lps_prune_allocation alloc, lps_error *err);

/* ---- semi-pruning (docs/method.md section 4) ---- */

/* A schedule's frequency of 0 means "automatic": every step while the
 * window holds fewer than 2 * LPS_SCHEDULE_MIN_UPDATES steps, otherwise
 * floor(window / LPS_SCHEDULE_MIN_UPDATES) steps apart, so that any run
 * gets between LPS_SCHEDULE_MIN_UPDATES and twice as many updates
 * (docs/method.md, "Schedules"). */
#define LPS_SCHEDULE_MIN_UPDATES 100

/* Steps between two updates of a window [floor(begin * total), floor(end *
 * total)) for a frequency >= 0 (0: automatic, as above); always >= 1. */
int64_t lps_schedule_interval(int64_t frequency, double begin, double end, int64_t total_steps);

typedef struct lps_semiprune_config {
    int64_t frequency;     /* optimizer steps between topology updates; 0 = automatic */
    double begin;          /* fraction of the run where updates start */
    double end;            /* fraction where the mask is projected and frozen; begin < end <= 1 */
    double h0;             /* drop threshold factor at begin, cosine-annealed to 0 at end */
    double d;              /* threshold-adaptation rate, in (0, 1) */
    double grow_fraction0; /* initial grow fraction, > 0 */
} lps_semiprune_config;

/* Defaults: automatic frequency (docs/method.md section 4 used 40 steps), 20% to 80% of
 * the run, h0 0.2, d 0.1, grow fraction starting at 0.95. */
lps_semiprune_config lps_semiprune_config_default(void);

/* Checks the ranges documented on lps_semiprune_config. */
lps_status lps_semiprune_config_check(const lps_semiprune_config *cfg, lps_error *err);

typedef enum lps_semiprune_phase {
    LPS_SEMIPRUNE_DENSE = 0, /* before begin: masks untouched */
    LPS_SEMIPRUNE_ADAPT,     /* between begin and end, not an update step */
    LPS_SEMIPRUNE_UPDATE,    /* call lps_semiprune_update at this step */
    LPS_SEMIPRUNE_PROJECT,   /* the one step to call lps_project_to_target */
    LPS_SEMIPRUNE_FROZEN     /* after the projection: masks fixed */
} lps_semiprune_phase;

/* Phase of optimizer step `step` (0-based) in a run of total_steps. Updates
 * fall on floor(begin * total) + j * interval before floor(end * total)
 * (interval = lps_schedule_interval of the frequency);
 * the projection step is floor(end * total), clamped to total_steps - 1 so
 * that end = 1 still projects (before the last step). */
lps_semiprune_phase lps_semiprune_phase_at(const lps_semiprune_config *cfg, int64_t step,
                                           int64_t total_steps);

/* Drop-threshold factor h = h0 (1 + cos(pi (t - begin) / (end - begin))) / 2
 * at t = step / total, h0 before begin and 0 after end. */
double lps_semiprune_h(const lps_semiprune_config *cfg, int64_t step, int64_t total_steps);

/* Per-run adaptive state: one grow fraction per group (the global pool and
 * each tensor with its own target). The same tensor set, in the same
 * order, must be passed to every call. */
typedef struct lps_semiprune_state {
    int n_tensors;
    double pool_grow_fraction;
    double *grow_fraction; /* [n_tensors], used for tensors with their own target */
} lps_semiprune_state;

/* Sets every grow fraction to cfg->grow_fraction0. Returns LPS_ERR_NOMEM;
 * free with lps_semiprune_state_free. */
lps_status lps_semiprune_state_init(lps_semiprune_state *st, int n_tensors,
                                    const lps_semiprune_config *cfg, lps_error *err);

/* Transfers the grow fractions to or from checkpoint c (same n_tensors). */
lps_status lps_semiprune_state_transfer(lps_semiprune_state *st, lps_ckpt *c, lps_error *err);

/* Releases st's array (st itself is the caller's); st may be NULL. */
void lps_semiprune_state_free(lps_semiprune_state *st);

typedef struct lps_semiprune_stats {
    int64_t dropped;
    int64_t grown;
    int64_t zeros; /* after the update, over counted tensors */
    int64_t total;
    double h;
} lps_semiprune_stats;

/* Drop step on one tensor: in each row, active positions with |weight| <
 * h * mean(|weight| over the row's active positions) are masked. Returns the
 * number dropped. */
int64_t lps_prune_drop(lps_prune_tensor *t, double h);

/* Grow step on one tensor: re-activates the k masked positions with the
 * largest |grad| / ||grad row||_2 (k clamped to the number masked; zero-
 * gradient rows score 0). Returns LPS_ERR_INVALID without a gradient,
 * LPS_ERR_RUNTIME for a non-finite gradient, LPS_ERR_NOMEM; the mask is
 * unchanged on failure. */
lps_status lps_prune_grow(lps_prune_tensor *t, int64_t k, lps_error *err);

/* One topology update at `step`: drop (h from lps_semiprune_h), grow
 * floor(dropped * grow_fraction) per tensor, then adapt each group's grow
 * fraction: with s its sparsity after the update and S its target,
 * (1 - d) s / S when s < S (1 - h / 2), else (1 + d) s / S. Groups with
 * target 0 are left dense. Fills *stats (may be NULL). On failure masks may
 * be partly updated (a tensor's drop done, its grow not): the error is a
 * non-finite gradient or no memory, after which training cannot go on. */
lps_status lps_semiprune_update(lps_semiprune_state *st, const lps_semiprune_config *cfg,
                                lps_prune_tensor *ts, int n, double global_target,
                                int64_t step, int64_t total_steps, lps_semiprune_stats *stats,
                                lps_error *err);

/* ---- gradual magnitude pruning (docs/method.md section 7) ---- */

typedef struct lps_gmp_config {
    double initial_sparsity; /* s_0 in [0, 1) */
    double begin;            /* fraction of the run: t0 */
    double end;              /* fraction where s_t reaches the target; begin < end <= 1 */
    int64_t frequency;       /* dt, steps between mask updates; 0 = automatic */
} lps_gmp_config;

/* Checks the ranges documented on lps_gmp_config. */
lps_status lps_gmp_config_check(const lps_gmp_config *cfg, lps_error *err);

/* s_t = S + (s_0 - S) (1 - (step - t0) / (t1 - t0))^3 between t0 =
 * floor(begin * total) and t1 = floor(end * total) (clamped to total - 1),
 * s_0 before t0 and S after t1. */
double lps_gmp_sparsity(const lps_gmp_config *cfg, double target, int64_t step,
                        int64_t total_steps);

/* Nonzero when the masks are recomputed at `step`: t0 + j * dt up to t1,
 * and t1 itself (dt = lps_schedule_interval of the frequency). */
int lps_gmp_due(const lps_gmp_config *cfg, int64_t step, int64_t total_steps);

/* Recomputes the masks as magnitude pruning of each group (groups as in
 * lps_project_to_target: per layer, or one global pool for the tensors
 * without their own target) at s_t of the group's target. Pass weights
 * whose pruned positions are 0 to keep masks monotone. Same failures as
 * lps_magnitude_prune. */
lps_status lps_gmp_update(const lps_gmp_config *cfg, lps_prune_tensor *ts, int n,
                          double global_target, lps_prune_allocation alloc, int64_t step,
                          int64_t total_steps, lps_error *err);

#endif
