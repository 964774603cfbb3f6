/* Relu, LeakyRelu, Sigmoid, Tanh, Exp, Neg, Sqrt, Clip, HardSigmoid,
 * HardSwish, Gelu (both forms), Softplus, Elu, Selu: gradients away from the
 * kinks, forward values, both Clip forms and attribute errors. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
/* Clip's attribute form is checked at the last opset that has it. */
#define CLIP_ATTR_OPSET 10
#define VALUE_TOL 1e-6f
/* expf/tanhf results compared with reference decimals up to e^4 ~ 55. */
#define TRANSCENDENTAL_TOL 5e-5f
/* Inputs for kinked ops keep at least this far from the kink (finite
 * differences use eps = 1e-2 and must not straddle it). */
#define KINK_MARGIN 0.1f

/* n values spread over [lo, hi) but never within KINK_MARGIN of any kink. */
static lps_tensor *away_from_kinks(int64_t n, float lo, float hi, const float *kinks, int n_kinks,
                                   uint64_t seed)
{
    int64_t dims[] = {n};
    lps_tensor *t = test_tensor_random(1, dims, lo, hi, seed);
    float *x = lps_tensor_f32(t);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < n_kinks; k++)
            if (fabsf(x[i] - kinks[k]) < KINK_MARGIN)
                x[i] = kinks[k] + (x[i] < kinks[k] ? -KINK_MARGIN : KINK_MARGIN);
    return t;
}

typedef struct grad_case {
    const char *op_type;
    float lo, hi;          /* input range */
    int n_kinks;
    float kinks[2];
    const char *approximate; /* Gelu's attribute, NULL when absent */
    int64_t opset;           /* 0: OPSET */
} grad_case;

/* HardSigmoid's default kinks are where 0.2 x + 0.5 leaves [0, 1]. */
static const grad_case grad_cases[] = {
    {"Relu", -2.0f, 2.0f, 1, {0.0f}, NULL, 0},
    {"LeakyRelu", -2.0f, 2.0f, 1, {0.0f}, NULL, 0},
    {"Sigmoid", -3.0f, 3.0f, 0, {0}, NULL, 0},
    {"Tanh", -2.0f, 2.0f, 0, {0}, NULL, 0},
    {"Exp", -2.0f, 1.5f, 0, {0}, NULL, 0},
    {"Neg", -2.0f, 2.0f, 0, {0}, NULL, 0},
    {"Sqrt", 0.3f, 4.0f, 0, {0}, NULL, 0},
    {"HardSigmoid", -4.0f, 4.0f, 2, {-2.5f, 2.5f}, NULL, 0},
    {"HardSwish", -4.5f, 4.5f, 2, {-3.0f, 3.0f}, NULL, 14},
    {"Gelu", -3.0f, 3.0f, 0, {0}, NULL, 20},
    {"Gelu", -3.0f, 3.0f, 0, {0}, "tanh", 20},
    {"Softplus", -4.0f, 4.0f, 0, {0}, NULL, 0},
    {"Elu", -3.0f, 2.0f, 1, {0.0f}, NULL, 0},
    {"Selu", -3.0f, 2.0f, 1, {0.0f}, NULL, 0},
};
#define N_GRAD_CASES ((int)(sizeof grad_cases / sizeof grad_cases[0]))
#define GRAD_POINTS 40

START_TEST(gradient_unary)
{
    const grad_case *gc = &grad_cases[_i];
    lps_node *node = test_node_new(gc->op_type, 1, 1);
    if (strcmp(gc->op_type, "LeakyRelu") == 0)
        test_node_attr_float(node, "alpha", 0.2f);
    if (gc->approximate)
        test_node_attr_string(node, "approximate", gc->approximate);
    lps_tensor *x = away_from_kinks(GRAD_POINTS, gc->lo, gc->hi, gc->kinks, gc->n_kinks,
                                    7 + (uint64_t)_i);
    char why[256] = "";
    bool ok = gradcheck_op(node, gc->opset ? gc->opset : OPSET, &x, 1, 0x1u,
                           gradcheck_default_tol(), why, sizeof why);
    ck_assert_msg(ok, "%s: %s", gc->op_type, why);
    lps_tensor_free(x);
    test_node_free(node);
}
END_TEST

START_TEST(gradient_clip_attribute_form)
{
    const float kinks[] = {-0.5f, 0.7f};
    lps_node *node = test_node_new("Clip", 1, 1);
    test_node_attr_float(node, "min", kinks[0]);
    test_node_attr_float(node, "max", kinks[1]);
    lps_tensor *x = away_from_kinks(GRAD_POINTS, -2.0f, 2.0f, kinks, 2, 3);
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, CLIP_ATTR_OPSET, &x, 1, 0x1u, gradcheck_default_tol(), why,
                               sizeof why),
                  "%s", why);
    lps_tensor_free(x);
    test_node_free(node);
}
END_TEST

