/* Erf, Abs, Log, Reciprocal, Sin, Cos: gradients; Sign, Floor, Ceil:
 * forward values and no gradient; all: forward values against PyTorch. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
/* Transcendental results compared with reference decimals. */
#define VALUE_TOL 5e-6f
#define GRAD_POINTS 40

typedef struct grad_case {
    const char *op_type;
    float lo, hi;   /* input range; Abs and Reciprocal keep clear of 0 below */
} grad_case;

static const grad_case grad_cases[] = {
    {"Erf", -2.0f, 2.0f},   {"Abs", -2.0f, 2.0f}, {"Log", 0.3f, 3.0f},
    {"Reciprocal", 0.5f, 2.0f}, {"Sin", -3.0f, 3.0f}, {"Cos", -3.0f, 3.0f},
};
#define N_GRAD_CASES ((int)(sizeof grad_cases / sizeof grad_cases[0]))
/* Abs's kink at 0 and Reciprocal's pole: inputs keep at least this far. */
#define ZERO_MARGIN 0.1f

START_TEST(gradient_unary_math)
{
    const grad_case *gc = &grad_cases[_i];
    int64_t dims[] = {GRAD_POINTS};
    lps_tensor *x = test_tensor_random(1, dims, gc->lo, gc->hi, 11 + (uint64_t)_i);
    float *xv = lps_tensor_f32(x);
    for (int i = 0; i < GRAD_POINTS; i++)
        if (fabsf(xv[i]) < ZERO_MARGIN)
            xv[i] = xv[i] < 0.0f ? -ZERO_MARGIN : ZERO_MARGIN;
    lps_node *node = test_node_new(gc->op_type, 1, 1);
    char why[256] = "";
    bool ok = gradcheck_op(node, OPSET, &x, 1, 0x1u, gradcheck_default_tol(), why, sizeof why);
    ck_assert_msg(ok, "%s: %s", gc->op_type, why);
    lps_tensor_free(x);
    test_node_free(node);
}
END_TEST

typedef struct value_case {
    const char *op_type;
    float expected[5];
} value_case;

START_TEST(forward_values)
{
    static const float xv[] = {-2.0f, -0.5f, 0.0f, 0.25f, 4.0f};
    static const value_case cases[] = {
        {"Erf", {-0.99532227f, -0.52049988f, 0.0f, 0.27632639f, 0.99999998f}},
        {"Abs", {2.0f, 0.5f, 0.0f, 0.25f, 4.0f}},
        {"Sin", {-0.90929743f, -0.47942554f, 0.0f, 0.24740396f, -0.75680250f}},
        {"Cos", {-0.41614684f, 0.87758256f, 1.0f, 0.96891242f, -0.65364362f}},
        {"Sign", {-1.0f, -1.0f, 0.0f, 1.0f, 1.0f}},
        {"Floor", {-2.0f, -1.0f, 0.0f, 0.0f, 4.0f}},
        {"Ceil", {-2.0f, -0.0f, 0.0f, 1.0f, 4.0f}},
    };
    int64_t dims[] = {5};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lps_node *node = test_node_new(cases[k].op_type, 1, 1);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_OK);
        test_expect_shape(&out[0], 1, dims);
        test_expect_floats(&out[0], cases[k].expected, 5, VALUE_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(x);
}
END_TEST

START_TEST(forward_log_reciprocal)
{
    static const float xv[] = {0.5f, 1.0f, 4.0f};
    static const float log_want[] = {-0.69314718f, 0.0f, 1.38629436f};
    static const float rec_want[] = {2.0f, 1.0f, 0.25f};
    int64_t dims[] = {3};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    const char *ops[] = {"Log", "Reciprocal"};
    const float *want[] = {log_want, rec_want};
    for (int k = 0; k < 2; k++) {
        lps_node *node = test_node_new(ops[k], 1, 1);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_OK);
        test_expect_floats(&out[0], want[k], 3, VALUE_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(x);
}
END_TEST

/* Piecewise-constant ops pass no gradient: the engine never asks them. */
START_TEST(piecewise_constant_ops_have_no_gradient)
{
    static const char *const ops[] = {"Sign", "Floor", "Ceil"};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        ck_assert_msg(!test_op_trains_input(ops[k], OPSET, 1, 0), "%s trains its input", ops[k]);
    ck_assert(test_op_trains_input("Erf", OPSET, 1, 0));
}
END_TEST

START_TEST(integer_input_fails)
{
    int64_t dims[] = {2};
    const int64_t iv[] = {1, 2};
    lps_tensor *x = test_tensor_from(LPS_DT_INT64, 1, dims, iv);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *node = test_node_new("Log", 1, 1);
    ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "int64"));
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradient", gradient_unary_math, N_GRAD_CASES},
        {"gradient", piecewise_constant_ops_have_no_gradient, 1},
        {"forward", forward_values, 1},
        {"forward", forward_log_reciprocal, 1},
        {"forward", integer_input_fails, 1},
    };
    return test_run_table("unary_math", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
