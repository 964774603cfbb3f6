/* Shape bookkeeping of exported graphs: Shape, Gather, Unsqueeze, Squeeze
 * (opsets 7..21).
 *
 * These mostly run on int64 shape tensors (Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape), but Gather, Unsqueeze and Squeeze also move float
 * activations, so their kernels copy bytes of the element size and work for
 * any fixed-size type. Backward exists for float data only: Gather
 * scatter-adds into the gathered rows, Unsqueeze and Squeeze keep the
 * element order. */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/op_util.h"

/* Shape's start/end attributes exist from this opset. */
#define SHAPE_SLICE_OPSET 15
/* Unsqueeze/Squeeze take axes from input 1 instead of an attribute from this opset. */
#define AXES_INPUT_OPSET 13
enum { AXES_OP_DATA = 0, AXES_INPUT = 1 };

static void copy_shape(lps_shape *out, lps_dtype dtype, int rank, const int64_t *dims)
{
    out->dtype = dtype;
    out->rank = rank;
    for (int d = 0; d < rank; d++)
        out->dims[d] = dims[d];
}

/* ---- Shape ------------------------------------------------------------- */

typedef struct shape_params {
    int64_t start, end;   /* as given; clamped against the rank at run time */
} shape_params;

static lps_status shape_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const sliced[] = {"start", "end", NULL};
    static const char *const plain[] = {NULL};
    shape_params p = {0, INT64_MAX};
    lps_status st = lps_op_check_attrs(op, op->opset >= SHAPE_SLICE_OPSET ? sliced : plain, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "start", 0, &p.start, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "end", INT64_MAX, &p.end, err);
    if (st == LPS_OK)
        st = lps_op_store_params(op, &p, sizeof p, err);
    return st;
}

/* start/end counted from the back when negative, then clamped to [0, rank]. */
static int64_t clamp_dim_index(int64_t v, int rank)
{
    if (v < 0)
        v += rank;
    return v < 0 ? 0 : v > rank ? rank : v;
}

static void shape_range(const lps_op_node *op, int rank, int64_t *start, int64_t *end)
{
    const shape_params *p = op->params;
    *start = clamp_dim_index(p->start, rank);
    *end = clamp_dim_index(p->end, rank);
    if (*end < *start)
        *end = *start;
}

static lps_status shape_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    int64_t start, end;
    if (!in[0])
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input 0 is missing");
    shape_range(op, in[0]->rank, &start, &end);
    out[0].dtype = LPS_DT_INT64;
    out[0].rank = 1;
    out[0].dims[0] = end - start;
    return LPS_OK;
}

static lps_status shape_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx, (void)err;
    int64_t start, end;
    shape_range(op, in[0]->rank, &start, &end);
    int64_t *y = lps_tensor_i64(out[0]);
    for (int64_t d = start; d < end; d++)
        y[d - start] = in[0]->dims[d];
    return LPS_OK;
}

const lps_op_def lps_op_def_shape = {
    .name = "Shape",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 0u,
    .prepare = shape_prepare,
    .shape = shape_shape,
    .forward = shape_forward,
    .backward = NULL,
    .shape_only = true,
};

/* ---- Gather ------------------------------------------------------------ */

enum { GATHER_DATA = 0, GATHER_INDICES = 1 };

static lps_status gather_prepare(lps_op_node *op, lps_error *err)
{
    return lps_op_prepare_axis(op, 0, err);
}

/* Output layout: data dims before axis, index dims, data dims after axis. */
typedef struct gather_layout {
    int axis;
    int64_t outer;        /* product of data dims before axis */
    int64_t axis_dim;
    int64_t inner;        /* product of data dims after axis */
    int64_t n_indices;
} gather_layout;

static lps_status gather_layout_of(const lps_op_node *op, const lps_tensor *data,
                                   const lps_tensor *indices, gather_layout *g, lps_error *err)
{
    lps_status st = lps_op_normalize_axis(op, *(const int64_t *)op->params, data->rank, false,
                                          &g->axis, err);
    if (st != LPS_OK)
        return st;
    g->outer = lps_numel_of(g->axis, data->dims);
    g->axis_dim = data->dims[g->axis];
    g->inner = lps_numel_of(data->rank - g->axis - 1, data->dims + g->axis + 1);
    g->n_indices = lps_tensor_numel(indices);
    return LPS_OK;
}

