/* The per-layer sparsity figures the reports show, computed from a weight
 * buffer and its row layout (no model needed, so the trainer can report on
 * the weights it holds). */
#ifndef LPS_SPARSITY_LAYER_STATS_H
#define LPS_SPARSITY_LAYER_STATS_H

#include <stdint.h>

#include "sparsity/hoyer.h"
#include "sparsity/rows.h"

typedef struct lps_layer_stats {
    int64_t params;             /* n_rows * row_len */
    int64_t zeros;              /* entries exactly 0.0f (either sign) */
    double sparsity;            /* zeros / params; NAN when params == 0 */
    lps_hoyer_mean hoyer;       /* mean row Hoyer sparsity, zero rows counted */
    double hoyer_tensor;        /* H of the flattened tensor; NAN if undefined */
    double gamma_k;             /* ML Gamma shape of the non-zero w^2; NAN if undefined */
    double hoyer_expected_fit;  /* E[H](fan_in, gamma_k); NAN if undefined */
} lps_layer_stats;

/* Measures the weight w laid out as l. w must hold n_rows * row_len floats
 * (the whole tensor: both layouts in rows.h cover it exactly). Cannot fail;
 * undefined figures are NAN. */
lps_layer_stats lps_layer_stats_of(const float *w, const lps_row_layout *l);

#endif
