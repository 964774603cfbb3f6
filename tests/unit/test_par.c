/* Thread-level parallelism (src/core/par.h): the chunk policy, chunk
 * ranges, the fixed-order partial sums, the cut sgemm against one sgemm,
 * and Conv's chunked passes at two threads: byte-identical across reruns,
 * and equal to one thread's (Y and dX exactly, dW and dB, whose sums over
 * the batch are added per chunk, within PAR_SUM_RTOL). */
#include <cblas.h>
#include <check.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/par.h"
#include "core/runtime_env.h"
#include "op_forward.h"
#include "ops/packed_gemm.h"
#include "test_node.h"
#include "test_suite.h"
#include "train/optim.h"

#define CONV_OPSET 11
#define TWO_THREADS 2
/* dW and dB at two threads add two chunk partials of sums over about half
 * the batch each: float reassociation of sums of ~1e3 terms of size ~1 */
#define PAR_SUM_RTOL 1e-5
#define PAR_SUM_ATOL 1e-4

START_TEST(ranges_cover_in_order_and_balance)
{
    for (int64_t n = 0; n < 40; n++)
        for (int chunks = 1; chunks <= 5; chunks++) {
            int64_t next = 0;
            for (int c = 0; c < chunks; c++) {
                int64_t b, e;
                lps_par_range(n, c, chunks, &b, &e);
                ck_assert_int_eq(b, next);
                ck_assert(e - b == n / chunks || e - b == n / chunks + 1);
                next = e;
            }
            ck_assert_int_eq(next, n);
        }
}
END_TEST

START_TEST(chunks_follow_threads_work_and_items)
{
    omp_set_num_threads(TWO_THREADS);
    ck_assert_int_eq(lps_par_threads(), TWO_THREADS);
    ck_assert_int_eq(lps_par_chunks(64, 10 * LPS_PAR_MIN_FLOPS), TWO_THREADS);
    ck_assert_int_eq(lps_par_chunks(64, LPS_PAR_MIN_FLOPS / 2), 1);
    ck_assert_int_eq(lps_par_chunks(1, 10 * LPS_PAR_MIN_FLOPS), 1);
    omp_set_num_threads(1);
    ck_assert_int_eq(lps_par_chunks(64, 10 * LPS_PAR_MIN_FLOPS), 1);
}
END_TEST

/* Every chunk runs once, on the thread the static map gives it, with
 * OpenBLAS at one thread; OpenBLAS's count is restored after. */
typedef struct seen {
    int calls[TWO_THREADS], blas_threads[TWO_THREADS], thread[TWO_THREADS];
} seen;

static void record_chunk(void *arg, int chunk, int n_chunks)
{
    seen *s = arg;
    ck_assert_int_eq(n_chunks, TWO_THREADS);
    s->calls[chunk]++;
    s->blas_threads[chunk] = openblas_get_num_threads();
    s->thread[chunk] = omp_get_thread_num();
}

START_TEST(for_runs_each_chunk_once_with_blas_single_threaded)
{
    omp_set_num_threads(TWO_THREADS);
    openblas_set_num_threads(TWO_THREADS);
    seen s = {{0}, {0}, {0}};
    lps_par_for(TWO_THREADS, record_chunk, &s);
    for (int c = 0; c < TWO_THREADS; c++) {
        ck_assert_int_eq(s.calls[c], 1);
        ck_assert_int_eq(s.blas_threads[c], 1);
        ck_assert_int_eq(s.thread[c], c);
    }
    ck_assert_int_eq(openblas_get_num_threads(), TWO_THREADS);
}
END_TEST

/* lps_par_for_phases: every chunk's first phase before any chunk's
 * second, chunk c on the same thread in both, OpenBLAS at one thread. */
typedef struct phases_seen {
    int firsts, firsts_before_then[TWO_THREADS], thread[2][TWO_THREADS];
    int blas_threads[TWO_THREADS];
} phases_seen;

static void record_first(void *arg, int chunk, int n_chunks)
{
    phases_seen *s = arg;
    ck_assert_int_eq(n_chunks, TWO_THREADS);
#pragma omp atomic
    s->firsts++;
    s->thread[0][chunk] = omp_get_thread_num();
}

static void record_then(void *arg, int chunk, int n_chunks)
{
    phases_seen *s = arg;
    (void)n_chunks;
    int firsts;
#pragma omp atomic read
    firsts = s->firsts;
    s->firsts_before_then[chunk] = firsts;
    s->thread[1][chunk] = omp_get_thread_num();
    s->blas_threads[chunk] = openblas_get_num_threads();
}

