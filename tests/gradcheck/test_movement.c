/* Movement ops: shapes and values of Flatten, Reshape, Identity, Transpose,
 * Concat, Dropout (inference and seeded training masks) and Constant, and
 * finite-difference gradients of the differentiable ones. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

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

/* Fails the test unless the gradients of the inputs in mask check out. */
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

/* Reference transpose by index arithmetic, for rank <= 4 (padded with 1s). */
static void naive_transpose(const float *x, const int64_t *dims, int rank, const int *perm,
                            float *y)
{
    int64_t d[4] = {1, 1, 1, 1}, st[4], p4[4] = {0, 1, 2, 3};
    int pad = 4 - rank;
    for (int i = 0; i < rank; i++) {
        d[pad + i] = dims[i];
        p4[pad + i] = pad + perm[i];
    }
    st[3] = 1;
    for (int i = 2; i >= 0; i--)
        st[i] = st[i + 1] * d[i + 1];
    int64_t k = 0;
    for (int64_t a = 0; a < d[p4[0]]; a++)
        for (int64_t b = 0; b < d[p4[1]]; b++)
            for (int64_t c = 0; c < d[p4[2]]; c++)
                for (int64_t e = 0; e < d[p4[3]]; e++)
                    y[k++] = x[a * st[p4[0]] + b * st[p4[1]] + c * st[p4[2]] + e * st[p4[3]]];
}

static const struct {
    int rank;
    int64_t dims[4];
    int n_perm; /* -1: default (reversed) */
    int perm[4];
} transpose_cases[] = {
    {3, {2, 3, 4}, -1, {2, 1, 0}},
    {3, {2, 3, 4}, 3, {0, 2, 1}},
    {3, {2, 3, 4}, 3, {1, 0, 2}},
    {4, {2, 3, 1, 5}, 4, {2, 0, 3, 1}},
    {4, {2, 3, 4, 5}, 4, {0, 2, 3, 1}},
    {2, {1, 7}, 2, {1, 0}},
    {1, {6}, 1, {0}},
};

/* A Transpose node for transpose_cases[i]; free with test_node_free. */
static lps_node *transpose_node(int i)
{
    lps_node *n = test_node_new("Transpose", 1, 1);
    if (transpose_cases[i].n_perm >= 0) {
        int64_t perm[4];
        for (int k = 0; k < transpose_cases[i].n_perm; k++)
            perm[k] = transpose_cases[i].perm[k];
        test_node_attr_ints(n, "perm", perm, transpose_cases[i].n_perm);
    }
    return n;
}

START_TEST(transpose_values)
{
    int rank = transpose_cases[_i].rank;
    const int64_t *dims = transpose_cases[_i].dims;
    lps_tensor *x = test_tensor_random(rank, dims, -1, 1, 1);
    float want[120];
    int64_t numel = lps_tensor_numel(x);
    ck_assert_int_le(numel, 120);
    naive_transpose(lps_tensor_f32(x), dims, rank, transpose_cases[_i].perm, want);
    lps_node *n = transpose_node(_i);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, &x, &out, 1, &err), LPS_OK);
    for (int k = 0; k < rank; k++)
        ck_assert_int_eq(out.dims[k], dims[transpose_cases[_i].perm[k]]);
    test_expect_floats(&out, want, numel, MOVE_FWD_TOL);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(x);
}
END_TEST

START_TEST(transpose_gradient)
{
    lps_tensor *x = test_tensor_random(transpose_cases[_i].rank, transpose_cases[_i].dims, -1, 1, 1);
    lps_node *n = transpose_node(_i);
    expect_grad(n, MOVE_OPSET, &x, 1, 0x1u);
    test_node_free(n);
    lps_tensor_free(x);
}
END_TEST

