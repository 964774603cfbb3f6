/* The packed-B product (src/ops/packed_gemm.h) and the inference paths
 * that use it (docs/architecture.md, "Packed weights"): the kernel against
 * a double reference over tile and panel remainders, k passes, A read by
 * rows or down its columns, bias or none, row-major and scattered outputs,
 * byte-identical at one and two threads, Relu and Clip applied in its
 * stores as their own forwards would; Gemm with a constant B and Conv
 * with a constant W in an inference plan keep the packed weights in their
 * node's cache and match direct sums. Each kernel the CPU has (AVX2 and
 * FMA, AVX-512) is tested, and the two give the same bytes; on a CPU with
 * neither the path is off and the tests check only that the callers fall
 * back. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "lpsparsify/engine.h"
#include "ops/packed_gemm.h"
#include "test_node.h"
#include "test_suite.h"

#define SEED_A 31
#define SEED_B 32
#define SEED_BIAS 33
#define SEED_X 34
/* |got - want| allowed per unit of sum |a_ip b_pj| (float rounding over
 * sums of up to ~600 terms) */
#define REL_TOL 1e-5
#define TWO_THREADS 2
#define OPSET 13
/* A clamp range that cuts both ends of products of [-1, 1) values. */
#define RANGE_LO (-0.25f)
#define RANGE_HI 0.5f

static const lps_clamp NO_ACT = {LPS_CLAMP_NONE, 0.0f, 0.0f};

/* One product: shapes, A by rows (row stride k) or down its columns, an
 * NCHW-style scattered C (rows in groups of `group` positions), bias. */
typedef struct product_case {
    int64_t m, n, k;
    bool a_by_columns, scatter, bias;
    int64_t group;
} product_case;

static const product_case CASES[] = {
    {1, 1, 1, false, false, false, 1},
    /* fewer rows than LPS_PACKED_MIN_ROWS: one row across several panels,
     * runs of them cut, by rows and scattered, A both ways */
    {1, 300, 200, false, false, true, 1},
    {3, 230, 70, true, false, true, 1},
    {2, 100, 45, false, true, true, 2},
    {4, 10, 7, false, false, true, 1},
    {12, 32, 256, false, false, true, 1},
    {13, 33, 257, false, false, false, 1},
    {25, 70, 300, true, false, true, 1},
    {11, 17, 513, true, true, true, 5},
    {36, 16, 0, false, false, true, 1},
    {40, 48, 600, true, true, false, 4},
    {128, 100, 64, false, false, true, 1},
    {7, 64, 1, true, true, true, 7},
    /* above LPS_PAR_MIN_FLOPS: two threads cut panels, then row tiles */
    {30, 300, 200, false, false, true, 1},
    {100, 40, 300, true, true, true, 10},
    /* packed B over GROUP_BYTES (1 MiB): k in slabs, sums between them in
     * C (row-major, and scattered: reloaded by gathers); at two threads
     * each chunk's panels fit and take all of k at once */
    {30, 300, 1000, false, false, true, 1},
    {50, 100, 2600, true, true, true, 10},
};

/* A fresh array of n floats in [-1, 1) from seed. */
static float *random_floats(int64_t n, uint64_t seed)
{
    int64_t dims[] = {n > 0 ? n : 1};
    lps_tensor *t = test_tensor_random(1, dims, -1, 1, seed);
    float *v = malloc((size_t)dims[0] * sizeof *v);
    ck_assert_ptr_nonnull(v);
    memcpy(v, lps_tensor_f32(t), (size_t)dims[0] * sizeof *v);
    lps_tensor_free(t);
    return v;
}

/* The kernels lps_packed_gemm_on takes, narrowest first. */
static const lps_vector_width KERNELS[] = {LPS_VECTORS_AVX2, LPS_VECTORS_AVX512};

/* The product of case c on the kernel of `width` at the current OpenMP
 * thread count, each element through act, into a fresh [m, n] row-major
 * array (gathered back from the scatter layout). */
