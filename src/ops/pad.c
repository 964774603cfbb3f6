/* Pad (opsets 7..21): modes constant, edge, reflect and (from opset 19)
 * wrap; negative pads crop.
 *
 * Before opset 11 mode, pads and value are attributes; from 11 pads and
 * constant_value are inputs, and from 18 an axes input says which axes the
 * pads are for. Negative pads are applied first (the kept region of each
 * axis), then the region is padded, as onnxruntime does; edge, reflect and
 * wrap therefore read from the kept region only.
 *
 * Every output coordinate along an axis maps to a source coordinate (or to
 * the constant), so one set of per-axis index maps drives both the forward
 * copy (bytes of the element size, any fixed-size type) and the backward
 * scatter-add (float). */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

#define PADS_INPUT_OPSET 11
#define PAD_AXES_OPSET 18
#define PAD_WRAP_OPSET 19
enum { PAD_IN_DATA, PAD_IN_PADS, PAD_IN_VALUE, PAD_IN_AXES, PAD_MAX_INPUTS };
/* Widest element the constant fill holds (complex128). */
#define PAD_MAX_ELEM 16
/* Map entry for an output coordinate that holds the constant. */
#define FROM_CONSTANT (-1)

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

typedef struct pad_params {
    pad_mode mode;
    int n_pads;                       /* attribute form; -1 when pads is an input */
    int64_t pads[2 * LPS_MAX_RANK];
    float value;                      /* attribute form's constant */
} pad_params;

/* Pads resolved for one run. */
typedef struct pad_plan {
    int rank;
    size_t elem;
    int64_t begin[LPS_MAX_RANK], end[LPS_MAX_RANK];   /* signed */
    int64_t out_dims[LPS_MAX_RANK];
    unsigned char fill[PAD_MAX_ELEM];
} pad_plan;

static lps_status pad_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const attr_form[] = {"mode", "pads", "value", NULL};
    static const char *const input_form[] = {"mode", NULL};
    static const struct {
        const char *name;
        pad_mode mode;
        int since;
    } modes[] = {{"constant", PAD_CONSTANT, LPS_OPSET_MIN},
                 {"reflect", PAD_REFLECT, LPS_OPSET_MIN},
                 {"edge", PAD_EDGE, LPS_OPSET_MIN},
                 {"wrap", PAD_WRAP, PAD_WRAP_OPSET}};
    pad_params p = {PAD_CONSTANT, -1, {0}, 0.0f};
    const char *mode = NULL;
    bool inputs = op->opset >= PADS_INPUT_OPSET;
    lps_status st = lps_op_check_attrs(op, inputs ? input_form : attr_form, err);
    if (st == LPS_OK)
        st = lps_op_attr_string(op, "mode", "constant", &mode, err);
    if (st != LPS_OK)
        return st;
    bool known = false;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(mode, modes[i].name) != 0)
            continue;
        if (op->opset < modes[i].since)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "mode '%s' needs opset %d", mode,
                               modes[i].since);
        p.mode = modes[i].mode;
        known = true;
    }
    if (!known)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (inputs) {
        if (op->n_inputs < 2)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input 1 (pads) is required from opset %d",
                               PADS_INPUT_OPSET);
        if (op->n_inputs > PAD_IN_AXES && op->opset < PAD_AXES_OPSET)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input 3 (axes) needs opset %d",
                               PAD_AXES_OPSET);
    } else {
        if (op->n_inputs > 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "has %zu inputs; before opset %d pads is an attribute",
                               op->n_inputs, PADS_INPUT_OPSET);
        st = lps_op_attr_ints(op, "pads", p.pads, 2 * LPS_MAX_RANK, &p.n_pads, err);
        if (st == LPS_OK && p.n_pads < 0)
            st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'pads' is required");
        if (st == LPS_OK)
            st = lps_op_attr_float(op, "value", 0.0f, &p.value, err);
        if (st != LPS_OK)
            return st;
    }
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* Reads element i of an int32 or int64 tensor. */
static int64_t int_at(const lps_tensor *t, int64_t i)
{
    return t->dtype == LPS_DT_INT64 ? lps_tensor_i64(t)[i] : (int64_t)((const int32_t *)t->data)[i];
}