START_TEST(for_phases_runs_every_first_before_any_then)
{
    omp_set_num_threads(TWO_THREADS);
    openblas_set_num_threads(TWO_THREADS);
    for (int round = 0; round < 50; round++) {
        phases_seen s = {0, {0}, {{0}}, {0}};
        lps_par_for_phases(TWO_THREADS, record_first, record_then, &s);
        for (int c = 0; c < TWO_THREADS; c++) {
            ck_assert_int_eq(s.firsts_before_then[c], TWO_THREADS);
            ck_assert_int_eq(s.thread[0][c], c);
            ck_assert_int_eq(s.thread[1][c], c);
            ck_assert_int_eq(s.blas_threads[c], 1);
        }
    }
    ck_assert_int_eq(openblas_get_num_threads(), TWO_THREADS);
}
END_TEST

/* Values whose float sum depends on the order: finish adds the partials
 * onto dst chunk after chunk. */
START_TEST(sum_adds_partials_in_chunk_order)
{
    enum { CHUNKS = 3 };
    float dst[1] = {1.0f}, ws[CHUNKS - 1];
    const float add[CHUNKS] = {1e8f, -1e8f, 1.0f};
    ck_assert_uint_eq(lps_par_sum_floats(1, CHUNKS), CHUNKS - 1);
    lps_par_sum s = lps_par_sum_make(dst, 1, CHUNKS, ws);
    for (int c = CHUNKS - 1; c >= 0; c--) /* any run order */
        *lps_par_sum_at(&s, c) += add[c];
    lps_par_sum_finish(&s);
    float want = ((1.0f + add[0]) + add[1]) + add[2];
    ck_assert(memcmp(dst, &want, sizeof want) == 0);
    lps_par_sum none = lps_par_sum_make(NULL, 1, CHUNKS, ws);
    ck_assert_ptr_null(lps_par_sum_at(&none, 1));
    lps_par_sum_finish(&none);
}
END_TEST

/* The pieces lps_par_elements made, by the thread that ran each. */
typedef struct pieces {
    int64_t begin[TWO_THREADS], end[TWO_THREADS];
    int calls[TWO_THREADS];
} pieces;

static void record_piece(void *arg, int64_t begin, int64_t end)
{
    pieces *p = arg;
    int t = omp_get_thread_num();
    p->begin[t] = begin;
    p->end[t] = end;
    p->calls[t]++;
}

/* Above the work threshold the items are cut into one piece per thread,
 * in order, the inner boundary on a cache line; below it one piece runs
 * in the caller. */
START_TEST(elements_cut_in_aligned_pieces_above_the_threshold)
{
    /* one float moved per item: the smallest n that is cut, plus a tail */
    const int64_t big = (int64_t)(LPS_PAR_MIN_FLOPS / LPS_PAR_FLOPS_PER_FLOAT) + 7;
    omp_set_num_threads(TWO_THREADS);
    pieces p = {{0}, {0}, {0}};
    lps_par_elements(big, 1.0, record_piece, &p);
    ck_assert_int_eq(p.calls[0], 1);
    ck_assert_int_eq(p.calls[1], 1);
    ck_assert_int_eq(p.begin[0], 0);
    ck_assert_int_eq(p.end[0], p.begin[1]);
    ck_assert_int_eq(p.end[1], big);
    ck_assert_int_eq(p.begin[1] % LPS_PAR_ELEMENT_ALIGN, 0);
    ck_assert_int_lt(llabs((p.end[1] - p.begin[1]) - p.end[0]), 2 * LPS_PAR_ELEMENT_ALIGN);
    pieces q = {{0}, {0}, {0}};
    lps_par_elements(big - 16, 1.0, record_piece, &q);
    ck_assert_int_eq(q.calls[0], 1);
    ck_assert_int_eq(q.calls[1], 0);
    ck_assert_int_eq(q.end[0], big - 16);
    lps_par_elements(0, 1.0, record_piece, &q);
    ck_assert_int_eq(q.calls[0], 1);
}
END_TEST

/* Zeroing and copying at two threads, cut (above the threshold), reach
 * every element, the pieces' edges included. */
