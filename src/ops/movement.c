/* Data movement without arithmetic: Flatten, Reshape, Identity, Transpose
 * and Concat (opsets 7..21). The kernels move bytes of the element size, so
 * float activations and int64 shape tensors share one implementation;
 * backward (float only) routes the gradient back without reordering for the
 * reshaping ops, through the inverse permutation for Transpose and by
 * slices for Concat. */
#include "ops/op.h"

#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---------------------------------------------------- */

static size_t tensor_bytes(const lps_tensor *t)
{
    return (size_t)lps_tensor_numel(t) * lps_dtype_size(t->dtype);
}

/* Checks that input 0 exists and has a fixed-size element type. */
static lps_status expect_sized(const lps_op_node *op, const lps_tensor *t, int index,
                               lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (lps_dtype_size(t->dtype) == 0)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has unsupported type %s", index,
                           lps_dtype_name(t->dtype));
    return LPS_OK;
}

/* Checks a gradient buffer is float; gradients of int64 shape data are an
 * executor bug, reported rather than mis-read. */
static lps_status expect_float_grad(const lps_op_node *op, const lps_tensor *g, lps_error *err)
{
    if (g->dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "gradient of a %s tensor requested",
                           lps_dtype_name(g->dtype));
    return LPS_OK;
}

static void add_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static lps_status store_params(lps_op_node *op, const void *p, size_t size, lps_error *err)
{
    op->params = malloc(size);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, p, size);
    return LPS_OK;
}

/* Normalizes an axis counted from the back when negative. Valid axes are
 * [-rank, rank - 1], plus rank itself when allow_end (Flatten). */
static lps_status normalize_axis(const lps_op_node *op, int64_t axis, int rank, bool allow_end,
                                 int *out, lps_error *err)
{
    int hi = allow_end ? rank : rank - 1;
    if (axis < -rank || axis > hi)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                           (long long)axis, -rank, hi);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return LPS_OK;
}

/* Forward of the ops whose output holds the input's bytes unchanged. */
static lps_status copy_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    (void)op;
    (void)ctx;
    (void)err;
    size_t n = tensor_bytes(in[0]);
    if (n > 0)
        memcpy(out[0]->data, in[0]->data, n);
    return LPS_OK;
}

/* Backward of the same ops: the gradient keeps its element order. */
static lps_status copy_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)in;
    (void)out;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = expect_float_grad(op, din[0], err);
    if (st == LPS_OK)
        add_into(lps_tensor_f32(din[0]), lps_tensor_f32(dout[0]),
                 (size_t)lps_tensor_numel(din[0]));
    return st;
}

/* ---- Flatten ----------------------------------------------------------- */

static lps_status flatten_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"axis", NULL};
    int64_t axis;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis", 1, &axis, err);
    if (st == LPS_OK)
        st = store_params(op, &axis, sizeof axis, err);
    return st;
}

static lps_status flatten_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    int axis = 0;
    lps_status st = expect_sized(op, in[0], 0, err);
    if (st == LPS_OK)
        st = normalize_axis(op, *(const int64_t *)op->params, in[0]->rank, true, &axis, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].rank = 2;
    out[0].dims[0] = lps_numel_of(axis, in[0]->dims);
    out[0].dims[1] = lps_numel_of(in[0]->rank - axis, in[0]->dims + axis);
    return LPS_OK;
}

const lps_op_def lps_op_def_flatten = {
    .name = "Flatten",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = flatten_prepare,
    .shape = flatten_shape,
    .forward = copy_forward,
    .backward = copy_backward,
};

/* ---- Reshape ----------------------------------------------------------- */

/* allowzero arrived in opset 14; before it a 0 always copies the input dim. */
#define RESHAPE_ALLOWZERO_OPSET 14

static lps_status reshape_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_old[] = {NULL};
    static const char *const known_new[] = {"allowzero", NULL};
    bool has_allowzero = op->opset >= RESHAPE_ALLOWZERO_OPSET;
    int64_t allowzero = 0;
    lps_status st = lps_op_check_attrs(op, has_allowzero ? known_new : known_old, err);
    if (st == LPS_OK && has_allowzero)
        st = lps_op_attr_int(op, "allowzero", 0, &allowzero, err);
    if (st != LPS_OK)
        return st;
    if (allowzero != 0 && allowzero != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "allowzero must be 0 or 1, got %lld",
                           (long long)allowzero);
    return store_params(op, &allowzero, sizeof allowzero, err);
}

/* Resolves the requested shape: 0 copies the input dim (unless allowzero),
 * a single -1 takes whatever element count is left. */
static lps_status reshape_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    bool allowzero = *(const int64_t *)op->params != 0;
    const lps_tensor *x = in[0], *shape = in[1];
    lps_status st = expect_sized(op, x, 0, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, shape, 1, LPS_DT_INT64, err);
    if (st != LPS_OK)
        return st;
    int64_t rank = lps_tensor_numel(shape);
    if (shape->rank != 1 || rank > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "shape input must be 1-D with at most %d values", LPS_MAX_RANK);
    const int64_t *req = lps_tensor_i64(shape);
    int infer = -1;
    bool has_zero = false;
    int64_t known = 1;
    out[0].dtype = x->dtype;
    out[0].rank = (int)rank;
    for (int i = 0; i < (int)rank; i++) {
        int64_t d = req[i];
        if (d == -1) {
            if (infer >= 0)
                return lps_op_fail(op, err, LPS_ERR_INVALID, "shape has more than one -1");
            infer = i;
            continue;
        }
        if (d < -1)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "shape value %lld is invalid",
                               (long long)d);
        if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return lps_op_fail(op, err, LPS_ERR_INVALID,
                                   "shape[%d] = 0 copies a dim the rank-%d input does not have", i,
                                   x->rank);
            d = x->dims[i];
        }
        has_zero = has_zero || d == 0;
        out[0].dims[i] = d;
        if (d != 0 && known > LPS_MAX_NUMEL / d)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "shape has too many elements");
        known *= d;
    }
    int64_t numel = lps_tensor_numel(x);
    if (infer >= 0) {
        if (allowzero && has_zero)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "shape has both -1 and 0 while allowzero=1");
        if (known == 0 || numel % known != 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "cannot infer the -1 dim: %lld elements into blocks of %lld",
                               (long long)numel, (long long)known);
        out[0].dims[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        char sx[128], so[128];
        return lps_op_fail(op, err, LPS_ERR_INVALID, "cannot reshape %s into %s",
                           lps_shape_str(x->rank, x->dims, sx, sizeof sx),
                           lps_shape_str(out[0].rank, out[0].dims, so, sizeof so));
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_reshape = {
    .name = "Reshape",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = reshape_prepare,
    .shape = reshape_shape,
    .forward = copy_forward,
    .backward = copy_backward,
};

/* ---- Identity ---------------------------------------------------------- */

static lps_status identity_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}

static lps_status identity_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_shape *out, lps_error *err)
{
    lps_status st = expect_sized(op, in[0], 0, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].rank = in[0]->rank;
    memcpy(out[0].dims, in[0]->dims, sizeof in[0]->dims);
    return LPS_OK;
}

const lps_op_def lps_op_def_identity = {
    .name = "Identity",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = identity_prepare,
    .shape = identity_shape,
    .forward = copy_forward,
    .backward = copy_backward,
};
