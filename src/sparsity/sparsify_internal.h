/* What the files of the sparsification session share (src/sparsity/sparsify*.c
 * only): the session, the one-shot pass (sparsify_oneshot.c) and the
 * divergence guard's copy and checkpoint transfer (sparsify_state.c). */
#ifndef LPS_SPARSITY_SPARSIFY_INTERNAL_H
#define LPS_SPARSITY_SPARSIFY_INTERNAL_H

#include "sparsity/lpsgd.h"
#include "sparsity/sparsify.h"
#include "sparsity/stats_fix.h"

struct lps_sparsify {
    const lps_model *model;
    lps_plan *plan;
    lps_sparsify_options opt;
    lps_train_options topt;
    lps_prunable_list weights;
    size_t n_layers;
    lps_sparsify_layer *layers;
    bool *param_is_pruned;    /* [n_params]: trained by the sparsifier, not plain SGD */
    float *momentum;          /* flat, like the parameters */
    lps_lpsgd_state *lpsgd;   /* [n_layers] (LpSS, counted layers) */
    uint8_t **masks;          /* [n_layers] (GMP, magnitude) */
    float **view_weight;      /* [n_layers] row-order latent weights (LpSS) */
    float **view_grad;        /* [n_layers] row-order gradients (LpSS) */
    lps_prune_tensor *views;  /* counted layers only */
    int *view_layer;          /* view -> layer */
    int n_views;
    lps_semiprune_state semi;
    lps_stats_layer *stats;   /* [n_layers]; value_id < 0: not corrected */
    size_t *bias_param;       /* [n_layers] plan parameter of the bias, or SIZE_MAX */
    bool pruned_once;         /* one-shot methods: the pruning happened */
    lps_oneshot_stats oneshot;
    bool lpsgd_views;         /* the views are the LpSGD states' (LpSS; a one-shot method's
                               * --finetune lpss once pruned), else masks[] */
    bool masks_final;         /* the projection (LpSS) or the last GMP update happened */
    size_t n_floats;          /* of the plan's flat parameters (momentum) */
    /* The divergence guard's copy (hook_save / hook_restore), allocated on
     * the first save. */
    lps_lpsgd_state *saved_lpsgd; /* [n_layers] (LpSS) */
    uint8_t **saved_masks;        /* [n_layers] (GMP, magnitude) */
    float *saved_momentum;
    double *saved_grow;           /* [n_views] grow fractions */
    double saved_pool_grow;
    bool saved_final;
    lps_lr_probe probe;           /* the automatic LpSGD step (lr_probe.c) */
    bool probing;                 /* in the probe's trials: LpSGD steps only, no topology
                                   * update or statistics correction */
    double probe_depth;           /* the trials prune to probe_depth times the targets */
};

/* The plan's parameters of layer i (lps_prunable order), as the forward reads them. */
float *lps_sparsify_layer_weights(const lps_sparsify *s, size_t i);

/* Initialises view v's LpSGD state from the layer's weights as the plan
 * holds them, with its row-order buffers, and points the view at them
 * (lps_lpsgd_init's errors, prefixed with the weight). */
lps_status lps_sparsify_lpsgd_view(lps_sparsify *s, int v, lps_error *err);

/* Pruned positions are exactly 0 in the forward weights. */
void lps_sparsify_apply_masks(lps_sparsify *s);

/* Wanda, SparseGPT: LPS_ERR_INVALID naming the option when the calibration
 * or SparseGPT settings cannot work. */
lps_status lps_sparsify_check_calibration(const lps_sparsify_options *opt, lps_error *err);

/* --finetune lpss after the one-shot pass: every view becomes an LpSGD
 * state of the pruned weights whose mask is the one-shot mask (row order);
 * the tensor-layout masks are freed. On failure the session can only be
 * freed. */
lps_status lps_sparsify_start_lpss(lps_sparsify *s, lps_error *err);

/* The one-shot methods' pruning (magnitude, Wanda, SparseGPT), applied to
 * the forward weights; sets pruned_once. Errors as lps_magnitude_prune and
 * lps_oneshot_prune. */
lps_status lps_sparsify_one_shot(lps_sparsify *s, lps_error *err);

/* Trainer hooks (train/trainer.h) of sparsify_state.c: the divergence
 * guard's save and restore, checkpoint transfer and the rank-agreement hash. */
lps_status lps_sparsify_hook_save(void *user, lps_error *err);
void lps_sparsify_hook_restore(void *user);
lps_status lps_sparsify_hook_transfer(void *user, lps_ckpt *c, lps_error *err);
uint64_t lps_sparsify_hook_state_hash(void *user);

/* The probe hook (lr_probe.c): with lpsgd_lr_auto and LpSGD training, tries
 * each candidate scale with lps_trainer_trial, keeps the lowest score's in
 * opt.lpsgd_lr_scale and records them in s->probe; announces the choice
 * through hooks->note. Errors of lps_trainer_trial. */
lps_status lps_sparsify_hook_probe(void *user, lps_trainer *t, const lps_train_hooks *hooks,
                                   int64_t total_steps, lps_error *err);

/* Transfers the probe's record to or from checkpoint c (errors as
 * lps_ckpt_bytes; LPS_ERR_INVALID for a corrupt candidate count). */
lps_status lps_lr_probe_transfer(lps_lr_probe *pr, lps_ckpt *c, lps_error *err);

#endif