START_TEST(zero_and_copy_cover_every_element)
{
    const size_t n = (size_t)(LPS_PAR_MIN_FLOPS / LPS_PAR_FLOPS_PER_FLOAT) + 3;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    ck_assert(a && b);
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)i;
        b[i] = -1.0f;
    }
    omp_set_num_threads(TWO_THREADS);
    lps_par_copy(b, a, n);
    ck_assert(memcmp(a, b, n * sizeof *a) == 0);
    lps_par_zero(b, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(b[i] == 0.0f, "b[%zu] = %g", i, b[i]);
    free(a);
    free(b);
}
END_TEST

static bool same_bytes(const lps_tensor *a, const lps_tensor *b)
{
    if (!a || !b)
        return a == b;
    return lps_tensor_numel(a) == lps_tensor_numel(b) &&
           memcmp(a->data, b->data, (size_t)lps_tensor_numel(a) * sizeof(float)) == 0;
}

static void expect_close(const lps_tensor *a, const lps_tensor *b, const char *what)
{
    const float *x = lps_tensor_f32(a), *y = lps_tensor_f32(b);
    for (int64_t i = 0; i < lps_tensor_numel(a); i++)
        ck_assert_msg(fabs((double)x[i] - y[i]) <= PAR_SUM_ATOL + PAR_SUM_RTOL * fabs(y[i]),
                      "%s[%lld]: %g at two threads, %g at one", what, (long long)i, x[i], y[i]);
}

/* lps_par_sgemm at two threads, cut along rows (m >= n) and columns, for
 * every transpose: byte-identical across reruns and within float rounding
 * of one sgemm (whose kernels differ by size). */
START_TEST(sgemm_cut_repeats_and_matches_one_sgemm)
{
    /* each above LPS_PAR_MIN_FLOPS, so cut */
    static const int shapes[][3] = {{400, 37, 200}, {45, 400, 160}};
    omp_set_num_threads(TWO_THREADS);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
                int64_t cd[2] = {m, n};
                lps_tensor *at = test_tensor_random(2, ad, -1.0f, 1.0f, 1);
                lps_tensor *bt = test_tensor_random(2, bd, -1.0f, 1.0f, 2);
                lps_tensor *c[3];
                for (int r = 0; r < 3; r++)
                    c[r] = test_tensor_random(2, cd, -1.0f, 1.0f, 3);
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                            tb ? CblasTrans : CblasNoTrans, m, n, k, 0.5f, lps_tensor_f32(at),
                            (int)ad[1], lps_tensor_f32(bt), (int)bd[1], 1.0f,
                            lps_tensor_f32(c[0]), n);
                for (int r = 1; r < 3; r++)
                    lps_par_sgemm(ta, tb, m, n, k, 0.5f, lps_tensor_f32(at), (int)ad[1],
                                  lps_tensor_f32(bt), (int)bd[1], 1.0f, lps_tensor_f32(c[r]), n);
                ck_assert_msg(same_bytes(c[1], c[2]), "shape %zu transA %d transB %d", s, ta, tb);
                expect_close(c[1], c[0], "C");
                lps_tensor_free(at);
                lps_tensor_free(bt);
                for (int r = 0; r < 3; r++)
                    lps_tensor_free(c[r]);
            }
}
END_TEST

/* lps_par_sgemm_bias at two threads, cut along rows and columns: the
 * bytes of setting every row of C to the bias (or zeros) and then
 * lps_par_sgemm with beta 1; every element of C written. */
START_TEST(sgemm_bias_equals_fill_then_sgemm)
{
    static const int shapes[][3] = {{400, 37, 200}, {45, 400, 160}, {3, 5, 7}};
    omp_set_num_threads(TWO_THREADS);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            int64_t ad[2] = {m, k}, bd[2] = {n, k}, cd[2] = {m, n}, nd[1] = {n};
            lps_tensor *at = test_tensor_random(2, ad, -1.0f, 1.0f, 4);
            lps_tensor *bt = test_tensor_random(2, bd, -1.0f, 1.0f, 5);
            lps_tensor *bias = test_tensor_random(1, nd, -1.0f, 1.0f, 6);
            lps_tensor *want = test_tensor_random(2, cd, -1.0f, 1.0f, 7);
            lps_tensor *got = test_tensor_random(2, cd, -1.0f, 1.0f, 8);
            float *w = lps_tensor_f32(want);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    w[i * n + j] = with_bias ? lps_tensor_f32(bias)[j] : 0.0f;
            lps_par_sgemm(0, 1, m, n, k, 0.5f, lps_tensor_f32(at), k, lps_tensor_f32(bt), k, 1.0f,
                          w, n);
            lps_par_sgemm_bias(0, 1, m, n, k, 0.5f, lps_tensor_f32(at), k, lps_tensor_f32(bt), k,
                               with_bias ? lps_tensor_f32(bias) : NULL, lps_tensor_f32(got), n);
            ck_assert_msg(same_bytes(got, want), "shape %zu bias %d", s, with_bias);
            lps_tensor_free(at);
            lps_tensor_free(bt);
            lps_tensor_free(bias);
            lps_tensor_free(want);
            lps_tensor_free(got);
        }
}
END_TEST