/* _i = 0: both bounds, 1: min only, 2: max only (min omitted). */
START_TEST(gradient_clip_input_form)
{
    const float kinks[] = {-0.5f, 0.7f};
    int64_t scalar[] = {0};
    lps_node *node = test_node_new("Clip", 3, 1);
    lps_tensor *lo = test_tensor_from(LPS_DT_FLOAT, 0, scalar, &kinks[0]);
    lps_tensor *hi = test_tensor_from(LPS_DT_FLOAT, 0, scalar, &kinks[1]);
    lps_tensor *x = away_from_kinks(GRAD_POINTS, -2.0f, 2.0f, kinks, 2, 4);
    lps_tensor *in[] = {x, _i == 2 ? NULL : lo, _i == 1 ? NULL : hi};
    if (_i == 2)
        test_node_omit_input(node, 1);
    if (_i == 1)
        test_node_omit_input(node, 2);
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, OPSET, in, 3, 0x1u, gradcheck_default_tol(), why, sizeof why),
                  "case %d: %s", _i, why);
    lps_tensor_free(x);
    lps_tensor_free(lo);
    lps_tensor_free(hi);
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
        {"Relu", {0.0f, 0.0f, 0.0f, 0.25f, 4.0f}},
        {"LeakyRelu", {-0.02f, -0.005f, 0.0f, 0.25f, 4.0f}},
        {"Sigmoid",
         {0.11920292f, 0.37754067f, 0.5f, 0.56217650f, 0.98201379f}},
        {"Tanh", {-0.96402758f, -0.46211716f, 0.0f, 0.24491866f, 0.99932930f}},
        {"Exp", {0.13533528f, 0.60653066f, 1.0f, 1.28402542f, 54.59815003f}},
        {"Neg", {2.0f, 0.5f, -0.0f, -0.25f, -4.0f}},
    };
    int64_t dims[] = {5};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lps_node *node = test_node_new(cases[k].op_type, 1, 1);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_OK);
        test_expect_shape(&out[0], 1, dims);
        test_expect_floats(&out[0], cases[k].expected, lps_numel_of(1, dims),
                           TRANSCENDENTAL_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(x);
}
END_TEST

typedef struct attr_value_case {
    const char *op_type;
    const char *approximate; /* Gelu's attribute, NULL when absent */
    int64_t opset;
    float expected[5];
} attr_value_case;

/* Defaults of every attribute; values from PyTorch in double precision. */
START_TEST(forward_values_since_opset)
{
    static const float xv[] = {-2.0f, -0.5f, 0.0f, 0.25f, 4.0f};
    static const attr_value_case cases[] = {
        {"HardSigmoid", NULL, OPSET, {0.1f, 0.4f, 0.5f, 0.55f, 1.0f}},
        {"HardSwish", NULL, 14, {-0.33333333f, -0.20833333f, 0.0f, 0.13541667f, 4.0f}},
        {"Gelu", NULL, 20, {-0.04550026f, -0.15426877f, 0.0f, 0.14967658f, 3.99987332f}},
        {"Gelu", "tanh", 20, {-0.04540231f, -0.15428599f, 0.0f, 0.14967535f, 3.99992975f}},
        {"Softplus", NULL, OPSET,
         {0.12692801f, 0.47407698f, 0.69314718f, 0.82593942f, 4.01814993f}},
        {"Elu", NULL, OPSET, {-0.86466472f, -0.39346934f, 0.0f, 0.25f, 4.0f}},
        {"Selu", NULL, OPSET, {-1.52016647f, -0.69175819f, 0.0f, 0.26267525f, 4.20280395f}},
    };
    int64_t dims[] = {5};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lps_node *node = test_node_new(cases[k].op_type, 1, 1);
        if (cases[k].approximate)
            test_node_attr_string(node, "approximate", cases[k].approximate);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, cases[k].opset, &x, out, 1, &err), LPS_OK);
        test_expect_shape(&out[0], 1, dims);
        test_expect_floats(&out[0], cases[k].expected, lps_numel_of(1, dims),
                           TRANSCENDENTAL_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(x);
}
END_TEST

/* Gelu exists from opset 20 only and knows two approximations. */
START_TEST(gelu_opset_and_mode_errors)
{
    int64_t dims[] = {2};
    lps_tensor *x = test_tensor_random(1, dims, -1.0f, 1.0f, 2);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *node = test_node_new("Gelu", 1, 1);
    ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "opset 13"));
    test_node_attr_string(node, "approximate", "sigmoid");
    ck_assert_int_eq(test_op_forward(node, 20, &x, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "sigmoid"));
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

