/* Operator interface and registry.
 *
 * Every supported ONNX operator implementation is one lps_op_def (name,
 * opset range, arity, differentiable inputs, prepare/shape/forward/backward)
 * and one line of the list src/ops/op_list.h, which generates the
 * lps_op_kind enum, the extern declarations below and the registry table
 * (src/ops/registry.c). The engine finds a node's def by ONNX name and the
 * model's opset; core, train and sparsity read the def and never test for an
 * op kind or name.
 *
 * How to add an operator (three places, nothing else):
 * 1. The op file. Write the def in the family file it belongs to
 *    (src/ops/<family>.c; a new family gets a new file, picked up by CMake's
 *    glob), forward and backward side by side:
 *        const lps_op_def lps_op_def_hard_sigmoid = {
 *            .name = "HardSigmoid", .min_opset = 7, .max_opset = LPS_OPSET_MAX,
 *            .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
 *            .differentiable = 0x1u, .prepare = ..., .shape = ...,
 *            .forward = ..., .backward = ...};
 *    Behaviour the engine, trainer or sparsifier must know goes in the
 *    def's fields, never in a test for your op's kind or name elsewhere:
 *    .weights (prunable weight inputs and their row form; add a row to
 *    docs/method.md "Prunable weights and their rows"), .stochastic (uses
 *    lps_ctx_random: never folded), .shape_only (reads only its inputs'
 *    shapes: Shape), .logits_passthrough (a trailing node
 *    the loss looks through, Softmax), .update_state/.state_inputs
 *    (initializers written after a training forward, BatchNorm),
 *    .weight_view (output elements are copies of input elements: a weight
 *    behind Transpose, Slice, Concat, ... is still seen as one).
 *    The variable is lps_op_def_<snake_case of the ONNX name>. An op whose
 *    behaviour changes across opsets may be one def that reads op->opset, or
 *    several defs with disjoint [min_opset, max_opset] ranges, each with its
 *    own list line (lps_op_def_clip_6, ...).
 * 2. One list line in src/ops/op_list.h, in its family group:
 *        LPS_OP(HARD_SIGMOID, hard_sigmoid)
 * 3. One test entry in tests/unit/op_cases.h: a line
 *        OP_CASE("HardSigmoid", 13, "f[2,3]", "alpha=0.3")
 *    giving an opset inside the def's range, the inputs and the attributes
 *    of one small case (grammar in that file). tests/unit/test_registry.c
 *    runs every entry: the node must compile and run forward, and the
 *    backward of every differentiable float input must match finite
 *    differences. Several defs of one name need one entry per opset range.
 * test_registry fails when a def in src/ops/ has no list line, when two
 * lines share a name with overlapping opsets, when a def has no test entry
 * (or an entry names no def), or when a def breaks the table's invariants
 * (opsets inside LPS_OPSET_MIN..LPS_OPSET_MAX, arity at most LPS_OP_MAX_IO,
 * backward present exactly when some input is differentiable). Thorough
 * tests (values, attribute errors, every input variant) go, as before, in
 * tests/gradcheck/test_<family>.c; ONNX's node cases run through
 * tests/conformance without registration. docs/operators.md is generated from the
 * table (tests/docs/gen_operators.c; ctest operators_doc fails until it is
 * regenerated).
 *
 * Contracts shared by all ops:
 * - prepare runs once when a graph is compiled. It validates attributes
 *   (an unknown or unsupported attribute is an error naming the node) and
 *   stores parsed values in op->params, a single malloc'd block freed with
 *   free(). It must not look at input values.
 * - shape computes each output's dtype and dims from the actual inputs
 *   (values are available, e.g. Reshape's shape tensor). Omitted optional
 *   inputs are NULL.
 * - forward writes every element of every output. Outputs arrive allocated
 *   with the shapes returned by shape, contents undefined. In training mode
 *   forward may keep what backward needs in op->saved[].
 * - backward ACCUMULATES (+=) into din[i] for each input i whose din[i] is
 *   non-NULL, and skips the rest. dout[j] is NULL when no gradient reaches
 *   output j. in/out are the forward values. backward is NULL for ops that
 *   only carry shapes or constants.
 * - Errors name the node: use lps_op_fail(). */
