/* Einsum (opsets 12..21): any equation over float or double operands,
 * implicit or explicit output, broadcast "...", diagonals (a label repeated
 * in a term) and sums (a label in no output).
 *
 * Operands are contracted left to right, two at a time, as one batched
 * GEMM: labels in both operands and kept are the batch, labels in both and
 * summed are K, the rest of each operand is M (first) or N (second). A label
 * only one operand has and nobody keeps is summed out of it first. An
 * operand already laid out as [batch, M, K] or [batch, K, M] (transposed)
 * goes to BLAS as it is; only other layouts are copied. The group orders
 * follow the final output so the common attention and batched-matmul forms
 * (bij,bjk->bik; bhid,bhjd->bhij; bhij,bhjd->bhid) run without a copy.
 *
 * Backward: the gradient of operand i is the Einsum of the output gradient
 * with the other operands onto operand i's labels, broadcast along labels
 * only operand i had, and scatter-added through its view (diagonals). */
#include "ops/einsum.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_util.h"

/* Sorting key of a label the target does not hold: after every target
 * label, in its operand's order. */
#define ES_NOT_IN_TARGET (ES_MAX_VIEW + 1)

/* An operand of one step: data seen through v; owned is the block behind
 * data when a step made it (freed with free), NULL for a graph tensor. */
typedef struct es_operand {
    const void *data;
    void *owned;
    es_view v;
} es_operand;

/* One Einsum evaluation (a forward, or one input's gradient). */
typedef struct es_run {
    const lps_op_node *op;
    lps_dtype dtype;
    size_t esize;
    int rank_of[ES_MAX_LABELS];   /* position in the target, ES_NOT_IN_TARGET if absent */
} es_run;

/* The destination a step may write straight into (NULL: none). */
typedef struct es_direct {
    const es_view *v;             /* dense */
    void *data;
    bool accumulate;
} es_direct;

static void operand_release(es_operand *x)
{
    free(x->owned);
    x->owned = NULL;
}

static lps_status es_alloc(const es_run *r, int64_t n, void **out, lps_error *err)
{
    *out = malloc((size_t)(n > 0 ? n : 1) * r->esize);
    if (!*out)
        return lps_op_fail(r->op, err, LPS_ERR_NOMEM, "out of memory for an intermediate");
    return LPS_OK;
}

/* Whether v, with exactly these labels in this order, is dense row-major. */
static bool dense_in(const es_view *v, const int *label, int n)
{
    if (v->n != n)
        return false;
    int64_t expect = 1;
    for (int k = n - 1; k >= 0; k--) {
        int at = es_view_find(v, label[k]);
        if (at < 0 || v->stride[at] != expect)
            return false;
        expect *= v->dim[at];
    }
    return true;
}

/* dst (dense over order's labels, in order) = src, broadcast along labels
 * src lacks. */
static void gather_into(const es_run *r, const es_operand *src, const es_view *order, void *dst)
{
    int64_t stride[ES_MAX_VIEW];
    for (int k = 0; k < order->n; k++) {
        int at = es_view_find(&src->v, order->label[k]);
        stride[k] = at < 0 ? 0 : src->v.stride[at];
    }
    lps_strided w;
    lps_strided_init(&w, order->n, order->dim, stride, 0);
    lps_strided_gather(dst, src->data, r->esize, &w);
}

#define ES_TYPES(X) X(LPS_DT_FLOAT, float) X(LPS_DT_DOUBLE, double)

/* dst[i] = sum of the len elements of src's row i. */
static void sum_rows(lps_dtype dtype, const void *src, int64_t rows, int64_t len, void *dst)
{
#define SUM_ROWS_CASE(dt, T)                                                                   \
    case dt: {                                                                                 \
        const T *s = src;                                                                      \
        T *d = dst;                                                                            \
        for (int64_t i = 0; i < rows; i++, s += len) {                                         \
            T acc = 0;                                                                         \
            for (int64_t j = 0; j < len; j++)                                                  \
                acc += s[j];                                                                   \
            d[i] = acc;                                                                        \
        }                                                                                      \
        break;                                                                                 \
    }
    switch (dtype) {
        ES_TYPES(SUM_ROWS_CASE)
    default: break;
    }
#undef SUM_ROWS_CASE
}

