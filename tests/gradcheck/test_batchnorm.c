/* BatchNormalization: inference and batch-statistics forward values, the
 * statistic outputs, the running-statistics update for the trainer,
 * spatial=0, opset-dependent attributes, and gradients in both modes. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define BN_OPSET_SPATIAL 7
#define BN_OPSET_OLD 9
#define BN_OPSET_NEW 15
#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.8f
#define BN_FWD_TOL 1e-4f
#define BN_CHANNELS 2

static const int64_t x_dims[] = {3, BN_CHANNELS, 2, 2};
static const int64_t c_dims[] = {BN_CHANNELS};

/* Random X (x_rank, xd) and scale, B, mean, var (p_rank, pd), scale and
 * var positive. Free with free_inputs. */
static void make_inputs(lps_tensor **in, int x_rank, const int64_t *xd, int p_rank,
                        const int64_t *pd)
{
    in[0] = test_tensor_random(x_rank, xd, -1.0f, 1.0f, 1);
    in[1] = test_tensor_random(p_rank, pd, 0.5f, 1.5f, 2);
    in[2] = test_tensor_random(p_rank, pd, -0.5f, 0.5f, 3);
    in[3] = test_tensor_random(p_rank, pd, -0.2f, 0.2f, 4);
    in[4] = test_tensor_random(p_rank, pd, 0.5f, 1.5f, 5);
}

/* Frees the five inputs of make_inputs. */
static void free_inputs(lps_tensor **in)
{
    for (int i = 0; i < 5; i++)
        lps_tensor_free(in[i]);
}

/* A BatchNormalization node with the test epsilon and momentum. */
static lps_node *bn_node(int n_outputs)
{
    lps_node *n = test_node_new("BatchNormalization", 5, n_outputs);
    test_node_attr_float(n, "epsilon", BN_EPS);
    test_node_attr_float(n, "momentum", BN_MOMENTUM);
    return n;
}

START_TEST(inference_values)
{
    /* channel 0: (x - 1) / sqrt(4 + eps) * 2 + 1; channel 1: (x + 1) / sqrt(1 + eps) * -1 + 0 */
    int64_t xd[] = {1, 2, 1, 2};
    const float x[] = {3, 5, -1, 1}, scale[] = {2, -1}, bias[] = {1, 0}, mean[] = {1, -1},
                var[] = {4, 1};
    float want[4];
    want[0] = (3 - 1) / sqrtf(4 + BN_EPS) * 2 + 1;
    want[1] = (5 - 1) / sqrtf(4 + BN_EPS) * 2 + 1;
    want[2] = (-1 + 1) / sqrtf(1 + BN_EPS) * -1;
    want[3] = (1 + 1) / sqrtf(1 + BN_EPS) * -1;
    lps_tensor *in[5] = {test_tensor_from(LPS_DT_FLOAT, 4, xd, x),
                         test_tensor_from(LPS_DT_FLOAT, 1, c_dims, scale),
                         test_tensor_from(LPS_DT_FLOAT, 1, c_dims, bias),
                         test_tensor_from(LPS_DT_FLOAT, 1, c_dims, mean),
                         test_tensor_from(LPS_DT_FLOAT, 1, c_dims, var)};
    lps_node *n = bn_node(1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, BN_OPSET_NEW, in, &out, 1, &err), LPS_OK);
    test_expect_floats(&out, want, 4, BN_FWD_TOL);
    ck_assert_int_eq(test_op_forward(n, BN_OPSET_OLD, in, &out, 1, &err), LPS_OK);
    test_expect_floats(&out, want, 4, BN_FWD_TOL);
    /* a training run with frozen statistics is the same computation */
    lps_run_options frozen = {.training = true, .bn_batch_stats = false};
    /* and keeps no batch statistics, so there is no state to update */
    lps_tensor *state[5] = {NULL, NULL, NULL, in[3], in[4]};
    ck_assert_int_eq(test_op_update_state(n, BN_OPSET_NEW, &frozen, in, &out, 1, state, &err),
                     LPS_ERR_RUNTIME);
    test_expect_floats(&out, want, 4, BN_FWD_TOL);
    lps_tensor_release(&out);
    test_node_free(n);
    free_inputs(in);
}
END_TEST