#ifndef LPS_OPS_OP_H
#define LPS_OPS_OP_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"
#include "ops/clamp.h"

/* One kind per line of src/ops/op_list.h, in list order. */
typedef enum lps_op_kind {
#define LPS_OP(KIND, def) LPS_OP_##KIND,
#include "ops/op_list.h"
#undef LPS_OP
    LPS_OP_COUNT
} lps_op_kind;

/* Tensors an op may keep between forward and backward (masks, argmax
 * indices, batch statistics). Released by the executor. */
#define LPS_OP_MAX_SAVED 4
/* Inputs a fusable activation may have, input 0 included (Clip: 3). */
#define LPS_OP_MAX_EPILOGUE_INPUTS 3
/* Most inputs/outputs any supported op has (Clip, BatchNorm: 5). */
#define LPS_OP_MAX_IO 8

typedef struct lps_exec_ctx lps_exec_ctx;
typedef struct lps_op_node lps_op_node;

/* An element-wise activation of one float input, applied by its producer
 * in the pass that writes the producer's output 0 instead of as a node of
 * its own (docs/architecture.md, "Fused activations"). act is the
 * activation's node (its params from prepare). */
typedef struct lps_op_epilogue {
    /* y[i] = f(y[i]) in place. */
    void (*forward)(const lps_op_node *act, float *y, int64_t n);
    /* g[i] = dy[i] * f'(x[i]), written through y[i] = f(x[i]) (the fused
     * output); g may be dy. */
    void (*backward)(const lps_op_node *act, const float *y, const float *dy, float *g,
                     int64_t n);
    /* Inputs besides input 0 the activation may have (bit i for input i;
     * Clip's bounds): the fusion then needs each of them constant in the
     * plan (an initializer or folded), and bind receives them. 0: the
     * activation fuses only with input 0 alone. */
    uint32_t bound_inputs;
    /* Called once when the fusion is wired, with the activation's inputs
     * (in[0] NULL: not computed yet; omitted inputs NULL): stores in act
     * what forward and backward read. false leaves the activation unfused
     * (its own forward then reports what is wrong with the inputs). */
    bool (*bind)(lps_op_node *act, const lps_tensor *const *in);
    /* The activation as a clamp a kernel applies in its registers before
     * it stores (clamp.h), from act's params after bind; NULL: it has no
     * such form and the producer runs forward over what it wrote. */
    lps_clamp (*clamp)(const lps_op_node *act);
} lps_op_epilogue;

/* Most int64 values an lps_op_cache key holds. */
#define LPS_OP_CACHE_KEY_MAX 16

/* Floats a forward derived from its constant inputs (lps_op_node
 * const_inputs), kept for the next forward: Conv's cropped weights. key
 * identifies what they were made for (the shapes they depend on); made and
 * found through lps_op_cache_make / lps_op_cache_find (op_util.h). */
typedef struct lps_op_cache {
    float *data;
    size_t n;
    size_t n_key;
    int64_t key[LPS_OP_CACHE_KEY_MAX];
} lps_op_cache;

