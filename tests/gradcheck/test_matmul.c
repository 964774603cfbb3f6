/* MatMul: forward against a naive broadcasting loop and finite-difference
 * gradients for 1-D operands, batched, folded and broadcast batch dims. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define MM_OPSET 13
#define MM_FWD_TOL 1e-4f
/* Enough points per input to cover every batch slot of the larger cases. */
#define MM_MAX_POINTS 64

typedef struct mm_case {
    int ra;
    int64_t da[4];
    int rb;
    int64_t db[4];
    int ry;
    int64_t dy[4];
} mm_case;

static const mm_case cases[] = {
    {2, {3, 4}, 2, {4, 5}, 2, {3, 5}},                   /* plain */
    {1, {4}, 2, {4, 5}, 1, {5}},                         /* 1-D A */
    {2, {3, 4}, 1, {4}, 1, {3}},                         /* 1-D B */
    {1, {4}, 1, {4}, 0, {0}},                            /* dot product */
    {3, {2, 3, 4}, 2, {4, 5}, 3, {2, 3, 5}},             /* batch folded into M */
    {2, {3, 4}, 3, {2, 4, 5}, 3, {2, 3, 5}},             /* A shared across B's batch */
    {4, {2, 1, 3, 4}, 3, {3, 4, 2}, 4, {2, 3, 3, 2}},    /* broadcast both ways */
    {1, {4}, 3, {2, 4, 3}, 2, {2, 3}},                   /* 1-D A, batched B */
    {3, {2, 3, 4}, 1, {4}, 2, {2, 3}},                   /* batched A, 1-D B */
};

/* Y[t] = A[t] B[t] for the broadcast case used in forward_matches_naive:
 * A [2,1,3,4], B [3,4,2], Y [2,3,3,2]. */
static void naive_broadcast(const float *a, const float *b, float *y)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 2; c++) {
                    float s = 0.0f;
                    for (int k = 0; k < 4; k++)
                        s += a[(i * 3 + r) * 4 + k] * b[(j * 4 + k) * 2 + c];
                    y[((i * 3 + j) * 3 + r) * 2 + c] = s;
                }
}

START_TEST(forward_shapes)
{
    const mm_case *c = &cases[_i];
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *in[2] = {test_tensor_random(c->ra, c->da, -1, 1, 1),
                         test_tensor_random(c->rb, c->db, -1, 1, 2)};
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.rank, c->ry);
    for (int i = 0; i < c->ry; i++)
        ck_assert_int_eq(out.dims[i], c->dy[i]);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
    test_node_free(n);
}
END_TEST

START_TEST(forward_matches_naive)
{
    const mm_case *c = &cases[6];
    float expect[2 * 3 * 3 * 2];
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *in[2] = {test_tensor_random(c->ra, c->da, -1, 1, 1),
                         test_tensor_random(c->rb, c->db, -1, 1, 2)};
    lps_tensor out = {0};
    lps_error err;
    naive_broadcast(lps_tensor_f32(in[0]), lps_tensor_f32(in[1]), expect);
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, in, &out, 1, &err), LPS_OK);
    test_expect_floats(&out, expect, sizeof expect / sizeof expect[0], MM_FWD_TOL);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
    test_node_free(n);
}
END_TEST

START_TEST(forward_dot_value)
{
    const float a[] = {1, 2, 3}, b[] = {4, -5, 6};
    const float expect[] = {12.0f};
    int64_t d[] = {3};
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_FLOAT, 1, d, a),
                         test_tensor_from(LPS_DT_FLOAT, 1, d, b)};
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 0);
    test_expect_floats(&out, expect, 1, MM_FWD_TOL);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
    test_node_free(n);
}
END_TEST

START_TEST(empty_inner_dim_gives_zeros)
{
    int64_t da[] = {2, 2, 0}, db[] = {0, 3};
    const float zeros[12] = {0};
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *in[2] = {test_tensor_random(3, da, -1, 1, 1), test_tensor_random(2, db, -1, 1, 2)};
    lps_tensor out = {0};
    lps_error err;
    int64_t dy[] = {2, 2, 3};
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, in, &out, 1, &err), LPS_OK);
    test_expect_shape(&out, 3, dy);
    test_expect_floats(&out, zeros, 12, 0.0f);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
    test_node_free(n);
}
END_TEST

START_TEST(rejects_mismatch)
{
    int64_t da[] = {2, 3, 4}, db[] = {3, 4, 5}, dk[] = {5, 2};
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *a = test_tensor_random(3, da, 0, 1, 1);
    lps_tensor *b = test_tensor_random(3, db, 0, 1, 2);
    lps_tensor *k = test_tensor_random(2, dk, 0, 1, 3);
    lps_tensor *bad_batch[2] = {a, b}, *bad_inner[2] = {a, k};
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, bad_batch, &out, 1, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "MatMul"));
    ck_assert_int_eq(test_op_forward(n, MM_OPSET, bad_inner, &out, 1, &err),
                     LPS_ERR_INVALID);
    lps_tensor_release(&out);
    lps_tensor_free(a);
    lps_tensor_free(b);
    lps_tensor_free(k);
    test_node_free(n);
}
END_TEST

START_TEST(gradient)
{
    const mm_case *c = &cases[_i];
    lps_node *n = test_node_new("MatMul", 2, 1);
    lps_tensor *in[2] = {test_tensor_random(c->ra, c->da, -1, 1, 1),
                         test_tensor_random(c->rb, c->db, -1, 1, 2)};
    gradcheck_tol tol = gradcheck_default_tol();
    tol.max_points = MM_MAX_POINTS;
    char why[256] = "";
    bool ok = gradcheck_op(n, MM_OPSET, in, 2, 0x3u, tol, why, sizeof why);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
    test_node_free(n);
    ck_assert_msg(ok, "case %d: %s", _i, why);
}
END_TEST

int main(void)
{
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    const test_entry tests[] = {
        {"forward", forward_shapes, n_cases},
        {"forward", forward_matches_naive, 1},
        {"forward", forward_dot_value, 1},
        {"forward", empty_inner_dim_gives_zeros, 1},
        {"forward", rejects_mismatch, 1},
        {"gradient", gradient, n_cases},
    };
    return test_run_table("matmul", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