static float *packed_product(lps_vector_width width, const product_case *c, const float *a,
                             const float *b, const float *bias, lps_clamp act)
{
    float *packed = malloc((lps_packed_b_floats(c->k, c->n) + 1) * sizeof *packed);
    size_t cn = (size_t)(c->m * c->n);
    /* the scatter layout fills whole groups of rows */
    size_t stored = (size_t)((c->m + c->group - 1) / c->group * c->group * c->n);
    float *out = malloc((stored + 1) * sizeof *out), *flat = malloc((cn + 1) * sizeof *flat);
    ck_assert(packed && out && flat);
    lps_packed_b_pack(b, c->k, true, c->k, c->n, 1.0f, packed);
    lps_packed_a pa = c->a_by_columns ? (lps_packed_a){a, 1, c->m} : (lps_packed_a){a, c->k, 1};
    lps_packed_out po = c->scatter ? (lps_packed_out){out, c->group, c->n * c->group, 1, c->group}
                                   : (lps_packed_out){out, c->m, 0, c->n, 1};
    memset(out, 0, (stored + 1) * sizeof *out);
    if (width == lps_packed_gemm_width() && act.kind == LPS_CLAMP_NONE)
        lps_packed_gemm(c->m, c->n, c->k, pa, packed, bias, po);
    else
        lps_packed_gemm_on(width, c->m, c->n, c->k, pa, packed, bias, po, act);
    for (int64_t i = 0; i < c->m; i++)
        for (int64_t j = 0; j < c->n; j++)
            flat[i * c->n + j] =
                c->scatter ? out[(i / c->group) * c->n * c->group + j * c->group + i % c->group]
                           : out[i * c->n + j];
    free(out);
    free(packed);
    return flat;
}

/* Each kernel's product of case c within the sum tolerance of double
 * sums and, bit for bit, the chain of fused multiply-adds in k order from
 * the bias the contract names: the same bytes at one and two threads and
 * on every kernel. */
START_TEST(kernel_matches_reference_at_any_thread_count)
{
    const product_case *c = &CASES[_i];
    /* B stored [n, k] (transposed, as Gemm's transB and Conv's W) */
    float *a = random_floats(c->m * c->k, SEED_A), *b = random_floats(c->n * c->k, SEED_B);
    float *bias = c->bias ? random_floats(c->n, SEED_BIAS) : NULL;
    float *first = NULL;
    size_t bytes = (size_t)(c->m * c->n) * sizeof *first;
    for (size_t kn = 0; kn < TEST_COUNT(KERNELS) && KERNELS[kn] <= lps_packed_gemm_width(); kn++) {
        omp_set_num_threads(1);
        float *one = packed_product(KERNELS[kn], c, a, b, bias, NO_ACT);
        omp_set_num_threads(TWO_THREADS);
        float *two = packed_product(KERNELS[kn], c, a, b, bias, NO_ACT);
        omp_set_num_threads(1);
        ck_assert_msg(memcmp(one, two, bytes) == 0, "case %d, kernel %d: two threads differ from one",
                      _i, (int)kn);
        ck_assert_msg(!first || memcmp(one, first, bytes) == 0,
                      "case %d: kernel %d differs from kernel 0", _i, (int)kn);
        for (int64_t i = 0; i < c->m; i++)
            for (int64_t j = 0; j < c->n; j++) {
                double want = bias ? bias[j] : 0.0, scale = fabs(want);
                float chain = bias ? bias[j] : 0.0f;
                for (int64_t p = 0; p < c->k; p++) {
                    float ai = c->a_by_columns ? a[p * c->m + i] : a[i * c->k + p];
                    want += (double)ai * b[j * c->k + p];
                    scale += fabs((double)ai * b[j * c->k + p]);
                    chain = fmaf(ai, b[j * c->k + p], chain);
                }
                float got = one[i * c->n + j];
                ck_assert_msg(fabs(got - want) <= REL_TOL * (scale + 1.0),
                              "case %d, kernel %d: C[%lld, %lld] = %g, expected %g", _i, (int)kn,
                              (long long)i, (long long)j, got, want);
                ck_assert_msg(memcmp(&got, &chain, sizeof got) == 0,
                              "case %d, kernel %d: C[%lld, %lld] = %a, not the multiply-add chain's %a",
                              _i, (int)kn, (long long)i, (long long)j, got, chain);
            }
        free(two);
        if (first)
            free(one);
        else
            first = one;
    }
    free(first);
    free(a);
    free(b);
    free(bias);
}
END_TEST