/* Fills per-axis begin/end from the pads (and optional axes) inputs. */
static lps_status pads_from_inputs(const lps_op_node *op, const lps_tensor *const *in,
                                   pad_plan *plan, lps_error *err)
{
    const lps_tensor *pads = in[PAD_IN_PADS];
    const lps_tensor *axes = op->n_inputs > PAD_IN_AXES ? in[PAD_IN_AXES] : NULL;
    int axis_of[LPS_MAX_RANK];
    bool seen[LPS_MAX_RANK] = {false};
    int n_axes = plan->rank;
    lps_status st = lps_op_expect_dtype(op, pads, PAD_IN_PADS, LPS_DT_INT64, err);
    if (st != LPS_OK)
        return st;
    for (int d = 0; d < plan->rank; d++)
        axis_of[d] = d;
    if (axes) {
        if (axes->dtype != LPS_DT_INT64 && axes->dtype != LPS_DT_INT32)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "axes have type %s, expected int64 or int32",
                               lps_dtype_name(axes->dtype));
        int64_t count = lps_tensor_numel(axes);
        if (axes->rank > 1 || count > plan->rank)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axes must be 1-D with at most %d entries",
                               plan->rank);
        n_axes = (int)count;
        for (int i = 0; i < n_axes; i++) {
            int64_t a = int_at(axes, i);
            if (a < -plan->rank || a >= plan->rank)
                return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                                   (long long)a, -plan->rank, plan->rank - 1);
            axis_of[i] = (int)(a < 0 ? a + plan->rank : a);
            if (seen[axis_of[i]])
                return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is repeated", (long long)a);
            seen[axis_of[i]] = true;
        }
    }
    if (pads->rank != 1 || pads->dims[0] != 2 * n_axes)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "pads has %lld values, expected %d",
                           (long long)lps_tensor_numel(pads), 2 * n_axes);
    for (int i = 0; i < n_axes; i++) {
        plan->begin[axis_of[i]] = lps_tensor_i64(pads)[i];
        plan->end[axis_of[i]] = lps_tensor_i64(pads)[i + n_axes];
    }
    return LPS_OK;
}

/* The constant as bytes of the data's element type. */
static lps_status constant_fill(const lps_op_node *op, const lps_tensor *const *in,
                                pad_plan *plan, lps_error *err)
{
    const pad_params *p = op->params;
    const lps_tensor *data = in[PAD_IN_DATA];
    memset(plan->fill, 0, sizeof plan->fill);
    if (p->n_pads >= 0) {
        if (data->dtype != LPS_DT_FLOAT)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "data has type %s; before opset %d only float is supported",
                               lps_dtype_name(data->dtype), PADS_INPUT_OPSET);
        memcpy(plan->fill, &p->value, sizeof p->value);
        return LPS_OK;
    }
    const lps_tensor *value = op->n_inputs > PAD_IN_VALUE ? in[PAD_IN_VALUE] : NULL;
    if (!value)
        return LPS_OK;
    if (value->dtype != data->dtype || lps_tensor_numel(value) != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "constant_value must be one %s value, got %lld of type %s",
                           lps_dtype_name(data->dtype), (long long)lps_tensor_numel(value),
                           lps_dtype_name(value->dtype));
    memcpy(plan->fill, value->data, plan->elem);
    return LPS_OK;
}

/* Resolves pads, fill and output shape for the inputs of this run. */
static lps_status make_plan(const lps_op_node *op, const lps_tensor *const *in, pad_plan *plan,
                            lps_error *err)
{
    const pad_params *p = op->params;
    const lps_tensor *data = in[PAD_IN_DATA];
    if (!data)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input 0 is missing");
    memset(plan, 0, sizeof *plan);
    plan->rank = data->rank;
    plan->elem = lps_dtype_size(data->dtype);
    if (plan->elem == 0 || plan->elem > PAD_MAX_ELEM)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "data type %s is not supported",
                           lps_dtype_name(data->dtype));
    lps_status st = LPS_OK;
    if (p->n_pads >= 0) {
        if (p->n_pads != 2 * data->rank)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "pads has %d values, expected %d",
                               p->n_pads, 2 * data->rank);
        for (int d = 0; d < data->rank; d++) {
            plan->begin[d] = p->pads[d];
            plan->end[d] = p->pads[d + data->rank];
        }
    } else {
        st = pads_from_inputs(op, in, plan, err);
    }
    if (st == LPS_OK && p->mode == PAD_CONSTANT)
        st = constant_fill(op, in, plan, err);
    if (st != LPS_OK)
        return st;
    for (int d = 0; d < data->rank; d++) {
        int64_t dim = data->dims[d], b = plan->begin[d], e = plan->end[d];
        int64_t kept = dim - (b < 0 ? -b : 0) - (e < 0 ? -e : 0);
        if (b > LPS_MAX_NUMEL || e > LPS_MAX_NUMEL || kept < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "pads %lld, %lld do not fit axis %d of size %lld", (long long)b,
                               (long long)e, d, (long long)dim);
        int64_t grow = b > e ? b : e;
        if (p->mode != PAD_CONSTANT && grow > 0 && kept == 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "cannot pad empty axis %d except with a constant", d);
        if (p->mode == PAD_REFLECT && grow >= kept && grow > 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "reflect pad %lld on axis %d needs more than %lld values",
                               (long long)grow, d, (long long)kept);
        plan->out_dims[d] = kept + (b > 0 ? b : 0) + (e > 0 ? e : 0);
    }
    return LPS_OK;
}

