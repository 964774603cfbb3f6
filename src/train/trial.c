/* Trials of the update hook from a saved state (lps_trainer_trial,
 * train/trainer.h): the LpSGD step probe's machinery. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_internal.h"

/* Batch k of a trial: this rank's part, forward (and backward unless
 * forward_only), the sums over every rank into *sums; *diverged when the
 * loss was not finite on some rank. */
static lps_status trial_batch(lps_trainer *t, int64_t k, bool forward_only, lps_dist_step *sums,
                              bool *diverged, lps_error *err)
{
    int64_t count;
    size_t n;
    float *g = lps_plan_grad_data(t->plan, &n);
    step_outcome out = {NULL, ""};
    lps_status st = lps_feeder_next(&t->feed, &count, err);
    if (st == LPS_OK)
        st = lps_trainer_local_step(t, k, count, forward_only ? STEP_TRIAL_FORWARD : STEP_TRIAL, sums, &out,
                        err);
    if (st != LPS_OK && !out.diverged)
        return st;
    sums->diverged = out.diverged ? 1.0 : 0.0;
    if (lps_dist_size() > 1 &&
        (st = lps_dist_reduce_step(g, n, count, lps_batch_iter_global_count(&t->feed.it, k),
                                   sums, err)) != LPS_OK)
        return st;
    *diverged = sums->diverged > 0;
    return LPS_OK;
}

/* The update of a trial's step k from the gradients in the plan. */
static lps_status trial_update(lps_trainer *t, const lps_train_hooks *hooks, int64_t k,
                               int64_t total, bool *diverged, lps_error *err)
{
    size_t n;
    float *g = lps_plan_grad_data(t->plan, &n);
    if (t->opt.clip_norm > 0) {
        int64_t len = (int64_t)n;
        lps_clip_grad_global_norm(1, &g, &len, t->opt.clip_norm);
    }
    lps_status st = hooks->update(hooks->user, t->plan, k, total, lps_lr_at(&t->opt.lr, k, total),
                                  err);
    *diverged = st == LPS_ERR_RUNTIME ||
                (st == LPS_OK && !lps_trainer_all_finite(lps_plan_param_data(t->plan, NULL), n));
    return *diverged ? LPS_OK : st;
}

int64_t lps_trainer_steps_per_epoch(const lps_trainer *t)
{
    return lps_batch_iter_global_batches(&t->feed.it);
}

/* The trial's start for candidate c: the saved state (c > 0) then spec->prepare. */
static lps_status trial_start(lps_trainer *t, const lps_train_hooks *hooks,
                              const lps_trial_spec *spec, int64_t c, const float *saved,
                              lps_error *err)
{
    size_t n;
    float *w = lps_plan_param_data(t->plan, &n);
    if (c > 0) {
        memcpy(w, saved, n * sizeof *w);
        memcpy(t->momentum, saved + n, n * sizeof *w);
        if (hooks->restore)
            hooks->restore(hooks->user);
    }
    return spec->prepare ? spec->prepare(hooks->user, t->plan, err) : LPS_OK;
}

/* Candidate c of a trial from its start, batch 0's gradient in g0:
 * spec->select, then the updates and the batches after them. */
static lps_status trial_candidate(lps_trainer *t, const lps_train_hooks *hooks, int64_t total,
                                  const lps_trial_spec *spec, int64_t c, const float *g0,
                                  double *score, lps_error *err)
{
    size_t n;
    bool diverged = false;
    double loss_sum = 0.0;
    float *g = lps_plan_grad_data(t->plan, &n);
    memcpy(g, g0, n * sizeof *g0);
    spec->select(hooks->user, c);
    lps_status st = trial_update(t, hooks, 0, total, &diverged, err);
    for (int64_t k = 1; k <= spec->steps && st == LPS_OK && !diverged; k++) {
        lps_dist_step sums = {0};
        st = trial_batch(t, k, k == spec->steps, &sums, &diverged, err);
        if (st == LPS_OK && !diverged && sums.samples > 0)
            loss_sum += sums.loss_sum / sums.samples;
        if (st == LPS_OK && !diverged && k < spec->steps)
            st = trial_update(t, hooks, k, total, &diverged, err);
    }
    *score = diverged ? INFINITY : loss_sum / (double)spec->steps;
    return st;
}

lps_status lps_trainer_trial(lps_trainer *t, const lps_train_hooks *hooks,
                             const lps_trial_spec *spec, int64_t total, double *scores,
                             lps_error *err)
{
    size_t n;
    float *w = lps_plan_param_data(t->plan, &n);
    uint64_t rng = lps_exec_ctx_rng_state(t->ctx);
    bool diverged = false;
    if (spec->steps < 1 || spec->steps >= lps_trainer_steps_per_epoch(t) || spec->candidates < 1 ||
        !spec->select || !hooks || !hooks->update)
        return lps_fail(err, LPS_ERR_INVALID, "a trial of %lld steps needs candidates, an update "
                        "hook and more batches per epoch (%lld)", (long long)spec->steps,
                        (long long)lps_trainer_steps_per_epoch(t));
    /* the parameters and momentum as they were, then batch 0's gradient */
    float *saved = malloc(3 * n * sizeof *saved + 1);
    if (!saved)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for a trial's copy of the parameters");
    memcpy(saved, w, n * sizeof *w);
    memcpy(saved + n, t->momentum, n * sizeof *w);
    lps_status st = hooks->save ? hooks->save(hooks->user, err) : LPS_OK;
    if (st == LPS_OK)
        st = trial_start(t, hooks, spec, 0, saved, err);
    /* Batch 0 starts every candidate from the same state: one pass for all. */
    lps_dist_step sums0 = {0};
    lps_batch_iter_start_epoch(&t->feed.it, 0);
    if (st == LPS_OK)
        st = trial_batch(t, 0, false, &sums0, &diverged, err);
    memcpy(saved + 2 * n, lps_plan_grad_data(t->plan, NULL), n * sizeof *w);
    int64_t pos = t->feed.it.pos;
    uint64_t rng1 = lps_exec_ctx_rng_state(t->ctx);
    for (int64_t c = 0; c < spec->candidates && st == LPS_OK; c++) {
        scores[c] = INFINITY;
        if (diverged || (c > 0 && (st = trial_start(t, hooks, spec, c, saved, err)) != LPS_OK))
            continue;
        t->feed.it.pos = pos;
        lps_exec_ctx_reseed(t->ctx, rng1);
        st = trial_candidate(t, hooks, total, spec, c, saved + 2 * n, &scores[c], err);
    }
    memcpy(w, saved, n * sizeof *w);
    memcpy(t->momentum, saved + n, n * sizeof *w);
    lps_exec_ctx_reseed(t->ctx, rng);
    if (hooks->restore)
        hooks->restore(hooks->user);
    free(saved);
    return st;
}
