/* Fused activations (docs/architecture.md, "Fused activations"): a Relu,
 * or a Clip with constant bounds, reading only the output of a Conv,
 * BatchNormalization, Gemm or Add is applied by that node, and forward and
 * backward give what the unfused graph gives. The unfused reference is the same plan with the producer's own
 * output kept (lps_plan_keep_value undoes the fusion). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "test_node.h"
#include "test_suite.h"

#define FUSION_OPSET 15
#define BATCH 3
#define CHANNELS 4
#define PLANE 5
#define FEATURES 6
#define SEED_X 11
#define SEED_DY 12

/* CONV_DEEP: a Conv whose input gradient is wanted (it reads another
 * Conv's output), the unit-stride backward of conv_grad_flip.c. ADD: a
 * Conv's output plus a per-channel parameter (broadcast rows). RESIDUAL:
 * a residual join, two Conv outputs of one shape (both gradients formed in
 * one pass), the first also read by the second Conv. BATCHNORM_DEEP: a
 * BatchNormalization whose input gradient is wanted (after a Conv).
 * CONV_WIDE: CONV_DEEP with more output channels than input ones, the
 * im2col and col2im backward of conv.c. */
typedef enum producer {
    CONV,
    CONV_DEEP,
    CONV_WIDE,
    BATCHNORM,
    BATCHNORM_DEEP,
    GEMM,
    ADD,
    RESIDUAL
} producer;

/* The activation: Relu, or Clip (ReLU6's bounds) with its bounds as
 * initializers, as Constant nodes, or a min computed at run time (no
 * fusion). */
typedef enum activation { RELU, CLIP_INIT, CLIP_CONSTANT, CLIP_RUNTIME_MIN } activation;
#define CLIP_LO 0.0f
#define CLIP_HI 0.5f

static void add_node(lps_model *m, const char *op, const char *name, int n_in,
                     const char *const *in, const char *out)
{
    lps_node *n = test_node_with_io(op, name, n_in, in, out);
    if (strcmp(op, "BatchNormalization") == 0)
        test_node_attr_int(n, "training_mode", 1);
    if (strcmp(op, "Conv") == 0) {
        test_node_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
        test_node_attr_ints(n, "kernel_shape", (const int64_t[]){3, 3}, 2);
    }
    test_model_add_node(m, n);
}

/* A scalar float initializer or Constant node output named name. */
static void add_bound(lps_model *m, const char *name, float v, bool as_node)
{
    lps_tensor *t = test_tensor_from(LPS_DT_FLOAT, 0, NULL, &v);
    if (!as_node) {
        test_model_add_init(m, name, t);
        return;
    }
    lps_node *n = test_node_with_io("Constant", name, 0, NULL, name);
    test_node_attr_tensor(n, "value", t);
    test_model_add_node(m, n);
    lps_tensor_free(t);
}

/* "pre" -> act -> "y". */
static void add_activation(lps_model *m, activation act)
{
    if (act == RELU) {
        add_node(m, "Relu", "act", 1, (const char *const[]){"pre"}, "y");
        return;
    }
    add_bound(m, "hi", CLIP_HI, act == CLIP_CONSTANT);
    if (act == CLIP_RUNTIME_MIN) {
        /* a float initializer feeding Neg is a parameter: "lo" is computed */
        int64_t one = 1;
        test_model_add_random_init(m, "lo_neg", 1, &one, 9);
        add_node(m, "Neg", "lo_node", 1, (const char *const[]){"lo_neg"}, "lo_vec");
        add_node(m, "ReduceMax", "lo_scalar", 1, (const char *const[]){"lo_vec"}, "lo");
    } else {
        add_bound(m, "lo", CLIP_LO, act == CLIP_CONSTANT);
    }
    add_node(m, "Clip", "act", 3, (const char *const[]){"pre", "lo", "hi"}, "y");
}

/* x -> producer -> "pre" -> act -> "y"; with `also_read`, "pre" also
 * feeds a second output "z" (Neg), which rules the fusion out. */
