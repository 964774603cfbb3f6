/* Shape folding across forwards: the Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape chain PyTorch writes for x.reshape(x.shape[0], -1)
 * runs its shape part once per input shape, and the result stays right
 * when the shape or the values change. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "test_node.h"
#include "test_suite.h"

#define CACHE_OPSET 13
/* Shape, Gather, Unsqueeze, Concat and Reshape are scheduled; the two
 * Constants fold at compile time. */
#define CHAIN_SCHEDULED 5
#define CHAIN_DEPENDENTS 3      /* Gather, Unsqueeze, Concat */
#define CHAIN_EVERY_STEP 2      /* Shape (compared), Reshape (reads x) */

static lps_node *int64_constant(const char *name, int rank, int64_t value)
{
    int64_t dims[] = {1};
    lps_tensor *t = test_tensor_from(LPS_DT_INT64, rank, dims, &value);
    lps_node *n = test_node_with_io("Constant", name, 0, NULL, name);
    test_node_attr_tensor(n, "value", t);
    lps_tensor_free(t);
    return n;
}

/* y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0), [0]), [-1])). */
static lps_model *flatten_chain(void)
{
    lps_node *nodes[] = {
        int64_constant("zero", 0, 0),
        int64_constant("axes", 1, 0),
        int64_constant("minus_one", 1, -1),
        test_node_with_io("Shape", "shape", 1, (const char *const[]){"x"}, "s"),
        test_node_with_io("Gather", "batch", 2, (const char *const[]){"s", "zero"}, "n"),
        test_node_with_io("Unsqueeze", "batch_1d", 2, (const char *const[]){"n", "axes"}, "n1"),
        test_node_with_io("Concat", "target", 2, (const char *const[]){"n1", "minus_one"},
                          "target"),
        test_node_with_io("Reshape", "flatten", 2, (const char *const[]){"x", "target"}, "y"),
    };
    test_node_attr_int(nodes[6], "axis", 0);
    lps_model *m = test_model_new(CACHE_OPSET, "x", 0, "y");
    m->graph.inputs[0].rank = -1; /* x of any shape: [batch, 2, 3] here */
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        test_model_add_node(m, nodes[i]);
    return m;
}

/* Runs p on a [batch, 2, 3] input filled from seed; checks y is x as
 * [batch, 6] and that the forward ran `ran` nodes. */
static void forward_expect(lps_plan *p, lps_exec_ctx *ctx, int64_t batch, uint64_t seed,
                           size_t ran)
{
    int64_t dims[] = {batch, 2, 3};
    lps_tensor *x = test_tensor_random(3, dims, -1, 1, seed);
    lps_error err;
    ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
    const lps_tensor *y = lps_plan_output(p, 0);
    ck_assert_int_eq(y->rank, 2);
    ck_assert_int_eq(y->dims[0], batch);
    ck_assert_int_eq(y->dims[1], 6);
    ck_assert_mem_eq(y->data, x->data, (size_t)batch * 6 * sizeof(float));
    ck_assert_uint_eq(lps_plan_n_last_run(p), ran);
    lps_tensor_free(x);
}

static void run_chain(bool training)
{
    lps_model *m = flatten_chain();
    lps_plan_options opt = {.training = training};
    lps_error err;
    lps_plan *p = lps_plan_compile(m, &opt, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_uint_eq(lps_plan_n_scheduled(p), CHAIN_SCHEDULED);
    ck_assert_uint_eq(lps_plan_n_shape_cached(p), CHAIN_DEPENDENTS);
    forward_expect(p, ctx, 2, 1, CHAIN_SCHEDULED);
    forward_expect(p, ctx, 2, 2, CHAIN_EVERY_STEP);   /* same shape, new values */
    forward_expect(p, ctx, 2, 3, CHAIN_EVERY_STEP);
    forward_expect(p, ctx, 5, 4, CHAIN_SCHEDULED);    /* a new batch size folds again */
    forward_expect(p, ctx, 5, 5, CHAIN_EVERY_STEP);
    forward_expect(p, ctx, 2, 6, CHAIN_SCHEDULED);    /* and back */
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    lps_model_free(m);
}

START_TEST(inference_folds_once_per_shape)
{
    run_chain(false);
}
END_TEST

START_TEST(training_folds_once_per_shape)
{
    run_chain(true);
}
END_TEST

/* Fails a forward on a scalar x: Shape gives [], so Gather 'batch' finds
 * no dim 0. */
static void forward_scalar_fails_at_gather(lps_plan *p, lps_exec_ctx *ctx)
{
    lps_tensor *scalar = test_tensor_random(0, NULL, -1, 1, 2);
    lps_error err;
    ck_assert_int_eq(lps_plan_set_input(p, 0, scalar, &err), LPS_OK);
    ck_assert_int_ne(lps_plan_forward(p, ctx, &err), LPS_OK);
    ck_assert_msg(strstr(err.msg, "'batch'") != NULL, "%s", err.msg);
    lps_tensor_free(scalar);
}

/* A failed forward leaves nothing cached: the same shape again reruns the
 * dependents (and fails where it failed, not in Reshape on a stale target). */
START_TEST(failed_forward_recomputes)
{
    lps_model *m = flatten_chain();
    lps_error err;
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_ptr_nonnull(p);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    forward_expect(p, ctx, 3, 1, CHAIN_SCHEDULED);
    forward_scalar_fails_at_gather(p, ctx);
    forward_scalar_fails_at_gather(p, ctx);
    forward_expect(p, ctx, 3, 3, CHAIN_SCHEDULED);
    forward_expect(p, ctx, 3, 4, CHAIN_EVERY_STEP);
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    lps_model_free(m);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"cache", inference_folds_once_per_shape, 1},
        {"cache", training_folds_once_per_shape, 1},
        {"cache", failed_forward_recomputes, 1},
    };
    return test_run_table("shape_cache", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
