/* Training-only BatchNormalization for BN-folded graphs (docs/method.md,
 * "BN-folded graphs").
 *
 * An eval-mode export folds every BatchNorm into the layer before it, so
 * pruning shifts each layer's output statistics with nothing to
 * re-normalise them. lps_train_bn_insert gives every prunable layer with a
 * per-unit bias (its def's bias_input) whose output reaches no graph
 * output a BatchNormalization on that output, for the sparsification run
 * only: training steps normalise with batch statistics, evaluation with
 * the running ones. Each starts from the statistics of the layer's output
 * over the first calibration batches of the training data (running mean
 * and variance = those, scale = sqrt(var + eps), B = mean), so the
 * inference function is the input model's up to float rounding and the
 * first training steps compute about it. lps_train_bn_recalibrate measures
 * the running statistics again after training, and lps_train_bn_fold folds
 * each BatchNorm into its layer's weight rows and bias and takes the
 * inserted nodes and initializers out of the graph: the model is then the
 * input's graph with new weights, and saves as such. */
#ifndef LPS_SPARSITY_TRAIN_BN_H
#define LPS_SPARSITY_TRAIN_BN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"
#include "sparsity/rows.h"

/* Batches of the training data the statistics are measured on. */
#define LPS_TRAIN_BN_CALIBRATION_BATCHES 20

typedef struct lps_train_bn_unit {
    size_t node;               /* the layer's node */
    size_t weight, bias;       /* its initializers */
    lps_row_layout layout;     /* of the weight */
    int64_t channels;          /* units = rows = bias values */
    char *output;              /* the layer's output name while it is renamed */
    char *renamed;             /* what the layer writes while the BatchNorm is in */
    size_t first_init;         /* scale, B, mean, var: 4 initializers from here */
} lps_train_bn_unit;

typedef struct lps_train_bn {
    size_t n_units;
    lps_train_bn_unit *units;
    size_t n_nodes, n_initializers; /* of the graph before the insertion */
    bool inserted;             /* the graph holds the BatchNorms (false when zeroed) */
    lps_node *nodes;           /* inserted nodes, once detached */
    lps_initializer *inits;    /* inserted initializers, once detached */
} lps_train_bn;

/* Inserts the BatchNorms into m (bn zeroed by the caller) and initialises
 * them from batches of train preprocessed by pp. A model without such a
 * layer gets none (bn->n_units == 0, LPS_OK). Fails with LPS_ERR_INVALID
 * when an inserted name is taken, LPS_ERR_NOMEM, or the errors of
 * compiling and running m, leaving m as it was (bn released). */
lps_status lps_train_bn_insert(lps_train_bn *bn, lps_model *m, const lps_dataset *train,
                               const lps_preprocess_opts *pp, int64_t batch, lps_error *err);

/* Re-measures every inserted BatchNorm's running statistics on batches of
 * train through the training plan (batch statistics upstream), writing
 * them into m's initializers, which the plan reads in place. */
lps_status lps_train_bn_recalibrate(lps_train_bn *bn, lps_model *m, lps_plan *plan,
                                    const lps_dataset *train, const lps_preprocess_opts *pp,
                                    int64_t batch, lps_error *err);

/* After lps_trainer_write: folds each BatchNorm (scale s, B b, running
 * mean mu, variance v, epsilon e) into its layer: weight row c times
 * a = s / sqrt(v + e), bias c -> (bias c - mu) a + b; marks them modified
 * and detaches the inserted nodes and initializers. Zeros stay zeros. */
lps_status lps_train_bn_fold(lps_train_bn *bn, lps_model *m, lps_error *err);

/* Detaches what is still inserted (m must be the model, and any plan
 * compiled from it freed), frees it and zeroes bn. NULL bn is accepted. */
void lps_train_bn_release(lps_train_bn *bn, lps_model *m);

#endif