/* Relu's and Clip's forward (activation.c) one element at a time. */
static float scalar_clamp(lps_clamp act, float v)
{
    if (act.kind == LPS_CLAMP_RELU)
        return v > 0.0f ? v : 0.0f;
    v = v < act.lo ? act.lo : v;
    return v > act.hi ? act.hi : v;
}

/* The activation applied in the kernel's stores gives the activation's own
 * forward on the plain product, bit for bit: a NaN (from a NaN bias) and
 * -0 (a -0 bias over an empty sum) included. */
START_TEST(kernel_applies_activation_in_its_stores)
{
    const product_case *c = &CASES[_i];
    float *a = random_floats(c->m * c->k, SEED_A), *b = random_floats(c->n * c->k, SEED_B);
    float *bias = random_floats(c->n, SEED_BIAS);
    bias[0] = NAN;
    bias[c->n - 1] = c->n > 1 ? -0.0f : bias[0];
    const lps_clamp acts[] = {{LPS_CLAMP_RELU, 0.0f, 0.0f},
                              {LPS_CLAMP_RANGE, RANGE_LO, RANGE_HI}};
    for (size_t kn = 0; kn < TEST_COUNT(KERNELS) && KERNELS[kn] <= lps_packed_gemm_width(); kn++) {
        float *plain = packed_product(KERNELS[kn], c, a, b, bias, NO_ACT);
        for (size_t t = 0; t < TEST_COUNT(acts); t++) {
            float *got = packed_product(KERNELS[kn], c, a, b, bias, acts[t]);
            for (int64_t e = 0; e < c->m * c->n; e++) {
                float want = scalar_clamp(acts[t], plain[e]);
                ck_assert_msg(memcmp(&got[e], &want, sizeof want) == 0,
                              "case %d, kernel %d, clamp %d: element %lld is %g, expected %g", _i,
                              (int)kn, (int)t, (long long)e, got[e], want);
            }
            free(got);
        }
        free(plain);
    }
    free(a);
    free(b);
    free(bias);
}
END_TEST

/* Panels of LPS_PACKED_NR columns, k rows each, zero past n; B stored
 * either way packs the same. */
START_TEST(pack_lays_out_panels)
{
    enum { K = 3, N = 40 };
    float b[K * N], bt[N * K];
    for (int r = 0; r < K; r++)
        for (int j = 0; j < N; j++)
            bt[j * K + r] = b[r * N + j] = (float)(r * N + j + 1);
    size_t floats = lps_packed_b_floats(K, N);
    ck_assert_uint_eq(floats, 2 * K * LPS_PACKED_NR);
    float *p = malloc(floats * sizeof *p), *pt = malloc(floats * sizeof *pt);
    ck_assert(p && pt);
    lps_packed_b_pack(b, N, false, K, N, 2.0f, p);
    lps_packed_b_pack(bt, K, true, K, N, 2.0f, pt);
    ck_assert(memcmp(p, pt, floats * sizeof *p) == 0);
    for (int panel = 0; panel < 2; panel++)
        for (int r = 0; r < K; r++)
            for (int c = 0; c < LPS_PACKED_NR; c++) {
                int j = panel * LPS_PACKED_NR + c;
                float want = j < N ? 2.0f * b[r * N + j] : 0.0f;
                ck_assert(p[(panel * K + r) * LPS_PACKED_NR + c] == want);
            }
    free(p);
    free(pt);
}
END_TEST

/* Runs m's inference plan on x, returns a copy of output 0 (numel floats)
 * and the cache size its product node holds after the forward. */
static float *run_inference(const lps_model *m, const lps_tensor *x, size_t numel,
                            size_t *cache_floats)
{
    lps_error err = {0};
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
    float *y = malloc(numel * sizeof *y);
    ck_assert_ptr_nonnull(y);
    memcpy(y, lps_tensor_f32(lps_plan_output(p, 0)), numel * sizeof *y);
    *cache_floats = test_plan_fused_node(p)->cache.n;
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    return y;
}

/* y [rows, out] is x [rows, in] W^T + b (W [out, in], b NULL: none),
 * through Relu when `relu`, within the sum tolerance of direct sums. */
