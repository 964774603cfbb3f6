/* MaxPool, AveragePool, GlobalAveragePool: forward against hand-computed
 * values, backward against finite differences for every attribute variant. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define POOL_GRAD_ATOL 1e-3
#define POOL_GRAD_RTOL 1e-2
#define POOL_FWD_TOL 1e-5f
/* MaxPool inputs are distinct multiples of this, so a +-eps probe (eps is
 * 1e-2) never changes which element wins a window. */
#define MAX_POOL_VALUE_SPACING 0.05f
#define POOL_OPSET 12
#define OPSET_BEFORE_AVG_DILATIONS 18
#define OPSET_AVG_DILATIONS 19
#define OPSET_BEFORE_CEIL 9
#define OPSET_BEFORE_INT8 11
#define WHY_LEN 512
#define MAX_INPUT_NUMEL 512

/* Attributes of one case; zero counts and NULL strings mean "absent". */
typedef struct pool_case {
    const char *op_type;
    int64_t opset;
    int rank;
    int64_t x_dims[5];
    int n_kernel, n_strides, n_pads, n_dilations;
    int64_t kernel[3], strides[3], pads[6], dilations[3];
    const char *auto_pad;
    int ceil_mode, count_include_pad;
    int n_outputs;
    bool training;
} pool_case;

static lps_node *pool_node(const pool_case *c)
{
    lps_node *n = test_node_new(c->op_type, 1, c->n_outputs ? c->n_outputs : 1);
    if (c->n_kernel)
        test_node_attr_ints(n, "kernel_shape", c->kernel, c->n_kernel);
    if (c->n_strides)
        test_node_attr_ints(n, "strides", c->strides, c->n_strides);
    if (c->n_pads)
        test_node_attr_ints(n, "pads", c->pads, c->n_pads);
    if (c->n_dilations)
        test_node_attr_ints(n, "dilations", c->dilations, c->n_dilations);
    if (c->auto_pad)
        test_node_attr_string(n, "auto_pad", c->auto_pad);
    if (c->ceil_mode)
        test_node_attr_int(n, "ceil_mode", c->ceil_mode);
    if (c->count_include_pad)
        test_node_attr_int(n, "count_include_pad", c->count_include_pad);
    return n;
}

/* Distinct values k * spacing in a seeded shuffled order, centred on 0. */
static lps_tensor *distinct_values(int rank, const int64_t *dims)
{
    lps_tensor *t = test_tensor_random(rank, dims, 0.0f, 1.0f, 7);
    int64_t n = lps_tensor_numel(t);
    float *v = lps_tensor_f32(t);
    uint64_t s = 0x2545F4914F6CDD1DULL;
    ck_assert_int_le(n, MAX_INPUT_NUMEL);
    for (int64_t i = 0; i < n; i++)
        v[i] = ((float)i - (float)n / 2.0f) * MAX_POOL_VALUE_SPACING;
    for (int64_t i = n - 1; i > 0; i--) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int64_t j = (int64_t)(s % (uint64_t)(i + 1));
        float tmp = v[i];
        v[i] = v[j];
        v[j] = tmp;
    }
    return t;
}

static void run_gradcheck(const pool_case *c)
{
    char why[WHY_LEN] = "";
    lps_node *n = pool_node(c);
    lps_tensor *x = distinct_values(c->rank, c->x_dims);
    gradcheck_tol tol = gradcheck_default_tol();
    tol.atol = POOL_GRAD_ATOL;
    tol.rtol = POOL_GRAD_RTOL;
    tol.training = c->training;
    bool ok = gradcheck_op(n, c->opset ? c->opset : POOL_OPSET, &x, 1, 1u, tol, why, sizeof why);
    lps_tensor_free(x);
    test_node_free(n);
    ck_assert_msg(ok, "%s", why);
}

