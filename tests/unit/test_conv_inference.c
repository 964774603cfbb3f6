/* Conv's inference paths (docs/architecture.md, "Constant-input caches"):
 * an inference plan marks constant inputs, Conv keeps the live taps of a
 * constant W it crops in its node's cache (made again when the input's
 * plane changes the crop), a 1x1 output plane is one product over the
 * batch, and a short sum on an uncropped plane is computed directly
 * (conv_direct.c). Every result is checked against a direct convolution
 * in double, and a forward that reuses the cache against the one that
 * made it, byte for byte. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"
#include "lpsparsify/engine.h"
#include "ops/packed_gemm.h"
#include "test_node.h"
#include "test_suite.h"

#define CONV_OPSET 13
#define IN_CH 3
#define OUT_CH 4
#define KERNEL 3
#define PAD 1
#define SEED_W 21
#define SEED_B 22
#define SEED_X 23
#define TOLERANCE 1e-5

/* x [N, IN_CH, H, W] -> Conv 3x3, pads 1, bias -> Relu -> y. */
static lps_model *conv_model(void)
{
    lps_model *m = test_model_new(CONV_OPSET, "x", IN_CH, "y");
    m->graph.inputs[0].rank = -1;
    int64_t w_dims[] = {OUT_CH, IN_CH, KERNEL, KERNEL}, b_dims[] = {OUT_CH};
    test_model_add_random_init(m, "w", 4, w_dims, SEED_W);
    test_model_add_random_init(m, "b", 1, b_dims, SEED_B);
    lps_node *conv = test_node_with_io("Conv", "conv", 3,
                                       (const char *const[]){"x", "w", "b"}, "pre");
    test_node_attr_ints(conv, "pads", (const int64_t[]){PAD, PAD, PAD, PAD}, 4);
    test_node_attr_ints(conv, "kernel_shape", (const int64_t[]){KERNEL, KERNEL}, 2);
    test_model_add_node(m, conv);
    lps_node *relu = test_node_with_io("Relu", "act", 1, (const char *const[]){"pre"}, "y");
    test_model_add_node(m, relu);
    return m;
}

/* Relu(conv(x) + b) at output (n, m, oh, ow), summed in double. */
static double reference(const lps_model *m, const lps_tensor *x, int64_t n, int64_t oc,
                        int64_t oh, int64_t ow)
{
    const float *w = test_model_init_data(m, "w"), *b = test_model_init_data(m, "b");
    const float *xv = lps_tensor_f32(x);
    int64_t h = x->dims[2], wd = x->dims[3];
    double sum = b[oc];
    for (int64_t c = 0; c < IN_CH; c++)
        for (int64_t kh = 0; kh < KERNEL; kh++)
            for (int64_t kw = 0; kw < KERNEL; kw++) {
                int64_t ih = oh + kh - PAD, iw = ow + kw - PAD;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd)
                    continue;
                sum += (double)w[((oc * IN_CH + c) * KERNEL + kh) * KERNEL + kw] *
                       xv[((n * IN_CH + c) * h + ih) * wd + iw];
            }
    return sum > 0 ? sum : 0;
}

/* Runs p on a random [batch, IN_CH, h, w] input twice, checks both
 * forwards against the reference and against each other byte for byte. */
static void check_forward(const lps_model *m, lps_plan *p, lps_exec_ctx *ctx, int64_t batch,
                          int64_t h, int64_t w)
{
    lps_error err = {0};
    int64_t dims[] = {batch, IN_CH, h, w};
    lps_tensor *x = test_tensor_random(4, dims, -1, 1, SEED_X + (uint64_t)(batch * h * w));
    size_t numel = (size_t)(batch * OUT_CH * h * w);
    float *first = malloc(numel * sizeof *first);
    ck_assert_ptr_nonnull(first);
    for (int run = 0; run < 2; run++) {
        ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
        ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
        const float *y = lps_tensor_f32(lps_plan_output(p, 0));
        if (run == 1) {
            ck_assert_msg(memcmp(first, y, numel * sizeof *y) == 0,
                          "batch %lld, %lldx%lld: rerun differs", (long long)batch,
                          (long long)h, (long long)w);
            break;
        }
        memcpy(first, y, numel * sizeof *y);
        for (int64_t n = 0; n < batch; n++)
            for (int64_t oc = 0; oc < OUT_CH; oc++)
                for (int64_t oh = 0; oh < h; oh++)
                    for (int64_t ow = 0; ow < w; ow++) {
                        double want = reference(m, x, n, oc, oh, ow);
                        float got = y[((n * OUT_CH + oc) * h + oh) * w + ow];
                        ck_assert_msg(got > want - TOLERANCE && got < want + TOLERANCE,
                                      "batch %lld, %lldx%lld, y[%lld,%lld,%lld,%lld] = %g, "
                                      "expected %g",
                                      (long long)batch, (long long)h, (long long)w,
                                      (long long)n, (long long)oc, (long long)oh,
                                      (long long)ow, got, want);
                    }
    }
    free(first);
    lps_tensor_free(x);
}

