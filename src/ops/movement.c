/* Data movement without arithmetic: Flatten, Reshape, Identity, Transpose
 * and Concat (opsets 7..21). The kernels move bytes of the element size, so
 * float activations and int64 shape tensors share one implementation;
 * backward (float only) routes the gradient back without reordering for the
 * reshaping ops, through the inverse permutation for Transpose and by
 * slices for Concat. */
#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/strided.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---------------------------------------------------- */

/* dst[i] += src[i] for n floats. */
static void add_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* ---- Flatten ----------------------------------------------------------- */

static lps_status flatten_prepare(lps_op_node *op, lps_error *err)
{
    return lps_op_prepare_axis(op, 1, err);
}

static lps_status flatten_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    int axis = 0;
    lps_status st = lps_op_expect_sized(op, in[0], 0, err);
    if (st == LPS_OK)
        st = lps_op_normalize_axis(op, *(const int64_t *)op->params, in[0]->rank, true, &axis,
                                   err);
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
    .forward = lps_op_copy_forward,
    .backward = lps_op_copy_backward,
    .weight_view = true,
    .aliases_input = true,
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
    return lps_op_store_params(op, &allowzero, sizeof allowzero, err);
}

/* Resolves the requested shape: 0 copies the input dim (unless allowzero),
 * a single -1 takes whatever element count is left. */
static lps_status reshape_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    bool allowzero = *(const int64_t *)op->params != 0;
    const lps_tensor *x = in[0], *shape = in[1];
    lps_status st = lps_op_expect_sized(op, x, 0, err);
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
    .forward = lps_op_copy_forward,
    .backward = lps_op_copy_backward,
    .weight_view = true,
    .aliases_input = true,
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
    lps_status st = lps_op_expect_sized(op, in[0], 0, err);
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
    .forward = lps_op_copy_forward,
    .backward = lps_op_copy_backward,
    .weight_view = true,
    .aliases_input = true,
};

/* ---- Transpose --------------------------------------------------------- */

typedef struct transpose_params {
    int n_perm; /* -1: no perm attribute, reverse the dims */
    int64_t perm[LPS_MAX_RANK];
} transpose_params;

static lps_status transpose_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"perm", NULL};
    transpose_params p;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_ints(op, "perm", p.perm, LPS_MAX_RANK, &p.n_perm, err);
    if (st == LPS_OK)
        st = lps_op_store_params(op, &p, sizeof p, err);
    return st;
}

/* Resolves the permutation for x (default: reversed) and checks it. */
static lps_status transpose_perm(const lps_op_node *op, const lps_tensor *x, int *perm,
                                 lps_error *err)
{
    const transpose_params *p = op->params;
    bool seen[LPS_MAX_RANK] = {false};
    if (p->n_perm >= 0 && p->n_perm != x->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "perm has %d values for a rank-%d input",
                           p->n_perm, x->rank);
    for (int i = 0; i < x->rank; i++) {
        int64_t v = p->n_perm >= 0 ? p->perm[i] : x->rank - 1 - i;
        if (v < 0 || v >= x->rank || seen[v])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "perm is not a permutation of 0..%d",
                               x->rank - 1);
        seen[v] = true;
        perm[i] = (int)v;
    }
    return LPS_OK;
}

static lps_status transpose_shape(const lps_op_node *op, const lps_tensor *const *in,
                                  lps_shape *out, lps_error *err)
{
    int perm[LPS_MAX_RANK];
    lps_status st = lps_op_expect_sized(op, in[0], 0, err);
    if (st == LPS_OK)
        st = transpose_perm(op, in[0], perm, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].rank = in[0]->rank;
    for (int i = 0; i < in[0]->rank; i++)
        out[0].dims[i] = in[0]->dims[perm[i]];
    return LPS_OK;
}

/* The walk of x transposed by perm (a checked permutation): output dim i
 * steps through input dim perm[i]. */
static void transpose_walk(const lps_tensor *x, const int *perm, lps_strided *w)
{
    int64_t in_stride[LPS_MAX_RANK], dims[LPS_MAX_RANK], stride[LPS_MAX_RANK];
    lps_strided_dense(x->rank, x->dims, in_stride);
    for (int i = 0; i < x->rank; i++) {
        dims[i] = x->dims[perm[i]];
        stride[i] = in_stride[perm[i]];
    }
    lps_strided_init(w, x->rank, dims, stride, 0);
}

static lps_status transpose_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                    const lps_tensor *const *in, lps_tensor *const *out,
                                    lps_error *err)
{
    (void)ctx;
    int perm[LPS_MAX_RANK];
    lps_strided w;
    lps_status st = transpose_perm(op, in[0], perm, err);
    if (st != LPS_OK)
        return st;
    transpose_walk(in[0], perm, &w);
    lps_strided_gather(out[0]->data, in[0]->data, lps_dtype_size(in[0]->dtype), &w);
    return LPS_OK;
}