START_TEST(grad_max_2d_basic)
{
    pool_case c = {.op_type = "MaxPool", .rank = 4, .x_dims = {2, 2, 4, 4}, .n_kernel = 2,
                   .kernel = {2, 2}, .n_strides = 2, .strides = {2, 2}};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_max_2d_overlapping_pads)
{
    pool_case c = {.op_type = "MaxPool", .rank = 4, .x_dims = {1, 2, 5, 4}, .n_kernel = 2,
                   .kernel = {3, 3}, .n_pads = 4, .pads = {1, 1, 1, 0}};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_max_2d_ceil_dilation_training_indices)
{
    pool_case c = {.op_type = "MaxPool", .rank = 4, .x_dims = {1, 2, 6, 7}, .n_kernel = 2,
                   .kernel = {2, 2}, .n_strides = 2, .strides = {2, 2}, .n_dilations = 2,
                   .dilations = {2, 1}, .ceil_mode = 1, .n_outputs = 2, .training = true};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_max_2d_same_upper_and_lower)
{
    pool_case c = {.op_type = "MaxPool", .rank = 4, .x_dims = {1, 1, 5, 4}, .n_kernel = 2,
                   .kernel = {2, 3}, .n_strides = 2, .strides = {2, 1}, .auto_pad = "SAME_UPPER"};
    run_gradcheck(&c);
    c.auto_pad = "SAME_LOWER";
    run_gradcheck(&c);
    c.auto_pad = "VALID";
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_max_1d_and_3d)
{
    pool_case c1 = {.op_type = "MaxPool", .rank = 3, .x_dims = {2, 3, 9}, .n_kernel = 1,
                    .kernel = {3}, .n_strides = 1, .strides = {2}, .n_pads = 2, .pads = {1, 1}};
    run_gradcheck(&c1);
    pool_case c3 = {.op_type = "MaxPool", .rank = 5, .x_dims = {1, 2, 4, 3, 4}, .n_kernel = 3,
                    .kernel = {2, 2, 2}, .n_strides = 3, .strides = {2, 1, 2}};
    run_gradcheck(&c3);
}
END_TEST

START_TEST(grad_avg_2d_pads_exclude_and_include)
{
    pool_case c = {.op_type = "AveragePool", .rank = 4, .x_dims = {2, 2, 5, 5}, .n_kernel = 2,
                   .kernel = {3, 3}, .n_strides = 2, .strides = {2, 2}, .n_pads = 4,
                   .pads = {1, 2, 1, 0}};
    run_gradcheck(&c);
    c.count_include_pad = 1;
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_avg_2d_ceil_mode)
{
    pool_case c = {.op_type = "AveragePool", .rank = 4, .x_dims = {1, 2, 6, 5}, .n_kernel = 2,
                   .kernel = {3, 2}, .n_strides = 2, .strides = {2, 2}, .n_pads = 4,
                   .pads = {1, 0, 1, 0}, .ceil_mode = 1};
    run_gradcheck(&c);
    c.count_include_pad = 1;
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_avg_2d_dilation_same_upper)
{
    pool_case c = {.op_type = "AveragePool", .opset = OPSET_AVG_DILATIONS, .rank = 4,
                   .x_dims = {1, 2, 6, 6}, .n_kernel = 2, .kernel = {2, 2}, .n_dilations = 2,
                   .dilations = {2, 2}, .auto_pad = "SAME_UPPER", .count_include_pad = 1};
    run_gradcheck(&c);
}
END_TEST

START_TEST(grad_avg_1d_and_3d)
{
    pool_case c1 = {.op_type = "AveragePool", .rank = 3, .x_dims = {2, 2, 7}, .n_kernel = 1,
                    .kernel = {3}, .auto_pad = "SAME_LOWER", .n_strides = 1, .strides = {2}};
    run_gradcheck(&c1);
    pool_case c3 = {.op_type = "AveragePool", .rank = 5, .x_dims = {1, 1, 3, 4, 3},
                    .n_kernel = 3, .kernel = {2, 2, 2}, .n_pads = 6,
                    .pads = {0, 1, 0, 1, 0, 1}, .count_include_pad = 1};
    run_gradcheck(&c3);
}
END_TEST

START_TEST(grad_global_avg)
{
    pool_case c2 = {.op_type = "GlobalAveragePool", .rank = 4, .x_dims = {2, 3, 4, 5}};
    run_gradcheck(&c2);
    pool_case c1 = {.op_type = "GlobalAveragePool", .rank = 3, .x_dims = {2, 2, 6}};
    run_gradcheck(&c1);
}
END_TEST

/* Runs the case's node on x (1-D values when rank 3) and compares output
 * `which` with want; x is freed. */
