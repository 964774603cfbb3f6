/* Gemm (opsets 7..21): Y = alpha * op(A) * op(B) + beta * C, where op()
 * optionally transposes and C (optional from opset 11; accepted at every
 * opset) broadcasts unidirectionally to [M, N]: a scalar, [N], [1, N],
 * [M, 1], [1, 1] or [M, N]. The products go through lps_par_sgemm (cut
 * across threads, docs/architecture.md "Threads"; lps_par_sgemm_bias when
 * C is the same for every row, so that its pieces set Y to it); a fused
 * activation (docs/architecture.md, "Fused activations") is applied to Y
 * after them. */
#include "core/par.h"
#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/packed_gemm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { GEMM_A, GEMM_B, GEMM_C };

typedef struct gemm_params {
    float alpha, beta;
    bool trans_a, trans_b;
} gemm_params;

/* The problem sizes of one call, derived from the inputs. */
typedef struct gemm_dims {
    int m, n, k;
    int c_rows, c_cols; /* C viewed as [c_rows, c_cols], each 1 or M / N */
} gemm_dims;

static lps_status gemm_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"alpha", "beta", "transA", "transB", NULL};
    gemm_params p;
    int64_t ta, tb;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "alpha", 1.0f, &p.alpha, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "beta", 1.0f, &p.beta, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "transA", 0, &ta, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "transB", 0, &tb, err);
    if (st != LPS_OK)
        return st;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "transA/transB must be 0 or 1, got %lld/%lld",
                           (long long)ta, (long long)tb);
    p.trans_a = ta == 1;
    p.trans_b = tb == 1;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* Fills d from the inputs; fails naming the node when the shapes do not
 * fit together or exceed what BLAS indexes (int). */
static lps_status gemm_dims_of(const lps_op_node *op, const lps_tensor *const *in, gemm_dims *d,
                               lps_error *err)
{
    const gemm_params *p = op->params;
    const lps_tensor *a = in[GEMM_A], *b = in[GEMM_B], *c = op->n_inputs > GEMM_C ? in[GEMM_C] : NULL;
    char sa[128], sb[128];
    for (int i = GEMM_A; i <= GEMM_C; i++) {
        if (i == GEMM_C && !c)
            break;
        lps_status st = lps_op_expect_dtype(op, in[i], i, LPS_DT_FLOAT, err);
        if (st != LPS_OK)
            return st;
    }
    if (a->rank != 2 || b->rank != 2)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "A %s and B %s must both be 2-D",
                           lps_shape_str(a->rank, a->dims, sa, sizeof sa),
                           lps_shape_str(b->rank, b->dims, sb, sizeof sb));
    int64_t m = p->trans_a ? a->dims[1] : a->dims[0];
    int64_t k = p->trans_a ? a->dims[0] : a->dims[1];
    int64_t kb = p->trans_b ? b->dims[1] : b->dims[0];
    int64_t n = p->trans_b ? b->dims[0] : b->dims[1];
    if (k != kb)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "inner dimensions of A %s and B %s differ (transA=%d, transB=%d)",
                           lps_shape_str(a->rank, a->dims, sa, sizeof sa),
                           lps_shape_str(b->rank, b->dims, sb, sizeof sb), p->trans_a, p->trans_b);
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "dimensions exceed the BLAS index range");
    d->m = (int)m;
    d->n = (int)n;
    d->k = (int)k;
    d->c_rows = 1;
    d->c_cols = 1;
    if (!c)
        return LPS_OK;
    int64_t rows = c->rank == 2 ? c->dims[0] : 1;
    int64_t cols = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    if (c->rank > 2 || (rows != 1 && rows != m) || (cols != 1 && cols != n))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "C %s does not broadcast to [%lld, %lld]",
                           lps_shape_str(c->rank, c->dims, sa, sizeof sa), (long long)m,
                           (long long)n);
    d->c_rows = (int)rows;
    d->c_cols = (int)cols;
    return LPS_OK;
}

static lps_status gemm_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    gemm_dims d;
    lps_status st = gemm_dims_of(op, in, &d, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = 2;
    out[0].dims[0] = d.m;
    out[0].dims[1] = d.n;
    return LPS_OK;
}

/* BLAS requires leading dimensions >= 1 even for empty matrices. */
static int ld(int cols)
{
    return cols > 0 ? cols : 1;
}

/* Key of the packed B in op->cache: its shape and layout. */
enum { GEMM_PACKED_KEY = 3 };

/* Inference with a constant B (docs/architecture.md, "Packed weights"):
 * alpha * op(B) packed once into op->cache, and C, when it broadcasts along
 * the rows ([N], [1, N] or a scalar), as the product's bias (beta * C in
 * the workspace), so Y takes one pass. LPS_OK with *done false when the
 * path does not apply (the BLAS path then runs); else an error naming the
 * node when out of memory. */
