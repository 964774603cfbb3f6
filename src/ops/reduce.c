/* Reductions (opsets 7..21): ReduceMean, ReduceSum, ReduceMax, ReduceMin,
 * ReduceL2, ReduceSumSquare.
 *
 * The axes are an attribute until they become an optional input (ReduceSum
 * at 13, the others at 18, where noop_with_empty_axes also appears). The
 * output with the reduced dims kept as size 1 broadcasts to the input, so
 * one lps_bcast walk over (x, y) drives every kind: each input row folds
 * into one output element (y's in-row stride 0) or into a row of them. The
 * kernel body is one macro instantiated per element type; Sum, Max and Min
 * take float, double, int32 and int64 (Max/Min also int8, uint8 and bool,
 * for masks), Mean, L2 and SumSquare the float types. Backward (float): Sum
 * and Mean broadcast dy back, L2 scales it by x / y, SumSquare by 2 x, Max and Min split it evenly
 * among the tied extrema (PyTorch's amax/amin rule). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/op.h"
#include "ops/op_util.h"

#define AXES_INPUT_OPSET 18
#define SUM_AXES_INPUT_OPSET 13
enum { REDUCE_IN_DATA = 0, REDUCE_IN_AXES = 1, REDUCE_MAX_INPUTS = 2 };
enum { OPERAND_X, OPERAND_Y, OPERANDS };

typedef enum reduce_kind { RK_MEAN, RK_SUM, RK_MAX, RK_MIN, RK_L2, RK_SUM_SQUARE } reduce_kind;

typedef struct reduce_params {
    reduce_kind kind;
    bool keepdims;
    bool noop_with_empty_axes;
    int n_axes;                      /* attribute form; -1 when absent or an input */
    int64_t axes[LPS_MAX_RANK];
} reduce_params;

/* Which dims one run reduces. */
typedef struct reduce_plan {
    bool identity;                   /* empty axes with noop_with_empty_axes */
    int rank;
    int64_t kept_dims[LPS_MAX_RANK]; /* input dims with reduced ones set to 1 */
    bool reduced[LPS_MAX_RANK];
    int64_t count;                   /* input elements per output element */
} reduce_plan;

static int axes_input_opset(reduce_kind kind)
{
    return kind == RK_SUM ? SUM_AXES_INPUT_OPSET : AXES_INPUT_OPSET;
}

static lps_status reduce_prepare(lps_op_node *op, reduce_kind kind, lps_error *err)
{
    static const char *const attr_form[] = {"axes", "keepdims", NULL};
    static const char *const input_form[] = {"keepdims", "noop_with_empty_axes", NULL};
    reduce_params p = {kind, true, false, -1, {0}};
    int64_t keepdims = 1, noop = 0;
    bool inputs = op->opset >= axes_input_opset(kind);
    lps_status st = lps_op_check_attrs(op, inputs ? input_form : attr_form, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "keepdims", 1, &keepdims, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "noop_with_empty_axes", 0, &noop, err);
    if (st == LPS_OK && !inputs)
        st = lps_op_attr_ints(op, "axes", p.axes, LPS_MAX_RANK, &p.n_axes, err);
    if (st != LPS_OK)
        return st;
    if (!inputs && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d axes is an attribute", op->n_inputs,
                           axes_input_opset(kind));
    p.keepdims = keepdims != 0;
    p.noop_with_empty_axes = noop != 0;
    return lps_op_store_params(op, &p, sizeof p, err);
}

/* The axes of this run from the attribute or input 1; *n = 0 when none. */
static lps_status run_axes(const lps_op_node *op, const lps_tensor *const *in, int64_t *axes,
                           int *n, lps_error *err)
{
    const reduce_params *p = op->params;
    const lps_tensor *t = op->n_inputs > REDUCE_IN_AXES ? in[REDUCE_IN_AXES] : NULL;
    *n = 0;
    if (op->opset < axes_input_opset(p->kind)) {
        *n = p->n_axes > 0 ? p->n_axes : 0;
        memcpy(axes, p->axes, sizeof p->axes);
        return LPS_OK;
    }
    if (!t)
        return LPS_OK;
    return lps_op_read_axes(op, t, REDUCE_IN_AXES, axes, n, err);
}

/* Whether kind reduces tensors of dtype. */
static bool dtype_allowed(reduce_kind kind, lps_dtype t)
{
    bool floating = t == LPS_DT_FLOAT || t == LPS_DT_DOUBLE;
    bool wide_int = t == LPS_DT_INT32 || t == LPS_DT_INT64;
    bool byte = t == LPS_DT_INT8 || t == LPS_DT_UINT8 || t == LPS_DT_BOOL;
    switch (kind) {
    case RK_MEAN:
    case RK_L2:
    case RK_SUM_SQUARE: return floating;
    case RK_SUM: return floating || wide_int;
    case RK_MAX:
    case RK_MIN: return floating || wide_int || byte;
    }
    return false;
}

