/* Max, Min, Sum, Mean: gradients over three broadcast inputs, the even
 * split of Max/Min gradients between tied inputs, integer and NaN forward
 * values, and the equal-shape rule before opset 8. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
#define OLD_OPSET 7
#define VALUE_TOL 1e-6f

static const char *const variadic_ops[] = {"Max", "Min", "Sum", "Mean"};
#define N_VARIADIC 4

/* Three inputs [2,3,4], [3,1] and [4]; random values have no ties. */
START_TEST(gradient_three_inputs_broadcast)
{
    int64_t d0[] = {2, 3, 4}, d1[] = {3, 1}, d2[] = {4};
    lps_tensor *a = test_tensor_random(3, d0, -1.0f, 1.0f, 1 + (uint64_t)_i);
    lps_tensor *b = test_tensor_random(2, d1, -1.0f, 1.0f, 2 + (uint64_t)_i);
    lps_tensor *c = test_tensor_random(1, d2, -1.0f, 1.0f, 3 + (uint64_t)_i);
    lps_tensor *in[] = {a, b, c};
    lps_node *node = test_node_new(variadic_ops[_i], 3, 1);
    char why[256] = "";
    gradcheck_tol tol = gradcheck_default_tol();
    tol.eps = 1e-3f; /* smaller than the gap between any two random values */
    ck_assert_msg(gradcheck_op(node, OPSET, in, 3, 0x7u, tol, why, sizeof why), "%s: %s",
                  variadic_ops[_i], why);
    lps_tensor *one[] = {a};
    lps_node *single = test_node_new(variadic_ops[_i], 1, 1);
    ck_assert_msg(gradcheck_op(single, OPSET, one, 1, 0x1u, tol, why, sizeof why),
                  "%s of one input: %s", variadic_ops[_i], why);
    test_node_free(node);
    test_node_free(single);
    lps_tensor_free(a);
    lps_tensor_free(b);
    lps_tensor_free(c);
}
END_TEST

/* Max(a, b, c) at [1, 2]: element 0 ties between a and b (g/2 each),
 * element 1 is c's alone. */
START_TEST(max_ties_split_evenly)
{
    int64_t d[] = {2};
    const float av[] = {3.0f, 1.0f}, bv[] = {3.0f, 0.0f}, cv[] = {1.0f, 2.0f};
    const float gv[] = {1.0f, 4.0f};
    lps_tensor *a = test_tensor_from(LPS_DT_FLOAT, 1, d, av);
    lps_tensor *b = test_tensor_from(LPS_DT_FLOAT, 1, d, bv);
    lps_tensor *c = test_tensor_from(LPS_DT_FLOAT, 1, d, cv);
    lps_tensor *g = test_tensor_from(LPS_DT_FLOAT, 1, d, gv);
    lps_node *node = test_node_new("Max", 3, 1);
    lps_error err;
    lps_tensor y = {0}, da = {0}, db = {0}, dc = {0};
    lps_tensor *din[] = {&da, &db, &dc};
    lps_tensor *in[] = {a, b, c};
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(lps_tensor_alloc(din[k], LPS_DT_FLOAT, 1, d, &err), LPS_OK);
    const lps_tensor *dout[] = {g};
    ck_assert_msg(test_op_backward(node, OPSET, NULL, in, &y, 1, dout, din, &err) == LPS_OK, "%s",
                  err.msg);
    const float want_a[] = {0.5f, 0.0f}, want_b[] = {0.5f, 0.0f}, want_c[] = {0.0f, 4.0f};
    test_expect_floats(&da, want_a, 2, VALUE_TOL);
    test_expect_floats(&db, want_b, 2, VALUE_TOL);
    test_expect_floats(&dc, want_c, 2, VALUE_TOL);
    lps_tensor_release(&y);
    lps_tensor_release(&da);
    lps_tensor_release(&db);
    lps_tensor_release(&dc);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
    lps_tensor_free(c);
    lps_tensor_free(g);
}
END_TEST

