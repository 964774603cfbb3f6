/* Shape, Gather, Unsqueeze, Squeeze: forward on float and int64 data in
 * both attribute and input forms, gradients of the float paths, errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
/* Last opsets with the older forms. */
#define SHAPE_PLAIN_OPSET 14
#define SHAPE_SLICE_OPSET 15
#define AXES_ATTR_OPSET 11

static lps_tensor *i64_tensor(int rank, const int64_t *dims, const int64_t *values)
{
    return test_tensor_from(LPS_DT_INT64, rank, dims, values);
}

static lps_tensor *i64_vector(int64_t n, const int64_t *values)
{
    int64_t dims[] = {n};
    return test_tensor_from(LPS_DT_INT64, 1, dims, values);
}

/* Runs node (one output) and checks its int64 result. */
static void expect_i64_result(lps_node *node, int64_t opset, lps_tensor *const *in, int rank,
                              const int64_t *dims, const int64_t *values)
{
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, opset, in, out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&out[0], rank, dims);
    test_expect_int64s(&out[0], values, lps_numel_of(rank, dims));
    lps_tensor_release(&out[0]);
}

/* Runs node (one output), expects failure with status and a message containing what. */
static void expect_failure(lps_node *node, int64_t opset, lps_tensor *const *in,
                           lps_status status, const char *what)
{
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, opset, in, out, 1, &err), status);
    ck_assert_msg(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
    lps_tensor_release(&out[0]);
}

static void check_gradient(lps_node *node, int64_t opset, lps_tensor *const *in, size_t n_in)
{
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, opset, in, n_in, 0x1u, gradcheck_default_tol(), why,
                               sizeof why),
                  "%s", why);
}

START_TEST(shape_plain_and_sliced)
{
    int64_t dims[] = {2, 3, 4, 5};
    lps_tensor *x = test_tensor_random(4, dims, 0.0f, 1.0f, 1);
    lps_node *plain = test_node_new("Shape", 1, 1);
    int64_t n4[] = {4};
    expect_i64_result(plain, SHAPE_PLAIN_OPSET, &x, 1, n4, dims);

    static const struct {
        bool has_start, has_end;
        int64_t start, end;
        int64_t len;
        int64_t want[4];
    } cases[] = {
        {true, false, 1, 0, 3, {3, 4, 5}},
        {false, true, 0, -1, 3, {2, 3, 4}},
        {true, true, -3, 3, 2, {3, 4}},
        {true, false, -10, 0, 4, {2, 3, 4, 5}},  /* start clamped to 0 */
        {true, true, 3, 1, 0, {0}},              /* end before start: empty */
        {false, true, 0, 10, 4, {2, 3, 4, 5}},   /* end clamped to the rank */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lps_node *node = test_node_new("Shape", 1, 1);
        if (cases[k].has_start)
            test_node_attr_int(node, "start", cases[k].start);
        if (cases[k].has_end)
            test_node_attr_int(node, "end", cases[k].end);
        int64_t len[] = {cases[k].len};
        expect_i64_result(node, SHAPE_SLICE_OPSET, &x, 1, len, cases[k].want);
        test_node_free(node);
    }

    lps_node *early = test_node_new("Shape", 1, 1);
    test_node_attr_int(early, "start", 1);
    expect_failure(early, SHAPE_PLAIN_OPSET, &x, LPS_ERR_UNSUPPORTED, "'start'");
    test_node_free(early);
    test_node_free(plain);
    lps_tensor_free(x);
}
END_TEST

START_TEST(gather_forward_int64_shape_data)
{
    /* the Shape -> Gather(0) -> scalar idiom of exported graphs */
    const int64_t shape[] = {8, 3, 224, 224}, zero = 0, last = -1;
    int64_t scalar[] = {0};
    lps_tensor *data = i64_vector(4, shape);
    lps_tensor *i0 = i64_tensor(0, scalar, &zero);
    lps_tensor *il = i64_tensor(0, scalar, &last);
    lps_node *node = test_node_new("Gather", 2, 1);
    lps_tensor *in0[] = {data, i0}, *inl[] = {data, il};
    expect_i64_result(node, OPSET, in0, 0, scalar, &shape[0]);
    expect_i64_result(node, OPSET, inl, 0, scalar, &shape[3]);
    test_node_free(node);
    lps_tensor_free(data);
    lps_tensor_free(i0);
    lps_tensor_free(il);
}
END_TEST