/* lps_par_sgemm's pieces: whole panels in order covering the dimension,
 * LeNet-300-100's 300 columns cut 152/148 at two threads (whole 16-column
 * panels cut them 160/140, the caller's thread taking 53% of the work). */
START_TEST(sgemm_pieces_are_whole_panels_and_balance)
{
    static const int64_t dims[] = {300, 784, 100, 7, 1};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int chunks = 1; chunks <= 3; chunks++) {
            int64_t at = 0, widest = 0, narrowest = dims[d];
            for (int c = 0; c < chunks; c++) {
                int64_t from, to;
                lps_par_gemm_range(dims[d], c, chunks, &from, &to);
                ck_assert_int_eq(from, at);
                ck_assert(to >= from);
                ck_assert(to == dims[d] || to % LPS_PAR_GEMM_ALIGN == 0);
                widest = to - from > widest ? to - from : widest;
                narrowest = to - from < narrowest ? to - from : narrowest;
                at = to;
            }
            ck_assert_int_eq(at, dims[d]);
            /* one panel more, and the short last one */
            if (dims[d] >= chunks * LPS_PAR_GEMM_ALIGN)
                ck_assert_int_lt(widest - narrowest, 2 * LPS_PAR_GEMM_ALIGN);
        }
    int64_t from, to;
    lps_par_gemm_range(300, 0, 2, &from, &to);
    ck_assert_int_eq(to - from, 152);
}
END_TEST

/* At most this many inputs in the op cases below (BatchNormalization's). */
#define MAX_INPUTS 5

/* One op's inputs: rank and dims of each, and which get a gradient. */
typedef struct op_inputs {
    int n;
    int rank[MAX_INPUTS];
    int64_t dims[MAX_INPUTS][4];
    bool grad[MAX_INPUTS];
} op_inputs;

/* Y and the gradients of one training forward and backward of node n on
 * seeded random inputs at `threads` threads: out[0] Y, out[1 + i] input
 * i's gradient (added onto a seeded random start, so accumulation is
 * covered; NULL when not wanted). */
static void op_run(const lps_node *n, const op_inputs *io, int threads,
                   lps_tensor *out[1 + MAX_INPUTS])
{
    lps_tensor *in[MAX_INPUTS] = {NULL}, *din[MAX_INPUTS] = {NULL};
    for (int i = 0; i < io->n; i++) {
        in[i] = test_tensor_random(io->rank[i], io->dims[i], -1.0f, 1.0f, 10 + (uint64_t)i);
        if (io->grad[i])
            din[i] = test_tensor_random(io->rank[i], io->dims[i], -1.0f, 1.0f, 20 + (uint64_t)i);
    }
    omp_set_num_threads(threads);
    lps_run_options run = {.training = true, .bn_batch_stats = true};
    lps_tensor y = {0};
    lps_error err = {0};
    /* the forward's output shape, for dY */
    ck_assert_msg(test_op_forward_run(n, CONV_OPSET, &run, in, &y, 1, &err) == LPS_OK, "%s",
                  err.msg);
    lps_tensor *dy = test_tensor_random(y.rank, y.dims, -1.0f, 1.0f, 30);
    lps_tensor_release(&y);
    lps_tensor *ys = calloc(1, sizeof *ys);
    ck_assert_ptr_nonnull(ys);
    ck_assert_msg(test_op_backward(n, CONV_OPSET, &run, in, ys, 1,
                                   (const lps_tensor *const[]){dy}, din, &err) == LPS_OK,
                  "%s", err.msg);
    out[0] = ys;
    for (int i = 0; i < MAX_INPUTS; i++) {
        out[1 + i] = din[i];
        lps_tensor_free(in[i]);
    }
    lps_tensor_free(dy);
}

