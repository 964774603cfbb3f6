/* GRU (opsets 7..21), a cell of the recurrent driver (rnn.h). Gates in W,
 * R and B are ordered z, r, h. With activations f, g (default Sigmoid,
 * Tanh), x_* = X_t W_*^T + Wb_* and h_* = H_{t-1} R_*^T + Rb_*:
 *   z = f(x_z + h_z)   r = f(x_r + h_r)
 *   n = g(x_h + (r . H_{t-1}) R_h^T + Rb_h)   linear_before_reset = 0
 *   n = g(x_h + r . h_h)                       linear_before_reset = 1
 *   H_t = (1 - z) . n + z . H_{t-1}
 * Without linear_before_reset the driver's recurrent GEMM covers z and r
 * only and the cell multiplies r . H_{t-1} by R_h itself (Rb_h then rides
 * with the projection). The tape's extra float per unit is r . H_{t-1}
 * (linear_before_reset = 0) or h_h (= 1). */
#include "ops/rnn.h"

#include <cblas.h>

enum { GATE_Z, GATE_R, GATE_H, GRU_GATES };
enum { ACT_F, ACT_G };

static lps_status gru_cell_prepare(const lps_op_node *op, rnn_params *p, lps_error *err)
{
    int64_t lbr = 0;
    lps_status st = lps_op_attr_int(op, "linear_before_reset", 0, &lbr, err);
    if (st != LPS_OK)
        return st;
    p->linear_before_reset = lbr != 0;
    return LPS_OK;
}

static int gru_rec_gates(const rnn_params *p)
{
    return p->linear_before_reset ? GRU_GATES : GRU_GATES - 1;
}

/* pre_h = x_h + (r . H_{t-1}) R_h^T, with r . H_{t-1} already in extra. */
static void reset_product(const rnn_step *s)
{
    int64_t H = s->hidden;
    if (s->batch == 0 || H == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->batch, (int)H, (int)H, 1.0f,
                s->extra, lps_rnn_ld(s->ld), s->r + GATE_H * H * H, lps_rnn_ld(H), 1.0f,
                s->pre + GATE_H * H, lps_rnn_ld(s->ld));
}

static void gru_step_forward(const rnn_step *s)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden, rec = gru_rec_gates(p) * H;
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gx = s->gx + b * GRU_GATES * H, *gh = s->gh + b * rec;
        const float *h_prev = s->h_prev + b * s->ld;
        float *gate = s->pre + b * s->ld, *extra = s->extra + b * s->ld;
        for (int64_t j = 0; j < H; j++) {
            float r = lps_rnn_gate(p, act[ACT_F], gx[GATE_R * H + j] + gh[GATE_R * H + j]);
            gate[GATE_Z * H + j] =
                lps_rnn_gate(p, act[ACT_F], gx[GATE_Z * H + j] + gh[GATE_Z * H + j]);
            gate[GATE_R * H + j] = r;
            extra[j] = p->linear_before_reset ? gh[GATE_H * H + j] : r * h_prev[j];
            /* the h gate's pre-activation for now; its value after the product */
            gate[GATE_H * H + j] =
                gx[GATE_H * H + j] + (p->linear_before_reset ? r * extra[j] : 0.0f);
        }
    }
    if (!p->linear_before_reset)
        reset_product(s);
    for (int64_t b = 0; b < s->batch; b++) {
        const float *h_prev = s->h_prev + b * s->ld;
        float *gate = s->pre + b * s->ld, *h = s->h + b * H;
        for (int64_t j = 0; j < H; j++) {
            float z = gate[GATE_Z * H + j];
            float n = gate[GATE_H * H + j] = lps_rnn_gate(p, act[ACT_G], gate[GATE_H * H + j]);
            h[j] = (1.0f - z) * n + z * h_prev[j];
        }
    }
}

