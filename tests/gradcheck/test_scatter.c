/* GatherElements and ScatterND: values with negative indices on float and
 * int64 data, every ScatterND reduction at its opset, errors, and
 * finite-difference gradients (data and updates for every reduction). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
#define REDUCTION_OPSET 16
#define EXTREMA_OPSET 18

START_TEST(gather_elements_values_and_gradient)
{
    int64_t dd[] = {3, 3}, di[] = {2, 3};
    const int64_t dv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, iv[] = {-1, -2, 0, -2, 0, 0};
    lps_tensor *data = test_tensor_from(LPS_DT_INT64, 2, dd, dv);
    lps_tensor *idx = test_tensor_from(LPS_DT_INT64, 2, di, iv);
    lps_node *n = test_node_new("GatherElements", 2, 1);
    test_node_attr_int(n, "axis", 0);
    lps_tensor *in[] = {data, idx}, out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, OPSET, in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    const int64_t want[] = {7, 5, 3, 4, 2, 3};
    test_expect_int64s(&out, want, 6);
    lps_tensor_release(&out);
    lps_tensor *xf = test_tensor_random(2, dd, -1, 1, 9);
    in[0] = xf;
    char why[256] = "";
    ck_assert_msg(gradcheck_op(n, OPSET, in, 2, 0x1u, gradcheck_default_tol(), why, sizeof why),
                  "%s", why);
    const int64_t bad[] = {3, 0, 0, 0, 0, 0};
    lps_tensor *ib = test_tensor_from(LPS_DT_INT64, 2, di, bad);
    in[1] = ib;
    ck_assert_int_eq(test_op_forward(n, OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "index 3"));
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(data);
    lps_tensor_free(idx);
    lps_tensor_free(xf);
    lps_tensor_free(ib);
}
END_TEST

/* ScatterND of two [2]-row updates into rows (0, -1 -> 2) of a [3, 2]
 * data with a reduction ("" = none): the expected rows. */
static const struct {
    const char *reduction;
    int64_t opset;
    float want[6];
} scatter_cases[] = {
    {"", OPSET, {10, 11, 2, 3, 12, 13}},
    {"add", REDUCTION_OPSET, {10, 12, 2, 3, 16, 18}},
    {"mul", REDUCTION_OPSET, {0, 11, 2, 3, 48, 65}},
    {"max", EXTREMA_OPSET, {10, 11, 2, 3, 12, 13}},
    {"min", EXTREMA_OPSET, {0, 1, 2, 3, 4, 5}},
};

START_TEST(scatter_nd_reductions)
{
    int64_t dd[] = {3, 2}, di[] = {2, 1}, du[] = {2, 2};
    const float dv[] = {0, 1, 2, 3, 4, 5}, uv[] = {10, 11, 12, 13};
    const int64_t iv[] = {0, -1};
    lps_tensor *data = test_tensor_from(LPS_DT_FLOAT, 2, dd, dv);
    lps_tensor *idx = test_tensor_from(LPS_DT_INT64, 2, di, iv);
    lps_tensor *upd = test_tensor_from(LPS_DT_FLOAT, 2, du, uv);
    lps_node *n = test_node_new("ScatterND", 3, 1);
    if (scatter_cases[_i].reduction[0])
        test_node_attr_string(n, "reduction", scatter_cases[_i].reduction);
    lps_tensor *in[] = {data, idx, upd}, out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, scatter_cases[_i].opset, in, &out, 1, &err) == LPS_OK, "%s",
                  err.msg);
    test_expect_floats(&out, scatter_cases[_i].want, 6, 0.0f);
    lps_tensor_release(&out);
    /* gradients on random values (no ties), duplicate rows for add/mul */
    const int64_t dup[] = {2, -1};
    lps_tensor *idup = test_tensor_from(LPS_DT_INT64, 2, di, dup);
    lps_tensor *xr = test_tensor_random(2, dd, 0.5f, 1.5f, 11);
    lps_tensor *ur = test_tensor_random(2, du, 2.0f, 3.0f, 12);
    bool reduces = strcmp(scatter_cases[_i].reduction, "add") == 0 ||
                   strcmp(scatter_cases[_i].reduction, "mul") == 0;
    lps_tensor *gin[] = {xr, reduces ? idup : idx, ur};
    char why[256] = "";
    ck_assert_msg(gradcheck_op(n, scatter_cases[_i].opset, gin, 3, 0x5u, gradcheck_default_tol(),
                               why, sizeof why),
                  "%s: %s", scatter_cases[_i].reduction, why);
    test_node_free(n);
    lps_tensor_free(data);
    lps_tensor_free(idx);
    lps_tensor_free(upd);
    lps_tensor_free(idup);
    lps_tensor_free(xr);
    lps_tensor_free(ur);
}
END_TEST

START_TEST(scatter_nd_int64_and_errors)
{
    int64_t dd[] = {4}, di[] = {2, 1}, du[] = {2}, dbad[] = {3};
    const int64_t dv[] = {1, 2, 3, 4}, iv[] = {3, 1}, uv[] = {40, 20}, ubad[] = {0, 0, 0};
    lps_tensor *data = test_tensor_from(LPS_DT_INT64, 1, dd, dv);
    lps_tensor *idx = test_tensor_from(LPS_DT_INT64, 2, di, iv);
    lps_tensor *upd = test_tensor_from(LPS_DT_INT64, 1, du, uv);
    lps_tensor *ub = test_tensor_from(LPS_DT_INT64, 1, dbad, ubad);
    lps_node *n = test_node_new("ScatterND", 3, 1);
    lps_tensor *in[] = {data, idx, upd}, out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(n, OPSET, in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    const int64_t want[] = {1, 20, 3, 40};
    test_expect_int64s(&out, want, 4);
    lps_tensor_release(&out);
    in[2] = ub;
    ck_assert_int_eq(test_op_forward(n, OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "do not fit"));
    lps_tensor_release(&out);
    lps_node *early = test_node_new("ScatterND", 3, 1);
    test_node_attr_string(early, "reduction", "max");
    in[2] = upd;
    ck_assert_int_eq(test_op_forward(early, REDUCTION_OPSET, in, &out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'max'"));
    lps_tensor_release(&out);
    test_node_free(n);
    test_node_free(early);
    lps_tensor_free(data);
    lps_tensor_free(idx);
    lps_tensor_free(upd);
    lps_tensor_free(ub);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"index_ops", gather_elements_values_and_gradient, 1},
        {"index_ops", scatter_nd_reductions, (int)(sizeof scatter_cases / sizeof scatter_cases[0])},
        {"index_ops", scatter_nd_int64_and_errors, 1},
    };
    return test_run_table("scatter", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
