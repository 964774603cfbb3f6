/* Gemm: hand-computed forward values and finite-difference gradients for
 * every transpose combination, alpha/beta and every C broadcast form. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define GEMM_OPSET 13
#define GEMM_FWD_TOL 1e-5f
#define GEMM_M 3
#define GEMM_K 4
#define GEMM_N 5

/* Runs one gradient check of Gemm with A [M,K] (or [K,M]), B [K,N] (or
 * [N,K]) and C of the given shape (c_rank < 0: no C). */
static void check_gemm(int trans_a, int trans_b, float alpha, float beta, int c_rank,
                       const int64_t *c_dims)
{
    int64_t a_dims[2] = {trans_a ? GEMM_K : GEMM_M, trans_a ? GEMM_M : GEMM_K};
    int64_t b_dims[2] = {trans_b ? GEMM_N : GEMM_K, trans_b ? GEMM_K : GEMM_N};
    int n_in = c_rank < 0 ? 2 : 3;
    lps_node *n = test_node_new("Gemm", n_in, 1);
    test_node_attr_int(n, "transA", trans_a);
    test_node_attr_int(n, "transB", trans_b);
    test_node_attr_float(n, "alpha", alpha);
    test_node_attr_float(n, "beta", beta);
    lps_tensor *in[3] = {test_tensor_random(2, a_dims, -1.0f, 1.0f, 1),
                         test_tensor_random(2, b_dims, -1.0f, 1.0f, 2),
                         c_rank < 0 ? NULL : test_tensor_random(c_rank, c_dims, -1.0f, 1.0f, 3)};
    char why[256] = "";
    bool ok = gradcheck_op(n, GEMM_OPSET, in, (size_t)n_in, 0x7u, gradcheck_default_tol(), why,
                           sizeof why);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    test_node_free(n);
    ck_assert_msg(ok, "transA=%d transB=%d c_rank=%d: %s", trans_a, trans_b, c_rank, why);
}

START_TEST(forward_values)
{
    /* A = [[1,2],[3,4]], B^T given as [[1,0],[1,1],[0,2]] so B = [[1,1,0],[0,1,2]];
     * A B = [[1,3,4],[3,7,8]]; Y = 0.5 AB + 2 [10,20,30]. */
    const float a[] = {1, 2, 3, 4}, bt[] = {1, 0, 1, 1, 0, 2}, c[] = {10, 20, 30};
    const float expect[] = {20.5f, 41.5f, 62.0f, 21.5f, 43.5f, 64.0f};
    int64_t ad[] = {2, 2}, bd[] = {3, 2}, cd[] = {3};
    lps_node *n = test_node_new("Gemm", 3, 1);
    test_node_attr_int(n, "transB", 1);
    test_node_attr_float(n, "alpha", 0.5f);
    test_node_attr_float(n, "beta", 2.0f);
    lps_tensor *in[3] = {test_tensor_from(LPS_DT_FLOAT, 2, ad, a),
                         test_tensor_from(LPS_DT_FLOAT, 2, bd, bt),
                         test_tensor_from(LPS_DT_FLOAT, 1, cd, c)};
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, GEMM_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 2);
    ck_assert_int_eq(out.dims[0], 2);
    ck_assert_int_eq(out.dims[1], 3);
    test_expect_floats(&out, expect, 6, GEMM_FWD_TOL);
    lps_tensor_release(&out);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    test_node_free(n);
}
END_TEST

START_TEST(empty_inner_dim_leaves_beta_c)
{
    int64_t ad[] = {2, 0}, bd[] = {0, 3}, cd[] = {2, 1};
    const float c[] = {1.0f, -2.0f}, want[] = {3, 3, 3, -6, -6, -6};
    lps_tensor *in[3] = {test_tensor_random(2, ad, 0, 1, 1), test_tensor_random(2, bd, 0, 1, 2),
                         test_tensor_from(LPS_DT_FLOAT, 2, cd, c)};
    lps_node *n = test_node_new("Gemm", 3, 1);
    test_node_attr_float(n, "beta", 3.0f);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, GEMM_OPSET, in, &out, 1, &err), LPS_OK);
    test_expect_floats(&out, want, 6, GEMM_FWD_TOL);
    lps_tensor_release(&out);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    test_node_free(n);
}
END_TEST

START_TEST(rejects_bad_shapes_and_attrs)
{
    int64_t ad[] = {2, 3}, bd[] = {2, 4}, cd[] = {3, 4};
    lps_tensor *in[3] = {test_tensor_random(2, ad, 0, 1, 1), test_tensor_random(2, bd, 0, 1, 2),
                         test_tensor_random(2, cd, 0, 1, 3)};
    lps_tensor out = {0};
    lps_error err;
    lps_node *n = test_node_new("Gemm", 2, 1);
    ck_assert_int_eq(test_op_forward(n, GEMM_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "node 'test' (Gemm)"));
    test_node_free(n);
    /* With transA, op(A) is [3, 2] and fits B, but C [2, 4] does not broadcast to [3, 4]. */
    n = test_node_new("Gemm", 3, 1);
    test_node_attr_int(n, "transA", 1);
    int64_t bad_c[] = {2, 4};
    lps_tensor_free(in[2]);
    in[2] = test_tensor_random(2, bad_c, 0, 1, 3);
    ck_assert_int_eq(test_op_forward(n, GEMM_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("Gemm", 2, 1);
    test_node_attr_int(n, "broadcast", 1);
    ck_assert_int_eq(test_op_forward(n, GEMM_OPSET, in, &out, 1, &err),
                     LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    lps_tensor_release(&out);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
}
END_TEST

START_TEST(grad_transposes_no_c)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            check_gemm(ta, tb, 1.0f, 1.0f, -1, NULL);
}
END_TEST

START_TEST(grad_transposes_alpha_beta_full_c)
{
    int64_t c[] = {GEMM_M, GEMM_N};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            check_gemm(ta, tb, 0.7f, -1.3f, 2, c);
}
END_TEST

START_TEST(grad_c_broadcast_forms)
{
    static const int64_t row[] = {1, GEMM_N}, col[] = {GEMM_M, 1}, one_one[] = {1, 1},
                         vec[] = {GEMM_N}, one[] = {1};
    check_gemm(0, 0, 1.0f, 0.5f, 0, NULL);
    check_gemm(0, 1, 1.0f, 0.5f, 1, vec);
    check_gemm(1, 0, 1.0f, 0.5f, 1, one);
    check_gemm(1, 1, 2.0f, 0.5f, 2, row);
    check_gemm(0, 0, 2.0f, 1.5f, 2, col);
    check_gemm(1, 0, 1.0f, 1.5f, 2, one_one);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", forward_values, 1},
        {"forward", empty_inner_dim_leaves_beta_c, 1},
        {"forward", rejects_bad_shapes_and_attrs, 1},
        {"gradient", grad_transposes_no_c, 1},
        {"gradient", grad_transposes_alpha_beta_full_c, 1},
        {"gradient", grad_c_broadcast_forms, 1},
    };
    return test_run_table("gemm", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
