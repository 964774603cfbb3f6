/* Operator interface and registry.
 *
 * Every supported ONNX operator is one lps_op_kind and one lps_op_def in the
 * registry table (src/ops/registry.c). A def bundles the op's attribute
 * parsing (prepare), shape function, forward and backward, which live side by
 * side in one file per operator family.
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

typedef enum lps_op_kind {
    /* element-wise, src/ops/binary.c and activation.c */
    LPS_OP_ADD,
    LPS_OP_SUB,
    LPS_OP_MUL,
    LPS_OP_DIV,
    LPS_OP_RELU,
    LPS_OP_LEAKY_RELU,
    LPS_OP_SIGMOID,
    LPS_OP_TANH,
    LPS_OP_CLIP,
    LPS_OP_EXP,
    LPS_OP_NEG,
    LPS_OP_SQRT,
    /* softmax family, src/ops/softmax.c */
    LPS_OP_SOFTMAX,
    LPS_OP_LOG_SOFTMAX,
    /* linear algebra, src/ops/gemm.c, matmul.c, conv.c */
    LPS_OP_GEMM,
    LPS_OP_MATMUL,
    LPS_OP_CONV,
    /* pooling, src/ops/pool.c */
    LPS_OP_MAX_POOL,
    LPS_OP_AVERAGE_POOL,
    LPS_OP_GLOBAL_AVERAGE_POOL,
    /* normalization, src/ops/batchnorm.c */
    LPS_OP_BATCH_NORMALIZATION,
    /* data movement: src/ops/movement.c (Flatten, Reshape, Transpose, Concat,
     * Identity), dropout.c, constant.c, shape_ops.c (Shape, Gather,
     * Unsqueeze, Squeeze), pad.c */
    LPS_OP_FLATTEN,
    LPS_OP_RESHAPE,
    LPS_OP_TRANSPOSE,
    LPS_OP_CONCAT,
    LPS_OP_IDENTITY,
    LPS_OP_DROPOUT,
    LPS_OP_CONSTANT,
    LPS_OP_SHAPE,
    LPS_OP_GATHER,
    LPS_OP_UNSQUEEZE,
    LPS_OP_SQUEEZE,
    LPS_OP_PAD,
    /* reductions, src/ops/reduce.c */
    LPS_OP_REDUCE_MEAN,
    LPS_OP_COUNT
} lps_op_kind;

/* Tensors an op may keep between forward and backward (masks, argmax
 * indices, batch statistics). Released by the executor. */
#define LPS_OP_MAX_SAVED 4
/* Most inputs/outputs any supported op has (Clip, BatchNorm: 5). */
#define LPS_OP_MAX_IO 8

typedef struct lps_exec_ctx lps_exec_ctx;

/* One node as the engine runs it. */
typedef struct lps_op_node {
    const lps_node *node;   /* the graph node: names, attributes */
    lps_op_kind kind;
    int64_t opset;          /* default-domain opset the model imports */
    char label[160];        /* "node 'conv1' (Conv)", for messages */
    size_t n_inputs;        /* as written in the node, omitted ones included */
    size_t n_outputs;
    void *params;           /* from prepare; free()d with the node */
    lps_tensor saved[LPS_OP_MAX_SAVED];
} lps_op_node;

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

/* Execution context shared by all nodes of one run. */
struct lps_exec_ctx {
    bool training;           /* Dropout active, BatchNorm per batch_stats */
    bool bn_batch_stats;     /* training BatchNorm uses batch statistics */
    /* Outside training: run BatchNorm and Dropout as the graph's own
     * training flags say (ONNX's reference semantics; the conformance
     * runner sets it). False, as in every evaluation, runs them as in
     * inference whatever the export's training mode. */
    bool honor_training_flags;
    uint64_t rng_state;      /* seeded; advanced by lps_ctx_random() */
    float *workspace;        /* shared scratch (im2col), grown on demand */
    size_t workspace_floats;
};

/* Returns a scratch buffer of at least n floats shared by all nodes (one
 * im2col workspace sized to the largest request). Contents are undefined
 * and only valid until the next call. NULL and err set on allocation failure. */
float *lps_ctx_workspace(lps_exec_ctx *ctx, size_t n, lps_error *err);

/* Next uniform float in [0, 1) from the context's seeded generator. */
float lps_ctx_random(lps_exec_ctx *ctx);

/* Frees the workspace. ctx may be NULL. */
void lps_ctx_release(lps_exec_ctx *ctx);

/* The def of a kind. */
const lps_op_def *lps_op_get(lps_op_kind kind);

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

/* The op defs, one per kind, defined in the family files. */
extern const lps_op_def lps_op_def_add, lps_op_def_sub, lps_op_def_mul, lps_op_def_div;
extern const lps_op_def lps_op_def_relu, lps_op_def_leaky_relu, lps_op_def_sigmoid,
    lps_op_def_tanh, lps_op_def_clip, lps_op_def_exp, lps_op_def_neg, lps_op_def_sqrt;
extern const lps_op_def lps_op_def_softmax, lps_op_def_log_softmax;
extern const lps_op_def lps_op_def_gemm, lps_op_def_matmul, lps_op_def_conv;
extern const lps_op_def lps_op_def_max_pool, lps_op_def_average_pool,
    lps_op_def_global_average_pool;
extern const lps_op_def lps_op_def_batch_normalization;
extern const lps_op_def lps_op_def_flatten, lps_op_def_reshape, lps_op_def_transpose,
    lps_op_def_concat, lps_op_def_identity, lps_op_def_dropout, lps_op_def_constant,
    lps_op_def_shape, lps_op_def_gather, lps_op_def_unsqueeze, lps_op_def_squeeze,
    lps_op_def_pad;
extern const lps_op_def lps_op_def_reduce_mean;

#endif