static lps_status make_plan(const lps_op_node *op, const lps_tensor *const *in, reduce_plan *plan,
                            lps_error *err)
{
    const reduce_params *p = op->params;
    const lps_tensor *x = in[0];
    int64_t axes[LPS_MAX_RANK];
    int n = 0;
    lps_status st = lps_op_expect_sized(op, x, 0, err);
    if (st == LPS_OK && !dtype_allowed(p->kind, x->dtype))
        st = lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input 0 has unsupported type %s",
                         lps_dtype_name(x->dtype));
    if (st == LPS_OK)
        st = run_axes(op, in, axes, &n, err);
    if (st != LPS_OK)
        return st;
    memset(plan, 0, sizeof *plan);
    plan->rank = x->rank;
    plan->identity = n == 0 && p->noop_with_empty_axes;
    for (int i = 0; i < n; i++) {
        int a = 0;
        st = lps_op_normalize_axis(op, axes[i], x->rank, false, &a, err);
        if (st != LPS_OK)
            return st;
        if (plan->reduced[a])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is repeated",
                               (long long)axes[i]);
        plan->reduced[a] = true;
    }
    plan->count = 1;
    for (int d = 0; d < x->rank; d++) {
        if (n == 0 && !plan->identity)
            plan->reduced[d] = true;
        plan->kept_dims[d] = plan->reduced[d] ? 1 : x->dims[d];
        if (plan->reduced[d])
            plan->count *= x->dims[d];
    }
    return LPS_OK;
}

static lps_status reduce_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    const reduce_params *p = op->params;
    reduce_plan plan;
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[0]->dtype;
    out[0].rank = 0;
    for (int d = 0; d < plan.rank; d++)
        if (p->keepdims || !plan.reduced[d])
            out[0].dims[out[0].rank++] = plan.kept_dims[d];
    return LPS_OK;
}

/* One accumulation step per kind; NaN propagates through Max and Min. */
#define STEP_SUM(acc, v, IS_NAN) ((acc) += (v))
#define STEP_SQUARE(acc, v, IS_NAN) ((acc) += (v) * (v))
#define STEP_MAX(acc, v, IS_NAN) ((v) > (acc) || IS_NAN(v) ? (void)((acc) = (v)) : (void)0)
#define STEP_MIN(acc, v, IS_NAN) ((v) < (acc) || IS_NAN(v) ? (void)((acc) = (v)) : (void)0)
#define FLOAT_IS_NAN(v) isnan(v)
#define INT_IS_NAN(v) false

/* Folds every row of x into y with STEP: a whole row into one element when
 * y's in-row stride is 0, element by element otherwise. */
#define FOLD_ROWS(T, STEP, IS_NAN)                                                                       \
    do {                                                                                         \
        lps_bcast_cursor c;                                                                      \
        int64_t n = lps_bcast_row_len(b);                                                        \
        bool into_one = lps_bcast_inner_stride(b, OPERAND_Y) == 0;                               \
        lps_bcast_begin(b, &c);                                                                  \
        for (int64_t r = 0; r < b->rows; r++, lps_bcast_next(b, &c)) {                           \
            const T *xs = x + c.offset[OPERAND_X];                                               \
            T *yd = y + c.offset[OPERAND_Y];                                                     \
            if (into_one) {                                                                      \
                T acc = *yd;                                                                     \
                for (int64_t i = 0; i < n; i++)                                                  \
                    STEP(acc, xs[i], IS_NAN);                                                            \
                *yd = acc;                                                                       \
            } else {                                                                             \
                for (int64_t i = 0; i < n; i++)                                                  \
                    STEP(yd[i], xs[i], IS_NAN);                                                          \
            }                                                                                    \
        }                                                                                        \
    } while (0)

/* Element types: (dtype, tag, C type, lowest, highest, NaN test). */
#define REDUCE_TYPES(X)                                                                          \
    X(LPS_DT_FLOAT, f32, float, -INFINITY, INFINITY, FLOAT_IS_NAN)                               \
    X(LPS_DT_DOUBLE, f64, double, -INFINITY, INFINITY, FLOAT_IS_NAN)                             \
    X(LPS_DT_INT32, i32, int32_t, INT32_MIN, INT32_MAX, INT_IS_NAN)                              \
    X(LPS_DT_INT64, i64, int64_t, INT64_MIN, INT64_MAX, INT_IS_NAN)                              \
    X(LPS_DT_INT8, i8, int8_t, INT8_MIN, INT8_MAX, INT_IS_NAN)                                   \
    X(LPS_DT_UINT8, u8, uint8_t, 0, UINT8_MAX, INT_IS_NAN)                                       \
    X(LPS_DT_BOOL, b8, uint8_t, 0, 1, INT_IS_NAN)

