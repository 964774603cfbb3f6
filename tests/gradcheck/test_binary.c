/* Add, Sub, Mul, Div: gradients over every broadcast pattern, hand-computed
 * forward values, int64 arithmetic and the errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
/* Exact arithmetic on small values: any error is a bug, not rounding. */
#define EXACT_TOL 1e-6f
/* Divisors stay in [DIVISOR_LO, DIVISOR_HI) so 1/b^2 stays tame for finite differences. */
#define DIVISOR_LO 0.5f
#define DIVISOR_HI 2.0f

static const char *const binary_ops[] = {"Add", "Sub", "Mul", "Div"};
#define N_BINARY_OPS 4

typedef struct bcast_case {
    const char *what;
    int ra;
    int64_t da[4];
    int rb;
    int64_t db[4];
} bcast_case;

static const bcast_case bcast_cases[] = {
    {"equal", 3, {2, 3, 4}, 3, {2, 3, 4}},
    {"scalar B", 2, {2, 3}, 0, {0}},
    {"scalar A", 0, {0}, 2, {3, 2}},
    {"trailing", 3, {2, 3, 4}, 1, {4}},
    {"middle", 3, {2, 3, 4}, 2, {3, 1}},
    {"channel", 4, {2, 3, 2, 2}, 3, {3, 1, 1}},
    {"both sides", 3, {2, 1, 4}, 2, {3, 1}},
    {"size-1 outer", 3, {1, 3, 1}, 3, {2, 1, 4}},
};
#define N_BCAST_CASES ((int)(sizeof bcast_cases / sizeof bcast_cases[0]))

/* _i: index into binary_ops x bcast_cases */
START_TEST(gradient_broadcast)
{
    const char *op_type = binary_ops[_i / N_BCAST_CASES];
    const bcast_case *bc = &bcast_cases[_i % N_BCAST_CASES];
    bool is_div = strcmp(op_type, "Div") == 0;
    lps_node *node = test_node_new(op_type, 2, 1);
    lps_tensor *a = test_tensor_random(bc->ra, bc->da, -1.0f, 1.0f, 1 + (uint64_t)_i);
    lps_tensor *b = is_div ? test_tensor_random(bc->rb, bc->db, DIVISOR_LO, DIVISOR_HI, 99)
                           : test_tensor_random(bc->rb, bc->db, -1.0f, 1.0f, 99);
    lps_tensor *in[] = {a, b};
    char why[256] = "";
    bool ok = gradcheck_op(node, OPSET, in, 2, 0x3u, gradcheck_default_tol(), why, sizeof why);
    ck_assert_msg(ok, "%s %s: %s", op_type, bc->what, why);
    lps_tensor_free(a);
    lps_tensor_free(b);
    test_node_free(node);
}
END_TEST

/* Only the gradient of B is requested: din[0] stays NULL and must be skipped. */
START_TEST(gradient_one_input_only)
{
    int64_t da[] = {2, 3}, db[] = {3};
    lps_node *node = test_node_new("Mul", 2, 1);
    lps_tensor *a = test_tensor_random(2, da, -1.0f, 1.0f, 5);
    lps_tensor *b = test_tensor_random(1, db, -1.0f, 1.0f, 6);
    lps_tensor *in[] = {a, b};
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, OPSET, in, 2, 0x2u, gradcheck_default_tol(), why, sizeof why),
                  "%s", why);
    lps_tensor_free(a);
    lps_tensor_free(b);
    test_node_free(node);
}
END_TEST

