/* Slice and Split: the attribute forms (Slice before opset 10, Split before
 * 13), the input forms with negative steps and clamped bounds, num_outputs
 * (opset 18), int64 and bool data on the same kernels, errors, and
 * finite-difference gradients of the float paths. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define SLICE_ATTR_OPSET 9
#define SLICE_OPSET 13
#define SPLIT_ATTR_OPSET 11
#define SPLIT_COUNT_OPSET 18

static lps_tensor *i64_vector(int64_t n, const int64_t *values)
{
    int64_t dims[] = {n};
    return test_tensor_from(LPS_DT_INT64, 1, dims, values);
}

/* x = 0..numel-1 as floats, shape dims. */
static lps_tensor *iota(int rank, const int64_t *dims)
{
    int64_t n = lps_numel_of(rank, dims);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)i;
    lps_tensor *t = test_tensor_from(LPS_DT_FLOAT, rank, dims, v);
    free(v);
    return t;
}

static void expect_grad(lps_node *n, int64_t opset, lps_tensor **in, size_t n_in)
{
    char why[256] = "";
    ck_assert_msg(gradcheck_op(n, opset, in, n_in, 0x1u, gradcheck_default_tol(), why, sizeof why),
                  "%s", why);
}

/* Slice of a [4, 5] iota: each case's bounds as inputs and the values picked. */
static const struct {
    int n;
    int64_t starts[2], ends[2], axes[2], steps[2];
    int64_t out[2];
    float first, last;
} slice_cases[] = {
    {2, {1, 0}, {3, 5}, {0, 1}, {1, 2}, {2, 3}, 5, 14},              /* rows 1..2, even cols */
    {1, {-1, 0}, {-100, 0}, {1, 0}, {-2, 1}, {4, 3}, 4, 15},         /* cols 4,2,0 backwards */
    {2, {100, -2}, {-100, 0}, {0, -1}, {-1, -1}, {4, 3}, 18, 1},     /* clamped, both reversed */
    {1, {2, 0}, {INT64_MAX, 0}, {0, 0}, {1, 1}, {2, 5}, 10, 19},     /* end as INT64_MAX */
    {1, {3, 0}, {1, 0}, {1, 0}, {1, 1}, {4, 0}, 0, 0},               /* empty */
    {1, {0, 0}, {1, 0}, {0, 0}, {INT64_MAX, 1}, {1, 5}, 0, 4},       /* huge step, one row */
};