/* Planes that crop the 3x3 kernel differently (1x1: the centre tap only,
 * 1x2 and 2x1: one row or column, 3x3: none), at batch 1 (the
 * matrix-vector product of a 1x1 plane) and above, in an order where a
 * stale crop would be read. */
/* check_forward on one inference plan of conv_model for each (batch, h,
 * w) of cases, in order. */
static void check_planes(const int64_t (*cases)[3], size_t n_cases)
{
    lps_model *m = conv_model();
    lps_error err = {0};
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    for (size_t i = 0; i < n_cases; i++)
        check_forward(m, p, ctx, cases[i][0], cases[i][1], cases[i][2]);
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    lps_model_free(m);
}

START_TEST(cropped_weights_follow_the_plane)
{
    static const int64_t cases[][3] = {{1, 1, 1}, {3, 1, 1}, {2, 1, 2}, {2, 2, 1},
                                       {1, 3, 3}, {2, 1, 1}, {1, 1, 2}};
    check_planes(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

/* Uncropped planes take the direct forward (conv_direct.c: 27 im2col
 * rows, stride 1): rows wider than one 32-column strip and a last strip
 * of a few columns, a block of 8 channels of which OUT_CH are stored,
 * batches cut over the threads; against the reference and rerun byte for
 * byte as above. */
START_TEST(direct_forward_matches_the_reference)
{
    static const int64_t cases[][3] = {{2, 5, 40}, {1, 33, 17}, {3, 4, 4}, {1, 2, 32}};
    check_planes(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

/* An inference plan marks W and B constant and keeps the crop after a
 * forward that cropped (2 images of one position); a training plan marks nothing (its W changes
 * every step) and keeps none. */
START_TEST(only_inference_plans_cache)
{
    lps_model *m = conv_model();
    lps_error err = {0};
    lps_plan_options training = {.training = true};
    lps_plan *inference = lps_plan_compile(m, NULL, &err);
    lps_plan *trained = lps_plan_compile(m, &training, &err);
    ck_assert_msg(inference && trained, "%s", err.msg);
    ck_assert_uint_eq(test_plan_fused_node(inference)->const_inputs, (1u << 1) | (1u << 2));
    ck_assert_uint_eq(test_plan_fused_node(trained)->const_inputs, 0);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    check_forward(m, inference, ctx, 2, 1, 1);
    check_forward(m, trained, ctx, 2, 1, 1);
    ck_assert_ptr_nonnull(test_plan_fused_node(inference)->cache.data);
    /* the live taps, behind the packed ones when the 2 rows of the batch
     * take the packed kernel (lps_packed_min_rows) */
    size_t packed = lps_packed_forward_available() && lps_packed_min_rows() <= 2
                        ? lps_packed_b_floats(IN_CH, OUT_CH)
                        : 0;
    ck_assert_uint_eq(test_plan_fused_node(inference)->cache.n, packed + OUT_CH * IN_CH);
    ck_assert_ptr_null(test_plan_fused_node(trained)->cache.data);
    lps_exec_ctx_free(ctx);
    lps_plan_free(inference);
    lps_plan_free(trained);
    lps_model_free(m);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"cache", cropped_weights_follow_the_plane, 1},
        {"cache", only_inference_plans_cache, 1},
        {"direct", direct_forward_matches_the_reference, 1},
    };
    return test_run_table("conv_inference", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
