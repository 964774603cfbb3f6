/* Masks: the comparisons Equal, Less, Greater, LessOrEqual, GreaterOrEqual
 * (any supported dtype in, bool out), the boolean And, Or, Xor and Not, and
 * Where, which consumes a mask to select between two tensors of any type.
 *
 * Comparisons and logic have no gradient. Where passes the output gradient
 * to X where the condition holds and to Y elsewhere, summed over the axes
 * along which X or Y broadcast. All binary and ternary forms broadcast with
 * numpy rules. Kernels are instantiated per dtype from elementwise.h. */
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/elementwise.h"

typedef enum compare_kind { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE } compare_kind;
typedef enum logic_kind { LOGIC_AND, LOGIC_OR, LOGIC_XOR } logic_kind;

/* Operators that appeared after LPS_OPSET_MIN; the others are unchanged
 * from it on (later versions only add element types). */
#define ORDER_EQUAL_SINCE 12
#define WHERE_SINCE 9
enum { WHERE_IN_COND, WHERE_IN_X, WHERE_IN_Y, WHERE_N_INPUTS };

#define COMPARE_LOOP(compute, load, OPER)                                                         \
    for (int64_t i = 0; i < n; i++) {                                                             \
        compute x = load(a[i * sa]), z = load(b[i * sb]);                                         \
        y[i] = x OPER z;                                                                          \
    }                                                                                             \
    break;

/* compare_<tag>: y = a <kind> b for one row; ctx points to a compare_kind. */
#define COMPARE_ROW(dt, tag, storage, compute, load, store)                                       \
    static void compare_##tag(const void *ctx, const void *a_, int64_t sa, const void *b_,       \
                              int64_t sb, void *y_, int64_t n)                                    \
    {                                                                                             \
        const storage *a = a_, *b = b_;                                                           \
        uint8_t *y = y_;                                                                          \
        switch (*(const compare_kind *)ctx) {                                                     \
        case CMP_EQ: COMPARE_LOOP(compute, load, ==)                                              \
        case CMP_LT: COMPARE_LOOP(compute, load, <)                                               \
        case CMP_GT: COMPARE_LOOP(compute, load, >)                                               \
        case CMP_LE: COMPARE_LOOP(compute, load, <=)                                              \
        case CMP_GE: COMPARE_LOOP(compute, load, >=)                                              \
        }                                                                                         \
    }
LPS_ELEM_ALL_TYPES(COMPARE_ROW)

static lps_ew_row_fn compare_row_for(lps_dtype dtype)
{
#define COMPARE_CASE(dt, tag, ...) case dt: return compare_##tag;
    switch (dtype) {
    LPS_ELEM_ALL_TYPES(COMPARE_CASE)
    default: return NULL;
    }
#undef COMPARE_CASE
}

static const compare_kind *compare_kind_of(const lps_op_node *op)
{
    static const compare_kind kinds[] = {CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE};
    switch (op->kind) {
    case LPS_OP_LESS: return &kinds[CMP_LT];
    case LPS_OP_GREATER: return &kinds[CMP_GT];
    case LPS_OP_LESS_OR_EQUAL: return &kinds[CMP_LE];
    case LPS_OP_GREATER_OR_EQUAL: return &kinds[CMP_GE];
    default: return &kinds[CMP_EQ];
    }
}

/* Ordering is defined on numbers; Equal also compares bools. */
static bool is_ordered(lps_dtype dtype)
{
    return dtype != LPS_DT_BOOL;
}

static lps_status compare_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    bool (*allowed)(lps_dtype) = *compare_kind_of(op) == CMP_EQ ? NULL : is_ordered;
    return lps_ew_binary_shape(op, in, allowed, LPS_DT_BOOL, out, err);
}

static lps_status compare_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    return lps_ew_binary(op, in[0], in[1], out[0], compare_row_for(in[0]->dtype),
                         compare_kind_of(op), err);
}

/* One row of a boolean operator; ctx points to a logic_kind. Inputs are
 * read as 0/1 whatever byte they hold. */