static void expect_rows_product(const float *y, const float *x, const float *w, const float *b,
                                int rows, int in, int out, bool relu)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < out; j++) {
            double want = b ? b[j] : 0.0, scale = fabs(want);
            for (int p = 0; p < in; p++) {
                want += (double)x[i * in + p] * w[j * in + p];
                scale += fabs((double)x[i * in + p] * w[j * in + p]);
            }
            want = relu && !(want > 0) ? 0 : want;
            ck_assert_msg(fabs(y[i * out + j] - want) <= REL_TOL * (scale + 1.0),
                          "y[%d, %d] = %g, expected %g", i, j, y[i * out + j], want);
        }
}

/* Y = Relu(X W^T + b), W [OUT, IN] and b [OUT] constants: packed once,
 * equal to direct sums. */
START_TEST(gemm_with_constant_weight_packs_it)
{
    enum { BATCH = 20, IN = 300, OUT = 70 };
    lps_model *m = test_model_new(OPSET, "x", IN, "y");
    int64_t w_dims[] = {OUT, IN}, b_dims[] = {OUT};
    test_model_add_random_init(m, "w", 2, w_dims, SEED_B);
    test_model_add_random_init(m, "b", 1, b_dims, SEED_BIAS);
    lps_node *g = test_node_with_io("Gemm", "fc", 3, (const char *const[]){"x", "w", "b"}, "pre");
    test_node_attr_int(g, "transB", 1);
    test_model_add_node(m, g);
    test_model_add_node(m, test_node_with_io("Relu", "act", 1, (const char *const[]){"pre"}, "y"));
    int64_t x_dims[] = {BATCH, IN};
    lps_tensor *x = test_tensor_random(2, x_dims, -1, 1, SEED_X);
    size_t cache = 0;
    float *y = run_inference(m, x, BATCH * OUT, &cache);
    ck_assert_uint_eq(cache, lps_packed_forward_available() ? lps_packed_b_floats(IN, OUT) : 0);
    const float *w = test_model_init_data(m, "w"), *b = test_model_init_data(m, "b"),
                *xv = lps_tensor_f32(x);
    expect_rows_product(y, xv, w, b, BATCH, IN, OUT, true);
    free(y);
    lps_tensor_free(x);
    lps_model_free(m);
}
END_TEST

/* A 3x3 conv, pads 1, of CONV_IN -> CONV_OUT channels and a Clip to
 * [RANGE_LO, RANGE_HI] (fused, applied in the kernel's stores) at two
 * planes: 5x6 (NCHW output, 288-row sums: packed, scattered into Y) and
 * 1x1 (one position per image, cropped to the centre tap: packed with the
 * live taps behind the panels), each against clamped direct sums. */
#define CONV_IN 32
#define CONV_OUT 20
#define CONV_K 3

static double conv_reference(const lps_model *m, const float *x, int64_t h, int64_t wd, int64_t n,
                             int64_t oc, int64_t oh, int64_t ow, double *scale)
{
    const float *w = test_model_init_data(m, "w"), *b = test_model_init_data(m, "b");
    double sum = b[oc];
    *scale = fabs(sum);
    for (int64_t c = 0; c < CONV_IN; c++)
        for (int64_t kh = 0; kh < CONV_K; kh++)
            for (int64_t kw = 0; kw < CONV_K; kw++) {
                int64_t ih = oh + kh - 1, iw = ow + kw - 1;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd)
                    continue;
                double t = (double)w[((oc * CONV_IN + c) * CONV_K + kh) * CONV_K + kw] *
                           x[((n * CONV_IN + c) * h + ih) * wd + iw];
                sum += t;
                *scale += fabs(t);
            }
    return sum;
}

