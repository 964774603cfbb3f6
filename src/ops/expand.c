/* Expand (opsets 8..21) and Tile (7..21): repeating a tensor's elements.
 *
 * Expand broadcasts its input against a shape tensor (both ways, as numpy);
 * Tile repeats it `repeats[d]` times along each dim. Both are strided walks
 * (lps_strided): Expand steps 0 along broadcast dims, Tile walks each dim as
 * (repeat, dim) with the repeat stepping 0. They move bytes of the element
 * size, so int64 shape tensors and bool masks take the float path. Backward
 * sums the float gradient over the copies. */
#include <string.h>

#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/strided.h"

#define EXPAND_MIN_OPSET 8
enum { REPEAT_DATA, REPEAT_SHAPE, REPEAT_INPUTS };

static lps_status no_attrs_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}

/* ---- Expand ------------------------------------------------------------ */

/* The output shape: x's shape broadcast with the shape input. */
static lps_status expand_out_shape(const lps_op_node *op, const lps_tensor *const *in,
                                   lps_shape *out, lps_error *err)
{
    const lps_tensor *x = in[REPEAT_DATA];
    int64_t want[LPS_MAX_RANK];
    int n = 0;
    lps_status st = lps_op_expect_sized(op, x, REPEAT_DATA, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, in[REPEAT_SHAPE], REPEAT_SHAPE, LPS_DT_INT64, err);
    if (st == LPS_OK)
        st = lps_op_read_ints(op, in[REPEAT_SHAPE], REPEAT_SHAPE, want, LPS_MAX_RANK, &n, err);
    if (st == LPS_OK)
        st = lps_broadcast_shape(op, x->rank, x->dims, n, want, out, err);
    if (st != LPS_OK)
        return st;
    for (int d = 0; d < n; d++)
        if (want[d] < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "shape value %lld is negative",
                               (long long)want[d]);
    out->dtype = x->dtype;
    return LPS_OK;
}

static lps_status expand_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    return expand_out_shape(op, in, &out[0], err);
}

/* The walk of x broadcast to the output shape y: step 0 where x has 1. */
static void expand_walk(const lps_tensor *x, const lps_tensor *y, lps_strided *w)
{
    int64_t xs[LPS_MAX_RANK], stride[LPS_MAX_RANK];
    int lead = y->rank - x->rank;
    lps_strided_dense(x->rank, x->dims, xs);
    for (int d = 0; d < y->rank; d++)
        stride[d] = d < lead || x->dims[d - lead] == 1 ? 0 : xs[d - lead];
    lps_strided_init(w, y->rank, y->dims, stride, 0);
}

static lps_status expand_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)op, (void)ctx, (void)err;
    lps_strided w;
    expand_walk(in[REPEAT_DATA], out[0], &w);
    lps_strided_gather(out[0]->data, in[REPEAT_DATA]->data, lps_dtype_size(out[0]->dtype), &w);
    return LPS_OK;
}

static lps_status expand_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    if (!din[REPEAT_DATA] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[REPEAT_DATA], err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[REPEAT_DATA];
    st = lps_bcast_sum_into(lps_tensor_f32(din[REPEAT_DATA]), x->rank, x->dims,
                            lps_tensor_f32(dout[0]), out[0]->rank, out[0]->dims, 1.0f, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

const lps_op_def lps_op_def_expand = {
    .name = "Expand",
    .min_opset = EXPAND_MIN_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = REPEAT_INPUTS,
    .max_inputs = REPEAT_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << REPEAT_DATA,
    .prepare = no_attrs_prepare,
    .shape = expand_shape,
    .forward = expand_forward,
    .backward = expand_backward,
};

/* ---- Tile -------------------------------------------------------------- */

/* Reads the repeats (one non-negative count per dim of x). */
static lps_status tile_repeats(const lps_op_node *op, const lps_tensor *const *in,
                               int64_t *repeats, lps_error *err)
{
    const lps_tensor *x = in[REPEAT_DATA];
    int n = 0;
    lps_status st = lps_op_expect_sized(op, x, REPEAT_DATA, err);
    if (st == LPS_OK)
        st = lps_op_read_ints(op, in[REPEAT_SHAPE], REPEAT_SHAPE, repeats, LPS_MAX_RANK, &n, err);
    if (st != LPS_OK)
        return st;
    if (n != x->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "%d repeats for a rank-%d input", n,
                           x->rank);
    for (int d = 0; d < n; d++)
        if (repeats[d] < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "repeat %lld is negative",
                               (long long)repeats[d]);
    return LPS_OK;
}

static lps_status tile_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    int64_t repeats[LPS_MAX_RANK];
    const lps_tensor *x = in[REPEAT_DATA];
    lps_status st = tile_repeats(op, in, repeats, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = x->dtype;
    out[0].rank = x->rank;
    for (int d = 0; d < x->rank; d++) {
        if (repeats[d] > 0 && x->dims[d] > LPS_MAX_NUMEL / repeats[d])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "repeats make dim %d too large", d);
        out[0].dims[d] = x->dims[d] * repeats[d];
    }
    return LPS_OK;
}

/* Output dim d read as (repeat, dim): the repeat steps 0 through x. */
static lps_status tile_walk(const lps_op_node *op, const lps_tensor *const *in, lps_strided *w,
                            lps_error *err)
{
    int64_t repeats[LPS_MAX_RANK], xs[LPS_MAX_RANK];
    int64_t dims[LPS_STRIDED_MAX_RANK], stride[LPS_STRIDED_MAX_RANK];
    const lps_tensor *x = in[REPEAT_DATA];
    lps_status st = tile_repeats(op, in, repeats, err);
    if (st != LPS_OK)
        return st;
    lps_strided_dense(x->rank, x->dims, xs);
    for (int d = 0; d < x->rank; d++) {
        dims[2 * d] = repeats[d];
        stride[2 * d] = 0;
        dims[2 * d + 1] = x->dims[d];
        stride[2 * d + 1] = xs[d];
    }
    lps_strided_init(w, 2 * x->rank, dims, stride, 0);
    return LPS_OK;
}

static lps_status tile_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    lps_strided w;
    lps_status st = tile_walk(op, in, &w, err);
    if (st == LPS_OK)
        lps_strided_gather(out[0]->data, in[REPEAT_DATA]->data, lps_dtype_size(out[0]->dtype),
                           &w);
    return st;
}

static lps_status tile_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    lps_strided w;
    if (!din[REPEAT_DATA] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[REPEAT_DATA], err);
    if (st == LPS_OK)
        st = tile_walk(op, in, &w, err);
    if (st == LPS_OK)
        lps_strided_scatter_add(lps_tensor_f32(din[REPEAT_DATA]), lps_tensor_f32(dout[0]), &w);
    return st;
}

const lps_op_def lps_op_def_tile = {
    .name = "Tile",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = REPEAT_INPUTS,
    .max_inputs = REPEAT_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << REPEAT_DATA,
    .prepare = no_attrs_prepare,
    .shape = tile_shape,
    .forward = tile_forward,
    .backward = tile_backward,
};