/* y (numel n_out, kept dims) = the kind's reduction of x along b; Mean and
 * L2 finish with 1/count and sqrt. */
#define REDUCE_KERNEL(dtype, tag, T, LOWEST, HIGHEST, IS_NAN)                                            \
    static void reduce_##tag(reduce_kind kind, const lps_bcast *b, const void *xv, void *yv,     \
                             int64_t n_out, int64_t count)                                       \
    {                                                                                            \
        const T *x = xv;                                                                         \
        T *y = yv;                                                                               \
        T init = kind == RK_MAX ? (T)(LOWEST) : kind == RK_MIN ? (T)(HIGHEST) : (T)0;            \
        for (int64_t i = 0; i < n_out; i++)                                                      \
            y[i] = init;                                                                         \
        if (count > 0) {                                                                         \
            if (kind == RK_MAX)                                                                  \
                FOLD_ROWS(T, STEP_MAX, IS_NAN);                                                          \
            else if (kind == RK_MIN)                                                             \
                FOLD_ROWS(T, STEP_MIN, IS_NAN);                                                          \
            else if (kind == RK_L2 || kind == RK_SUM_SQUARE)                                     \
                FOLD_ROWS(T, STEP_SQUARE, IS_NAN);                                                       \
            else                                                                                 \
                FOLD_ROWS(T, STEP_SUM, IS_NAN);                                                          \
        }                                                                                        \
        for (int64_t i = 0; i < n_out && (kind == RK_MEAN || kind == RK_L2); i++)                \
            y[i] = kind == RK_L2 ? (T)sqrt((double)y[i]) : (T)((double)y[i] / (double)count);    \
    }
REDUCE_TYPES(REDUCE_KERNEL)

static lps_status reduce_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    const reduce_params *p = op->params;
    reduce_plan plan;
    const lps_tensor *x = in[0];
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    int64_t n_out = lps_tensor_numel(out[0]);
    if (plan.identity) {
        if (n_out > 0)
            memcpy(out[0]->data, x->data, x->nbytes);
        return LPS_OK;
    }
    const int ranks[OPERANDS] = {x->rank, plan.rank};
    const int64_t *const dims[OPERANDS] = {x->dims, plan.kept_dims};
    lps_bcast b;
    /* an empty input has no rows to walk (and a NULL buffer) */
    bool empty = lps_tensor_numel(x) == 0;
    st = empty ? LPS_OK : lps_bcast_init(&b, x->rank, x->dims, OPERANDS, ranks, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    int64_t count = empty ? 0 : plan.count;
    switch (x->dtype) {
#define REDUCE_CASE(dtype, tag, T, LOWEST, HIGHEST, IS_NAN)                                              \
    case dtype: reduce_##tag(p->kind, &b, x->data, out[0]->data, n_out, count); break;
        REDUCE_TYPES(REDUCE_CASE)
#undef REDUCE_CASE
    default: return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "unsupported type");
    }
    return LPS_OK;
}

/* Max/Min: dx += dy / ties where x equals the extremum y. */
static lps_status extremum_backward(const lps_bcast *b, const float *x, const float *y,
                                    const float *dy, float *dx, int64_t n_out, lps_error *err)
{
    float *share = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *share);
    if (!share)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for %lld tie counts", (long long)n_out);
    int64_t n = lps_bcast_row_len(b);
    int64_t ys = lps_bcast_inner_stride(b, OPERAND_Y);
    lps_bcast_cursor c;
    lps_bcast_begin(b, &c);
    for (int64_t r = 0; r < b->rows; r++, lps_bcast_next(b, &c))
        for (int64_t i = 0; i < n; i++)
            share[c.offset[OPERAND_Y] + i * ys] +=
                x[c.offset[OPERAND_X] + i] == y[c.offset[OPERAND_Y] + i * ys];
    for (int64_t i = 0; i < n_out; i++)
        share[i] = share[i] > 0 ? dy[i] / share[i] : 0.0f;
    lps_bcast_begin(b, &c);
    for (int64_t r = 0; r < b->rows; r++, lps_bcast_next(b, &c))
        for (int64_t i = 0; i < n; i++) {
            int64_t xo = c.offset[OPERAND_X] + i, yo = c.offset[OPERAND_Y] + i * ys;
            if (x[xo] == y[yo])
                dx[xo] += share[yo];
        }
    free(share);
    return LPS_OK;
}

