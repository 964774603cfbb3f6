/* Pow, Mod and PRelu: gradients of both inputs under broadcasting, mixed
 * Pow types, Mod's two sign conventions on ints and floats, its division
 * by zero, and PRelu's slope broadcast. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
#define VALUE_TOL 1e-5f

typedef struct bcast_case {
    int ra;
    int64_t da[3];
    int rb;
    int64_t db[3];
} bcast_case;

static const bcast_case bcast_cases[] = {
    {2, {2, 3}, 2, {2, 3}},
    {2, {2, 3}, 0, {0}},
    {3, {2, 3, 4}, 2, {3, 1}},
    {1, {4}, 3, {2, 3, 1}},
};
#define N_BCAST ((int)(sizeof bcast_cases / sizeof bcast_cases[0]))

/* Runs gradcheck of a two-input op over one broadcast case with inputs
 * drawn from [alo, ahi) and [blo, bhi). */
static void check_binary_gradient(const char *op_type, lps_node *node, int _i, float alo,
                                  float ahi, float blo, float bhi)
{
    const bcast_case *bc = &bcast_cases[_i];
    lps_tensor *a = test_tensor_random(bc->ra, bc->da, alo, ahi, 1 + (uint64_t)_i);
    lps_tensor *b = test_tensor_random(bc->rb, bc->db, blo, bhi, 50 + (uint64_t)_i);
    lps_tensor *in[] = {a, b};
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, OPSET, in, 2, 0x3u, gradcheck_default_tol(), why, sizeof why),
                  "%s case %d: %s", op_type, _i, why);
    lps_tensor_free(a);
    lps_tensor_free(b);
}

START_TEST(gradient_pow)
{
    lps_node *node = test_node_new("Pow", 2, 1);
    check_binary_gradient("Pow", node, _i, 0.5f, 2.0f, -1.5f, 2.5f);
    test_node_free(node);
}
END_TEST

/* fmod=1 and fmod=0 on floats; quotients stay away from integers so that
 * trunc/floor do not jump inside the finite difference. */
START_TEST(gradient_mod)
{
    for (int fmod_attr = 0; fmod_attr <= 1; fmod_attr++) {
        lps_node *node = test_node_new("Mod", 2, 1);
        test_node_attr_int(node, "fmod", fmod_attr);
        int64_t da[] = {2, 3}, db[] = {3};
        const float av[] = {5.3f, -5.3f, 7.9f, -2.2f, 3.7f, -9.1f};
        const float bv[] = {2.1f, 3.3f, -2.9f};
        lps_tensor *a = test_tensor_from(LPS_DT_FLOAT, 2, da, av);
        lps_tensor *b = test_tensor_from(LPS_DT_FLOAT, 1, db, bv);
        lps_tensor *in[] = {a, b};
        char why[256] = "";
        gradcheck_tol tol = gradcheck_default_tol();
        tol.eps = 1e-3f;
        ck_assert_msg(gradcheck_op(node, OPSET, in, 2, 0x3u, tol, why, sizeof why),
                      "fmod=%d: %s", fmod_attr, why);
        lps_tensor_free(a);
        lps_tensor_free(b);
        test_node_free(node);
    }
}
END_TEST

/* Slope per channel [C,1,1] against [N,C,H,W], and a scalar slope. */
START_TEST(gradient_prelu)
{
    int64_t dx[] = {2, 3, 2, 2}, ds[] = {3, 1, 1}, d1[] = {1};
    lps_tensor *x = test_tensor_random(4, dx, -2.0f, 2.0f, 9);
    float *xv = lps_tensor_f32(x);
    for (int64_t i = 0; i < lps_tensor_numel(x); i++)
        if (fabsf(xv[i]) < 0.1f)
            xv[i] = 0.5f;
    lps_tensor *s = test_tensor_random(3, ds, 0.05f, 0.5f, 10);
    lps_tensor *s1 = test_tensor_random(1, d1, 0.05f, 0.5f, 11);
    lps_node *node = test_node_new("PRelu", 2, 1);
    char why[256] = "";
    lps_tensor *in[] = {x, s}, *in1[] = {x, s1};
    ck_assert_msg(gradcheck_op(node, OPSET, in, 2, 0x3u, gradcheck_default_tol(), why,
                               sizeof why), "channel slope: %s", why);
    ck_assert_msg(gradcheck_op(node, OPSET, in1, 2, 0x3u, gradcheck_default_tol(), why,
                               sizeof why), "scalar slope: %s", why);
    /* the slope broadcasts to X, never X to the slope */
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_tensor *reversed[] = {s, x};
    ck_assert_int_eq(test_op_forward(node, OPSET, reversed, out, 1, &err), LPS_ERR_INVALID);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(x);
    lps_tensor_free(s);
    lps_tensor_free(s1);
}
END_TEST

/* Runs a two-input op and returns its output in out (caller releases). */
static void run_binary(lps_node *node, lps_tensor *a, lps_tensor *b, lps_tensor *out)
{
    lps_tensor *in[] = {a, b};
    lps_error err;
    ck_assert_msg(test_op_forward(node, OPSET, in, out, 1, &err) == LPS_OK, "%s", err.msg);
}