START_TEST(gather_forward_axis1_int32_indices)
{
    /* data [2,3], indices int32 [2,2] = {{2,0},{-1,1}} along axis 1 -> [2,2,2] */
    int64_t dd[] = {2, 3}, di[] = {2, 2}, dy[] = {2, 2, 2};
    const float data_v[] = {0, 1, 2, 10, 11, 12};
    const int32_t idx_v[] = {2, 0, -1, 1};
    const float want[] = {2, 0, 2, 1, 12, 10, 12, 11};
    lps_tensor *data = test_tensor_from(LPS_DT_FLOAT, 2, dd, data_v);
    lps_tensor *idx = test_tensor_from(LPS_DT_INT32, 2, di, idx_v);
    lps_node *node = test_node_new("Gather", 2, 1);
    test_node_attr_int(node, "axis", 1);
    lps_tensor *in[] = {data, idx};
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 3, dy);
    test_expect_floats(&out[0], want, 8, 0.0f);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(data);
    lps_tensor_free(idx);
}
END_TEST

START_TEST(gather_errors)
{
    int64_t dd[] = {2, 3}, di[] = {1};
    const int64_t bad[] = {3};
    const float fidx[] = {0.0f};
    lps_tensor *data = test_tensor_random(2, dd, 0.0f, 1.0f, 2);
    lps_tensor *idx = i64_vector(1, bad);
    lps_tensor *fl = test_tensor_from(LPS_DT_FLOAT, 1, di, fidx);
    lps_node *node = test_node_new("Gather", 2, 1);
    lps_tensor *in[] = {data, idx}, *in_f[] = {data, fl};
    expect_failure(node, OPSET, in, LPS_ERR_INVALID, "index 3 is outside");
    expect_failure(node, OPSET, in_f, LPS_ERR_UNSUPPORTED, "indices have type float");
    test_node_attr_int(node, "axis", 2);
    expect_failure(node, OPSET, in, LPS_ERR_INVALID, "axis 2");
    test_node_free(node);
    lps_tensor_free(data);
    lps_tensor_free(idx);
    lps_tensor_free(fl);
}
END_TEST

/* _i: 0 axis 0 with a repeated index, 1 axis 1 with 2-D indices, 2 axis -1
 * of a rank-3 tensor with a scalar index. Repeats prove the scatter-add. */
START_TEST(gather_gradient)
{
    int64_t d2[] = {3, 4}, d3[] = {2, 3, 4}, i1[] = {3}, i2[] = {2, 2}, i0[] = {0};
    const int64_t v1[] = {2, -3, 2}, v2[] = {1, 1, 3, 0}, v0[] = {-2};
    lps_tensor *data = _i == 2 ? test_tensor_random(3, d3, -1.0f, 1.0f, 3)
                               : test_tensor_random(2, d2, -1.0f, 1.0f, 3);
    lps_tensor *idx = _i == 0 ? i64_tensor(1, i1, v1)
                      : _i == 1 ? i64_tensor(2, i2, v2)
                                : i64_tensor(0, i0, v0);
    lps_node *node = test_node_new("Gather", 2, 1);
    test_node_attr_int(node, "axis", _i == 0 ? 0 : _i == 1 ? 1 : -1);
    lps_tensor *in[] = {data, idx};
    check_gradient(node, OPSET, in, 2);
    test_node_free(node);
    lps_tensor_free(data);
    lps_tensor_free(idx);
}
END_TEST

START_TEST(unsqueeze_attribute_and_input_forms)
{
    int64_t d[] = {2, 3}, want[] = {1, 2, 3, 1}, axes_v[] = {0, -1};
    const int64_t values[] = {1, 2, 3, 4, 5, 6};
    lps_tensor *x = i64_tensor(2, d, values);
    lps_tensor *axes = i64_vector(2, axes_v);

    lps_node *attr_form = test_node_new("Unsqueeze", 1, 1);
    test_node_attr_ints(attr_form, "axes", axes_v, 2);
    expect_i64_result(attr_form, AXES_ATTR_OPSET, &x, 4, want, values);
    /* the attribute is gone from opset 13 */
    lps_tensor *in[] = {x, axes};
    expect_failure(attr_form, OPSET, in, LPS_ERR_UNSUPPORTED, "'axes'");

    lps_node *input_form = test_node_new("Unsqueeze", 2, 1);
    expect_i64_result(input_form, OPSET, in, 4, want, values);

    const int64_t unsorted_v[] = {3, 1}, want_unsorted[] = {2, 1, 3, 1};
    lps_tensor *unsorted = i64_vector(2, unsorted_v);
    lps_tensor *in_unsorted[] = {x, unsorted};
    expect_i64_result(input_form, OPSET, in_unsorted, 4, want_unsorted, values);

    const int64_t dup_v[] = {1, -3};
    lps_tensor *dup = i64_vector(2, dup_v);
    lps_tensor *in_dup[] = {x, dup};
    expect_failure(input_form, OPSET, in_dup, LPS_ERR_INVALID, "repeated");

    test_node_free(attr_form);
    test_node_free(input_form);
    lps_tensor_free(x);
    lps_tensor_free(axes);
    lps_tensor_free(unsorted);
    lps_tensor_free(dup);
}
END_TEST

