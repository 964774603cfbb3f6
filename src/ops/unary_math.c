/* Element-wise float math: Erf, Abs, Log, Reciprocal, Sin, Cos and the
 * piecewise-constant Sign, Floor and Ceil (no gradient flows through those,
 * which is what PyTorch's zero derivative amounts to).
 *
 * Rows of the shared unary driver (src/ops/unary.c). Where a derivative has
 * a kink (Abs at 0) the value is PyTorch's: sign(0) = 0. */
#include <math.h>
#include <stdint.h>

#include "ops/unary.h"

/* 2 / sqrt(pi), the scale of erf's derivative. */
#define TWO_OVER_SQRT_PI 1.12837916709551257390f
/* Erf and Sign appeared in opset 9; the others are unchanged from
 * LPS_OPSET_MIN on (later versions only add element types). */
#define ERF_SIGN_SINCE 9

/* -1, 0 or 1 (NaN stays NaN). */
static inline float sign_of(float v)
{
    return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v;
}

LPS_UNARY_MAP(erf_fwd, erff(v))
LPS_UNARY_GRAD(erf_bwd, TWO_OVER_SQRT_PI * expf(-v * v))
LPS_UNARY_MAP(abs_fwd, fabsf(v))
LPS_UNARY_GRAD(abs_bwd, sign_of(v))
LPS_UNARY_MAP(log_fwd, logf(v))
LPS_UNARY_GRAD(log_bwd, 1.0f / v)
LPS_UNARY_MAP(reciprocal_fwd, 1.0f / v)
LPS_UNARY_GRAD(reciprocal_bwd, -out * out) /* d(1/x)/dx = -1/x^2 = -y^2 */
LPS_UNARY_MAP(sin_fwd, sinf(v))
LPS_UNARY_GRAD(sin_bwd, cosf(v))
LPS_UNARY_MAP(cos_fwd, cosf(v))
LPS_UNARY_GRAD(cos_bwd, -sinf(v))
LPS_UNARY_MAP(sign_fwd, sign_of(v))
LPS_UNARY_MAP(floor_fwd, floorf(v))
LPS_UNARY_MAP(ceil_fwd, ceilf(v))

#define NO_ATTRS lps_unary_no_attrs

static const lps_unary_kernel math_kernels[] = {
    {LPS_OP_ERF, erf_fwd, erf_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_ABS, abs_fwd, abs_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_LOG, log_fwd, log_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_RECIPROCAL, reciprocal_fwd, reciprocal_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_SIN, sin_fwd, sin_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_COS, cos_fwd, cos_bwd, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_SIGN, sign_fwd, NULL, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_FLOOR, floor_fwd, NULL, NO_ATTRS, {.alpha = 0.0f}, 0},
    {LPS_OP_CEIL, ceil_fwd, NULL, NO_ATTRS, {.alpha = 0.0f}, 0},
};

static lps_status math_prepare(lps_op_node *op, lps_error *err)
{
    return lps_unary_prepare_from(op, math_kernels, sizeof math_kernels / sizeof math_kernels[0],
                                  err);
}

const lps_op_def lps_op_def_erf = LPS_UNARY_OP("Erf", ERF_SIGN_SINCE, math_prepare);
const lps_op_def lps_op_def_abs = LPS_UNARY_OP("Abs", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_log = LPS_UNARY_OP("Log", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_reciprocal = LPS_UNARY_OP("Reciprocal", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_sin = LPS_UNARY_OP("Sin", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_cos = LPS_UNARY_OP("Cos", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_sign = LPS_UNARY_OP_NOGRAD("Sign", ERF_SIGN_SINCE, math_prepare);
const lps_op_def lps_op_def_floor = LPS_UNARY_OP_NOGRAD("Floor", LPS_OPSET_MIN, math_prepare);
const lps_op_def lps_op_def_ceil = LPS_UNARY_OP_NOGRAD("Ceil", LPS_OPSET_MIN, math_prepare);
