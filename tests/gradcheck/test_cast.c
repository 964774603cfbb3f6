/* Cast and CastLike: conversions between float, double, float16, integers
 * and bool (truncation, saturation, NaN, wrap-around, half rounding), the
 * pass-through gradient of float -> float and the attribute errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "lpsparsify/engine.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
#define CAST_LIKE_OPSET 15

/* Casts x to `to` and checks the output bytes against want. */
static void expect_cast(const lps_tensor *x, lps_dtype to, const void *want)
{
    lps_node *node = test_node_new("Cast", 1, 1);
    test_node_attr_int(node, "to", to);
    lps_tensor *in[] = {(lps_tensor *)x};
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, OPSET, in, out, 1, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(out[0].dtype, to);
    test_expect_shape(&out[0], x->rank, x->dims);
    ck_assert_msg(memcmp(out[0].data, want, out[0].nbytes) == 0, "%s -> %s differs",
                  lps_dtype_name(x->dtype), lps_dtype_name(to));
    lps_tensor_release(&out[0]);
    test_node_free(node);
}

START_TEST(float_to_integers_and_bool)
{
    int64_t d[] = {6};
    const float xv[] = {2.7f, -2.7f, NAN, 1e10f, -1e10f, 0.0f};
    const int32_t to_i32[] = {2, -2, 0, INT32_MAX, INT32_MIN, 0};
    const uint8_t to_u8[] = {2, 0, 0, 255, 0, 0};
    const int64_t to_i64[] = {2, -2, 0, 10000000000LL, -10000000000LL, 0};
    const uint8_t to_bool[] = {1, 1, 1, 1, 1, 0};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, d, xv);
    expect_cast(x, LPS_DT_INT32, to_i32);
    expect_cast(x, LPS_DT_UINT8, to_u8);
    expect_cast(x, LPS_DT_INT64, to_i64);
    expect_cast(x, LPS_DT_BOOL, to_bool);
    lps_tensor_free(x);
}
END_TEST

START_TEST(integers_wrap_and_keep_int64_exact)
{
    int64_t d[] = {4};
    const int64_t xv[] = {300, -1, ((int64_t)1 << 60) + 1, 0};
    const int8_t to_i8[] = {44, -1, 1, 0};
    const uint64_t to_u64[] = {300, UINT64_MAX, ((uint64_t)1 << 60) + 1, 0};
    const uint8_t to_bool[] = {1, 1, 1, 0};
    lps_tensor *x = test_tensor_from(LPS_DT_INT64, 1, d, xv);
    expect_cast(x, LPS_DT_INT8, to_i8);
    expect_cast(x, LPS_DT_UINT64, to_u64);
    expect_cast(x, LPS_DT_BOOL, to_bool);
    const uint8_t bv[] = {1, 0, 1, 1};
    const float b_to_f[] = {1.0f, 0.0f, 1.0f, 1.0f};
    const int64_t b_to_i[] = {1, 0, 1, 1};
    lps_tensor *b = test_tensor_from(LPS_DT_BOOL, 1, d, bv);
    expect_cast(b, LPS_DT_FLOAT, b_to_f);
    expect_cast(b, LPS_DT_INT64, b_to_i);
    lps_tensor_free(x);
    lps_tensor_free(b);
}
END_TEST

/* Half rounding: 1/3 rounds to nearest, 65520 overflows, 2^-24 is the
 * smallest subnormal, NaN stays NaN; double converts with one rounding. */
START_TEST(half_precision)
{
    int64_t d[] = {5};
    const float xv[] = {1.0f / 3.0f, 65520.0f, 0x1p-24f, NAN, -2.5f};
    const uint16_t want[] = {0x3555, 0x7c00, 0x0001, 0x7e00, 0xc100};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, d, xv);
    expect_cast(x, LPS_DT_FLOAT16, want);
    lps_tensor *h = test_tensor_from(LPS_DT_FLOAT16, 1, d, want);
    const double back[] = {0.333251953125, INFINITY, 0x1p-24, NAN, -2.5};
    lps_node *node = test_node_new("Cast", 1, 1);
    test_node_attr_int(node, "to", LPS_DT_DOUBLE);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, &h, out, 1, &err), LPS_OK);
    const double *got = out[0].data;
    for (int i = 0; i < 5; i++)
        ck_assert(isnan(back[i]) ? isnan(got[i]) : got[i] == back[i]);
    /* 1 + 2^-11 + 2^-40 is just above a tie: one rounding goes up, two
     * (through float's 24 bits) would land on the tie and go to even. */
    const double just_above_tie = 1.0 + 0x1p-11 + 0x1p-40;
    const uint16_t up = 0x3c01;
    int64_t d1[] = {1};
    lps_tensor *dv = test_tensor_from(LPS_DT_DOUBLE, 1, d1, &just_above_tie);
    expect_cast(dv, LPS_DT_FLOAT16, &up);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(h);
    lps_tensor_free(dv);
}
END_TEST

START_TEST(cast_like_takes_the_target_type)
{
    int64_t d[] = {2}, d1[] = {1};
    const float xv[] = {1.5f, -3.0f};
    const int32_t like_v[] = {0}, want[] = {1, -3};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, d, xv);
    lps_tensor *like = test_tensor_from(LPS_DT_INT32, 1, d1, like_v);
    lps_node *node = test_node_new("CastLike", 2, 1);
    lps_tensor *in[] = {x, like};
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, CAST_LIKE_OPSET, in, out, 1, &err), LPS_OK);
    ck_assert_int_eq(out[0].dtype, LPS_DT_INT32);
    ck_assert_int_eq(memcmp(out[0].data, want, sizeof want), 0);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(like);
}
END_TEST

