/* Slice and Split (opsets 7..21): copies of parts of a tensor along axes.
 *
 * Slice takes starts/ends/axes as attributes before opset 10 and as inputs
 * (with steps) from 10; out-of-range bounds clamp as numpy's do, negative
 * steps walk backwards. Split cuts one axis into consecutive parts given by
 * the `split` attribute (before 13), the `split` input (from 13), equal
 * parts, or num_outputs (from 18, the last part smaller). Both move bytes of
 * the element size (lps_strided, block copies), so int64 shape tensors and
 * bool masks take the float path; backward scatters the float gradient back. */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/strided.h"

/* Slice's bounds move from attributes to inputs at this opset. */
#define SLICE_INPUTS_OPSET 10
enum { SLICE_DATA, SLICE_STARTS, SLICE_ENDS, SLICE_AXES, SLICE_STEPS, SLICE_MAX_INPUTS };

/* ---- Slice ------------------------------------------------------------- */

/* The attribute form's bounds; n_starts is -1 in the input form. */
typedef struct slice_params {
    int n_starts, n_ends, n_axes;
    int64_t starts[LPS_MAX_RANK], ends[LPS_MAX_RANK], axes[LPS_MAX_RANK];
} slice_params;

static lps_status slice_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const attr_form[] = {"starts", "ends", "axes", NULL};
    static const char *const input_form[] = {NULL};
    slice_params p = {.n_starts = -1, .n_ends = -1, .n_axes = -1};
    bool inputs = op->opset >= SLICE_INPUTS_OPSET;
    lps_status st = lps_op_check_attrs(op, inputs ? input_form : attr_form, err);
    if (st != LPS_OK)
        return st;
    if (inputs) {
        if (op->n_inputs < SLICE_AXES)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "needs data, starts and ends inputs from opset %d",
                               SLICE_INPUTS_OPSET);
        return lps_op_store_params(op, &p, sizeof p, err);
    }
    if (op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d the bounds are attributes",
                           op->n_inputs, SLICE_INPUTS_OPSET);
    st = lps_op_attr_ints(op, "starts", p.starts, LPS_MAX_RANK, &p.n_starts, err);
    if (st == LPS_OK)
        st = lps_op_attr_ints(op, "ends", p.ends, LPS_MAX_RANK, &p.n_ends, err);
    if (st == LPS_OK)
        st = lps_op_attr_ints(op, "axes", p.axes, LPS_MAX_RANK, &p.n_axes, err);
    if (st != LPS_OK)
        return st;
    if (p.n_starts < 0 || p.n_ends < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attributes 'starts' and 'ends' are required");
    return lps_op_store_params(op, &p, sizeof p, err);
}

/* The bounds of one run, before clamping: n entries of each. */
typedef struct slice_bounds {
    int n;
    int64_t starts[LPS_MAX_RANK], ends[LPS_MAX_RANK], axes[LPS_MAX_RANK], steps[LPS_MAX_RANK];
} slice_bounds;

/* Reads the bounds from the attributes or inputs; axes default to 0..n-1
 * and steps to 1. Lengths must agree. */