START_TEST(forward_integers_nan_and_mean)
{
    int64_t d[] = {3}, d1[] = {1};
    const int64_t ai[] = {((int64_t)1 << 60) + 1, -5, 7}, bi[] = {(int64_t)1 << 60};
    const int64_t max_i[] = {((int64_t)1 << 60) + 1, (int64_t)1 << 60, (int64_t)1 << 60};
    const int64_t min_i[] = {(int64_t)1 << 60, -5, 7};
    const float af[] = {1.0f, NAN, 3.0f}, bf[] = {2.0f, 0.0f, NAN}, cf[] = {3.0f};
    const float mean_f[] = {2.0f, NAN, NAN};
    lps_tensor *ta = test_tensor_from(LPS_DT_INT64, 1, d, ai);
    lps_tensor *tb = test_tensor_from(LPS_DT_INT64, 1, d1, bi);
    lps_tensor *fa = test_tensor_from(LPS_DT_FLOAT, 1, d, af);
    lps_tensor *fb = test_tensor_from(LPS_DT_FLOAT, 1, d, bf);
    lps_tensor *fc = test_tensor_from(LPS_DT_FLOAT, 1, d1, cf);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *max2 = test_node_new("Max", 2, 1), *min2 = test_node_new("Min", 2, 1);
    lps_node *mean3 = test_node_new("Mean", 3, 1);
    lps_tensor *ints[] = {ta, tb}, *floats[] = {fa, fb, fc};
    ck_assert_int_eq(test_op_forward(max2, OPSET, ints, out, 1, &err), LPS_OK);
    test_expect_int64s(&out[0], max_i, 3);
    ck_assert_int_eq(test_op_forward(min2, OPSET, ints, out, 1, &err), LPS_OK);
    test_expect_int64s(&out[0], min_i, 3);
    ck_assert_int_eq(test_op_forward(max2, OPSET, floats, out, 1, &err), LPS_OK);
    const float *y = lps_tensor_f32(&out[0]);
    ck_assert(y[0] == 2.0f && isnan(y[1]) && isnan(y[2]));
    ck_assert_int_eq(test_op_forward(mean3, OPSET, floats, out, 1, &err), LPS_OK);
    ck_assert(fabsf(lps_tensor_f32(&out[0])[0] - mean_f[0]) < VALUE_TOL);
    lps_node *sum2 = test_node_new("Sum", 2, 1);
    ck_assert_int_eq(test_op_forward(sum2, OPSET, ints, out, 1, &err), LPS_ERR_UNSUPPORTED);
    lps_tensor_release(&out[0]);
    test_node_free(max2);
    test_node_free(min2);
    test_node_free(mean3);
    test_node_free(sum2);
    lps_tensor_free(ta);
    lps_tensor_free(tb);
    lps_tensor_free(fa);
    lps_tensor_free(fb);
    lps_tensor_free(fc);
}
END_TEST

START_TEST(no_broadcast_before_opset_8)
{
    int64_t d[] = {2, 3}, d1[] = {3};
    lps_tensor *a = test_tensor_random(2, d, -1.0f, 1.0f, 1);
    lps_tensor *b = test_tensor_random(1, d1, -1.0f, 1.0f, 2);
    lps_tensor *in[] = {a, b}, *same[] = {a, a};
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *node = test_node_new("Sum", 2, 1);
    ck_assert_int_eq(test_op_forward(node, OLD_OPSET, in, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "broadcast"));
    ck_assert_int_eq(test_op_forward(node, OLD_OPSET, same, out, 1, &err), LPS_OK);
    ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, d);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradient", gradient_three_inputs_broadcast, N_VARIADIC},
        {"gradient", max_ties_split_evenly, 1},
        {"forward", forward_integers_nan_and_mean, 1},
        {"forward", no_broadcast_before_opset_8, 1},
    };
    return test_run_table("variadic", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