/* One node as the engine runs it. */
struct lps_op_node {
    const lps_node *node;   /* the graph node: names, attributes */
    lps_op_kind kind;
    int64_t opset;          /* default-domain opset the model imports */
    char label[160];        /* "node 'conv1' (Conv)", for messages */
    size_t n_inputs;        /* as written in the node, omitted ones included */
    size_t n_outputs;
    void *params;           /* from prepare; free()d with the node */
    lps_tensor saved[LPS_OP_MAX_SAVED];
    /* Set by the compile plan on a def with fuses_epilogue: the activation
     * whose node (epilogue_op) it absorbed; NULL for none. */
    const lps_op_epilogue *epilogue;
    const lps_op_node *epilogue_op;
    /* Set by an inference plan (docs/architecture.md, "Constant-input
     * caches"): bit i when input i is a constant of the plan (an
     * initializer or a folded value), whose values stay the same while the
     * plan lives; inputs past bit 31 are never marked. Forward may then
     * keep data derived from it in cache, freed with the node. */
    uint32_t const_inputs;
    lps_op_cache cache;
    /* Set by an inference plan (docs/architecture.md, "Channels-last
     * values"): input 0 (x_channels_last) or output 0 (y_channels_last)
     * is stored channels-last, [N, spatial..., C], under its usual shape
     * [N, C, spatial...]; only when the def's channels_last allows it. */
    bool x_channels_last, y_channels_last;
    /* Set by the engine before each backward of a def with
     * overwrites_fresh_grad: bit i when din[i] is a fresh gradient, not
     * zeroed (stale bytes), that the backward must write whole as if
     * adding onto zeros (docs/architecture.md, "Fresh gradients"). Other
     * din, and every din outside the engine, are added to. */
    uint32_t din_fresh;
};

typedef struct lps_shape {
    lps_dtype dtype;
    int rank;
    int64_t dims[LPS_MAX_RANK];
} lps_shape;

typedef lps_status (*lps_op_prepare_fn)(lps_op_node *op, lps_error *err);
typedef lps_status (*lps_op_shape_fn)(const lps_op_node *op, const lps_tensor *const *in,
                                      lps_shape *out, lps_error *err);
typedef lps_status (*lps_op_forward_fn)(lps_op_node *op, lps_exec_ctx *ctx,
                                        const lps_tensor *const *in, lps_tensor *const *out,
                                        lps_error *err);
typedef lps_status (*lps_op_backward_fn)(lps_op_node *op, lps_exec_ctx *ctx,
                                         const lps_tensor *const *in,
                                         const lps_tensor *const *out,
                                         const lps_tensor *const *dout,
                                         lps_tensor *const *din, lps_error *err);

/* What an op's weight input is, for sparsification (docs/method.md,
 * "Prunable weights and their rows"). */
typedef enum lps_weight_role {
    LPS_WEIGHT_NONE = 0,     /* ends a def's weights[] list */
    LPS_WEIGHT_LAYER,        /* pruned: Conv, Gemm, MatMul, RNN W/R weights */
    LPS_WEIGHT_EMBEDDING     /* trained, pruned only when asked (--prune-embeddings) */
} lps_weight_role;

/* Where the output units of a weight are: each unit owns one row, its
 * fan-in. Axes below are the weight tensor's. */
typedef enum lps_weight_rows {
    /* Units enumerate the first unit_axes axes (row-major), the fan-in is
     * the rest: Conv [M, C/group, k...] (1), RNN W/R [D, G*H, I] (2). */
    LPS_ROWS_UNITS_FIRST,
    /* Units are the last axis and the batch axes before the last two, the
     * fan-in is axis -2: an [in, out] matrix (Gemm transB=0, MatMul B). */
    LPS_ROWS_UNITS_LAST,
    /* [C, M/group, k...] with group from group_attr: unit (g, m) is output
     * channel g*M/group + m, its fan-in (c, k...) over the group's C/group
     * input channels (ConvTranspose). */
    LPS_ROWS_UNITS_SECOND_GROUPED,
    /* Units enumerate every axis but the last, the fan-in is the last: a
     * constant MatMul A [b..., M, K] under a computed B, whose row (b, m)
     * makes output row Y[b, m, :]. Rank 2 is UNITS_FIRST with one axis. */
    LPS_ROWS_FANIN_LAST
} lps_weight_rows;

/* The activations a weight multiplies, as calibration sees them
 * (docs/method.md, "One-shot pruning from calibration"): the rows of the weight fall into
 * `groups` equal groups of consecutive units (Conv's group), and group g's
 * rows all multiply the matrix X_g with `features` entries per position
 * (the weight row's positions, in row order) and chunks * positions
 * positions. */
typedef struct lps_op_activations {
    int64_t groups, features, chunks, positions;
} lps_op_activations;