START_TEST(transpose_bytes_and_bad_perm)
{
    int64_t d[] = {2, 3}, perm[] = {1, 0}, dup[] = {0, 0};
    const int64_t v64[] = {1, 2, 3, 4, 5, 6}, t64[] = {1, 4, 2, 5, 3, 6};
    const uint8_t v8[] = {1, 0, 1, 1, 0, 0}, t8[] = {1, 1, 0, 0, 1, 0};
    lps_tensor *x64 = test_tensor_from(LPS_DT_INT64, 2, d, v64);
    lps_tensor *x8 = test_tensor_from(LPS_DT_BOOL, 2, d, v8);
    lps_node *n = test_node_new("Transpose", 1, 1);
    test_node_attr_ints(n, "perm", perm, 2);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, &x64, &out, 1, &err), LPS_OK);
    ck_assert_mem_eq(out.data, t64, sizeof t64);
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, &x8, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dtype, LPS_DT_BOOL);
    ck_assert_mem_eq(out.data, t8, sizeof t8);
    test_node_free(n);
    n = test_node_new("Transpose", 1, 1);
    test_node_attr_ints(n, "perm", dup, 2);
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, &x64, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "perm"));
    test_node_free(n);
    lps_tensor_release(&out);
    lps_tensor_free(x64);
    lps_tensor_free(x8);
}
END_TEST

