/* Divergence guard of the training loop (docs/method.md, "Divergence"): a
 * last good copy of the flat parameters and momentum, restored when a step
 * produced a non-finite loss, gradient or weight, after which the step size
 * is halved. The trainer owns one; hooks save and restore their own state
 * alongside (lps_train_hooks.save / restore). */
#ifndef LPS_TRAIN_GUARD_H
#define LPS_TRAIN_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/ckpt_stream.h"
#include "lpsparsify/engine.h"
#include "lpsparsify/error.h"

/* Steps between two snapshots: a back-off loses at most this many steps. */
#define LPS_GUARD_SNAPSHOT_EVERY 20
/* Halvings of the step before a divergence is fatal (lr / 1024). */
#define LPS_GUARD_MAX_HALVINGS 10

typedef struct lps_train_guard {
    size_t n;              /* floats in the parameter and momentum buffers */
    float *params;         /* snapshot of the plan's flat parameters */
    float *momentum;       /* snapshot of the trainer's momentum */
    int64_t saved_step;    /* step whose starting state is saved; -1: none yet */
    double lr_scale;       /* 1, halved at each back-off */
    int halvings;
} lps_train_guard;

/* Allocates snapshot buffers of n floats; lr_scale 1, nothing saved.
 * LPS_ERR_NOMEM leaves g holding nothing. Release with lps_train_guard_release. */
lps_status lps_train_guard_init(lps_train_guard *g, size_t n, lps_error *err);

/* Frees g's buffers (g itself is the caller's); g may be NULL. */
void lps_train_guard_release(lps_train_guard *g);

/* Whether a snapshot is due at `step` (none yet, or SNAPSHOT_EVERY steps since). */
int lps_train_guard_due(const lps_train_guard *g, int64_t step);

/* Copies params and momentum (n floats each) as the state at the start of `step`. */
void lps_train_guard_save(lps_train_guard *g, const float *params, const float *momentum,
                          int64_t step);

/* The parameter of plan that moved most, relative to its norm, since the
 * snapshot (non-finite values count as infinitely far); "?" without one. */
const char *lps_train_guard_culprit(const lps_train_guard *g, lps_plan *plan);

/* Transfers the guard (snapshot, saved step, step-size factor, halvings)
 * to or from checkpoint c (same n). */
lps_status lps_train_guard_transfer(lps_train_guard *g, lps_ckpt *c, lps_error *err);

/* Copies the snapshot back into params and momentum and halves lr_scale.
 * Returns 0 when there was nothing to restore or LPS_GUARD_MAX_HALVINGS is
 * reached (the caller gives up), 1 otherwise. */
int lps_train_guard_restore(lps_train_guard *g, float *params, float *momentum);

#endif