static void expect_pool(const pool_case *c, lps_tensor *x, int which, const float *want,
                        int64_t numel)
{
    lps_node *n = pool_node(c);
    lps_tensor outs[2] = {{0}};
    lps_error err;
    size_t n_out = c->n_outputs ? (size_t)c->n_outputs : 1;
    lps_status st = test_op_forward(n, c->opset ? c->opset : POOL_OPSET, &x, outs, n_out, &err);
    ck_assert_msg(st == LPS_OK, "%s", err.msg);
    test_expect_floats(&outs[which], want, numel, POOL_FWD_TOL);
    for (size_t j = 0; j < n_out; j++)
        lps_tensor_release(&outs[j]);
    lps_tensor_free(x);
    test_node_free(n);
}

static lps_tensor *from_values(int rank, const int64_t *dims, const float *values)
{
    return test_tensor_from(LPS_DT_FLOAT, rank, dims, values);
}

static lps_tensor *iota(int rank, const int64_t *dims)
{
    lps_tensor *t = test_tensor_random(rank, dims, 0.0f, 1.0f, 1);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        lps_tensor_f32(t)[i] = (float)(i + 1);
    return t;
}

/* 1..32 as two 4x4 channels; storage_order 1 makes the spatial part column-major */
START_TEST(fwd_max_2d_with_indices_both_orders)
{
    int64_t xd[] = {1, 2, 4, 4};
    static const float want[] = {6, 8, 14, 16, 22, 24, 30, 32};
    static const int64_t row_major[] = {5, 7, 13, 15, 21, 23, 29, 31};
    static const int64_t col_major[] = {5, 13, 7, 15, 21, 29, 23, 31};
    pool_case c = {.op_type = "MaxPool", .n_kernel = 2, .kernel = {2, 2}, .n_strides = 2,
                   .strides = {2, 2}, .n_outputs = 2};
    for (int order = 0; order < 2; order++) {
        lps_node *n = pool_node(&c);
        test_node_attr_int(n, "storage_order", order);
        lps_tensor *x = iota(4, xd);
        lps_tensor outs[2] = {{0}};
        lps_error err;
        ck_assert_msg(test_op_forward(n, POOL_OPSET, &x, outs, 2, &err) == LPS_OK, "%s",
                      err.msg);
        test_expect_floats(&outs[0], want, 8, POOL_FWD_TOL);
        ck_assert_int_eq(outs[1].dtype, LPS_DT_INT64);
        const int64_t *expect = order ? col_major : row_major;
        for (int i = 0; i < 8; i++)
            ck_assert_int_eq(lps_tensor_i64(&outs[1])[i], expect[i]);
        lps_tensor_release(&outs[0]);
        lps_tensor_release(&outs[1]);
        lps_tensor_free(x);
        test_node_free(n);
    }
}
END_TEST

START_TEST(fwd_max_ceil_mode)
{
    int64_t xd[] = {1, 1, 4, 4}, x1[] = {1, 1, 4};
    static const float ceil_want[] = {11, 12, 15, 16};
    static const float floor_want[] = {11};
    static const float last_window_dropped[] = {2, 4};
    pool_case c = {.op_type = "MaxPool", .n_kernel = 2, .kernel = {3, 3}, .n_strides = 2,
                   .strides = {2, 2}, .ceil_mode = 1};
    expect_pool(&c, iota(4, xd), 0, ceil_want, 4);
    c.ceil_mode = 0;
    expect_pool(&c, iota(4, xd), 0, floor_want, 1);
    /* a third window would start in the end padding: ceil_mode must not add it */
    pool_case d = {.op_type = "MaxPool", .n_kernel = 1, .kernel = {2}, .n_strides = 1,
                   .strides = {2}, .n_pads = 2, .pads = {0, 1}, .ceil_mode = 1};
    expect_pool(&d, iota(3, x1), 0, last_window_dropped, 2);
}
END_TEST

START_TEST(fwd_max_dilation_and_pads_ignored)
{
    int64_t xd[] = {1, 1, 5}, nd[] = {1, 1, 3};
    static const float x[] = {1, 5, 2, 4, 3};
    static const float dilated[] = {2, 5, 3};
    static const float negative[] = {-1, -2, -3};
    static const float padded[] = {-1, -1, -2, -3};
    pool_case c = {.op_type = "MaxPool", .n_kernel = 1, .kernel = {2}, .n_dilations = 1,
                   .dilations = {2}};
    expect_pool(&c, from_values(3, xd, x), 0, dilated, 3);
    pool_case d = {.op_type = "MaxPool", .n_kernel = 1, .kernel = {2}, .n_pads = 2,
                   .pads = {1, 1}};
    expect_pool(&d, from_values(3, nd, negative), 0, padded, 4);
}
END_TEST

