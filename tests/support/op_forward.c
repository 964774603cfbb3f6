#include "op_forward.h"

#include <check.h>
#include <math.h>

#include "ops/op.h"

lps_status test_op_forward(const lps_node *node, int64_t opset, lps_tensor *const *inputs,
                           lps_tensor *outs, size_t n_outputs, lps_error *err)
{
    return test_op_forward_mode(node, opset, false, 0, inputs, outs, n_outputs, err);
}

lps_status test_op_forward_mode(const lps_node *node, int64_t opset, bool training,
                                uint64_t seed, lps_tensor *const *inputs, lps_tensor *outs,
                                size_t n_outputs, lps_error *err)
{
    lps_run_options run = {.training = training, .bn_batch_stats = training, .seed = seed};
    return test_op_forward_run(node, opset, &run, inputs, outs, n_outputs, err);
}

/* Compiles node, and runs it forward when run is given, then the state
 * update when state is given. */
static lps_status run_op(const lps_node *node, int64_t opset, const lps_run_options *run,
                         lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                         lps_tensor *const *state, lps_error *err)
{
    lps_op_node op;
    lps_tensor *out_ptrs[LPS_OP_MAX_IO] = {0};
    lps_exec_ctx *ctx = NULL;
    if (n_outputs > LPS_OP_MAX_IO)
        return lps_fail(err, LPS_ERR_INVALID, "too many outputs");
    for (size_t j = 0; j < n_outputs; j++)
        out_ptrs[j] = &outs[j];
    lps_status st = lps_op_node_init(&op, node, 0, opset, err);
    if (st == LPS_OK && run && !(ctx = lps_exec_ctx_new(run, err)))
        st = LPS_ERR_NOMEM;
    if (st == LPS_OK && run)
        st = lps_op_run_forward(&op, ctx, (const lps_tensor *const *)inputs, out_ptrs, err);
    if (st == LPS_OK && state) {
        const lps_op_def *def = lps_op_get(op.kind);
        st = def->update_state ? def->update_state(&op, state, err)
                               : lps_fail(err, LPS_ERR_UNSUPPORTED, "%s has no state", def->name);
    }
    lps_op_node_release(&op);
    lps_exec_ctx_free(ctx);
    return st;
}

lps_status test_op_forward_run(const lps_node *node, int64_t opset, const lps_run_options *run,
                               lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                               lps_error *err)
{
    lps_run_options inference = {0};
    return run_op(node, opset, run ? run : &inference, inputs, outs, n_outputs, NULL, err);
}

lps_status test_op_update_state(const lps_node *node, int64_t opset, const lps_run_options *run,
                                lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                                lps_tensor *const *state, lps_error *err)
{
    return run_op(node, opset, run, inputs, outs, n_outputs, state, err);
}

void test_expect_floats(const lps_tensor *t, const float *want, int64_t n, float tol)
{
    ck_assert_int_eq(t->dtype, LPS_DT_FLOAT);
    ck_assert_int_eq(lps_tensor_numel(t), n);
    const float *got = lps_tensor_f32(t);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(got[i] - want[i]) <= tol, "element %lld: got %g, want %g",
                      (long long)i, (double)got[i], (double)want[i]);
}

void test_expect_shape(const lps_tensor *t, int rank, const int64_t *dims)
{
    ck_assert_int_eq(t->rank, rank);
    for (int d = 0; d < rank; d++)
        ck_assert_msg(t->dims[d] == dims[d], "dim %d: got %lld, want %lld", d,
                      (long long)t->dims[d], (long long)dims[d]);
}

void test_expect_int64s(const lps_tensor *t, const int64_t *want, int64_t n)
{
    ck_assert_int_eq(t->dtype, LPS_DT_INT64);
    ck_assert_int_eq(lps_tensor_numel(t), n);
    const int64_t *got = lps_tensor_i64(t);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "element %lld: got %lld, want %lld", (long long)i,
                      (long long)got[i], (long long)want[i]);
}
