/* ReduceSum, ReduceMax, ReduceMin, ReduceL2: values in the attribute form
 * and the input form (ReduceSum from opset 13, the others from 18), int64
 * and bool data, empty reductions, and finite-difference gradients of every
 * kind. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define ATTR_OPSET 13
#define INPUT_OPSET 18
#define SUM_INPUT_OPSET 13
#define OLD_OPSET 11
#define TOL 1e-5f

static const int64_t x_dims[] = {2, 3};
static const float x_values[] = {1, -2, 3, 4, 5, -6};

/* Runs op over x on axes (attribute before the input opset, else input). */
static void expect_reduce(const char *op_type, int64_t opset, bool axes_input, const int64_t *axes,
                          int n_axes, int64_t keepdims, int rank, const int64_t *dims,
                          const float *want)
{
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    int64_t ad[] = {n_axes};
    lps_tensor *a = test_tensor_from(LPS_DT_INT64, 1, ad, axes);
    lps_node *node = test_node_new(op_type, axes_input ? 2 : 1, 1);
    if (!axes_input)
        test_node_attr_ints(node, "axes", axes, n_axes);
    test_node_attr_int(node, "keepdims", keepdims);
    lps_tensor *in[] = {x, a}, out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(node, opset, in, &out, 1, &err) == LPS_OK, "%s: %s", op_type,
                  err.msg);
    test_expect_shape(&out, rank, dims);
    test_expect_floats(&out, want, lps_numel_of(rank, dims), TOL);
    lps_tensor_release(&out);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(a);
}

START_TEST(values_both_forms)
{
    const int64_t ax1[] = {1}, ax0[] = {-2};
    const int64_t d2[] = {2}, d3[] = {3}, d21[] = {2, 1};
    const float sum1[] = {2, 3}, max1[] = {3, 5}, min0[] = {1, -2, -6};
    const float l2_1[] = {sqrtf(14.0f), sqrtf(77.0f)};
    expect_reduce("ReduceSum", OLD_OPSET, false, ax1, 1, 0, 1, d2, sum1);
    expect_reduce("ReduceSum", SUM_INPUT_OPSET, true, ax1, 1, 1, 2, d21, sum1);
    expect_reduce("ReduceMax", ATTR_OPSET, false, ax1, 1, 0, 1, d2, max1);
    expect_reduce("ReduceMax", INPUT_OPSET, true, ax1, 1, 0, 1, d2, max1);
    expect_reduce("ReduceMin", ATTR_OPSET, false, ax0, 1, 0, 1, d3, min0);
    expect_reduce("ReduceMin", INPUT_OPSET, true, ax0, 1, 0, 1, d3, min0);
    expect_reduce("ReduceL2", ATTR_OPSET, false, ax1, 1, 1, 2, d21, l2_1);
    expect_reduce("ReduceL2", INPUT_OPSET, true, ax1, 1, 0, 1, d2, l2_1);
}
END_TEST

START_TEST(integer_and_bool_data)
{
    int64_t dims[] = {2, 3}, one[] = {1};
    const int64_t iv[] = {7, -1, 5, 2, 9, 4};
    const unsigned char bv[] = {0, 0, 1, 0, 0, 0};
    lps_tensor *xi = test_tensor_from(LPS_DT_INT64, 2, dims, iv);
    lps_tensor *xb = test_tensor_from(LPS_DT_BOOL, 2, dims, bv);
    const int64_t axes[] = {1};
    lps_node *sum = test_node_new("ReduceSum", 1, 1), *max = test_node_new("ReduceMax", 1, 1);
    test_node_attr_ints(sum, "axes", axes, 1);
    test_node_attr_ints(max, "axes", axes, 1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(sum, OLD_OPSET, &xi, &out, 1, &err) == LPS_OK, "%s", err.msg);
    const int64_t sums[] = {11, 15}, maxes[] = {7, 9};
    test_expect_int64s(&out, sums, 2);
    lps_tensor_release(&out);
    ck_assert_int_eq(test_op_forward(max, ATTR_OPSET, &xi, &out, 1, &err), LPS_OK);
    test_expect_int64s(&out, maxes, 2);
    lps_tensor_release(&out);
    ck_assert_int_eq(test_op_forward(max, ATTR_OPSET, &xb, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dtype, LPS_DT_BOOL);
    ck_assert_int_eq(((unsigned char *)out.data)[0], 1);
    ck_assert_int_eq(((unsigned char *)out.data)[1], 0);
    lps_tensor_release(&out);
    /* a sum of bools and an L2 of integers are refused, naming the type */
    lps_node *l2 = test_node_new("ReduceL2", 1, 1);
    ck_assert_int_eq(test_op_forward(l2, ATTR_OPSET, &xi, &out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "int64"));
    ck_assert_int_eq(test_op_forward(sum, OLD_OPSET, &xb, &out, 1, &err), LPS_ERR_UNSUPPORTED);
    lps_tensor_release(&out);
    (void)one;
    test_node_free(sum);
    test_node_free(max);
    test_node_free(l2);
    lps_tensor_free(xi);
    lps_tensor_free(xb);
}
END_TEST

START_TEST(empty_reductions)
{
    /* reducing a zero-size axis: sum 0, max -inf, min +inf, L2 0 */
    int64_t dims[] = {2, 0};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, dims, NULL);
    static const char *const ops[] = {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2"};
    const float want[] = {0.0f, -INFINITY, INFINITY, 0.0f};
    const int64_t axes[] = {1};
    for (int k = 0; k < 4; k++) {
        lps_node *n = test_node_new(ops[k], 1, 1);
        test_node_attr_ints(n, "axes", axes, 1);
        test_node_attr_int(n, "keepdims", 0);
        lps_tensor out = {0};
        lps_error err;
        ck_assert_msg(test_op_forward(n, OLD_OPSET, &x, &out, 1, &err) == LPS_OK, "%s", err.msg);
        ck_assert_int_eq(out.dims[0], 2);
        ck_assert_float_eq(lps_tensor_f32(&out)[1], want[k]);
        lps_tensor_release(&out);
        test_node_free(n);
    }
    lps_tensor_free(x);
}
END_TEST

START_TEST(gradients)
{
    static const char *const ops[] = {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2",
                                      "ReduceSumSquare"};
    int64_t dims[] = {3, 4, 2};
    const int64_t axes[] = {0, 2};
    lps_tensor *x = test_tensor_random(3, dims, -1, 1, 17);
    char why[256] = "";
    for (int k = 0; k < 5; k++) {
        lps_node *n = test_node_new(ops[k], 1, 1);
        test_node_attr_ints(n, "axes", axes, 2);
        ck_assert_msg(gradcheck_op(n, OLD_OPSET, &x, 1, 0x1u, gradcheck_default_tol(), why,
                                   sizeof why),
                      "%s: %s", ops[k], why);
        test_node_free(n);
    }
    lps_tensor_free(x);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"reduce", values_both_forms, 1},
        {"reduce", integer_and_bool_data, 1},
        {"reduce", empty_reductions, 1},
        {"reduce", gradients, 1},
    };
    return test_run_table("reduce_kinds", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
