/* The execution engine: a model compiled into a plan that runs forward and,
 * in training mode, backward.
 *
 * Compile does a Kahn topological sort (cycles, dangling inputs and duplicate
 * output names are errors naming the node), binds every node to its operator
 * implementation (an unsupported operator or attribute is an error naming the
 * node), and folds every node whose inputs are all constant. Shapes are
 * computed at run time, so symbolic dims such as "N" bind to each batch.
 *
 * Memory: in inference mode an intermediate buffer returns to a pool after
 * its last reader ran and is reused by later nodes and later runs; in
 * training mode every intermediate is kept for backward.
 *
 * Trainable parameters (float initializers that reach a differentiable input
 * of some operator) live in one flat buffer, and their gradients in another
 * of the same layout, so an optimizer is a function over (n, w, g, state). */
#ifndef LPSPARSIFY_ENGINE_H
#define LPSPARSIFY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lps_plan lps_plan;
typedef struct lps_exec_ctx lps_exec_ctx; /* opaque: see lps_exec_ctx_new */

typedef struct lps_plan_options {
    bool training;  /* keep intermediates, allocate gradients, flat params */
} lps_plan_options;

typedef struct lps_param {
    const char *name;        /* initializer name */
    size_t initializer;      /* index into model->graph.initializers */
    size_t offset;           /* into the flat parameter and gradient buffers */
    size_t numel;
    lps_tensor *value;       /* view into the flat parameter buffer */
    lps_tensor *grad;        /* view into the flat gradient buffer */
} lps_param;

/* How a context runs plans. Zero-initialized: inference, as in every
 * evaluation. */
typedef struct lps_run_options {
    bool training;             /* Dropout active, BatchNorm per bn_batch_stats */
    bool bn_batch_stats;       /* training BatchNorm uses batch statistics */
    /* Outside training: run BatchNorm and Dropout as the graph's training
     * flags say (ONNX's reference semantics). False runs them as in
     * inference whatever the export's training mode. */
    bool honor_training_flags;
    uint64_t seed;             /* seeds the generator Dropout masks draw from */
} lps_run_options;

/* A run context: the mode, the seeded generator and the scratch workspace
 * the nodes of every run it is passed to share. opt NULL means inference.
 * Returns NULL (err set, LPS_ERR_NOMEM) when out of memory. One context
 * serves one run at a time; free it with lps_exec_ctx_free (NULL accepted). */
lps_exec_ctx *lps_exec_ctx_new(const lps_run_options *opt, lps_error *err);
void lps_exec_ctx_free(lps_exec_ctx *ctx);
/* Restarts the generator from seed (same masks as a context created with it). */
void lps_exec_ctx_reseed(lps_exec_ctx *ctx, uint64_t seed);
/* The generator's current state: reseeding with it continues the same
 * stream (checkpoint and resume). */
uint64_t lps_exec_ctx_rng_state(const lps_exec_ctx *ctx);

/* Compiles m. The plan keeps pointers into m (node attributes, names) and
 * copies the initializers it uses, so m must outlive the plan but later
 * changes to m's initializers are not seen (see lps_plan_write_params).
 * Returns NULL and fills err on failure; the message starts with m->path. */
lps_plan *lps_plan_compile(const lps_model *m, const lps_plan_options *opt, lps_error *err);

/* Frees the plan and everything it owns. NULL is accepted. */
void lps_plan_free(lps_plan *p);

/* Graph inputs that are not initializers, and graph outputs. */
size_t lps_plan_n_inputs(const lps_plan *p);
const lps_value_info *lps_plan_input_info(const lps_plan *p, size_t i);
size_t lps_plan_n_outputs(const lps_plan *p);
const char *lps_plan_output_name(const lps_plan *p, size_t i);

/* Binds input i to t for the next runs (no copy: t must stay alive and
 * unchanged until the run is over). Checks dtype, rank and fixed dims
 * against the declaration and binds symbolic dims consistently across
 * inputs; the error names the input and both shapes. */
lps_status lps_plan_set_input(lps_plan *p, size_t i, const lps_tensor *t, lps_error *err);

/* Runs every node. Outputs stay valid until the next run or free. A node's
 * failure (LPS_ERR_NOMEM for an activation that cannot be allocated, ...)
 * is reported as "MODEL: node 'n' (Op): ...". */
lps_status lps_plan_forward(lps_plan *p, lps_exec_ctx *ctx, lps_error *err);

/* Output i of the last forward, NULL before the first. */
const lps_tensor *lps_plan_output(const lps_plan *p, size_t i);

/* Value lookup by name: returns an id >= 0, or -1 when unknown. */
int lps_plan_find_value(const lps_plan *p, const char *name);
/* Keeps value id readable after a forward: in inference mode intermediate
 * buffers are otherwise recycled once their last reader ran. Call it before
 * the first forward for every intermediate you read (e.g. the logits that
 * feed a trailing Softmax). A value an activation fused into its producer
 * would never hold (lps_plan_n_fused) is computed again, and one stored
 * channels-last (lps_plan_n_channels_last) is stored channels-first. */