START_TEST(slice_input_form)
{
    int64_t dims[] = {4, 5};
    lps_tensor *x = iota(2, dims);
    int n = slice_cases[_i].n;
    lps_tensor *s = i64_vector(n, slice_cases[_i].starts), *e = i64_vector(n, slice_cases[_i].ends);
    lps_tensor *a = i64_vector(n, slice_cases[_i].axes), *st = i64_vector(n, slice_cases[_i].steps);
    lps_tensor *in[] = {x, s, e, a, st};
    lps_node *node = test_node_new("Slice", 5, 1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(node, SLICE_OPSET, in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out, 2, slice_cases[_i].out);
    int64_t numel = lps_tensor_numel(&out);
    if (numel > 0) {
        ck_assert_float_eq(lps_tensor_f32(&out)[0], slice_cases[_i].first);
        ck_assert_float_eq(lps_tensor_f32(&out)[numel - 1], slice_cases[_i].last);
    }
    lps_tensor_release(&out);
    lps_tensor_free(x);
    x = test_tensor_random(2, dims, -1, 1, 3);
    in[0] = x;
    expect_grad(node, SLICE_OPSET, in, 5);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(s);
    lps_tensor_free(e);
    lps_tensor_free(a);
    lps_tensor_free(st);
}
END_TEST

START_TEST(slice_attribute_form_and_int64_bool)
{
    /* opset 9: attributes, no axes -> leading axes; the same walk on int64 and bool data */
    int64_t dims[] = {2, 3, 4}, want_dims[] = {1, 2, 4};
    const int64_t starts[] = {1, -2}, ends[] = {INT64_MAX, 3};
    int64_t iv[24];
    unsigned char bv[24];
    for (int i = 0; i < 24; i++) {
        iv[i] = 1000 + i;
        bv[i] = (unsigned char)(i % 3 == 0);
    }
    lps_tensor *xi = test_tensor_from(LPS_DT_INT64, 3, dims, iv);
    lps_tensor *xb = test_tensor_from(LPS_DT_BOOL, 3, dims, bv);
    lps_node *node = test_node_new("Slice", 1, 1);
    test_node_attr_ints(node, "starts", starts, 2);
    test_node_attr_ints(node, "ends", ends, 2);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_msg(test_op_forward(node, SLICE_ATTR_OPSET, &xi, &out, 1, &err) == LPS_OK, "%s",
                  err.msg);
    const int64_t want[] = {1016, 1017, 1018, 1019, 1020, 1021, 1022, 1023};
    test_expect_int64s(&out, want, 8);
    lps_tensor_release(&out);
    ck_assert_int_eq(test_op_forward(node, SLICE_ATTR_OPSET, &xb, &out, 1, &err), LPS_OK);
    test_expect_shape(&out, 3, want_dims);
    ck_assert_int_eq(out.dtype, LPS_DT_BOOL);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(((unsigned char *)out.data)[i], (16 + i) % 3 == 0);
    lps_tensor_release(&out);
    /* the attribute form takes no bound inputs, and the input form no attributes */
    ck_assert_int_eq(test_op_forward(node, SLICE_OPSET, &xi, &out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'starts'"));
    lps_tensor_free(xi);
    lps_tensor_free(xb);
    test_node_free(node);
}
END_TEST

START_TEST(slice_errors)
{
    int64_t dims[] = {4, 5};
    const int64_t zero[] = {0}, one[] = {1}, two[] = {0, 1}, axis5[] = {5}, rep[] = {1, -1};
    lps_tensor *x = test_tensor_random(2, dims, -1, 1, 4);
    lps_tensor *z = i64_vector(1, zero), *o = i64_vector(1, one), *t = i64_vector(2, two);
    lps_tensor *bad_axis = i64_vector(1, axis5), *repeated = i64_vector(2, rep);
    lps_node *node = test_node_new("Slice", 5, 1);
    static const char *const why[] = {"step of axis", "different lengths", "axis 5", "repeated"};
    lps_tensor *cases[][5] = {{x, z, o, z, z}, {x, z, t, NULL, NULL}, {x, z, o, bad_axis, o},
                              {x, t, t, repeated, NULL}};
    for (int k = 0; k < 4; k++) {
        lps_tensor out = {0};
        lps_error err;
        ck_assert_int_eq(test_op_forward(node, SLICE_OPSET, cases[k], &out, 1, &err),
                         LPS_ERR_INVALID);
        ck_assert_msg(strstr(err.msg, why[k]) && strstr(err.msg, "Slice"), "%s", err.msg);
        lps_tensor_release(&out);
    }
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(z);
    lps_tensor_free(o);
    lps_tensor_free(t);
    lps_tensor_free(bad_axis);
    lps_tensor_free(repeated);
}
END_TEST

/* Runs a Split with three outputs and checks the axis-1 sizes of each. */
static void expect_split(lps_node *node, int64_t opset, lps_tensor **in, const int64_t *sizes)
{
    lps_tensor out[3] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, opset, in, out, 3, &err) == LPS_OK, "%s", err.msg);
    int64_t col = 0;
    for (int j = 0; j < 3; j++) {
        int64_t want[] = {2, sizes[j]};
        test_expect_shape(&out[j], 2, want);
        if (sizes[j] > 0)
            ck_assert_float_eq(lps_tensor_f32(&out[j])[0], (float)col);
        col += sizes[j];
        lps_tensor_release(&out[j]);
    }
}

START_TEST(split_forms)
{
    int64_t dims[] = {2, 7};
    const int64_t parts[] = {1, 0, 6}, counted[] = {3, 3, 1};
    lps_tensor *x = iota(2, dims), *sizes = i64_vector(3, parts);
    lps_tensor *in[] = {x, sizes};
    lps_node *attr = test_node_new("Split", 1, 3);
    test_node_attr_int(attr, "axis", -1);
    test_node_attr_ints(attr, "split", parts, 3);
    expect_split(attr, SPLIT_ATTR_OPSET, in, parts);
    expect_grad(attr, SPLIT_ATTR_OPSET, in, 1);
    lps_node *input = test_node_new("Split", 2, 3);
    test_node_attr_int(input, "axis", 1);
    expect_split(input, SLICE_OPSET, in, parts);
    expect_grad(input, SLICE_OPSET, in, 2);
    expect_split(input, SPLIT_COUNT_OPSET, in, parts);
    lps_node *count = test_node_new("Split", 1, 3);
    test_node_attr_int(count, "axis", 1);
    test_node_attr_int(count, "num_outputs", 3);
    expect_split(count, SPLIT_COUNT_OPSET, in, counted);
    expect_grad(count, SPLIT_COUNT_OPSET, in, 1);
    /* 7 columns do not split into 3 equal parts without num_outputs */
    lps_node *equal = test_node_new("Split", 1, 3);
    test_node_attr_int(equal, "axis", 1);
    lps_tensor out[3] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(equal, SLICE_OPSET, in, out, 3, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "equal parts"));
    ck_assert_int_eq(test_op_forward(equal, SPLIT_COUNT_OPSET, in, out, 3, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "num_outputs"));
    for (int j = 0; j < 3; j++)
        lps_tensor_release(&out[j]);
    test_node_free(attr);
    test_node_free(input);
    test_node_free(count);
    test_node_free(equal);
    lps_tensor_free(x);
    lps_tensor_free(sizes);
}
END_TEST

START_TEST(split_int64_equal_parts)
{
    int64_t dims[] = {6};
    const int64_t v[] = {10, 11, 12, 13, 14, 15};
    lps_tensor *x = test_tensor_from(LPS_DT_INT64, 1, dims, v);
    lps_node *node = test_node_new("Split", 1, 3);
    lps_tensor out[3] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, SLICE_OPSET, &x, out, 3, &err) == LPS_OK, "%s", err.msg);
    for (int j = 0; j < 3; j++) {
        test_expect_int64s(&out[j], v + 2 * j, 2);
        lps_tensor_release(&out[j]);
    }
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"slice", slice_input_form, (int)(sizeof slice_cases / sizeof slice_cases[0])},
        {"slice", slice_attribute_form_and_int64_bool, 1},
        {"slice", slice_errors, 1},
        {"split", split_forms, 1},
        {"split", split_int64_equal_parts, 1},
    };
    return test_run_table("slice", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
