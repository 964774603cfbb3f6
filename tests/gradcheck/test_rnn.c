/* The recurrent family (RNN, GRU, LSTM): finite-difference gradients of
 * every float input (X, W, R, B, initial_h, initial_c, P) through time for
 * both directions, uneven sequence_lens, clip, input_forget,
 * linear_before_reset and layout=1; layout=1 against layout=0 on the same
 * data (onnxruntime has no batch-first kernels to compare with); one
 * hand-computed step; and the attribute errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "op_forward.h"
#include "test_node.h"
#include "test_suite.h"

#define RNN_OPSET 14
#define SEQ 4
#define BATCH 3
#define INPUT 3
#define HIDDEN 2
#define FWD_TOL 1e-5f
#define MAX_INPUTS 8
#define MAX_OUTPUTS 3

/* One variant of one op. */
typedef struct rnn_case {
    const char *op;
    const char *direction;
    int layout;
    bool lens;           /* uneven sequence_lens */
    bool states;         /* initial_h (and initial_c) */
    bool peepholes;      /* LSTM P */
    int linear_before_reset, input_forget;
    float clip;          /* 0: none */
    const char *const *activations; /* NULL-terminated, or NULL for the defaults */
} rnn_case;

static int gates_of(const char *op)
{
    return strcmp(op, "LSTM") == 0 ? 4 : strcmp(op, "GRU") == 0 ? 3 : 1;
}

static int dirs_of(const rnn_case *c)
{
    return strcmp(c->direction, "bidirectional") == 0 ? 2 : 1;
}

static int n_inputs_of(const rnn_case *c)
{
    return strcmp(c->op, "LSTM") == 0 ? 8 : 6;
}

static int n_outputs_of(const rnn_case *c)
{
    return strcmp(c->op, "LSTM") == 0 ? 3 : 2;
}

static lps_node *case_node(const rnn_case *c)
{
    lps_node *n = test_node_new(c->op, n_inputs_of(c), n_outputs_of(c));
    test_node_attr_int(n, "hidden_size", HIDDEN);
    test_node_attr_string(n, "direction", c->direction);
    if (c->layout)
        test_node_attr_int(n, "layout", c->layout);
    if (c->linear_before_reset)
        test_node_attr_int(n, "linear_before_reset", c->linear_before_reset);
    if (c->input_forget)
        test_node_attr_int(n, "input_forget", c->input_forget);
    if (c->clip > 0.0f)
        test_node_attr_float(n, "clip", c->clip);
    if (c->activations) {
        int k = 0;
        while (c->activations[k])
            k++;
        lps_attr *grown = realloc(n->attrs, (n->n_attrs + 1) * sizeof *grown);
        ck_assert_ptr_nonnull(grown);
        n->attrs = grown;
        lps_attr *a = &n->attrs[n->n_attrs++];
        memset(a, 0, sizeof *a);
        a->name = strdup("activations");
        a->type = LPS_ATTR_STRINGS;
        a->strings = calloc((size_t)k, sizeof *a->strings);
        for (int i = 0; i < k; i++)
            a->strings[i] = strdup(c->activations[i]);
        a->n_strings = (size_t)k;
    }
    if (!c->lens)
        test_node_omit_input(n, 4);
    if (!c->states) {
        test_node_omit_input(n, 5);
        if (strcmp(c->op, "LSTM") == 0)
            test_node_omit_input(n, 6);
    }
    if (strcmp(c->op, "LSTM") == 0 && !c->peepholes)
        test_node_omit_input(n, 7);
    return n;
}

