/* The session's state beyond the plan's parameters: the divergence guard's
 * copy (save, restore), checkpoint transfer and the masks' hash that
 * data-parallel ranks compare. */
#include <stdlib.h>
#include <string.h>

#include "sparsity/sparsify_internal.h"
#include "train/dist.h"

/* Allocates the guard's copy on the first save. */
static lps_status snapshot_alloc(lps_sparsify *s, lps_error *err)
{
    s->saved_lpsgd = calloc(s->n_layers + 1, sizeof *s->saved_lpsgd);
    s->saved_masks = calloc(s->n_layers + 1, sizeof *s->saved_masks);
    s->saved_momentum = malloc((s->n_floats + 1) * sizeof *s->saved_momentum);
    s->saved_grow = malloc((size_t)(s->n_views + 1) * sizeof *s->saved_grow);
    if (!s->saved_lpsgd || !s->saved_masks || !s->saved_momentum || !s->saved_grow)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the divergence guard's copy");
    for (int v = 0; v < s->n_views; v++) {
        int i = s->view_layer[v];
        if (s->masks[i] && !(s->saved_masks[i] = malloc((size_t)s->views[v].numel)))
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the divergence guard's copy");
    }
    return LPS_OK;
}

lps_status lps_sparsify_hook_save(void *user, lps_error *err)
{
    lps_sparsify *s = user;
    lps_status st = LPS_OK;
    if (!s->saved_momentum && (st = snapshot_alloc(s, err)) != LPS_OK)
        return st;
    memcpy(s->saved_momentum, s->momentum, s->n_floats * sizeof *s->momentum);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++) {
        int i = s->view_layer[v];
        if (s->lpsgd_views)
            st = lps_lpsgd_snapshot(&s->lpsgd[i], &s->saved_lpsgd[i], err);
        else
            memcpy(s->saved_masks[i], s->masks[i], (size_t)s->views[v].numel);
    }
    for (int v = 0; v < s->n_views && s->semi.grow_fraction; v++)
        s->saved_grow[v] = s->semi.grow_fraction[v];
    s->saved_pool_grow = s->semi.pool_grow_fraction;
    s->saved_final = s->masks_final;
    return st;
}

void lps_sparsify_hook_restore(void *user)
{
    lps_sparsify *s = user;
    if (!s->saved_momentum)
        return;
    memcpy(s->momentum, s->saved_momentum, s->n_floats * sizeof *s->momentum);
    for (int v = 0; v < s->n_views; v++) {
        int i = s->view_layer[v];
        if (s->lpsgd_views)
            lps_lpsgd_restore(&s->lpsgd[i], &s->saved_lpsgd[i]);
        else
            memcpy(s->masks[i], s->saved_masks[i], (size_t)s->views[v].numel);
    }
    for (int v = 0; v < s->n_views && s->semi.grow_fraction; v++)
        s->semi.grow_fraction[v] = s->saved_grow[v];
    s->semi.pool_grow_fraction = s->saved_pool_grow;
    s->masks_final = s->saved_final;
}

/* The guard's copy (hook_save), when one was taken. */
static lps_status transfer_guard_copy(lps_sparsify *s, lps_ckpt *c, lps_error *err)
{
    bool saved = s->saved_momentum != NULL;
    lps_status st = lps_ckpt_bool(c, "sparsify.guard_copy", &saved, err);
    if (st != LPS_OK || !saved)
        return st;
    if (!s->saved_momentum && (st = snapshot_alloc(s, err)) != LPS_OK)
        return st;
    st = lps_ckpt_floats(c, "sparsify.guard_momentum", s->saved_momentum, s->n_floats, err);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++) {
        int i = s->view_layer[v];
        if (!s->lpsgd_views)
            st = lps_ckpt_bytes(c, "sparsify.guard_mask", s->saved_masks[i],
                                (size_t)s->views[v].numel, err);
        else if (!lps_ckpt_reading(c) ||   /* reading: allocate the copy, then fill it */
                 (st = lps_lpsgd_snapshot(&s->lpsgd[i], &s->saved_lpsgd[i], err)) == LPS_OK)
            st = lps_lpsgd_transfer(&s->saved_lpsgd[i], c, err);
    }
    if (st == LPS_OK && s->semi.grow_fraction)
        st = lps_ckpt_doubles(c, "sparsify.guard_grow", s->saved_grow, (size_t)s->n_views, err);
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "sparsify.guard_pool_grow", &s->saved_pool_grow, err);
    if (st == LPS_OK)
        st = lps_ckpt_bool(c, "sparsify.guard_final", &s->saved_final, err);
    return st;
}

