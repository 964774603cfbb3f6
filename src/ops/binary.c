/* Add, Sub, Mul, Div with numpy multidirectional broadcasting (opset 7+).
 *
 * float32 is the compute type; int64 is accepted too because exported graphs
 * do shape arithmetic (Div of sizes, Mul of dims) on it. Both go through the
 * shared broadcast iterator, whose dim collapsing turns equal shapes into one
 * long row and bias/channel broadcasts into rows against a scalar or vector,
 * so the row kernels below are the fast paths.
 *
 * Add applies a fused activation (docs/architecture.md, "Fused
 * activations"; the Relu after a residual join) to each output row it
 * writes, and backward takes the gradient back through it first. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/par.h"
#include "ops/broadcast.h"
#include "ops/elementwise.h"
#include "ops/op.h"
#include "ops/op_util.h"

typedef enum binary_kind { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } binary_kind;

/* Operand order in the broadcast iteration: output first, then A and B. */
enum { OPD_Y, OPD_A, OPD_B, OPD_COUNT };
/* Input positions of the node. */
enum { BIN_IN_A, BIN_IN_B };

/* Backward builds the per-element gradient terms of a row in stack chunks
 * of this many floats before adding them into din (summing when din
 * broadcasts along the row). */
#define GRAD_CHUNK 256

static binary_kind binary_kind_of(const lps_op_node *op)
{
    switch (op->kind) {
    case LPS_OP_SUB: return BIN_SUB;
    case LPS_OP_MUL: return BIN_MUL;
    case LPS_OP_DIV: return BIN_DIV;
    default: return BIN_ADD;
    }
}

/* The element types Add/Sub/Mul/Div compute on. */
static bool is_arithmetic_type(lps_dtype dtype)
{
    return dtype == LPS_DT_FLOAT || dtype == LPS_DT_INT64;
}

/* Same-typed float or int64 operands with the numpy broadcast shape. The
 * ops take no attributes from opset 7 on (broadcast/axis belong to opsets
 * < 7), which lps_ew_prepare_no_attrs checks. */
static lps_status binary_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    return lps_ew_binary_shape(op, in, is_arithmetic_type, LPS_DT_UNDEFINED, out, err);
}

/* Rank of the tensors an inference plan stores channels-last (2-D
 * convolutions' [N, C, H, W]). */
#define CHANNELS_LAST_RANK 4

/* dims [N, C, spatial...] as they lie channels-last, [N, spatial..., C]. */
static void channels_last_dims(const int64_t *dims, int64_t *last)
{
    last[0] = dims[0];
    for (int d = 2; d < CHANNELS_LAST_RANK; d++)
        last[d - 1] = dims[d];
    last[CHANNELS_LAST_RANK - 1] = dims[1];
}

/* Lays Y, A and B over Y's shape: over their dims as stored, so for
 * channels-last operands (op->x_channels_last and y_channels_last, all of
 * rank 4) over [N, H, W, C], where broadcasting pairs the same elements.
 * Errors are prefixed with the node. */
static lps_status binary_layout(const lps_op_node *op, const lps_tensor *a, const lps_tensor *b,
                                const lps_tensor *y, lps_bcast *bc, lps_error *err)
{
    const int ranks[OPD_COUNT] = {y->rank, a->rank, b->rank};
    const int64_t *dims[OPD_COUNT] = {y->dims, a->dims, b->dims};
    int64_t last[OPD_COUNT][CHANNELS_LAST_RANK];
    if (op->x_channels_last || op->y_channels_last) {
        const lps_tensor *t[OPD_COUNT] = {y, a, b};
        for (int i = 0; i < OPD_COUNT; i++) {
            if (t[i]->rank != CHANNELS_LAST_RANK || !op->x_channels_last || !op->y_channels_last)
                return lps_op_fail(op, err, LPS_ERR_INVALID,
                                   "channels-last operands the op cannot take");
            channels_last_dims(t[i]->dims, last[i]);
            dims[i] = last[i];
        }
    }
    lps_status st = lps_bcast_init(bc, y->rank, dims[OPD_Y], OPD_COUNT, ranks, dims, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

/* One float row y[i] = a[i*sa] op b[i*sb]. Always inlined so that each call
 * with literal strides below compiles to its own vectorizable loop. */
static inline __attribute__((always_inline)) void
f32_row_fixed(binary_kind kind, const float *restrict a, int64_t sa, const float *restrict b,
              int64_t sb, float *restrict y, int64_t n)
{
    switch (kind) {
    case BIN_ADD:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i * sa] + b[i * sb];
        break;
    case BIN_SUB:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i * sa] - b[i * sb];
        break;
    case BIN_MUL:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i * sa] * b[i * sb];
        break;
    case BIN_DIV:
        for (int64_t i = 0; i < n; i++)
            y[i] = a[i * sa] / b[i * sb];
        break;
    }
}

