/* The recurrent family (RNN, GRU, LSTM; opsets 7..21): one sequence driver
 * in rnn.c shared by three cells (rnn.c, gru.c, lstm.c).
 *
 * The driver owns everything the three have in common: attributes
 * (direction, hidden_size, layout, clip, activations), input checks and
 * output shapes, sequence_lens, both directions, the input projection of
 * all time steps in one GEMM (X W^T + Wb), the per-step recurrent GEMM
 * (H_{t-1} R^T + Rb), Y / Y_h / Y_c, and backpropagation through time with
 * the weight gradients as one GEMM each over all steps. A cell only turns a
 * step's projections into the new state, and back.
 *
 * Steps and time. Direction d runs S = seq_length steps; batch entry b is
 * active at step s iff s < sequence_lens[b] (all of T when omitted) and then
 * reads time t = s (forward) or t = len_b - 1 - s (reverse). An inactive
 * entry keeps its state and writes zeros to Y, so Y_h is the state after
 * len_b steps, as in onnxruntime.
 *
 * The tape. Per (direction, step, batch row) the driver keeps one row of
 * W = (gates + 1 + has_c + extra) * H floats:
 *   [ gate values (G*H) | h_prev (H) | c_prev (H, LSTM) | extra ]
 * Gate values are act(clip(pre-activation)), so backward takes every
 * derivative from them without a transcendental call; a gate value equal
 * to act(-clip) or act(clip) counts as clipped and passes no gradient.
 * In a training run forward keeps the whole tape in op->saved[0] for
 * backward; otherwise one step's rows are reused. Backward recomputes it
 * when forward did not keep it (inference-mode forward, e.g. gradcheck). */
#ifndef LPS_OPS_RNN_H
#define LPS_OPS_RNN_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op.h"

enum {
    RNN_IN_X,
    RNN_IN_W,
    RNN_IN_R,
    RNN_IN_B,
    RNN_IN_SEQ_LENS,
    RNN_IN_INITIAL_H,
    RNN_IN_INITIAL_C, /* LSTM only, as is P */
    RNN_IN_P
};
enum { RNN_OUT_Y, RNN_OUT_Y_H, RNN_OUT_Y_C };

/* W [D, G*H, I] and R [D, G*H, H]: a row per gate unit of each direction
 * (units first over two axes, docs/method.md "Prunable weights and their
 * rows"); the same declaration in all three defs. */
#define LPS_RNN_WEIGHTS                                                                            \
    {{.role = LPS_WEIGHT_LAYER, .input = RNN_IN_W, .min_rank = 3, .max_rank = 3,                  \
      .rows = LPS_ROWS_UNITS_FIRST, .unit_axes = 2},                                               \
     {.role = LPS_WEIGHT_LAYER, .input = RNN_IN_R, .min_rank = 3, .max_rank = 3,                  \
      .rows = LPS_ROWS_UNITS_FIRST, .unit_axes = 2}}

/* Activations per direction (LSTM: f, g, h) and directions. */
#define RNN_MAX_ACTS 3
#define RNN_MAX_DIRS 2
/* LSTM's peepholes P are [num_directions, 3 * hidden_size] (i, o, f). */
#define RNN_PEEPHOLES 3

typedef enum rnn_act { RNN_ACT_SIGMOID, RNN_ACT_TANH, RNN_ACT_RELU, RNN_ACT_COUNT } rnn_act;

typedef struct rnn_cell rnn_cell;

/* What prepare stores in op->params. */
typedef struct rnn_params {
    const rnn_cell *cell;
    int64_t hidden_size;       /* the attribute; -1 when absent (taken from R) */
    int n_dirs;
    bool reverse;              /* direction="reverse": direction 0 runs backwards */
    bool batch_first;          /* layout=1 */
    bool has_clip;
    float clip;
    float clip_bounds[RNN_ACT_COUNT][2]; /* act(-clip), act(clip): a gate value there was clipped */
    bool input_forget;         /* LSTM: f = 1 - i */
    bool linear_before_reset;  /* GRU */
    rnn_act act[RNN_MAX_DIRS][RNN_MAX_ACTS];
} rnn_params;

/* One step of one direction over the B batch rows. Tape rows (pre, extra,
 * h_prev, c_prev) are `ld` floats apart; every other buffer is contiguous
 * [B, width]. Forward fields are inputs of step_forward and of
 * step_backward (which reads the same tape); "out" fields are overwritten. */
