/* Per-layer targets from measured sensitivity (docs/method.md, "Sensitivity
 * and suggested targets"): each layer has a cost curve over a grid of
 * targets (the measured loss when that layer alone is pruned to each), and
 * the allocation picks targets that reach a global sparsity at the least
 * summed cost. */
#ifndef LPS_SPARSITY_ALLOCATE_H
#define LPS_SPARSITY_ALLOCATE_H

#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"

typedef struct lps_alloc_curve {
    int64_t params;       /* weights of the layer, > 0 */
    int n;                /* grid points */
    const double *target; /* [n], strictly increasing, in (0, 1] */
    const double *cost;   /* [n]: cost at each target; the cost at target 0 is 0 */
} lps_alloc_curve;

/* Chooses out[i] for every layer so that sum params_i out[i] equals
 * global * sum params_i: greedily, from every layer dense, the move of one
 * layer from its current point to any later grid point with the least cost
 * per pruned weight (ties: the earlier layer, then the nearer point) until
 * the budget is met; the last move stops part way (out[i] between two grid
 * points). Optimal for convex curves; the
 * look-ahead over later points takes a concave step as a whole. Returns
 * LPS_ERR_INVALID for a bad curve or global outside (0, 1), or when global
 * exceeds what the grid's largest targets reach (the message says the
 * maximum); out is unchanged on failure. */
lps_status lps_allocate_targets(const lps_alloc_curve *curves, size_t n_layers, double global,
                                double *out, lps_error *err);

#endif