static void f32_row(binary_kind kind, const float *a, int64_t sa, const float *b, int64_t sb,
                    float *y, int64_t n)
{
    if (sa && sb)
        f32_row_fixed(kind, a, 1, b, 1, y, n);
    else if (sa)
        f32_row_fixed(kind, a, 1, b, 0, y, n);
    else if (sb)
        f32_row_fixed(kind, a, 0, b, 1, y, n);
    else
        f32_row_fixed(kind, a, 0, b, 0, y, n);
}

/* One int64 element. Sums and products wrap (two's complement) instead of
 * overflowing, as onnxruntime's do; division truncates toward zero. Returns
 * false for a division by zero or INT64_MIN / -1. */
static bool i64_apply(binary_kind kind, int64_t a, int64_t b, int64_t *y)
{
    switch (kind) {
    case BIN_ADD: *y = (int64_t)((uint64_t)a + (uint64_t)b); return true;
    case BIN_SUB: *y = (int64_t)((uint64_t)a - (uint64_t)b); return true;
    case BIN_MUL: *y = (int64_t)((uint64_t)a * (uint64_t)b); return true;
    case BIN_DIV:
        if (b == 0 || (a == INT64_MIN && b == -1))
            return false;
        *y = a / b;
        return true;
    }
    return false;
}

/* One float forward over the broadcast rows, cut over the threads: by
 * rows, or along the one row of equal shapes (lps_par_elements). Every
 * element is computed alone, so the bytes do not depend on the cut. */
typedef struct binary_job {
    const lps_op_node *op;
    binary_kind kind;
    const lps_bcast *bc;
    const float *a, *b;
    float *y;
    int64_t n, sa, sb;
} binary_job;

static void binary_rows_piece(void *arg, int64_t begin, int64_t end)
{
    const binary_job *j = arg;
    lps_bcast_cursor c;
    lps_bcast_seek(j->bc, &c, begin);
    for (int64_t r = begin; r < end; r++, lps_bcast_next(j->bc, &c)) {
        float *y = j->y + c.offset[OPD_Y];
        f32_row(j->kind, j->a + c.offset[OPD_A], j->sa, j->b + c.offset[OPD_B], j->sb, y, j->n);
        lps_op_epilogue_apply(j->op, y, j->n);
    }
}

/* A piece of the single row: the offsets of row 0 are all 0. */
static void binary_row_piece(void *arg, int64_t begin, int64_t end)
{
    const binary_job *j = arg;
    f32_row(j->kind, j->a + begin * j->sa, j->sa, j->b + begin * j->sb, j->sb, j->y + begin,
            end - begin);
    lps_op_epilogue_apply(j->op, j->y + begin, end - begin);
}

static void binary_forward_f32(const lps_op_node *op, const lps_bcast *bc,
                               const lps_tensor *const *in, lps_tensor *out)
{
    binary_job job = {op,
                      binary_kind_of(op),
                      bc,
                      lps_tensor_f32(in[0]),
                      lps_tensor_f32(in[1]),
                      lps_tensor_f32(out),
                      lps_bcast_row_len(bc),
                      lps_bcast_inner_stride(bc, OPD_A),
                      lps_bcast_inner_stride(bc, OPD_B)};
    /* Y written, A and B read (a broadcast operand from cache) */
    if (bc->rows == 1)
        lps_par_elements(job.n, 3.0, binary_row_piece, &job);
    else
        lps_par_elements(bc->rows, 3.0 * (double)job.n, binary_rows_piece, &job);
}

static lps_status binary_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    binary_kind kind = binary_kind_of(op);
    lps_bcast bc;
    lps_bcast_cursor c;
    lps_status st = binary_layout(op, in[0], in[1], out[0], &bc, err);
    if (st != LPS_OK)
        return st;
    int64_t n = lps_bcast_row_len(&bc);
    /* An empty result has nothing to compute, and its operands may have no
     * buffer to offset into. */
    if (n == 0 || bc.rows == 0)
        return LPS_OK;
    int64_t sa = lps_bcast_inner_stride(&bc, OPD_A), sb = lps_bcast_inner_stride(&bc, OPD_B);
    lps_bcast_begin(&bc, &c);
    /* the activation's own check, had it run as a node */
    if (op->epilogue && out[0]->dtype != LPS_DT_FLOAT)
        return lps_op_expect_dtype(op->epilogue_op, out[0], 0, LPS_DT_FLOAT, err);
    if (out[0]->dtype == LPS_DT_FLOAT) {
        binary_forward_f32(op, &bc, in, out[0]);
        return LPS_OK;
    }
    const int64_t *a = lps_tensor_i64(in[0]), *b = lps_tensor_i64(in[1]);
    int64_t *y = lps_tensor_i64(out[0]);
    for (int64_t r = 0; r < bc.rows; r++, lps_bcast_next(&bc, &c)) {
        const int64_t *ar = a + c.offset[OPD_A], *br = b + c.offset[OPD_B];
        int64_t *yr = y + c.offset[OPD_Y];
        for (int64_t i = 0; i < n; i++)
            if (!i64_apply(kind, ar[i * sa], br[i * sb], &yr[i]))
                return lps_op_fail(op, err, LPS_ERR_INVALID,
                                   "int64 division %lld / %lld is undefined",
                                   (long long)ar[i * sa], (long long)br[i * sb]);
    }
    return LPS_OK;
}