static lps_status pad_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                            lps_error *err)
{
    pad_plan plan;
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[PAD_IN_DATA]->dtype;
    out[0].rank = plan.rank;
    for (int d = 0; d < plan.rank; d++)
        out[0].dims[d] = plan.out_dims[d];
    return LPS_OK;
}

/* Source coordinate of output coordinate o on an axis of size dim. */
static int64_t source_index(pad_mode mode, int64_t o, int64_t dim, int64_t begin, int64_t end)
{
    int64_t lo = begin < 0 ? -begin : 0;
    int64_t kept = dim - lo - (end < 0 ? -end : 0);
    int64_t i = o - (begin > 0 ? begin : 0);
    if (i < 0 || i >= kept) {
        switch (mode) {
        case PAD_CONSTANT:
            return FROM_CONSTANT;
        case PAD_EDGE:
            i = i < 0 ? 0 : kept - 1;
            break;
        case PAD_REFLECT:
            /* make_plan keeps reflect pads below kept, so one mirror suffices */
            i = i < 0 ? -i : 2 * (kept - 1) - i;
            break;
        case PAD_WRAP:
            i %= kept;
            if (i < 0)
                i += kept;
            break;
        }
    }
    return lo + i;
}

/* Per-axis maps output coordinate -> source coordinate (or FROM_CONSTANT),
 * in one malloc'd block *maps_out (caller frees): map[d] points at axis d's. */
static lps_status build_maps(const lps_op_node *op, const pad_plan *plan,
                             const lps_tensor *data, int64_t *map[LPS_MAX_RANK],
                             int64_t **maps_out, lps_error *err)
{
    const pad_params *p = op->params;
    int64_t total = 0;
    for (int d = 0; d < plan->rank; d++)
        total += plan->out_dims[d];
    int64_t *block = malloc((size_t)(total > 0 ? total : 1) * sizeof *block);
    *maps_out = block;
    if (!block)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for pad index maps");
    int64_t *next = block;
    for (int d = 0; d < plan->rank; d++) {
        map[d] = next;
        for (int64_t o = 0; o < plan->out_dims[d]; o++)
            next[o] = source_index(p->mode, o, data->dims[d], plan->begin[d], plan->end[d]);
        next += plan->out_dims[d];
    }
    return LPS_OK;
}

/* Row traversal shared by forward and backward: rows are all output dims but
 * the last. Returns false when the row lies in the constant padding;
 * otherwise *src is the element offset of the source row's start. */
static bool row_source(const pad_plan *plan, const int64_t *const *map, const int64_t *row,
                       const int64_t *in_strides, int64_t *src)
{
    *src = 0;
    for (int d = 0; d < plan->rank - 1; d++) {
        int64_t s = map[d][row[d]];
        if (s == FROM_CONSTANT)
            return false;
        *src += s * in_strides[d];
    }
    return true;
}

static void next_row(const pad_plan *plan, int64_t *row)
{
    for (int d = plan->rank - 2; d >= 0; d--) {
        if (++row[d] < plan->out_dims[d])
            return;
        row[d] = 0;
    }
}

static void row_major_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

/* Number of output rows and the length of each (a scalar is one row of one). */
static void row_counts(const pad_plan *plan, int64_t *rows, int64_t *len)
{
    *rows = plan->rank > 1 ? lps_numel_of(plan->rank - 1, plan->out_dims) : 1;
    *len = plan->rank > 0 ? plan->out_dims[plan->rank - 1] : 1;
}

