/* Element-wise float activations: Relu, LeakyRelu, Sigmoid, Tanh, Exp, Neg,
 * Sqrt, Clip, HardSigmoid, HardSwish, Gelu, Softplus, Elu and Selu.
 *
 * One table row per operator holds its two kernels and its attributes with
 * their defaults; the drivers are shared (src/ops/unary.c). Derivatives at a
 * kink follow PyTorch's autograd (the one-sided value it picks is named at
 * each kernel), so gradients checked against it agree everywhere. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/unary.h"
#include "ops/simd.h"

/* LeakyRelu's alpha when the attribute is absent (every opset). */
#define LEAKY_RELU_DEFAULT_ALPHA 0.01f
/* Clip takes its bounds from inputs 1 and 2 instead of attributes from this opset. */
#define CLIP_INPUT_BOUNDS_OPSET 11
/* HardSigmoid's defaults; HardSwish is x * HardSigmoid(x) with alpha 1/6. */
#define HARD_SIGMOID_DEFAULT_ALPHA 0.2f
#define HARD_SIGMOID_DEFAULT_BETA 0.5f
#define HARD_SWISH_ALPHA (1.0f / 6.0f)
#define HARD_SWISH_BETA 0.5f
#define ELU_DEFAULT_ALPHA 1.0f
/* Selu's defaults as the ONNX schema writes them (float32 values). */
#define SELU_DEFAULT_ALPHA 1.67326319217681884765625f
#define SELU_DEFAULT_GAMMA 1.05070102214813232421875f
/* Gelu: 1/sqrt(2), sqrt(2/pi), 1/sqrt(2 pi) and the tanh form's cubic term. */
#define GELU_INV_SQRT2 0.70710678118654752440f
#define GELU_SQRT_2_OVER_PI 0.79788456080286535588f
#define GELU_INV_SQRT_2PI 0.39894228040143267794f
#define GELU_CUBIC 0.044715f
/* Operators that appeared after LPS_OPSET_MIN. */
#define HARD_SWISH_SINCE 14
#define GELU_SINCE 20

/* v where keep holds, else +0: a comparison mask instead of ?: keeps the
 * loops branch-free at -O2, where GCC compiles the select to a branch that
 * mispredicts on about half of the elements (a fifth of LeNet-300's
 * forward time, an eighth of MobileNetV2's training step in Clip's
 * backward); -O3 vectorizes both forms. */
static inline float masked(float v, bool keep)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= -(uint32_t)keep;
    memcpy(&v, &bits, sizeof bits);
    return v;
}

/* Like the select, maps NaN and -0 to +0. */
LPS_VECTOR_CLONES
static void relu_fwd(const float *restrict x, float *restrict y, int64_t n,
                     const lps_unary_params *p)
{
    (void)p;
    for (int64_t i = 0; i < n; i++)
        y[i] = masked(x[i], x[i] > 0.0f);
}

LPS_VECTOR_CLONES
static void relu_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const lps_unary_params *p)
{
    (void)y, (void)p;
    for (int64_t i = 0; i < n; i++)
        dx[i] += masked(dy[i], x[i] > 0.0f);
}

LPS_UNARY_MAP(leaky_relu_fwd, v > 0.0f ? v : p->alpha * v)
LPS_UNARY_GRAD(leaky_relu_bwd, v > 0.0f ? 1.0f : p->alpha)
LPS_UNARY_MAP(sigmoid_fwd, 1.0f / (1.0f + expf(-v)))
LPS_UNARY_GRAD(sigmoid_bwd, out * (1.0f - out))
LPS_UNARY_MAP(tanh_fwd, tanhf(v))
LPS_UNARY_GRAD(tanh_bwd, 1.0f - out * out)
LPS_UNARY_MAP(exp_fwd, expf(v))
LPS_UNARY_GRAD(exp_bwd, out)
LPS_UNARY_MAP(neg_fwd, -v)
LPS_UNARY_GRAD(neg_bwd, -1.0f)
LPS_UNARY_MAP(sqrt_fwd, sqrtf(v))
LPS_UNARY_GRAD(sqrt_bwd, 0.5f / out)

/* min(max(x, lo), hi): when lo > hi every output is hi, as ONNX specifies. */
static void clip_fwd(const float *restrict x, float *restrict y, int64_t n,
                     const lps_unary_params *p)
{
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

/* The gradient passes only strictly inside the bounds. */
static void clip_bwd(const float *restrict x, const float *restrict y, const float *restrict dy,
                     float *restrict dx, int64_t n, const lps_unary_params *p)
{
    (void)y;
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++)
        dx[i] += masked(dy[i], (x[i] > lo) & (x[i] < hi));
}

/* HardSigmoid: max(0, min(1, alpha x + beta)); the gradient alpha passes
 * strictly inside the linear piece. */
static inline float hard_sigmoid_slope(float v, const lps_unary_params *p)
{
    float t = p->alpha * v + p->beta;
    return (t > 0.0f && t < 1.0f) ? p->alpha : 0.0f;
}