typedef struct rnn_step {
    const rnn_params *p;
    int dir;
    int64_t batch, hidden, ld;
    const float *gx;        /* [B, G*H] x W^T + Wb, plus Rb for gates past rec_gates */
    const float *gh;        /* [B, rec*H] h_prev R^T + Rb for the first rec_gates gates */
    const float *r;         /* [G*H, H] this direction's R (gates past rec_gates) */
    const float *peep;      /* [3*H] this direction's P, or NULL */
    float *pre;             /* tape: out in forward, gate values (scratch: pre-activations) */
    float *extra;           /* tape: out in forward, the cell's extra floats */
    const float *h_prev, *c_prev; /* tape: state before the step (c_prev NULL w/o cell) */
    float *h, *c;           /* forward out: state after the step */
    /* backward */
    const float *dh, *dc;   /* dL/dh, dL/dc after the step (dc NULL w/o cell) */
    float *dh_prev, *dc_prev; /* out: the cell's direct part of dL/d(state before) */
    float *dgx;             /* out [B, G*H]: dL/d(x W^T + Wb) */
    float *dgh;             /* out [B, rec*H]: dL/d(h_prev R^T + Rb) */
    float *dr;              /* accumulate: dL/dR for gates past rec_gates, or NULL */
    float *dpeep;           /* accumulate [3*H], or NULL */
    float *scratch;         /* [B, H] the cell's own, contents undefined */
} rnn_step;

struct rnn_cell {
    const char *op_name;
    int gates;               /* G: gate blocks of H rows in W, R and each half of B */
    int n_acts;              /* activations per direction */
    rnn_act default_acts[RNN_MAX_ACTS];
    bool has_c;              /* LSTM: initial_c, P, Y_c */
    int extra;               /* tape floats per hidden unit beyond pre/h_prev/c_prev */
    const char *const *attrs; /* the cell's own attributes (NULL-terminated) */
    /* Reads the cell's own attributes into p. */
    lps_status (*prepare)(const lps_op_node *op, rnn_params *p, lps_error *err);
    /* Gates whose recurrent product the driver computes (G, or G - 1 for GRU
     * without linear_before_reset, whose h gate multiplies r . h_prev). */
    int (*rec_gates)(const rnn_params *p);
    /* Writes s->pre, s->extra, s->h (and s->c). */
    void (*step_forward)(const rnn_step *s);
    /* Writes s->dgx, s->dgh, s->dh_prev (and s->dc_prev); accumulates dr, dpeep. */
    void (*step_backward)(const rnn_step *s);
};

/* Parses the shared and the cell's attributes into op->params. Fails
 * (LPS_ERR_UNSUPPORTED / LPS_ERR_INVALID) naming the node and attribute. */
lps_status lps_rnn_prepare(lps_op_node *op, const rnn_cell *cell, lps_error *err);
lps_status lps_rnn_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                         lps_error *err);
lps_status lps_rnn_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                           lps_tensor *const *out, lps_error *err);
lps_status lps_rnn_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                            const lps_tensor *const *out, const lps_tensor *const *dout,
                            lps_tensor *const *din, lps_error *err);

/* A BLAS leading dimension: at least 1 even for empty matrices. */
static inline int lps_rnn_ld(int64_t cols)
{
    return cols > 0 ? (int)cols : 1;
}

/* e^x from a degree-6 polynomial on [-ln2/2, ln2/2] and an exponent shift
 * (Cephes' expf scheme): plain float arithmetic with no libm call, so the
 * array loops in rnn_act.c vectorise it and every element, scalar or
 * vector, rounds the same way (rnn_act.c; a gate value compared with
 * clip_bounds must be bit-equal however it was computed). x is clamped to
 * [RNN_EXP_LO, RNN_EXP_HI], where 2^n stays a normal float; NaN stays NaN.
 * Relative error about 2 ulp. */