START_TEST(concat_values)
{
    int64_t da[] = {2, 1}, db[] = {2, 2};
    const float a[] = {1, 2}, b[] = {3, 4, 5, 6};
    const float axis1[] = {1, 3, 4, 2, 5, 6};
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_FLOAT, 2, da, a),
                         test_tensor_from(LPS_DT_FLOAT, 2, db, b)};
    lps_node *n = test_node_new("Concat", 2, 1);
    test_node_attr_int(n, "axis", -1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dims[0], 2);
    ck_assert_int_eq(out.dims[1], 3);
    test_expect_floats(&out, axis1, 6, MOVE_FWD_TOL);
    test_node_free(n);
    /* axis 0 needs equal trailing dims: [2,1] and [2,2] disagree */
    n = test_node_new("Concat", 2, 1);
    test_node_attr_int(n, "axis", 0);
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("Concat", 2, 1);
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "axis"));
    test_node_free(n);
    lps_tensor_release(&out);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(concat_int64_shapes)
{
    int64_t d1[] = {1}, d2[] = {2};
    const int64_t a[] = {-1}, b[] = {3, 4}, want[] = {-1, 3, 4};
    lps_tensor *in[2] = {test_tensor_from(LPS_DT_INT64, 1, d1, a),
                         test_tensor_from(LPS_DT_INT64, 1, d2, b)};
    lps_node *n = test_node_new("Concat", 2, 1);
    test_node_attr_int(n, "axis", 0);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, MOVE_OPSET, in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(out.dtype, LPS_DT_INT64);
    ck_assert_mem_eq(out.data, want, sizeof want);
    lps_tensor_release(&out);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(concat_gradient)
{
    static const int64_t axes[] = {0, 1, 2, -2};
    int64_t d0[] = {2, 3, 4}, d1[] = {2, 3, 4}, d2[] = {2, 3, 4};
    int ax = (int)(axes[_i] < 0 ? axes[_i] + 3 : axes[_i]);
    d1[ax] = 1;
    d2[ax] = 2;
    lps_tensor *in[3] = {test_tensor_random(3, d0, -1, 1, 1), test_tensor_random(3, d1, -1, 1, 2),
                         test_tensor_random(3, d2, -1, 1, 3)};
    lps_node *n = test_node_new("Concat", 3, 1);
    test_node_attr_int(n, "axis", axes[_i]);
    expect_grad(n, MOVE_OPSET, in, 3, 0x5u);
    test_node_free(n);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
}
END_TEST

#define DROP_OPSET_FLOAT_MASK 7
#define DROP_OPSET_BOOL_MASK 10
#define DROP_OPSET_INPUTS 13
#define DROP_SEED 42
#define DROP_N 1000
/* Kept fraction of DROP_N draws at ratio 0.5 stays inside this band. */
#define DROP_KEEP_LO 0.4
#define DROP_KEEP_HI 0.6

/* Dropout with ratio/training_mode inputs (opset 12+), two outputs. */
static lps_node *dropout_node(int n_inputs)
{
    return test_node_new("Dropout", n_inputs, 2);
}

START_TEST(dropout_inference_is_identity)
{
    int64_t d[] = {2, 3}, one = 1;
    float half = 0.5f;
    uint8_t yes = 1;
    lps_tensor *x = test_tensor_random(2, d, -1, 1, 1);
    lps_tensor *in[3] = {x, test_tensor_from(LPS_DT_FLOAT, 0, &one, &half),
                         test_tensor_from(LPS_DT_BOOL, 0, &one, &yes)};
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    const uint8_t all_true[6] = {1, 1, 1, 1, 1, 1};
    lps_tensor out[2] = {{0}};
    lps_error err;
    /* opset 7: ratio attribute, float mask */
    lps_node *n = dropout_node(1);
    test_node_attr_float(n, "ratio", 0.3f);
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_FLOAT_MASK, in, out, 2, &err), LPS_OK);
    test_expect_floats(&out[0], lps_tensor_f32(x), 6, MOVE_FWD_TOL);
    test_expect_floats(&out[1], ones, 6, MOVE_FWD_TOL);
    /* opset 10: bool mask */
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_BOOL_MASK, in, out, 2, &err), LPS_OK);
    ck_assert_int_eq(out[1].dtype, LPS_DT_BOOL);
    ck_assert_mem_eq(out[1].data, all_true, sizeof all_true);
    /* the ratio attribute is gone from opset 12 */
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_INPUTS, in, out, 2, &err), LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    /* opset 13, training_mode=false: inference */
    n = dropout_node(3);
    *(uint8_t *)in[2]->data = 0;
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_INPUTS, in, out, 2, &err), LPS_OK);
    test_expect_floats(&out[0], lps_tensor_f32(x), 6, MOVE_FWD_TOL);
    ck_assert_mem_eq(out[1].data, all_true, sizeof all_true);
    /* training_mode=true in evaluation: inference */
    *(uint8_t *)in[2]->data = 1;
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_INPUTS, in, out, 2, &err), LPS_OK);
    test_expect_floats(&out[0], lps_tensor_f32(x), 6, MOVE_FWD_TOL);
    ck_assert_mem_eq(out[1].data, all_true, sizeof all_true);
    /* honoring the graph's flags: ONNX's reference mask, numpy's
     * np.random.seed(0); np.random.uniform(0, 1, 6) >= 0.5, then seed 7 */
    lps_run_options honor = {.honor_training_flags = true};
    const uint8_t seed0[6] = {1, 1, 1, 1, 0, 1}, seed7[6] = {0, 1, 0, 1, 1, 1};
    ck_assert_int_eq(test_op_forward_run(n, DROP_OPSET_INPUTS, &honor, in, out, 2, &err), LPS_OK);
    ck_assert_mem_eq(out[1].data, seed0, sizeof seed0);
    float dropped[6];
    for (int i = 0; i < 6; i++)
        dropped[i] = seed0[i] * 2 * lps_tensor_f32(x)[i];
    test_expect_floats(&out[0], dropped, 6, MOVE_FWD_TOL);
    lps_node *seeded = dropout_node(3);
    test_node_attr_int(seeded, "seed", 7);
    ck_assert_int_eq(test_op_forward_run(seeded, DROP_OPSET_INPUTS, &honor, in, out, 2, &err),
                     LPS_OK);
    ck_assert_mem_eq(out[1].data, seed7, sizeof seed7);
    test_node_free(seeded);
    lps_tensor_f32(in[1])[0] = 0.0f;
    ck_assert_int_eq(test_op_forward_run(n, DROP_OPSET_INPUTS, &honor, in, out, 2, &err), LPS_OK);
    test_expect_floats(&out[0], lps_tensor_f32(x), 6, MOVE_FWD_TOL);
    /* training_mode=false does not stop dropout in a training run */
    *(uint8_t *)in[2]->data = 0;
    lps_tensor_f32(in[1])[0] = 0.5f;
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, out, 2, &err),
                     LPS_OK);
    ck_assert(memcmp(out[1].data, all_true, sizeof all_true) != 0);
    /* ratio as an input before opset 12 is malformed */
    ck_assert_int_eq(test_op_forward(n, DROP_OPSET_BOOL_MASK, in, out, 2, &err), LPS_ERR_INVALID);
    test_node_free(n);
    for (int j = 0; j < 2; j++)
        lps_tensor_release(&out[j]);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
}
END_TEST

