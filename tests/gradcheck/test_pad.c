/* Pad: every mode by hand, both attribute and input forms, axes, negative
 * pads, int64 data, errors, and gradients of every mode. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define ATTR_OPSET 10
#define INPUT_OPSET 13
#define AXES_OPSET 18
#define WRAP_OPSET 19

static const int64_t x_dims[] = {2, 3};
static const float x_values[] = {1, 2, 3, 4, 5, 6};

static lps_tensor *pads_tensor(int n, const int64_t *values)
{
    int64_t dims[] = {n};
    return test_tensor_from(LPS_DT_INT64, 1, dims, values);
}

/* Pads x_values ([2,3]) with the input form at opset and compares with want. */
static void expect_input_form(const char *mode, int64_t opset, const int64_t *pads, int n_pads,
                              int64_t rows, int64_t cols, const float *want)
{
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    lps_tensor *p = pads_tensor(n_pads, pads);
    lps_node *node = test_node_new("Pad", 2, 1);
    test_node_attr_string(node, "mode", mode);
    lps_tensor *in[] = {x, p};
    lps_tensor out[1] = {{0}};
    lps_error err;
    int64_t dims[] = {rows, cols};
    ck_assert_msg(test_op_forward(node, opset, in, out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out[0], 2, dims);
    test_expect_floats(&out[0], want, rows * cols, 0.0f);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(p);
}

START_TEST(constant_attribute_form)
{
    const int64_t pads[] = {0, 2, 1, 1};
    const float want[] = {9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9};
    int64_t dims[] = {3, 6};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    lps_node *node = test_node_new("Pad", 1, 1);
    test_node_attr_ints(node, "pads", pads, 4);
    test_node_attr_float(node, "value", 9.0f);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, ATTR_OPSET, &x, out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out[0], 2, dims);
    test_expect_floats(&out[0], want, 18, 0.0f);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

START_TEST(edge_reflect_wrap)
{
    const int64_t edge_pads[] = {1, 1, 0, 2};
    const float edge[] = {1, 1, 2, 3, 3, 3, 1, 1, 2, 3, 3, 3, 4, 4, 5, 6, 6, 6};
    expect_input_form("edge", INPUT_OPSET, edge_pads, 4, 3, 6, edge);
    const int64_t reflect_pads[] = {0, 2, 0, 2};
    const float reflect[] = {3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4};
    expect_input_form("reflect", INPUT_OPSET, reflect_pads, 4, 2, 7, reflect);
    const float wrap[] = {6, 4, 5, 6, 4, 5, 3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5};
    expect_input_form("wrap", WRAP_OPSET, edge_pads, 4, 3, 6, wrap);
}
END_TEST

START_TEST(negative_pads_crop_first)
{
    const int64_t crop_pad[] = {0, -1, 0, 1};
    const float cropped[] = {2, 3, 0, 5, 6, 0};
    expect_input_form("constant", INPUT_OPSET, crop_pad, 4, 2, 3, cropped);
    /* wrap reads the kept columns [1, 2] only */
    const int64_t wrap_pad[] = {0, 1, 0, -1};
    const float wrapped[] = {2, 1, 2, 5, 4, 5};
    expect_input_form("wrap", WRAP_OPSET, wrap_pad, 4, 2, 3, wrapped);
    const int64_t edge_pad[] = {0, -2, 0, 2};
    const float edged[] = {3, 3, 3, 6, 6, 6};
    expect_input_form("edge", INPUT_OPSET, edge_pad, 4, 2, 3, edged);
}
END_TEST

START_TEST(axes_input_and_int64_constant)
{
    const int64_t pads[] = {1, 0}, axes_v[] = {-1};
    const float want_axes[] = {0, 1, 2, 3, 0, 4, 5, 6};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    lps_tensor *p = pads_tensor(2, pads);
    lps_tensor *axes = pads_tensor(1, axes_v);
    lps_node *node = test_node_new("Pad", 4, 1);
    test_node_omit_input(node, 2);
    lps_tensor *in[] = {x, p, NULL, axes};
    lps_tensor out[1] = {{0}};
    lps_error err;
    int64_t dims[] = {2, 4};
    ck_assert_msg(test_op_forward(node, AXES_OPSET, in, out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out[0], 2, dims);
    test_expect_floats(&out[0], want_axes, 8, 0.0f);
    /* axes is an opset-18 input */
    ck_assert_int_eq(test_op_forward(node, INPUT_OPSET, in, out, 1, &err), LPS_ERR_INVALID);

    const int64_t iv[] = {1, 2, 3, 4, 5, 6}, seven = 7, scalar[] = {0};
    const int64_t int_pads[] = {0, 1, 0, 0}, want_int[] = {7, 1, 2, 3, 7, 4, 5, 6};
    lps_tensor *xi = test_tensor_from(LPS_DT_INT64, 2, x_dims, iv);
    lps_tensor *pi = pads_tensor(4, int_pads);
    lps_tensor *value = test_tensor_from(LPS_DT_INT64, 0, scalar, &seven);
    lps_node *constant = test_node_new("Pad", 3, 1);
    lps_tensor *in_int[] = {xi, pi, value};
    ck_assert_msg(test_op_forward(constant, INPUT_OPSET, in_int, out, 1, &err) == LPS_OK, "%s",
                  err.msg);
    test_expect_shape(&out[0], 2, dims);
    test_expect_int64s(&out[0], want_int, 8);
    /* a float constant for int64 data is an error */
    lps_tensor *in_mixed[] = {xi, pi, x};
    ck_assert_int_eq(test_op_forward(constant, INPUT_OPSET, in_mixed, out, 1, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "constant_value"));

    lps_tensor_release(&out[0]);
    test_node_free(node);
    test_node_free(constant);
    lps_tensor_free(x);
    lps_tensor_free(p);
    lps_tensor_free(axes);
    lps_tensor_free(xi);
    lps_tensor_free(pi);
    lps_tensor_free(value);
}
END_TEST

START_TEST(errors_name_the_problem)
{
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    lps_tensor out[1] = {{0}};
    lps_error err;
    const int64_t ok_pads[] = {0, 1, 0, 1}, too_far[] = {0, 3, 0, 0}, short_pads[] = {1, 1};
    lps_tensor *p_ok = pads_tensor(4, ok_pads), *p_far = pads_tensor(4, too_far);
    lps_tensor *p_short = pads_tensor(2, short_pads);

    lps_node *wrap = test_node_new("Pad", 2, 1);
    test_node_attr_string(wrap, "mode", "wrap");
    lps_tensor *in_ok[] = {x, p_ok};
    ck_assert_int_eq(test_op_forward(wrap, AXES_OPSET, in_ok, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'wrap'"));

    lps_node *reflect = test_node_new("Pad", 2, 1);
    test_node_attr_string(reflect, "mode", "reflect");
    lps_tensor *in_far[] = {x, p_far}, *in_short[] = {x, p_short};
    ck_assert_int_eq(test_op_forward(reflect, INPUT_OPSET, in_far, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "reflect"));
    ck_assert_int_eq(test_op_forward(reflect, INPUT_OPSET, in_short, out, 1, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "expected 4"));

    lps_node *symmetric = test_node_new("Pad", 2, 1);
    test_node_attr_string(symmetric, "mode", "symmetric");
    ck_assert_int_eq(test_op_forward(symmetric, INPUT_OPSET, in_ok, out, 1, &err),
                     LPS_ERR_UNSUPPORTED);

    lps_node *no_pads = test_node_new("Pad", 1, 1);
    ck_assert_int_eq(test_op_forward(no_pads, ATTR_OPSET, &x, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'pads'"));

    lps_tensor_release(&out[0]);
    test_node_free(wrap);
    test_node_free(reflect);
    test_node_free(symmetric);
    test_node_free(no_pads);
    lps_tensor_free(x);
    lps_tensor_free(p_ok);
    lps_tensor_free(p_far);
    lps_tensor_free(p_short);
}
END_TEST

/* _i selects the mode; pads grow, keep and crop different axes of [2,3,4]
 * so that edge/reflect/wrap send several outputs to one input element. */
START_TEST(gradient_every_mode)
{
    static const char *const modes[] = {"constant", "edge", "reflect", "wrap"};
    const int64_t pads[] = {1, 0, 2, 0, 2, -1};
    int64_t dims[] = {2, 3, 4};
    lps_tensor *x = test_tensor_random(3, dims, -1.0f, 1.0f, 11);
    lps_tensor *p = pads_tensor(6, pads);
    lps_node *node = test_node_new("Pad", 2, 1);
    test_node_attr_string(node, "mode", modes[_i]);
    lps_tensor *in[] = {x, p};
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, WRAP_OPSET, in, 2, 0x1u, gradcheck_default_tol(), why,
                               sizeof why),
                  "%s: %s", modes[_i], why);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(p);
}
END_TEST

START_TEST(gradient_attribute_form)
{
    const int64_t pads[] = {1, 1, 0, 2};
    int64_t dims[] = {3, 4};
    lps_tensor *x = test_tensor_random(2, dims, -1.0f, 1.0f, 12);
    lps_node *node = test_node_new("Pad", 1, 1);
    test_node_attr_string(node, "mode", "reflect");
    test_node_attr_ints(node, "pads", pads, 4);
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, ATTR_OPSET, &x, 1, 0x1u, gradcheck_default_tol(), why,
                               sizeof why),
                  "%s", why);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", constant_attribute_form, 1},
        {"forward", edge_reflect_wrap, 1},
        {"forward", negative_pads_crop_first, 1},
        {"forward", axes_input_and_int64_constant, 1},
        {"forward", errors_name_the_problem, 1},
        {"gradient", gradient_every_mode, 4},
        {"gradient", gradient_attribute_form, 1},
    };
    return test_run_table("pad", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