static lps_status slice_read(const lps_op_node *op, const lps_tensor *const *in, slice_bounds *b,
                             lps_error *err)
{
    const slice_params *p = op->params;
    int n_ends = 0, n_axes = -1, n_steps = -1;
    lps_status st = LPS_OK;
    if (p->n_starts >= 0) {
        b->n = p->n_starts;
        n_ends = p->n_ends;
        n_axes = p->n_axes;
        memcpy(b->starts, p->starts, sizeof p->starts);
        memcpy(b->ends, p->ends, sizeof p->ends);
        memcpy(b->axes, p->axes, sizeof p->axes);
    } else {
        const lps_tensor *axes = op->n_inputs > SLICE_AXES ? in[SLICE_AXES] : NULL;
        const lps_tensor *steps = op->n_inputs > SLICE_STEPS ? in[SLICE_STEPS] : NULL;
        st = lps_op_read_ints(op, in[SLICE_STARTS], SLICE_STARTS, b->starts, LPS_MAX_RANK, &b->n,
                              err);
        if (st == LPS_OK)
            st = lps_op_read_ints(op, in[SLICE_ENDS], SLICE_ENDS, b->ends, LPS_MAX_RANK, &n_ends,
                                  err);
        if (st == LPS_OK && axes)
            st = lps_op_read_ints(op, axes, SLICE_AXES, b->axes, LPS_MAX_RANK, &n_axes, err);
        if (st == LPS_OK && steps)
            st = lps_op_read_ints(op, steps, SLICE_STEPS, b->steps, LPS_MAX_RANK, &n_steps, err);
        if (st != LPS_OK)
            return st;
    }
    if (n_ends != b->n || (n_axes >= 0 && n_axes != b->n) || (n_steps >= 0 && n_steps != b->n))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "starts, ends, axes and steps have different lengths");
    for (int i = 0; i < b->n; i++) {
        if (n_axes < 0)
            b->axes[i] = i;
        if (n_steps < 0)
            b->steps[i] = 1;
    }
    return LPS_OK;
}

/* Clamps v (negative: from the back) into [lo, hi] for a dim of size dim. */
static int64_t clamp_bound(int64_t v, int64_t dim, int64_t lo, int64_t hi)
{
    if (v < 0)
        v += dim;
    return v < lo ? lo : v > hi ? hi : v;
}

/* The walk of x sliced by the run's bounds and the output dims. */
static lps_status slice_plan(const lps_op_node *op, const lps_tensor *const *in, lps_strided *w,
                             int64_t *out_dims, lps_error *err)
{
    const lps_tensor *x = in[SLICE_DATA];
    slice_bounds b;
    int64_t start[LPS_MAX_RANK] = {0}, step[LPS_MAX_RANK], stride[LPS_MAX_RANK];
    bool seen[LPS_MAX_RANK] = {false};
    lps_status st = lps_op_expect_sized(op, x, SLICE_DATA, err);
    if (st == LPS_OK)
        st = slice_read(op, in, &b, err);
    if (st != LPS_OK)
        return st;
    for (int d = 0; d < x->rank; d++) {
        out_dims[d] = x->dims[d];
        step[d] = 1;
    }
    for (int i = 0; i < b.n; i++) {
        int a = 0;
        st = lps_op_normalize_axis(op, b.axes[i], x->rank, false, &a, err);
        if (st != LPS_OK)
            return st;
        if (seen[a])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is repeated",
                               (long long)b.axes[i]);
        seen[a] = true;
        int64_t dim = x->dims[a], s = b.steps[i], lo, hi, count;
        if (s == 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "step of axis %d is 0", a);
        if (s > 0) {
            lo = clamp_bound(b.starts[i], dim, 0, dim);
            hi = clamp_bound(b.ends[i], dim, 0, dim);
            count = hi > lo ? (hi - lo - 1) / s + 1 : 0;
        } else {
            lo = clamp_bound(b.starts[i], dim, 0, dim - 1);
            hi = clamp_bound(b.ends[i], dim, -1, dim - 1);
            count = lo > hi ? (lo - hi - 1) / -s + 1 : 0;
        }
        start[a] = count > 0 ? lo : 0;
        /* a single element needs no step (and a huge one must not overflow) */
        step[a] = count > 1 ? s : 1;
        out_dims[a] = count;
    }
    lps_strided_dense(x->rank, x->dims, stride);
    int64_t base = 0;
    for (int d = 0; d < x->rank; d++) {
        base += start[d] * stride[d];
        stride[d] *= step[d];
    }
    lps_strided_init(w, x->rank, out_dims, stride, base);
    return LPS_OK;
}

static lps_status slice_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    lps_strided w;
    lps_status st = slice_plan(op, in, &w, out[0].dims, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[SLICE_DATA]->dtype;
    out[0].rank = in[SLICE_DATA]->rank;
    return LPS_OK;
}

static lps_status slice_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    lps_strided w;
    int64_t dims[LPS_MAX_RANK];
    lps_status st = slice_plan(op, in, &w, dims, err);
    if (st == LPS_OK)
        lps_strided_gather(out[0]->data, in[SLICE_DATA]->data,
                           lps_dtype_size(in[SLICE_DATA]->dtype), &w);
    return st;
}