/* d[i*sd] += t[i] for one chunk; sd == 0 means d broadcasts along the row. */
static void accumulate_terms(float *d, int64_t sd, const float *t, int64_t m)
{
    if (sd == 0) {
        float s = 0.0f;
        for (int64_t i = 0; i < m; i++)
            s += t[i];
        *d += s;
    } else {
        for (int64_t i = 0; i < m; i++)
            d[i] += t[i];
    }
}

/* t[i] = g[i] * x[i*sx] */
static void times_terms(const float *g, const float *x, int64_t sx, float *t, int64_t m)
{
    if (sx) {
        for (int64_t i = 0; i < m; i++)
            t[i] = g[i] * x[i];
    } else {
        for (int64_t i = 0; i < m; i++)
            t[i] = g[i] * x[0];
    }
}

/* t[i] = g[i] / x[i*sx]: dL/dA of A / B. */
static void over_terms(const float *g, const float *x, int64_t sx, float *t, int64_t m)
{
    if (sx) {
        for (int64_t i = 0; i < m; i++)
            t[i] = g[i] / x[i];
    } else {
        float inv = 1.0f / x[0];
        for (int64_t i = 0; i < m; i++)
            t[i] = g[i] * inv;
    }
}

/* t[i] = -g[i] * y[i] / b[i*sb]: dL/dB of y = A / B, since dy/dB = -y/B. */
static void quotient_terms(const float *g, const float *y, const float *b, int64_t sb, float *t,
                           int64_t m)
{
    if (sb) {
        for (int64_t i = 0; i < m; i++)
            t[i] = -g[i] * y[i] / b[i];
    } else {
        float inv = 1.0f / b[0];
        for (int64_t i = 0; i < m; i++)
            t[i] = -g[i] * y[i] * inv;
    }
}

/* Mul and Div: the gradient of each input depends on the other operand, so
 * terms are formed per row chunk and then reduced into din. */
static lps_status product_backward(const lps_op_node *op, binary_kind kind,
                                   const lps_tensor *const *in, const lps_tensor *y_t,
                                   const lps_tensor *g_t, lps_tensor *const *din, lps_error *err)
{
    lps_bcast bc;
    lps_bcast_cursor c;
    float terms[GRAD_CHUNK];
    lps_status st = binary_layout(op, in[0], in[1], y_t, &bc, err);
    if (st != LPS_OK)
        return st;
    const float *a = lps_tensor_f32(in[0]), *b = lps_tensor_f32(in[1]);
    const float *y = lps_tensor_f32(y_t), *g = lps_tensor_f32(g_t);
    float *da = din[0] ? lps_tensor_f32(din[0]) : NULL;
    float *db = din[1] ? lps_tensor_f32(din[1]) : NULL;
    int64_t n = lps_bcast_row_len(&bc);
    int64_t sa = lps_bcast_inner_stride(&bc, OPD_A), sb = lps_bcast_inner_stride(&bc, OPD_B);
    lps_bcast_begin(&bc, &c);
    for (int64_t r = 0; r < bc.rows; r++, lps_bcast_next(&bc, &c)) {
        for (int64_t s = 0; s < n; s += GRAD_CHUNK) {
            int64_t m = n - s < GRAD_CHUNK ? n - s : GRAD_CHUNK;
            const float *gr = g + c.offset[OPD_Y] + s, *yr = y + c.offset[OPD_Y] + s;
            const float *ar = a + c.offset[OPD_A] + s * sa, *br = b + c.offset[OPD_B] + s * sb;
            if (da) {
                if (kind == BIN_MUL)
                    times_terms(gr, br, sb, terms, m);
                else
                    over_terms(gr, br, sb, terms, m);
                accumulate_terms(da + c.offset[OPD_A] + s * sa, sa, terms, m);
            }
            if (db) {
                if (kind == BIN_MUL)
                    times_terms(gr, ar, sa, terms, m);
                else
                    quotient_terms(gr, yr, br, sb, terms, m);
                accumulate_terms(db + c.offset[OPD_B] + s * sb, sb, terms, m);
            }
        }
    }
    return LPS_OK;
}