/* count copies of one element of elem bytes, doubling the filled span. */
static void fill_elems(unsigned char *dst, const unsigned char *value, size_t elem, int64_t count)
{
    if (count <= 0)
        return;
    size_t total = (size_t)count * elem, done = elem;
    memcpy(dst, value, elem);
    while (done < total) {
        size_t n = done < total - done ? done : total - done;
        memcpy(dst + done, dst, n);
        done += n;
    }
}

/* Within the last axis the kept region is one contiguous run of the source
 * row; only the padded ends go through the map. */
static void pad_row(const pad_plan *plan, const int64_t *last, const unsigned char *src_row,
                    unsigned char *dst, int64_t len)
{
    int axis = plan->rank - 1;
    size_t elem = plan->elem;
    int64_t run_start = plan->begin[axis] > 0 ? plan->begin[axis] : 0;
    int64_t run_src = plan->begin[axis] < 0 ? -plan->begin[axis] : 0;
    int64_t run_end = len - (plan->end[axis] > 0 ? plan->end[axis] : 0);
    for (int64_t o = 0; o < len; o++) {
        if (o == run_start && run_end > run_start) {
            memcpy(dst + (size_t)o * elem, src_row + (size_t)run_src * elem,
                   (size_t)(run_end - run_start) * elem);
            o = run_end - 1;
            continue;
        }
        const unsigned char *from =
            last[o] == FROM_CONSTANT ? plan->fill : src_row + (size_t)last[o] * elem;
        memcpy(dst + (size_t)o * elem, from, elem);
    }
}

static lps_status pad_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    pad_plan plan;
    int64_t *map[LPS_MAX_RANK], *maps = NULL;
    const lps_tensor *data = in[PAD_IN_DATA];
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    if (plan.rank == 0) {
        memcpy(out[0]->data, data->data, plan.elem);
        return LPS_OK;
    }
    st = build_maps(op, &plan, data, map, &maps, err);
    if (st != LPS_OK)
        goto cleanup;
    int64_t strides[LPS_MAX_RANK], row[LPS_MAX_RANK] = {0}, rows, len;
    row_major_strides(data->rank, data->dims, strides);
    row_counts(&plan, &rows, &len);
    const int64_t *last = map[plan.rank - 1];
    const unsigned char *src = data->data;
    unsigned char *dst = out[0]->data;
    size_t row_bytes = (size_t)len * plan.elem;
    for (int64_t r = 0; r < rows && len > 0; r++, next_row(&plan, row), dst += row_bytes) {
        int64_t base;
        if (row_source(&plan, (const int64_t *const *)map, row, strides, &base))
            pad_row(&plan, last, src + (size_t)base * plan.elem, dst, len);
        else
            fill_elems(dst, plan.fill, plan.elem, len);
    }
cleanup:
    free(maps);
    return st;
}

static lps_status pad_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               const lps_tensor *const *out, const lps_tensor *const *dout,
                               lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    pad_plan plan;
    int64_t *map[LPS_MAX_RANK], *maps = NULL;
    const lps_tensor *data = in[PAD_IN_DATA];
    if (!din[PAD_IN_DATA] || !dout[0])
        return LPS_OK;
    if (din[PAD_IN_DATA]->dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "gradient of a %s tensor requested",
                           lps_dtype_name(din[PAD_IN_DATA]->dtype));
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    float *gx = lps_tensor_f32(din[PAD_IN_DATA]);
    const float *gy = lps_tensor_f32(dout[0]);
    if (plan.rank == 0) {
        gx[0] += gy[0];
        return LPS_OK;
    }
    st = build_maps(op, &plan, data, map, &maps, err);
    if (st != LPS_OK)
        goto cleanup;
    int64_t strides[LPS_MAX_RANK], row[LPS_MAX_RANK] = {0}, rows, len;
    row_major_strides(data->rank, data->dims, strides);
    row_counts(&plan, &rows, &len);
    const int64_t *last = map[plan.rank - 1];
    for (int64_t r = 0; r < rows && len > 0; r++, next_row(&plan, row), gy += len) {
        int64_t base;
        if (!row_source(&plan, (const int64_t *const *)map, row, strides, &base))
            continue;
        for (int64_t o = 0; o < len; o++)
            if (last[o] != FROM_CONSTANT)
                gx[base + last[o]] += gy[o];
    }
cleanup:
    free(maps);
    return st;
}

const lps_op_def lps_op_def_pad = {
    .name = "Pad",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = PAD_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << PAD_IN_DATA,
    .prepare = pad_prepare,
    .shape = pad_shape,
    .forward = pad_forward,
    .backward = pad_backward,
};
