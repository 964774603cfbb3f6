/* MatMul (opsets 7..21) with numpy semantics: a 1-D A is a row vector
 * [1, K] and a 1-D B a column [K, 1] whose unit dim is dropped from the
 * result; leading (batch) dims broadcast. Each matrix product is one
 * cblas_sgemm; when B has no batch dims the batch is folded into M so the
 * whole op is a single GEMM (the common Linear-layer case), cut across
 * threads by lps_par_sgemm (docs/architecture.md, "Threads"). */
#include "core/par.h"
#include "ops/op.h"
#include "ops/op_util.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

enum { MM_A, MM_B };

/* How one MatMul call maps onto BLAS. */
typedef struct mm_plan {
    int m, n, k;
    int batch_rank;                 /* rank of the broadcast batch shape */
    int64_t batch[LPS_MAX_RANK];    /* broadcast batch dims */
    int64_t a_step[LPS_MAX_RANK];   /* matrices to skip in A per batch index, 0 if broadcast */
    int64_t b_step[LPS_MAX_RANK];
    int64_t n_batch;
    bool fold;                      /* B has no batch dims: one GEMM with M * n_batch rows */
    lps_shape out;
} mm_plan;

/* Batch strides (in whole matrices) of an operand whose batch dims are
 * right-aligned against the broadcast batch shape. */
static void batch_steps(int rank, const int64_t *dims, const mm_plan *p, int64_t *step)
{
    int64_t s = 1;
    for (int i = p->batch_rank - 1; i >= 0; i--) {
        int src = i - (p->batch_rank - rank);
        int64_t d = src >= 0 ? dims[src] : 1;
        step[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* Builds the plan; fails naming the node on rank, inner-dim or broadcast
 * mismatches and on sizes beyond BLAS's int indexing. */
static lps_status mm_plan_of(const lps_op_node *op, const lps_tensor *const *in, mm_plan *p,
                             lps_error *err)
{
    const lps_tensor *a = in[MM_A], *b = in[MM_B];
    char sa[128], sb[128];
    lps_status st = lps_op_expect_dtype(op, a, MM_A, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, b, MM_B, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    if (a->rank < 1 || b->rank < 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "inputs must have rank >= 1, got %d and %d",
                           a->rank, b->rank);
    int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    int64_t k = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != kb)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "inner dimensions of %s and %s differ",
                           lps_shape_str(a->rank, a->dims, sa, sizeof sa),
                           lps_shape_str(b->rank, b->dims, sb, sizeof sb));
    int a_batch = a->rank > 2 ? a->rank - 2 : 0;
    int b_batch = b->rank > 2 ? b->rank - 2 : 0;
    lps_shape bs;
    st = lps_broadcast_shape(op, a_batch, a->dims, b_batch, b->dims, &bs, err);
    if (st != LPS_OK)
        return st;
    memset(p, 0, sizeof *p);
    p->batch_rank = bs.rank;
    memcpy(p->batch, bs.dims, sizeof bs.dims);
    p->n_batch = lps_numel_of(bs.rank, bs.dims);
    batch_steps(a_batch, a->dims, p, p->a_step);
    batch_steps(b_batch, b->dims, p, p->b_step);
    p->fold = b_batch == 0;
    int64_t rows = p->fold ? m * p->n_batch : m;
    if (rows > INT_MAX || n > INT_MAX || k > INT_MAX)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "dimensions exceed the BLAS index range");
    p->m = (int)m;
    p->n = (int)n;
    p->k = (int)k;
    p->out.dtype = LPS_DT_FLOAT;
    p->out.rank = bs.rank;
    memcpy(p->out.dims, bs.dims, sizeof bs.dims);
    if (a->rank > 1)
        p->out.dims[p->out.rank++] = m;
    if (b->rank > 1)
        p->out.dims[p->out.rank++] = n;
    if (p->out.rank > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "result rank exceeds %d", LPS_MAX_RANK);
    return LPS_OK;
}

static lps_status mm_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}

static lps_status mm_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    mm_plan p;
    lps_status st = mm_plan_of(op, in, &p, err);
    if (st == LPS_OK)
        out[0] = p.out;
    return st;
}

/* BLAS requires leading dimensions >= 1 even for empty matrices. */
static int ld(int cols)
{
    return cols > 0 ? cols : 1;
}

/* Work for one batch index t whose A and B matrices start a_mat and b_mat
 * whole matrices into their tensors. */
typedef void (*mm_visit_fn)(const mm_plan *p, int64_t t, int64_t a_mat, int64_t b_mat,
                            void *arg);

/* Calls visit for every batch index t in [t0, t1) in order, with the
 * matrix offsets (in whole matrices) of A and B that t maps to under
 * broadcasting. */
