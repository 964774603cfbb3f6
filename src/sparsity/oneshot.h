/* One-shot pruning from calibration data (docs/method.md, "One-shot
 * pruning from calibration"): Wanda and SparseGPT. Layers are pruned in
 * graph order, each calibrated on the outputs of the already pruned layers
 * before it, each to its own target (the global one unless
 * --layer-target), with the mask of every row chosen by lps_select_keep. */
#ifndef LPS_SPARSITY_ONESHOT_H
#define LPS_SPARSITY_ONESHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/engine.h"
#include "sparsity/calibrate.h"
#include "sparsity/pattern.h"
#include "sparsity/prunable.h"

typedef enum lps_oneshot_method {
    LPS_ONESHOT_WANDA = 0,
    LPS_ONESHOT_SPARSEGPT
} lps_oneshot_method;

/* docs/method.md: blocks of 128 columns, 1% of the mean diagonal. */
#define LPS_SPARSEGPT_DEFAULT_BLOCK 128
#define LPS_SPARSEGPT_DEFAULT_DAMP 0.01

typedef struct lps_sparsegpt_config {
    int64_t block;     /* columns swept per lazy update, >= 1 */
    double damp;       /* fraction of the mean diagonal of H added to it, > 0 */
} lps_sparsegpt_config;

/* One group of a layer's rows (all rows, or one Conv group's) as the
 * methods see them: w [rows, cols] row-major, every row multiplying the
 * same activations. keep receives the mask (1 kept) in the same layout;
 * pruned entries of w become 0. start is the flattened index of w[0] in
 * the layer, so that the layer as a whole prunes round(target * numel)
 * (lps_select_share). */
typedef struct lps_oneshot_rows {
    float *w;
    uint8_t *keep;
    int64_t rows, cols;
    int64_t start;
    int64_t taps;            /* lps_select_run's */
    lps_pattern pattern;     /* N:M (m == 0: unstructured, to target) */
    double target;
} lps_oneshot_rows;

/* Wanda: score |w_ij| * ||X_j||_2 (sq_norm[j] = ||X_j||^2), the lowest
 * pruned per row, or among all of r's rows when per_layer; no weight
 * update. Errors of lps_select_keep. */
lps_status lps_wanda_prune(lps_oneshot_rows *r, const double *sq_norm, bool per_layer,
                           lps_error *err);

/* SparseGPT: H = 2 X X^T / positions (xxt = X X^T, [cols, cols]) dampened,
 * the upper Cholesky factor U of H^-1, then per block of columns the mask
 * by w^2 / U_jj^2 per row and the OBS update of the columns after each
 * pruned one. Returns LPS_ERR_RUNTIME when H cannot be factorised (not
 * positive definite: non-finite activations), LPS_ERR_NOMEM, errors of
 * lps_select_keep; w may be partly updated on failure. */
lps_status lps_sparsegpt_prune(lps_oneshot_rows *r, const float *xxt, int64_t positions,
                               const lps_sparsegpt_config *cfg, lps_error *err);

/* ||(W - W') X||_F / ||W X||_F for rows [rows, cols] of the dense w0 and
 * the pruned w, from xxt = X X^T; NAN when W X = 0. *num2 and *den2 get
 * the squared norms (summed over groups by the caller). */
void lps_oneshot_recon_terms(const float *w0, const float *w, int64_t rows, int64_t cols,
                             const float *xxt, double *num2, double *den2);

typedef struct lps_oneshot_layer {
    const lps_prunable *weight;
    float *data;             /* the weight in the plan, in its tensor layout */
    uint8_t *mask;           /* [numel] in the same layout: written */
    double target;           /* in [0, 1] */
    lps_pattern pattern;     /* N:M the mask follows (m == 0: none); the rows must fit it */
    double recon_error;      /* out: ||W X - W' X|| / ||W X|| on its calibration inputs */
} lps_oneshot_layer;

typedef struct lps_oneshot_config {
    lps_oneshot_method method;
    lps_calibration calibration;
    lps_sparsegpt_config sparsegpt;
    bool wanda_per_layer;    /* Wanda's comparison group: the layer, not each row */
} lps_oneshot_config;

typedef struct lps_oneshot_stats {
    int64_t samples;         /* calibration samples used per layer */
    double seconds;          /* wall time of the whole one-shot pass */
} lps_oneshot_stats;

/* Calibrates layer L on plan as it is now (lps_calibrate_layer, X X^T
 * included) into *acts, which the caller releases with
 * lps_layer_acts_release, also after a failure. Errors: those of
 * lps_calibrate_layer, LPS_ERR_UNSUPPORTED for a weight behind a view or
 * activations that do not match the weight's rows. */
lps_status lps_oneshot_calibrate(lps_plan *plan, const lps_oneshot_config *cfg,
                                 const lps_oneshot_layer *L, lps_layer_acts *acts, lps_error *err);

/* Prunes L alone to L->target from its inputs' statistics acts
 * (lps_oneshot_calibrate): writes L->data, L->mask and L->recon_error.
 * Errors of the method, LPS_ERR_NOMEM; L->data is unchanged on failure. */
lps_status lps_oneshot_prune_layer(const lps_oneshot_config *cfg, lps_oneshot_layer *L,
                                   const lps_layer_acts *acts, lps_error *err);

/* Prunes every layer in order (layers[] in graph order), writing the
 * weights in the plan and the masks. Errors name the layer: those of
 * lps_calibrate_layer and the methods, LPS_ERR_UNSUPPORTED for activations
 * that do not match the weight's rows. On failure the plan's weights may
 * be partly pruned. */
lps_status lps_oneshot_prune(lps_plan *plan, const lps_oneshot_config *cfg,
                             lps_oneshot_layer *layers, int n, lps_oneshot_stats *stats,
                             lps_error *err);

const char *lps_oneshot_method_name(lps_oneshot_method m);

#endif