static void logic_row(const void *ctx, const void *a_, int64_t sa, const void *b_, int64_t sb,
                      void *y_, int64_t n)
{
    const uint8_t *a = a_, *b = b_;
    uint8_t *y = y_;
    for (int64_t i = 0; i < n; i++) {
        uint8_t x = a[i * sa] != 0, z = b[i * sb] != 0;
        switch (*(const logic_kind *)ctx) {
        case LOGIC_AND: y[i] = x & z; break;
        case LOGIC_OR: y[i] = x | z; break;
        case LOGIC_XOR: y[i] = x ^ z; break;
        }
    }
}

static bool is_bool(lps_dtype dtype)
{
    return dtype == LPS_DT_BOOL;
}

static lps_status logic_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    return lps_ew_binary_shape(op, in, is_bool, LPS_DT_BOOL, out, err);
}

static lps_status logic_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    static const logic_kind kinds[] = {LOGIC_AND, LOGIC_OR, LOGIC_XOR};
    const logic_kind *kind = op->kind == LPS_OP_OR    ? &kinds[LOGIC_OR]
                             : op->kind == LPS_OP_XOR ? &kinds[LOGIC_XOR]
                                                      : &kinds[LOGIC_AND];
    return lps_ew_binary(op, in[0], in[1], out[0], logic_row, kind, err);
}

static lps_status not_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                            lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, in[0], 0, LPS_DT_BOOL, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_BOOL;
    out[0].rank = in[0]->rank;
    memcpy(out[0].dims, in[0]->dims, sizeof out[0].dims);
    return LPS_OK;
}

static lps_status not_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err)
{
    (void)op, (void)ctx, (void)err;
    const uint8_t *x = in[0]->data;
    uint8_t *y = out[0]->data;
    for (int64_t i = 0; i < lps_tensor_numel(in[0]); i++)
        y[i] = x[i] == 0;
    return LPS_OK;
}

/* Where: cond must be bool, X and Y of one fixed-size type; the output
 * broadcasts all three. */
static lps_status where_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, in[WHERE_IN_COND], WHERE_IN_COND, LPS_DT_BOOL, err);
    if (st == LPS_OK)
        st = lps_op_expect_sized(op, in[WHERE_IN_X], WHERE_IN_X, err);
    if (st == LPS_OK)
        st = lps_op_expect_sized(op, in[WHERE_IN_Y], WHERE_IN_Y, err);
    if (st != LPS_OK)
        return st;
    if (in[WHERE_IN_X]->dtype != in[WHERE_IN_Y]->dtype)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "X has type %s and Y %s, expected one type",
                           lps_dtype_name(in[WHERE_IN_X]->dtype),
                           lps_dtype_name(in[WHERE_IN_Y]->dtype));
    lps_shape xy;
    st = lps_broadcast_shape(op, in[WHERE_IN_X]->rank, in[WHERE_IN_X]->dims, in[WHERE_IN_Y]->rank,
                             in[WHERE_IN_Y]->dims, &xy, err);
    if (st == LPS_OK)
        st = lps_broadcast_shape(op, in[WHERE_IN_COND]->rank, in[WHERE_IN_COND]->dims, xy.rank,
                                 xy.dims, &out[0], err);
    out[0].dtype = in[WHERE_IN_X]->dtype;
    return st;
}

/* Operand order of Where's broadcast iteration. */
enum { WOPD_OUT, WOPD_COND, WOPD_X, WOPD_Y, WOPD_COUNT };

