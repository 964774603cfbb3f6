/* Shared driver of the float element-wise unary operators (activation.c,
 * unary_math.c).
 *
 * A family file lists one lps_unary_kernel per operator: its forward
 * (y = f(x) over a whole buffer) and backward (dx += dy * f'(x)) kernels,
 * the attributes it accepts and their defaults. prepare, shape, forward and
 * backward are common: the family's prepare finds its row by op->kind with
 * lps_unary_prepare_from, the rest is LPS_UNARY_OP. Kernels see both x
 * and y so each derivative uses whichever is cheaper. */
#ifndef LPS_OPS_UNARY_H
#define LPS_OPS_UNARY_H

#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"

/* Scalar parameters a kernel may read. Attributes named "alpha", "beta" and
 * "gamma" fill the same-named fields; Clip's "min"/"max" fill lo/hi. */
typedef struct lps_unary_params {
    float alpha, beta, gamma;
    float lo, hi;        /* Clip bounds */
    int approximate;     /* Gelu: LPS_GELU_NONE or LPS_GELU_TANH */
} lps_unary_params;

enum { LPS_GELU_NONE, LPS_GELU_TANH };

typedef void (*lps_unary_forward_fn)(const float *restrict x, float *restrict y, int64_t n,
                                     const lps_unary_params *p);
/* Accumulates: dx[i] += dy[i] * f'(x[i]). */
typedef void (*lps_unary_backward_fn)(const float *restrict x, const float *restrict y,
                                      const float *restrict dy, float *restrict dx, int64_t n,
                                      const lps_unary_params *p);

typedef struct lps_unary_kernel {
    lps_op_kind kind;
    lps_unary_forward_fn forward;
    lps_unary_backward_fn backward;   /* NULL: piecewise constant, no gradient */
    const char *const *attrs;         /* NULL-terminated names prepare accepts */
    lps_unary_params defaults;        /* values of absent attributes */
    int bounds_input_opset;           /* Clip: bounds are inputs from this opset; else 0 */
} lps_unary_kernel;

/* Defines the forward kernel `name`: y[i] = EXPR, where EXPR reads x[i] as
 * `v` and the parameters as `p`. */
#define LPS_UNARY_MAP(name, EXPR)                                                                 \
    static void name(const float *restrict x, float *restrict y, int64_t n,                      \
                     const lps_unary_params *p)                                                   \
    {                                                                                             \
        (void)p;                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                         \
            const float v = x[i];                                                                 \
            y[i] = (EXPR);                                                                        \
        }                                                                                         \
    }

/* Defines the backward kernel `name`: dx[i] += dy[i] * (EXPR), the
 * derivative EXPR reading x[i] as `v`, y[i] as `out` and the parameters
 * as `p`. */
#define LPS_UNARY_GRAD(name, EXPR)                                                                \
    static void name(const float *restrict x, const float *restrict y, const float *restrict dy, \
                     float *restrict dx, int64_t n, const lps_unary_params *p)                    \
    {                                                                                             \
        (void)p;                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                         \
            const float v = x[i], out = y[i];                                                     \
            (void)v, (void)out;                                                                   \
            dx[i] += dy[i] * (EXPR);                                                              \
        }                                                                                         \
    }

/* The NULL-terminated empty attribute list. */
extern const char *const lps_unary_no_attrs[];

/* Finds op->kind among kernels[0..n-1], validates and parses the node's
 * attributes and stores the row and parameters in op->params (free()d with
 * the node). Fails with LPS_ERR_UNSUPPORTED on an unknown attribute or Gelu
 * approximation, LPS_ERR_INVALID on a wrong attribute type or Clip input
 * count, LPS_ERR_NOMEM on allocation; nothing is stored on failure. */
lps_status lps_unary_prepare_from(lps_op_node *op, const lps_unary_kernel *kernels, size_t n,
                                  lps_error *err);

/* Output 0 is float with the shape of the float input 0; Clip's bound
 * inputs must be absent or float scalars. */
lps_status lps_unary_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err);

/* Runs the row's forward kernel over the whole input; never fails. */
lps_status lps_unary_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err);

/* Accumulates the row's backward kernel into din[0] when both din[0] and
 * dout[0] are present; never fails. */
lps_status lps_unary_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err);

/* An epilogue's bind (op.h) for Clip's constant bound inputs: checks them
 * as shape does (float scalars) and stores them in op's parameters, where
 * lps_unary_node_params reads them. false when one is not a float scalar. */
bool lps_unary_bind_inputs(lps_op_node *op, const lps_tensor *const *in);

/* The parameters prepare (and lps_unary_bind_inputs) stored in op. */
const lps_unary_params *lps_unary_node_params(const lps_op_node *op);

/* The initializer of one single-input unary operator's def, named
 * `onnx_name`, implemented from opset `since` with the family's prepare:
 *     const lps_op_def lps_op_def_erf = LPS_UNARY_OP("Erf", 9, math_prepare);
 * The _NOGRAD form is for piecewise-constant ops (Floor, Sign): no gradient
 * flows through them. */
/* epi: the def's epilogue (docs/architecture.md, "Fused activations") or NULL. */
#define LPS_UNARY_OP_FUSABLE(onnx_name, since, prepare_fn, mask, grad, epi)                       \
    {                                                                                             \
        .name = onnx_name,                                                                        \
        .min_opset = since,                                                                       \
        .max_opset = LPS_OPSET_MAX,                                                               \
        .min_inputs = 1,                                                                          \
        .max_inputs = 1,                                                                          \
        .min_outputs = 1,                                                                         \
        .max_outputs = 1,                                                                         \
        .differentiable = mask,                                                                   \
        .prepare = prepare_fn,                                                                    \
        .shape = lps_unary_shape,                                                                 \
        .forward = lps_unary_forward,                                                             \
        .backward = grad,                                                                         \
        .epilogue = epi,                                                                          \
    }
#define LPS_UNARY_OP_WITH(onnx_name, since, prepare_fn, mask, grad)                               \
    LPS_UNARY_OP_FUSABLE(onnx_name, since, prepare_fn, mask, grad, NULL)
#define LPS_UNARY_OP(onnx_name, since, prepare_fn)                                                \
    LPS_UNARY_OP_WITH(onnx_name, since, prepare_fn, 1u, lps_unary_backward)
#define LPS_UNARY_OP_NOGRAD(onnx_name, since, prepare_fn)                                         \
    LPS_UNARY_OP_WITH(onnx_name, since, prepare_fn, 0u, NULL)

#endif
