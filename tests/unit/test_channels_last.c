/* Channels-last values (docs/architecture.md, "Channels-last values"): an
 * inference plan stores the tensors between MobileNet's 1x1 and depthwise
 * convolutions channels-last. Each case runs an inverted-residual block
 * (1x1 expand + Clip, 3x3 depthwise + Relu, 1x1 project) in an inference
 * plan and checks how many values it stores channels-last and that its
 * output is the training plan's (which stores none) to float tolerance;
 * keeping an intermediate stores it channels-first again, readable and
 * equal to the training plan's. Residual joins (Add) between 1x1 convs
 * pass the layout through when all their operands take it, broadcasting
 * over the stored layout. */
#include <check.h>
#include <math.h>
#include <stdio.h>
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

/* Adds a 1x1 conv `name` (in_ch -> out_ch, bias) from x to y, its
 * weights seeded with seed. */
static void add_pointwise(lps_model *m, const char *name, int64_t in_ch, int64_t out_ch,
                          const char *x, const char *y, uint64_t seed)
{
    char w[32], b[32];
    snprintf(w, sizeof w, "%s_w", name);
    snprintf(b, sizeof b, "%s_b", name);
    int64_t wd[] = {out_ch, in_ch, 1, 1}, bd[] = {out_ch};
    test_model_add_random_init(m, w, 4, wd, seed);
    test_model_add_random_init(m, b, 1, bd, seed + 1);
    test_model_add_node(m, test_node_with_io("Conv", name, 3, (const char *const[]){x, w, b}, y));
}

/* MobileNetV2's residual join: x -> 1x1 conv -> p; p -> 1x1 expand ->
 * depthwise 3x3 (pads 1) -> 1x1 project -> q; r = Add(p, q) -> 1x1 conv ->
 * y. p, the expand and depthwise outputs, q and r are stored
 * channels-last. */
#define RESIDUAL_VALUES 5
static lps_model *residual_model(int64_t expand)
{
    lps_model *m = test_model_new(BLOCK_OPSET, "x", IN_CH, "y");
    m->graph.inputs[0].rank = -1;
    add_pointwise(m, "stem", IN_CH, OUT_CH, "x", "p", 11);
    add_pointwise(m, "expand", OUT_CH, expand, "p", "e", 13);
    int64_t wd[] = {expand, 1, KERNEL, KERNEL}, bd[] = {expand};
    test_model_add_random_init(m, "wd", 4, wd, 15);
    test_model_add_random_init(m, "bd", 1, bd, 16);
    lps_node *dw = test_node_with_io("Conv", "depthwise", 3,
                                     (const char *const[]){"e", "wd", "bd"}, "d");
    test_node_attr_int(dw, "group", expand);
    test_node_attr_ints(dw, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    test_model_add_node(m, dw);
    add_pointwise(m, "project", expand, OUT_CH, "d", "q", 17);
    test_model_add_node(m, test_node_with_io("Add", "join", 2, (const char *const[]){"p", "q"}, "r"));
    add_pointwise(m, "head", OUT_CH, OUT_CH, "r", "y", 19);
    return m;
}

/* An Add that broadcasts between two channels-last values: x -> 1x1 conv
 * -> p [N, OUT_CH, H, W]; x -> a conv whose kernel covers the plane -> g
 * [N, OUT_CH, 1, 1]; Add(p, g) -> 1x1 conv -> y, on side x side inputs. */
#define BROADCAST_VALUES 3
static lps_model *broadcast_model(int64_t side)
{
    lps_model *m = test_model_new(BLOCK_OPSET, "x", IN_CH, "y");
    m->graph.inputs[0].rank = -1;
    add_pointwise(m, "stem", IN_CH, OUT_CH, "x", "p", 21);
    int64_t wg[] = {OUT_CH, IN_CH, side, side}, bg[] = {OUT_CH};
    test_model_add_random_init(m, "wg", 4, wg, 23);
    test_model_add_random_init(m, "bg", 1, bg, 24);
    test_model_add_node(m, test_node_with_io("Conv", "global", 3,
                                             (const char *const[]){"x", "wg", "bg"}, "g"));
    test_model_add_node(m, test_node_with_io("Add", "join", 2, (const char *const[]){"p", "g"}, "r"));
    add_pointwise(m, "head", OUT_CH, OUT_CH, "r", "y", 25);
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

/* The value `name` (numel floats) that both plans ran agrees: kept by
 * the fast plan, channels-first. */
static void expect_kept_same(const plan_pair *pp, const char *name, size_t numel)
{
    const lps_tensor *fast = lps_plan_value(pp->fast, lps_plan_find_value(pp->fast, name));
    const lps_tensor *plain = lps_plan_value(pp->plain, lps_plan_find_value(pp->plain, name));
    ck_assert_ptr_nonnull(fast);
    ck_assert_ptr_nonnull(plain);
    expect_close(name, lps_tensor_f32(fast), lps_tensor_f32(plain), numel);
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
    expect_kept_same(&pp, "dr", kept_numel);
    pair_close(&pp);
}
END_TEST

/* Runs model m on [batch, IN_CH, side, side]: the inference plan stores
 * `stored` values channels-last and agrees with the training plan. */
static void run_model(lps_model *m, int64_t batch, int64_t side, size_t stored)
{
    plan_pair pp = pair_open(m);
    ck_assert_uint_eq(lps_plan_n_channels_last(pp.fast), stored);
    int64_t dims[] = {batch, IN_CH, side, side};
    size_t numel = (size_t)(batch * OUT_CH * side * side);
    expect_same_outputs(&pp, test_tensor_random(4, dims, -1, 1, SEED_X + (uint64_t)side), numel);
    pair_close(&pp);
}

/* The residual join passes the layout through: its operands and result
 * are stored channels-last with the convs around them. */
START_TEST(residual_join_channels_last)
{
    run_model(residual_model(12), 5, 8, RESIDUAL_VALUES);
    run_model(residual_model(24), 3, 1, RESIDUAL_VALUES);
}
END_TEST

/* A join that broadcasts [N, C, 1, 1] over [N, C, H, W], both stored
 * channels-last, pairs the elements the channels-first one does. */
START_TEST(broadcast_join_channels_last)
{
    run_model(broadcast_model(6), 4, 6, BROADCAST_VALUES);
}
END_TEST

/* Keeping the join's operand q stores the join's values channels-first
 * (its result and its other operand with it: an Add computes in one
 * layout); the expand and depthwise outputs stay channels-last, and the
 * kept tensor equals the training plan's. */
START_TEST(kept_join_operand_is_channels_first)
{
    plan_pair pp = pair_open(residual_model(12));
    int kept = lps_plan_find_value(pp.fast, "q");
    ck_assert_int_ge(kept, 0);
    lps_plan_keep_value(pp.fast, kept);
    ck_assert_uint_eq(lps_plan_n_channels_last(pp.fast), CHAIN_VALUES);
    int64_t dims[] = {2, IN_CH, 6, 6};
    size_t numel = (size_t)(2 * OUT_CH * 6 * 6);
    expect_same_outputs(&pp, test_tensor_random(4, dims, -1, 1, SEED_X), numel);
    expect_kept_same(&pp, "q", numel);
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
        {"layout", residual_join_channels_last, 1},
        {"layout", broadcast_join_channels_last, 1},
        {"layout", kept_join_operand_is_channels_first, 1},
    };
    return test_run_table("channels_last", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