static void mm_for_batch_range(const mm_plan *p, int64_t t0, int64_t t1, mm_visit_fn visit,
                               void *arg)
{
    int64_t idx[LPS_MAX_RANK] = {0};
    int64_t a_mat = 0, b_mat = 0, rest = t0;
    for (int i = p->batch_rank - 1; i >= 0; i--) {
        idx[i] = rest % p->batch[i];
        rest /= p->batch[i];
        a_mat += p->a_step[i] * idx[i];
        b_mat += p->b_step[i] * idx[i];
    }
    for (int64_t t = t0; t < t1; t++) {
        visit(p, t, a_mat, b_mat, arg);
        for (int i = p->batch_rank - 1; i >= 0; i--) {
            idx[i]++;
            a_mat += p->a_step[i];
            b_mat += p->b_step[i];
            if (idx[i] < p->batch[i])
                break;
            a_mat -= p->a_step[i] * idx[i];
            b_mat -= p->b_step[i] * idx[i];
            idx[i] = 0;
        }
    }
}

/* One pass over the batch cut into chunks of batch indices
 * (src/core/par.h). */
typedef struct mm_job {
    const mm_plan *p;
    mm_visit_fn visit;
    void *arg;
} mm_job;

static void mm_batch_chunk(void *arg, int chunk, int n_chunks)
{
    const mm_job *j = arg;
    int64_t t0, t1;
    lps_par_range(j->p->n_batch, chunk, n_chunks, &t0, &t1);
    mm_for_batch_range(j->p, t0, t1, j->visit, j->arg);
}

/* Calls visit for every batch index, on chunks of indices across threads
 * for `flops` of work when `parallel` (each index then writes matrices no
 * other index touches), else in order in this thread. */
static void mm_for_each_batch(const mm_plan *p, bool parallel, double flops, mm_visit_fn visit,
                              void *arg)
{
    mm_job job = {p, visit, arg};
    lps_par_for(parallel ? lps_par_chunks(p->n_batch, flops) : 1, mm_batch_chunk, &job);
}

/* Whether no batch dim of A or B is broadcast: then every batch index
 * reads and writes its own A, B (and dA, dB) matrices. */
static bool mm_unbroadcast(const mm_plan *p)
{
    for (int i = 0; i < p->batch_rank; i++)
        if (p->batch[i] > 1 && (p->a_step[i] == 0 || p->b_step[i] == 0))
            return false;
    return true;
}

/* Floating-point operations of one product over the batch. */
static double mm_flops(const mm_plan *p)
{
    return 2.0 * (double)p->n_batch * (double)p->m * (double)p->n * (double)p->k;
}

typedef struct mm_bufs {
    const float *a, *b, *dy;
    float *y, *da, *db;
} mm_bufs;

/* Y_t = A_t B_t for one batch index (see mm_visit_fn). */
static void mm_forward_one(const mm_plan *p, int64_t t, int64_t a_mat, int64_t b_mat, void *arg)
{
    const mm_bufs *u = arg;
    size_t mk = (size_t)p->m * (size_t)p->k, kn = (size_t)p->k * (size_t)p->n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->m, p->n, p->k, 1.0f,
                u->a + (size_t)a_mat * mk, ld(p->k), u->b + (size_t)b_mat * kn, ld(p->n), 0.0f,
                u->y + (size_t)t * (size_t)p->m * (size_t)p->n, ld(p->n));
}

static lps_status mm_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    mm_plan p;
    lps_status st = mm_plan_of(op, in, &p, err);
    if (st != LPS_OK)
        return st;
    mm_bufs u = {lps_tensor_f32(in[MM_A]), lps_tensor_f32(in[MM_B]), NULL,
                 lps_tensor_f32(out[0]), NULL, NULL};
    size_t total = (size_t)lps_tensor_numel(out[0]);
    if (total == 0)
        return LPS_OK;
    if (p.k == 0) {
        memset(u.y, 0, total * sizeof *u.y);
        return LPS_OK;
    }
    if (p.fold)
        lps_par_sgemm(0, 0, (int)(p.m * p.n_batch), p.n, p.k, 1.0f, u.a, ld(p.k), u.b, ld(p.n),
                      0.0f, u.y, ld(p.n));
    else
        mm_for_each_batch(&p, true, mm_flops(&p), mm_forward_one, &u);
    return LPS_OK;
}

/* dA_t += dY_t B_t^T and dB_t += A_t^T dY_t; broadcast batch slots map to
 * the same dA/dB matrix, so BLAS beta = 1 sums over them. */
static void mm_backward_one(const mm_plan *p, int64_t t, int64_t a_mat, int64_t b_mat, void *arg)
{
    const mm_bufs *u = arg;
    size_t mk = (size_t)p->m * (size_t)p->k, kn = (size_t)p->k * (size_t)p->n;
    const float *dy = u->dy + (size_t)t * (size_t)p->m * (size_t)p->n;
    if (u->da)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->m, p->k, p->n, 1.0f, dy, ld(p->n),
                    u->b + (size_t)b_mat * kn, ld(p->n), 1.0f, u->da + (size_t)a_mat * mk,
                    ld(p->k));
    if (u->db)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p->k, p->n, p->m, 1.0f,
                    u->a + (size_t)a_mat * mk, ld(p->k), dy, ld(p->n), 1.0f,
                    u->db + (size_t)b_mat * kn, ld(p->n));
}

