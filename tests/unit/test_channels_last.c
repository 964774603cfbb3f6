/* Channels-last values (docs/architecture.md, "Channels-last values"): an
 * inference plan stores the tensors between MobileNet's 1x1 and depthwise
 * convolutions channels-last. Each case runs an inverted-residual block
 * (1x1 expand + Clip, 3x3 depthwise + Relu, 1x1 project) in an inference
 * plan and checks how many values it stores channels-last and that its
 * output is the training plan's (which stores none) to float tolerance;
 * keeping an intermediate stores it channels-first again, readable and
 * equal to the training plan's. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "test_node.h"
#include "test_suite.h"

#define BLOCK_OPSET 13
#define IN_CH 5
#define OUT_CH 7
#define KERNEL 3
#define SEED_X 31
#define TOLERANCE 1e-5
/* The two values an expand -> depthwise -> project chain stores so. */
#define CHAIN_VALUES 2

/* x [N, IN_CH, H, W] -> 1x1 conv (expand channels) -> Clip(0, 6) ->
 * depthwise 3x3 (pads 1, stride) -> Relu -> 1x1 conv -> y; with
 * `also_add`, the depthwise output also feeds an Add (a reader that cannot
 * read channels-last) whose result is y. */
static lps_model *block_model(int64_t expand, int64_t stride, bool also_add)
{
    lps_model *m = test_model_new(BLOCK_OPSET, "x", IN_CH, "y");
    m->graph.inputs[0].rank = -1;
    int64_t w1[] = {expand, IN_CH, 1, 1}, wd[] = {expand, 1, KERNEL, KERNEL};
    int64_t w2[] = {OUT_CH, expand, 1, 1}, be[] = {expand}, bo[] = {OUT_CH}, scalar[] = {1};
    test_model_add_random_init(m, "w1", 4, w1, 1);
    test_model_add_random_init(m, "b1", 1, be, 2);
    test_model_add_random_init(m, "wd", 4, wd, 3);
    test_model_add_random_init(m, "bd", 1, be, 4);
    test_model_add_random_init(m, "w2", 4, w2, 5);
    test_model_add_random_init(m, "b2", 1, bo, 6);
    test_model_add_init(m, "lo", test_tensor_from(LPS_DT_FLOAT, 0, scalar, (float[]){0}));
    test_model_add_init(m, "hi", test_tensor_from(LPS_DT_FLOAT, 0, scalar, (float[]){6}));
    test_model_add_node(m, test_node_with_io("Conv", "expand", 3,
                                             (const char *const[]){"x", "w1", "b1"}, "e"));
    test_model_add_node(m, test_node_with_io("Clip", "clip", 3,
                                             (const char *const[]){"e", "lo", "hi"}, "ec"));
    lps_node *dw = test_node_with_io("Conv", "depthwise", 3,
                                     (const char *const[]){"ec", "wd", "bd"}, "d");
    test_node_attr_int(dw, "group", expand);
    test_node_attr_ints(dw, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    test_node_attr_ints(dw, "strides", (const int64_t[]){stride, stride}, 2);
    test_model_add_node(m, dw);
    test_model_add_node(m, test_node_with_io("Relu", "relu", 1, (const char *const[]){"d"}, "dr"));
    test_model_add_node(m, test_node_with_io("Conv", "project", 3,
                                             (const char *const[]){"dr", "w2", "b2"},
                                             also_add ? "p" : "y"));
    if (also_add) {
        /* p [N, OUT_CH, ...] + dr [N, expand, ...] broadcasts only when
         * expand is OUT_CH */
        ck_assert_int_eq(expand, OUT_CH);
        test_model_add_node(m, test_node_with_io("Add", "add", 2,
                                                 (const char *const[]){"p", "dr"}, "y"));
    }
    return m;
}

/* Output 0 of p's forward on x, copied (numel floats). */
static float *forward_copy(lps_plan *p, const lps_tensor *x, size_t numel)
{
    lps_error err = {0};
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
    const lps_tensor *y = lps_plan_output(p, 0);
    ck_assert_int_eq(lps_tensor_numel(y), (int64_t)numel);
    float *copy = malloc(numel * sizeof *copy);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, lps_tensor_f32(y), numel * sizeof *copy);
    lps_exec_ctx_free(ctx);
    return copy;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= TOLERANCE * (1 + fabsf(want[i])),
                      "%s[%zu] = %g, expected %g", what, i, got[i], want[i]);
}

/* A model with its inference plan (fast) and its training plan (plain,
 * which stores nothing channels-last), compiled. */
