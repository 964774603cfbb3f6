/* Views (docs/architecture.md, "Views"): Reshape, Flatten, Squeeze,
 * Unsqueeze and Identity outputs share their input's storage inside a
 * plan, the pool does not recycle that storage while a view is still read,
 * and graph outputs and kept values stay copies. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "test_node.h"
#include "test_suite.h"

#define VIEW_OPSET 13
#define BATCH 2
#define FEATURES 8
#define SEED_X 21

static void add(lps_model *m, const char *op, const char *name, int n_in,
                const char *const *in, const char *out)
{
    test_model_add_node(m, test_node_with_io(op, name, n_in, in, out));
}

/* y = Flatten(Relu(x)) + Neg(Neg(Flatten(Relu(x)))) = 2 Relu(x), x [N, 8]:
 * the Negs' outputs have the size of r, so in inference they would take
 * r's buffer from the pool if r were recycled after Flatten, its only
 * reader, while v (a view of r) is still to be read by the Add. */
static lps_model *view_chain(void)
{
    lps_model *m = test_model_new(VIEW_OPSET, "x", FEATURES, "y");
    add(m, "Relu", "relu", 1, (const char *const[]){"x"}, "r");
    add(m, "Flatten", "flat", 1, (const char *const[]){"r"}, "v");
    add(m, "Neg", "neg1", 1, (const char *const[]){"v"}, "n1");
    add(m, "Neg", "neg2", 1, (const char *const[]){"n1"}, "n2");
    add(m, "Add", "sum", 2, (const char *const[]){"v", "n2"}, "y");
    return m;
}

typedef struct run {
    lps_plan *p;
    lps_exec_ctx *ctx;
    lps_tensor *x;
} run;

/* Compiles m (training or inference), keeps the named values, runs one
 * forward. */
static run run_forward(const lps_model *m, bool training, const char *const *keep, int n_keep)
{
    lps_error err = {0};
    lps_plan_options popt = {.training = training};
    run r = {0};
    r.p = lps_plan_compile(m, &popt, &err);
    ck_assert_msg(r.p != NULL, "%s", err.msg);
    for (int i = 0; i < n_keep; i++)
        lps_plan_keep_value(r.p, lps_plan_find_value(r.p, keep[i]));
    lps_run_options ropt = {.training = training};
    r.ctx = lps_exec_ctx_new(&ropt, &err);
    int64_t dims[] = {BATCH, FEATURES};
    r.x = test_tensor_random(2, dims, -1, 1, SEED_X);
    ck_assert_int_eq(lps_plan_set_input(r.p, 0, r.x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(r.p, r.ctx, &err) == LPS_OK, "%s", err.msg);
    return r;
}

static void run_release(run *r)
{
    lps_tensor_free(r->x);
    lps_exec_ctx_free(r->ctx);
    lps_plan_free(r->p);
}

static const lps_tensor *value(const run *r, const char *name)
{
    const lps_tensor *t = lps_plan_value(r->p, lps_plan_find_value(r->p, name));
    ck_assert_ptr_nonnull(t);
    return t;
}

/* y must be 2 relu(x) whatever buffers the plan reused. */
static void expect_output(const run *r)
{
    const float *x = lps_tensor_f32(r->x), *y = lps_tensor_f32(lps_plan_output(r->p, 0));
    for (int i = 0; i < BATCH * FEATURES; i++)
        ck_assert_float_eq(y[i], 2.0f * (x[i] > 0.0f ? x[i] : 0.0f));
}

START_TEST(inference_view_outlives_its_reader)
{
    lps_model *m = view_chain();
    run r = run_forward(m, false, NULL, 0);
    expect_output(&r);
    run_release(&r);
    lps_model_free(m);
}
END_TEST

START_TEST(view_shares_storage)
{
    lps_model *m = view_chain();
    run r = run_forward(m, true, NULL, 0);
    ck_assert_ptr_eq(value(&r, "v")->data, value(&r, "r")->data);
    ck_assert_int_eq(value(&r, "v")->rank, 2);
    expect_output(&r);
    run_release(&r);
    lps_model_free(m);
}
END_TEST

START_TEST(kept_view_is_a_copy)
{
    lps_model *m = view_chain();
    run r = run_forward(m, false, (const char *const[]){"r", "v"}, 2);
    const lps_tensor *v = value(&r, "v"), *src = value(&r, "r");
    ck_assert_ptr_ne(v->data, src->data);
    ck_assert_int_eq(memcmp(v->data, src->data, v->nbytes), 0);
    expect_output(&r);
    run_release(&r);
    lps_model_free(m);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"views", inference_view_outlives_its_reader, 1},
        {"views", view_shares_storage, 1},
        {"views", kept_view_is_a_copy, 1},
    };
    return test_run_table("views", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
