/* The one-shot pass of a sparsification session: magnitude pruning, or
 * Wanda / SparseGPT from calibration (docs/method.md, "One-shot pruning
 * from calibration"), before any training step. */
#include <math.h>
#include <stdlib.h>

#include "sparsity/sparsify_internal.h"

lps_status lps_sparsify_check_calibration(const lps_sparsify_options *opt, lps_error *err)
{
    const lps_calibration *c = &opt->calibration;
    if (!c->data || c->samples < 1 || c->batch < 1)
        return lps_fail(err, LPS_ERR_INVALID, "%s needs calibration data: at least one sample "
                        "(--calibration) of a training split", lps_sparsify_method_name(opt->method));
    if (opt->sparsegpt.block < 1 || !(opt->sparsegpt.damp > 0.0))
        return lps_fail(err, LPS_ERR_INVALID, "sparsegpt: block %lld and dampening %g must be "
                        "positive", (long long)opt->sparsegpt.block, opt->sparsegpt.damp);
    return LPS_OK;
}

/* Global allocation for the calibrated methods: each layer's target is
 * the sparsity global magnitude pruning would give it (docs/method.md,
 * "One-shot pruning from calibration"). targets[v] per view. */
static lps_status magnitude_allocation(lps_sparsify *s, double *targets, lps_error *err)
{
    lps_status st = lps_magnitude_prune(s->views, s->n_views, s->opt.target, LPS_ALLOC_GLOBAL, err);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++) {
        int64_t zeros = 0;
        for (int64_t k = 0; k < s->views[v].numel; k++)
            zeros += !s->views[v].mask[k];
        targets[v] = (double)zeros / (double)s->views[v].numel;
    }
    return st;
}

/* Wanda / SparseGPT over the counted layers, in graph order, each to its
 * own target. */
static lps_status calibrated_prune(lps_sparsify *s, lps_error *err)
{
    lps_oneshot_config cfg = {s->opt.method == LPS_METHOD_WANDA ? LPS_ONESHOT_WANDA
                                                                : LPS_ONESHOT_SPARSEGPT,
                              s->opt.calibration, s->opt.sparsegpt, s->opt.wanda_per_layer};
    lps_oneshot_layer *ls = calloc((size_t)s->n_views + 1, sizeof *ls);
    double *targets = calloc((size_t)s->n_views + 1, sizeof *targets);
    lps_status st = LPS_OK;
    if (!ls || !targets)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    if (st == LPS_OK && s->opt.allocation == LPS_ALLOC_GLOBAL)
        st = magnitude_allocation(s, targets, err);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++) {
        const lps_sparsify_layer *L = &s->layers[s->view_layer[v]];
        double t = L->target >= 0 ? L->target
                   : s->opt.allocation == LPS_ALLOC_GLOBAL ? targets[v]
                                                           : s->opt.target;
        ls[v] = (lps_oneshot_layer){L->weight,
                                    lps_sparsify_layer_weights(s, (size_t)s->view_layer[v]),
                                    s->views[v].mask, t, s->views[v].pattern, NAN};
    }
    if (st == LPS_OK)
        st = lps_oneshot_prune(s->plan, &cfg, ls, s->n_views, &s->oneshot, err);
    for (int v = 0; v < s->n_views && st == LPS_OK; v++)
        s->layers[s->view_layer[v]].recon_error = ls[v].recon_error;
    free(ls);
    free(targets);
    return st;
}

lps_status lps_sparsify_one_shot(lps_sparsify *s, lps_error *err)
{
    lps_status st = s->opt.method == LPS_METHOD_MAGNITUDE
                        ? lps_magnitude_prune(s->views, s->n_views, s->opt.target,
                                              s->opt.allocation, err)
                        : calibrated_prune(s, err);
    if (st == LPS_OK) {
        lps_sparsify_apply_masks(s);
        s->pruned_once = true;
    }
    return st;
}

bool lps_sparsify_oneshot_stats(const lps_sparsify *s, lps_oneshot_stats *stats)
{
    bool calibrated = s->pruned_once && s->opt.method != LPS_METHOD_MAGNITUDE;
    if (calibrated)
        *stats = s->oneshot;
    return calibrated;
}

lps_status lps_sparsify_check_method_options(const lps_sparsify_options *opt,
                                             const lps_train_options *train_opt, lps_error *err)
{
    if (opt->stats_fix && lps_sparsify_method_is_oneshot(opt->method))
        return lps_fail(err, LPS_ERR_INVALID, "--stats-fix on: corrects statistics while LpSS or "
                        "GMP prune, not after the one-shot --method %s",
                        lps_sparsify_method_name(opt->method));
    if (opt->finetune != LPS_FINETUNE_LPSS)
        return LPS_OK;
    if (!lps_sparsify_method_is_oneshot(opt->method))
        return lps_fail(err, LPS_ERR_INVALID, "--finetune lpss: fine-tunes after a one-shot "
                        "--method (magnitude, wanda or sparsegpt), not %s",
                        lps_sparsify_method_name(opt->method));
    if (train_opt->epochs < 1)
        return lps_fail(err, LPS_ERR_INVALID, "--finetune lpss: needs --epochs > 0 (--epochs 0 "
                        "writes the one-shot result untrained)");
    return LPS_OK;
}

lps_status lps_sparsify_start_lpss(lps_sparsify *s, lps_error *err)
{
    for (int v = 0; v < s->n_views; v++) {
        int i = s->view_layer[v];
        const lps_row_layout *l = &s->layers[i].weight->layout;
        lps_status st = lps_sparsify_lpsgd_view(s, v, err);
        if (st != LPS_OK)
            return st;
        for (int64_t r = 0; r < l->n_rows; r++)
            for (int64_t k = 0; k < l->row_len; k++)
                s->lpsgd[i].mask[r * l->row_len + k] = s->masks[i][lps_row_offset(l, r, k)];
        free(s->masks[i]);
        s->masks[i] = NULL;
    }
    s->lpsgd_views = true;
    return LPS_OK;
}
