/* Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor, Not and
 * Where: bool outputs over several dtypes with broadcasting, Where's
 * selection of any dtype, its gradient to X and Y under broadcast, and
 * the type errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define OPSET 13
#define WHERE_OPSET 16

/* Runs a two-input op and checks its bool output against want. */
static void expect_bool_binary(const char *op_type, int64_t opset, lps_tensor *a, lps_tensor *b,
                               int rank, const int64_t *dims, const uint8_t *want)
{
    lps_node *node = test_node_new(op_type, 2, 1);
    lps_tensor *in[] = {a, b};
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(node, opset, in, out, 1, &err) == LPS_OK, "%s: %s", op_type,
                  err.msg);
    ck_assert_int_eq(out[0].dtype, LPS_DT_BOOL);
    test_expect_shape(&out[0], rank, dims);
    const uint8_t *got = out[0].data;
    for (int64_t i = 0; i < lps_numel_of(rank, dims); i++)
        ck_assert_msg(got[i] == want[i], "%s: element %lld is %d", op_type, (long long)i, got[i]);
    lps_tensor_release(&out[0]);
    test_node_free(node);
}

/* [2,3] against a broadcast [3] row, in float, int64, int32 and uint8. */
START_TEST(comparisons_broadcast_every_dtype)
{
    static const lps_dtype dtypes[] = {LPS_DT_FLOAT, LPS_DT_INT64, LPS_DT_INT32, LPS_DT_UINT8};
    static const double av[] = {1, 5, 3, 4, 2, 6}, bv[] = {1, 2, 3};
    static const uint8_t eq[] = {1, 0, 1, 0, 1, 0}, lt[] = {0, 0, 0, 0, 0, 0},
                         gt[] = {0, 1, 0, 1, 0, 1}, le[] = {1, 0, 1, 0, 1, 0},
                         ge[] = {1, 1, 1, 1, 1, 1};
    int64_t da[] = {2, 3}, db[] = {3};
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++) {
        union { float f[6]; int64_t l[6]; int32_t i[6]; uint8_t u[6]; } a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        for (int i = 0; i < 6; i++) {
            switch (dtypes[k]) {
            case LPS_DT_FLOAT: a.f[i] = (float)av[i]; if (i < 3) b.f[i] = (float)bv[i]; break;
            case LPS_DT_INT64: a.l[i] = (int64_t)av[i]; if (i < 3) b.l[i] = (int64_t)bv[i]; break;
            case LPS_DT_INT32: a.i[i] = (int32_t)av[i]; if (i < 3) b.i[i] = (int32_t)bv[i]; break;
            default: a.u[i] = (uint8_t)av[i]; if (i < 3) b.u[i] = (uint8_t)bv[i]; break;
            }
        }
        lps_tensor *ta = test_tensor_from(dtypes[k], 2, da, &a);
        lps_tensor *tb = test_tensor_from(dtypes[k], 1, db, &b);
        expect_bool_binary("Equal", OPSET, ta, tb, 2, da, eq);
        expect_bool_binary("Less", OPSET, ta, tb, 2, da, lt);
        expect_bool_binary("Greater", OPSET, ta, tb, 2, da, gt);
        expect_bool_binary("LessOrEqual", OPSET, ta, tb, 2, da, le);
        expect_bool_binary("GreaterOrEqual", OPSET, ta, tb, 2, da, ge);
        lps_tensor_free(ta);
        lps_tensor_free(tb);
    }
}
END_TEST