static lps_status slice_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 const lps_tensor *const *out, const lps_tensor *const *dout,
                                 lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    lps_strided w;
    int64_t dims[LPS_MAX_RANK];
    if (!din[SLICE_DATA] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[SLICE_DATA], err);
    if (st == LPS_OK)
        st = slice_plan(op, in, &w, dims, err);
    if (st == LPS_OK)
        lps_strided_scatter_add(lps_tensor_f32(din[SLICE_DATA]), lps_tensor_f32(dout[0]), &w);
    return st;
}

const lps_op_def lps_op_def_slice = {
    .name = "Slice",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = SLICE_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << SLICE_DATA,
    .prepare = slice_prepare,
    .shape = slice_shape,
    .forward = slice_forward,
    .backward = slice_backward,
    .weight_view = true,
};

/* ---- Split ------------------------------------------------------------- */

/* `split` moves from an attribute to an input at 13; num_outputs arrives at 18. */
#define SPLIT_INPUT_OPSET 13
#define SPLIT_NUM_OUTPUTS_OPSET 18
enum { SPLIT_DATA, SPLIT_SIZES, SPLIT_MAX_INPUTS };
/* Outputs are variadic; more parts than the engine's per-node bound are
 * refused at load. */
#define SPLIT_MAX_OUTPUTS LPS_OP_MAX_IO

typedef struct split_params {
    int64_t axis;
    int64_t num_outputs;     /* 0 when absent */
    int n_split;             /* attribute form; -1 when absent */
    int64_t split[SPLIT_MAX_OUTPUTS];
} split_params;

static lps_status split_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const attr_form[] = {"axis", "split", NULL};
    static const char *const input_form[] = {"axis", NULL};
    static const char *const counted_form[] = {"axis", "num_outputs", NULL};
    split_params p = {.n_split = -1};
    const char *const *known = op->opset >= SPLIT_NUM_OUTPUTS_OPSET ? counted_form
                               : op->opset >= SPLIT_INPUT_OPSET     ? input_form
                                                                    : attr_form;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis", 0, &p.axis, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "num_outputs", 0, &p.num_outputs, err);
    if (st == LPS_OK)
        st = lps_op_attr_ints(op, "split", p.split, SPLIT_MAX_OUTPUTS, &p.n_split, err);
    if (st != LPS_OK)
        return st;
    bool has_input = op->n_inputs > SPLIT_SIZES && op->node->inputs[SPLIT_SIZES][0] != '\0';
    if (op->opset < SPLIT_INPUT_OPSET && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d split is an attribute", op->n_inputs,
                           SPLIT_INPUT_OPSET);
    if (p.num_outputs != 0 && (has_input || p.num_outputs != (int64_t)op->n_outputs))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "num_outputs=%lld needs %lld outputs and no split input",
                           (long long)p.num_outputs, (long long)p.num_outputs);
    if (op->opset >= SPLIT_NUM_OUTPUTS_OPSET && p.num_outputs == 0 && !has_input)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "needs the split input or num_outputs from opset %d",
                           SPLIT_NUM_OUTPUTS_OPSET);
    return lps_op_store_params(op, &p, sizeof p, err);
}