START_TEST(attribute_errors)
{
    int64_t d[] = {1};
    const float xv[] = {1.0f};
    lps_tensor *x = test_tensor_from(LPS_DT_FLOAT, 1, d, xv);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_node *missing = test_node_new("Cast", 1, 1);
    ck_assert_int_eq(test_op_forward(missing, OPSET, &x, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'to'"));
    lps_node *to_string = test_node_new("Cast", 1, 1);
    test_node_attr_int(to_string, "to", LPS_DT_STRING);
    ck_assert_int_eq(test_op_forward(to_string, OPSET, &x, out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "string"));
    lps_node *saturate_early = test_node_new("Cast", 1, 1);
    test_node_attr_int(saturate_early, "to", LPS_DT_INT32);
    test_node_attr_int(saturate_early, "saturate", 1);
    ck_assert_int_eq(test_op_forward(saturate_early, OPSET, &x, out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_int_eq(test_op_forward(saturate_early, 19, &x, out, 1, &err), LPS_OK);
    lps_tensor_release(&out[0]);
    test_node_free(missing);
    test_node_free(to_string);
    test_node_free(saturate_early);
    lps_tensor_free(x);
}
END_TEST

START_TEST(gradient_float_to_float)
{
    int64_t d[] = {3, 4};
    lps_tensor *x = test_tensor_random(2, d, -1.0f, 1.0f, 5);
    lps_node *node = test_node_new("Cast", 1, 1);
    test_node_attr_int(node, "to", LPS_DT_FLOAT);
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, OPSET, &x, 1, 0x1u, gradcheck_default_tol(), why,
                               sizeof why),
                  "%s", why);
    test_node_free(node);
    lps_tensor_free(x);
}
END_TEST


/* Training through a model whose float activations are also cast to int64
 * for integer arithmetic: no gradient reaches the int64 values (the int64
 * Mul has none), and W's gradient is the float path's alone:
 *   h = x W;  out = h + Cast(Cast(h, int64) * Cast(h, int64), float). */
START_TEST(training_skips_integer_values)
{
    enum { BATCH = 2, IN = 4, OUT = 3 };
    int64_t dw[] = {IN, OUT}, dx[] = {BATCH, IN};
    lps_model *m = test_model_new(OPSET, "x", IN, "out");
    test_model_add_random_init(m, "W", 2, dw, 1);
    const char *mm_in[] = {"x", "W"}, *cast_in[] = {"h"}, *mul_in[] = {"hi", "hi"};
    const char *back_in[] = {"hi2"}, *add_in[] = {"h", "hf"};
    lps_node *mm = test_node_with_io("MatMul", "mm", 2, mm_in, "h");
    lps_node *to_int = test_node_with_io("Cast", "to_int", 1, cast_in, "hi");
    test_node_attr_int(to_int, "to", LPS_DT_INT64);
    lps_node *mul = test_node_with_io("Mul", "mul", 2, mul_in, "hi2");
    lps_node *to_float = test_node_with_io("Cast", "to_float", 1, back_in, "hf");
    test_node_attr_int(to_float, "to", LPS_DT_FLOAT);
    lps_node *add = test_node_with_io("Add", "add", 2, add_in, "out");
    test_model_add_node(m, mm);
    test_model_add_node(m, to_int);
    test_model_add_node(m, mul);
    test_model_add_node(m, to_float);
    test_model_add_node(m, add);
    lps_error err;
    lps_plan_options opt = {.training = true};
    lps_plan *plan = lps_plan_compile(m, &opt, &err);
    ck_assert_msg(plan, "%s", err.msg);
    lps_tensor *x = test_tensor_random(2, dx, -2.0f, 2.0f, 2);
    lps_run_options run = {.training = true};
    lps_exec_ctx *ctx = lps_exec_ctx_new(&run, &err);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(lps_plan_set_input(plan, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(plan, ctx, &err) == LPS_OK, "%s", err.msg);
    int seed = lps_plan_find_value(plan, "out");
    int64_t dout[] = {BATCH, OUT};
    lps_tensor *ones = test_tensor_random(2, dout, 1.0f, 1.0f, 3);
    ck_assert_msg(lps_plan_backward(plan, ctx, seed, ones, &err) == LPS_OK, "%s", err.msg);
    size_t n = 0;
    const float *g = lps_plan_grad_data(plan, &n);
    ck_assert_uint_eq(n, IN * OUT);
    const float *xv = lps_tensor_f32(x);
    for (int i = 0; i < IN; i++)
        for (int j = 0; j < OUT; j++)
            ck_assert_float_eq_tol(g[i * OUT + j], xv[i] + xv[IN + i], 1e-5f);
    lps_exec_ctx_free(ctx);
    lps_plan_free(plan);
    lps_model_free(m);
    lps_tensor_free(x);
    lps_tensor_free(ones);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", float_to_integers_and_bool, 1},
        {"forward", integers_wrap_and_keep_int64_exact, 1},
        {"forward", half_precision, 1},
        {"forward", cast_like_takes_the_target_type, 1},
        {"forward", attribute_errors, 1},
        {"gradient", gradient_float_to_float, 1},
        {"gradient", training_skips_integer_values, 1},
    };
    return test_run_table("cast", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