/* int64 values beyond 2^53 compare exactly (no detour through double). */
START_TEST(int64_compares_exactly)
{
    const int64_t big = ((int64_t)1 << 60) + 1, big_minus = ((int64_t)1 << 60);
    int64_t d1[] = {1};
    lps_tensor *a = test_tensor_from(LPS_DT_INT64, 1, d1, &big);
    lps_tensor *b = test_tensor_from(LPS_DT_INT64, 1, d1, &big_minus);
    const uint8_t no[] = {0}, yes[] = {1};
    expect_bool_binary("Equal", OPSET, a, b, 1, d1, no);
    expect_bool_binary("Greater", OPSET, a, b, 1, d1, yes);
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(logic_and_not)
{
    int64_t da[] = {2, 2}, db[] = {2, 1};
    const uint8_t av[] = {0, 1, 0, 1}, bv[] = {1, 0};
    const uint8_t and_want[] = {0, 1, 0, 0}, or_want[] = {1, 1, 0, 1}, xor_want[] = {1, 0, 0, 1};
    lps_tensor *a = test_tensor_from(LPS_DT_BOOL, 2, da, av);
    lps_tensor *b = test_tensor_from(LPS_DT_BOOL, 2, db, bv);
    expect_bool_binary("And", OPSET, a, b, 2, da, and_want);
    expect_bool_binary("Or", OPSET, a, b, 2, da, or_want);
    expect_bool_binary("Xor", OPSET, a, b, 2, da, xor_want);
    lps_node *node = test_node_new("Not", 1, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, OPSET, &a, out, 1, &err), LPS_OK);
    const uint8_t *y = out[0].data;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(y[i], !av[i]);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(a);
    lps_tensor_free(b);
}
END_TEST

