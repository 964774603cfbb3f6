/* LSTM (opsets 7..21), a cell of the recurrent driver (rnn.h). Gates in
 * W, R and B are ordered i, o, f, c; peepholes P are i, o, f. With
 * activations f, g, h (default Sigmoid, Tanh, Tanh):
 *   i = f(x_i + h_i + P_i . C_{t-1})   f = f(x_f + h_f + P_f . C_{t-1})
 *   c = g(x_c + h_c)                   C_t = f . C_{t-1} + i . c
 *   o = f(x_o + h_o + P_o . C_t)       H_t = o . h(C_t)
 * where x_* = X_t W_*^T + Wb_* and h_* = H_{t-1} R_*^T + Rb_*. clip bounds
 * the gate pre-activations (not C_t); input_forget=1 couples f = 1 - i, as
 * onnxruntime does. The tape's extra floats per unit are C_t and h(C_t). */
#include <string.h>

#include "ops/rnn.h"
#include "ops/simd.h"

enum { GATE_I, GATE_O, GATE_F, GATE_C, LSTM_GATES };
enum { PEEP_I, PEEP_O, PEEP_F };
enum { ACT_F, ACT_G, ACT_H };

static lps_status lstm_cell_prepare(const lps_op_node *op, rnn_params *p, lps_error *err)
{
    int64_t coupled = 0;
    lps_status st = lps_op_attr_int(op, "input_forget", 0, &coupled, err);
    if (st != LPS_OK)
        return st;
    if (coupled != 0 && coupled != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "attribute 'input_forget' is %lld, expected 0 or 1", (long long)coupled);
    p->input_forget = coupled == 1;
    return LPS_OK;
}

static int lstm_rec_gates(const rnn_params *p)
{
    (void)p;
    return LSTM_GATES;
}

/* Row b of one forward step, a gate block at a time (rnn_act.c's array
 * forms): the gate pre-activations, i, f and c, C_t, then o (whose
 * peephole reads C_t) and H_t. */
static void lstm_row_forward(const rnn_step *s, int64_t b)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden;
    const float *c_prev = s->c_prev + b * s->ld, *peep = s->peep;
    float *gate = s->pre + b * s->ld, *cell = s->extra + b * s->ld, *hc = cell + H;
    float *i = gate + GATE_I * H, *o = gate + GATE_O * H, *f = gate + GATE_F * H;
    float *g = gate + GATE_C * H;
    lps_rnn_add_rows(gate, s->gx + b * LSTM_GATES * H, s->gh + b * LSTM_GATES * H,
                     LSTM_GATES * H);
    if (peep) {
        lps_rnn_mul_acc_rows(i, peep + PEEP_I * H, c_prev, H);
        lps_rnn_mul_acc_rows(f, peep + PEEP_F * H, c_prev, H);
        lps_rnn_gate_rows(p, act[ACT_F], i, H);
        lps_rnn_gate_rows(p, act[ACT_F], f, H);
    } else {
        lps_rnn_gate_rows(p, act[ACT_F], gate, (GATE_F + 1) * H); /* i, o, f: adjacent */
    }
    if (p->input_forget)
        for (int64_t j = 0; j < H; j++)
            f[j] = 1.0f - i[j];
    lps_rnn_gate_rows(p, act[ACT_G], g, H);
    lps_rnn_mul_rows(cell, f, c_prev, H);
    lps_rnn_mul_acc_rows(cell, i, g, H);
    memcpy(s->c + b * H, cell, (size_t)H * sizeof *cell);
    if (peep) {
        lps_rnn_mul_acc_rows(o, peep + PEEP_O * H, cell, H);
        lps_rnn_gate_rows(p, act[ACT_F], o, H);
    }
    memcpy(hc, cell, (size_t)H * sizeof *cell);
    lps_rnn_act_rows(act[ACT_H], hc, H);
    lps_rnn_mul_rows(s->h + b * H, o, hc, H);
}

static void lstm_step_forward(const rnn_step *s)
{
    for (int64_t b = 0; b < s->batch; b++)
        lstm_row_forward(s, b);
}

/* d_o (f'(o) on entry) becomes dL/d(o's pre-activation) and d_cell
 * dL/dC_t without the peephole term; dhc = h'(C_t). */
LPS_VECTOR_CLONES static void lstm_output_grad(const float *restrict dh, const float *restrict hc,
                                               const float *restrict o, const float *restrict dhc,
                                               const float *restrict dc, float *restrict d_o,
                                               float *restrict d_cell, int64_t H)
{
    for (int64_t j = 0; j < H; j++) {
        d_o[j] = dh[j] * hc[j] * d_o[j];
        d_cell[j] = dc[j] + dh[j] * o[j] * dhc[j];
    }
}

/* dgx holds f'(i), f'(o), f'(f), g'(c) on entry; the i, f and c blocks
 * become the gradients of their pre-activations and d_cell (dL/dC_t on
 * entry) becomes d_cell . f, dL/dC_{t-1} without peepholes. */