START_TEST(fwd_avg_count_include_pad)
{
    int64_t xd[] = {1, 1, 3};
    static const float exclude[] = {1, 1.5f, 2.5f, 3};
    static const float include[] = {0.5f, 1.5f, 2.5f, 1.5f};
    pool_case c = {.op_type = "AveragePool", .n_kernel = 1, .kernel = {2}, .n_pads = 2,
                   .pads = {1, 1}};
    expect_pool(&c, iota(3, xd), 0, exclude, 4);
    c.count_include_pad = 1;
    expect_pool(&c, iota(3, xd), 0, include, 4);
}
END_TEST

/* 1..6, kernel 3, stride 2, pads 1/1, ceil: the last window reaches past the
 * end pad; count_include_pad counts the pad but not what lies beyond it. */
START_TEST(fwd_avg_ceil_mode)
{
    int64_t xd[] = {1, 1, 6};
    static const float exclude[] = {1.5f, 3, 5, 6};
    static const float include[] = {1, 3, 5, 3};
    pool_case c = {.op_type = "AveragePool", .n_kernel = 1, .kernel = {3}, .n_strides = 1,
                   .strides = {2}, .n_pads = 2, .pads = {1, 1}, .ceil_mode = 1};
    expect_pool(&c, iota(3, xd), 0, exclude, 4);
    c.count_include_pad = 1;
    expect_pool(&c, iota(3, xd), 0, include, 4);
}
END_TEST

START_TEST(fwd_avg_same_and_dilation)
{
    int64_t xd[] = {1, 1, 4}, x5[] = {1, 1, 5};
    static const float upper[] = {1.5f, 2.5f, 3.5f, 4};
    static const float lower[] = {1, 1.5f, 2.5f, 3.5f};
    static const float dilated[] = {2, 3, 4};
    pool_case c = {.op_type = "AveragePool", .n_kernel = 1, .kernel = {2},
                   .auto_pad = "SAME_UPPER"};
    expect_pool(&c, iota(3, xd), 0, upper, 4);
    c.auto_pad = "SAME_LOWER";
    expect_pool(&c, iota(3, xd), 0, lower, 4);
    pool_case d = {.op_type = "AveragePool", .opset = OPSET_AVG_DILATIONS, .n_kernel = 1,
                   .kernel = {2}, .n_dilations = 1, .dilations = {2}};
    expect_pool(&d, iota(3, x5), 0, dilated, 3);
}
END_TEST

START_TEST(fwd_3d_and_global)
{
    int64_t xd[] = {1, 1, 2, 2, 2}, gd[] = {1, 2, 2, 2};
    static const float max_all[] = {8};
    static const float avg_all[] = {4.5f};
    static const float global[] = {2.5f, 6.5f};
    pool_case c = {.op_type = "MaxPool", .n_kernel = 3, .kernel = {2, 2, 2}};
    expect_pool(&c, iota(5, xd), 0, max_all, 1);
    c.op_type = "AveragePool";
    expect_pool(&c, iota(5, xd), 0, avg_all, 1);
    pool_case g = {.op_type = "GlobalAveragePool"};
    expect_pool(&g, iota(4, gd), 0, global, 2);
}
END_TEST

