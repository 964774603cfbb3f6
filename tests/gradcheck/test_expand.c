/* Expand, Tile, ConstantOfShape and Range: values on float, int64 and bool
 * data, the broadcast both ways of Expand, empty results, errors, and the
 * gradients of Expand and Tile (sums over the copies). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13

static lps_tensor *i64_vector(int64_t n, const int64_t *values)
{
    int64_t dims[] = {n};
    return test_tensor_from(LPS_DT_INT64, 1, dims, values);
}

static void expect_grad(lps_node *n, lps_tensor **in, size_t n_in)
{
    char why[256] = "";
    ck_assert_msg(gradcheck_op(n, OPSET, in, n_in, 0x1u, gradcheck_default_tol(), why, sizeof why),
                  "%s", why);
}

/* Runs a one-output node; on success *out holds the result. */
static lps_status run1(lps_node *n, int64_t opset, lps_tensor **in, lps_tensor *out,
                       lps_error *err)
{
    memset(out, 0, sizeof *out);
    return test_op_forward(n, opset, in, out, 1, err);
}

START_TEST(expand_both_ways)
{
    /* [3, 1] expanded by [2, 1, 4]: the 1 in the shape keeps the input's 3 */
    int64_t xd[] = {3, 1}, yd[] = {2, 3, 4};
    const int64_t shape[] = {2, 1, 4}, v[] = {7, 8, 9};
    lps_tensor *xi = test_tensor_from(LPS_DT_INT64, 2, xd, v), *s = i64_vector(3, shape);
    lps_tensor *in[] = {xi, s}, out;
    lps_node *n = test_node_new("Expand", 2, 1);
    lps_error err;
    ck_assert_msg(run1(n, OPSET, in, &out, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 3, yd);
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq(lps_tensor_i64(&out)[i], v[(i / 4) % 3]);
    lps_tensor_release(&out);
    lps_tensor *xf = test_tensor_random(2, xd, -1, 1, 5);
    in[0] = xf;
    expect_grad(n, in, 2);
    const int64_t bad[] = {2, 4};
    lps_tensor *sb = i64_vector(2, bad);
    in[1] = sb;
    ck_assert_int_eq(run1(n, OPSET, in, &out, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "do not broadcast"));
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(xi);
    lps_tensor_free(xf);
    lps_tensor_free(s);
    lps_tensor_free(sb);
}
END_TEST

START_TEST(tile_values_and_gradient)
{
    int64_t xd[] = {2, 2}, yd[] = {4, 6};
    const float v[] = {0, 1, 2, 3};
    const int64_t reps[] = {2, 3};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 2, xd, v), *r = i64_vector(2, reps);
    lps_tensor *in[] = {x, r}, out;
    lps_node *n = test_node_new("Tile", 2, 1);
    lps_error err;
    ck_assert_msg(run1(n, OPSET, in, &out, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 2, yd);
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(lps_tensor_f32(&out)[i], v[((i / 6) % 2) * 2 + (i % 6) % 2]);
    lps_tensor_release(&out);
    lps_tensor *xr = test_tensor_random(2, xd, -1, 1, 6);
    in[0] = xr;
    expect_grad(n, in, 2);
    /* one repeat per dim, none negative */
    const int64_t short_reps[] = {2}, neg[] = {1, -1};
    lps_tensor *rs = i64_vector(1, short_reps), *rn = i64_vector(2, neg);
    in[1] = rs;
    ck_assert_int_eq(run1(n, OPSET, in, &out, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "1 repeats for a rank-2"));
    in[1] = rn;
    ck_assert_int_eq(run1(n, OPSET, in, &out, &err), LPS_ERR_INVALID);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(x);
    lps_tensor_free(xr);
    lps_tensor_free(r);
    lps_tensor_free(rs);
    lps_tensor_free(rn);
}
END_TEST

START_TEST(tile_bool_mask)
{
    int64_t xd[] = {1, 3}, yd[] = {2, 6};
    const unsigned char v[] = {1, 0, 1};
    const int64_t reps[] = {2, 2};
    lps_tensor *x = test_tensor_from(LPS_DT_BOOL, 2, xd, v), *r = i64_vector(2, reps);
    lps_tensor *in[] = {x, r}, out;
    lps_node *n = test_node_new("Tile", 2, 1);
    lps_error err;
    ck_assert_msg(run1(n, OPSET, in, &out, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 2, yd);
    ck_assert_int_eq(out.dtype, LPS_DT_BOOL);
    for (int i = 0; i < 12; i++)
        ck_assert_int_eq(((unsigned char *)out.data)[i], v[i % 3]);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(x);
    lps_tensor_free(r);
}
END_TEST

START_TEST(constant_of_shape_values)
{
    const int64_t shape[] = {2, 3}, neg[] = {2, -1};
    int64_t one[] = {1}, yd[] = {2, 3};
    const int64_t seven = 7;
    lps_tensor *s = i64_vector(2, shape), *sn = i64_vector(2, neg), *se = i64_vector(0, NULL);
    lps_tensor *value = test_tensor_from(LPS_DT_INT64, 1, one, &seven), out;
    lps_node *plain = test_node_new("ConstantOfShape", 1, 1);
    lps_node *typed = test_node_new("ConstantOfShape", 1, 1);
    test_node_attr_tensor(typed, "value", value);
    lps_error err;
    ck_assert_msg(run1(plain, OPSET, &s, &out, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 2, yd);
    const float zeros[6] = {0};
    test_expect_floats(&out, zeros, 6, 0.0f);
    lps_tensor_release(&out);
    ck_assert_int_eq(run1(typed, OPSET, &s, &out, &err), LPS_OK);
    const int64_t sevens[] = {7, 7, 7, 7, 7, 7};
    test_expect_int64s(&out, sevens, 6);
    lps_tensor_release(&out);
    /* an empty shape gives a scalar */
    ck_assert_int_eq(run1(typed, OPSET, &se, &out, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 0);
    test_expect_int64s(&out, sevens, 1);
    lps_tensor_release(&out);
    ck_assert_int_eq(run1(plain, OPSET, &sn, &out, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "negative"));
    lps_tensor_release(&out);
    test_node_free(plain);
    test_node_free(typed);
    lps_tensor_free(s);
    lps_tensor_free(sn);
    lps_tensor_free(se);
    lps_tensor_free(value);
}
END_TEST

/* Range on scalars of dtype: count elements, first and last as doubles. */
static void expect_range(lps_dtype dtype, const void *start, const void *limit, const void *delta,
                         int64_t count)
{
    int64_t none[] = {0};
    lps_tensor *in[] = {test_tensor_from(dtype, 0, none, start),
                        test_tensor_from(dtype, 0, none, limit),
                        test_tensor_from(dtype, 0, none, delta)};
    lps_tensor out;
    lps_node *n = test_node_new("Range", 3, 1);
    lps_error err;
    ck_assert_msg(run1(n, OPSET, in, &out, &err) == LPS_OK, "%s", err.msg);
    int64_t dims[] = {count};
    test_expect_shape(&out, 1, dims);
    ck_assert_int_eq(out.dtype, dtype);
    lps_tensor_release(&out);
    test_node_free(n);
    for (int k = 0; k < 3; k++)
        lps_tensor_free(in[k]);
}

START_TEST(range_types)
{
    const int64_t a = 0, b = 10, c = 3, d = -3, e = 11;
    expect_range(LPS_DT_INT64, &a, &b, &c, 4);
    expect_range(LPS_DT_INT64, &b, &a, &d, 4);
    expect_range(LPS_DT_INT64, &a, &b, &d, 0);
    expect_range(LPS_DT_INT64, &e, &e, &c, 0);
    const int32_t i10 = 10, i6 = 6, im3 = -3;
    expect_range(LPS_DT_INT32, &i10, &i6, &im3, 2);
    const float f1 = 1.0f, f5 = 5.0f, f2 = 2.0f;
    expect_range(LPS_DT_FLOAT, &f1, &f5, &f2, 2);

    /* values: arange(5, 0, -2) = 5 3 1 */
    int64_t none[] = {0};
    const int64_t s = 5, l = 0, m2 = -2, zero = 0;
    lps_tensor *in[] = {test_tensor_from(LPS_DT_INT64, 0, none, &s),
                        test_tensor_from(LPS_DT_INT64, 0, none, &l),
                        test_tensor_from(LPS_DT_INT64, 0, none, &m2)};
    lps_tensor out;
    lps_node *n = test_node_new("Range", 3, 1);
    lps_error err;
    ck_assert_int_eq(run1(n, OPSET, in, &out, &err), LPS_OK);
    const int64_t want[] = {5, 3, 1};
    test_expect_int64s(&out, want, 3);
    lps_tensor_release(&out);
    memcpy(in[2]->data, &zero, sizeof zero);
    ck_assert_int_eq(run1(n, OPSET, in, &out, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "delta is 0"));
    lps_tensor_release(&out);
    test_node_free(n);
    for (int k = 0; k < 3; k++)
        lps_tensor_free(in[k]);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"expand_tile", expand_both_ways, 1},
        {"expand_tile", tile_values_and_gradient, 1},
        {"expand_tile", tile_bool_mask, 1},
        {"generate", constant_of_shape_values, 1},
        {"generate", range_types, 1},
    };
    return test_run_table("expand", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
