/* Movement ops: shapes and values of Flatten, Reshape, Identity, and their
 * finite-difference gradients. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"

#define MOVE_OPSET 13
#define MOVE_OPSET_ALLOWZERO 14
#define MOVE_FWD_TOL 0.0f

/* Runs a one-output node and checks the output dims; returns the status. */
static lps_status run_shape(lps_node *n, int64_t opset, lps_tensor **in, int rank,
                            const int64_t *dims, lps_error *err)
{
    lps_tensor out = {0};
    lps_status st = test_op_forward(n, opset, in, &out, 1, err);
    if (st == LPS_OK) {
        ck_assert_int_eq(out.rank, rank);
        for (int i = 0; i < rank; i++)
            ck_assert_int_eq(out.dims[i], dims[i]);
    }
    lps_tensor_release(&out);
    return st;
}

static void expect_grad(lps_node *n, int64_t opset, lps_tensor **in, size_t n_in, uint32_t mask)
{
    char why[256] = "";
    ck_assert_msg(gradcheck_op(n, opset, in, n_in, mask, gradcheck_default_tol(), why, sizeof why),
                  "%s", why);
}

START_TEST(flatten_axes)
{
    int64_t d[] = {2, 3, 4};
    static const struct {
        int64_t axis;
        int64_t rows, cols;
    } cases[] = {{0, 1, 24}, {1, 2, 12}, {2, 6, 4}, {3, 24, 1}, {-1, 6, 4}, {-3, 1, 24}};
    lps_tensor *x = test_tensor_random(3, d, -1, 1, 1);
    lps_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lps_node *n = test_node_new("Flatten", 1, 1);
        test_node_attr_int(n, "axis", cases[i].axis);
        int64_t want[] = {cases[i].rows, cases[i].cols};
        ck_assert_int_eq(run_shape(n, MOVE_OPSET, &x, 2, want, &err), LPS_OK);
        test_node_free(n);
    }
    lps_node *bad = test_node_new("Flatten", 1, 1);
    test_node_attr_int(bad, "axis", 4);
    ck_assert_int_eq(run_shape(bad, MOVE_OPSET, &x, 0, NULL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "axis 4"));
    test_node_free(bad);
    lps_tensor_free(x);
}
END_TEST

START_TEST(reshape_zero_and_infer)
{
    int64_t d[] = {2, 3, 4}, sd[] = {3};
    const int64_t zero_infer[] = {4, 0, -1}, want[] = {4, 3, 2};
    lps_tensor *in[2] = {test_tensor_random(3, d, -1, 1, 1),
                         test_tensor_from(LPS_DT_INT64, 1, sd, zero_infer)};
    lps_node *n = test_node_new("Reshape", 2, 1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(out.dims[i], want[i]);
    test_expect_floats(&out, lps_tensor_f32(in[0]), 24, MOVE_FWD_TOL);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(reshape_allowzero)
{
    int64_t d[] = {0, 3}, sd[] = {2};
    const int64_t req[] = {3, 0}, want[] = {3, 0}, both[] = {-1, 0};
    lps_tensor *in[2] = {test_tensor_random(2, d, -1, 1, 1),
                         test_tensor_from(LPS_DT_INT64, 1, sd, req)};
    lps_error err;
    lps_node *n = test_node_new("Reshape", 2, 1);
    test_node_attr_int(n, "allowzero", 1);
    ck_assert_int_eq(run_shape(n, MOVE_OPSET_ALLOWZERO, in, 2, want, &err), LPS_OK);
    /* allowzero is not an attribute before opset 14 */
    ck_assert_int_eq(run_shape(n, MOVE_OPSET, in, 2, want, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "allowzero"));
    memcpy(in[1]->data, both, sizeof both);
    ck_assert_int_eq(run_shape(n, MOVE_OPSET_ALLOWZERO, in, 2, want, &err), LPS_ERR_INVALID);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(reshape_rejects)
{
    int64_t d[] = {2, 3}, sd[] = {2};
    static const int64_t bad[][2] = {{-1, -1}, {4, 2}, {-1, 4}, {-2, 3}, {3, 0}};
    lps_error err;
    lps_node *n = test_node_new("Reshape", 2, 1);
    lps_tensor *x = test_tensor_random(2, d, -1, 1, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lps_tensor *in[2] = {x, test_tensor_from(LPS_DT_INT64, 1, sd, bad[i])};
        ck_assert_msg(run_shape(n, MOVE_OPSET, in, 0, NULL, &err) == LPS_ERR_INVALID,
                      "case %zu accepted", i);
        lps_tensor_free(in[1]);
    }
    test_node_free(n);
    lps_tensor_free(x);
}
END_TEST

START_TEST(identity_int64)
{
    int64_t d[] = {3};
    const int64_t v[] = {7, -1, 1LL << 40};
    lps_tensor *x = test_tensor_from(LPS_DT_INT64, 1, d, v);
    lps_node *n = test_node_new("Identity", 1, 1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, &x, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dtype, LPS_DT_INT64);
    ck_assert_mem_eq(out.data, v, sizeof v);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(x);
}
END_TEST

START_TEST(grad_flatten_reshape_identity)
{
    int64_t d[] = {2, 3, 4}, sd[] = {2};
    const int64_t shape[] = {-1, 6};
    lps_tensor *in[2] = {test_tensor_random(3, d, -1, 1, 1),
                         test_tensor_from(LPS_DT_INT64, 1, sd, shape)};
    lps_node *f = test_node_new("Flatten", 1, 1);
    test_node_attr_int(f, "axis", -1);
    expect_grad(f, MOVE_OPSET, in, 1, 0x1u);
    lps_node *r = test_node_new("Reshape", 2, 1);
    expect_grad(r, MOVE_OPSET, in, 2, 0x1u);
    lps_node *id = test_node_new("Identity", 1, 1);
    expect_grad(id, MOVE_OPSET, in, 1, 0x1u);
    test_node_free(f);
    test_node_free(r);
    test_node_free(id);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("movement");
    TCase *shape = tcase_create("reshaping");
    tcase_add_test(shape, flatten_axes);
    tcase_add_test(shape, reshape_zero_and_infer);
    tcase_add_test(shape, reshape_allowzero);
    tcase_add_test(shape, reshape_rejects);
    tcase_add_test(shape, identity_int64);
    tcase_add_test(shape, grad_flatten_reshape_identity);
    suite_add_tcase(s, shape);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
