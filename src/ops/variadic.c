/* Max, Min, Sum and Mean over one or more inputs, broadcast together with
 * numpy rules (from opset 8; at opset 7 the inputs must have one shape).
 *
 * The output is folded input by input: y = in0 (op) in1, then y = y (op) ink,
 * with kernels instantiated per dtype from elementwise.h (Max and Min on
 * every numeric type, Sum and Mean on the floating ones). Max and Min
 * propagate NaN, as numpy and PyTorch do.
 *
 * Gradients (float): Sum passes g to every input and Mean g / n, summed over
 * each input's broadcast axes. Max and Min route g to the input that holds
 * the selected value; where k inputs tie, each receives g / k, which is
 * PyTorch's rule for torch.maximum/minimum (an even split between the two
 * tied operands), extended to n inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/elementwise.h"

typedef enum variadic_kind { VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN } variadic_kind;

/* Opset 7 (Max/Min/Sum/Mean-6) takes inputs of one shape; broadcasting
 * arrived in opset 8 with otherwise the same semantics. */
#define VARIADIC_BROADCAST_OPSET 8
/* Up to this many inputs (the executor's per-node limit). */
#define VARIADIC_MAX_INPUTS LPS_OP_MAX_IO
/* Every input may receive a gradient. */
#define ALL_INPUTS (~0u)

static variadic_kind variadic_kind_of(const lps_op_node *op)
{
    switch (op->kind) {
    case LPS_OP_MIN: return VAR_MIN;
    case LPS_OP_SUM: return VAR_SUM;
    case LPS_OP_MEAN: return VAR_MEAN;
    default: return VAR_MAX;
    }
}

/* x <op> z, with NaN winning for Max and Min (x != x only for NaN). */
#define FOLD_LOOP(compute, load, store, EXPR)                                                     \
    for (int64_t i = 0; i < n; i++) {                                                             \
        compute x = load(a[i * sa]), z = load(b[i * sb]);                                         \
        y[i] = store((compute)(EXPR));                                                            \
    }                                                                                             \
    break;

/* fold_<tag>: one row of y = a <kind> b; ctx points to a variadic_kind.
 * Sum and Mean fold as sums here (Mean divides at the end). */
#define FOLD_ROW(dt, tag, storage, compute, load, store)                                          \
    static void fold_##tag(const void *ctx, const void *a_, int64_t sa, const void *b_,          \
                           int64_t sb, void *y_, int64_t n)                                       \
    {                                                                                             \
        const storage *a = a_, *b = b_;                                                           \
        storage *y = y_;                                                                          \
        switch (*(const variadic_kind *)ctx) {                                                    \
        case VAR_MAX: FOLD_LOOP(compute, load, store, (x >= z || x != x) ? x : z)                 \
        case VAR_MIN: FOLD_LOOP(compute, load, store, (x <= z || x != x) ? x : z)                 \
        case VAR_SUM:                                                                             \
        case VAR_MEAN: FOLD_LOOP(compute, load, store, x + z)                                     \
        }                                                                                         \
    }
LPS_ELEM_NUMERIC_TYPES(FOLD_ROW)

static lps_ew_row_fn fold_row_for(lps_dtype dtype)
{
#define FOLD_CASE(dt, tag, ...) case dt: return fold_##tag;
    switch (dtype) {
    LPS_ELEM_NUMERIC_TYPES(FOLD_CASE)
    default: return NULL;
    }
#undef FOLD_CASE
}

/* y *= scale over n elements of a floating dtype (Mean's division). */
static void scale_all(lps_dtype dtype, void *y, int64_t n, double scale)
{
#define SCALE_CASE(dt, tag, storage, compute, load, store)                                        \
    case dt:                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                           \
            ((storage *)y)[i] = store((compute)(load(((storage *)y)[i]) * scale));                \
        break;
    switch (dtype) {
    LPS_ELEM_FLOAT_TYPES(SCALE_CASE)
    default: break;
    }
#undef SCALE_CASE
}