/* First half of a step back: dgx for gate h, dz, and dh_prev's z part. */
static void gru_back_candidate(const rnn_step *s)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden;
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gate = s->pre + b * s->ld, *h_prev = s->h_prev + b * s->ld;
        const float *dh = s->dh + b * H;
        float *dgx = s->dgx + b * GRU_GATES * H;
        for (int64_t j = 0; j < H; j++) {
            float z = gate[GATE_Z * H + j], n = gate[GATE_H * H + j];
            dgx[GATE_H * H + j] = dh[j] * (1.0f - z) * lps_rnn_gate_grad(p, act[ACT_G], n);
            dgx[GATE_Z * H + j] = dh[j] * (h_prev[j] - n) * lps_rnn_gate_grad(p, act[ACT_F], z);
            s->dh_prev[b * H + j] = dh[j] * z;
        }
    }
}

/* Without linear_before_reset: dR_h += dpre_h^T (r . H_{t-1}) and
 * scratch = dpre_h R_h = dL/d(r . H_{t-1}). */
static void gru_back_reset_product(const rnn_step *s)
{
    int64_t H = s->hidden, G = GRU_GATES * H;
    if (s->batch == 0 || H == 0)
        return;
    const float *dpre_h = s->dgx + GATE_H * H;
    if (s->dr)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)H, (int)s->batch, 1.0f,
                    dpre_h, lps_rnn_ld(G), s->extra, lps_rnn_ld(s->ld), 1.0f,
                    s->dr + GATE_H * H * H, lps_rnn_ld(H));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->batch, (int)H, (int)H, 1.0f,
                dpre_h, lps_rnn_ld(G), s->r + GATE_H * H * H, lps_rnn_ld(H), 0.0f, s->scratch,
                lps_rnn_ld(H));
}

static void gru_step_backward(const rnn_step *s)
{
    const rnn_params *p = s->p;
    const rnn_act *act = p->act[s->dir];
    int64_t H = s->hidden, rec = gru_rec_gates(p) * H;
    gru_back_candidate(s);
    if (!p->linear_before_reset)
        gru_back_reset_product(s);
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gate = s->pre + b * s->ld, *extra = s->extra + b * s->ld;
        const float *h_prev = s->h_prev + b * s->ld;
        float *dgx = s->dgx + b * GRU_GATES * H, *dgh = s->dgh + b * rec;
        for (int64_t j = 0; j < H; j++) {
            float r = gate[GATE_R * H + j];
            float dpre_h = dgx[GATE_H * H + j], dr;
            if (p->linear_before_reset) {
                dgh[GATE_H * H + j] = dpre_h * r;
                dr = dpre_h * extra[j];
            } else {
                float dq = s->scratch[b * H + j];
                dr = dq * h_prev[j];
                s->dh_prev[b * H + j] += dq * r;
            }
            dgx[GATE_R * H + j] = dgh[GATE_R * H + j] =
                dr * lps_rnn_gate_grad(p, act[ACT_F], r);
            dgh[GATE_Z * H + j] = dgx[GATE_Z * H + j];
        }
    }
}

static const char *const gru_attrs[] = {"linear_before_reset", NULL};

static const rnn_cell gru_cell = {
    .op_name = "GRU",
    .gates = GRU_GATES,
    .n_acts = 2,
    .default_acts = {RNN_ACT_SIGMOID, RNN_ACT_TANH},
    .has_c = false,
    .extra = 1,
    .attrs = gru_attrs,
    .prepare = gru_cell_prepare,
    .rec_gates = gru_rec_gates,
    .step_forward = gru_step_forward,
    .step_backward = gru_step_backward,
};

static lps_status gru_prepare(lps_op_node *op, lps_error *err)
{
    return lps_rnn_prepare(op, &gru_cell, err);
}

/* Inputs X, W, R, B, sequence_lens, initial_h; outputs Y, Y_h. */
const lps_op_def lps_op_def_gru = {
    .name = "GRU",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 3,
    .max_inputs = RNN_IN_INITIAL_H + 1,
    .min_outputs = 1,
    .max_outputs = RNN_OUT_Y_H + 1,
    .differentiable = (1u << RNN_IN_X) | (1u << RNN_IN_W) | (1u << RNN_IN_R) | (1u << RNN_IN_B) |
                      (1u << RNN_IN_INITIAL_H),
    .prepare = gru_prepare,
    .shape = lps_rnn_shape,
    .forward = lps_rnn_forward,
    .backward = lps_rnn_backward,
    .weights = LPS_RNN_WEIGHTS,
};