LPS_VECTOR_CLONES static void lstm_gate_grads(const float *restrict gate,
                                              const float *restrict c_prev,
                                              float *restrict dgx, float *restrict d_cell,
                                              int64_t H, bool coupled)
{
    const float *i = gate + GATE_I * H, *f = gate + GATE_F * H, *g = gate + GATE_C * H;
    float *d_i = dgx + GATE_I * H, *d_f = dgx + GATE_F * H, *d_c = dgx + GATE_C * H;
    if (coupled) {
        for (int64_t j = 0; j < H; j++) {
            d_i[j] = (d_cell[j] * g[j] - d_cell[j] * c_prev[j]) * d_i[j];
            d_f[j] = 0.0f;
            d_c[j] = d_cell[j] * i[j] * d_c[j];
            d_cell[j] = d_cell[j] * f[j];
        }
        return;
    }
    for (int64_t j = 0; j < H; j++) {
        d_i[j] = d_cell[j] * g[j] * d_i[j];
        d_f[j] = d_cell[j] * c_prev[j] * d_f[j];
        d_c[j] = d_cell[j] * i[j] * d_c[j];
        d_cell[j] = d_cell[j] * f[j];
    }
}

/* Row b of one backward step: the activation derivatives from the tape's
 * gate values, then the gates' gradients; peepholes add their terms. */
static void lstm_row_backward(const rnn_step *s, int64_t b)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden;
    const float *gate = s->pre + b * s->ld, *cell = s->extra + b * s->ld, *hc = cell + H;
    const float *c_prev = s->c_prev + b * s->ld, *peep = s->peep;
    float *dgx = s->dgx + b * LSTM_GATES * H, *dhc = s->scratch + b * H;
    float *d_cell = s->dc_prev + b * H;
    float *d_i = dgx + GATE_I * H, *d_o = dgx + GATE_O * H, *d_f = dgx + GATE_F * H;
    lps_rnn_gate_grad_rows(p, act[ACT_F], gate, dgx, (GATE_F + 1) * H);
    lps_rnn_gate_grad_rows(p, act[ACT_G], gate + GATE_C * H, dgx + GATE_C * H, H);
    lps_rnn_gate_grad_rows(NULL, act[ACT_H], hc, dhc, H);
    lstm_output_grad(s->dh + b * H, hc, gate + GATE_O * H, dhc, s->dc + b * H, d_o, d_cell, H);
    if (peep)
        lps_rnn_mul_acc_rows(d_cell, d_o, peep + PEEP_O * H, H);
    lstm_gate_grads(gate, c_prev, dgx, d_cell, H, p->input_forget);
    if (peep) {
        lps_rnn_mul_acc_rows(d_cell, d_i, peep + PEEP_I * H, H);
        lps_rnn_mul_acc_rows(d_cell, d_f, peep + PEEP_F * H, H);
    }
    if (s->dpeep) {
        lps_rnn_mul_acc_rows(s->dpeep + PEEP_I * H, d_i, c_prev, H);
        lps_rnn_mul_acc_rows(s->dpeep + PEEP_F * H, d_f, c_prev, H);
        lps_rnn_mul_acc_rows(s->dpeep + PEEP_O * H, d_o, cell, H);
    }
    memset(s->dh_prev + b * H, 0, (size_t)H * sizeof *s->dh_prev);
    memcpy(s->dgh + b * LSTM_GATES * H, dgx, (size_t)(LSTM_GATES * H) * sizeof *dgx);
}

static void lstm_step_backward(const rnn_step *s)
{
    for (int64_t b = 0; b < s->batch; b++)
        lstm_row_backward(s, b);
}

static const char *const lstm_attrs[] = {"input_forget", NULL};

static const rnn_cell lstm_cell = {
    .op_name = "LSTM",
    .gates = LSTM_GATES,
    .n_acts = 3,
    .default_acts = {RNN_ACT_SIGMOID, RNN_ACT_TANH, RNN_ACT_TANH},
    .has_c = true,
    .extra = 2,
    .attrs = lstm_attrs,
    .prepare = lstm_cell_prepare,
    .rec_gates = lstm_rec_gates,
    .step_forward = lstm_step_forward,
    .step_backward = lstm_step_backward,
};

static lps_status lstm_prepare(lps_op_node *op, lps_error *err)
{
    return lps_rnn_prepare(op, &lstm_cell, err);
}

/* Inputs X, W, R, B, sequence_lens, initial_h, initial_c, P; outputs Y, Y_h, Y_c. */
const lps_op_def lps_op_def_lstm = {
    .name = "LSTM",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 3,
    .max_inputs = RNN_IN_P + 1,
    .min_outputs = 1,
    .max_outputs = RNN_OUT_Y_C + 1,
    .differentiable = (1u << RNN_IN_X) | (1u << RNN_IN_W) | (1u << RNN_IN_R) | (1u << RNN_IN_B) |
                      (1u << RNN_IN_INITIAL_H) | (1u << RNN_IN_INITIAL_C) | (1u << RNN_IN_P),
    .prepare = lstm_prepare,
    .shape = lps_rnn_shape,
    .forward = lps_rnn_forward,
    .backward = lps_rnn_backward,
    .weights = LPS_RNN_WEIGHTS,
};