START_TEST(dropout_training_masks)
{
    int64_t d[] = {DROP_N}, one = 1;
    float half = 0.5f;
    lps_tensor *in[2] = {test_tensor_random(1, d, 0.5f, 1.5f, 1),
                         test_tensor_from(LPS_DT_FLOAT, 0, &one, &half)};
    lps_node *n = dropout_node(2);
    lps_tensor a[2] = {{0}}, b[2] = {{0}}, c[2] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, a, 2, &err),
                     LPS_OK);
    const float *x = lps_tensor_f32(in[0]), *y = lps_tensor_f32(&a[0]);
    const uint8_t *mask = a[1].data;
    int kept = 0;
    for (int i = 0; i < DROP_N; i++) {
        ck_assert_float_eq_tol(y[i], mask[i] ? 2.0f * x[i] : 0.0f, 1e-6f);
        kept += mask[i];
    }
    ck_assert_msg(kept > DROP_KEEP_LO * DROP_N && kept < DROP_KEEP_HI * DROP_N, "kept %d", kept);
    /* same seed, same mask; another seed, another mask */
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, b, 2, &err),
                     LPS_OK);
    ck_assert_mem_eq(b[1].data, mask, DROP_N);
    ck_assert_int_eq(
        test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED + 1, in, c, 2, &err), LPS_OK);
    ck_assert(memcmp(c[1].data, mask, DROP_N) != 0);
    /* ratio 0 keeps everything; ratio 1 is rejected */
    lps_tensor_f32(in[1])[0] = 0.0f;
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, c, 2, &err),
                     LPS_OK);
    test_expect_floats(&c[0], x, DROP_N, MOVE_FWD_TOL);
    lps_tensor_f32(in[1])[0] = 1.0f;
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, c, 2, &err),
                     LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "ratio"));
    for (int j = 0; j < 2; j++) {
        lps_tensor_release(&a[j]);
        lps_tensor_release(&b[j]);
        lps_tensor_release(&c[j]);
    }
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

/* The i-th uniform of the run generator seeded with `seed`: splitmix64 of
 * seed + (i + 1) * gamma, 24 bits (the masks of a training run come
 * from the run's seed alone, element by element in order). */
static float splitmix_reference(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* A training mask over more elements than one drawn block (256) is the
 * run generator's stream in element order. */
START_TEST(dropout_mask_is_the_run_stream)
{
    int64_t d[] = {DROP_N}, one = 1;
    float ratio = 0.5f;
    lps_tensor *in[2] = {test_tensor_random(1, d, 0.5f, 1.5f, 1),
                         test_tensor_from(LPS_DT_FLOAT, 0, &one, &ratio)};
    lps_node *n = dropout_node(2);
    lps_tensor a[2] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward_mode(n, DROP_OPSET_INPUTS, true, DROP_SEED, in, a, 2, &err),
                     LPS_OK);
    const uint8_t *mask = a[1].data;
    for (int i = 0; i < DROP_N; i++)
        ck_assert_msg(mask[i] == (splitmix_reference(DROP_SEED, (uint64_t)i) >= ratio),
                      "element %d", i);
    for (int j = 0; j < 2; j++)
        lps_tensor_release(&a[j]);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

START_TEST(dropout_gradient)
{
    int64_t d[] = {4, 5}, one = 1;
    float ratio = 0.3f;
    lps_tensor *in[2] = {test_tensor_random(2, d, -1, 1, 1),
                         test_tensor_from(LPS_DT_FLOAT, 0, &one, &ratio)};
    gradcheck_tol tol = gradcheck_default_tol();
    char why[256] = "";
    lps_node *n = dropout_node(2);
    for (int training = 0; training < 2; training++) {
        tol.training = training;
        ck_assert_msg(gradcheck_op(n, DROP_OPSET_INPUTS, in, 2, 0x1u, tol, why, sizeof why),
                      "training=%d: %s", training, why);
    }
    test_node_free(n);
    n = test_node_new("Dropout", 1, 1);
    test_node_attr_float(n, "ratio", 0.6f);
    ck_assert_msg(gradcheck_op(n, DROP_OPSET_FLOAT_MASK, in, 1, 0x1u, tol, why, sizeof why), "%s",
                  why);
    test_node_free(n);
    lps_tensor_free(in[0]);
    lps_tensor_free(in[1]);
}
END_TEST

#define CONSTANT_OPSET_OLD 9
#define CONSTANT_OPSET_SPARSE 11
#define CONSTANT_OPSET_TYPED 13

/* Runs a Constant node and returns its output (caller releases). */
static lps_status run_constant(lps_node *n, int64_t opset, lps_tensor *out, lps_error *err)
{
    return test_op_forward(n, opset, NULL, out, 1, err);
}

START_TEST(constant_value_tensor)
{
    int64_t d[] = {2, 2}, di[] = {3};
    const float v[] = {1, 2, 3, 4};
    const int64_t vi[] = {5, -6, 7};
    lps_tensor *t = test_tensor_from(LPS_DT_FLOAT, 2, d, v);
    lps_tensor *ti = test_tensor_from(LPS_DT_INT64, 1, di, vi);
    lps_tensor out = {0};
    lps_error err;
    lps_node *n = test_node_new("Constant", 0, 1);
    test_node_attr_tensor(n, "value", t);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_OLD, &out, &err), LPS_OK);
    test_expect_shape(&out, 2, d);
    test_expect_floats(&out, v, 4, MOVE_FWD_TOL);
    test_node_free(n);
    n = test_node_new("Constant", 0, 1);
    test_node_attr_tensor(n, "value", ti);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_OK);
    test_expect_int64s(&out, vi, 3);
    test_node_free(n);
    /* sparse_value (densified by the loader) from opset 11 */
    n = test_node_new("Constant", 0, 1);
    test_node_attr_tensor(n, "sparse_value", t);
    n->attrs[0].type = LPS_ATTR_SPARSE_TENSOR;
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_OLD, &out, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_SPARSE, &out, &err), LPS_OK);
    test_expect_floats(&out, v, 4, MOVE_FWD_TOL);
    test_node_free(n);
    lps_tensor_release(&out);
    lps_tensor_free(t);
    lps_tensor_free(ti);
}
END_TEST