/* L2: dx += dy * x / y (0 where the norm is 0); SumSquare (y NULL):
 * dx += 2 dy x. */
static void l2_backward(const lps_bcast *b, const float *x, const float *y, const float *dy,
                        float *dx)
{
    int64_t n = lps_bcast_row_len(b);
    int64_t ys = lps_bcast_inner_stride(b, OPERAND_Y);
    lps_bcast_cursor c;
    lps_bcast_begin(b, &c);
    for (int64_t r = 0; r < b->rows; r++, lps_bcast_next(b, &c))
        for (int64_t i = 0; i < n; i++) {
            int64_t xo = c.offset[OPERAND_X] + i, yo = c.offset[OPERAND_Y] + i * ys;
            if (!y)
                dx[xo] += 2.0f * dy[yo] * x[xo];
            else if (y[yo] != 0.0f)
                dx[xo] += dy[yo] * x[xo] / y[yo];
        }
}

static lps_status reduce_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    const reduce_params *p = op->params;
    reduce_plan plan;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[0], err);
    if (st == LPS_OK)
        st = make_plan(op, in, &plan, err);
    const lps_tensor *x = in[0];
    if (st != LPS_OK || lps_tensor_numel(x) == 0)
        return st;
    float *dx = lps_tensor_f32(din[0]);
    const float *dy = lps_tensor_f32(dout[0]);
    bool sums = plan.identity || p->kind == RK_SUM || p->kind == RK_MEAN;
    if (sums) {
        /* identity: kept_dims are x's dims */
        float scale = p->kind == RK_MEAN && !plan.identity ? 1.0f / (float)plan.count : 1.0f;
        st = lps_bcast_expand_into(dx, x->rank, x->dims, dy, plan.rank, plan.kept_dims, scale,
                                   err);
        return st == LPS_OK ? st : lps_error_prefix(err, "%s", op->label);
    }
    const int ranks[OPERANDS] = {x->rank, plan.rank};
    const int64_t *const dims[OPERANDS] = {x->dims, plan.kept_dims};
    lps_bcast b;
    st = lps_bcast_init(&b, x->rank, x->dims, OPERANDS, ranks, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    const float *y = lps_tensor_f32(out[0]);
    if (p->kind == RK_L2 || p->kind == RK_SUM_SQUARE) {
        l2_backward(&b, lps_tensor_f32(x), p->kind == RK_L2 ? y : NULL, dy, dx);
        return LPS_OK;
    }
    st = extremum_backward(&b, lps_tensor_f32(x), y, dy, dx, lps_tensor_numel(out[0]), err);
    return st == LPS_OK ? st : lps_error_prefix(err, "%s", op->label);
}

/* The fields every reduction shares; only the name and prepare differ. */
#define REDUCE_DEF_FIELDS(onnx_name, prepare_fn)                                                 \
    {                                                                                            \
        .name = onnx_name, .min_opset = LPS_OPSET_MIN, .max_opset = LPS_OPSET_MAX,               \
        .min_inputs = 1, .max_inputs = REDUCE_MAX_INPUTS, .min_outputs = 1, .max_outputs = 1,    \
        .differentiable = 1u << REDUCE_IN_DATA, .prepare = prepare_fn, .shape = reduce_shape,    \
        .forward = reduce_forward, .backward = reduce_backward,                                  \
    }

static lps_status mean_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_MEAN, err);
}

static lps_status sum_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_SUM, err);
}

static lps_status max_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_MAX, err);
}

static lps_status min_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_MIN, err);
}

static lps_status l2_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_L2, err);
}

static lps_status sum_square_prepare(lps_op_node *op, lps_error *err)
{
    return reduce_prepare(op, RK_SUM_SQUARE, err);
}

const lps_op_def lps_op_def_reduce_mean = REDUCE_DEF_FIELDS("ReduceMean", mean_prepare);
const lps_op_def lps_op_def_reduce_sum = REDUCE_DEF_FIELDS("ReduceSum", sum_prepare);
const lps_op_def lps_op_def_reduce_max = REDUCE_DEF_FIELDS("ReduceMax", max_prepare);
const lps_op_def lps_op_def_reduce_min = REDUCE_DEF_FIELDS("ReduceMin", min_prepare);
const lps_op_def lps_op_def_reduce_l2 = REDUCE_DEF_FIELDS("ReduceL2", l2_prepare);
const lps_op_def lps_op_def_reduce_sum_square =
    REDUCE_DEF_FIELDS("ReduceSumSquare", sum_square_prepare);