/* Add and Sub whose inputs both have Y's shape (a residual join): dA += G
 * and dB += +-G for G = dY through the fused activation, formed a stack
 * chunk at a time and added into both in one pass, cut over the threads.
 * dA and dB may be one tensor (Add(x, x)): each element still gets its
 * two additions in the order of two separate passes. */
typedef struct sum_grad_job {
    const lps_op_node *op;
    const float *y, *dy;
    float *d[2];
    float sign[2];
} sum_grad_job;

static void sum_grad_piece(void *arg, int64_t begin, int64_t end)
{
    const sum_grad_job *j = arg;
    float terms[GRAD_CHUNK];
    for (int64_t s = begin; s < end; s += GRAD_CHUNK) {
        int64_t m = end - s < GRAD_CHUNK ? end - s : GRAD_CHUNK;
        const float *g = lps_op_epilogue_grad(j->op, j->y + s, j->dy + s, terms, m);
        for (int i = 0; i < 2; i++) {
            float *d = j->d[i] ? j->d[i] + s : NULL;
            if (d && j->sign[i] > 0.0f)
                for (int64_t k = 0; k < m; k++)
                    d[k] += g[k];
            else if (d)
                for (int64_t k = 0; k < m; k++)
                    d[k] -= g[k];
        }
    }
}

/* Whether every wanted gradient of Add/Sub has Y's element count (and so,
 * as it broadcasts to Y, Y's shape up to leading 1s). */
static bool sum_grad_unbroadcast(const lps_tensor *y, lps_tensor *const *din)
{
    for (int i = 0; i < 2; i++)
        if (din[i] && lps_tensor_numel(din[i]) != lps_tensor_numel(y))
            return false;
    return true;
}

static lps_status binary_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    if (!dout[0] || (!din[0] && !din[1]))
        return LPS_OK;
    if (out[0]->dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "gradient of %s values is not supported",
                           lps_dtype_name(out[0]->dtype));
    binary_kind kind = binary_kind_of(op);
    if (kind == BIN_MUL || kind == BIN_DIV)
        return product_backward(op, kind, in, out[0], dout[0], din, err);
    if (sum_grad_unbroadcast(out[0], din)) {
        sum_grad_job job = {op,
                            lps_tensor_f32(out[0]),
                            lps_tensor_f32(dout[0]),
                            {din[0] ? lps_tensor_f32(din[0]) : NULL,
                             din[1] ? lps_tensor_f32(din[1]) : NULL},
                            {1.0f, kind == BIN_SUB ? -1.0f : 1.0f}};
        /* Y and dY read, dA and dB read and written */
        lps_par_elements(lps_tensor_numel(out[0]), 6.0, sum_grad_piece, &job);
        return LPS_OK;
    }
    const lps_tensor *g = lps_op_epilogue_grad_tensor(op, 0, out[0], dout[0], err);
    if (!g)
        return err ? err->status : LPS_ERR_NOMEM;
    for (int i = 0; i < 2; i++) {
        if (!din[i])
            continue;
        float sign = (kind == BIN_SUB && i == 1) ? -1.0f : 1.0f;
        lps_status st = lps_bcast_sum_into(lps_tensor_f32(din[i]), din[i]->rank, din[i]->dims,
                                           lps_tensor_f32(g), g->rank, g->dims, sign, err);
        if (st != LPS_OK)
            return lps_error_prefix(err, "%s", op->label);
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_add = {
    .name = "Add",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << BIN_IN_A) | (1u << BIN_IN_B),
    .prepare = lps_ew_prepare_no_attrs,
    .shape = binary_shape,
    .forward = binary_forward,
    .backward = binary_backward,
    .fuses_epilogue = true,
    .channels_last_elementwise = true,
};

const lps_op_def lps_op_def_sub = {
    .name = "Sub",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << BIN_IN_A) | (1u << BIN_IN_B),
    .prepare = lps_ew_prepare_no_attrs,
    .shape = binary_shape,
    .forward = binary_forward,
    .backward = binary_backward,
};

const lps_op_def lps_op_def_mul = {
    .name = "Mul",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << BIN_IN_A) | (1u << BIN_IN_B),
    .prepare = lps_ew_prepare_no_attrs,
    .shape = binary_shape,
    .forward = binary_forward,
    .backward = binary_backward,
};

const lps_op_def lps_op_def_div = {
    .name = "Div",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << BIN_IN_A) | (1u << BIN_IN_B),
    .prepare = lps_ew_prepare_no_attrs,
    .shape = binary_shape,
    .forward = binary_forward,
    .backward = binary_backward,
};