/* How an op exposes a weight's activations after a forward; in[] are the
 * node's inputs of that forward (weights included). shape fills *a and
 * fails naming the node for a form it cannot view (a batched weight);
 * chunk writes chunk c of group g as [positions, features] row-major (one
 * fan-in vector per position) into x, using work (features * positions
 * floats) as scratch. */
typedef struct lps_op_calibration {
    lps_status (*shape)(const lps_op_node *op, const lps_tensor *const *in,
                        lps_op_activations *a, lps_error *err);
    void (*chunk)(const lps_op_node *op, const lps_tensor *const *in, int64_t c, int64_t g,
                  float *x, float *work);
} lps_op_calibration;

/* One weight input of an op. It applies when the input is a float
 * initializer of rank >= min_rank; a lower rank is not this weight (a
 * MatMul vector operand), a rank above max_rank is an error. A non-float
 * initializer is an error for a layer and not a weight for an embedding
 * (Gather over an int64 index table). */
typedef struct lps_op_weight {
    lps_weight_role role;
    int input;                  /* input index holding the weight */
    int min_rank, max_rank;
    lps_weight_rows rows;
    int unit_axes;              /* LPS_ROWS_UNITS_FIRST: axes enumerating units, >= 1 */
    /* An int attribute that, when non-zero, swaps UNITS_LAST and
     * UNITS_FIRST with one unit axis (Gemm's transB). NULL: none. */
    const char *transpose_attr;
    const char *group_attr;     /* LPS_ROWS_UNITS_SECOND_GROUPED: attribute, default 1 */
    /* Applies only when no earlier entry of the list did (MatMul: A is the
     * weight only when B is not a constant). */
    bool fallback;
    /* Its activations for one-shot pruning; NULL: not defined, the
     * one-shot methods refuse the layer naming the node. */
    const lps_op_calibration *calibration;
    /* Input holding a bias of one value per unit that is added to output
     * 0, whose axis 1 enumerates the units (Conv, ConvTranspose, Gemm); 0:
     * none (input 0 is never a bias). Training-only BatchNorm folds into
     * weight and bias (docs/method.md, "BN-folded graphs"). */
    int bias_input;
} lps_op_weight;

#define LPS_OP_MAX_WEIGHTS 3

/* A state update runs after every training forward that asked for it
 * (lps_plan_update_state). state[i] is the initializer tensor of input i
 * for each bit i of the def's state_inputs, updated in place; the engine
 * calls it only when all of them are initializers, and marks them modified
 * so the saved model carries them. Fails without changing anything. */
typedef lps_status (*lps_op_state_fn)(const lps_op_node *op, lps_tensor *const *state,
                                      lps_error *err);