static lps_model *act_after(producer kind, activation act, bool also_read)
{
    lps_model *m = test_model_new(FUSION_OPSET, "x", FEATURES, "y");
    m->graph.inputs[0].rank = -1;
    int64_t c = CHANNELS, w_conv[] = {CHANNELS, CHANNELS, 3, 3}, w_gemm[] = {FEATURES, FEATURES};
    int64_t wide = 2 * CHANNELS, w_wide[] = {2 * CHANNELS, CHANNELS, 3, 3};
    switch (kind) {
    case CONV_DEEP:
    case CONV_WIDE:
        test_model_add_random_init(m, "w0", 4, w_conv, 10);
        add_node(m, "Conv", "conv0", 2, (const char *const[]){"x", "w0"}, "h");
        test_model_add_random_init(m, "w", 4, kind == CONV_WIDE ? w_wide : w_conv, 1);
        test_model_add_random_init(m, "b", 1, kind == CONV_WIDE ? &wide : &c, 2);
        add_node(m, "Conv", "conv", 3, (const char *const[]){"h", "w", "b"}, "pre");
        break;
    case ADD:
        test_model_add_random_init(m, "w", 4, w_conv, 1);
        add_node(m, "Conv", "conv", 2, (const char *const[]){"x", "w"}, "h");
        test_model_add_random_init(m, "s", 3, (const int64_t[]){CHANNELS, 1, 1}, 13);
        add_node(m, "Add", "join", 2, (const char *const[]){"h", "s"}, "pre");
        break;
    case RESIDUAL:
        test_model_add_random_init(m, "w0", 4, w_conv, 10);
        add_node(m, "Conv", "conv0", 2, (const char *const[]){"x", "w0"}, "h");
        test_model_add_random_init(m, "w", 4, w_conv, 1);
        add_node(m, "Conv", "conv", 2, (const char *const[]){"h", "w"}, "h2");
        add_node(m, "Add", "join", 2, (const char *const[]){"h2", "h"}, "pre");
        break;
    case CONV:
        test_model_add_random_init(m, "w", 4, w_conv, 1);
        test_model_add_random_init(m, "b", 1, &c, 2);
        add_node(m, "Conv", "conv", 3, (const char *const[]){"x", "w", "b"}, "pre");
        break;
    case BATCHNORM_DEEP:
        test_model_add_random_init(m, "w0", 4, w_conv, 10);
        add_node(m, "Conv", "conv0", 2, (const char *const[]){"x", "w0"}, "h");
        __attribute__((fallthrough)); /* the BatchNormalization reads h */
    case BATCHNORM:
        test_model_add_random_init(m, "scale", 1, &c, 3);
        test_model_add_random_init(m, "bias", 1, &c, 4);
        test_model_add_random_init(m, "mean", 1, &c, 5);
        test_model_add_random_init(m, "var", 1, &c, 6);
        add_node(m, "BatchNormalization", "bn", 5,
                 (const char *const[]){kind == BATCHNORM ? "x" : "h", "scale", "bias", "mean",
                                       "var"},
                 "pre");
        break;
    case GEMM:
        test_model_add_random_init(m, "w", 2, w_gemm, 7);
        test_model_add_random_init(m, "b", 1, &w_gemm[1], 8);
        add_node(m, "Gemm", "fc", 3, (const char *const[]){"x", "w", "b"}, "pre");
        break;
    }
    add_activation(m, act);
    if (also_read) {
        add_node(m, "Neg", "other", 1, (const char *const[]){"pre"}, "z");
        m->graph.n_outputs = 2;
        m->graph.outputs = realloc(m->graph.outputs, 2 * sizeof *m->graph.outputs);
        memset(&m->graph.outputs[1], 0, sizeof m->graph.outputs[1]);
        m->graph.outputs[1].name = strdup("z");
        m->graph.outputs[1].rank = -1;
    }
    return m;
}

/* One training step's results: output y and the flat parameter gradient. */
typedef struct step {
    float *y, *grads;
    size_t n_y, n_grads;
    size_t fused;
} step;

static float *copy_floats(const lps_tensor *t, size_t *n)
{
    *n = (size_t)lps_tensor_numel(t);
    float *c = malloc(*n * sizeof *c + 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, t->data, *n * sizeof *c);
    return c;
}

/* Compiles m for training, keeping "pre" when `unfused`, and runs one
 * forward and backward (seed: a random gradient at y). */
static step run_steps(const lps_model *m, producer kind, bool unfused, int backwards);