static lps_status variadic_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_shape *out, lps_error *err)
{
    variadic_kind kind = variadic_kind_of(op);
    for (size_t i = 0; i < op->n_inputs; i++) {
        if (!in[i])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %zu is missing", i);
        if (in[i]->dtype != in[0]->dtype)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %zu has type %s, input 0 %s", i,
                               lps_dtype_name(in[i]->dtype), lps_dtype_name(in[0]->dtype));
    }
    bool ok = fold_row_for(in[0]->dtype) &&
              (kind == VAR_MAX || kind == VAR_MIN || lps_elem_is_float(in[0]->dtype));
    if (!ok)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "element type %s is not supported",
                           lps_dtype_name(in[0]->dtype));
    lps_shape acc = {.dtype = in[0]->dtype, .rank = in[0]->rank};
    memcpy(acc.dims, in[0]->dims, sizeof acc.dims);
    for (size_t i = 1; i < op->n_inputs; i++) {
        bool same = in[i]->rank == acc.rank &&
                    memcmp(in[i]->dims, acc.dims, (size_t)acc.rank * sizeof acc.dims[0]) == 0;
        if (!same && op->opset < VARIADIC_BROADCAST_OPSET)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "input %zu has another shape; before opset %d inputs do not "
                               "broadcast", i, VARIADIC_BROADCAST_OPSET);
        lps_status st = lps_broadcast_shape(op, acc.rank, acc.dims, in[i]->rank, in[i]->dims,
                                            &acc, err);
        if (st != LPS_OK)
            return st;
    }
    out[0] = acc;
    out[0].dtype = in[0]->dtype;
    return LPS_OK;
}

static lps_status variadic_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_tensor *const *in, lps_tensor *const *out,
                                   lps_error *err)
{
    (void)ctx;
    static const variadic_kind kinds[] = {VAR_MAX, VAR_MIN, VAR_SUM, VAR_MEAN};
    const variadic_kind *kind = &kinds[variadic_kind_of(op)];
    lps_tensor *y = out[0];
    lps_ew_row_fn row = fold_row_for(y->dtype);
    lps_status st = LPS_OK;
    if (op->n_inputs == 1) {
        if (lps_tensor_numel(y) > 0)
            memcpy(y->data, in[0]->data, y->nbytes);
    } else {
        st = lps_ew_binary(op, in[0], in[1], y, row, kind, err);
    }
    for (size_t i = 2; i < op->n_inputs && st == LPS_OK; i++)
        st = lps_ew_binary(op, y, in[i], y, row, kind, err);
    if (st == LPS_OK && *kind == VAR_MEAN && op->n_inputs > 1)
        scale_all(y->dtype, y->data, lps_tensor_numel(y), 1.0 / (double)op->n_inputs);
    return st;
}

/* Operands of the tie count and routing iterations: the output, then one input. */
enum { TOPD_Y, TOPD_X, TOPD_COUNT };

/* Calls visit(y index, x index) for every element of y's shape, with the
 * element of x (broadcast to y) it reads. */
#define FOR_EACH_BROADCAST_PAIR(bc, c, BODY)                                                      \
    do {                                                                                          \
        int64_t n_ = lps_bcast_row_len(&(bc)), sx_ = lps_bcast_inner_stride(&(bc), TOPD_X);       \
        lps_bcast_begin(&(bc), &(c));                                                             \
        for (int64_t r_ = 0; r_ < (bc).rows; r_++, lps_bcast_next(&(bc), &(c)))                   \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                                 \
                int64_t iy = (c).offset[TOPD_Y] + i_, ix = (c).offset[TOPD_X] + i_ * sx_;         \
                BODY;                                                                             \
            }                                                                                     \
    } while (0)

static lps_status pair_layout(const lps_tensor *y, const lps_tensor *x, lps_bcast *bc,
                              lps_error *err)
{
    const int ranks[TOPD_COUNT] = {y->rank, x->rank};
    const int64_t *const dims[TOPD_COUNT] = {y->dims, x->dims};
    return lps_bcast_init(bc, y->rank, y->dims, TOPD_COUNT, ranks, dims, err);
}

/* share[j] = 1 / (number of inputs equal to y[j]) for Max and Min. */
static lps_status tie_shares(const lps_op_node *op, const lps_tensor *const *in,
                             const lps_tensor *y, float *share, lps_error *err)
{
    const float *yv = lps_tensor_f32(y);
    lps_bcast bc;
    lps_bcast_cursor c;
    memset(share, 0, (size_t)lps_tensor_numel(y) * sizeof *share);
    for (size_t k = 0; k < op->n_inputs; k++) {
        lps_status st = pair_layout(y, in[k], &bc, err);
        if (st != LPS_OK)
            return st;
        const float *xv = lps_tensor_f32(in[k]);
        FOR_EACH_BROADCAST_PAIR(bc, c, share[iy] += xv[ix] == yv[iy] ? 1.0f : 0.0f);
    }
    for (int64_t j = 0; j < lps_tensor_numel(y); j++)
        share[j] = share[j] > 0.0f ? 1.0f / share[j] : 0.0f;
    return LPS_OK;
}