typedef struct lps_op_def {
    const char *name;        /* ONNX op_type */
    int min_opset;           /* default-domain opsets this implementation covers */
    int max_opset;
    int min_inputs, max_inputs;
    int min_outputs, max_outputs;
    uint32_t differentiable; /* bit i set: a gradient can flow to input i */
    lps_op_prepare_fn prepare;
    lps_op_shape_fn shape;
    lps_op_forward_fn forward;
    lps_op_backward_fn backward;
    /* Behaviour the engine, trainer and sparsifier read instead of testing
     * for op kinds or names; zero-initialized means "none". */
    lps_op_weight weights[LPS_OP_MAX_WEIGHTS]; /* prunable weight inputs */
    bool stochastic;         /* draws from the run's generator: never folded */
    /* The outputs depend on the inputs' shapes, never on their values
     * (Shape): what the executor computes from them and constants alone
     * runs again only when they change (docs/architecture.md, "Shape
     * folding"). */
    bool shape_only;
    /* A trailing node of this op maps logits monotonically to the output
     * (Softmax): the loss reads its input 0 instead, for stable
     * cross-entropy. */
    bool logits_passthrough;
    lps_op_state_fn update_state; /* BatchNorm's running statistics */
    uint32_t state_inputs;   /* bit i: input i is state written by update_state */
    /* bit i: backward can write input i's gradient whole when it is the
     * first one of the backward (lps_op_node.din_fresh), so the engine
     * skips zeroing it: a pass over an activation-sized buffer, and the
     * read of it in the backward's add. */
    uint32_t overwrites_fresh_grad;
    /* A weight view: every output element is a copy of one element of a
     * differentiable input, placed by forward whatever the element type
     * (Identity, Transpose, Reshape, Slice, Concat, ...). A weight input fed
     * through views is the initializers behind them; the sparsifier runs
     * forward on element indices to map the consumer's rows onto them
     * (docs/method.md, "Weights behind views"). Not for ops that repeat
     * an element (Expand, Tile): a weight element must feed one row. */
    bool weight_view;
    /* This op is an element-wise activation of its single input 0 that a
     * producer with fuses_epilogue may apply instead (Relu): when its input
     * is a producer's output 0 that nothing else reads, the compile plan
     * lets the producer write this node's output and skips the node. */
    const lps_op_epilogue *epilogue;
    /* Forward applies op->epilogue (when set) to output 0 in the pass that
     * writes it; backward then receives the activation's output as out[0]
     * and its gradient as dout[0], and applies epilogue->backward to it
     * before its own backward (lps_op_epilogue_grad, op_util.h). Output 0
     * must be float. */
    bool fuses_epilogue;
    /* Output 0 is input 0's bytes in the same order under another shape
     * (Identity, Reshape, Flatten, Squeeze, Unsqueeze): the executor makes
     * it a view of input 0's storage instead of calling forward
     * (docs/architecture.md, "Views"); forward still copies, for callers
     * that run the op alone. */
    bool aliases_input;
    /* Whether this node's forward can read its input 0 (*reads) and write
     * its output 0 (*writes) channels-last (lps_op_node.x_channels_last,
     * y_channels_last), judged from its attributes and its constant inputs
     * (in[i] NULL when input i is not a constant of the plan); NULL:
     * neither. Only inference plans ask (Conv: depthwise and pointwise
     * convolutions; docs/architecture.md, "Channels-last values"). */
    void (*channels_last)(const lps_op_node *op, const lps_tensor *const *in, bool *reads,
                          bool *writes);
    /* An element-wise op whose inputs and output an inference plan may
     * store channels-last all together (x_channels_last and
     * y_channels_last both set: every input and output 0), its forward
     * then computing over [N, spatial..., C] what it computes over [N, C,
     * spatial...] (Add: MobileNet's residual joins between 1x1 convs;
     * docs/architecture.md, "Channels-last values"). */
    bool channels_last_elementwise;
} lps_op_def;

/* Whether a gradient can flow to input i. Inputs past the mask's last bit
 * (variadic ops such as Concat) share that bit. */
static inline bool lps_op_input_differentiable(const lps_op_def *def, size_t i)
{
    enum { LAST_BIT = 31 };
    return (def->differentiable >> (i < LAST_BIT ? i : LAST_BIT)) & 1u;
}

#define LPS_OPSET_MIN 7
#define LPS_OPSET_MAX 21

/* The run a node executes in (opaque; created by the engine's
 * lps_exec_ctx_new, include/lpsparsify/engine.h). Ops read it through
 * these accessors only. */

/* Training run: Dropout active, BatchNorm per lps_ctx_batch_stats, and
 * forward keeps what backward needs. */
bool lps_ctx_training(const lps_exec_ctx *ctx);
/* Training BatchNorm normalizes with batch statistics. */
bool lps_ctx_batch_stats(const lps_exec_ctx *ctx);
/* Outside training: run BatchNorm and Dropout as the graph's own training
 * flags say (ONNX's reference semantics; the conformance runner sets it).
 * False, as in every evaluation, runs them as in inference whatever the
 * export's training mode. */
bool lps_ctx_honors_training_flags(const lps_exec_ctx *ctx);

/* Returns a scratch buffer of at least n floats shared by all nodes (one
 * im2col workspace sized to the largest request). Contents are undefined
 * and only valid until the next call. NULL and err set on allocation failure. */