/* Labels of x sorted for a result: by position in the target, then by
 * position in x. */
static void sort_by_target(const es_run *r, int *label, int n)
{
    for (int i = 1; i < n; i++) {
        int l = label[i], j = i;
        for (; j > 0 && r->rank_of[label[j - 1]] > r->rank_of[l]; j--)
            label[j] = label[j - 1];
        label[j] = l;
    }
}

/* Sums out of x every label keep does not hold: x becomes a dense operand
 * over the kept labels (target order first). Nothing to sum: x unchanged. */
static lps_status reduce_private(const es_run *r, es_operand *x, const bool *keep,
                                 lps_error *err)
{
    es_view order = {0};
    int n_kept = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < x->v.n; k++)
            if (keep[x->v.label[k]] == (pass == 0)) {
                order.label[order.n] = x->v.label[k];
                order.dim[order.n++] = x->v.dim[k];
                n_kept += pass == 0;
            }
    if (n_kept == order.n)
        return LPS_OK;
    sort_by_target(r, order.label, n_kept);
    for (int k = 0; k < n_kept; k++)
        order.dim[k] = x->v.dim[es_view_find(&x->v, order.label[k])];
    es_view_make_dense(&order);
    int64_t rows = 1, len = 1;
    for (int k = 0; k < order.n; k++)
        *(k < n_kept ? &rows : &len) *= order.dim[k];
    void *full = NULL, *sum = NULL;
    const void *src = x->data;
    lps_status st = LPS_OK;
    if (!dense_in(&x->v, order.label, order.n)) {
        st = es_alloc(r, rows * len, &full, err);
        if (st != LPS_OK)
            return st;
        gather_into(r, x, &order, full);
        src = full;
    }
    st = es_alloc(r, rows, &sum, err);
    if (st == LPS_OK) {
        sum_rows(r->dtype, src, rows, len, sum);
        operand_release(x);
        x->data = x->owned = sum;
        x->v = order;
        x->v.n = n_kept;
        es_view_make_dense(&x->v);
    }
    free(full);
    return st;
}

/* The labels of a step's GEMM: [batch..., M...] of a, K of a and b,
 * N of b. */
typedef struct es_groups {
    int batch[ES_MAX_VIEW], m[ES_MAX_VIEW], k[ES_MAX_VIEW], n[ES_MAX_VIEW];
    int nb, nm, nk, nn;
    int64_t sb, sm, sk, sn;       /* products of their dims */
} es_groups;

static void group_labels(const es_run *r, const es_operand *a, const es_operand *b,
                         const bool *keep, es_groups *g)
{
    memset(g, 0, sizeof *g);
    g->sb = g->sm = g->sk = g->sn = 1;
    for (int i = 0; i < a->v.n; i++) {
        int l = a->v.label[i];
        int64_t d = a->v.dim[i];
        bool shared = es_view_find(&b->v, l) >= 0;
        if (shared && keep[l])
            g->batch[g->nb++] = l, g->sb *= d;
        else if (shared)
            g->k[g->nk++] = l, g->sk *= d;
        else
            g->m[g->nm++] = l, g->sm *= d;
    }
    for (int i = 0; i < b->v.n; i++)
        if (es_view_find(&a->v, b->v.label[i]) < 0)
            g->n[g->nn++] = b->v.label[i], g->sn *= b->v.dim[i];
    sort_by_target(r, g->batch, g->nb);
    sort_by_target(r, g->m, g->nm);
    sort_by_target(r, g->n, g->nn);
}

/* The view over the concatenated label lists (each dim from a or b). */
static void concat_view(const es_operand *a, const es_operand *b, const int *const *parts,
                        const int *counts, int n_parts, es_view *v)
{
    memset(v, 0, sizeof *v);
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < counts[p]; i++) {
            int l = parts[p][i], at = es_view_find(&a->v, l);
            v->label[v->n] = l;
            v->dim[v->n++] = at >= 0 ? a->v.dim[at] : b->v.dim[es_view_find(&b->v, l)];
        }
    es_view_make_dense(v);
}