START_TEST(constant_typed_attributes)
{
    const float fs[] = {0.5f, -1.5f};
    const int64_t is[] = {3, 4, 5}, i1 = -9;
    const float f1 = 2.5f;
    int64_t d2[] = {2};
    lps_tensor out = {0};
    lps_error err;
    lps_node *n = test_node_new("Constant", 0, 1);
    test_node_attr_floats(n, "value_floats", fs, 2);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_OK);
    test_expect_shape(&out, 1, d2);
    test_expect_floats(&out, fs, 2, MOVE_FWD_TOL);
    /* value_floats does not exist before opset 12 */
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_SPARSE, &out, &err), LPS_ERR_UNSUPPORTED);
    test_node_free(n);
    n = test_node_new("Constant", 0, 1);
    test_node_attr_ints(n, "value_ints", is, 3);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_OK);
    test_expect_int64s(&out, is, 3);
    test_node_free(n);
    n = test_node_new("Constant", 0, 1);
    test_node_attr_int(n, "value_int", i1);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 0);
    test_expect_int64s(&out, &i1, 1);
    test_node_free(n);
    n = test_node_new("Constant", 0, 1);
    test_node_attr_float(n, "value_float", f1);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_OK);
    ck_assert_int_eq(out.rank, 0);
    test_expect_floats(&out, &f1, 1, MOVE_FWD_TOL);
    /* a second value attribute is malformed */
    test_node_attr_int(n, "value_int", i1);
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = test_node_new("Constant", 0, 1);
    test_node_attr_string(n, "value_string", "text");
    ck_assert_int_eq(run_constant(n, CONSTANT_OPSET_TYPED, &out, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "value_string"));
    test_node_free(n);
    lps_tensor_release(&out);
}
END_TEST

int main(void)
{
    int n_transpose = (int)(sizeof transpose_cases / sizeof transpose_cases[0]);
    const test_entry tests[] = {
        {"reshaping", flatten_axes, 1},
        {"reshaping", reshape_zero_and_infer, 1},
        {"reshaping", reshape_allowzero, 1},
        {"reshaping", reshape_rejects, 1},
        {"reshaping", identity_int64, 1},
        {"reshaping", grad_flatten_reshape_identity, 1},
        {"transpose_concat", transpose_values, n_transpose},
        {"transpose_concat", transpose_gradient, n_transpose},
        {"transpose_concat", transpose_bytes_and_bad_perm, 1},
        {"transpose_concat", concat_values, 1},
        {"transpose_concat", concat_int64_shapes, 1},
        {"transpose_concat", concat_gradient, 4},
        {"dropout_constant", dropout_inference_is_identity, 1},
        {"dropout_constant", dropout_training_masks, 1},
        {"dropout_constant", dropout_mask_is_the_run_stream, 1},
        {"dropout_constant", dropout_gradient, 1},
        {"dropout_constant", constant_value_tensor, 1},
        {"dropout_constant", constant_typed_attributes, 1},
    };
    return test_run_table("movement", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
