#include "train/guard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"

lps_status lps_train_guard_init(lps_train_guard *g, size_t n, lps_error *err)
{
    memset(g, 0, sizeof *g);
    g->params = malloc((n + 1) * sizeof *g->params);
    g->momentum = malloc((n + 1) * sizeof *g->momentum);
    if (!g->params || !g->momentum) {
        lps_train_guard_release(g);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the divergence guard (%zu floats)",
                        n);
    }
    g->n = n;
    g->saved_step = -1;
    g->lr_scale = 1.0;
    return LPS_OK;
}

void lps_train_guard_release(lps_train_guard *g)
{
    if (!g)
        return;
    free(g->params);
    free(g->momentum);
    memset(g, 0, sizeof *g);
}

int lps_train_guard_due(const lps_train_guard *g, int64_t step)
{
    return g->saved_step < 0 || step - g->saved_step >= LPS_GUARD_SNAPSHOT_EVERY;
}

void lps_train_guard_save(lps_train_guard *g, const float *params, const float *momentum,
                          int64_t step)
{
    /* tens of megabytes for a ResNet, every LPS_GUARD_SNAPSHOT_EVERY steps */
    lps_par_copy(g->params, params, g->n);
    lps_par_copy(g->momentum, momentum, g->n);
    g->saved_step = step;
}

const char *lps_train_guard_culprit(const lps_train_guard *g, lps_plan *plan)
{
    const char *worst = "?";
    double worst_ratio = -1.0;
    const float *w = lps_plan_param_data(plan, NULL);
    for (size_t k = 0; g->saved_step >= 0 && k < lps_plan_n_params(plan); k++) {
        const lps_param *p = lps_plan_param(plan, k);
        double moved = 0.0, norm = 0.0;
        for (size_t i = p->offset; i < p->offset + p->numel; i++) {
            double d = (double)w[i] - (double)g->params[i];
            moved += d * d;
            norm += (double)g->params[i] * (double)g->params[i];
        }
        double ratio = isfinite(moved) ? sqrt(moved / (norm > 0.0 ? norm : 1.0)) : INFINITY;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = p->name;
        }
    }
    return worst;
}

int lps_train_guard_restore(lps_train_guard *g, float *params, float *momentum)
{
    if (g->saved_step < 0 || g->halvings >= LPS_GUARD_MAX_HALVINGS)
        return 0;
    memcpy(params, g->params, g->n * sizeof *params);
    memcpy(momentum, g->momentum, g->n * sizeof *momentum);
    g->lr_scale *= 0.5;
    g->halvings++;
    return 1;
}

lps_status lps_train_guard_transfer(lps_train_guard *g, lps_ckpt *c, lps_error *err)
{
    lps_status st = lps_ckpt_i64(c, "guard.saved_step", &g->saved_step, err);
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "guard.lr_scale", &g->lr_scale, err);
    if (st == LPS_OK)
        st = lps_ckpt_int(c, "guard.halvings", &g->halvings, err);
    /* The snapshot exists from the first save on. */
    if (st == LPS_OK && g->saved_step >= 0)
        st = lps_ckpt_floats(c, "guard.params", g->params, g->n, err);
    if (st == LPS_OK && g->saved_step >= 0)
        st = lps_ckpt_floats(c, "guard.momentum", g->momentum, g->n, err);
    return st;
}