static int64_t view_numel(const es_view *v)
{
    return lps_numel_of(v->n, v->dim);
}

/* A GEMM operand: x as [batch, rows, cols] (plain) with no copy when it is
 * laid out so (*trans false) or as [batch, cols, rows] (swapped, *trans
 * true); otherwise copied into *copy (freed by the caller) as plain. */
static lps_status matrix_of(const es_run *r, const es_operand *x, const es_view *plain,
                            const es_view *swapped, const void **data, bool *trans,
                            void **copy, lps_error *err)
{
    *copy = NULL;
    *data = x->data;
    *trans = false;
    if (dense_in(&x->v, plain->label, plain->n))
        return LPS_OK;
    if (dense_in(&x->v, swapped->label, swapped->n)) {
        *trans = true;
        return LPS_OK;
    }
    lps_status st = es_alloc(r, view_numel(plain), copy, err);
    if (st == LPS_OK) {
        gather_into(r, x, plain, *copy);
        *data = *copy;
    }
    return st;
}

/* BLAS wants leading dimensions >= 1 even for empty matrices. */
static int ld(int64_t cols)
{
    return cols > 0 ? (int)cols : 1;
}

/* c = op(a) op(b) (+ c when accumulate) for row-major m x k and k x n. */
static void es_gemm(lps_dtype dtype, bool ta, bool tb, int m, int n, int k, const void *a,
                    const void *b, bool accumulate, void *c)
{
    enum CBLAS_TRANSPOSE oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
    int lda = ld(ta ? m : k), ldb = ld(tb ? k : n);
    if (dtype == LPS_DT_DOUBLE)
        cblas_dgemm(CblasRowMajor, oa, ob, m, n, k, 1.0, a, lda, b, ldb, accumulate ? 1.0 : 0.0,
                    c, ld(n));
    else
        cblas_sgemm(CblasRowMajor, oa, ob, m, n, k, 1.0f, a, lda, b, ldb,
                    accumulate ? 1.0f : 0.0f, c, ld(n));
}

/* The result layout [batch, M, N] of a step and its operands' layouts. */
typedef struct es_layout {
    es_groups g;
    es_view c, a_plain, a_swap, b_plain, b_swap;
} es_layout;

static void layout_of(const es_run *r, const es_operand *a, const es_operand *b,
                      const bool *keep, es_layout *lo)
{
    es_groups *g = &lo->g;
    group_labels(r, a, b, keep, g);
    concat_view(a, b, (const int *const[]){g->batch, g->m, g->n},
                (const int[]){g->nb, g->nm, g->nn}, 3, &lo->c);
    concat_view(a, b, (const int *const[]){g->batch, g->m, g->k},
                (const int[]){g->nb, g->nm, g->nk}, 3, &lo->a_plain);
    concat_view(a, b, (const int *const[]){g->batch, g->k, g->m},
                (const int[]){g->nb, g->nk, g->nm}, 3, &lo->a_swap);
    concat_view(a, b, (const int *const[]){g->batch, g->k, g->n},
                (const int[]){g->nb, g->nk, g->nn}, 3, &lo->b_plain);
    concat_view(a, b, (const int *const[]){g->batch, g->n, g->k},
                (const int[]){g->nb, g->nn, g->nk}, 3, &lo->b_swap);
}

/* *res = the contraction of a and b keeping the labels keep holds (and
 * summing the rest), as one batched GEMM. Writes into direct when given and
 * its layout is the result's, or the result's with a and b swapped
 * (*wrote_direct true, res then owns nothing). a and b may be replaced by
 * reduced copies the caller releases. */
