/* Element-wise float activations: Relu, LeakyRelu, Sigmoid, Tanh, Exp, Neg,
 * Sqrt and Clip.
 *
 * One table row per operator holds its two kernels (forward y = f(x) over a
 * whole buffer, backward dx += dy * f'(x) over a whole buffer) and its
 * attribute names; prepare, shape, forward and backward are shared drivers.
 * Kernels see both x and y so each derivative uses whichever is cheaper. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

/* LeakyRelu's alpha when the attribute is absent (every opset). */
#define LEAKY_RELU_DEFAULT_ALPHA 0.01f
/* Clip takes its bounds from inputs 1 and 2 instead of attributes from this opset. */
#define CLIP_INPUT_BOUNDS_OPSET 11
enum { UNARY_IN_X = 0, CLIP_IN_MIN = 1, CLIP_IN_MAX = 2 };

typedef struct unary_params {
    float alpha;      /* LeakyRelu slope for x <= 0 */
    float lo, hi;     /* Clip bounds */
} unary_params;

typedef void (*unary_forward_fn)(const float *restrict x, float *restrict y, int64_t n,
                                 const unary_params *p);
/* Accumulates: dx[i] += dy[i] * f'(x[i]). */
typedef void (*unary_backward_fn)(const float *restrict x, const float *restrict y,
                                  const float *restrict dy, float *restrict dx, int64_t n,
                                  const unary_params *p);

typedef struct unary_kernel {
    lps_op_kind kind;
    unary_forward_fn forward;
    unary_backward_fn backward;
    const char *const *attrs;   /* NULL-terminated names prepare accepts */
} unary_kernel;

/* What prepare stores in op->params. */
typedef struct unary_node {
    const unary_kernel *kernel;
    unary_params params;        /* bounds from inputs are filled per run */
} unary_node;

/* A comparison mask instead of ?: keeps the loop branch-free at -O2, where
 * GCC compiles the select to a branch that mispredicts on about half of the
 * elements (a fifth of LeNet-300's forward time); -O3 vectorizes both
 * forms. Like the select, it maps NaN and -0 to +0. */
static void relu_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bits &= -(uint32_t)(x[i] > 0.0f);
        memcpy(&y[i], &bits, sizeof bits);
    }
}

static void relu_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const unary_params *p)
{
    (void)y, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

static void leaky_relu_fwd(const float *restrict x, float *restrict y, int64_t n,
                           const unary_params *p)
{
    float alpha = p->alpha;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}

static void leaky_relu_bwd(const float *restrict x, const float *restrict y,
                           const float *restrict dy, float *restrict dx, int64_t n,
                           const unary_params *p)
{
    (void)y;
    float alpha = p->alpha;
    for (int64_t i = 0; i < n; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : alpha * dy[i];
}

static void sigmoid_fwd(const float *restrict x, float *restrict y, int64_t n,
                        const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void sigmoid_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                        float *restrict dx, int64_t n, const unary_params *p)
{
    (void)x, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

static void tanh_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

static void tanh_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const unary_params *p)
{
    (void)x, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

static void exp_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

static void exp_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                    float *restrict dx, int64_t n, const unary_params *p)
{
    (void)x, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i];
}

static void neg_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = -x[i];
}

static void neg_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                    float *restrict dx, int64_t n, const unary_params *p)
{
    (void)x, (void)y, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] -= dy[i];
}

static void sqrt_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = sqrtf(x[i]);
}

static void sqrt_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const unary_params *p)
{
    (void)x, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += 0.5f * dy[i] / y[i];
}

/* min(max(x, lo), hi): when lo > hi every output is hi, as ONNX specifies. */
static void clip_fwd(const float *restrict x, float *restrict y, int64_t n, const unary_params *p)
{
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

/* The gradient passes only strictly inside the bounds. */
static void clip_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const unary_params *p)
{
    (void)y;
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++)
        dx[i] += (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
}

static const char *const no_attrs[] = {NULL};
static const char *const leaky_relu_attrs[] = {"alpha", NULL};
static const char *const clip_attr_bounds[] = {"min", "max", NULL};

static const unary_kernel unary_kernels[] = {
    {LPS_OP_RELU, relu_fwd, relu_bwd, no_attrs},
    {LPS_OP_LEAKY_RELU, leaky_relu_fwd, leaky_relu_bwd, leaky_relu_attrs},
    {LPS_OP_SIGMOID, sigmoid_fwd, sigmoid_bwd, no_attrs},
    {LPS_OP_TANH, tanh_fwd, tanh_bwd, no_attrs},
    {LPS_OP_EXP, exp_fwd, exp_bwd, no_attrs},
    {LPS_OP_NEG, neg_fwd, neg_bwd, no_attrs},
    {LPS_OP_SQRT, sqrt_fwd, sqrt_bwd, no_attrs},
    {LPS_OP_CLIP, clip_fwd, clip_bwd, clip_attr_bounds},
};