START_TEST(pow_mixed_types)
{
    int64_t d[] = {3};
    const int64_t base_i[] = {2, 3, -2}, expo_i[] = {3, 2, 3};
    const float base_f[] = {4.0f, 2.0f, 9.0f}, expo_f[] = {0.5f, -1.0f, 0.5f};
    const int64_t want_ii[] = {8, 9, -8};
    const float want_fi[] = {64.0f, 4.0f, 729.0f}, want_ff[] = {2.0f, 0.5f, 3.0f};
    lps_tensor *bi = test_tensor_from(LPS_DT_INT64, 1, d, base_i);
    lps_tensor *ei = test_tensor_from(LPS_DT_INT64, 1, d, expo_i);
    lps_tensor *bf = test_tensor_from(LPS_DT_FLOAT, 1, d, base_f);
    lps_tensor *ef = test_tensor_from(LPS_DT_FLOAT, 1, d, expo_f);
    lps_node *node = test_node_new("Pow", 2, 1);
    lps_tensor out[1] = {{0}};
    run_binary(node, bi, ei, out);
    test_expect_int64s(&out[0], want_ii, 3);
    run_binary(node, bf, ei, out);
    test_expect_floats(&out[0], want_fi, 3, VALUE_TOL);
    run_binary(node, bf, ef, out);
    test_expect_floats(&out[0], want_ff, 3, VALUE_TOL);
    /* int base, float exponent: the result keeps the base's type, so
     * 2^-1 = 0.5 truncates to 0 */
    const float expo_neg[] = {-1.0f, 0.0f, 0.0f};
    lps_tensor *en = test_tensor_from(LPS_DT_FLOAT, 1, d, expo_neg);
    const int64_t base_pos[] = {2, 5, -1};
    lps_tensor *bp = test_tensor_from(LPS_DT_INT64, 1, d, base_pos);
    run_binary(node, bp, en, out);
    ck_assert_int_eq(out[0].dtype, LPS_DT_INT64);
    const int64_t want_pos[] = {0, 1, 1};
    test_expect_int64s(&out[0], want_pos, 3);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(bi);
    lps_tensor_free(ei);
    lps_tensor_free(bf);
    lps_tensor_free(ef);
    lps_tensor_free(en);
    lps_tensor_free(bp);
}
END_TEST

START_TEST(mod_signs)
{
    int64_t d[] = {4};
    const int64_t a[] = {7, -7, 7, -7}, b[] = {3, 3, -3, -3};
    const int64_t python_mod[] = {1, 2, -2, -1}, c_fmod[] = {1, -1, 1, -1};
    const float af[] = {7.5f, -7.5f, 7.5f, -7.5f}, bf[] = {2.0f, 2.0f, -2.0f, -2.0f};
    const float float_python[] = {1.5f, 0.5f, -0.5f, -1.5f}, float_c[] = {1.5f, -1.5f, 1.5f, -1.5f};
    lps_tensor *ta = test_tensor_from(LPS_DT_INT64, 1, d, a);
    lps_tensor *tb = test_tensor_from(LPS_DT_INT64, 1, d, b);
    lps_tensor *tfa = test_tensor_from(LPS_DT_FLOAT, 1, d, af);
    lps_tensor *tfb = test_tensor_from(LPS_DT_FLOAT, 1, d, bf);
    lps_tensor out[1] = {{0}};
    for (int fmod_attr = 0; fmod_attr <= 1; fmod_attr++) {
        lps_node *node = test_node_new("Mod", 2, 1);
        test_node_attr_int(node, "fmod", fmod_attr);
        run_binary(node, ta, tb, out);
        test_expect_int64s(&out[0], fmod_attr ? c_fmod : python_mod, 4);
        run_binary(node, tfa, tfb, out);
        test_expect_floats(&out[0], fmod_attr ? float_c : float_python, 4, VALUE_TOL);
        test_node_free(node);
    }
    lps_tensor_release(&out[0]);
    lps_tensor_free(ta);
    lps_tensor_free(tb);
    lps_tensor_free(tfa);
    lps_tensor_free(tfb);
}
END_TEST

START_TEST(mod_errors)
{
    int64_t d[] = {2};
    const int32_t a[] = {INT32_MIN, 5}, b[] = {-1, 0};
    lps_tensor *ta = test_tensor_from(LPS_DT_INT32, 1, d, a);
    lps_tensor *tb = test_tensor_from(LPS_DT_INT32, 1, d, b);
    lps_node *node = test_node_new("Mod", 2, 1);
    lps_tensor *in[] = {ta, tb};
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "by zero"));
    lps_node *bad = test_node_new("Mod", 2, 1);
    test_node_attr_int(bad, "fmod", 2);
    ck_assert_int_eq(test_op_forward(bad, OPSET, in, out, 1, &err), LPS_ERR_INVALID);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    test_node_free(bad);
    lps_tensor_free(ta);
    lps_tensor_free(tb);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"gradient", gradient_pow, N_BCAST},
        {"gradient", gradient_mod, 1},
        {"gradient", gradient_prelu, 1},
        {"forward", pow_mixed_types, 1},
        {"forward", mod_signs, 1},
        {"forward", mod_errors, 1},
    };
    return test_run_table("pow_mod", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