static lps_status contract_pair(const es_run *r, es_operand *a, es_operand *b, const bool *keep,
                                const es_direct *direct, es_operand *res, bool *wrote_direct,
                                lps_error *err)
{
    bool keep_a[ES_MAX_LABELS], keep_b[ES_MAX_LABELS];
    memcpy(keep_a, keep, sizeof keep_a);
    memcpy(keep_b, keep, sizeof keep_b);
    for (int i = 0; i < b->v.n; i++)
        keep_a[b->v.label[i]] = true;
    for (int i = 0; i < a->v.n; i++)
        keep_b[a->v.label[i]] = true;
    lps_status st = reduce_private(r, a, keep_a, err);
    if (st == LPS_OK)
        st = reduce_private(r, b, keep_b, err);
    if (st != LPS_OK)
        return st;
    es_layout lo;
    layout_of(r, a, b, keep, &lo);
    if (direct && !dense_in(direct->v, lo.c.label, lo.c.n)) {
        es_layout swapped;
        layout_of(r, b, a, keep, &swapped);
        if (dense_in(direct->v, swapped.c.label, swapped.c.n)) {
            es_operand *t = a;
            a = b;
            b = t;
            lo = swapped;
        }
    }
    const es_groups *g = &lo.g;
    if (g->sm > INT_MAX || g->sn > INT_MAX || g->sk > INT_MAX)
        return lps_op_fail(r->op, err, LPS_ERR_UNSUPPORTED,
                           "a contraction exceeds the BLAS index range");
    const void *pa, *pb;
    bool ta, tb;
    void *copy_a = NULL, *copy_b = NULL, *out = NULL;
    st = matrix_of(r, a, &lo.a_plain, &lo.a_swap, &pa, &ta, &copy_a, err);
    if (st == LPS_OK)
        st = matrix_of(r, b, &lo.b_plain, &lo.b_swap, &pb, &tb, &copy_b, err);
    *wrote_direct = st == LPS_OK && direct && dense_in(direct->v, lo.c.label, lo.c.n);
    if (st == LPS_OK && *wrote_direct)
        out = direct->data;
    else if (st == LPS_OK)
        st = es_alloc(r, view_numel(&lo.c), &out, err);
    if (st == LPS_OK) {
        size_t es = r->esize, mk = (size_t)(g->sm * g->sk), kn = (size_t)(g->sk * g->sn),
               mn = (size_t)(g->sm * g->sn);
        bool accumulate = *wrote_direct && direct->accumulate;
        for (int64_t t = 0; t < g->sb; t++)
            es_gemm(r->dtype, ta, tb, (int)g->sm, (int)g->sn, (int)g->sk,
                    (const char *)pa + (size_t)t * mk * es, (const char *)pb + (size_t)t * kn * es,
                    accumulate, (char *)out + (size_t)t * mn * es);
        res->data = out;
        res->owned = *wrote_direct ? NULL : out;
        res->v = lo.c;
    }
    free(copy_a);
    free(copy_b);
    return st;
}

/* dst seen through dst_v = x (forward: dst dense) or += x (gradients,
 * float), broadcast along labels x lacks. */
static lps_status write_result(const es_run *r, const es_operand *x, const es_view *dst_v,
                               void *dst, bool accumulate, lps_error *err)
{
    if (!accumulate) {
        gather_into(r, x, dst_v, dst);
        return LPS_OK;
    }
    const void *src = x->data;
    void *tmp = NULL;
    if (!dense_in(&x->v, dst_v->label, dst_v->n)) {
        lps_status st = es_alloc(r, view_numel(dst_v), &tmp, err);
        if (st != LPS_OK)
            return st;
        gather_into(r, x, dst_v, tmp);
        src = tmp;
    }
    lps_strided w;
    lps_strided_init(&w, dst_v->n, dst_v->dim, dst_v->stride, 0);
    lps_strided_scatter_add(dst, src, &w);
    free(tmp);
    return LPS_OK;
}

/* Contracts ops[0..n_ops-1] left to right onto the labels of dst_v, and
 * writes (=, dst dense) or accumulates (+=) the result into dst through
 * dst_v. Intermediates are freed; ops' data is not. */
