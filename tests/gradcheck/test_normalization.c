/* LayerNormalization, InstanceNormalization, GroupNormalization: forward
 * values against a direct reference, statistic outputs and stash_type,
 * opset semantics of GroupNormalization (18: affine per group, 21: per
 * channel), shape errors, and finite-difference gradients for every input
 * including gradients arriving at LayerNormalization's Mean/InvStdDev. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define LN_OPSET 17
#define IN_OPSET 7
#define GN_OPSET_OLD 18
#define GN_OPSET_NEW 21
#define NORM_EPS 1e-3f
#define NORM_FWD_TOL 1e-4f

/* Reference: x as [groups, size] normalized per group; the affine value of
 * element m of group g is aff[(g % period) * stride + m / run] (as in
 * src/ops/norm_groups.h). */
static void reference(const float *x, int64_t groups, int64_t size, int64_t period,
                      int64_t stride, int64_t run, const float *scale, const float *bias,
                      float *y)
{
    for (int64_t g = 0; g < groups; g++) {
        double mu = 0, var = 0;
        for (int64_t m = 0; m < size; m++)
            mu += x[g * size + m];
        mu /= (double)size;
        for (int64_t m = 0; m < size; m++)
            var += (x[g * size + m] - mu) * (x[g * size + m] - mu);
        var /= (double)size;
        for (int64_t m = 0; m < size; m++) {
            int64_t k = (g % period) * stride + m / run;
            y[g * size + m] = (float)((x[g * size + m] - mu) / sqrt(var + NORM_EPS)) * scale[k] +
                              (bias ? bias[k] : 0.0f);
        }
    }
}

static lps_node *norm_node(const char *op, int n_inputs, int n_outputs)
{
    lps_node *n = test_node_new(op, n_inputs, n_outputs);
    test_node_attr_float(n, "epsilon", NORM_EPS);
    return n;
}

/* axis 1 of [2, 3, 4] with a [4] scale broadcast over the normalized
 * [3, 4], no B; Mean and InvStdDev in float and (stash_type 11) double. */
START_TEST(layer_norm_broadcast_scale_and_stats)
{
    int64_t xd[] = {2, 3, 4}, sd[] = {4};
    lps_tensor *in[2] = {test_tensor_random(3, xd, -2, 2, 1), test_tensor_random(1, sd, 0.5f, 1.5f, 2)};
    float full[12], want[24];
    for (int m = 0; m < 12; m++)
        full[m] = lps_tensor_f32(in[1])[m % 4];
    reference(lps_tensor_f32(in[0]), 2, 12, 1, 0, 1, full, NULL, want);
    lps_node *n = norm_node("LayerNormalization", 2, 3);
    test_node_attr_int(n, "axis", 1);
    lps_tensor out[3] = {{0}};
    lps_error err;
    ck_assert_msg(test_op_forward(n, LN_OPSET, in, out, 3, &err) == LPS_OK, "%s", err.msg);
    test_expect_floats(&out[0], want, 24, NORM_FWD_TOL);
    int64_t stat_dims[] = {2, 1, 1};
    test_expect_shape(&out[1], 3, stat_dims);
    test_expect_shape(&out[2], 3, stat_dims);
    float mean0 = 0;
    for (int m = 0; m < 12; m++)
        mean0 += lps_tensor_f32(in[0])[m] / 12;
    ck_assert_float_eq_tol(lps_tensor_f32(&out[1])[0], mean0, NORM_FWD_TOL);
    test_node_attr_int(n, "stash_type", 11);
    ck_assert_int_eq(test_op_forward(n, LN_OPSET, in, out, 3, &err), LPS_OK);
    ck_assert_int_eq(out[1].dtype, LPS_DT_DOUBLE);
    ck_assert_double_eq_tol(((double *)out[1].data)[0], mean0, NORM_FWD_TOL);
    /* LayerNormalization does not exist before opset 17 */
    ck_assert_int_eq(test_op_forward(n, LN_OPSET - 1, in, out, 3, &err), LPS_ERR_UNSUPPORTED);
    for (int j = 0; j < 3; j++)
        lps_tensor_release(&out[j]);
    test_node_free(n);
    for (int i = 0; i < 2; i++)
        lps_tensor_free(in[i]);
}
END_TEST