START_TEST(type_errors)
{
    int64_t d[] = {2};
    const float fv[] = {1, 2};
    const int64_t iv[] = {1, 2};
    const uint8_t bv[] = {1, 0};
    lps_tensor *f = test_tensor_from(LPS_DT_FLOAT, 1, d, fv);
    lps_tensor *i = test_tensor_from(LPS_DT_INT64, 1, d, iv);
    lps_tensor *b = test_tensor_from(LPS_DT_BOOL, 1, d, bv);
    lps_tensor out[1] = {{0}};
    lps_error err;
    struct { const char *op; lps_tensor *a, *b; lps_status want; const char *msg; } cases[] = {
        {"Equal", f, i, LPS_ERR_INVALID, "one type"},
        {"Less", b, b, LPS_ERR_UNSUPPORTED, "bool"},
        {"And", f, f, LPS_ERR_UNSUPPORTED, "float"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lps_node *node = test_node_new(cases[k].op, 2, 1);
        lps_tensor *in[] = {cases[k].a, cases[k].b};
        ck_assert_int_eq(test_op_forward(node, OPSET, in, out, 1, &err), cases[k].want);
        ck_assert_msg(strstr(err.msg, cases[k].msg), "%s: %s", cases[k].op, err.msg);
        test_node_free(node);
    }
    lps_node *not_node = test_node_new("Not", 1, 1);
    ck_assert_int_eq(test_op_forward(not_node, OPSET, &f, out, 1, &err), LPS_ERR_UNSUPPORTED);
    test_node_free(not_node);
    ck_assert(!test_op_trains_input("Less", OPSET, 2, 0));
    lps_tensor_release(&out[0]);
    lps_tensor_free(f);
    lps_tensor_free(i);
    lps_tensor_free(b);
}
END_TEST

/* cond [2,1] x X [3] x Y [2,3] for an int64 and a uint8 payload. */
START_TEST(where_selects_any_dtype)
{
    int64_t dc[] = {2, 1}, dx[] = {3}, dy[] = {2, 3};
    const uint8_t cond[] = {1, 0};
    const int64_t x64[] = {1, 2, 3}, y64[] = {10, 20, 30, 40, 50, 60};
    const int64_t want64[] = {1, 2, 3, 40, 50, 60};
    const uint8_t x8[] = {7, 8, 9}, y8[] = {0, 1, 2, 3, 4, 5}, want8[] = {7, 8, 9, 3, 4, 5};
    lps_tensor *c = test_tensor_from(LPS_DT_BOOL, 2, dc, cond);
    lps_tensor *xl = test_tensor_from(LPS_DT_INT64, 1, dx, x64);
    lps_tensor *yl = test_tensor_from(LPS_DT_INT64, 2, dy, y64);
    lps_tensor *xb = test_tensor_from(LPS_DT_UINT8, 1, dx, x8);
    lps_tensor *yb = test_tensor_from(LPS_DT_UINT8, 2, dy, y8);
    lps_node *node = test_node_new("Where", 3, 1);
    lps_tensor out[1] = {{0}};
    lps_error err;
    lps_tensor *in64[] = {c, xl, yl};
    ck_assert_int_eq(test_op_forward(node, WHERE_OPSET, in64, out, 1, &err), LPS_OK);
    test_expect_shape(&out[0], 2, dy);
    test_expect_int64s(&out[0], want64, 6);
    lps_tensor *in8[] = {c, xb, yb};
    ck_assert_int_eq(test_op_forward(node, WHERE_OPSET, in8, out, 1, &err), LPS_OK);
    ck_assert_int_eq(out[0].dtype, LPS_DT_UINT8);
    ck_assert_int_eq(memcmp(out[0].data, want8, sizeof want8), 0);
    lps_tensor *mixed[] = {c, xl, yb};
    ck_assert_int_eq(test_op_forward(node, WHERE_OPSET, mixed, out, 1, &err), LPS_ERR_INVALID);
    lps_tensor *float_cond[] = {xl, xl, yl};
    ck_assert_int_eq(test_op_forward(node, WHERE_OPSET, float_cond, out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    lps_tensor_release(&out[0]);
    test_node_free(node);
    lps_tensor_free(c);
    lps_tensor_free(xl);
    lps_tensor_free(yl);
    lps_tensor_free(xb);
    lps_tensor_free(yb);
}
END_TEST

typedef struct where_case {
    int rc, rx, ry;
    int64_t dc[3], dx[3], dy[3];
} where_case;

/* Shapes where cond, X or Y broadcast, so each gradient is a reduction. */
static const where_case where_cases[] = {
    {2, 2, 2, {2, 3}, {2, 3}, {2, 3}},
    {2, 1, 2, {2, 3}, {3}, {2, 1}},
    {1, 3, 0, {4}, {2, 3, 4}, {0}},
    {3, 2, 3, {2, 1, 4}, {3, 1}, {1, 3, 4}},
};
#define N_WHERE_CASES ((int)(sizeof where_cases / sizeof where_cases[0]))

START_TEST(gradient_where)
{
    const where_case *wc = &where_cases[_i];
    int64_t nc = lps_numel_of(wc->rc, wc->dc);
    uint8_t *cv = malloc((size_t)nc);
    for (int64_t k = 0; k < nc; k++)
        cv[k] = (uint8_t)((k * 7 + (int64_t)_i) % 3 != 0);
    lps_tensor *c = test_tensor_from(LPS_DT_BOOL, wc->rc, wc->dc, cv);
    lps_tensor *x = test_tensor_random(wc->rx, wc->dx, -1.0f, 1.0f, 3 + (uint64_t)_i);
    lps_tensor *y = test_tensor_random(wc->ry, wc->dy, -1.0f, 1.0f, 30 + (uint64_t)_i);
    lps_tensor *in[] = {c, x, y};
    lps_node *node = test_node_new("Where", 3, 1);
    char why[256] = "";
    ck_assert_msg(gradcheck_op(node, WHERE_OPSET, in, 3, 0x6u, gradcheck_default_tol(), why,
                               sizeof why),
                  "case %d: %s", _i, why);
    test_node_free(node);
    lps_tensor_free(c);
    lps_tensor_free(x);
    lps_tensor_free(y);
    free(cv);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", comparisons_broadcast_every_dtype, 1},
        {"forward", int64_compares_exactly, 1},
        {"forward", logic_and_not, 1},
        {"forward", type_errors, 1},
        {"forward", where_selects_any_dtype, 1},
        {"gradient", gradient_where, N_WHERE_CASES},
    };
    return test_run_table("compare", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
