/* Thread-level parallelism (src/core/par.h): the chunk policy, chunk
 * ranges, the fixed-order partial sums, the cut sgemm against one sgemm,
 * and Conv's chunked passes at two threads: byte-identical across reruns,
 * and equal to one thread's (Y and dX exactly, dW and dB, whose sums over
 * the batch are added per chunk, within PAR_SUM_RTOL). */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

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
    static const int shapes[][3] = {{200, 37, 150}, {45, 300, 129}};
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

/* A Conv training case big enough to cut (lps_par_chunks) at two threads. */
typedef struct conv_case {
    int64_t x_dims[4], w_dims[4];
    int64_t stride, pad;
    bool dx; /* the first layer's dX is not wanted */
} conv_case;

enum { CONV_X, CONV_W, CONV_B, CONV_INPUTS };

/* Y and the gradients of one training forward and backward of c at
 * `threads` threads: out[0] Y, out[1 + i] input i's gradient (added onto
 * a seeded random start, so accumulation is covered). */
static void conv_run(const conv_case *c, int threads, lps_tensor *out[1 + CONV_INPUTS])
{
    int64_t b_dims[1] = {c->w_dims[0]};
    const int64_t *dims[CONV_INPUTS] = {c->x_dims, c->w_dims, b_dims};
    int ranks[CONV_INPUTS] = {4, 4, 1};
    lps_node *n = test_node_new("Conv", CONV_INPUTS, 1);
    int64_t strides[2] = {c->stride, c->stride}, pads[4] = {c->pad, c->pad, c->pad, c->pad};
    test_node_attr_ints(n, "strides", strides, 2);
    test_node_attr_ints(n, "pads", pads, 4);
    lps_tensor *in[CONV_INPUTS], *din[CONV_INPUTS];
    for (int i = 0; i < CONV_INPUTS; i++) {
        in[i] = test_tensor_random(ranks[i], dims[i], -1.0f, 1.0f, 10 + (uint64_t)i);
        din[i] = test_tensor_random(ranks[i], dims[i], -1.0f, 1.0f, 20 + (uint64_t)i);
    }
    if (!c->dx) {
        lps_tensor_free(din[CONV_X]);
        din[CONV_X] = NULL;
    }
    omp_set_num_threads(threads);
    lps_run_options run = {.training = true, .bn_batch_stats = true};
    lps_tensor y = {0};
    lps_error err = {0};
    /* the forward's output shape, for dY */
    ck_assert_int_eq(test_op_forward_run(n, CONV_OPSET, &run, in, &y, 1, &err), LPS_OK);
    lps_tensor *dy = test_tensor_random(y.rank, y.dims, -1.0f, 1.0f, 30);
    lps_tensor_release(&y);
    lps_tensor *ys = calloc(1, sizeof *ys);
    ck_assert_ptr_nonnull(ys);
    ck_assert_msg(test_op_backward(n, CONV_OPSET, &run, in, ys, 1,
                                   (const lps_tensor *const[]){dy}, din, &err) == LPS_OK,
                  "%s", err.msg);
    out[0] = ys;
    for (int i = 0; i < CONV_INPUTS; i++) {
        out[1 + i] = din[i];
        lps_tensor_free(in[i]);
    }
    lps_tensor_free(dy);
    test_node_free(n);
}

static void free_run(lps_tensor *out[1 + CONV_INPUTS])
{
    lps_tensor_release(out[0]);
    free(out[0]);
    for (int i = 1; i <= CONV_INPUTS; i++)
        lps_tensor_free(out[i]);
}

static const conv_case CONV_CASES[] = {
    /* the general path: stride 2, one image per block */
    {{8, 16, 24, 24}, {16, 16, 3, 3}, 2, 1, true},
    /* unit strides, M <= C: the flip path (conv_grad_flip.c) */
    {{8, 16, 16, 16}, {8, 16, 3, 3}, 1, 1, true},
    /* small planes: several images per block, kernel cropped to live taps */
    {{64, 64, 2, 2}, {64, 64, 3, 3}, 1, 1, true},
    /* no dX wanted (a first layer): the general path's dW and dB only */
    {{8, 3, 32, 32}, {16, 3, 3, 3}, 1, 1, false},
};

START_TEST(conv_two_threads_repeat_and_match_one)
{
    const conv_case *c = &CONV_CASES[_i];
    lps_tensor *one[1 + CONV_INPUTS], *two[1 + CONV_INPUTS], *again[1 + CONV_INPUTS];
    conv_run(c, 1, one);
    conv_run(c, TWO_THREADS, two);
    conv_run(c, TWO_THREADS, again);
    for (int i = 0; i <= CONV_INPUTS; i++)
        ck_assert_msg(same_bytes(two[i], again[i]), "case %d: output %d differs across reruns",
                      _i, i);
    ck_assert_msg(same_bytes(one[0], two[0]), "case %d: Y differs from one thread's", _i);
    ck_assert_msg(same_bytes(one[1 + CONV_X], two[1 + CONV_X]),
                  "case %d: dX differs from one thread's", _i);
    expect_close(two[1 + CONV_W], one[1 + CONV_W], "dW");
    expect_close(two[1 + CONV_B], one[1 + CONV_B], "dB");
    free_run(one);
    free_run(two);
    free_run(again);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"policy", ranges_cover_in_order_and_balance, 1},
        {"policy", chunks_follow_threads_work_and_items, 1},
        {"policy", for_runs_each_chunk_once_with_blas_single_threaded, 1},
        {"policy", sum_adds_partials_in_chunk_order, 1},
        {"gemm", sgemm_cut_repeats_and_matches_one_sgemm, 1},
        {"conv", conv_two_threads_repeat_and_match_one, (int)TEST_COUNT(CONV_CASES)},
    };
    return test_run_table("par", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