/* terms[j] = g[j] * share[j] where input x (broadcast) holds y[j], else 0. */
static lps_status routed_terms(const lps_tensor *x, const lps_tensor *y, const lps_tensor *g,
                               const float *share, float *terms, lps_error *err)
{
    lps_bcast bc;
    lps_bcast_cursor c;
    lps_status st = pair_layout(y, x, &bc, err);
    if (st != LPS_OK)
        return st;
    const float *xv = lps_tensor_f32(x), *yv = lps_tensor_f32(y), *gv = lps_tensor_f32(g);
    FOR_EACH_BROADCAST_PAIR(bc, c, terms[iy] = xv[ix] == yv[iy] ? gv[iy] * share[iy] : 0.0f);
    return LPS_OK;
}

/* Max/Min: the tie shares, then each input's routed terms reduced into din. */
static lps_status select_backward(const lps_op_node *op, const lps_tensor *const *in,
                                  const lps_tensor *y, const lps_tensor *g,
                                  lps_tensor *const *din, lps_error *err)
{
    int64_t n = lps_tensor_numel(y);
    float *share = malloc((size_t)n * sizeof *share), *terms = malloc((size_t)n * sizeof *terms);
    lps_status st = LPS_OK;
    if (!share || !terms)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for %lld gradient terms", (long long)n);
    if (st == LPS_OK)
        st = tie_shares(op, in, y, share, err);
    for (size_t k = 0; k < op->n_inputs && st == LPS_OK; k++) {
        if (!din[k])
            continue;
        st = routed_terms(in[k], y, g, share, terms, err);
        if (st == LPS_OK)
            st = lps_bcast_sum_into(lps_tensor_f32(din[k]), din[k]->rank, din[k]->dims, terms,
                                    y->rank, y->dims, 1.0f, err);
    }
    free(share);
    free(terms);
    return st;
}

static lps_status variadic_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                    const lps_tensor *const *in, const lps_tensor *const *out,
                                    const lps_tensor *const *dout, lps_tensor *const *din,
                                    lps_error *err)
{
    (void)ctx;
    const lps_tensor *g = dout[0], *y = out[0];
    if (!g || y->dtype != LPS_DT_FLOAT || lps_tensor_numel(y) == 0)
        return LPS_OK;
    variadic_kind kind = variadic_kind_of(op);
    lps_status st = LPS_OK;
    if (kind == VAR_MAX || kind == VAR_MIN) {
        st = select_backward(op, in, y, g, din, err);
    } else {
        float scale = kind == VAR_MEAN ? 1.0f / (float)op->n_inputs : 1.0f;
        for (size_t k = 0; k < op->n_inputs && st == LPS_OK; k++)
            if (din[k])
                st = lps_bcast_sum_into(lps_tensor_f32(din[k]), din[k]->rank, din[k]->dims,
                                        lps_tensor_f32(g), g->rank, g->dims, scale, err);
    }
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

#define VARIADIC_OP(onnx_name)                                                                    \
    {                                                                                             \
        .name = onnx_name,                                                                        \
        .min_opset = LPS_OPSET_MIN,                                                              \
        .max_opset = LPS_OPSET_MAX,                                                               \
        .min_inputs = 1,                                                                          \
        .max_inputs = VARIADIC_MAX_INPUTS,                                                        \
        .min_outputs = 1,                                                                         \
        .max_outputs = 1,                                                                         \
        .differentiable = ALL_INPUTS,                                                             \
        .prepare = lps_ew_prepare_no_attrs,                                                       \
        .shape = variadic_shape,                                                                  \
        .forward = variadic_forward,                                                              \
        .backward = variadic_backward,                                                            \
    }

const lps_op_def lps_op_def_max = VARIADIC_OP("Max");
const lps_op_def lps_op_def_min = VARIADIC_OP("Min");
const lps_op_def lps_op_def_sum = VARIADIC_OP("Sum");
const lps_op_def lps_op_def_mean = VARIADIC_OP("Mean");