/* Wanda / SparseGPT: what the report says of the one-shot pass, which a
 * resumed run does not repeat. */
static lps_status transfer_oneshot(lps_sparsify *s, lps_ckpt *c, lps_error *err)
{
    lps_status st = lps_ckpt_i64(c, "sparsify.calibration_samples", &s->oneshot.samples, err);
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "sparsify.oneshot_seconds", &s->oneshot.seconds, err);
    for (size_t i = 0; i < s->n_layers && st == LPS_OK; i++)
        st = lps_ckpt_f64(c, "sparsify.reconstruction_error", &s->layers[i].recon_error, err);
    return st;
}

/* Checkpoint and resume: the momentum of the parameters the session
 * trains, the method's state (LpSGD latents and masks, semi-pruning grow
 * fractions, GMP and magnitude masks, the statistics correction) and the
 * divergence guard's copy. */
lps_status lps_sparsify_hook_transfer(void *user, lps_ckpt *c, lps_error *err)
{
    lps_sparsify *s = user;
    lps_status st = lps_ckpt_floats(c, "sparsify.momentum", s->momentum, s->n_floats, err);
    if (st == LPS_OK)
        st = lps_ckpt_bool(c, "sparsify.pruned_once", &s->pruned_once, err);
    if (st == LPS_OK)
        st = lps_ckpt_bool(c, "sparsify.masks_final", &s->masks_final, err);
    /* a resumed run skips hook_begin: the states are read next */
    if (st == LPS_OK && lps_ckpt_reading(c) && s->pruned_once && !s->lpsgd_views &&
        s->opt.finetune == LPS_FINETUNE_LPSS)
        st = lps_sparsify_start_lpss(s, err);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++) {
        int i = s->view_layer[v];
        st = s->lpsgd_views
                 ? lps_lpsgd_transfer(&s->lpsgd[i], c, err)
                 : lps_ckpt_bytes(c, "sparsify.mask", s->masks[i], (size_t)s->views[v].numel, err);
    }
    if (st == LPS_OK && (s->opt.method == LPS_METHOD_WANDA || s->opt.method == LPS_METHOD_SPARSEGPT))
        st = transfer_oneshot(s, c, err);
    if (st == LPS_OK && s->semi.grow_fraction)
        st = lps_semiprune_state_transfer(&s->semi, c, err);
    for (size_t i = 0; s->stats && i < s->n_layers && st == LPS_OK; i++)
        if (s->stats[i].value_id >= 0)
            st = lps_stats_layer_transfer(&s->stats[i], c, err);
    /* a resumed run skips the probe: it trains with the step chosen before */
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "sparsify.lpsgd_lr_scale", &s->opt.lpsgd_lr_scale, err);
    if (st == LPS_OK)
        st = lps_lr_probe_transfer(&s->probe, c, err);
    return st == LPS_OK ? transfer_guard_copy(s, c, err) : st;
}

/* The masks, which every data-parallel rank must hold alike
 * (docs/distributed.md); the weights are checked with the plan's. */
uint64_t lps_sparsify_hook_state_hash(void *user)
{
    const lps_sparsify *s = user;
    uint64_t h = LPS_DIST_HASH_INIT;
    for (int v = 0; v < s->n_views; v++)
        h = lps_dist_hash(h, s->views[v].mask, (size_t)s->views[v].numel);
    return h;
}