/* The run's part sizes along the (normalized) axis, one per output. */
static lps_status split_sizes(const lps_op_node *op, const lps_tensor *const *in, int *axis,
                              int64_t *sizes, lps_error *err)
{
    const split_params *p = op->params;
    const lps_tensor *x = in[SPLIT_DATA];
    const lps_tensor *t = op->n_inputs > SPLIT_SIZES ? in[SPLIT_SIZES] : NULL;
    int n_out = (int)op->n_outputs, n = -1;
    lps_status st = lps_op_expect_sized(op, x, SPLIT_DATA, err);
    if (st == LPS_OK)
        st = lps_op_normalize_axis(op, p->axis, x->rank, false, axis, err);
    if (st == LPS_OK && t)
        st = lps_op_read_ints(op, t, SPLIT_SIZES, sizes, SPLIT_MAX_OUTPUTS, &n, err);
    if (st != LPS_OK)
        return st;
    int64_t dim = x->dims[*axis];
    if (!t && p->n_split >= 0) {
        n = p->n_split;
        memcpy(sizes, p->split, (size_t)n * sizeof *sizes);
    }
    if (n < 0) {
        /* equal parts; num_outputs lets the last one be smaller */
        int64_t part = p->num_outputs ? (dim + n_out - 1) / n_out : dim / n_out;
        if (!p->num_outputs && dim % n_out != 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %d of size %lld does not split "
                               "into %d equal parts", *axis, (long long)dim, n_out);
        for (int j = 0; j < n_out; j++) {
            int64_t left = dim - j * part;
            sizes[j] = left < 0 ? 0 : left < part ? left : part;
        }
        return LPS_OK;
    }
    int64_t total = 0;
    for (int j = 0; j < n; j++) {
        if (sizes[j] < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "split size %lld is negative",
                               (long long)sizes[j]);
        total += sizes[j];
    }
    if (n != n_out || total != dim)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "split sizes (%d parts, %lld in all) do not cut axis %d of size %lld "
                           "into %d outputs", n, (long long)total, *axis, (long long)dim, n_out);
    return LPS_OK;
}

static lps_status split_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    int64_t sizes[SPLIT_MAX_OUTPUTS];
    int axis = 0;
    lps_status st = split_sizes(op, in, &axis, sizes, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[SPLIT_DATA];
    for (size_t j = 0; j < op->n_outputs; j++) {
        out[j].dtype = x->dtype;
        out[j].rank = x->rank;
        memcpy(out[j].dims, x->dims, sizeof x->dims);
        out[j].dims[axis] = sizes[j];
    }
    return LPS_OK;
}

/* Bytes of one outer step of a part of `size` along axis. */
static size_t part_block(const lps_tensor *x, int axis, int64_t size, size_t esize)
{
    return (size_t)(size * lps_numel_of(x->rank - axis - 1, x->dims + axis + 1)) * esize;
}

static lps_status split_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    int64_t sizes[SPLIT_MAX_OUTPUTS];
    int axis = 0;
    lps_status st = split_sizes(op, in, &axis, sizes, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[SPLIT_DATA];
    size_t esize = lps_dtype_size(x->dtype);
    int64_t outer = lps_numel_of(axis, x->dims);
    const char *src = x->data;
    for (int64_t o = 0; o < outer; o++)
        for (size_t j = 0; j < op->n_outputs; j++) {
            size_t block = part_block(x, axis, sizes[j], esize);
            if (block == 0)
                continue;
            memcpy((char *)out[j]->data + (size_t)o * block, src, block);
            src += block;
        }
    return LPS_OK;
}

static lps_status split_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 const lps_tensor *const *out, const lps_tensor *const *dout,
                                 lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    int64_t sizes[SPLIT_MAX_OUTPUTS];
    int axis = 0;
    if (!din[SPLIT_DATA])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[SPLIT_DATA], err);
    if (st == LPS_OK)
        st = split_sizes(op, in, &axis, sizes, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[SPLIT_DATA];
    int64_t outer = lps_numel_of(axis, x->dims);
    float *dx = lps_tensor_f32(din[SPLIT_DATA]);
    for (int64_t o = 0; o < outer; o++)
        for (size_t j = 0; j < op->n_outputs; j++) {
            size_t n = part_block(x, axis, sizes[j], 1);
            if (dout[j]) {
                const float *dy = lps_tensor_f32(dout[j]) + (size_t)o * n;
                for (size_t i = 0; i < n; i++)
                    dx[i] += dy[i];
            }
            dx += n;
        }
    return LPS_OK;
}

const lps_op_def lps_op_def_split = {
    .name = "Split",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = SPLIT_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = SPLIT_MAX_OUTPUTS,
    .differentiable = 1u << SPLIT_DATA,
    .prepare = split_prepare,
    .shape = split_shape,
    .forward = split_forward,
    .backward = split_backward,
    .weight_view = true,
};