/* Inference on [N, C] with more channels than one block of the row-wise
 * path (batchnorm.c, BN_BLOCK): each value as the formula has it. */
START_TEST(inference_values_rows)
{
    enum { N = 3, C = 70 };
    const int64_t xd[] = {N, C}, pd[] = {C};
    lps_tensor *in[5];
    make_inputs(in, 2, xd, 1, pd);
    const float *x = lps_tensor_f32(in[0]), *scale = lps_tensor_f32(in[1]),
                *bias = lps_tensor_f32(in[2]), *mean = lps_tensor_f32(in[3]),
                *var = lps_tensor_f32(in[4]);
    float want[N * C];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            want[n * C + c] = (x[n * C + c] - mean[c]) / sqrtf(var[c] + BN_EPS) * scale[c] + bias[c];
    lps_node *node = bn_node(1);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(node, BN_OPSET_NEW, in, &out, 1, &err), LPS_OK);
    test_expect_floats(&out, want, N * C, BN_FWD_TOL);
    lps_tensor_release(&out);
    test_node_free(node);
    free_inputs(in);
}
END_TEST

/* Checks y is normalized per channel (scale 1, B 0 given) and that the
 * running outputs blend the batch statistics with momentum. */
START_TEST(batch_stats_and_running_outputs)
{
    lps_tensor *in[5];
    make_inputs(in, 4, x_dims, 1, c_dims);
    float *scale = lps_tensor_f32(in[1]), *bias = lps_tensor_f32(in[2]);
    for (int c = 0; c < BN_CHANNELS; c++) {
        scale[c] = 1.0f;
        bias[c] = 0.0f;
    }
    lps_node *n = bn_node(3);
    lps_tensor out[3] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward_mode(n, BN_OPSET_NEW, true, 0, in, out, 3, &err), LPS_OK);
    const float *x = lps_tensor_f32(in[0]), *y = lps_tensor_f32(&out[0]);
    for (int c = 0; c < BN_CHANNELS; c++) {
        double sx = 0, sy = 0, sy2 = 0, sxx = 0;
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 4; i++) {
                int k = (b * BN_CHANNELS + c) * 4 + i;
                sx += x[k];
                sxx += (double)x[k] * x[k];
                sy += y[k];
                sy2 += (double)y[k] * y[k];
            }
        double mu = sx / 12, var = sxx / 12 - mu * mu;
        ck_assert_double_eq_tol(sy / 12, 0.0, 1e-5);
        ck_assert_double_eq_tol(sy2 / 12, var / (var + BN_EPS), 1e-4);
        float rm = BN_MOMENTUM * lps_tensor_f32(in[3])[c] + (1 - BN_MOMENTUM) * (float)mu;
        float rv = BN_MOMENTUM * lps_tensor_f32(in[4])[c] + (1 - BN_MOMENTUM) * (float)var;
        ck_assert_float_eq_tol(lps_tensor_f32(&out[1])[c], rm, BN_FWD_TOL);
        ck_assert_float_eq_tol(lps_tensor_f32(&out[2])[c], rv, BN_FWD_TOL);
    }
    /* inference with the same node leaves the running statistics unchanged */
    ck_assert_int_eq(test_op_forward(n, BN_OPSET_NEW, in, out, 3, &err), LPS_OK);
    test_expect_floats(&out[1], lps_tensor_f32(in[3]), BN_CHANNELS, 0.0f);
    test_expect_floats(&out[2], lps_tensor_f32(in[4]), BN_CHANNELS, 0.0f);
    for (int j = 0; j < 3; j++)
        lps_tensor_release(&out[j]);
    test_node_free(n);
    free_inputs(in);
}
END_TEST

/* A training-mode node (training_mode=1 from opset 14; statistic outputs
 * before it) runs as in inference unless the run honors the graph's flags,
 * then it normalizes with batch statistics as a training run does. */