START_TEST(conv_with_constant_weight_packs_it)
{
    static const int64_t planes[][3] = {{3, 5, 6}, {5, 1, 1}};
    const int64_t *pl = planes[_i];
    lps_model *m = test_model_new(OPSET, "x", CONV_IN, "y");
    m->graph.inputs[0].rank = -1;
    int64_t w_dims[] = {CONV_OUT, CONV_IN, CONV_K, CONV_K}, b_dims[] = {CONV_OUT};
    test_model_add_random_init(m, "w", 4, w_dims, SEED_B);
    test_model_add_random_init(m, "b", 1, b_dims, SEED_BIAS);
    lps_node *conv =
        test_node_with_io("Conv", "conv", 3, (const char *const[]){"x", "w", "b"}, "pre");
    test_node_attr_ints(conv, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    test_node_attr_ints(conv, "kernel_shape", (const int64_t[]){CONV_K, CONV_K}, 2);
    test_model_add_node(m, conv);
    float lo = RANGE_LO, hi = RANGE_HI;
    test_model_add_init(m, "lo", test_tensor_from(LPS_DT_FLOAT, 0, NULL, &lo));
    test_model_add_init(m, "hi", test_tensor_from(LPS_DT_FLOAT, 0, NULL, &hi));
    test_model_add_node(
        m, test_node_with_io("Clip", "act", 3, (const char *const[]){"pre", "lo", "hi"}, "y"));
    int64_t batch = pl[0], h = pl[1], wd = pl[2], x_dims[] = {batch, CONV_IN, h, wd};
    lps_tensor *x = test_tensor_random(4, x_dims, -1, 1, SEED_X);
    size_t cache = 0;
    float *y = run_inference(m, x, (size_t)(batch * CONV_OUT * h * wd), &cache);
    int64_t rows = h == 1 ? CONV_IN : CONV_IN * CONV_K * CONV_K;
    size_t want_cache = lps_packed_b_floats(rows, CONV_OUT) + (h == 1 ? CONV_OUT * CONV_IN : 0);
    if (lps_packed_forward_available())
        ck_assert_uint_eq(cache, want_cache);
    for (int64_t n = 0; n < batch; n++)
        for (int64_t oc = 0; oc < CONV_OUT; oc++)
            for (int64_t oh = 0; oh < h; oh++)
                for (int64_t ow = 0; ow < wd; ow++) {
                    double scale;
                    double want =
                        conv_reference(m, lps_tensor_f32(x), h, wd, n, oc, oh, ow, &scale);
                    want = want < lo ? lo : want > hi ? hi : want;
                    float got = y[((n * CONV_OUT + oc) * h + oh) * wd + ow];
                    ck_assert_msg(fabs(got - want) <= REL_TOL * (scale + 1.0),
                                  "plane %d: y[%lld,%lld,%lld,%lld] = %g, expected %g", _i,
                                  (long long)n, (long long)oc, (long long)oh, (long long)ow, got,
                                  want);
                }
    free(y);
    lps_tensor_free(x);
    lps_model_free(m);
}
END_TEST

/* A 1x1 conv on a 1x1 plane (one position per image: Y written by rows)
 * whose packed weight exceeds LPS_PACKED_FAST_BYTES is still packed
 * (lps_packed_gemm_large_fast), and matches direct sums. */
START_TEST(conv_large_weight_by_rows_packs_it)
{
    enum { BATCH = 6, IN = 512, OUT = 544 };
    ck_assert(lps_packed_b_floats(IN, OUT) * sizeof(float) > LPS_PACKED_FAST_BYTES);
    lps_model *m = test_model_new(OPSET, "x", IN, "y");
    m->graph.inputs[0].rank = -1;
    int64_t w_dims[] = {OUT, IN, 1, 1};
    test_model_add_random_init(m, "w", 4, w_dims, SEED_B);
    test_model_add_node(m,
                        test_node_with_io("Conv", "conv", 2, (const char *const[]){"x", "w"}, "y"));
    int64_t x_dims[] = {BATCH, IN, 1, 1};
    lps_tensor *x = test_tensor_random(4, x_dims, -1, 1, SEED_X);
    size_t cache = 0;
    float *y = run_inference(m, x, BATCH * OUT, &cache);
    ck_assert_uint_eq(cache, lps_packed_forward_available() ? lps_packed_b_floats(IN, OUT) : 0);
    expect_rows_product(y, lps_tensor_f32(x), test_model_init_data(m, "w"), NULL, BATCH, IN, OUT,
                        false);
    free(y);
    lps_tensor_free(x);
    lps_model_free(m);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"kernel", kernel_matches_reference_at_any_thread_count, (int)TEST_COUNT(CASES)},
        {"kernel", kernel_applies_activation_in_its_stores, (int)TEST_COUNT(CASES)},
        {"kernel", pack_lays_out_panels, 1},
        {"plan", gemm_with_constant_weight_packs_it, 1},
        {"plan", conv_with_constant_weight_packs_it, 2},
        {"plan", conv_large_weight_by_rows_packs_it, 1},
    };
    return test_run_table("packed_gemm", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
