/* Calibration statistics of one layer (docs/method.md, "One-shot pruning
 * from calibration"):
 * calibration samples of the training split run forward through the plan
 * as it is now (the layers before already pruned), and the activations the
 * layer's weight multiplies, viewed as its op def declares them (Gemm /
 * MatMul: the in-dim; Conv: the im2col columns, (channel, tap)), are
 * reduced on the fly to per-feature squared norms and X X^T. No
 * activation is stored beyond one buffer of positions. */
#ifndef LPS_SPARSITY_CALIBRATE_H
#define LPS_SPARSITY_CALIBRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/engine.h"

/* Where calibration samples come from. */
typedef struct lps_calibration {
    const lps_dataset *data;       /* the training split */
    lps_preprocess_opts preprocess;
    int64_t samples;               /* wanted; fewer when the split is smaller */
    int64_t batch;                 /* samples per forward */
    uint64_t seed;                 /* which samples: the first of a shuffle */
} lps_calibration;

/* Default of --calibration (docs/cli.md). */
#define LPS_CALIBRATION_DEFAULT_SAMPLES 128

typedef struct lps_layer_acts {
    int64_t groups, features;      /* lps_activation_view's */
    int64_t positions;             /* n: positions accumulated per group */
    int64_t samples;               /* calibration samples that ran */
    double *sq_norm;               /* [groups * features]: sum over positions of x_j^2 */
    float *xxt;                    /* [groups][features * features]: sum of x x^T, both
                                      triangles; NULL unless asked for */
} lps_layer_acts;

/* Runs c's samples through plan (a training plan, so inputs are kept;
 * evaluated in inference mode) and accumulates the activations of node
 * `node`'s weight input `input` into *out (zeroed first; release with
 * lps_layer_acts_release, also after a failure). Errors: those of the
 * feeder, forward and lps_plan_activation_view (a layer without a
 * calibration view names its node), LPS_ERR_INVALID for an empty split,
 * LPS_ERR_NOMEM. */
lps_status lps_calibrate_layer(lps_plan *plan, const lps_calibration *c, size_t node, int input,
                               bool want_xxt, lps_layer_acts *out, lps_error *err);

/* Frees the arrays and zeroes *a. NULL is accepted. */
void lps_layer_acts_release(lps_layer_acts *a);

#endif