/* where_rows_<bits>: selects elements of that width, row by row. */
#define WHERE_ROWS(T)                                                                             \
    static void where_rows_##T(const lps_bcast *bc, const uint8_t *cond, const void *x_,          \
                               const void *y_, void *out_)                                        \
    {                                                                                             \
        const T *x = x_, *y = y_;                                                                 \
        T *out = out_;                                                                            \
        lps_bcast_cursor c;                                                                       \
        int64_t n = lps_bcast_row_len(bc), sc = lps_bcast_inner_stride(bc, WOPD_COND);            \
        int64_t sx = lps_bcast_inner_stride(bc, WOPD_X), sy = lps_bcast_inner_stride(bc, WOPD_Y); \
        lps_bcast_begin(bc, &c);                                                                  \
        for (int64_t r = 0; r < bc->rows; r++, lps_bcast_next(bc, &c)) {                          \
            const uint8_t *cr = cond + c.offset[WOPD_COND];                                       \
            const T *xr = x + c.offset[WOPD_X], *yr = y + c.offset[WOPD_Y];                       \
            T *o = out + c.offset[WOPD_OUT];                                                      \
            for (int64_t i = 0; i < n; i++)                                                       \
                o[i] = cr[i * sc] ? xr[i * sx] : yr[i * sy];                                      \
        }                                                                                         \
    }
WHERE_ROWS(uint8_t)
WHERE_ROWS(uint16_t)
WHERE_ROWS(uint32_t)
WHERE_ROWS(uint64_t)

/* Lays out, cond, X, Y (in[] order) over the output shape. */
static lps_status where_layout(const lps_op_node *op, const lps_tensor *const *in,
                               const lps_tensor *y, lps_bcast *bc, lps_error *err)
{
    const int ranks[WOPD_COUNT] = {y->rank, in[WHERE_IN_COND]->rank, in[WHERE_IN_X]->rank,
                                   in[WHERE_IN_Y]->rank};
    const int64_t *const dims[WOPD_COUNT] = {y->dims, in[WHERE_IN_COND]->dims,
                                             in[WHERE_IN_X]->dims, in[WHERE_IN_Y]->dims};
    lps_status st = lps_bcast_init(bc, y->rank, y->dims, WOPD_COUNT, ranks, dims, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

static lps_status where_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    lps_bcast bc;
    lps_status st = where_layout(op, in, out[0], &bc, err);
    if (st != LPS_OK || lps_tensor_numel(out[0]) == 0)
        return st;
    const uint8_t *cond = in[WHERE_IN_COND]->data;
    const void *x = in[WHERE_IN_X]->data, *y = in[WHERE_IN_Y]->data;
    switch (lps_dtype_size(out[0]->dtype)) {
    case sizeof(uint8_t): where_rows_uint8_t(&bc, cond, x, y, out[0]->data); break;
    case sizeof(uint16_t): where_rows_uint16_t(&bc, cond, x, y, out[0]->data); break;
    case sizeof(uint32_t): where_rows_uint32_t(&bc, cond, x, y, out[0]->data); break;
    case sizeof(uint64_t): where_rows_uint64_t(&bc, cond, x, y, out[0]->data); break;
    default:
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "element type %s is not supported",
                           lps_dtype_name(out[0]->dtype));
    }
    return LPS_OK;
}

/* masked[i] = g[i] where cond (broadcast to g's shape) equals `when`, else 0. */
static lps_status mask_gradient(const lps_tensor *cond, const lps_tensor *g, bool when,
                                float *masked, lps_error *err)
{
    enum { MOPD_G, MOPD_COND, MOPD_COUNT };
    const int ranks[MOPD_COUNT] = {g->rank, cond->rank};
    const int64_t *const dims[MOPD_COUNT] = {g->dims, cond->dims};
    lps_bcast bc;
    lps_bcast_cursor c;
    lps_status st = lps_bcast_init(&bc, g->rank, g->dims, MOPD_COUNT, ranks, dims, err);
    if (st != LPS_OK)
        return st;
    const uint8_t *cv = cond->data;
    const float *gv = lps_tensor_f32(g);
    int64_t n = lps_bcast_row_len(&bc), sc = lps_bcast_inner_stride(&bc, MOPD_COND);
    lps_bcast_begin(&bc, &c);
    for (int64_t r = 0; r < bc.rows; r++, lps_bcast_next(&bc, &c))
        for (int64_t i = 0; i < n; i++)
            masked[c.offset[MOPD_G] + i] =
                (cv[c.offset[MOPD_COND] + i * sc] != 0) == when ? gv[c.offset[MOPD_G] + i] : 0.0f;
    return LPS_OK;
}