/* Seeded inputs for c (omitted ones NULL); free with free_inputs. */
static void case_inputs(const rnn_case *c, lps_tensor **in)
{
    int64_t g = gates_of(c->op), d = dirs_of(c);
    int64_t x[3] = {SEQ, BATCH, INPUT}, w[3] = {d, g * HIDDEN, INPUT};
    int64_t r[3] = {d, g * HIDDEN, HIDDEN};
    int64_t b[2] = {d, 2 * g * HIDDEN}, lens[1] = {BATCH}, st[3] = {d, BATCH, HIDDEN};
    int64_t p[2] = {d, 3 * HIDDEN};
    static const int32_t lens_v[BATCH] = {SEQ, 2, 1};
    if (c->layout) {
        x[0] = BATCH, x[1] = SEQ;
        st[0] = BATCH, st[1] = d;
    }
    memset(in, 0, MAX_INPUTS * sizeof *in);
    in[0] = test_tensor_random(3, x, -1.0f, 1.0f, 11);
    in[1] = test_tensor_random(3, w, -0.8f, 0.8f, 12);
    in[2] = test_tensor_random(3, r, -0.8f, 0.8f, 13);
    in[3] = test_tensor_random(2, b, -0.5f, 0.5f, 14);
    if (c->lens)
        in[4] = test_tensor_from(LPS_DT_INT32, 1, lens, lens_v);
    if (c->states) {
        in[5] = test_tensor_random(3, st, -0.8f, 0.8f, 15);
        if (strcmp(c->op, "LSTM") == 0)
            in[6] = test_tensor_random(3, st, -0.8f, 0.8f, 16);
    }
    if (c->peepholes)
        in[7] = test_tensor_random(2, p, -0.8f, 0.8f, 17);
}

static void free_inputs(lps_tensor **in)
{
    for (int i = 0; i < MAX_INPUTS; i++)
        lps_tensor_free(in[i]);
}

static void check_grad(const rnn_case *c)
{
    lps_tensor *in[MAX_INPUTS];
    case_inputs(c, in);
    lps_node *n = case_node(c);
    char why[512] = "";
    /* Every float input: all but sequence_lens (bit 4). */
    uint32_t mask = 0xFFu & ~(1u << 4);
    bool ok = gradcheck_op(n, RNN_OPSET, in, (size_t)n_inputs_of(c), mask, gradcheck_default_tol(),
                           why, sizeof why);
    free_inputs(in);
    test_node_free(n);
    ck_assert_msg(ok, "%s %s layout=%d lens=%d: %s", c->op, c->direction, c->layout, c->lens, why);
}