START_TEST(squeeze_attribute_input_and_all)
{
    int64_t d[] = {2, 1, 3, 1};
    const int64_t values[] = {1, 2, 3, 4, 5, 6};
    lps_tensor *x = i64_tensor(4, d, values);

    lps_node *attr_form = test_node_new("Squeeze", 1, 1);
    const int64_t one[] = {1};
    int64_t want_attr[] = {2, 3, 1};
    test_node_attr_ints(attr_form, "axes", one, 1);
    expect_i64_result(attr_form, AXES_ATTR_OPSET, &x, 3, want_attr, values);

    lps_node *all = test_node_new("Squeeze", 1, 1);
    int64_t want_all[] = {2, 3};
    expect_i64_result(all, AXES_ATTR_OPSET, &x, 2, want_all, values);
    expect_i64_result(all, OPSET, &x, 2, want_all, values);

    const int64_t last[] = {-1};
    int64_t want_last[] = {2, 1, 3};
    lps_tensor *axes = i64_vector(1, last);
    lps_node *input_form = test_node_new("Squeeze", 2, 1);
    lps_tensor *in[] = {x, axes};
    expect_i64_result(input_form, OPSET, in, 3, want_last, values);

    /* an empty axes input squeezes every size-1 dim, as onnxruntime does */
    int64_t none[] = {0};
    lps_tensor *empty = i64_tensor(1, none, last);
    lps_tensor *in_empty[] = {x, empty};
    expect_i64_result(input_form, OPSET, in_empty, 2, want_all, values);
    lps_tensor_free(empty);

    const int64_t not_one[] = {2};
    lps_tensor *bad = i64_vector(1, not_one);
    lps_tensor *in_bad[] = {x, bad};
    expect_failure(input_form, OPSET, in_bad, LPS_ERR_INVALID, "size 3");

    test_node_free(attr_form);
    test_node_free(all);
    test_node_free(input_form);
    lps_tensor_free(x);
    lps_tensor_free(axes);
    lps_tensor_free(bad);
}
END_TEST

START_TEST(unsqueeze_squeeze_gradient)
{
    int64_t d[] = {2, 3}, ds[] = {2, 1, 3}, axes_v[] = {1};
    lps_tensor *x = test_tensor_random(2, d, -1.0f, 1.0f, 4);
    lps_tensor *xs = test_tensor_random(3, ds, -1.0f, 1.0f, 5);
    lps_tensor *axes = i64_vector(1, axes_v);
    lps_node *unsq = test_node_new("Unsqueeze", 2, 1);
    lps_node *sq = test_node_new("Squeeze", 2, 1);
    lps_tensor *in_u[] = {x, axes}, *in_s[] = {xs, axes};
    check_gradient(unsq, OPSET, in_u, 2);
    check_gradient(sq, OPSET, in_s, 2);
    test_node_free(unsq);
    test_node_free(sq);
    lps_tensor_free(x);
    lps_tensor_free(xs);
    lps_tensor_free(axes);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", shape_plain_and_sliced, 1},
        {"forward", gather_forward_int64_shape_data, 1},
        {"forward", gather_forward_axis1_int32_indices, 1},
        {"forward", gather_errors, 1},
        {"forward", unsqueeze_attribute_and_input_forms, 1},
        {"forward", squeeze_attribute_input_and_all, 1},
        {"gradient", gather_gradient, 3},
        {"gradient", unsqueeze_squeeze_gradient, 1},
    };
    return test_run_table("shape_ops", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
