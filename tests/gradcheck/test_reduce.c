/* ReduceMean: axes as attribute (before 18) and input (18+), keepdims,
 * noop_with_empty_axes, negative axes, errors, and gradients. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define ATTR_OPSET 13
#define INPUT_OPSET 18
#define MEAN_TOL 1e-6f

static const int64_t x_dims[] = {2, 3};
static const float x_values[] = {1, 2, 3, 4, 5, 6};

/* One attribute-form case on x: axes (n_axes -1 = absent), keepdims. */
typedef struct attr_case {
    int n_axes;
    int64_t axes[2];
    int64_t keepdims;
    int rank;
    int64_t dims[2];
    float want[3];
} attr_case;

START_TEST(attribute_form)
{
    static const attr_case cases[] = {
        {1, {1}, 1, 2, {2, 1}, {2, 5}},
        {1, {-1}, 1, 2, {2, 1}, {2, 5}},
        {1, {0}, 0, 1, {3}, {2.5f, 3.5f, 4.5f}},
        {-1, {0}, 1, 2, {1, 1}, {3.5f}},
        {-1, {0}, 0, 0, {0}, {3.5f}},
        {2, {1, 0}, 0, 0, {0}, {3.5f}},
    };
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const attr_case *c = &cases[k];
        lps_node *node = test_node_new("ReduceMean", 1, 1);
        if (c->n_axes >= 0)
            test_node_attr_ints(node, "axes", c->axes, c->n_axes);
        test_node_attr_int(node, "keepdims", c->keepdims);
        lps_tensor out[1] = {{0}};
        lps_error err;
        ck_assert_msg(test_op_forward(node, ATTR_OPSET, &x, out, 1, &err) == LPS_OK, "%s",
                      err.msg);
        test_expect_shape(&out[0], c->rank, c->dims);
        test_expect_floats(&out[0], c->want, lps_numel_of(c->rank, c->dims), MEAN_TOL);
        lps_tensor_release(&out[0]);
        test_node_free(node);
    }
    lps_tensor_free(x);
}
END_TEST

START_TEST(input_form_and_noop)
{
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    const int64_t axis0[] = {0};
    int64_t one[] = {1}, none[] = {0};
    lps_tensor *axes = test_tensor_from(LPS_DT_INT64, 1, one, axis0);
    lps_tensor *empty = test_tensor_from(LPS_DT_INT64, 1, none, axis0);
    lps_tensor out[1] = {{0}};
    lps_error err;

    lps_node *node = test_node_new("ReduceMean", 2, 1);
    lps_tensor *in[] = {x, axes}, *in_empty[] = {x, empty};
    int64_t d13[] = {1, 3}, d11[] = {1, 1};
    const float col_means[] = {2.5f, 3.5f, 4.5f}, all[] = {3.5f};
    ck_assert_int_eq(test_op_forward(node, INPUT_OPSET, in, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, d13);
    test_expect_floats(&out[0], col_means, 3, MEAN_TOL);
    /* an empty axes list reduces everything unless noop_with_empty_axes */
    ck_assert_int_eq(test_op_forward(node, INPUT_OPSET, in_empty, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, d11);
    test_expect_floats(&out[0], all, 1, MEAN_TOL);

    lps_node *noop = test_node_new("ReduceMean", 2, 1);
    test_node_attr_int(noop, "noop_with_empty_axes", 1);
    ck_assert_int_eq(test_op_forward(noop, INPUT_OPSET, in_empty, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, x_dims);
    test_expect_floats(&out[0], x_values, 6, 0.0f);
    lps_node *noop_absent = test_node_new("ReduceMean", 1, 1);
    test_node_attr_int(noop_absent, "noop_with_empty_axes", 1);
    ck_assert_int_eq(test_op_forward(noop_absent, INPUT_OPSET, &x, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, x_dims);

    lps_tensor_release(&out[0]);
    test_node_free(node);
    test_node_free(noop);
    test_node_free(noop_absent);
    lps_tensor_free(x);
    lps_tensor_free(axes);
    lps_tensor_free(empty);
}
END_TEST

START_TEST(errors_name_the_problem)
{
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, x_dims, x_values);
    lps_tensor out[1] = {{0}};
    lps_error err;
    const int64_t axes[] = {1, -1}, far[] = {2};

    lps_node *attr_late = test_node_new("ReduceMean", 1, 1);
    test_node_attr_ints(attr_late, "axes", far, 1);
    ck_assert_int_eq(test_op_forward(attr_late, INPUT_OPSET, &x, out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'axes'"));
    ck_assert_int_eq(test_op_forward(attr_late, ATTR_OPSET, &x, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "axis 2"));

    lps_node *repeated = test_node_new("ReduceMean", 1, 1);
    test_node_attr_ints(repeated, "axes", axes, 2);
    ck_assert_int_eq(test_op_forward(repeated, ATTR_OPSET, &x, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "repeated"));

    lps_node *noop_early = test_node_new("ReduceMean", 1, 1);
    test_node_attr_int(noop_early, "noop_with_empty_axes", 1);
    ck_assert_int_eq(test_op_forward(noop_early, ATTR_OPSET, &x, out, 1, &err),
                     LPS_ERR_UNSUPPORTED);

    lps_tensor_release(&out[0]);
    test_node_free(attr_late);
    test_node_free(repeated);
    test_node_free(noop_early);
    lps_tensor_free(x);
}
END_TEST

/* Gradient cases on a [2,3,4] input. */
typedef struct grad_case {
    int64_t opset;
    int n_axes;           /* -1: none */
    int64_t axes[3];
    int64_t keepdims;
    bool noop;
} grad_case;

static const grad_case grad_cases[] = {
    {ATTR_OPSET, 1, {1}, 1, false},
    {ATTR_OPSET, 2, {0, 2}, 0, false},
    {ATTR_OPSET, 1, {-1}, 0, false},
    {ATTR_OPSET, -1, {0}, 1, false},
    {INPUT_OPSET, 2, {2, 1}, 1, false},
    {INPUT_OPSET, -1, {0}, 0, true},
};
#define N_GRAD_CASES ((int)(sizeof grad_cases / sizeof grad_cases[0]))

START_TEST(gradient)
{
    const grad_case *c = &grad_cases[_i];
    int64_t dims[] = {2, 3, 4};
    bool axes_input = c->opset >= INPUT_OPSET && c->n_axes >= 0;
    lps_tensor *x = test_tensor_random(3, dims, -1.0f, 1.0f, 20 + (uint64_t)_i);
    int64_t n_axes[] = {c->n_axes > 0 ? c->n_axes : 0};
    lps_tensor *axes = test_tensor_from(LPS_DT_INT64, 1, n_axes, c->axes);
    lps_node *node = test_node_new("ReduceMean", axes_input ? 2 : 1, 1);
    if (c->opset < INPUT_OPSET && c->n_axes >= 0)
        test_node_attr_ints(node, "axes", c->axes, c->n_axes);
    test_node_attr_int(node, "keepdims", c->keepdims);
    if (c->noop)
        test_node_attr_int(node, "noop_with_empty_axes", 1);
    lps_tensor *in[] = {x, axes};
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, c->opset, in, axes_input ? 2 : 1, 0x1u,
                               gradcheck_default_tol(), why, sizeof why),
                  "case %d: %s", _i, why);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(axes);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", attribute_form, 1},
        {"forward", input_form_and_noop, 1},
        {"forward", errors_name_the_problem, 1},
        {"gradient", gradient, N_GRAD_CASES},
    };
    return test_run_table("reduce", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