static lps_status gather_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    gather_layout g = {0};
    const lps_tensor *data = in[GATHER_DATA], *idx = in[GATHER_INDICES];
    lps_status st = lps_op_expect_sized(op, data, GATHER_DATA, err);
    if (st == LPS_OK)
        st = lps_op_expect_sized(op, idx, GATHER_INDICES, err);
    if (st != LPS_OK)
        return st;
    if (idx->dtype != LPS_DT_INT64 && idx->dtype != LPS_DT_INT32)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "indices have type %s, expected int64 or int32",
                           lps_dtype_name(idx->dtype));
    if (data->rank < 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "data must have rank >= 1");
    int rank = data->rank - 1 + idx->rank;
    if (rank > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "output rank %d exceeds %d", rank,
                           LPS_MAX_RANK);
    st = gather_layout_of(op, data, idx, &g, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = data->dtype;
    out[0].rank = rank;
    int r = 0;
    for (int d = 0; d < g.axis; d++)
        out[0].dims[r++] = data->dims[d];
    for (int d = 0; d < idx->rank; d++)
        out[0].dims[r++] = idx->dims[d];
    for (int d = g.axis + 1; d < data->rank; d++)
        out[0].dims[r++] = data->dims[d];
    return LPS_OK;
}

/* The layout and the resolved indices (*idx malloc'd, freed by the caller;
 * NULL on failure) of Gather's data and indices inputs. */
static lps_status gather_resolve(const lps_op_node *op, const lps_tensor *const *in,
                                 gather_layout *g, int64_t **idx, lps_error *err)
{
    *idx = NULL;
    lps_status st = gather_layout_of(op, in[GATHER_DATA], in[GATHER_INDICES], g, err);
    if (st == LPS_OK)
        st = lps_op_resolve_indices(op, in[GATHER_INDICES], g->axis_dim, g->axis, idx, err);
    return st;
}

static lps_status gather_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    gather_layout g = {0};
    int64_t *idx = NULL;
    lps_status st = gather_resolve(op, in, &g, &idx, err);
    if (st != LPS_OK)
        return st;
    lps_op_block_map map = {g.outer, g.n_indices, g.axis_dim, g.inner, idx};
    lps_op_gather_blocks(&map, out[0]->data, in[GATHER_DATA]->data,
                         lps_dtype_size(in[GATHER_DATA]->dtype));
    free(idx);
    return LPS_OK;
}

static lps_status gather_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    gather_layout g = {0};
    int64_t *idx = NULL;
    if (!din[GATHER_DATA] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[GATHER_DATA], err);
    if (st == LPS_OK)
        st = gather_resolve(op, in, &g, &idx, err);
    if (st != LPS_OK)
        return st;
    lps_op_block_map map = {g.outer, g.n_indices, g.axis_dim, g.inner, idx};
    lps_op_scatter_add_blocks(&map, lps_tensor_f32(din[GATHER_DATA]), lps_tensor_f32(dout[0]));
    free(idx);
    return LPS_OK;
}

const lps_op_def lps_op_def_gather = {
    .name = "Gather",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << GATHER_DATA,
    .prepare = gather_prepare,
    .shape = gather_shape,
    .forward = gather_forward,
    .backward = gather_backward,
    /* docs/method.md section 1: a constant float table is an embedding, a
     * row per slice along axis 0 (one token's vector) */
    .weights = {{.role = LPS_WEIGHT_EMBEDDING, .input = GATHER_DATA, .min_rank = 2,
                 .max_rank = LPS_MAX_RANK, .rows = LPS_ROWS_UNITS_FIRST, .unit_axes = 1}},
};

/* ---- Unsqueeze and Squeeze --------------------------------------------- */

/* Axes from the attribute (before opset 13); n_axes -1 when they come from
 * input 1 or are absent. */
typedef struct axes_params {
    int n_axes;
    int64_t axes[LPS_MAX_RANK];
} axes_params;

static lps_status axes_prepare(lps_op_node *op, bool required, lps_error *err)
{
    static const char *const with_attr[] = {"axes", NULL};
    static const char *const no_attr[] = {NULL};
    axes_params p = {-1, {0}};
    bool from_input = op->opset >= AXES_INPUT_OPSET;
    lps_status st = lps_op_check_attrs(op, from_input ? no_attr : with_attr, err);
    if (st != LPS_OK)
        return st;
    if (from_input) {
        if (required && op->n_inputs < 2)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input 1 (axes) is required from opset %d",
                               AXES_INPUT_OPSET);
    } else {
        if (op->n_inputs > 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "has %zu inputs; before opset %d axes is an attribute",
                               op->n_inputs, AXES_INPUT_OPSET);
        st = lps_op_attr_ints(op, "axes", p.axes, LPS_MAX_RANK, &p.n_axes, err);
        if (st != LPS_OK)
            return st;
        if (required && p.n_axes < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'axes' is required");
    }
    return lps_op_store_params(op, &p, sizeof p, err);
}