float *lps_ctx_workspace(lps_exec_ctx *ctx, size_t n, lps_error *err);

/* Next uniform float in [0, 1) from the context's seeded generator. */
float lps_ctx_random(lps_exec_ctx *ctx);
/* u[0..n-1] = the next n values of lps_ctx_random, in order (the same
 * values and the same state after as n calls). */
void lps_ctx_random_fill(lps_exec_ctx *ctx, float *u, size_t n);

/* The def of a kind; NULL outside 0..LPS_OP_COUNT-1. */
const lps_op_def *lps_op_get(lps_op_kind kind);

/* The def implementing (domain, op_type) at a default-domain opset, or NULL
 * when there is none (a domain other than "" / "ai.onnx" has none). */
const lps_op_def *lps_op_find(const char *domain, const char *op_type, int64_t opset);

/* Finds the implementation of (domain, op_type) at an opset. Returns
 * LPS_ERR_UNSUPPORTED with a message naming the node when there is none. */
lps_status lps_op_node_init(lps_op_node *op, const lps_node *node, size_t index,
                            int64_t opset, lps_error *err);

/* Frees params and saved tensors. op may be NULL. */
void lps_op_node_release(lps_op_node *op);

/* Runs shape then forward, allocating outputs (out[j] may be NULL for an
 * output nobody reads; a temporary is used). Used by the executor and tests. */
lps_status lps_op_run_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err);

/* Fails with status and a message "node 'x' (Op): <fmt>". */
lps_status lps_op_fail(const lps_op_node *op, lps_error *err, lps_status status,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Attribute helpers. lps_op_check_attrs fails (LPS_ERR_UNSUPPORTED) on any
 * attribute not in the NULL-terminated `known` list. The getters return the
 * default when the attribute is absent and fail (LPS_ERR_INVALID) when it
 * has the wrong type. */
lps_status lps_op_check_attrs(const lps_op_node *op, const char *const *known, lps_error *err);
lps_status lps_op_attr_int(const lps_op_node *op, const char *name, int64_t def,
                           int64_t *out, lps_error *err);
lps_status lps_op_attr_float(const lps_op_node *op, const char *name, float def,
                             float *out, lps_error *err);
/* *out points into the node (not a copy); def may be NULL. */
lps_status lps_op_attr_string(const lps_op_node *op, const char *name, const char *def,
                              const char **out, lps_error *err);
/* Copies at most max ints; *count = -1 when absent. More than max is an error. */
lps_status lps_op_attr_ints(const lps_op_node *op, const char *name, int64_t *out,
                            int max, int *count, lps_error *err);

/* Input checks for shape functions. */
lps_status lps_op_expect_dtype(const lps_op_node *op, const lps_tensor *t, int index,
                               lps_dtype dtype, lps_error *err);

/* Input index exists and has a fixed-size element type (movement ops work
 * on bytes of any such type). */
lps_status lps_op_expect_sized(const lps_op_node *op, const lps_tensor *t, int index,
                               lps_error *err);

/* Gradients reach float tensors only: anything else is an executor bug,
 * reported rather than mis-read. */
lps_status lps_op_expect_float_grad(const lps_op_node *op, const lps_tensor *g, lps_error *err);

/* Reads an axes input (int64, 1-D, at most LPS_MAX_RANK values) into axes
 * and its length into *n. LPS_ERR_INVALID / LPS_ERR_UNSUPPORTED name the
 * node and input index. */
lps_status lps_op_read_axes(const lps_op_node *op, const lps_tensor *t, int index, int64_t *axes,
                            int *n, lps_error *err);

/* numpy broadcasting of two shapes into out; error names the node. */
lps_status lps_broadcast_shape(const lps_op_node *op, int ra, const int64_t *da, int rb,
                               const int64_t *db, lps_shape *out, lps_error *err);

/* The op defs, one per line of src/ops/op_list.h, defined in the family files. */
#define LPS_OP(KIND, def) extern const lps_op_def lps_op_def_##def;
#include "ops/op_list.h"
#undef LPS_OP

#endif
