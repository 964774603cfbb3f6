/* Thread-level parallelism of the ops: contracts and the policy in par.h,
 * why in docs/architecture.md ("Threads"). */
#include "core/par.h"

#include <cblas.h>
#include <limits.h>
#include <stdbool.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int lps_par_threads(void)
{
    if (omp_in_parallel())
        return 1;
    int t = omp_get_max_threads();
    return t > 1 ? t : 1;
}

int lps_par_chunks(int64_t items, double flops)
{
    if (items < 2 || flops < LPS_PAR_MIN_FLOPS)
        return 1;
    int t = lps_par_threads();
    return items < t ? (int)items : t;
}

void lps_par_range(int64_t n, int chunk, int n_chunks, int64_t *begin, int64_t *end)
{
    int64_t base = n / n_chunks, extra = n % n_chunks;
    *begin = chunk * base + (chunk < extra ? chunk : extra);
    *end = *begin + base + (chunk < extra ? 1 : 0);
}

void lps_par_for(int n_chunks, lps_par_fn fn, void *arg)
{
    if (n_chunks <= 1 || omp_in_parallel()) {
        for (int c = 0; c < n_chunks; c++)
            fn(arg, c, n_chunks);
        return;
    }
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    /* static, one chunk per iteration: the chunk -> work map is fixed by
     * the index alone whatever team size the runtime grants */
#pragma omp parallel for schedule(static, 1) num_threads(n_chunks)
    for (int c = 0; c < n_chunks; c++)
        fn(arg, c, n_chunks);
    openblas_set_num_threads(blas_threads);
}

void lps_par_for_phases(int n_chunks, lps_par_fn first, lps_par_fn then, void *arg)
{
    if (n_chunks <= 1 || omp_in_parallel()) {
        for (int c = 0; c < n_chunks; c++)
            first(arg, c, n_chunks);
        for (int c = 0; c < n_chunks; c++)
            then(arg, c, n_chunks);
        return;
    }
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    /* static, one chunk per iteration, as lps_par_for: the same thread
     * runs chunk c in both loops; the first loop's end is the barrier */
#pragma omp parallel num_threads(n_chunks)
    {
#pragma omp for schedule(static, 1)
        for (int c = 0; c < n_chunks; c++)
            first(arg, c, n_chunks);
#pragma omp for schedule(static, 1)
        for (int c = 0; c < n_chunks; c++)
            then(arg, c, n_chunks);
    }
    openblas_set_num_threads(blas_threads);
}

size_t lps_par_sum_floats(size_t n, int chunks)
{
    return chunks > 1 ? (size_t)(chunks - 1) * n : 0;
}

lps_par_sum lps_par_sum_make(float *dst, size_t n, int chunks, float *ws)
{
    return (lps_par_sum){.dst = dst, .partials = ws, .n = n, .chunks = chunks};
}

float *lps_par_sum_at(const lps_par_sum *s, int chunk)
{
    if (!s->dst)
        return NULL;
    if (chunk == 0)
        return s->dst;
    float *p = s->partials + (size_t)(chunk - 1) * s->n;
    memset(p, 0, s->n * sizeof *p);
    return p;
}

/* Chunk `chunk`'s part [*begin, *end) of n items cut in whole runs of
 * `align` (the last run may be short): lps_par_range over the runs. */
static void aligned_range(int64_t n, int64_t align, int chunk, int n_chunks, int64_t *begin,
                          int64_t *end)
{
    int64_t r0, r1;
    lps_par_range((n + align - 1) / align, chunk, n_chunks, &r0, &r1);
    *begin = r0 * align < n ? r0 * align : n;
    *end = r1 * align < n ? r1 * align : n;
}

/* One lps_par_elements call: the caller's function over its pieces. */
typedef struct par_elements {
    int64_t n, runs;
    lps_par_range_fn fn;
    void *arg;
} par_elements;

static void par_elements_chunk(void *arg, int chunk, int n_chunks)
{
    const par_elements *e = arg;
    int64_t begin, end;
    aligned_range(e->n, LPS_PAR_ELEMENT_ALIGN, chunk, n_chunks, &begin, &end);
    if (begin < end)
        e->fn(e->arg, begin, end);
}

void lps_par_elements(int64_t n, double floats_per_item, lps_par_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    par_elements e = {n, (n + LPS_PAR_ELEMENT_ALIGN - 1) / LPS_PAR_ELEMENT_ALIGN, fn, arg};
    int chunks = lps_par_chunks(e.runs, (double)n * floats_per_item * LPS_PAR_FLOPS_PER_FLOAT);
    if (chunks <= 1) {
        fn(arg, 0, n);
        return;
    }
    lps_par_for(chunks, par_elements_chunk, &e);
}

static void zero_piece(void *arg, int64_t begin, int64_t end)
{
    float *x = arg;
    memset(x + begin, 0, (size_t)(end - begin) * sizeof *x);
}

void lps_par_zero(float *x, size_t n)
{
    lps_par_elements((int64_t)n, 1.0, zero_piece, x);
}

/* One lps_par_copy. */
typedef struct copy_job {
    float *dst;
    const float *src;
} copy_job;