static void free_run(lps_tensor *out[1 + MAX_INPUTS])
{
    lps_tensor_release(out[0]);
    free(out[0]);
    for (int i = 1; i <= MAX_INPUTS; i++)
        lps_tensor_free(out[i]);
}

/* Runs n at one thread and twice at two: the two-thread runs must agree
 * byte for byte; against one thread, outputs whose bit `exact` is set
 * (bit 0 Y, bit 1 + i input i's gradient) byte for byte, the others within
 * the sum tolerance. */
static void check_threads(const lps_node *n, const op_inputs *io, unsigned exact, int c)
{
    lps_tensor *one[1 + MAX_INPUTS], *two[1 + MAX_INPUTS], *again[1 + MAX_INPUTS];
    op_run(n, io, 1, one);
    op_run(n, io, TWO_THREADS, two);
    op_run(n, io, TWO_THREADS, again);
    for (int i = 0; i <= MAX_INPUTS; i++) {
        ck_assert_msg(same_bytes(two[i], again[i]), "case %d: output %d differs across reruns",
                      c, i);
        if (exact & (1u << i))
            ck_assert_msg(same_bytes(one[i], two[i]), "case %d: output %d differs from one "
                          "thread's", c, i);
        else if (one[i])
            expect_close(two[i], one[i], "output");
    }
    free_run(one);
    free_run(two);
    free_run(again);
}

/* A Conv training case big enough to cut (lps_par_chunks) at two threads. */
typedef struct conv_case {
    int64_t x_dims[4], w_dims[4];
    int64_t stride, pad;
    bool dx; /* the first layer's dX is not wanted */
} conv_case;

static const conv_case CONV_CASES[] = {
    /* the general path: stride 2, one image per block */
    {{8, 16, 24, 24}, {16, 16, 3, 3}, 2, 1, true},
    /* unit strides, M <= C: the flip path (conv_grad_flip.c) */
    {{8, 16, 16, 16}, {8, 16, 3, 3}, 1, 1, true},
    /* small planes: several images per block, kernel cropped to live taps */
    {{64, 64, 2, 2}, {64, 64, 3, 3}, 1, 1, true},
    /* no dX wanted (a first layer): the general path's dW and dB only */
    {{8, 3, 32, 32}, {16, 3, 3, 3}, 1, 1, false},
    /* the flip path with enough weights that their flip and unflip are
     * cut over the threads too (ResNet-18's third stage) */
    {{8, 256, 4, 4}, {256, 256, 3, 3}, 1, 1, true},
    /* a 1x1 plane (ResNet-18's last stage at 32x32): only the centre taps
     * are live, and their gather and add-back are cut over the threads */
    {{8, 512, 1, 1}, {512, 512, 3, 3}, 1, 1, true},
};

/* Y and dX equal one thread's where the packed kernel computes them (each
 * image alone, each sum in k order at any block width); dW and dB are sums
 * over the batch added per chunk. On a CPU without the kernel (AVX2 only,
 * the eleventh round's AMD Zen 1) OpenBLAS computes Y and dX too, whose
 * edge tiles round by the block's width, which the thread count sets
 * (docs/architecture.md, "Training GEMMs"): there they match within the sum
 * tolerance, and reruns stay byte-identical. */
#define CONV_EXACT 0x3u

static unsigned conv_exact_outputs(void)
{
    return lps_packed_gemm_available() ? CONV_EXACT : 0x0u;
}

START_TEST(conv_two_threads_repeat_and_match_one)
{
    const conv_case *c = &CONV_CASES[_i];
    op_inputs io = {.n = 3, .rank = {4, 4, 1}, .grad = {c->dx, true, true}};
    memcpy(io.dims[0], c->x_dims, sizeof c->x_dims);
    memcpy(io.dims[1], c->w_dims, sizeof c->w_dims);
    io.dims[2][0] = c->w_dims[0];
    lps_node *n = test_node_new("Conv", 3, 1);
    int64_t strides[2] = {c->stride, c->stride}, pads[4] = {c->pad, c->pad, c->pad, c->pad};
    test_node_attr_ints(n, "strides", strides, 2);
    test_node_attr_ints(n, "pads", pads, 4);
    check_threads(n, &io, conv_exact_outputs(), _i);
    test_node_free(n);
}
END_TEST

/* One image, too few to cut the batch: its forward GEMM is cut over the
 * threads instead (lps_par_sgemm, by columns of Y's [64, 256]), which
 * rounds as its pieces do; reruns stay byte-identical. */