START_TEST(training_mode_node_in_evaluation)
{
    lps_tensor *in[5];
    make_inputs(in, 4, x_dims, 1, c_dims);
    lps_node *attr = bn_node(1);
    test_node_attr_int(attr, "training_mode", 1);
    lps_node *plain = bn_node(1), *old_training = bn_node(5);
    lps_tensor a[5] = {{0}}, inference = {0}, batch = {0};
    lps_run_options honor = {.honor_training_flags = true};
    lps_error err;
    ck_assert_int_eq(test_op_forward(plain, BN_OPSET_NEW, in, &inference, 1, &err), LPS_OK);
    ck_assert_int_eq(test_op_forward_mode(plain, BN_OPSET_NEW, true, 0, in, &batch, 1, &err),
                     LPS_OK);
    ck_assert_int_eq(test_op_forward(attr, BN_OPSET_NEW, in, a, 1, &err), LPS_OK);
    test_expect_floats(&a[0], lps_tensor_f32(&inference), lps_tensor_numel(&inference), 0.0f);
    ck_assert_int_eq(test_op_forward(old_training, BN_OPSET_OLD, in, a, 5, &err), LPS_OK);
    test_expect_floats(&a[0], lps_tensor_f32(&inference), lps_tensor_numel(&inference), 0.0f);
    ck_assert_int_eq(test_op_forward_run(attr, BN_OPSET_NEW, &honor, in, a, 1, &err), LPS_OK);
    test_expect_floats(&a[0], lps_tensor_f32(&batch), lps_tensor_numel(&batch), 0.0f);
    ck_assert_int_eq(test_op_forward_run(old_training, BN_OPSET_OLD, &honor, in, a, 5, &err),
                     LPS_OK);
    test_expect_floats(&a[0], lps_tensor_f32(&batch), lps_tensor_numel(&batch), 0.0f);
    /* training_mode does not exist before opset 14 */
    ck_assert_int_eq(test_op_forward(attr, BN_OPSET_OLD, in, a, 1, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "training_mode"));
    for (int j = 0; j < 5; j++)
        lps_tensor_release(&a[j]);
    lps_tensor_release(&inference);
    lps_tensor_release(&batch);
    test_node_free(attr);
    test_node_free(plain);
    test_node_free(old_training);
    free_inputs(in);
}
END_TEST

/* The trainer's update: the saved batch statistics blended into the
 * running tensors, and a clear error after an inference forward. */
START_TEST(update_running_for_trainer)
{
    lps_tensor *in[5];
    make_inputs(in, 4, x_dims, 1, c_dims);
    lps_node *n = bn_node(3);
    lps_run_options batch = {.training = true, .bn_batch_stats = true};
    lps_tensor out[3] = {{0}};
    lps_error err;
    lps_tensor *state[5] = {NULL, NULL, NULL, in[3], in[4]};
    /* before any forward there are no batch statistics */
    ck_assert_int_eq(test_op_update_state(n, BN_OPSET_NEW, NULL, in, out, 3, state, &err),
                     LPS_ERR_RUNTIME);
    ck_assert_int_eq(test_op_update_state(n, BN_OPSET_NEW, &batch, in, out, 3, state, &err),
                     LPS_OK);
    /* same numbers as the node's own running outputs */
    test_expect_floats(in[3], lps_tensor_f32(&out[1]), BN_CHANNELS, BN_FWD_TOL);
    test_expect_floats(in[4], lps_tensor_f32(&out[2]), BN_CHANNELS, BN_FWD_TOL);
    lps_tensor *wrong = test_tensor_random(1, (const int64_t[]){3}, 0, 1, 9);
    state[3] = wrong;
    ck_assert_int_eq(test_op_update_state(n, BN_OPSET_NEW, &batch, in, out, 3, state, &err),
                     LPS_ERR_INVALID);
    lps_tensor_free(wrong);
    for (int j = 0; j < 3; j++)
        lps_tensor_release(&out[j]);
    test_node_free(n);
    free_inputs(in);
}
END_TEST