static lps_status gemm_forward_packed(lps_op_node *op, lps_exec_ctx *ctx,
                                      const lps_tensor *const *in, const gemm_dims *d,
                                      bool use_c, float *y, bool *done, lps_error *err)
{
    const gemm_params *p = op->params;
    *done = false;
    if (!lps_op_input_const(op, GEMM_B) || (use_c && d->c_rows != 1) ||
        d->m < lps_packed_min_rows() || d->n == 0 || d->k == 0 || !lps_packed_forward_available())
        return LPS_OK;
    int64_t key[GEMM_PACKED_KEY] = {d->k, d->n, p->trans_b};
    const float *packed = lps_op_cache_find(op, key, GEMM_PACKED_KEY);
    if (!packed) {
        float *made = lps_op_cache_make(op, key, GEMM_PACKED_KEY, lps_packed_b_floats(d->k, d->n),
                                        err);
        if (!made)
            return err ? err->status : LPS_ERR_NOMEM;
        lps_packed_b_pack(lps_tensor_f32(in[GEMM_B]), ld(p->trans_b ? d->k : d->n), p->trans_b,
                          d->k, d->n, p->alpha, made);
        packed = made;
    }
    float *bias = NULL;
    if (use_c) {
        if (!(bias = lps_ctx_workspace(ctx, (size_t)d->n, err)))
            return lps_error_prefix(err, "%s", op->label);
        const float *cv = lps_tensor_f32(in[GEMM_C]);
        for (int j = 0; j < d->n; j++)
            bias[j] = p->beta * cv[d->c_cols == 1 ? 0 : j];
    }
    int lda = ld(p->trans_a ? d->m : d->k);
    lps_packed_a a = {lps_tensor_f32(in[GEMM_A]), p->trans_a ? 1 : lda, p->trans_a ? lda : 1};
    lps_packed_gemm_clamped(d->m, d->n, d->k, a, packed, bias,
                            (lps_packed_out){y, d->m, 0, d->n, 1}, lps_op_epilogue_clamp(op));
    lps_op_epilogue_rest(op, y, (int64_t)d->m * d->n);
    *done = true;
    return LPS_OK;
}

static lps_status gemm_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    const gemm_params *p = op->params;
    const lps_tensor *c = op->n_inputs > GEMM_C ? in[GEMM_C] : NULL;
    gemm_dims d;
    lps_status st = gemm_dims_of(op, in, &d, err);
    if (st != LPS_OK)
        return st;
    float *y = lps_tensor_f32(out[0]);
    size_t mn = (size_t)d.m * (size_t)d.n;
    /* A zero beta drops C entirely (as BLAS does), so a NaN in C stays out. */
    bool use_c = c && p->beta != 0.0f;
    bool done = false;
    st = gemm_forward_packed(op, ctx, in, &d, use_c, y, &done, err);
    if (st != LPS_OK || done)
        return st;
    const float *a = lps_tensor_f32(in[GEMM_A]), *b = lps_tensor_f32(in[GEMM_B]);
    int lda = ld(p->trans_a ? d.m : d.k), ldb = ld(p->trans_b ? d.k : d.n);
    if (mn > 0 && d.k > 0 && (!use_c || d.c_rows == 1)) {
        /* C the same for every row (or none): each GEMM piece sets its own
         * part of Y to it in its thread, then adds the product */
        float *bias = NULL;
        if (use_c && !(bias = lps_ctx_workspace(ctx, (size_t)d.n, err)))
            return lps_error_prefix(err, "%s", op->label);
        const float *cv = use_c ? lps_tensor_f32(c) : NULL;
        for (int j = 0; bias && j < d.n; j++)
            bias[j] = p->beta * cv[d.c_cols == 1 ? 0 : j];
        lps_par_sgemm_bias(p->trans_a, p->trans_b, d.m, d.n, d.k, p->alpha, a, lda, b, ldb, bias,
                           y, ld(d.n));
        lps_op_epilogue_apply(op, y, (int64_t)mn);
        return LPS_OK;
    }
    if (use_c) {
        const float *cv = lps_tensor_f32(c);
        for (int i = 0; i < d.m; i++) {
            const float *crow = cv + (d.c_rows == 1 ? 0 : (size_t)i * (size_t)d.c_cols);
            float *yrow = y + (size_t)i * (size_t)d.n;
            for (int j = 0; j < d.n; j++)
                yrow[j] = p->beta * crow[d.c_cols == 1 ? 0 : j];
        }
    } else if (mn > 0) {
        memset(y, 0, mn * sizeof *y);
    }
    if (mn == 0 || d.k == 0)
        return LPS_OK;
    lps_par_sgemm(p->trans_a, p->trans_b, d.m, d.n, d.k, p->alpha, a, lda, b, ldb, 1.0f, y,
                  ld(d.n));
    lps_op_epilogue_apply(op, y, (int64_t)mn);
    return LPS_OK;
}