START_TEST(layer_norm_errors)
{
    int64_t xd[] = {2, 3}, bad[] = {2};
    lps_tensor *in[2] = {test_tensor_random(2, xd, -1, 1, 1), test_tensor_random(1, bad, 1, 2, 2)};
    lps_node *n = norm_node("LayerNormalization", 2, 1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, LN_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not broadcast"));
    test_node_attr_int(n, "axis", 2);
    ck_assert_int_eq(test_op_forward(n, LN_OPSET, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "axis"));
    test_node_free(n);
    n = norm_node("LayerNormalization", 2, 1);
    test_node_attr_int(n, "stash_type", 10);
    ck_assert_int_eq(test_op_forward(n, LN_OPSET, in, &out, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "stash_type"));
    lps_tensor_release(&out);
    test_node_free(n);
    for (int i = 0; i < 2; i++)
        lps_tensor_free(in[i]);
}
END_TEST

/* GroupNormalization at opsets 18 and 21 against the reference, and at 21
 * with a group per channel equal to InstanceNormalization. */
START_TEST(group_norm_opsets_and_instance_norm)
{
    enum { N = 2, C = 4, G = 2, S = 3 };
    int64_t xd[] = {N, C, S}, gd[] = {G}, cd[] = {C};
    lps_tensor *x = test_tensor_random(3, xd, -2, 2, 1);
    lps_tensor *sg = test_tensor_random(1, gd, 0.5f, 1.5f, 2), *bg = test_tensor_random(1, gd, -1, 1, 3);
    lps_tensor *sc = test_tensor_random(1, cd, 0.5f, 1.5f, 4), *bc = test_tensor_random(1, cd, -1, 1, 5);
    float want[N * C * S];
    lps_tensor out = {0}, inst = {0};
    lps_error err;
    lps_node *n = norm_node("GroupNormalization", 3, 1);
    test_node_attr_int(n, "num_groups", G);
    lps_tensor *old_in[3] = {x, sg, bg}, *new_in[3] = {x, sc, bc};
    reference(lps_tensor_f32(x), N * G, C / G * S, G, 1, C / G * S, lps_tensor_f32(sg),
              lps_tensor_f32(bg), want);
    ck_assert_msg(test_op_forward(n, GN_OPSET_OLD, old_in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_floats(&out, want, N * C * S, NORM_FWD_TOL);
    reference(lps_tensor_f32(x), N * G, C / G * S, G, C / G, S, lps_tensor_f32(sc),
              lps_tensor_f32(bc), want);
    ck_assert_msg(test_op_forward(n, GN_OPSET_NEW, new_in, &out, 1, &err) == LPS_OK, "%s", err.msg);
    test_expect_floats(&out, want, N * C * S, NORM_FWD_TOL);
    /* the opset-18 form has per-group parameters only */
    ck_assert_int_eq(test_op_forward(n, GN_OPSET_OLD, new_in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = norm_node("GroupNormalization", 3, 1);
    test_node_attr_int(n, "num_groups", C);
    lps_node *in_node = norm_node("InstanceNormalization", 3, 1);
    ck_assert_int_eq(test_op_forward(n, GN_OPSET_NEW, new_in, &out, 1, &err), LPS_OK);
    ck_assert_int_eq(test_op_forward(in_node, IN_OPSET, new_in, &inst, 1, &err), LPS_OK);
    test_expect_floats(&out, lps_tensor_f32(&inst), N * C * S, NORM_FWD_TOL);
    test_node_free(n);
    /* num_groups must divide C and is required */
    n = norm_node("GroupNormalization", 3, 1);
    test_node_attr_int(n, "num_groups", 3);
    ck_assert_int_eq(test_op_forward(n, GN_OPSET_NEW, new_in, &out, 1, &err), LPS_ERR_INVALID);
    test_node_free(n);
    n = norm_node("GroupNormalization", 3, 1);
    ck_assert_int_eq(test_op_forward(n, GN_OPSET_NEW, new_in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "num_groups"));
    test_node_free(n);
    test_node_free(in_node);
    lps_tensor_release(&out);
    lps_tensor_release(&inst);
    lps_tensor *all[] = {x, sg, bg, sc, bc};
    for (int i = 0; i < 5; i++)
        lps_tensor_free(all[i]);
}
END_TEST

static const struct {
    const char *op;
    int64_t opset;
    int n_inputs, n_outputs;
    int64_t axis_or_groups;      /* LayerNormalization axis, GroupNormalization num_groups */
    int x_rank;
    int64_t x_dims[4];
    int p_rank;                  /* Scale and B */
    int64_t p_dims[3];
} grad_cases[] = {
    {"LayerNormalization", LN_OPSET, 3, 1, -1, 3, {2, 3, 4}, 1, {4}},
    {"LayerNormalization", LN_OPSET, 3, 3, 1, 3, {2, 3, 4}, 2, {3, 4}}, /* + Mean, InvStdDev */
    {"LayerNormalization", LN_OPSET, 3, 3, 1, 3, {2, 3, 4}, 1, {4}},    /* broadcast Scale, B */
    {"LayerNormalization", LN_OPSET, 2, 2, 0, 2, {3, 4}, 2, {1, 4}},    /* no B, axis 0 */
    {"InstanceNormalization", IN_OPSET, 3, 1, 0, 4, {2, 3, 2, 2}, 1, {3}},
    {"GroupNormalization", GN_OPSET_OLD, 3, 1, 2, 3, {2, 4, 3}, 1, {2}},
    {"GroupNormalization", GN_OPSET_NEW, 3, 1, 2, 3, {2, 4, 3}, 1, {4}},
};

START_TEST(gradient)
{
    lps_tensor *in[3] = {
        test_tensor_random(grad_cases[_i].x_rank, grad_cases[_i].x_dims, -2, 2, 1),
        test_tensor_random(grad_cases[_i].p_rank, grad_cases[_i].p_dims, 0.5f, 1.5f, 2),
        test_tensor_random(grad_cases[_i].p_rank, grad_cases[_i].p_dims, -1, 1, 3)};
    lps_node *n = norm_node(grad_cases[_i].op, grad_cases[_i].n_inputs, grad_cases[_i].n_outputs);
    if (strcmp(grad_cases[_i].op, "LayerNormalization") == 0)
        test_node_attr_int(n, "axis", grad_cases[_i].axis_or_groups);
    else if (strcmp(grad_cases[_i].op, "GroupNormalization") == 0)
        test_node_attr_int(n, "num_groups", grad_cases[_i].axis_or_groups);
    gradcheck_tol tol = gradcheck_default_tol();
    char why[256] = "";
    bool ok = gradcheck_op(n, grad_cases[_i].opset, in, (size_t)grad_cases[_i].n_inputs,
                           (1u << grad_cases[_i].n_inputs) - 1, tol, why, sizeof why);
    test_node_free(n);
    for (int i = 0; i < 3; i++)
        lps_tensor_free(in[i]);
    ck_assert_msg(ok, "case %d (%s): %s", _i, grad_cases[_i].op, why);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", layer_norm_broadcast_scale_and_stats, 1},
        {"forward", layer_norm_errors, 1},
        {"forward", group_norm_opsets_and_instance_norm, 1},
        {"gradient", gradient, sizeof grad_cases / sizeof grad_cases[0]},
    };
    return test_run_table("normalization", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