START_TEST(old_opset_saved_outputs)
{
    lps_tensor *in[5];
    make_inputs(in, 4, x_dims, 1, c_dims);
    lps_node *n = bn_node(5);
    lps_tensor out[5] = {{0}};
    lps_error err;
    ck_assert_int_eq(test_op_forward_mode(n, BN_OPSET_OLD, true, 0, in, out, 5, &err), LPS_OK);
    for (int c = 0; c < BN_CHANNELS; c++) {
        float rm = BN_MOMENTUM * lps_tensor_f32(in[3])[c] +
                   (1 - BN_MOMENTUM) * lps_tensor_f32(&out[3])[c];
        ck_assert_float_eq_tol(lps_tensor_f32(&out[1])[c], rm, BN_FWD_TOL);
        ck_assert(lps_tensor_f32(&out[4])[c] > 0.0f);
    }
    /* opset 14+ has at most three outputs */
    ck_assert_int_eq(test_op_forward(n, BN_OPSET_NEW, in, out, 5, &err), LPS_ERR_INVALID);
    for (int j = 0; j < 5; j++)
        lps_tensor_release(&out[j]);
    test_node_free(n);
    free_inputs(in);
}
END_TEST

START_TEST(spatial_zero_per_position)
{
    /* spatial=0: statistics per (c, h, w) over the batch; parameters are [C, H, W] */
    int64_t pd[] = {BN_CHANNELS, 2, 2};
    lps_tensor *in[5];
    make_inputs(in, 4, x_dims, 3, pd);
    lps_node *n = bn_node(1);
    test_node_attr_int(n, "spatial", 0);
    lps_tensor out = {0};
    lps_error err;
    ck_assert_int_eq(test_op_forward(n, BN_OPSET_SPATIAL, in, &out, 1, &err), LPS_OK);
    const float *x = lps_tensor_f32(in[0]), *y = lps_tensor_f32(&out);
    for (int k = 0; k < 24; k++) {
        int f = k % 8;
        float want = (x[k] - lps_tensor_f32(in[3])[f]) / sqrtf(lps_tensor_f32(in[4])[f] + BN_EPS) *
                         lps_tensor_f32(in[1])[f] +
                     lps_tensor_f32(in[2])[f];
        ck_assert_float_eq_tol(y[k], want, BN_FWD_TOL);
    }
    /* with spatial=1 the [C, H, W] parameters do not fit */
    lps_node *sp = bn_node(1);
    ck_assert_int_eq(test_op_forward(sp, BN_OPSET_SPATIAL, in, &out, 1, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "one per channel"));
    lps_tensor_release(&out);
    test_node_free(sp);
    test_node_free(n);
    free_inputs(in);
}
END_TEST

static const struct {
    int64_t opset;
    int n_outputs;
    bool training;
    int spatial; /* -1: attribute absent */
    int x_rank;
} grad_cases[] = {
    {BN_OPSET_NEW, 1, false, -1, 4},     /* frozen statistics */
    {BN_OPSET_NEW, 1, true, -1, 4},      /* batch statistics */
    {BN_OPSET_NEW, 3, true, -1, 4},      /* + running outputs */
    {BN_OPSET_OLD, 5, true, -1, 4},      /* + saved outputs */
    {BN_OPSET_NEW, 1, true, -1, 2},      /* [N, C] input */
    {BN_OPSET_SPATIAL, 1, true, 0, 4},   /* per-position statistics */
    {BN_OPSET_SPATIAL, 1, false, 0, 4},
};

START_TEST(gradient)
{
    int64_t xd2[] = {6, BN_CHANNELS}, pd0[] = {BN_CHANNELS, 2, 2};
    bool per_position = grad_cases[_i].spatial == 0;
    lps_tensor *in[5];
    if (grad_cases[_i].x_rank == 2)
        make_inputs(in, 2, xd2, 1, c_dims);
    else
        make_inputs(in, 4, x_dims, per_position ? 3 : 1, per_position ? pd0 : c_dims);
    lps_node *n = bn_node(grad_cases[_i].n_outputs);
    if (grad_cases[_i].spatial >= 0)
        test_node_attr_int(n, "spatial", grad_cases[_i].spatial);
    gradcheck_tol tol = gradcheck_default_tol();
    tol.training = grad_cases[_i].training;
    char why[256] = "";
    bool ok = gradcheck_op(n, grad_cases[_i].opset, in, 5, 0x7u, tol, why, sizeof why);
    test_node_free(n);
    free_inputs(in);
    ck_assert_msg(ok, "case %d: %s", _i, why);
}
END_TEST