void lps_plan_keep_value(lps_plan *p, int id);
/* The current tensor of a value id (NULL when not computed). */
const lps_tensor *lps_plan_value(const lps_plan *p, int id);
/* The value the loss of output `output` reads: the output itself, or, when
 * a node whose operator maps logits monotonically to probabilities
 * (Softmax, LogSoftmax: the def's logits_passthrough) produces it, that
 * node's input, which is then kept readable (lps_plan_keep_value). -1 for
 * an output index out of range. */
int lps_plan_logits_value(lps_plan *p, size_t output);

/* Training mode only (failures name the model file as for forward). Runs
 * backward from value `seed` with gradient `dseed`
 * (same shape as the value's last forward tensor). Parameter gradients are
 * ACCUMULATED into the flat gradient buffer: clear it between steps with
 * lps_plan_zero_grads. */
lps_status lps_plan_backward(lps_plan *p, lps_exec_ctx *ctx, int seed, const lps_tensor *dseed,
                             lps_error *err);
void lps_plan_zero_grads(lps_plan *p);

/* Flat parameter access (training mode). The buffers hold *n floats. */
size_t lps_plan_n_params(const lps_plan *p);
const lps_param *lps_plan_param(const lps_plan *p, size_t i);
float *lps_plan_param_data(lps_plan *p, size_t *n);
float *lps_plan_grad_data(lps_plan *p, size_t *n);

/* Copies every trainable parameter back into m's initializers and marks
 * them modified. m must be the model the plan was compiled from. */
lps_status lps_plan_write_params(const lps_plan *p, lps_model *m, lps_error *err);

/* After a training forward: runs every node's state update (an operator
 * def's update_state: BatchNormalization moves its running mean/variance
 * toward the batch statistics by its momentum) on the initializers in m it
 * reads as state, and marks them modified. The plan reads those
 * initializers in place, so evaluation sees the update. */
lps_status lps_plan_update_state(lps_plan *p, lps_model *m, lps_error *err);

/* Calls fn(t, user, err) on every initializer of m that a node's
 * update_state moves (BatchNorm's running mean and variance), in schedule
 * order, stopping at the first status other than LPS_OK, which it returns.
 * Data-parallel training averages them over ranks (docs/distributed.md). */
lps_status lps_plan_each_state(const lps_plan *p, lps_model *m,
                               lps_status (*fn)(lps_tensor *t, void *user, lps_error *err),
                               void *user, lps_error *err);

/* Calibration (docs/method.md, "One-shot pruning from calibration"): the
 * activations a node multiplied one of its weight inputs with in the last
 * forward, as the operator's def views them. The weight's rows fall into `groups` equal
 * groups of consecutive units; group g's rows all multiply a matrix of
 * chunks * positions positions, each a vector of `features` entries (the
 * weight row's positions, in row order). */
typedef struct lps_activation_view {
    int64_t groups;     /* Conv's group; 1 otherwise */
    int64_t features;   /* the weight's row length */
    int64_t chunks;     /* pieces the positions come in (Conv: images) */
    int64_t positions;  /* positions per chunk */
} lps_activation_view;

/* Fills *v for node `node` (index in graph.nodes) and its weight at input
 * `input`. The node's inputs must still be readable: a training plan keeps
 * them, an inference plan needs lps_plan_keep_value on each. Returns
 * LPS_ERR_UNSUPPORTED naming the node when its def defines no view of the
 * weight (ConvTranspose, the RNNs, Gather) or not of this form (a batched
 * MatMul operand), LPS_ERR_INVALID when an input was not computed. */
lps_status lps_plan_activation_view(const lps_plan *p, size_t node, int input,
                                    lps_activation_view *v, lps_error *err);

/* After a successful lps_plan_activation_view of the same forward: writes
 * chunk c of group g as [positions, features] row-major into x (one
 * position's vector contiguous), using work (features * positions floats)
 * as scratch. */
void lps_plan_activation_chunk(const lps_plan *p, size_t node, int input, int64_t c, int64_t g,
                               float *x, float *work);

/* Count of nodes folded to constants at compile time, and nodes run. */
size_t lps_plan_n_folded(const lps_plan *p);
size_t lps_plan_n_scheduled(const lps_plan *p);
/* Activations applied by the node producing their input (docs/
 * architecture.md, "Fused activations"): scheduled, but never run; the
 * producer's own output has no value unless lps_plan_keep_value asks. */
size_t lps_plan_n_fused(const lps_plan *p);
/* Intermediate values an inference plan stores channels-last, [N,
 * spatial..., C] under their [N, C, spatial...] shape, between a producer
 * and readers that all handle it (docs/architecture.md, "Channels-last
 * values"); never an output or a kept value. */
size_t lps_plan_n_channels_last(const lps_plan *p);

/* Scheduled nodes computed from constants and runtime shapes alone (the
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains of PyTorch
 * exports): a forward whose Shape results equal those of the last
 * successful forward keeps their values instead of running them. And the
 * number of nodes the last lps_plan_forward ran. */
size_t lps_plan_n_shape_cached(const lps_plan *p);
size_t lps_plan_n_last_run(const lps_plan *p);

#ifdef __cplusplus
}
#endif
#endif