LPS_UNARY_MAP(hard_sigmoid_fwd, fminf(1.0f, fmaxf(0.0f, p->alpha * v + p->beta)))
LPS_UNARY_GRAD(hard_sigmoid_bwd, hard_sigmoid_slope(v, p))

/* HardSwish: x HardSigmoid(x) with alpha 1/6, beta 1/2 (x relu6(x+3)/6).
 * Its derivative is PyTorch's hardswish_backward: 0 below -3, x/3 + 1/2 on
 * [-3, 3], 1 above. */
static inline float hard_swish_slope(float v)
{
    const float edge = HARD_SWISH_BETA / HARD_SWISH_ALPHA;
    return v < -edge ? 0.0f : v <= edge ? 2.0f * HARD_SWISH_ALPHA * v + HARD_SWISH_BETA : 1.0f;
}

LPS_UNARY_MAP(hard_swish_fwd, v * fminf(1.0f, fmaxf(0.0f, HARD_SWISH_ALPHA * v + HARD_SWISH_BETA)))
LPS_UNARY_GRAD(hard_swish_bwd, hard_swish_slope(v))

/* Gelu: x Phi(x) with the exact normal CDF, or its tanh approximation
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + c x^3))). */
static inline float gelu_value(float v, int approximate)
{
    if (approximate == LPS_GELU_TANH)
        return 0.5f * v * (1.0f + tanhf(GELU_SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)));
    return 0.5f * v * (1.0f + erff(v * GELU_INV_SQRT2));
}

static inline float gelu_slope(float v, int approximate)
{
    if (approximate == LPS_GELU_TANH) {
        float t = tanhf(GELU_SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
        float dt = GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * v * v);
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dt;
    }
    float cdf = 0.5f * (1.0f + erff(v * GELU_INV_SQRT2));
    return cdf + v * GELU_INV_SQRT_2PI * expf(-0.5f * v * v);
}

LPS_UNARY_MAP(gelu_fwd, gelu_value(v, p->approximate))
LPS_UNARY_GRAD(gelu_bwd, gelu_slope(v, p->approximate))

/* Softplus: log(1 + e^x), written so that neither branch overflows; its
 * derivative sigmoid(x) is 1 - e^-y. */
LPS_UNARY_MAP(softplus_fwd, v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v)))
LPS_UNARY_GRAD(softplus_bwd, -expm1f(-out))

/* Elu and Selu: gamma (x for x > 0, alpha (e^x - 1) otherwise); Elu has
 * gamma 1. At 0 the gradient is the left one, gamma alpha, as PyTorch's. */
LPS_UNARY_MAP(elu_fwd, p->gamma * (v > 0.0f ? v : p->alpha * expm1f(v)))
LPS_UNARY_GRAD(elu_bwd, p->gamma * (v > 0.0f ? 1.0f : p->alpha * expf(v)))

static const char *const leaky_relu_attrs[] = {"alpha", NULL};
static const char *const clip_attr_bounds[] = {"min", "max", NULL};
static const char *const hard_sigmoid_attrs[] = {"alpha", "beta", NULL};
static const char *const elu_attrs[] = {"alpha", NULL};
static const char *const selu_attrs[] = {"alpha", "gamma", NULL};
static const char *const gelu_attrs[] = {"approximate", NULL};

#define NO_ATTRS lps_unary_no_attrs

static const lps_unary_kernel activation_kernels[] = {
    {LPS_OP_RELU, relu_fwd, relu_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_LEAKY_RELU, leaky_relu_fwd, leaky_relu_bwd, leaky_relu_attrs,
     {.alpha = LEAKY_RELU_DEFAULT_ALPHA}, 0},
    {LPS_OP_SIGMOID, sigmoid_fwd, sigmoid_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_TANH, tanh_fwd, tanh_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_EXP, exp_fwd, exp_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_NEG, neg_fwd, neg_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_SQRT, sqrt_fwd, sqrt_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_CLIP, clip_fwd, clip_bwd, clip_attr_bounds, {.lo = -FLT_MAX, .hi = FLT_MAX},
     CLIP_INPUT_BOUNDS_OPSET},
    {LPS_OP_HARD_SIGMOID, hard_sigmoid_fwd, hard_sigmoid_bwd, hard_sigmoid_attrs,
     {.alpha = HARD_SIGMOID_DEFAULT_ALPHA, .beta = HARD_SIGMOID_DEFAULT_BETA}, 0},
    {LPS_OP_HARD_SWISH, hard_swish_fwd, hard_swish_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_GELU, gelu_fwd, gelu_bwd, gelu_attrs, {.approximate = LPS_GELU_NONE}, 0},
    {LPS_OP_SOFTPLUS, softplus_fwd, softplus_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_ELU, elu_fwd, elu_bwd, elu_attrs, {.alpha = ELU_DEFAULT_ALPHA, .gamma = 1.0f}, 0},
    {LPS_OP_SELU, elu_fwd, elu_bwd, selu_attrs,
     {.alpha = SELU_DEFAULT_ALPHA, .gamma = SELU_DEFAULT_GAMMA}, 0},
};