static lps_status unsqueeze_prepare(lps_op_node *op, lps_error *err)
{
    return axes_prepare(op, true, err);
}

static lps_status squeeze_prepare(lps_op_node *op, lps_error *err)
{
    return axes_prepare(op, false, err);
}

/* The axes of this run: from the attribute or from input 1 (a 1-D int64
 * tensor). *n is -1 when there are none. */
static lps_status run_axes(const lps_op_node *op, const lps_tensor *const *in, int64_t *axes,
                           int *n, lps_error *err)
{
    const axes_params *p = op->params;
    const lps_tensor *t = op->n_inputs > AXES_INPUT ? in[AXES_INPUT] : NULL;
    if (op->opset < AXES_INPUT_OPSET || !t) {
        *n = p->n_axes;
        memcpy(axes, p->axes, sizeof p->axes);
        return LPS_OK;
    }
    return lps_op_read_axes(op, t, AXES_INPUT, axes, n, err);
}

static lps_status unsqueeze_shape(const lps_op_node *op, const lps_tensor *const *in,
                                  lps_shape *out, lps_error *err)
{
    int64_t axes[LPS_MAX_RANK];
    bool inserted[LPS_MAX_RANK] = {false};
    int n = 0;
    lps_status st = lps_op_expect_sized(op, in[0], 0, err);
    if (st == LPS_OK)
        st = run_axes(op, in, axes, &n, err);
    if (st != LPS_OK)
        return st;
    if (n < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axes are missing");
    int rank = in[0]->rank + n;
    if (rank > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "output rank %d exceeds %d", rank,
                           LPS_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a = 0;
        st = lps_op_normalize_axis(op, axes[i], rank, false, &a, err);
        if (st != LPS_OK)
            return st;
        if (inserted[a])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is repeated",
                               (long long)axes[i]);
        inserted[a] = true;
    }
    out[0].dtype = in[0]->dtype;
    out[0].rank = rank;
    for (int d = 0, src = 0; d < rank; d++)
        out[0].dims[d] = inserted[d] ? 1 : in[0]->dims[src++];
    return LPS_OK;
}

static lps_status squeeze_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    int64_t axes[LPS_MAX_RANK];
    bool removed[LPS_MAX_RANK] = {false};
    int n = 0;
    lps_status st = lps_op_expect_sized(op, in[0], 0, err);
    if (st == LPS_OK)
        st = run_axes(op, in, axes, &n, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[0];
    /* no axes, or an empty list as onnxruntime reads it: every size-1 dim */
    if (n <= 0) {
        for (int d = 0; d < x->rank; d++)
            removed[d] = x->dims[d] == 1;
    }
    for (int i = 0; i < n; i++) {
        int a = 0;
        st = lps_op_normalize_axis(op, axes[i], x->rank, false, &a, err);
        if (st != LPS_OK)
            return st;
        if (x->dims[a] != 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "cannot squeeze axis %lld of size %lld",
                               (long long)axes[i], (long long)x->dims[a]);
        removed[a] = true;
    }
    int64_t dims[LPS_MAX_RANK];
    int rank = 0;
    for (int d = 0; d < x->rank; d++)
        if (!removed[d])
            dims[rank++] = x->dims[d];
    copy_shape(&out[0], x->dtype, rank, dims);
    return LPS_OK;
}

/* Data plus the axes input from opset 13. */
#define AXES_OP_MAX_INPUTS 2

const lps_op_def lps_op_def_unsqueeze = {
    .name = "Unsqueeze",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = AXES_OP_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << AXES_OP_DATA,
    .prepare = unsqueeze_prepare,
    .shape = unsqueeze_shape,
    .forward = lps_op_copy_forward,
    .backward = lps_op_copy_backward,
    .weight_view = true,
    .aliases_input = true,
};

const lps_op_def lps_op_def_squeeze = {
    .name = "Squeeze",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = AXES_OP_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << AXES_OP_DATA,
    .prepare = squeeze_prepare,
    .shape = squeeze_shape,
    .forward = lps_op_copy_forward,
    .backward = lps_op_copy_backward,
    .weight_view = true,
    .aliases_input = true,
};