START_TEST(forward_sqrt)
{
    int64_t dims[] = {3};
    const float xv[] = {0.0f, 2.25f, 16.0f}, expected[] = {0.0f, 1.5f, 4.0f};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    lps_node *node = test_node_new("Sqrt", 1, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, &x, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 1, dims);
    test_expect_floats(&out[0], expected, lps_numel_of(1, dims), VALUE_TOL);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

START_TEST(forward_clip_forms)
{
    int64_t dims[] = {4}, scalar[] = {0};
    const float xv[] = {-3.0f, -1.0f, 1.0f, 3.0f};
    const float both[] = {-2.0f, -1.0f, 1.0f, 2.0f}, min_only[] = {-2.0f, -1.0f, 1.0f, 3.0f};
    const float crossed[] = {-5.0f, -5.0f, -5.0f, -5.0f};
    const float lo_v = -2.0f, hi_v = 2.0f, low_max = -5.0f;
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, dims, xv);
    lps_tensor *lo = test_tensor_from(LPS_DT_FLOAT, 0, scalar, &lo_v);
    lps_tensor *hi = test_tensor_from(LPS_DT_FLOAT, 0, scalar, &hi_v);
    lps_tensor *below = test_tensor_from(LPS_DT_FLOAT, 0, scalar, &low_max);
    lps_tensor out[1] = {{0}};
    lps_error err;

    lps_node *attr_form = test_node_new("Clip", 1, 1);
    test_node_attr_float(attr_form, "min", lo_v);
    test_node_attr_float(attr_form, "max", hi_v);
    ck_assert_int_eq(test_op_forward(attr_form, CLIP_ATTR_OPSET, &x, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 1, dims);
    test_expect_floats(&out[0], both, lps_numel_of(1, dims), VALUE_TOL);
    /* the attribute form is gone from opset 11 */
    ck_assert_int_eq(test_op_forward(attr_form, OPSET, &x, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'min'"));

    lps_node *input_form = test_node_new("Clip", 2, 1);
    lps_tensor *in_min[] = {x, lo};
    ck_assert_int_eq(test_op_forward(input_form, OPSET, in_min, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 1, dims);
    test_expect_floats(&out[0], min_only, lps_numel_of(1, dims), VALUE_TOL);
    /* inputs before opset 11 are an error */
    ck_assert_int_eq(test_op_forward(input_form, CLIP_ATTR_OPSET, in_min, out, 1, &err),
                     LPS_ERR_INVALID);

    lps_node *crossed_form = test_node_new("Clip", 3, 1);
    lps_tensor *in_crossed[] = {x, lo, below};
    ck_assert_int_eq(test_op_forward(crossed_form, OPSET, in_crossed, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 1, dims);
    test_expect_floats(&out[0], crossed, lps_numel_of(1, dims), VALUE_TOL);
    lps_tensor *in_vector_bound[] = {x, x};
    ck_assert_int_eq(test_op_forward(input_form, OPSET, in_vector_bound, out, 1, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "scalar"));

    lps_tensor_release(&out[0]);
    test_node_free(attr_form);
    test_node_free(input_form);
    test_node_free(crossed_form);
    lps_tensor_free(x);
    lps_tensor_free(lo);
    lps_tensor_free(hi);
    lps_tensor_free(below);
}
END_TEST

START_TEST(unknown_attribute_and_dtype_fail)
{
    int64_t dims[] = {2};
    const int64_t iv[] = {1, 2};
    lps_tensor *xi = test_tensor_from(LPS_DT_INT64, 1, dims, iv);
    lps_tensor *xf = test_tensor_random(1, dims, 0.0f, 1.0f, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *relu = test_node_new("Relu", 1, 1);
    ck_assert_int_eq(test_op_forward(relu, OPSET, &xi, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "int64"));
    lps_node *leaky = test_node_new("LeakyRelu", 1, 1);
    test_node_attr_float(leaky, "beta", 1.0f);
    ck_assert_int_eq(test_op_forward(leaky, OPSET, &xf, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'beta'"));
    lps_tensor_release(&out[0]);
    test_node_free(relu);
    test_node_free(leaky);
    lps_tensor_free(xi);
    lps_tensor_free(xf);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradient", gradient_unary, N_GRAD_CASES},
        {"gradient", gradient_clip_attribute_form, 1},
        {"gradient", gradient_clip_input_form, 3},
        {"forward", forward_values, 1},
        {"forward", forward_sqrt, 1},
        {"forward", forward_values_since_opset, 1},
        {"forward", gelu_opset_and_mode_errors, 1},
        {"forward", forward_clip_forms, 1},
        {"forward", unknown_attribute_and_dtype_fail, 1},
    };
    return test_run_table("activation", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