/* int8 keeps its sign through the float search; opset 11 takes float only */
START_TEST(fwd_max_int8_with_indices)
{
    int64_t xd[] = {1, 1, 4};
    static const int8_t x[] = {-5, -3, -7, -1};
    static const int8_t want[] = {-3, -1};
    static const int64_t want_indices[] = {1, 3};
    pool_case c = {.op_type = "MaxPool", .n_kernel = 1, .kernel = {2}, .n_strides = 1,
                   .strides = {2}, .n_outputs = 2};
    lps_node *n = pool_node(&c);
    lps_tensor *in = test_tensor_from(LPS_DT_INT8, 3, xd, x);
    lps_tensor outs[2] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(n, POOL_OPSET, &in, outs, 2, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(outs[0].dtype, LPS_DT_INT8);
    ck_assert_int_eq(lps_tensor_numel(&outs[0]), 2);
    ck_assert_mem_eq(outs[0].data, want, sizeof want);
    test_expect_int64s(&outs[1], want_indices, 2);
    lps_tensor_release(&outs[0]);
    lps_tensor_release(&outs[1]);
    ck_assert_int_eq(test_op_forward(n, OPSET_BEFORE_INT8, &in, outs, 2, &err),
                     LPS_ERR_UNSUPPORTED);
    lps_tensor_release(&outs[0]);
    lps_tensor_release(&outs[1]);
    lps_tensor_free(in);
    test_node_free(n);
}
END_TEST

/* Runs a node expecting failure with status and a message naming it. */
static void expect_pool_error(const pool_case *c, int rank, const int64_t *xd, lps_status want)
{
    lps_node *n = pool_node(c);
    lps_tensor *x = iota(rank, xd);
    lps_tensor outs[2] = {{0}};
    lps_error err;
    size_t n_out = c->n_outputs ? (size_t)c->n_outputs : 1;
    ck_assert_int_eq(test_op_forward(n, c->opset ? c->opset : POOL_OPSET, &x, outs, n_out, &err),
                     want);
    ck_assert_msg(strstr(err.msg, "node 'test'") != NULL, "%s", err.msg);
    for (size_t j = 0; j < n_out; j++)
        lps_tensor_release(&outs[j]);
    lps_tensor_free(x);
    test_node_free(n);
}

START_TEST(errors_name_the_node)
{
    int64_t xd[] = {1, 1, 4, 4};
    pool_case no_kernel = {.op_type = "MaxPool"};
    expect_pool_error(&no_kernel, 4, xd, LPS_ERR_INVALID);
    pool_case early_dilations = {.op_type = "AveragePool", .opset = OPSET_BEFORE_AVG_DILATIONS,
                                 .n_kernel = 2, .kernel = {2, 2}, .n_dilations = 2,
                                 .dilations = {1, 1}};
    expect_pool_error(&early_dilations, 4, xd, LPS_ERR_UNSUPPORTED);
    pool_case early_ceil = {.op_type = "MaxPool", .opset = OPSET_BEFORE_CEIL, .n_kernel = 2,
                            .kernel = {2, 2}, .ceil_mode = 1};
    expect_pool_error(&early_ceil, 4, xd, LPS_ERR_UNSUPPORTED);
    pool_case too_big = {.op_type = "MaxPool", .n_kernel = 2, .kernel = {5, 5}};
    expect_pool_error(&too_big, 4, xd, LPS_ERR_INVALID);
    pool_case all_pad = {.op_type = "MaxPool", .n_kernel = 2, .kernel = {2, 2}, .n_pads = 4,
                         .pads = {2, 0, 0, 0}};
    expect_pool_error(&all_pad, 4, xd, LPS_ERR_INVALID);
    pool_case wrong_rank = {.op_type = "AveragePool", .n_kernel = 1, .kernel = {2}};
    expect_pool_error(&wrong_rank, 4, xd, LPS_ERR_INVALID);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradcheck", grad_max_2d_basic, 1},
        {"gradcheck", grad_max_2d_overlapping_pads, 1},
        {"gradcheck", grad_max_2d_ceil_dilation_training_indices, 1},
        {"gradcheck", grad_max_2d_same_upper_and_lower, 1},
        {"gradcheck", grad_max_1d_and_3d, 1},
        {"gradcheck", grad_avg_2d_pads_exclude_and_include, 1},
        {"gradcheck", grad_avg_2d_ceil_mode, 1},
        {"gradcheck", grad_avg_2d_dilation_same_upper, 1},
        {"gradcheck", grad_avg_1d_and_3d, 1},
        {"gradcheck", grad_global_avg, 1},
        {"forward", fwd_max_2d_with_indices_both_orders, 1},
        {"forward", fwd_max_ceil_mode, 1},
        {"forward", fwd_max_dilation_and_pads_ignored, 1},
        {"forward", fwd_avg_count_include_pad, 1},
        {"forward", fwd_avg_ceil_mode, 1},
        {"forward", fwd_avg_same_and_dilation, 1},
        {"forward", fwd_3d_and_global, 1},
        {"forward", fwd_max_int8_with_indices, 1},
        {"forward", errors_name_the_node, 1},
    };
    return test_run_table("pool", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