static lps_status mm_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)out;
    mm_plan p;
    lps_status st = mm_plan_of(op, in, &p, err);
    if (st != LPS_OK || !dout[0])
        return st;
    mm_bufs u = {lps_tensor_f32(in[MM_A]), lps_tensor_f32(in[MM_B]), lps_tensor_f32(dout[0]),
                 NULL, din[MM_A] ? lps_tensor_f32(din[MM_A]) : NULL,
                 din[MM_B] ? lps_tensor_f32(din[MM_B]) : NULL};
    if (p.m == 0 || p.n == 0 || p.k == 0 || p.n_batch == 0)
        return LPS_OK;
    if (!p.fold) {
        /* broadcast slots share a dA or dB matrix: those sums stay in order */
        mm_for_each_batch(&p, mm_unbroadcast(&p), mm_flops(&p) * ((u.da ? 1 : 0) + (u.db ? 1 : 0)),
                          mm_backward_one, &u);
        return LPS_OK;
    }
    int rows = (int)(p.m * p.n_batch);
    if (u.da)
        lps_par_sgemm(0, 1, rows, p.k, p.n, 1.0f, u.dy, ld(p.n), u.b, ld(p.n), 1.0f, u.da,
                      ld(p.k));
    if (u.db)
        lps_par_sgemm(1, 0, p.k, p.n, rows, 1.0f, u.a, ld(p.k), u.dy, ld(p.n), 1.0f, u.db,
                      ld(p.n));
    return LPS_OK;
}

/* docs/method.md "One-shot pruning from calibration". A constant B [in,
 * out] multiplies every
 * row of A [..., in]: one position per row. A batched B has one weight
 * matrix per batch slot, which the one-shot methods do not calibrate. */
static lps_status mm_b_act_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_op_activations *a, lps_error *err)
{
    mm_plan p;
    lps_status st = mm_plan_of(op, in, &p, err);
    if (st != LPS_OK)
        return st;
    if (in[MM_B]->rank != 2)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "one-shot calibration of a batched constant operand B (rank %d) is "
                           "not supported; --exclude it", in[MM_B]->rank);
    *a = (lps_op_activations){.groups = 1, .features = p.k, .chunks = 1,
                              .positions = lps_tensor_numel(in[MM_A]) / (p.k ? p.k : 1)};
    return LPS_OK;
}

static void mm_b_act_chunk(const lps_op_node *op, const lps_tensor *const *in, int64_t c,
                           int64_t g, float *x, float *work)
{
    (void)op;
    (void)c;
    (void)g;
    (void)work;
    memcpy(x, in[MM_A]->data, (size_t)lps_tensor_numel(in[MM_A]) * sizeof(float));
}

/* A constant A [out, in] multiplies every column of each matrix of B
 * [..., in, n]: one chunk per matrix, one position per column. */
static lps_status mm_a_act_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_op_activations *a, lps_error *err)
{
    mm_plan p;
    lps_status st = mm_plan_of(op, in, &p, err);
    if (st == LPS_OK && in[MM_A]->rank != 2)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "one-shot calibration of a batched constant operand A (rank %d) is "
                           "not supported; --exclude it", in[MM_A]->rank);
    if (st == LPS_OK)
        *a = (lps_op_activations){.groups = 1, .features = p.k,
                                  .chunks = lps_tensor_numel(in[MM_B]) / ((int64_t)p.k * p.n),
                                  .positions = p.n};
    return st;
}

static void mm_a_act_chunk(const lps_op_node *op, const lps_tensor *const *in, int64_t c,
                           int64_t g, float *x, float *work)
{
    const lps_tensor *b = in[MM_B];
    int64_t k = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    (void)op;
    (void)g;
    (void)work;
    lps_op_transpose_f32(lps_tensor_f32(b) + c * k * n, k, n, x);
}

static const lps_op_calibration mm_b_calibration = {mm_b_act_shape, mm_b_act_chunk};
static const lps_op_calibration mm_a_calibration = {mm_a_act_shape, mm_a_act_chunk};

const lps_op_def lps_op_def_matmul = {
    .name = "MatMul",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << MM_A) | (1u << MM_B),
    .prepare = mm_prepare,
    .shape = mm_shape,
    .forward = mm_forward,
    .backward = mm_backward,
    /* docs/method.md section 1: a constant B [b..., in, out] has a row per
     * output column (of each matrix), whatever the rank of the activations
     * (every Linear of a Transformer); a constant A [b..., M, K] (B
     * computed) a row per output row (b, m) over K. */
    .weights = {{.role = LPS_WEIGHT_LAYER, .input = MM_B, .min_rank = 2,
                 .max_rank = LPS_MAX_RANK, .rows = LPS_ROWS_UNITS_LAST,
                 .calibration = &mm_b_calibration},
                {.role = LPS_WEIGHT_LAYER, .input = MM_A, .min_rank = 2,
                 .max_rank = LPS_MAX_RANK, .rows = LPS_ROWS_FANIN_LAST, .fallback = true,
                 .calibration = &mm_a_calibration}},
};
