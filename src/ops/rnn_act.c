/* Array forms of the recurrent cells' activations and element-wise steps
 * (rnn.h). The cells call them on whole gate blocks of a batch row, so the
 * loops vectorise (and get an AVX2 variant, simd.h) where the per-element
 * scalar code did not: no libm call (lps_rnn_exp), no branch on the
 * activation or the clip inside a loop, restrict-qualified buffers. Each
 * element rounds exactly as the scalar function of rnn.h computes it. */
#include "ops/rnn.h"
#include "ops/simd.h"

LPS_VECTOR_CLONES static void sigmoid_rows(float *restrict x, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        x[k] = lps_rnn_sigmoid(x[k]);
}

LPS_VECTOR_CLONES static void tanh_rows(float *restrict x, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        x[k] = lps_rnn_tanh(x[k]);
}

LPS_VECTOR_CLONES static void relu_rows(float *restrict x, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        x[k] = x[k] > 0.0f ? x[k] : 0.0f;
}

/* The clip of lps_rnn_gate. */
LPS_VECTOR_CLONES static void clip_rows(float *restrict x, int64_t n, float clip)
{
    for (int64_t k = 0; k < n; k++)
        x[k] = x[k] < -clip ? -clip : (x[k] > clip ? clip : x[k]);
}

void lps_rnn_act_rows(rnn_act act, float *x, int64_t n)
{
    switch (act) {
    case RNN_ACT_SIGMOID:
        sigmoid_rows(x, n);
        break;
    case RNN_ACT_TANH:
        tanh_rows(x, n);
        break;
    case RNN_ACT_RELU:
        relu_rows(x, n);
        break;
    case RNN_ACT_COUNT:
        break;
    }
}

void lps_rnn_gate_rows(const rnn_params *p, rnn_act act, float *x, int64_t n)
{
    if (p->has_clip)
        clip_rows(x, n, p->clip);
    lps_rnn_act_rows(act, x, n);
}

LPS_VECTOR_CLONES static void sigmoid_grad_rows(const float *restrict y, float *restrict g,
                                                int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        g[k] = y[k] * (1.0f - y[k]);
}

LPS_VECTOR_CLONES static void tanh_grad_rows(const float *restrict y, float *restrict g, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        g[k] = 1.0f - y[k] * y[k];
}

LPS_VECTOR_CLONES static void relu_grad_rows(const float *restrict y, float *restrict g, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        g[k] = y[k] > 0.0f ? 1.0f : 0.0f;
}

/* Zeroes g where y sits on a clip bound (lps_rnn_gate_grad). */
LPS_VECTOR_CLONES static void clip_grad_rows(const float *restrict y, float *restrict g, int64_t n,
                                             float lo, float hi)
{
    for (int64_t k = 0; k < n; k++)
        g[k] = y[k] == lo || y[k] == hi ? 0.0f : g[k];
}

void lps_rnn_gate_grad_rows(const rnn_params *clip, rnn_act act, const float *y, float *g,
                            int64_t n)
{
    switch (act) {
    case RNN_ACT_SIGMOID:
        sigmoid_grad_rows(y, g, n);
        break;
    case RNN_ACT_TANH:
        tanh_grad_rows(y, g, n);
        break;
    case RNN_ACT_RELU:
        relu_grad_rows(y, g, n);
        break;
    case RNN_ACT_COUNT:
        return;
    }
    if (clip && clip->has_clip)
        clip_grad_rows(y, g, n, clip->clip_bounds[act][0], clip->clip_bounds[act][1]);
}

LPS_VECTOR_CLONES void lps_rnn_add_rows(float *restrict y, const float *restrict a,
                                        const float *restrict b, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] = a[k] + b[k];
}

LPS_VECTOR_CLONES void lps_rnn_mul_rows(float *restrict y, const float *restrict a,
                                        const float *restrict b, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] = a[k] * b[k];
}

LPS_VECTOR_CLONES void lps_rnn_mul_acc_rows(float *restrict y, const float *restrict a,
                                            const float *restrict b, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] += a[k] * b[k];
}

LPS_VECTOR_CLONES void lps_rnn_acc_rows(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        y[k] += x[k];
}