START_TEST(conv_one_image_cuts_its_gemm)
{
    op_inputs io = {.n = 3, .rank = {4, 4, 1}, .grad = {true, true, true},
                    .dims = {{1, 32, 16, 16}, {64, 32, 3, 3}, {64}}};
    lps_node *n = test_node_new("Conv", 3, 1);
    test_node_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    check_threads(n, &io, 0x0u, 0);
    test_node_free(n);
}
END_TEST

/* MatMul cases: a Linear over a batch (B without batch dims: one cut
 * GEMM), attention-style batched products (each batch index its own
 * GEMM, on chunks of indices), and a broadcast A (its gradient sums over
 * the batch, kept in order on one thread). */
static const op_inputs MATMUL_CASES[] = {
    {2, {3, 2}, {{4, 64, 128}, {128, 96}}, {true, true}},
    {2, {3, 3}, {{256, 28, 16}, {256, 16, 28}}, {true, true}},
    {2, {3, 3}, {{1, 28, 16}, {256, 16, 28}}, {true, true}},
};
/* Which outputs equal one thread's byte for byte: the batched products
 * are the same GEMM per index wherever it runs; the cut GEMM rounds as
 * its pieces do. */
static const unsigned MATMUL_EXACT[] = {0x0u, 0x7u, 0x7u};

START_TEST(matmul_two_threads_repeat_and_match_one)
{
    lps_node *n = test_node_new("MatMul", 2, 1);
    check_threads(n, &MATMUL_CASES[_i], MATMUL_EXACT[_i], _i);
    test_node_free(n);
}
END_TEST

/* Gemm with transB (a Linear's export) and with transA, C broadcast. */
START_TEST(gemm_two_threads_repeat_and_match_one)
{
    op_inputs io = {3, {2, 2, 1}, {{64, 784}, {300, 784}, {300}}, {true, true, true}};
    lps_node *n = test_node_new("Gemm", 3, 1);
    if (_i == 0) {
        test_node_attr_int(n, "transB", 1);
    } else {
        io.dims[0][0] = 784;
        io.dims[0][1] = 64;
        io.dims[1][0] = 784;
        io.dims[1][1] = 300;
        test_node_attr_int(n, "transA", 1);
    }
    check_threads(n, &io, 0x0u, _i);
    test_node_free(n);
}
END_TEST

/* The sparsifier's training-only BatchNorm over [N, C] (inner 1) at
 * LeNet-300-100's fc1 shape, cut over the threads in runs of 8 channels
 * (152/148, inside a 64-channel block): each channel is computed alone, so
 * Y and every gradient equal one thread's byte for byte. */
START_TEST(batchnorm_rows_two_threads_repeat_and_match_one)
{
    op_inputs io = {5, {2, 1, 1, 1, 1}, {{128, 300}, {300}, {300}, {300}, {300}},
                    {true, true, true, false, false}};
    lps_node *n = test_node_new("BatchNormalization", 5, 1);
    check_threads(n, &io, 0xfu, 0);
    test_node_free(n);
}
END_TEST

/* Add and Sub big enough to cut (lps_par_elements): equal shapes (a
 * residual join: one row, and both gradients in one pass) and a
 * per-channel operand (rows of the broadcast). Element-wise, so every
 * output equals one thread's byte for byte. */
static const op_inputs SUM_CASES[] = {
    {2, {4, 4}, {{16, 32, 28, 28}, {16, 32, 28, 28}}, {true, true}},
    {2, {4, 3}, {{16, 32, 28, 28}, {32, 1, 1}}, {true, true}},
};
#define ALL_EXACT 0x7u

START_TEST(add_sub_two_threads_repeat_and_match_one)
{
    for (int op = 0; op < 2; op++) {
        lps_node *n = test_node_new(op ? "Sub" : "Add", 2, 1);
        check_threads(n, &SUM_CASES[_i], ALL_EXACT, _i);
        test_node_free(n);
    }
}
END_TEST