/* dC += beta * dY summed over the dimensions C was broadcast along. */
static void gemm_backward_c(const gemm_params *p, const gemm_dims *d, const float *dy, float *dc)
{
    for (int i = 0; i < d->m; i++) {
        const float *row = dy + (size_t)i * (size_t)d->n;
        float *crow = dc + (d->c_rows == 1 ? 0 : (size_t)i * (size_t)d->c_cols);
        if (d->c_cols == 1) {
            float s = 0.0f;
            for (int j = 0; j < d->n; j++)
                s += row[j];
            crow[0] += p->beta * s;
        } else {
            for (int j = 0; j < d->n; j++)
                crow[j] += p->beta * row[j];
        }
    }
}

/* With A' = op(A), B' = op(B) and Y = alpha A'B' + beta C:
 * dA' = alpha dY B'^T and dB' = alpha A'^T dY, written in the stored
 * (possibly transposed) layout of A and B, accumulated with BLAS beta = 1. */
static lps_status gemm_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    const gemm_params *p = op->params;
    gemm_dims d;
    lps_status st = gemm_dims_of(op, in, &d, err);
    if (st != LPS_OK || !dout[0])
        return st;
    const float *dy = lps_tensor_f32(dout[0]);
    if (op->epilogue) {
        /* the gradient at Y itself, through the fused activation */
        size_t mn = (size_t)d.m * (size_t)d.n;
        float *g = lps_ctx_workspace(ctx, mn > 0 ? mn : 1, err);
        if (!g)
            return lps_error_prefix(err, "%s", op->label);
        dy = lps_op_epilogue_grad(op, lps_tensor_f32(out[0]), dy, g, (int64_t)mn);
    }
    const float *a = lps_tensor_f32(in[GEMM_A]);
    const float *b = lps_tensor_f32(in[GEMM_B]);
    int lda = ld(p->trans_a ? d.m : d.k);
    int ldb = ld(p->trans_b ? d.k : d.n);
    bool empty = d.m == 0 || d.n == 0 || d.k == 0;
    if (din[GEMM_A] && !empty) {
        float *da = lps_tensor_f32(din[GEMM_A]);
        if (!p->trans_a)
            lps_par_sgemm(0, !p->trans_b, d.m, d.k, d.n, p->alpha, dy, ld(d.n), b, ldb, 1.0f, da,
                          lda);
        else
            lps_par_sgemm(p->trans_b, 1, d.k, d.m, d.n, p->alpha, b, ldb, dy, ld(d.n), 1.0f, da,
                          lda);
    }
    if (din[GEMM_B] && !empty) {
        float *db = lps_tensor_f32(din[GEMM_B]);
        if (!p->trans_b)
            lps_par_sgemm(!p->trans_a, 0, d.k, d.n, d.m, p->alpha, a, lda, dy, ld(d.n), 1.0f, db,
                          ldb);
        else
            lps_par_sgemm(1, p->trans_a, d.n, d.k, d.m, p->alpha, dy, ld(d.n), a, lda, 1.0f, db,
                          ldb);
    }
    if (op->n_inputs > GEMM_C && din[GEMM_C] && in[GEMM_C])
        gemm_backward_c(p, &d, dy, lps_tensor_f32(din[GEMM_C]));
    return LPS_OK;
}

/* docs/method.md "One-shot pruning from calibration": B multiplies op(A), one position per row
 * of op(A). */
static lps_status gemm_act_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_op_activations *a, lps_error *err)
{
    gemm_dims d;
    lps_status st = gemm_dims_of(op, in, &d, err);
    if (st == LPS_OK)
        *a = (lps_op_activations){.groups = 1, .features = d.k, .chunks = 1, .positions = d.m};
    return st;
}

static void gemm_act_chunk(const lps_op_node *op, const lps_tensor *const *in, int64_t c,
                           int64_t g, float *x, float *work)
{
    const gemm_params *p = op->params;
    const lps_tensor *a = in[GEMM_A];
    (void)c;
    (void)g;
    (void)work;
    if (p->trans_a)
        lps_op_transpose_f32(lps_tensor_f32(a), a->dims[0], a->dims[1], x);
    else
        memcpy(x, a->data, (size_t)(a->dims[0] * a->dims[1]) * sizeof(float));
}

static const lps_op_calibration gemm_calibration = {gemm_act_shape, gemm_act_chunk};

const lps_op_def lps_op_def_gemm = {
    .name = "Gemm",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << GEMM_A) | (1u << GEMM_B) | (1u << GEMM_C),
    .prepare = gemm_prepare,
    .shape = gemm_shape,
    .forward = gemm_forward,
    .backward = gemm_backward,
    /* docs/method.md: B is [in, out], or [out, in] with transB */
    .weights = {{.role = LPS_WEIGHT_LAYER, .input = GEMM_B, .min_rank = 2, .max_rank = 2,
                 .rows = LPS_ROWS_UNITS_LAST, .transpose_attr = "transB",
                 .calibration = &gemm_calibration,
                 .bias_input = GEMM_C}},
    .fuses_epilogue = true,
};