static lps_status es_contract(es_run *r, const es_operand *ops, int n_ops, const es_view *dst_v,
                              void *dst, bool accumulate, lps_error *err)
{
    bool keep_final[ES_MAX_LABELS] = {false};
    for (int l = 0; l < ES_MAX_LABELS; l++)
        r->rank_of[l] = ES_NOT_IN_TARGET;
    for (int k = 0; k < dst_v->n; k++) {
        r->rank_of[dst_v->label[k]] = k;
        keep_final[dst_v->label[k]] = true;
    }
    es_direct direct = {dst_v, dst, accumulate};
    bool dst_dense = dense_in(dst_v, dst_v->label, dst_v->n), done = false;
    es_operand cur = ops[0];
    lps_status st = LPS_OK;
    for (int j = 1; j < n_ops && st == LPS_OK; j++) {
        bool keep[ES_MAX_LABELS];
        memcpy(keep, keep_final, sizeof keep);
        for (int later = j + 1; later < n_ops; later++)
            for (int k = 0; k < ops[later].v.n; k++)
                keep[ops[later].v.label[k]] = true;
        es_operand b = ops[j], next = {0};
        bool last = j == n_ops - 1;
        st = contract_pair(r, &cur, &b, keep, last && dst_dense ? &direct : NULL, &next, &done,
                           err);
        operand_release(&b);
        operand_release(&cur);
        cur = next;
    }
    if (st == LPS_OK && !done)
        st = reduce_private(r, &cur, keep_final, err);
    if (st == LPS_OK && !done)
        st = write_result(r, &cur, dst_v, dst, accumulate, err);
    operand_release(&cur);
    return st;
}

static lps_status einsum_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"equation", NULL};
    const char *text = NULL;
    es_equation eq;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_string(op, "equation", NULL, &text, err);
    if (st == LPS_OK && !text)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'equation' is required");
    if (st == LPS_OK)
        st = es_parse(op, text, op->n_inputs, &eq, err);
    if (st == LPS_OK)
        st = lps_op_store_params(op, &eq, sizeof eq, err);
    return st;
}

static lps_status einsum_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    es_resolved r;
    lps_status st = es_resolve(op, op->params, in, &r, err);
    if (st == LPS_OK)
        out[0] = r.shape;
    return st;
}

static lps_status einsum_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    es_resolved r;
    lps_status st = es_resolve(op, op->params, in, &r, err);
    if (st != LPS_OK)
        return st;
    es_run run = {.op = op, .dtype = r.shape.dtype, .esize = lps_dtype_size(r.shape.dtype)};
    if (r.empty) {
        memset(out[0]->data, 0, (size_t)lps_tensor_numel(out[0]) * run.esize);
        return LPS_OK;
    }
    es_operand ops[ES_MAX_TERMS];
    for (int i = 0; i < r.n_in; i++)
        ops[i] = (es_operand){.data = in[i]->data, .v = r.in[i]};
    return es_contract(&run, ops, r.n_in, &r.out, out[0]->data, false, err);
}

static lps_status einsum_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)out;
    es_resolved r;
    lps_status st = es_resolve(op, op->params, in, &r, err);
    if (st != LPS_OK || !dout[0] || r.empty)
        return st;
    st = lps_op_expect_float_grad(op, dout[0], err);
    es_run run = {.op = op, .dtype = LPS_DT_FLOAT, .esize = sizeof(float)};
    for (int i = 0; i < r.n_in && st == LPS_OK; i++) {
        if (!din[i])
            continue;
        st = lps_op_expect_float_grad(op, din[i], err);
        es_operand ops[ES_MAX_TERMS];
        int n = 0;
        ops[n++] = (es_operand){.data = dout[0]->data, .v = r.out};
        for (int j = 0; j < r.n_in; j++)
            if (j != i)
                ops[n++] = (es_operand){.data = in[j]->data, .v = r.in[j]};
        if (st == LPS_OK)
            st = es_contract(&run, ops, n, &r.in[i], din[i]->data, true, err);
    }
    return st;
}

const lps_op_def lps_op_def_einsum = {
    .name = "Einsum",
    .min_opset = 12,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = ES_MAX_TERMS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = ~0u,
    .prepare = einsum_prepare,
    .shape = einsum_shape,
    .forward = einsum_forward,
    .backward = einsum_backward,
    /* No .weights: which axes of a constant operand are a unit's fan-in
     * depends on the equation, so a constant Einsum operand is trained but
     * not pruned (docs/method.md, "Prunable weights and their rows"). */
};