/* Fills a fresh array of n floats from a fixed seed. */
static float *random_floats(int64_t n, uint64_t seed)
{
    lps_tensor *t = test_tensor_random(1, &n, -1.0f, 1.0f, seed);
    float *x = malloc((size_t)n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    memcpy(x, t->data, (size_t)n * sizeof *x);
    lps_tensor_free(t);
    return x;
}

/* The SGD step (Nesterov momentum and L2 decay) on enough weights to cut:
 * the weights and the momentum equal one thread's byte for byte. */
START_TEST(sgd_two_threads_repeat_and_match_one)
{
    const int64_t n = (int64_t)(LPS_PAR_MIN_FLOPS / LPS_PAR_FLOPS_PER_FLOAT) + 5;
    const lps_sgd_config cfg = {.momentum = 0.9f, .nesterov = true, .weight_decay = 1e-4f,
                                .wd_mode = LPS_WD_COUPLED_L2};
    float *g = random_floats(n, 1), *w[3], *m[3];
    for (int r = 0; r < 3; r++) {
        w[r] = random_floats(n, 2);
        m[r] = random_floats(n, 3);
        omp_set_num_threads(r == 0 ? 1 : TWO_THREADS);
        lps_sgd_step(&cfg, 0.1f, n, w[r], g, m[r]);
    }
    for (int r = 1; r < 3; r++) {
        ck_assert(memcmp(w[r], w[0], (size_t)n * sizeof *g) == 0);
        ck_assert(memcmp(m[r], m[0], (size_t)n * sizeof *g) == 0);
    }
    for (int r = 0; r < 3; r++) {
        free(w[r]);
        free(m[r]);
    }
    free(g);
}
END_TEST

/* The clearing step (lps_sgd_step_clear) on two threads: for every kind
 * of update the same weights and momentum as lps_sgd_step byte for byte,
 * g zeroed, true; and false when one weight, in the second thread's
 * piece, overflows to Inf (the flag is the OR over the pieces). */
START_TEST(sgd_clear_matches_step_and_flags_nonfinite)
{
    const int64_t n = (int64_t)(LPS_PAR_MIN_FLOPS / LPS_PAR_FLOPS_PER_FLOAT) + 5;
    const lps_sgd_config cfgs[] = {
        {.momentum = 0.0f, .weight_decay = 1e-4f, .wd_mode = LPS_WD_COUPLED_L2},
        {.momentum = 0.9f, .weight_decay = 1e-4f, .wd_mode = LPS_WD_DECOUPLED},
        {.momentum = 0.9f, .nesterov = true, .weight_decay = 1e-4f,
         .wd_mode = LPS_WD_COUPLED_L2}};
    omp_set_num_threads(TWO_THREADS);
    for (size_t c = 0; c < TEST_COUNT(cfgs); c++) {
        float *g = random_floats(n, 1), *g_clear = random_floats(n, 1);
        float *w = random_floats(n, 2), *w_clear = random_floats(n, 2);
        float *m = random_floats(n, 3), *m_clear = random_floats(n, 3);
        lps_sgd_step(&cfgs[c], 0.1f, n, w, g, m);
        ck_assert(lps_sgd_step_clear(&cfgs[c], 0.1f, n, w_clear, g_clear, m_clear));
        ck_assert(memcmp(w_clear, w, (size_t)n * sizeof *w) == 0);
        ck_assert(memcmp(m_clear, m, (size_t)n * sizeof *m) == 0);
        for (int64_t i = 0; i < n; i++)
            ck_assert(g_clear[i] == 0.0f);
        g_clear[n - 2] = -FLT_MAX;
        w_clear[n - 2] = FLT_MAX;
        ck_assert(!lps_sgd_step_clear(&cfgs[c], 1.0f, n, w_clear, g_clear, m_clear));
        ck_assert(isinf(w_clear[n - 2]) && g_clear[n - 2] == 0.0f);
        free(g);
        free(g_clear);
        free(w);
        free(w_clear);
        free(m);
        free(m_clear);
    }
}
END_TEST

/* The test binary run as a child with this argument applies the default
 * runtime environment, then prints libgomp's view of its wait policy
 * (omp_display_env) and the core OpenBLAS runs (BLAS_CORE_LINE). */
#define WAIT_CHILD_ARG "--show-wait-policy"
/* what libgomp prints for PASSIVE: no spinning before a worker sleeps (its
 * default, with the variable unset, is 300000) */
#define PASSIVE_SPIN "GOMP_SPINCOUNT = '0'"
#define CHILD_OUTPUT_MAX 16384
#define BLAS_CORE_LINE "blas core: %s\n"
#define BLAS_CORE_NAME_MAX 64

START_TEST(blas_core_upgrade_replaces_only_cores_without_avx2)
{
    ck_assert_str_eq(lps_blas_core_upgrade("Prescott", LPS_VECTORS_AVX512), "SkylakeX");
    ck_assert_str_eq(lps_blas_core_upgrade("PRESCOTT", LPS_VECTORS_AVX2), "Haswell");
    ck_assert_str_eq(lps_blas_core_upgrade("Sandybridge", LPS_VECTORS_AVX2), "Haswell");
    ck_assert_ptr_null(lps_blas_core_upgrade("Prescott", LPS_VECTORS_NARROW));
    ck_assert_ptr_null(lps_blas_core_upgrade("Haswell", LPS_VECTORS_AVX512));
    ck_assert_ptr_null(lps_blas_core_upgrade("Zen", LPS_VECTORS_AVX512));
    ck_assert_ptr_null(lps_blas_core_upgrade("SkylakeX", LPS_VECTORS_AVX512));
    ck_assert_ptr_null(lps_blas_core_upgrade("NeoverseN1", LPS_VECTORS_AVX512));
    ck_assert_ptr_null(lps_blas_core_upgrade(NULL, LPS_VECTORS_AVX512));
    lps_vector_width width = LPS_VECTORS_NARROW;
    ck_assert(lps_blas_core_width("skylakex", &width) && width == LPS_VECTORS_AVX512);
    ck_assert(!lps_blas_core_width("NeoverseN1", &width) && width == LPS_VECTORS_AVX512);
}
END_TEST

/* With OMP_WAIT_POLICY unset the program re-executes itself with PASSIVE,
 * which libgomp only honours when it is set before it loads. */
START_TEST(default_env_reaches_openmp_and_openblas)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        unsetenv(LPS_PAR_WAIT_ENV);
        unsetenv(LPS_BLAS_CORE_ENV);
        execl("/proc/self/exe", "test_par", WAIT_CHILD_ARG, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    static char out[CHILD_OUTPUT_MAX];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof out - 1 && (got = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_msg(strstr(out, PASSIVE_SPIN), "libgomp's settings: %s", out);
    /* this process loaded OpenBLAS with the variable as the suite has it */
    if (!getenv(LPS_BLAS_CORE_ENV)) {
        const char *own = openblas_get_corename();
        const char *upgrade = lps_blas_core_upgrade(own, lps_cpu_vector_width());
        char expected[BLAS_CORE_NAME_MAX + sizeof BLAS_CORE_LINE];
        snprintf(expected, sizeof expected, BLAS_CORE_LINE, upgrade ? upgrade : own);
        ck_assert_msg(strcasestr(out, expected), "wanted %s in: %s", expected, out);
    }
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], WAIT_CHILD_ARG) == 0) {
        lps_default_runtime_env(argv);
        omp_display_env(1);
        fprintf(stderr, BLAS_CORE_LINE, openblas_get_corename());
        return 0;
    }
    const test_entry tests[] = {
        {"policy", ranges_cover_in_order_and_balance, 1},
        {"policy", chunks_follow_threads_work_and_items, 1},
        {"policy", for_runs_each_chunk_once_with_blas_single_threaded, 1},
        {"policy", for_phases_runs_every_first_before_any_then, 1},
        {"policy", sum_adds_partials_in_chunk_order, 1},
        {"policy", default_env_reaches_openmp_and_openblas, 1},
        {"policy", blas_core_upgrade_replaces_only_cores_without_avx2, 1},
        {"gemm", sgemm_cut_repeats_and_matches_one_sgemm, 1},
        {"gemm", sgemm_pieces_are_whole_panels_and_balance, 1},
        {"gemm", sgemm_bias_equals_fill_then_sgemm, 1},
        {"conv", conv_two_threads_repeat_and_match_one, (int)TEST_COUNT(CONV_CASES)},
        {"conv", conv_one_image_cuts_its_gemm, 1},
        {"gemm", matmul_two_threads_repeat_and_match_one, (int)TEST_COUNT(MATMUL_CASES)},
        {"gemm", gemm_two_threads_repeat_and_match_one, 2},
        {"elementwise", batchnorm_rows_two_threads_repeat_and_match_one, 1},
        {"policy", elements_cut_in_aligned_pieces_above_the_threshold, 1},
        {"policy", zero_and_copy_cover_every_element, 1},
        {"elementwise", add_sub_two_threads_repeat_and_match_one, (int)TEST_COUNT(SUM_CASES)},
        {"elementwise", sgd_two_threads_repeat_and_match_one, 1},
        {"elementwise", sgd_clear_matches_step_and_flags_nonfinite, 1},
    };
    return test_run_table("par", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