static lps_status transpose_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                     const lps_tensor *const *in, const lps_tensor *const *out,
                                     const lps_tensor *const *dout, lps_tensor *const *din,
                                     lps_error *err)
{
    (void)ctx;
    (void)out;
    int perm[LPS_MAX_RANK];
    lps_strided w;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[0], err);
    if (st == LPS_OK)
        st = transpose_perm(op, in[0], perm, err);
    if (st != LPS_OK)
        return st;
    transpose_walk(in[0], perm, &w);
    lps_strided_scatter_add(lps_tensor_f32(din[0]), lps_tensor_f32(dout[0]), &w);
    return LPS_OK;
}

const lps_op_def lps_op_def_transpose = {
    .name = "Transpose",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = transpose_prepare,
    .shape = transpose_shape,
    .forward = transpose_forward,
    .backward = transpose_backward,
    .weight_view = true,
};

/* ---- Concat ------------------------------------------------------------ */

/* Concat is variadic: every input is differentiable, and inputs past the
 * mask's last bit share it (lps_op_input_differentiable). */
#define CONCAT_MAX_INPUTS INT_MAX

/* Concat's axis has no default; the params stored before the check are
 * freed with the node. */
static lps_status concat_prepare(lps_op_node *op, lps_error *err)
{
    lps_status st = lps_op_prepare_axis(op, 0, err);
    if (st == LPS_OK && !lps_node_attr(op->node, "axis"))
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'axis' is required");
    return st;
}

/* Checks the inputs agree on dtype, rank and every dim but the axis;
 * *axis_out receives the normalized axis. */
static lps_status concat_check(const lps_op_node *op, const lps_tensor *const *in, int *axis_out,
                               lps_error *err)
{
    const lps_tensor *first = in[0];
    lps_status st = lps_op_expect_sized(op, first, 0, err);
    if (st != LPS_OK)
        return st;
    if (first->rank == 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "cannot concatenate scalars");
    st = lps_op_normalize_axis(op, *(const int64_t *)op->params, first->rank, false, axis_out,
                               err);
    for (size_t i = 1; i < op->n_inputs && st == LPS_OK; i++) {
        const lps_tensor *t = in[i];
        if (!t)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %zu is missing", i);
        if (t->dtype != first->dtype || t->rank != first->rank)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "input %zu (%s, rank %d) differs from input 0 (%s, rank %d)", i,
                               lps_dtype_name(t->dtype), t->rank, lps_dtype_name(first->dtype),
                               first->rank);
        for (int d = 0; d < t->rank; d++)
            if (d != *axis_out && t->dims[d] != first->dims[d]) {
                char s0[128], si[128];
                return lps_op_fail(op, err, LPS_ERR_INVALID,
                                   "input %zu %s does not match input 0 %s off axis %d", i,
                                   lps_shape_str(t->rank, t->dims, si, sizeof si),
                                   lps_shape_str(first->rank, first->dims, s0, sizeof s0),
                                   *axis_out);
            }
    }
    return st;
}

static lps_status concat_shape(const lps_op_node *op, const lps_tensor *const *in,
                               lps_shape *out, lps_error *err)
{
    int axis = 0;
    lps_status st = concat_check(op, in, &axis, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].rank = in[0]->rank;
    memcpy(out[0].dims, in[0]->dims, sizeof in[0]->dims);
    for (size_t i = 1; i < op->n_inputs; i++)
        out[0].dims[axis] += in[i]->dims[axis];
    return LPS_OK;
}

/* Bytes of input t in one outer step (its block from the axis inward). */
static size_t concat_block(const lps_tensor *t, int axis)
{
    return (size_t)lps_numel_of(t->rank - axis, t->dims + axis) * lps_dtype_size(t->dtype);
}

static lps_status concat_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    int axis = 0;
    lps_status st = concat_check(op, in, &axis, err);
    if (st != LPS_OK)
        return st;
    int64_t outer = lps_numel_of(axis, in[0]->dims);
    char *dst = out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (size_t i = 0; i < op->n_inputs; i++) {
            size_t block = concat_block(in[i], axis);
            if (block == 0)
                continue;
            memcpy(dst, (const char *)in[i]->data + (size_t)o * block, block);
            dst += block;
        }
    return LPS_OK;
}

static lps_status concat_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)out;
    int axis = 0;
    if (!dout[0])
        return LPS_OK;
    lps_status st = concat_check(op, in, &axis, err);
    if (st == LPS_OK)
        st = lps_op_expect_float_grad(op, dout[0], err);
    if (st != LPS_OK)
        return st;
    int64_t outer = lps_numel_of(axis, in[0]->dims);
    const float *dy = lps_tensor_f32(dout[0]);
    for (int64_t o = 0; o < outer; o++)
        for (size_t i = 0; i < op->n_inputs; i++) {
            size_t n = concat_block(in[i], axis) / sizeof(float);
            if (din[i])
                add_into(lps_tensor_f32(din[i]) + (size_t)o * n, dy, n);
            dy += n;
        }
    return LPS_OK;
}

const lps_op_def lps_op_def_concat = {
    .name = "Concat",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = CONCAT_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = UINT32_MAX,
    .prepare = concat_prepare,
    .shape = concat_shape,
    .forward = concat_forward,
    .backward = concat_backward,
    .weight_view = true,
};