START_TEST(forward_bias_broadcast)
{
    int64_t da[] = {2, 3}, db[] = {3};
    const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30};
    const float add[] = {11, 22, 33, 14, 25, 36}, sub[] = {-9, -18, -27, -6, -15, -24};
    const float mul[] = {10, 40, 90, 40, 100, 180}, divv[] = {0.1f, 0.1f, 0.1f, 0.4f, 0.25f, 0.2f};
    const float *expected[] = {add, sub, mul, divv};
    lps_tensor *a = test_tensor_from(LPS_DT_FLOAT, 2, da, av);
    lps_tensor *b = test_tensor_from(LPS_DT_FLOAT, 1, db, bv);
    lps_tensor *in[] = {a, b};
    for (int k = 0; k < N_BINARY_OPS; k++) {
        lps_node *node = test_node_new(binary_ops[k], 2, 1);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_OK);
        test_expect_shape(&out[0], 2, da);
        test_expect_floats(&out[0], expected[k], lps_numel_of(2, da), EXACT_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(forward_both_sides)
{
    /* [2,1] - [3] -> [2,3]: rows of A against the whole of B */
    int64_t da[] = {2, 1}, db[] = {3}, dy[] = {2, 3};
    const float av[] = {1, 2}, bv[] = {1, 2, 3};
    const float expected[] = {0, -1, -2, 1, 0, -1};
    lps_tensor *a = test_tensor_from(LPS_DT_FLOAT, 2, da, av);
    lps_tensor *b = test_tensor_from(LPS_DT_FLOAT, 1, db, bv);
    lps_tensor *in[] = {a, b};
    lps_node *node = test_node_new("Sub", 2, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, dy);
    test_expect_floats(&out[0], expected, lps_numel_of(2, dy), EXACT_TOL);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(forward_int64_shape_arithmetic)
{
    int64_t da[] = {4}, db[] = {0};
    const int64_t av[] = {7, -7, 12, 1}, bv[] = {2};
    const int64_t divv[] = {3, -3, 6, 0}, mul[] = {14, -14, 24, 2}, sub[] = {5, -9, 10, -1};
    const char *ops[] = {"Div", "Mul", "Sub"};
    const int64_t *expected[] = {divv, mul, sub};
    lps_tensor *a = test_tensor_from(LPS_DT_INT64, 1, da, av);
    lps_tensor *b = test_tensor_from(LPS_DT_INT64, 0, db, bv);
    lps_tensor *in[] = {a, b};
    for (int k = 0; k < 3; k++) {
        lps_node *node = test_node_new(ops[k], 2, 1);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_OK);
        test_expect_shape(&out[0], 1, da);
        test_expect_int64s(&out[0], expected[k], lps_numel_of(1, da));
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(int64_division_by_zero_is_an_error)
{
    int64_t d[] = {2};
    const int64_t av[] = {4, 5}, bv[] = {1, 0};
    lps_tensor *a = test_tensor_from(LPS_DT_INT64, 1, d, av);
    lps_tensor *b = test_tensor_from(LPS_DT_INT64, 1, d, bv);
    lps_tensor *in[] = {a, b};
    lps_node *node = test_node_new("Div", 2, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "node 'test' (Div)"));
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(mismatched_shapes_and_types_fail)
{
    int64_t d3[] = {3}, d4[] = {4};
    lps_tensor *a = test_tensor_random(1, d3, 0.0f, 1.0f, 1);
    lps_tensor *b = test_tensor_random(1, d4, 0.0f, 1.0f, 2);
    const int64_t iv[] = {1, 2, 3};
    lps_tensor *c = test_tensor_from(LPS_DT_INT64, 1, d3, iv);
    lps_node *node = test_node_new("Add", 2, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_tensor *ab[] = {a, b}, *ac[] = {a, c};
    ck_assert_int_eq(test_op_forward(node, OPSET, ab, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "do not broadcast"));
    ck_assert_int_eq(test_op_forward(node, OPSET, ac, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "int64"));
    test_node_attr_int(node, "broadcast", 1);
    ck_assert_int_eq(test_op_forward(node, OPSET, ab, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "broadcast"));
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
    lps_tensor_free(c);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradient", gradient_broadcast, N_BINARY_OPS * N_BCAST_CASES},
        {"gradient", gradient_one_input_only, 1},
        {"forward", forward_bias_broadcast, 1},
        {"forward", forward_both_sides, 1},
        {"forward", forward_int64_shape_arithmetic, 1},
        {"forward", int64_division_by_zero_is_an_error, 1},
        {"forward", mismatched_shapes_and_types_fail, 1},
    };
    return test_run_table("binary", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