typedef struct plan_pair {
    lps_model *m;
    lps_plan *fast, *plain;
} plan_pair;

static plan_pair pair_open(lps_model *m)
{
    lps_error err = {0};
    lps_plan_options training = {.training = true};
    plan_pair pp = {m, lps_plan_compile(m, NULL, &err), lps_plan_compile(m, &training, &err)};
    ck_assert_msg(pp.fast && pp.plain, "%s", err.msg);
    ck_assert_uint_eq(lps_plan_n_channels_last(pp.plain), 0);
    return pp;
}

/* y of both plans on x (numel floats) agree; frees x. */
static void expect_same_outputs(plan_pair *pp, lps_tensor *x, size_t numel)
{
    float *got = forward_copy(pp->fast, x, numel), *want = forward_copy(pp->plain, x, numel);
    expect_close("y", got, want, numel);
    free(got);
    free(want);
    lps_tensor_free(x);
}

static void pair_close(plan_pair *pp)
{
    lps_plan_free(pp->fast);
    lps_plan_free(pp->plain);
    lps_model_free(pp->m);
}

/* Runs block_model(expand, stride, also_add) on [batch, IN_CH, side,
 * side]: the inference plan stores `stored` values channels-last and
 * agrees with the training plan. */
static void run_block(int64_t expand, int64_t stride, bool also_add, int64_t batch,
                      int64_t side, size_t stored)
{
    plan_pair pp = pair_open(block_model(expand, stride, also_add));
    ck_assert_uint_eq(lps_plan_n_channels_last(pp.fast), stored);
    int64_t dims[] = {batch, IN_CH, side, side}, out = (side - 1) / stride + 1;
    size_t numel = (size_t)(batch * OUT_CH * out * out);
    expect_same_outputs(&pp, test_tensor_random(4, dims, -1, 1, SEED_X + (uint64_t)(batch * side)),
                        numel);
    pair_close(&pp);
}

/* Planes of MobileNet's stages at 32x32 inputs, a batch that splits over
 * threads into blocks of several images, stride 1 and 2. */
START_TEST(inverted_residual_block)
{
    run_block(12, 1, false, 9, 8, CHAIN_VALUES);
    run_block(12, 2, false, 9, 7, CHAIN_VALUES);
    run_block(24, 1, false, 6, 1, CHAIN_VALUES);
}
END_TEST

/* One image with enough channels and positions for the depthwise kernel
 * to cut the image into channel slices on two threads (each slice's rows
 * of a channels-last tensor are strided) and for the 1x1 convs to run
 * blocks. */
START_TEST(one_image_channel_slices)
{
    run_block(96, 1, false, 1, 40, CHAIN_VALUES);
}
END_TEST

/* The depthwise output also feeds an Add, which reads channels-first, so
 * only the expand output is stored channels-last. */
START_TEST(a_plain_reader_keeps_channels_first)
{
    run_block(OUT_CH, 1, true, 3, 6, 1);
}
END_TEST

/* Keeping the depthwise conv's fused output (lps_plan_keep_value) stores
 * it channels-first: the kept tensor equals the training plan's. */
START_TEST(kept_value_is_channels_first)
{
    plan_pair pp = pair_open(block_model(12, 1, false));
    int kept = lps_plan_find_value(pp.fast, "dr");
    ck_assert_int_ge(kept, 0);
    lps_plan_keep_value(pp.fast, kept);
    ck_assert_uint_eq(lps_plan_n_channels_last(pp.fast), CHAIN_VALUES - 1);
    int64_t dims[] = {4, IN_CH, 5, 5};
    size_t numel = (size_t)(4 * OUT_CH * 5 * 5), kept_numel = (size_t)(4 * 12 * 5 * 5);
    expect_same_outputs(&pp, test_tensor_random(4, dims, -1, 1, SEED_X), numel);
    const lps_tensor *dr_fast = lps_plan_value(pp.fast, kept);
    const lps_tensor *dr_plain = lps_plan_value(pp.plain, lps_plan_find_value(pp.plain, "dr"));
    ck_assert_ptr_nonnull(dr_fast);
    ck_assert_ptr_nonnull(dr_plain);
    expect_close("dr", lps_tensor_f32(dr_fast), lps_tensor_f32(dr_plain), kept_numel);
    pair_close(&pp);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"layout", inverted_residual_block, 1},
        {"layout", one_image_channel_slices, 1},
        {"layout", a_plain_reader_keeps_channels_first, 1},
        {"layout", kept_value_is_channels_first, 1},
    };
    return test_run_table("channels_last", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