static bool clip_bounds_are_inputs(const lps_op_node *op)
{
    return op->kind == LPS_OP_CLIP && op->opset >= CLIP_INPUT_BOUNDS_OPSET;
}

static lps_status unary_prepare(lps_op_node *op, lps_error *err)
{
    const unary_kernel *kernel = NULL;
    for (size_t i = 0; i < sizeof unary_kernels / sizeof unary_kernels[0]; i++)
        if (unary_kernels[i].kind == op->kind)
            kernel = &unary_kernels[i];
    if (!kernel)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME, "has no activation kernel");
    const char *const *attrs = clip_bounds_are_inputs(op) ? no_attrs : kernel->attrs;
    lps_status st = lps_op_check_attrs(op, attrs, err);
    if (st != LPS_OK)
        return st;
    if (op->kind == LPS_OP_CLIP && !clip_bounds_are_inputs(op) && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d Clip takes min/max as attributes",
                           op->n_inputs, CLIP_INPUT_BOUNDS_OPSET);
    unary_node *node = calloc(1, sizeof *node);
    if (!node)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory");
    node->kernel = kernel;
    node->params.lo = -FLT_MAX;
    node->params.hi = FLT_MAX;
    st = lps_op_attr_float(op, "alpha", LEAKY_RELU_DEFAULT_ALPHA, &node->params.alpha, err);
    if (st == LPS_OK && !clip_bounds_are_inputs(op))
        st = lps_op_attr_float(op, "min", -FLT_MAX, &node->params.lo, err);
    if (st == LPS_OK && !clip_bounds_are_inputs(op))
        st = lps_op_attr_float(op, "max", FLT_MAX, &node->params.hi, err);
    if (st != LPS_OK) {
        free(node);
        return st;
    }
    op->params = node;
    return LPS_OK;
}

/* Clip's optional bound input i: absent (NULL) or a float scalar. */
static lps_status check_bound_input(const lps_op_node *op, const lps_tensor *t, int i,
                                    lps_error *err)
{
    if (!t)
        return LPS_OK;
    lps_status st = lps_op_expect_dtype(op, t, i, LPS_DT_FLOAT, err);
    if (st == LPS_OK && lps_tensor_numel(t) != 1)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "input %d must be a scalar, has %lld elements",
                         i, (long long)lps_tensor_numel(t));
    return st;
}

static lps_status unary_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, in[0], 0, LPS_DT_FLOAT, err);
    for (size_t i = 1; i < op->n_inputs && st == LPS_OK; i++)
        st = check_bound_input(op, in[i], (int)i, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = in[0]->rank;
    for (int d = 0; d < in[0]->rank; d++)
        out[0].dims[d] = in[0]->dims[d];
    return LPS_OK;
}

/* The node's parameters with Clip's input bounds (checked by shape) filled in. */
static unary_params resolved_params(const lps_op_node *op, const lps_tensor *const *in)
{
    const unary_node *node = op->params;
    unary_params p = node->params;
    if (clip_bounds_are_inputs(op)) {
        if (op->n_inputs > CLIP_IN_MIN && in[CLIP_IN_MIN])
            p.lo = lps_tensor_f32(in[CLIP_IN_MIN])[0];
        if (op->n_inputs > CLIP_IN_MAX && in[CLIP_IN_MAX])
            p.hi = lps_tensor_f32(in[CLIP_IN_MAX])[0];
    }
    return p;
}

static lps_status unary_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx, (void)err;
    const unary_node *node = op->params;
    unary_params p = resolved_params(op, in);
    node->kernel->forward(lps_tensor_f32(in[0]), lps_tensor_f32(out[0]), lps_tensor_numel(in[0]),
                          &p);
    return LPS_OK;
}

static lps_status unary_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 const lps_tensor *const *out, const lps_tensor *const *dout,
                                 lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)err;
    if (!din[0] || !dout[0])
        return LPS_OK;
    const unary_node *node = op->params;
    unary_params p = resolved_params(op, in);
    node->kernel->backward(lps_tensor_f32(in[0]), lps_tensor_f32(out[0]), lps_tensor_f32(dout[0]),
                           lps_tensor_f32(din[0]), lps_tensor_numel(in[0]), &p);
    return LPS_OK;
}

/* Clip: data plus optional min and max from opset 11. */
#define CLIP_MAX_INPUTS 3

const lps_op_def lps_op_def_relu = {
    .name = "Relu",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_leaky_relu = {
    .name = "LeakyRelu",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_sigmoid = {
    .name = "Sigmoid",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_tanh = {
    .name = "Tanh",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_exp = {
    .name = "Exp",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_neg = {
    .name = "Neg",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_sqrt = {
    .name = "Sqrt",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X,
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};

const lps_op_def lps_op_def_clip = {
    .name = "Clip",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = CLIP_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << UNARY_IN_X, /* not the bounds */
    .prepare = unary_prepare,
    .shape = unary_shape,
    .forward = unary_forward,
    .backward = unary_backward,
};