/* dX += sum over X's broadcast axes of g where cond; dY likewise where not. */
static lps_status where_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 const lps_tensor *const *out, const lps_tensor *const *dout,
                                 lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    const lps_tensor *g = dout[0];
    int64_t n = g ? lps_tensor_numel(g) : 0;
    if (n == 0 || (!din[WHERE_IN_X] && !din[WHERE_IN_Y]))
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, g, err);
    float *masked = st == LPS_OK ? malloc((size_t)n * sizeof *masked) : NULL;
    if (st == LPS_OK && !masked)
        st = lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for a %lld-float gradient",
                         (long long)n);
    for (int i = WHERE_IN_X; i <= WHERE_IN_Y && st == LPS_OK; i++) {
        if (!din[i])
            continue;
        st = mask_gradient(in[WHERE_IN_COND], g, i == WHERE_IN_X, masked, err);
        if (st == LPS_OK)
            st = lps_bcast_sum_into(lps_tensor_f32(din[i]), din[i]->rank, din[i]->dims, masked,
                                    g->rank, g->dims, 1.0f, err);
        if (st != LPS_OK)
            lps_error_prefix(err, "%s", op->label);
    }
    free(masked);
    return st;
}

/* The def initializer of a two-input operator with a bool output. */
#define MASK_BINARY_OP(onnx_name, since, shape_fn, forward_fn)                                    \
    {                                                                                             \
        .name = onnx_name,                                                                        \
        .min_opset = since,                                                                       \
        .max_opset = LPS_OPSET_MAX,                                                               \
        .min_inputs = 2,                                                                          \
        .max_inputs = 2,                                                                          \
        .min_outputs = 1,                                                                         \
        .max_outputs = 1,                                                                         \
        .differentiable = 0,                                                                      \
        .prepare = lps_ew_prepare_no_attrs,                                                       \
        .shape = shape_fn,                                                                        \
        .forward = forward_fn,                                                                    \
        .backward = NULL,                                                                         \
    }

const lps_op_def lps_op_def_equal =
    MASK_BINARY_OP("Equal", LPS_OPSET_MIN, compare_shape, compare_forward);
const lps_op_def lps_op_def_less =
    MASK_BINARY_OP("Less", LPS_OPSET_MIN, compare_shape, compare_forward);
const lps_op_def lps_op_def_greater =
    MASK_BINARY_OP("Greater", LPS_OPSET_MIN, compare_shape, compare_forward);
const lps_op_def lps_op_def_less_or_equal =
    MASK_BINARY_OP("LessOrEqual", ORDER_EQUAL_SINCE, compare_shape, compare_forward);
const lps_op_def lps_op_def_greater_or_equal =
    MASK_BINARY_OP("GreaterOrEqual", ORDER_EQUAL_SINCE, compare_shape, compare_forward);
const lps_op_def lps_op_def_and =
    MASK_BINARY_OP("And", LPS_OPSET_MIN, logic_shape, logic_forward);
const lps_op_def lps_op_def_or =
    MASK_BINARY_OP("Or", LPS_OPSET_MIN, logic_shape, logic_forward);
const lps_op_def lps_op_def_xor =
    MASK_BINARY_OP("Xor", LPS_OPSET_MIN, logic_shape, logic_forward);

const lps_op_def lps_op_def_not = {
    .name = "Not",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 0,
    .prepare = lps_ew_prepare_no_attrs,
    .shape = not_shape,
    .forward = not_forward,
    .backward = NULL,
};

const lps_op_def lps_op_def_where = {
    .name = "Where",
    .min_opset = WHERE_SINCE,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = WHERE_N_INPUTS,
    .max_inputs = WHERE_N_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << WHERE_IN_X) | (1u << WHERE_IN_Y),
    .prepare = lps_ew_prepare_no_attrs,
    .shape = where_shape,
    .forward = where_forward,
    .backward = where_backward,
};