/* Y, dX, dscale and dB of a batch-statistics forward and backward at
 * `threads` OpenMP threads; out[0] is Y, out[1..3] the gradients. */
static void run_at_threads(int threads, int rank, const int64_t *xd, lps_tensor *out[4])
{
    int64_t c_dim[] = {xd[1]};
    lps_tensor *in[5];
    make_inputs(in, rank, xd, 1, c_dim);
    lps_node *n = bn_node(1);
    lps_tensor *din[5] = {test_tensor_random(rank, xd, -1.0f, 1.0f, 7),
                          test_tensor_random(1, c_dim, -1.0f, 1.0f, 8),
                          test_tensor_random(1, c_dim, -1.0f, 1.0f, 9), NULL, NULL};
    lps_tensor *dy = test_tensor_random(rank, xd, -1.0f, 1.0f, 6);
    lps_run_options run = {.training = true, .bn_batch_stats = true};
    out[0] = calloc(1, sizeof *out[0]);
    ck_assert_ptr_nonnull(out[0]);
    lps_error err = {0};
    omp_set_num_threads(threads);
    ck_assert_msg(test_op_backward(n, BN_OPSET_NEW, &run, in, out[0], 1,
                                   (const lps_tensor *const[]){dy}, din, &err) == LPS_OK,
                  "%s", err.msg);
    omp_set_num_threads(1);
    for (int i = 0; i < 3; i++)
        out[1 + i] = din[i];
    lps_tensor_free(dy);
    test_node_free(n);
    free_inputs(in);
}

/* Channels split over two threads give one thread's bytes, for planes
 * (per-channel rows) and for [N, C] (blocks of channels), each big enough
 * to be split (core/par.h): over 2 MFLOP even at 6 flops an element
 * (batchnorm.c weighs an element more). */
START_TEST(channels_split_over_threads_give_the_same_bytes)
{
    static const int64_t planes[] = {16, 32, 28, 28}, rows[] = {4096, 150};
    const int64_t *dims[] = {planes, rows};
    int ranks[] = {4, 2};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(2);
        ck_assert_int_eq(lps_par_chunks(dims[k][1], 6.0 * (double)lps_numel_of(ranks[k], dims[k])),
                         2);
        lps_tensor *one[4], *two[4];
        run_at_threads(1, ranks[k], dims[k], one);
        run_at_threads(2, ranks[k], dims[k], two);
        for (int i = 0; i < 4; i++) {
            size_t bytes = (size_t)lps_tensor_numel(one[i]) * sizeof(float);
            ck_assert_msg(memcmp(lps_tensor_f32(one[i]), lps_tensor_f32(two[i]), bytes) == 0,
                          "shape %d tensor %d differs between 1 and 2 threads", k, i);
        }
        lps_tensor_release(one[0]);
        lps_tensor_release(two[0]);
        free(one[0]);
        free(two[0]);
        for (int i = 1; i < 4; i++) {
            lps_tensor_free(one[i]);
            lps_tensor_free(two[i]);
        }
    }
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", inference_values, 1},
        {"forward", batch_stats_and_running_outputs, 1},
        {"forward", training_mode_node_in_evaluation, 1},
        {"forward", inference_values_rows, 1},
        {"forward", update_running_for_trainer, 1},
        {"forward", old_opset_saved_outputs, 1},
        {"forward", spatial_zero_per_position, 1},
        {"gradient", gradient, (int)(sizeof grad_cases / sizeof grad_cases[0])},
        {"threads", channels_split_over_threads_give_the_same_bytes, 1},
    };
    return test_run_table("batchnorm", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