static void copy_piece(void *arg, int64_t begin, int64_t end)
{
    const copy_job *j = arg;
    memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin) * sizeof *j->dst);
}

void lps_par_copy(float *dst, const float *src, size_t n)
{
    copy_job job = {dst, src};
    lps_par_elements((int64_t)n, 2.0, copy_piece, &job);
}

static void sum_finish_piece(void *arg, int64_t begin, int64_t end)
{
    const lps_par_sum *s = arg;
    for (int c = 1; c < s->chunks; c++) {
        const float *p = s->partials + (size_t)(c - 1) * s->n;
        for (int64_t i = begin; i < end; i++)
            s->dst[i] += p[i];
    }
}

void lps_par_sum_finish(const lps_par_sum *s)
{
    if (!s->dst || s->chunks <= 1)
        return;
    /* each of the chunks' partials is read once, dst read and written
     * once per partial */
    lps_par_elements((int64_t)s->n, 3.0 * (double)(s->chunks - 1), sum_finish_piece, (void *)s);
}

/* One lps_par_sgemm call, cut along rows (by_rows) or columns of C. */
typedef struct par_gemm {
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int by_rows;
    int64_t panels, dim; /* panels of LPS_PAR_GEMM_ALIGN along the cut dimension dim */
    bool fill;           /* set C's piece to bias (zeros when NULL) first */
    const float *bias;
} par_gemm;

/* Rows [r0, r1) and columns [j0, j1) of C set to bias (zeros when NULL). */
static void fill_bias(const par_gemm *g, int64_t r0, int64_t r1, int64_t j0, int64_t j1)
{
    for (int64_t i = r0; i < r1; i++) {
        float *row = g->c + i * g->ldc;
        if (g->bias)
            memcpy(row + j0, g->bias + j0, (size_t)(j1 - j0) * sizeof *row);
        else
            memset(row + j0, 0, (size_t)(j1 - j0) * sizeof *row);
    }
}

void lps_par_gemm_range(int64_t dim, int chunk, int n_chunks, int64_t *from, int64_t *to)
{
    aligned_range(dim, LPS_PAR_GEMM_ALIGN, chunk, n_chunks, from, to);
}

static void par_gemm_chunk(void *arg, int chunk, int n_chunks)
{
    const par_gemm *g = arg;
    int64_t from, to;
    lps_par_gemm_range(g->dim, chunk, n_chunks, &from, &to);
    if (to <= from)
        return;
    int part = (int)(to - from);
    enum CBLAS_TRANSPOSE ta = g->trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = g->trans_b ? CblasTrans : CblasNoTrans;
    if (g->fill)
        fill_bias(g, g->by_rows ? from : 0, g->by_rows ? to : g->m, g->by_rows ? 0 : from,
                  g->by_rows ? g->n : to);
    if (g->by_rows) {
        /* rows of op(A): A's rows, or its columns when transposed */
        const float *a = g->a + (g->trans_a ? from : from * g->lda);
        cblas_sgemm(CblasRowMajor, ta, tb, part, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb,
                    g->beta, g->c + from * g->ldc, g->ldc);
    } else {
        const float *b = g->b + (g->trans_b ? from * g->ldb : from);
        cblas_sgemm(CblasRowMajor, ta, tb, g->m, part, g->k, g->alpha, g->a, g->lda, b, g->ldb,
                    g->beta, g->c + from, g->ldc);
    }
}

/* lps_par_sgemm, and with g->fill lps_par_sgemm_bias, on g. */
static void par_sgemm_run(par_gemm g)
{
    const int m = g.m, n = g.n, k = g.k;
    g.by_rows = m >= n;
    g.dim = m >= n ? m : n;
    g.panels = (g.dim + LPS_PAR_GEMM_ALIGN - 1) / LPS_PAR_GEMM_ALIGN;
    int chunks = lps_par_chunks(g.panels, 2.0 * (double)m * (double)n * (double)k);
    if (chunks > 1) {
        lps_par_for(chunks, par_gemm_chunk, &g);
        return;
    }
    /* OpenBLAS would thread GEMMs from about 0.5 MFLOP (its own threshold)
     * up, and its woken workers then spin in sched_yield beside the
     * threads of the next parallel region */
    int blas_threads = openblas_get_num_threads();
    if (blas_threads > 1)
        openblas_set_num_threads(1);
    if (g.fill)
        fill_bias(&g, 0, m, 0, n);
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                g.trans_b ? CblasTrans : CblasNoTrans, m, n, k, g.alpha, g.a, g.lda, g.b, g.ldb,
                g.beta, g.c, g.ldc);
    if (blas_threads > 1)
        openblas_set_num_threads(blas_threads);
}

void lps_par_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                   int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    par_sgemm_run((par_gemm){.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                             .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = alpha, .beta = beta,
                             .a = a, .b = b, .c = c});
}

void lps_par_sgemm_bias(int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, const float *bias,
                        float *c, int ldc)
{
    par_sgemm_run((par_gemm){.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                             .lda = lda, .ldb = ldb, .ldc = ldc, .alpha = alpha, .beta = 1.0f,
                             .a = a, .b = b, .c = c, .fill = true, .bias = bias});
}