static step run_step(const lps_model *m, producer kind, bool unfused)
{
    return run_steps(m, kind, unfused, 1);
}

/* run_step with `backwards` backward passes, from seeds SEED_DY + k, of
 * which the last one's gradients are kept. */
static step run_steps(const lps_model *m, producer kind, bool unfused, int backwards)
{
    lps_error err = {0};
    lps_plan_options popt = {.training = true};
    lps_plan *p = lps_plan_compile(m, &popt, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    if (unfused)
        lps_plan_keep_value(p, lps_plan_find_value(p, "pre"));
    lps_run_options ropt = {.training = true, .bn_batch_stats = true};
    lps_exec_ctx *ctx = lps_exec_ctx_new(&ropt, &err);
    ck_assert_ptr_nonnull(ctx);
    int64_t conv_dims[] = {BATCH, CHANNELS, PLANE, PLANE}, gemm_dims[] = {BATCH, FEATURES};
    lps_tensor *x = kind == GEMM ? test_tensor_random(2, gemm_dims, -1, 1, SEED_X)
                                 : test_tensor_random(4, conv_dims, -1, 1, SEED_X);
    ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
    step r = {.fused = lps_plan_n_fused(p)};
    int y_id = lps_plan_find_value(p, "y");
    r.y = copy_floats(lps_plan_value(p, y_id), &r.n_y);
    const lps_tensor *y = lps_plan_value(p, y_id);
    lps_tensor *dy = NULL;
    for (int k = backwards - 1; k >= 0; k--) {
        lps_tensor_free(dy);
        dy = test_tensor_random(y->rank, y->dims, -1, 1, SEED_DY + (uint64_t)k);
        lps_plan_zero_grads(p);
        ck_assert_msg(lps_plan_backward(p, ctx, y_id, dy, &err) == LPS_OK, "%s", err.msg);
    }
    float *g = lps_plan_grad_data(p, &r.n_grads);
    r.grads = malloc(r.n_grads * sizeof *r.grads + 1);
    memcpy(r.grads, g, r.n_grads * sizeof *g);
    lps_tensor_free(dy);
    lps_tensor_free(x);
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    return r;
}

static void expect_equal(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(a[i] == b[i], "%s[%zu]: fused %g, unfused %g", what, i, a[i], b[i]);
}

static void step_release(step *s)
{
    free(s->y);
    free(s->grads);
}

static void check_fusion(producer kind, activation act)
{
    lps_model *m = act_after(kind, act, false);
    step fused = run_step(m, kind, false), plain = run_step(m, kind, true);
    ck_assert_uint_eq(fused.fused, act == CLIP_RUNTIME_MIN ? 0 : 1);
    ck_assert_uint_eq(plain.fused, 0);
    ck_assert_uint_eq(fused.n_y, plain.n_y);
    ck_assert_uint_eq(fused.n_grads, plain.n_grads);
    ck_assert_uint_gt(fused.n_grads, 0);
    expect_equal(fused.y, plain.y, fused.n_y, "y");
    expect_equal(fused.grads, plain.grads, fused.n_grads, "parameter gradient");
    step_release(&fused);
    step_release(&plain);
    lps_model_free(m);
}

START_TEST(conv_relu_fuses) { check_fusion(CONV, RELU); }
END_TEST

START_TEST(conv_with_input_grad_relu_fuses) { check_fusion(CONV_DEEP, RELU); }
END_TEST

START_TEST(batchnorm_relu_fuses) { check_fusion(BATCHNORM, RELU); }
END_TEST

START_TEST(batchnorm_with_input_grad_relu_fuses) { check_fusion(BATCHNORM_DEEP, RELU); }
END_TEST

/* BatchNormalization writes its input's gradient whole when it is the
 * first to reach it (lps_op_def.overwrites_fresh_grad; the engine skips
 * zeroing it): after a backward from another seed left its bytes in the
 * buffer, a second backward gives the gradients of a plan that ran only
 * that one, fused and unfused. */
static void check_fresh_input_grad(producer kind)
{
    lps_model *m = act_after(kind, RELU, false);
    for (int unfused = 0; unfused < 2; unfused++) {
        step once = run_steps(m, kind, unfused, 1);
        step twice = run_steps(m, kind, unfused, 2);
        ck_assert_uint_eq(once.n_grads, twice.n_grads);
        expect_equal(twice.grads, once.grads, once.n_grads, "parameter gradient");
        step_release(&once);
        step_release(&twice);
    }
    lps_model_free(m);
}

START_TEST(batchnorm_fresh_input_grad_keeps_no_stale_bytes)
{
    check_fresh_input_grad(BATCHNORM_DEEP);
}
END_TEST

/* The same for Conv's input gradient (conv.c), on the unit-stride
 * backward (CONV_DEEP) and on the im2col one (CONV_WIDE): conv0's weight
 * gradient is formed from it. */
START_TEST(conv_fresh_input_grad_keeps_no_stale_bytes)
{
    check_fresh_input_grad(CONV_DEEP);
    check_fresh_input_grad(CONV_WIDE);
}
END_TEST

START_TEST(gemm_relu_fuses) { check_fusion(GEMM, RELU); }
END_TEST

START_TEST(add_relu_fuses) { check_fusion(ADD, RELU); }
END_TEST

START_TEST(residual_add_relu_fuses) { check_fusion(RESIDUAL, RELU); }
END_TEST

/* Clip's bounds bound at compile from initializers or Constant nodes; a
 * bound computed at run time keeps Clip a node of its own (same results) */
START_TEST(clip_constant_bounds_fuse)
{
    check_fusion(BATCHNORM, CLIP_INIT);
    check_fusion(BATCHNORM, CLIP_CONSTANT);
    check_fusion(CONV_DEEP, CLIP_CONSTANT);
    check_fusion(GEMM, CLIP_INIT);
    check_fusion(ADD, CLIP_CONSTANT);
    check_fusion(BATCHNORM, CLIP_RUNTIME_MIN);
}
END_TEST

/* A producer output read by another node too is computed as before. */
START_TEST(shared_output_does_not_fuse)
{
    lps_model *m = act_after(CONV, RELU, true);
    lps_error err = {0};
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_uint_eq(lps_plan_n_fused(p), 0);
    lps_plan_free(p);
    lps_model_free(m);
}
END_TEST

/* Inference: the fused plan's output is the unfused one's, and the model
 * the plan was compiled from still has its Relu node. */
START_TEST(inference_output_unchanged)
{
    lps_model *m = act_after(CONV, RELU, false);
    int64_t dims[] = {BATCH, CHANNELS, PLANE, PLANE};
    lps_tensor *x = test_tensor_random(4, dims, -1, 1, SEED_X);
    int64_t numel = BATCH * CHANNELS * PLANE * PLANE;
    float *fused = test_model_output(m, x, numel);
    lps_error err = {0};
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_uint_eq(lps_plan_n_fused(p), 1);
    lps_plan_keep_value(p, lps_plan_find_value(p, "pre"));
    ck_assert_uint_eq(lps_plan_n_fused(p), 0);
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_int_eq(lps_plan_set_input(p, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(p, ctx, &err) == LPS_OK, "%s", err.msg);
    expect_equal(fused, lps_tensor_f32(lps_plan_output(p, 0)), (size_t)numel, "y");
    ck_assert_uint_eq(m->graph.n_nodes, 2);
    ck_assert_str_eq(m->graph.nodes[1].op_type, "Relu");
    free(fused);
    lps_tensor_free(x);
    lps_exec_ctx_free(ctx);
    lps_plan_free(p);
    lps_model_free(m);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"relu", conv_relu_fuses, 1},
        {"relu", batchnorm_relu_fuses, 1},
        {"relu", batchnorm_with_input_grad_relu_fuses, 1},
        {"relu", batchnorm_fresh_input_grad_keeps_no_stale_bytes, 1},
        {"relu", conv_fresh_input_grad_keeps_no_stale_bytes, 1},
        {"relu", gemm_relu_fuses, 1},
        {"relu", conv_with_input_grad_relu_fuses, 1},
        {"relu", add_relu_fuses, 1},
        {"relu", residual_add_relu_fuses, 1},
        {"clip", clip_constant_bounds_fuse, 1},
        {"relu", shared_output_does_not_fuse, 1},
        {"relu", inference_output_unchanged, 1},
    };
    return test_run_table("fusion", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