START_TEST(grad_lstm)
{
    rnn_case cases[] = {
        {"LSTM", "forward", 0, false, false, false, 0, 0, 0.0f, NULL},
        {"LSTM", "bidirectional", 0, true, true, true, 0, 0, 0.0f, NULL},
        {"LSTM", "reverse", 0, true, true, true, 0, 1, 0.0f, NULL},
        {"LSTM", "bidirectional", 1, true, true, false, 0, 0, 0.0f, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        check_grad(&cases[k]);
}
END_TEST

START_TEST(grad_gru)
{
    rnn_case cases[] = {
        {"GRU", "forward", 0, false, false, false, 0, 0, 0.0f, NULL},
        {"GRU", "bidirectional", 0, true, true, false, 0, 0, 0.0f, NULL},
        {"GRU", "bidirectional", 0, true, true, false, 1, 0, 0.0f, NULL},
        {"GRU", "reverse", 1, true, true, false, 1, 0, 0.0f, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        check_grad(&cases[k]);
}
END_TEST

START_TEST(grad_rnn)
{
    static const char *const relu_tanh[] = {"Relu", "tanh", NULL};
    rnn_case cases[] = {
        {"RNN", "forward", 0, false, false, false, 0, 0, 0.0f, NULL},
        {"RNN", "bidirectional", 0, true, true, false, 0, 0, 0.0f, NULL},
        {"RNN", "bidirectional", 1, true, true, false, 0, 0, 0.0f, relu_tanh},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        check_grad(&cases[k]);
}
END_TEST

/* A large clip bounds only the few pre-activations far from zero, so the
 * finite differences stay away from its kinks while clipped elements
 * exercise the zero gradient. */
START_TEST(grad_clip)
{
    rnn_case cases[] = {
        {"LSTM", "bidirectional", 0, true, true, true, 0, 0, 1.5f, NULL},
        {"GRU", "forward", 0, true, true, false, 0, 0, 1.5f, NULL},
        {"RNN", "reverse", 0, true, true, false, 0, 0, 1.5f, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        check_grad(&cases[k]);
}
END_TEST

/* Runs c and returns its outputs in out (caller releases). */
static void run_case(const rnn_case *c, lps_tensor **in, lps_tensor *out)
{
    lps_node *n = case_node(c);
    lps_error err = {0};
    lps_status st = test_op_forward(n, RNN_OPSET, in, out, (size_t)n_outputs_of(c), &err);
    test_node_free(n);
    ck_assert_msg(st == LPS_OK, "%s", err.msg);
}

/* Element (i0, i1, i2[, i3]) of a tensor of rank 3 or 4. */
static float at(const lps_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    int64_t off = (i0 * t->dims[1] + i1) * t->dims[2] + i2;
    if (t->rank == 4)
        off = off * t->dims[3] + i3;
    return lps_tensor_f32(t)[off];
}

/* layout=1 on transposed inputs gives the transposed outputs of layout=0. */
static void check_layout(const char *op)
{
    bool lstm = strcmp(op, "LSTM") == 0, gru = strcmp(op, "GRU") == 0;
    rnn_case c0 = {op, "bidirectional", 0, true, true, lstm, gru, 0, 0.0f, NULL};
    rnn_case c1 = c0;
    c1.layout = 1;
    lps_tensor *in0[MAX_INPUTS], *in1[MAX_INPUTS];
    case_inputs(&c0, in0);
    case_inputs(&c1, in1);
    for (int64_t t = 0; t < SEQ; t++)
        for (int64_t b = 0; b < BATCH; b++)
            for (int64_t i = 0; i < INPUT; i++)
                lps_tensor_f32(in1[0])[(b * SEQ + t) * INPUT + i] = at(in0[0], t, b, i, 0);
    for (int s = 5; s <= 6; s++)
        for (int64_t d = 0; in0[s] && d < 2; d++)
            for (int64_t b = 0; b < BATCH; b++)
                for (int64_t j = 0; j < HIDDEN; j++)
                    lps_tensor_f32(in1[s])[(b * 2 + d) * HIDDEN + j] = at(in0[s], d, b, j, 0);
    lps_tensor out0[MAX_OUTPUTS] = {0}, out1[MAX_OUTPUTS] = {0};
    run_case(&c0, in0, out0);
    run_case(&c1, in1, out1);
    for (int64_t t = 0; t < SEQ; t++)
        for (int64_t d = 0; d < 2; d++)
            for (int64_t b = 0; b < BATCH; b++)
                for (int64_t j = 0; j < HIDDEN; j++) {
                    ck_assert_float_eq_tol(at(&out1[0], b, t, d, j), at(&out0[0], t, d, b, j),
                                           FWD_TOL);
                    for (int o = 1; t == 0 && o < n_outputs_of(&c0); o++)
                        ck_assert_float_eq_tol(at(&out1[o], b, d, j, 0), at(&out0[o], d, b, j, 0),
                                               FWD_TOL);
                }
    for (int o = 0; o < MAX_OUTPUTS; o++) {
        lps_tensor_release(&out0[o]);
        lps_tensor_release(&out1[o]);
    }
    free_inputs(in0);
    free_inputs(in1);
}

START_TEST(layout_batch_first)
{
    check_layout("LSTM");
    check_layout("GRU");
    check_layout("RNN");
}
END_TEST

/* One RNN step by hand: h = tanh(x W^T + h0 R^T + Wb + Rb); a row whose
 * sequence_lens is 0 keeps its initial state and writes zeros to Y. */
START_TEST(rnn_one_step_values)
{
    int64_t xd[] = {1, 2, 1}, wd[] = {1, 1, 1}, bd[] = {1, 2}, ld[] = {2}, sd[] = {1, 2, 1};
    const float x[] = {0.5f, 2.0f}, w[] = {2.0f}, r[] = {-1.0f}, b[] = {0.25f, 0.5f},
                h0[] = {0.3f, -0.7f};
    const int32_t lens[] = {1, 0};
    lps_tensor *in[6] = {test_tensor_from(LPS_DT_FLOAT, 3, xd, x),
                         test_tensor_from(LPS_DT_FLOAT, 3, wd, w),
                         test_tensor_from(LPS_DT_FLOAT, 3, wd, r),
                         test_tensor_from(LPS_DT_FLOAT, 2, bd, b),
                         test_tensor_from(LPS_DT_INT32, 1, ld, lens),
                         test_tensor_from(LPS_DT_FLOAT, 3, sd, h0)};
    lps_node *n = test_node_new("RNN", 6, 2);
    test_node_attr_int(n, "hidden_size", 1);
    lps_tensor out[2] = {{0}};
    lps_error err = {0};
    ck_assert_int_eq(test_op_forward(n, RNN_OPSET, in, out, 2, &err), LPS_OK);
    float h = tanhf(0.5f * 2.0f - 0.3f + 0.75f);
    const float want_y[] = {h, 0.0f}, want_h[] = {h, -0.7f};
    test_expect_floats(&out[0], want_y, 2, FWD_TOL);
    test_expect_floats(&out[1], want_h, 2, FWD_TOL);
    for (int i = 0; i < 2; i++)
        lps_tensor_release(&out[i]);
    for (int i = 0; i < 6; i++)
        lps_tensor_free(in[i]);
    test_node_free(n);
}
END_TEST

/* Fails unless running c at opset gives status with every fragment of want in the message. */
static void expect_error(const rnn_case *c, int64_t opset, lps_status status, const char *want1,
                         const char *want2)
{
    lps_tensor *in[MAX_INPUTS];
    case_inputs(c, in);
    lps_node *n = case_node(c);
    lps_tensor out[MAX_OUTPUTS] = {0};
    lps_error err = {0};
    ck_assert_int_eq(test_op_forward(n, opset, in, out, (size_t)n_outputs_of(c), &err), status);
    ck_assert_msg(strstr(err.msg, want1) && strstr(err.msg, want2), "message: %s", err.msg);
    for (int o = 0; o < MAX_OUTPUTS; o++)
        lps_tensor_release(&out[o]);
    free_inputs(in);
    test_node_free(n);
}

START_TEST(rejects_unsupported)
{
    static const char *const affine[] = {"Affine", "Tanh", "Tanh", NULL};
    static const char *const too_few[] = {"Tanh", NULL};
    rnn_case act = {"LSTM", "forward", 0, false, false, false, 0, 0, 0.0f, affine};
    expect_error(&act, RNN_OPSET, LPS_ERR_UNSUPPORTED, "node 'test' (LSTM)", "'activations'");
    expect_error(&act, RNN_OPSET, LPS_ERR_UNSUPPORTED, "Affine", "not supported");
    rnn_case few = {"GRU", "bidirectional", 0, false, false, false, 0, 0, 0.0f, too_few};
    expect_error(&few, RNN_OPSET, LPS_ERR_INVALID, "node 'test' (GRU)", "'activations'");
    rnn_case layout = {"RNN", "forward", 1, false, false, false, 0, 0, 0.0f, NULL};
    expect_error(&layout, 13, LPS_ERR_UNSUPPORTED, "node 'test' (RNN)", "'layout'");
    rnn_case dir = {"RNN", "sideways", 0, false, false, false, 0, 0, 0.0f, NULL};
    expect_error(&dir, RNN_OPSET, LPS_ERR_INVALID, "'direction'", "sideways");
    rnn_case forget = {"GRU", "forward", 0, false, false, false, 0, 1, 0.0f, NULL};
    expect_error(&forget, RNN_OPSET, LPS_ERR_UNSUPPORTED, "(GRU)", "'input_forget'");
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"forward", rnn_one_step_values, 1},
        {"forward", layout_batch_first, 1},
        {"forward", rejects_unsupported, 1},
        {"gradient", grad_lstm, 1},
        {"gradient", grad_gru, 1},
        {"gradient", grad_rnn, 1},
        {"gradient", grad_clip, 1},
    };
    return test_run_table("rnn", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
