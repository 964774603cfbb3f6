#include "op_forward.h"

#include <check.h>
#include <math.h>

#include "ops/op.h"
#include "test_node.h"

/* test_op_trains_input's w [F] and x [N, F]. */
#define TRAINS_FEATURES 2

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

/* What run_op does after compiling the node: a forward in a context made
 * from run (when run is set), then the state update (when state is set)
 * and backward from dout into din (when din is set). */
typedef struct op_steps {
    const lps_run_options *run;
    lps_tensor *const *state;
    const lps_tensor *const *dout;
    lps_tensor *const *din;
} op_steps;

static lps_status run_op(const lps_node *node, int64_t opset, const op_steps *steps,
                         lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                         lps_error *err)
{
    lps_op_node op;
    lps_tensor *out_ptrs[LPS_OP_MAX_IO] = {0};
    const lps_tensor *out_read[LPS_OP_MAX_IO] = {0};
    const lps_tensor *const *in = (const lps_tensor *const *)inputs;
    lps_exec_ctx *ctx = NULL;
    if (n_outputs > LPS_OP_MAX_IO)
        return lps_fail(err, LPS_ERR_INVALID, "too many outputs");
    for (size_t j = 0; j < n_outputs; j++)
        out_read[j] = out_ptrs[j] = &outs[j];
    lps_status st = lps_op_node_init(&op, node, 0, opset, err);
    const lps_op_def *def = st == LPS_OK ? lps_op_get(op.kind) : NULL;
    if (st == LPS_OK && steps->run && !(ctx = lps_exec_ctx_new(steps->run, err)))
        st = LPS_ERR_NOMEM;
    if (st == LPS_OK && steps->run)
        st = lps_op_run_forward(&op, ctx, in, out_ptrs, err);
    if (st == LPS_OK && steps->state)
        st = def->update_state ? def->update_state(&op, steps->state, err)
                               : lps_fail(err, LPS_ERR_UNSUPPORTED, "%s has no state", def->name);
    if (st == LPS_OK && steps->din)
        st = def->backward ? def->backward(&op, ctx, in, out_read, steps->dout, steps->din, err)
                           : lps_fail(err, LPS_ERR_UNSUPPORTED, "%s has no backward", def->name);
    lps_op_node_release(&op);
    lps_exec_ctx_free(ctx);
    return st;
}

lps_status test_op_forward_run(const lps_node *node, int64_t opset, const lps_run_options *run,
                               lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                               lps_error *err)
{
    lps_run_options inference = {0};
    op_steps steps = {run ? run : &inference, NULL, NULL, NULL};
    return run_op(node, opset, &steps, inputs, outs, n_outputs, err);
}

lps_status test_op_update_state(const lps_node *node, int64_t opset, const lps_run_options *run,
                                lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                                lps_tensor *const *state, lps_error *err)
{
    op_steps steps = {run, state, NULL, NULL};
    return run_op(node, opset, &steps, inputs, outs, n_outputs, err);
}

lps_status test_op_backward(const lps_node *node, int64_t opset, const lps_run_options *run,
                            lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                            const lps_tensor *const *dout, lps_tensor *const *din, lps_error *err)
{
    lps_run_options inference = {0};
    op_steps steps = {run ? run : &inference, NULL, dout, din};
    return run_op(node, opset, &steps, inputs, outs, n_outputs, err);
}

bool test_op_trains_input(const char *op_type, int64_t opset, int n_inputs, int input)
{
    static const int64_t w_dims[] = {TRAINS_FEATURES};
    const char *names[LPS_OP_MAX_IO];
    lps_error err = {0};
    ck_assert(n_inputs >= 1 && n_inputs <= LPS_OP_MAX_IO && input < n_inputs);
    for (int i = 0; i < n_inputs; i++)
        names[i] = i == input ? "w" : "x";
    lps_model *m = test_model_new(opset, "x", TRAINS_FEATURES, "y");
    lps_node *n = test_node_with_io(op_type, "probe", n_inputs, names, "y");
    test_model_add_node(m, n);
    test_model_add_random_init(m, "w", 1, w_dims, 1);
    lps_plan_options training = {.training = true};
    lps_plan *plan = lps_plan_compile(m, &training, &err);
    ck_assert_msg(plan != NULL, "%s: %s", op_type, err.msg);
    bool trains = lps_plan_n_params(plan) > 0;
    lps_plan_free(plan);
    lps_model_free(m);
    return trains;
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
