/* Softmax / LogSoftmax: values, stability, the old (coerce to 2-D) and new
 * (single axis) axis semantics, and finite-difference gradients. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OLD_OPSET 11
#define NEW_OPSET 13
#define SM_FWD_TOL 1e-5f
#define SM_SUM_TOL 1e-5

static const int64_t dims3[] = {2, 3, 4};

/* Runs op_type on x and returns the output (caller releases). */
static lps_tensor run(const char *op_type, int64_t opset, bool has_axis, int64_t axis,
                      lps_tensor *x)
{
    lps_node *n = test_node_new(op_type, 1, 1);
    if (has_axis)
        test_node_attr_int(n, "axis", axis);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, opset, &x, &out, 1, &err) == LPS_OK, "%s", err.msg);
    test_node_free(n);
    return out;
}

/* Sum of y over the elements sharing (outer, inner) in a [outer, len, inner] view. */
static double group_sum(const float *y, int64_t len, int64_t inner, int64_t o, int64_t i)
{
    double s = 0.0;
    for (int64_t l = 0; l < len; l++)
        s += y[(o * len + l) * inner + i];
    return s;
}

START_TEST(values_and_log)
{
    int64_t d[] = {3};
    const float x[] = {1.0f, 2.0f, 3.0f};
    const float soft[] = {0.09003057f, 0.24472847f, 0.66524096f};
    const float logs[] = {-2.40760596f, -1.40760596f, -0.40760596f};
    lps_tensor *t = test_tensor_from(LPS_DT_FLOAT, 1, d, x);
    lps_tensor y = run("Softmax", NEW_OPSET, false, 0, t);
    test_expect_floats(&y, soft, 3, SM_FWD_TOL);
    lps_tensor_release(&y);
    y = run("LogSoftmax", NEW_OPSET, false, 0, t);
    test_expect_floats(&y, logs, 3, SM_FWD_TOL);
    lps_tensor_release(&y);
    lps_tensor_free(t);
}
END_TEST

START_TEST(large_inputs_are_stable)
{
    int64_t d[] = {1, 3};
    const float x[] = {1000.0f, 1001.0f, 1002.0f};
    const float soft[] = {0.09003057f, 0.24472847f, 0.66524096f};
    const float logs[] = {-2.40760596f, -1.40760596f, -0.40760596f};
    lps_tensor *t = test_tensor_from(LPS_DT_FLOAT, 2, d, x);
    lps_tensor y = run("Softmax", NEW_OPSET, false, 0, t);
    test_expect_floats(&y, soft, 3, SM_FWD_TOL);
    lps_tensor_release(&y);
    /* the old default axis 1 of a [1, 3] input is the same row */
    y = run("LogSoftmax", OLD_OPSET, false, 0, t);
    test_expect_floats(&y, logs, 3, SM_FWD_TOL);
    lps_tensor_release(&y);
    lps_tensor_free(t);
}
END_TEST

START_TEST(old_axis_coerces_to_2d)
{
    lps_tensor *x = test_tensor_random(3, dims3, -2, 2, 1);
    /* opset 11, axis 1 (also the default): each batch row of 12 sums to 1 */
    for (int explicit_axis = 0; explicit_axis < 2; explicit_axis++) {
        lps_tensor y = run("Softmax", OLD_OPSET, explicit_axis, 1, x);
        for (int64_t o = 0; o < 2; o++)
            ck_assert_double_eq_tol(group_sum(lps_tensor_f32(&y), 12, 1, o, 0), 1.0, SM_SUM_TOL);
        /* and it is not normalized per dim-1 column */
        ck_assert(fabs(group_sum(lps_tensor_f32(&y), 3, 4, 0, 0) - 1.0) > 0.01);
        lps_tensor_release(&y);
    }
    lps_tensor_free(x);
}
END_TEST

START_TEST(new_axis_is_single_dim)
{
    lps_tensor *x = test_tensor_random(3, dims3, -2, 2, 1);
    lps_tensor y = run("Softmax", NEW_OPSET, true, 1, x);
    for (int64_t o = 0; o < 2; o++)
        for (int64_t i = 0; i < 4; i++)
            ck_assert_double_eq_tol(group_sum(lps_tensor_f32(&y), 3, 4, o, i), 1.0, SM_SUM_TOL);
    lps_tensor_release(&y);
    /* default axis -1: every run of 4 sums to 1 */
    y = run("Softmax", NEW_OPSET, false, 0, x);
    for (int64_t o = 0; o < 6; o++)
        ck_assert_double_eq_tol(group_sum(lps_tensor_f32(&y), 4, 1, o, 0), 1.0, SM_SUM_TOL);
    lps_tensor_release(&y);
    lps_tensor_free(x);
}
END_TEST

START_TEST(rejects_bad_axis)
{
    lps_tensor *x = test_tensor_random(3, dims3, -2, 2, 1);
    lps_node *n = test_node_new("Softmax", 1, 1);
    test_node_attr_int(n, "axis", 3);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, NEW_OPSET, &x, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "axis 3"));
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(x);
}
END_TEST

static const struct {
    const char *op;
    int64_t opset;
    int64_t axis;
} grad_cases[] = {
    {"Softmax", OLD_OPSET, 0},     {"Softmax", OLD_OPSET, 1},     {"Softmax", OLD_OPSET, -1},
    {"Softmax", NEW_OPSET, 0},     {"Softmax", NEW_OPSET, 1},     {"Softmax", NEW_OPSET, -1},
    {"LogSoftmax", OLD_OPSET, 0},  {"LogSoftmax", OLD_OPSET, 2},  {"LogSoftmax", OLD_OPSET, -2},
    {"LogSoftmax", NEW_OPSET, 0},  {"LogSoftmax", NEW_OPSET, 1},  {"LogSoftmax", NEW_OPSET, 2},
};

START_TEST(gradient)
{
    lps_tensor *x = test_tensor_random(3, dims3, -2, 2, (uint64_t)_i + 1);
    lps_node *n = test_node_new(grad_cases[_i].op, 1, 1);
    test_node_attr_int(n, "axis", grad_cases[_i].axis);
    char why[256] = "";
    bool ok = gradcheck_op(n, grad_cases[_i].opset, &x, 1, 0x1u, gradcheck_default_tol(), why,
                           sizeof why);
    test_node_free(n);
    lps_tensor_free(x);
    ck_assert_msg(ok, "%s opset %lld axis %lld: %s", grad_cases[_i].op,
                  (long long)grad_cases[_i].opset, (long long)grad_cases[_i].axis, why);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", values_and_log, 1},
        {"forward", large_inputs_are_stable, 1},
        {"forward", old_axis_coerces_to_2d, 1},
        {"forward", new_axis_is_single_dim, 1},
        {"forward", rejects_bad_axis, 1},
        {"gradient", gradient, (int)(sizeof grad_cases / sizeof grad_cases[0])},
    };
    return test_run_table("softmax", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