static lps_status activation_prepare(lps_op_node *op, lps_error *err)
{
    return lps_unary_prepare_from(op, activation_kernels,
                                  sizeof activation_kernels / sizeof activation_kernels[0], err);
}

/* Clip: data plus optional min and max from opset 11. */
#define CLIP_MAX_INPUTS 3

/* Relu as a producer's fused activation (docs/architecture.md, "Fused
 * activations"): the same kernels, the gradient masked by the output
 * (y > 0 exactly where x > 0). */
LPS_VECTOR_CLONES
static void relu_epilogue_fwd(const lps_op_node *act, float *y, int64_t n)
{
    (void)act;
    for (int64_t i = 0; i < n; i++)
        y[i] = masked(y[i], y[i] > 0.0f);
}

LPS_VECTOR_CLONES
static void relu_epilogue_bwd(const lps_op_node *act, const float *y, const float *dy, float *g,
                              int64_t n)
{
    (void)act;
    for (int64_t i = 0; i < n; i++)
        g[i] = masked(dy[i], y[i] > 0.0f);
}

static lps_clamp relu_epilogue_clamp(const lps_op_node *act)
{
    (void)act;
    return (lps_clamp){LPS_CLAMP_RELU, 0.0f, 0.0f};
}

static const lps_op_epilogue relu_epilogue = {relu_epilogue_fwd, relu_epilogue_bwd, 0, NULL,
                                              relu_epilogue_clamp};

/* Clip (MobileNet's ReLU6) as a fused activation, its bounds constant
 * (attributes, or inputs bound at compile): the gradient passes where the
 * output lies strictly inside the bounds, which is where the input does
 * (clip_bwd's mask; with lo > hi neither holds anywhere). */
LPS_VECTOR_CLONES
static void clip_epilogue_fwd(const lps_op_node *act, float *y, int64_t n)
{
    const lps_unary_params *p = lps_unary_node_params(act);
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] < lo ? lo : y[i];
        y[i] = v > hi ? hi : v;
    }
}

LPS_VECTOR_CLONES
static void clip_epilogue_bwd(const lps_op_node *act, const float *y, const float *dy, float *g,
                              int64_t n)
{
    const lps_unary_params *p = lps_unary_node_params(act);
    float lo = p->lo, hi = p->hi;
    for (int64_t i = 0; i < n; i++)
        g[i] = masked(dy[i], (y[i] > lo) & (y[i] < hi));
}

/* Inputs 1 and 2, min and max. */
#define CLIP_BOUND_INPUTS ((1u << 1) | (1u << 2))

static lps_clamp clip_epilogue_clamp(const lps_op_node *act)
{
    const lps_unary_params *p = lps_unary_node_params(act);
    return (lps_clamp){LPS_CLAMP_RANGE, p->lo, p->hi};
}

static const lps_op_epilogue clip_epilogue = {clip_epilogue_fwd, clip_epilogue_bwd,
                                              CLIP_BOUND_INPUTS, lps_unary_bind_inputs,
                                              clip_epilogue_clamp};

const lps_op_def lps_op_def_relu = LPS_UNARY_OP_FUSABLE(
    "Relu", LPS_OPSET_MIN, activation_prepare, 1u, lps_unary_backward, &relu_epilogue);
const lps_op_def lps_op_def_leaky_relu =
    LPS_UNARY_OP("LeakyRelu", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_sigmoid = LPS_UNARY_OP("Sigmoid", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_tanh = LPS_UNARY_OP("Tanh", LPS_OPSET_MIN, activation_prepare);

const lps_op_def lps_op_def_clip = {
    .name = "Clip",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = CLIP_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u, /* the data, not the bounds */
    .epilogue = &clip_epilogue,
    .prepare = activation_prepare,
    .shape = lps_unary_shape,
    .forward = lps_unary_forward,
    .backward = lps_unary_backward,
};

const lps_op_def lps_op_def_exp = LPS_UNARY_OP("Exp", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_neg = LPS_UNARY_OP("Neg", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_sqrt = LPS_UNARY_OP("Sqrt", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_hard_sigmoid =
    LPS_UNARY_OP("HardSigmoid", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_hard_swish =
    LPS_UNARY_OP("HardSwish", HARD_SWISH_SINCE, activation_prepare);
const lps_op_def lps_op_def_gelu = LPS_UNARY_OP("Gelu", GELU_SINCE, activation_prepare);
const lps_op_def lps_op_def_softplus = LPS_UNARY_OP("Softplus", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_elu = LPS_UNARY_OP("Elu", LPS_OPSET_MIN, activation_prepare);
const lps_op_def lps_op_def_selu = LPS_UNARY_OP("Selu", LPS_OPSET_MIN, activation_prepare);
