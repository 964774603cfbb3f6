/* The shared float unary driver (see unary.h): attribute parsing, shape,
 * forward and backward for every row of activation.c and unary_math.c. */
#include "ops/unary.h"

#include <stdlib.h>
#include <string.h>

enum { UNARY_IN_X = 0, CLIP_IN_MIN = 1, CLIP_IN_MAX = 2 };

const char *const lps_unary_no_attrs[] = {NULL};

/* What prepare stores in op->params. */
typedef struct unary_node {
    const lps_unary_kernel *kernel;
    /* Clip's bounds from inputs are filled per run, and here by
     * lps_unary_bind_inputs when they are constant */
    lps_unary_params params;
} unary_node;

static bool bounds_are_inputs(const lps_op_node *op, const lps_unary_kernel *k)
{
    return k->bounds_input_opset && op->opset >= k->bounds_input_opset;
}

/* Gelu's "approximate": "none" (default) or "tanh"; anything else is
 * unsupported, naming the value. */
static lps_status read_approximate(const lps_op_node *op, int *out, lps_error *err)
{
    const char *mode;
    lps_status st = lps_op_attr_string(op, "approximate", "none", &mode, err);
    if (st != LPS_OK)
        return st;
    if (strcmp(mode, "none") == 0)
        *out = LPS_GELU_NONE;
    else if (strcmp(mode, "tanh") == 0)
        *out = LPS_GELU_TANH;
    else
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "approximate='%s' is not supported", mode);
    return LPS_OK;
}

/* Fills p from the attributes present, keeping the row's defaults for the
 * absent ones. Errors as lps_op_attr_*. */
static lps_status read_params(const lps_op_node *op, const lps_unary_kernel *k,
                              lps_unary_params *p, lps_error *err)
{
    *p = k->defaults;
    lps_status st = lps_op_attr_float(op, "alpha", p->alpha, &p->alpha, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "beta", p->beta, &p->beta, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "gamma", p->gamma, &p->gamma, err);
    if (st == LPS_OK && !bounds_are_inputs(op, k))
        st = lps_op_attr_float(op, "min", p->lo, &p->lo, err);
    if (st == LPS_OK && !bounds_are_inputs(op, k))
        st = lps_op_attr_float(op, "max", p->hi, &p->hi, err);
    if (st == LPS_OK)
        st = read_approximate(op, &p->approximate, err);
    return st;
}

lps_status lps_unary_prepare_from(lps_op_node *op, const lps_unary_kernel *kernels, size_t n,
                                  lps_error *err)
{
    const lps_unary_kernel *kernel = NULL;
    for (size_t i = 0; i < n; i++)
        if (kernels[i].kind == op->kind)
            kernel = &kernels[i];
    if (!kernel)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME, "has no unary kernel");
    const char *const *attrs = bounds_are_inputs(op, kernel) ? lps_unary_no_attrs : kernel->attrs;
    lps_status st = lps_op_check_attrs(op, attrs, err);
    if (st != LPS_OK)
        return st;
    if (kernel->bounds_input_opset && !bounds_are_inputs(op, kernel) && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d Clip takes min/max as attributes",
                           op->n_inputs, kernel->bounds_input_opset);
    unary_node *node = calloc(1, sizeof *node);
    if (!node)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory");
    node->kernel = kernel;
    st = read_params(op, kernel, &node->params, err);
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

lps_status lps_unary_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
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
static lps_unary_params resolved_params(const lps_op_node *op, const lps_tensor *const *in)
{
    const unary_node *node = op->params;
    lps_unary_params p = node->params;
    if (bounds_are_inputs(op, node->kernel)) {
        if (op->n_inputs > CLIP_IN_MIN && in[CLIP_IN_MIN])
            p.lo = lps_tensor_f32(in[CLIP_IN_MIN])[0];
        if (op->n_inputs > CLIP_IN_MAX && in[CLIP_IN_MAX])
            p.hi = lps_tensor_f32(in[CLIP_IN_MAX])[0];
    }
    return p;
}

/* Contract in unary.h. */
bool lps_unary_bind_inputs(lps_op_node *op, const lps_tensor *const *in)
{
    unary_node *node = op->params;
    for (size_t i = 1; i < op->n_inputs; i++)
        if (check_bound_input(op, in[i], (int)i, NULL) != LPS_OK)
            return false;
    node->params = resolved_params(op, in);
    return true;
}

/* Contract in unary.h. */
const lps_unary_params *lps_unary_node_params(const lps_op_node *op)
{
    return &((const unary_node *)op->params)->params;
}

lps_status lps_unary_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    (void)ctx, (void)err;
    const unary_node *node = op->params;
    lps_unary_params p = resolved_params(op, in);
    node->kernel->forward(lps_tensor_f32(in[UNARY_IN_X]), lps_tensor_f32(out[0]),
                          lps_tensor_numel(in[UNARY_IN_X]), &p);
    return LPS_OK;
}

lps_status lps_unary_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)err;
    const unary_node *node = op->params;
    if (!din[UNARY_IN_X] || !dout[0] || !node->kernel->backward)
        return LPS_OK;
    lps_unary_params p = resolved_params(op, in);
    node->kernel->backward(lps_tensor_f32(in[UNARY_IN_X]), lps_tensor_f32(out[0]),
                           lps_tensor_f32(dout[0]), lps_tensor_f32(din[UNARY_IN_X]),
                           lps_tensor_numel(in[UNARY_IN_X]), &p);
    return LPS_OK;
}
