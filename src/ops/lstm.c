/* LSTM (opsets 7..21), a cell of the recurrent driver (rnn.h). Gates in
 * W, R and B are ordered i, o, f, c; peepholes P are i, o, f. With
 * activations f, g, h (default Sigmoid, Tanh, Tanh):
 *   i = f(x_i + h_i + P_i . C_{t-1})   f = f(x_f + h_f + P_f . C_{t-1})
 *   c = g(x_c + h_c)                   C_t = f . C_{t-1} + i . c
 *   o = f(x_o + h_o + P_o . C_t)       H_t = o . h(C_t)
 * where x_* = X_t W_*^T + Wb_* and h_* = H_{t-1} R_*^T + Rb_*. clip bounds
 * the gate pre-activations (not C_t); input_forget=1 couples f = 1 - i, as
 * onnxruntime does. The tape's extra floats per unit are C_t and h(C_t). */
#include "ops/rnn.h"

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

/* The peephole weight of gate `which` for unit j, 0 without P. */
static float peep(const rnn_step *s, int which, int64_t j)
{
    return s->peep ? s->peep[which * s->hidden + j] : 0.0f;
}

static void lstm_step_forward(const rnn_step *s)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden;
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gx = s->gx + b * LSTM_GATES * H, *gh = s->gh + b * LSTM_GATES * H;
        const float *c_prev = s->c_prev + b * s->ld;
        float *gate = s->pre + b * s->ld, *cell = s->extra + b * s->ld, *hc = cell + H;
        float *h = s->h + b * H, *c = s->c + b * H;
        for (int64_t j = 0; j < H; j++) {
            float xi = gx[GATE_I * H + j] + gh[GATE_I * H + j] + peep(s, PEEP_I, j) * c_prev[j];
            float xf = gx[GATE_F * H + j] + gh[GATE_F * H + j] + peep(s, PEEP_F, j) * c_prev[j];
            float i = lps_rnn_gate(p, act[ACT_F], xi);
            float f = p->input_forget ? 1.0f - i : lps_rnn_gate(p, act[ACT_F], xf);
            float g = lps_rnn_gate(p, act[ACT_G], gx[GATE_C * H + j] + gh[GATE_C * H + j]);
            c[j] = cell[j] = f * c_prev[j] + i * g;
            float xo = gx[GATE_O * H + j] + gh[GATE_O * H + j] + peep(s, PEEP_O, j) * cell[j];
            float o = lps_rnn_gate(p, act[ACT_F], xo);
            hc[j] = lps_rnn_act(act[ACT_H], cell[j]);
            h[j] = o * hc[j];
            gate[GATE_I * H + j] = i;
            gate[GATE_O * H + j] = o;
            gate[GATE_F * H + j] = f;
            gate[GATE_C * H + j] = g;
        }
    }
}

static void lstm_step_backward(const rnn_step *s)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden;
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gate = s->pre + b * s->ld, *cell = s->extra + b * s->ld, *hc = cell + H;
        const float *c_prev = s->c_prev + b * s->ld;
        const float *dh = s->dh + b * H, *dc = s->dc + b * H;
        float *dgx = s->dgx + b * LSTM_GATES * H, *dgh = s->dgh + b * LSTM_GATES * H;
        for (int64_t j = 0; j < H; j++) {
            float i = gate[GATE_I * H + j], o = gate[GATE_O * H + j];
            float f = gate[GATE_F * H + j], g = gate[GATE_C * H + j];
            float d_o = dh[j] * hc[j] * lps_rnn_gate_grad(p, act[ACT_F], o);
            float d_cell = dc[j] + dh[j] * o * lps_rnn_act_grad(act[ACT_H], hc[j]) +
                           d_o * peep(s, PEEP_O, j);
            float d_i = d_cell * g, d_f = d_cell * c_prev[j];
            float d_c = d_cell * i * lps_rnn_gate_grad(p, act[ACT_G], g);
            if (p->input_forget) {
                d_i -= d_f;
                d_f = 0.0f;
            } else {
                d_f *= lps_rnn_gate_grad(p, act[ACT_F], f);
            }
            d_i *= lps_rnn_gate_grad(p, act[ACT_F], i);
            s->dc_prev[b * H + j] = d_cell * f + d_i * peep(s, PEEP_I, j) + d_f * peep(s, PEEP_F, j);
            s->dh_prev[b * H + j] = 0.0f;
            if (s->dpeep) {
                s->dpeep[PEEP_I * H + j] += d_i * c_prev[j];
                s->dpeep[PEEP_F * H + j] += d_f * c_prev[j];
                s->dpeep[PEEP_O * H + j] += d_o * cell[j];
            }
            dgx[GATE_I * H + j] = dgh[GATE_I * H + j] = d_i;
            dgx[GATE_O * H + j] = dgh[GATE_O * H + j] = d_o;
            dgx[GATE_F * H + j] = dgh[GATE_F * H + j] = d_f;
            dgx[GATE_C * H + j] = dgh[GATE_C * H + j] = d_c;
        }
    }
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