#define RNN_EXP_HI 88.0f
#define RNN_EXP_LO -87.0f
#define RNN_LOG2E 1.44269504088896341f
#define RNN_LN2_HI 0.693359375f      /* ln 2 in two parts: n * LN2_HI is exact */
#define RNN_LN2_LO -2.12194440e-4f
#define RNN_ROUND_MAGIC 12582912.0f  /* 1.5 * 2^23: adding it rounds to an integer */
#define RNN_FLOAT_BIAS 127
#define RNN_FLOAT_MANT_BITS 23
static inline float lps_rnn_exp(float x)
{
    x = x > RNN_EXP_HI ? RNN_EXP_HI : (x < RNN_EXP_LO ? RNN_EXP_LO : x);
    float n = (x * RNN_LOG2E + RNN_ROUND_MAGIC) - RNN_ROUND_MAGIC;
    n = n == n ? n : 0.0f; /* NaN: any finite shift, r carries the NaN */
    float r = x - n * RNN_LN2_HI;
    r = r - n * RNN_LN2_LO;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    q = q * (r * r) + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + RNN_FLOAT_BIAS) << RNN_FLOAT_MANT_BITS;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return q * scale;
}

/* tanh from one exponential: glibc's tanhf (through expm1f) was a third of
 * an LSTM's training time. Near 0, where 1 - e^{-2|x|} would cancel, the
 * odd Taylor series to x^5 (relative error below 1e-8 for |x| < 0.1).
 * Branch-free so that array loops vectorise it. */
#define RNN_TANH_SERIES_BELOW 0.1f
static inline float lps_rnn_tanh(float x)
{
    float a = fabsf(x), x2 = x * x;
    float series = x * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f)));
    float e = lps_rnn_exp(-2.0f * a);
    float t = copysignf((1.0f - e) / (1.0f + e), x);
    return a < RNN_TANH_SERIES_BELOW ? series : t;
}

/* The logistic function 1 / (1 + e^-x). */
static inline float lps_rnn_sigmoid(float x)
{
    return 1.0f / (1.0f + lps_rnn_exp(-x));
}

/* The unclipped activation (LSTM's h(C_t)). */
static inline float lps_rnn_act(rnn_act act, float x)
{
    switch (act) {
    case RNN_ACT_SIGMOID:
        return lps_rnn_sigmoid(x);
    case RNN_ACT_TANH:
        return lps_rnn_tanh(x);
    case RNN_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case RNN_ACT_COUNT:
        break;
    }
    return x;
}

/* The activation's derivative from its value y. */
static inline float lps_rnn_act_grad(rnn_act act, float y)
{
    switch (act) {
    case RNN_ACT_SIGMOID:
        return y * (1.0f - y);
    case RNN_ACT_TANH:
        return 1.0f - y * y;
    case RNN_ACT_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    case RNN_ACT_COUNT:
        break;
    }
    return 1.0f;
}

/* act(clip(x)): the gate value of a raw pre-activation. */
static inline float lps_rnn_gate(const rnn_params *p, rnn_act act, float x)
{
    if (p->has_clip)
        x = x < -p->clip ? -p->clip : (x > p->clip ? p->clip : x);
    return lps_rnn_act(act, x);
}

/* d act(clip(x)) / dx from the gate value y = lps_rnn_gate(p, act, x); 0
 * where clipped. */
static inline float lps_rnn_gate_grad(const rnn_params *p, rnn_act act, float y)
{
    if (p->has_clip && (y == p->clip_bounds[act][0] || y == p->clip_bounds[act][1]))
        return 0.0f;
    return lps_rnn_act_grad(act, y);
}

/* Array forms (rnn_act.c), each element exactly as the scalar function
 * above computes it; x, y, a, b of one call never overlap unless stated. */
/* x[k] = act(x[k]) in place (LSTM's h(C_t): unclipped). */
void lps_rnn_act_rows(rnn_act act, float *x, int64_t n);
/* x[k] = lps_rnn_gate(p, act, x[k]) in place. */
void lps_rnn_gate_rows(const rnn_params *p, rnn_act act, float *x, int64_t n);
/* g[k] = lps_rnn_gate_grad(p, act, y[k]) (clip: NULL for the unclipped
 * lps_rnn_act_grad). */
void lps_rnn_gate_grad_rows(const rnn_params *clip, rnn_act act, const float *y, float *g,
                            int64_t n);
/* y[k] = a[k] + b[k]. */
void lps_rnn_add_rows(float *y, const float *a, const float *b, int64_t n);
/* y[k] = a[k] * b[k]. */
void lps_rnn_mul_rows(float *y, const float *a, const float *b, int64_t n);
/* y[k] += a[k] * b[k]. */
void lps_rnn_mul_acc_rows(float *y, const float *a, const float *b, int64_t n);
/* y[k] += x[k]. */
void lps_rnn_acc_rows(float *y, const float *x, int64_t n);

#endif
