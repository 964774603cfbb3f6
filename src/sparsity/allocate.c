#include "sparsity/allocate.h"

#include <math.h>
#include <stdlib.h>

/* Target and cost of point k of a curve; k = -1 is the dense start. */
static double point_target(const lps_alloc_curve *c, int k) { return k < 0 ? 0.0 : c->target[k]; }
static double point_cost(const lps_alloc_curve *c, int k) { return k < 0 ? 0.0 : c->cost[k]; }

static lps_status check_curves(const lps_alloc_curve *curves, size_t n, double global,
                               double *reach, lps_error *err)
{
    if (!(global > 0.0 && global < 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "allocation: global target %g outside (0, 1)",
                        global);
    double total = 0.0, most = 0.0;
    for (size_t i = 0; i < n; i++) {
        const lps_alloc_curve *c = &curves[i];
        if (c->params <= 0 || c->n < 1)
            return lps_fail(err, LPS_ERR_INVALID, "allocation: layer %zu has no weights or grid",
                            i);
        for (int k = 0; k < c->n; k++)
            if (!(point_target(c, k) > point_target(c, k - 1)) || c->target[k] > 1.0 ||
                !isfinite(c->cost[k]))
                return lps_fail(err, LPS_ERR_INVALID,
                                "allocation: layer %zu: grid point %d is not increasing in "
                                "(0, 1] with a finite cost", i, k);
        total += (double)c->params;
        most += (double)c->params * c->target[c->n - 1];
    }
    *reach = total > 0.0 ? most / total : 0.0;
    if (n == 0 || global > *reach)
        return lps_fail(err, LPS_ERR_INVALID,
                        "allocation: the grid reaches at most %.4g overall, below %g", *reach,
                        global);
    return LPS_OK;
}

lps_status lps_allocate_targets(const lps_alloc_curve *curves, size_t n_layers, double global,
                                double *out, lps_error *err)
{
    double reach;
    lps_status st = check_curves(curves, n_layers, global, &reach, err);
    if (st != LPS_OK)
        return st;
    int *level = malloc(n_layers * sizeof *level);
    if (!level)
        return lps_fail(err, LPS_ERR_NOMEM, "allocation: out of memory");
    double total = 0.0;
    for (size_t i = 0; i < n_layers; i++) {
        level[i] = -1;
        total += (double)curves[i].params;
    }
    double budget = global * total, pruned = 0.0;
    size_t last = 0;
    double last_target = 0.0;
    for (;;) {
        double best = INFINITY;
        size_t bi = 0;
        int bk = -1;
        for (size_t i = 0; i < n_layers; i++) {
            const lps_alloc_curve *c = &curves[i];
            double t0 = point_target(c, level[i]), c0 = point_cost(c, level[i]);
            for (int k = level[i] + 1; k < c->n; k++) {
                double rate = (c->cost[k] - c0) / ((double)c->params * (c->target[k] - t0));
                if (rate < best) {
                    best = rate;
                    bi = i;
                    bk = k;
                }
            }
        }
        /* check_curves guarantees the budget is met before moves run out */
        const lps_alloc_curve *c = &curves[bi];
        double t0 = point_target(c, level[bi]);
        double step = (double)c->params * (c->target[bk] - t0);
        last = bi;
        if (bk < 0 || pruned + step >= budget) {
            last_target = bk < 0 ? t0 : t0 + (budget - pruned) / (double)c->params;
            break;
        }
        level[bi] = bk;
        pruned += step;
    }
    for (size_t i = 0; i < n_layers; i++)
        out[i] = i == last ? last_target : point_target(&curves[i], level[i]);
    free(level);
    return LPS_OK;
}
