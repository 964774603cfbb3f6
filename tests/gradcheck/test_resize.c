/* Resize / Upsample: the opset-18 axes and keep_aspect_ratio_policy
 * forms, half_pixel_symmetric (19), Upsample-7's scales attribute, input
 * and attribute errors, and finite-difference gradients w.r.t. X for
 * nearest, linear and cubic under several coordinate modes (values of the
 * ONNX node cases run in tests/conformance). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define RZ_FWD_TOL 1e-5f

static const int64_t four[] = {4}, two[] = {2};

/* axes=[2,3] with sizes for those axes equals the full-rank sizes, and
 * not_larger keeps the aspect ratio (one scale for both, rounded). */
START_TEST(axes_and_aspect_ratio)
{
    int64_t xd[] = {1, 2, 4, 6};
    const int64_t full[] = {1, 2, 3, 9}, part[] = {3, 9}, box[] = {2, 2};
    lps_tensor *x = test_tensor_random(4, xd, -1, 1, 1);
    lps_tensor *in[4] = {x, NULL, NULL, test_tensor_from(LPS_DT_INT64, 1, four, full)};
    lps_tensor a = {0}, b = {0};
    lps_error err;
    lps_node *n = test_node_new("Resize", 4, 1);
    test_node_omit_input(n, 1);
    test_node_omit_input(n, 2);
    test_node_attr_string(n, "mode", "linear");
    ck_assert_msg(test_op_forward(n, 18, in, &a, 1, &err) == LPS_OK, "%s", err.msg);
    int64_t axes[] = {2, 3};
    test_node_attr_ints(n, "axes", axes, 2);
    lps_tensor_free(in[3]);
    in[3] = test_tensor_from(LPS_DT_INT64, 1, two, part);
    ck_assert_msg(test_op_forward(n, 18, in, &b, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&b, 4, full);
    test_expect_floats(&b, lps_tensor_f32(&a), lps_tensor_numel(&a), RZ_FWD_TOL);
    test_node_attr_string(n, "keep_aspect_ratio_policy", "not_larger");
    lps_tensor_free(in[3]);
    in[3] = test_tensor_from(LPS_DT_INT64, 1, two, box);
    ck_assert_msg(test_op_forward(n, 18, in, &b, 1, &err) == LPS_OK, "%s", err.msg);
    const int64_t kept[] = {1, 2, 1, 2}; /* scale min(2/4, 2/6) = 1/3: 4/3 -> 1, 6/3 -> 2 */
    test_expect_shape(&b, 4, kept);
    lps_tensor_release(&a);
    lps_tensor_release(&b);
    test_node_free(n);
    lps_tensor_free(x);
    lps_tensor_free(in[3]);
}
END_TEST

/* I = 5, scale 0.5 -> 2 outputs: half_pixel reads x = 2o + 0.5 (ties round
 * to floor: inputs 0, 2), half_pixel_symmetric shifts by 0.5 (inputs 1, 3). */
START_TEST(half_pixel_symmetric_nearest)
{
    int64_t xd[] = {5};
    const float x[] = {10, 11, 12, 13, 14}, half = 0.5f;
    const float want_hp[] = {10, 12}, want_sym[] = {11, 13};
    int64_t one = 1;
    lps_tensor *in[3] = {test_tensor_from(LPS_DT_FLOAT, 1, xd, x), NULL,
                         test_tensor_from(LPS_DT_FLOAT, 1, &one, &half)};
    lps_tensor y = {0};
    lps_error err;
    lps_node *n = test_node_new("Resize", 3, 1);
    test_node_omit_input(n, 1);
    ck_assert_msg(test_op_forward(n, 19, in, &y, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_floats(&y, want_hp, 2, RZ_FWD_TOL);
    test_node_attr_string(n, "coordinate_transformation_mode", "half_pixel_symmetric");
    ck_assert_msg(test_op_forward(n, 19, in, &y, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_floats(&y, want_sym, 2, RZ_FWD_TOL);
    lps_tensor_release(&y);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[2]);
}
END_TEST

/* Upsample-7 takes scales as an attribute; opset 9 as an input. */
START_TEST(upsample_attribute_scales)
{
    int64_t xd[] = {1, 1, 2, 2}, yd[] = {1, 1, 4, 6};
    const float x[] = {1, 2, 3, 4}, s[] = {1, 1, 2, 3};
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_FLOAT, 4, xd, x),
                         test_tensor_from(LPS_DT_FLOAT, 1, four, s)};
    lps_tensor a = {0}, b = {0};
    lps_error err;
    lps_node *n7 = test_node_new("Upsample", 1, 1), *n9 = test_node_new("Upsample", 2, 1);
    test_node_attr_floats(n7, "scales", s, 4);
    ck_assert_msg(test_op_forward(n7, 7, in, &a, 1, &err) == LPS_OK, "%s", err.msg);
    ck_assert_msg(test_op_forward(n9, 9, in, &b, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_shape(&a, 4, yd);
    test_expect_floats(&a, lps_tensor_f32(&b), 24, 0.0f);
    ck_assert_float_eq(lps_tensor_f32(&a)[5], 2.0f); /* row 0, column 5 -> x[0][1] */
    lps_tensor_release(&a);
    lps_tensor_release(&b);
    test_node_free(n7);
    test_node_free(n9);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(errors)
{
    int64_t xd[] = {1, 1, 2, 2};
    const float s[] = {1, 1, 2, 2};
    const int64_t sz[] = {1, 1, 4, 4};
    lps_tensor *in[4] = {test_tensor_random(4, xd, -1, 1, 1), NULL,
                         test_tensor_from(LPS_DT_FLOAT, 1, four, s),
                         test_tensor_from(LPS_DT_INT64, 1, four, sz)};
    lps_tensor y = {0};
    lps_error err;
    lps_node *n = test_node_new("Resize", 4, 1);
    test_node_omit_input(n, 1);
    ck_assert_int_eq(test_op_forward(n, 13, in, &y, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("Resize", 3, 1);
    test_node_omit_input(n, 1);
    test_node_attr_int(n, "antialias", 1);
    test_node_attr_string(n, "mode", "linear");
    ck_assert_int_eq(test_op_forward(n, 18, in, &y, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "antialias"));
    test_node_free(n);
    n = test_node_new("Resize", 2, 1);
    test_node_attr_string(n, "mode", "cubic");
    lps_tensor *old_in[2] = {in[0], in[2]};
    ck_assert_int_eq(test_op_forward(n, 10, old_in, &y, 1, &err), LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    lps_tensor_release(&y);
    for (int i = 0; i < 4; i++)
        lps_tensor_free(in[i]);
}
END_TEST

static const struct {
    int64_t opset;
    const char *mode, *coord;   /* coord NULL: attribute absent */
    float scales[2];            /* for the last two axes of [1, 2, 3, 4] */
    bool crop;                  /* tf_crop_and_resize with a roi reaching outside */
} grad_cases[] = {
    {13, "nearest", "asymmetric", {2.0f, 1.5f}, false},
    {13, "nearest", NULL, {0.7f, 0.5f}, false},
    {13, "linear", NULL, {1.5f, 2.0f}, false},
    {13, "linear", "align_corners", {0.7f, 0.8f}, false},
    {13, "linear", "pytorch_half_pixel", {2.0f, 0.5f}, false},
    {13, "cubic", NULL, {1.7f, 1.3f}, false},
    {13, "linear", "tf_crop_and_resize", {1.5f, 1.5f}, true},
    {10, "linear", NULL, {2.0f, 1.5f}, false},
    {10, "nearest", NULL, {2.0f, 0.5f}, false},
};

START_TEST(gradient)
{
    int64_t xd[] = {1, 2, 3, 4};
    float scales[4] = {1, 1, grad_cases[_i].scales[0], grad_cases[_i].scales[1]};
    const float roi[8] = {0, 0, -0.2f, 0.1f, 1, 1, 1.2f, 0.8f};
    int64_t roi_n = 8;
    bool old = grad_cases[_i].opset < 11;
    lps_tensor *x = test_tensor_random(4, xd, -1, 1, 1);
    lps_tensor *s = test_tensor_from(LPS_DT_FLOAT, 1, four, scales);
    lps_tensor *r = test_tensor_from(LPS_DT_FLOAT, 1, &roi_n, roi);
    lps_tensor *in_new[3] = {x, grad_cases[_i].crop ? r : NULL, s}, *in_old[2] = {x, s};
    lps_node *n = test_node_new("Resize", old ? 2 : 3, 1);
    if (!old && !grad_cases[_i].crop)
        test_node_omit_input(n, 1);
    test_node_attr_string(n, "mode", grad_cases[_i].mode);
    if (grad_cases[_i].coord)
        test_node_attr_string(n, "coordinate_transformation_mode", grad_cases[_i].coord);
    if (grad_cases[_i].crop)
        test_node_attr_float(n, "extrapolation_value", 2.5f);
    gradcheck_tol tol = gradcheck_default_tol();
    char why[256] = "";
    bool ok = gradcheck_op(n, grad_cases[_i].opset, old ? in_old : in_new, old ? 2 : 3, 0x1u, tol,
                           why, sizeof why);
    test_node_free(n);
    lps_tensor_free(x);
    lps_tensor_free(s);
    lps_tensor_free(r);
    ck_assert_msg(ok, "case %d (%s): %s", _i, grad_cases[_i].mode, why);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", axes_and_aspect_ratio, 1},
        {"forward", half_pixel_symmetric_nearest, 1},
        {"forward", upsample_attribute_scales, 1},
        {"forward", errors, 1},
        {"gradient", gradient, sizeof grad_cases / sizeof grad_cases[0]},
    };
    return test_run_table("resize", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
