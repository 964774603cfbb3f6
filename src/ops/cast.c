/* Cast and CastLike between every dtype of elementwise.h (float, double,
 * float16, the signed and unsigned integers, bool).
 *
 * Conversions follow the domains of elementwise.h: a pair involving a
 * floating type goes through double (float to integer saturates, NaN to 0,
 * which ONNX leaves undefined), an integer/bool pair through int64
 * (narrowing wraps, as onnxruntime's static_cast), anything to bool is
 * (v != 0). The gradient of a float-to-float cast passes through unchanged;
 * casts to or from other types have none (gradients exist only on float
 * tensors). */
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise.h"

/* CastLike arrived in opset 15. Opset 19 added "saturate", which only
 * affects the float8 types (not supported here), so its value changes
 * nothing. */
#define CAST_LIKE_SINCE 15
#define SATURATE_OPSET 19
enum { CAST_IN_X, CAST_LIKE_IN_TARGET };

typedef struct cast_params {
    lps_dtype to;   /* LPS_DT_UNDEFINED for CastLike: input 1's dtype */
} cast_params;

static lps_status cast_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const cast_attrs[] = {"to", "saturate", NULL};
    static const char *const like_attrs[] = {"saturate", NULL};
    static const char *const old_cast_attrs[] = {"to", NULL};
    bool like = op->kind == LPS_OP_CAST_LIKE;
    const char *const *known = like ? like_attrs : op->opset >= SATURATE_OPSET ? cast_attrs
                                                                              : old_cast_attrs;
    lps_status st = lps_op_check_attrs(op, known, err);
    int64_t to = LPS_DT_UNDEFINED;
    if (st == LPS_OK && !like) {
        st = lps_op_attr_int(op, "to", LPS_DT_UNDEFINED, &to, err);
        if (st == LPS_OK && !lps_node_attr(op->node, "to"))
            st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'to' is required");
        if (st == LPS_OK && !lps_elem_supported((lps_dtype)to))
            st = lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "cast to %s (%lld) is not supported",
                             lps_dtype_name((lps_dtype)to), (long long)to);
    }
    if (st != LPS_OK)
        return st;
    cast_params *p = malloc(sizeof *p);
    if (!p)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory");
    p->to = (lps_dtype)to;
    op->params = p;
    return LPS_OK;
}

static lps_status cast_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    const cast_params *p = op->params;
    lps_dtype to = p->to;
    if (to == LPS_DT_UNDEFINED) {
        if (!in[CAST_LIKE_IN_TARGET])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input 1 is missing");
        to = in[CAST_LIKE_IN_TARGET]->dtype;
    }
    if (!in[CAST_IN_X])
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input 0 is missing");
    for (int k = 0; k < 2; k++) {
        lps_dtype dt = k == 0 ? in[CAST_IN_X]->dtype : to;
        if (!lps_elem_supported(dt))
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "cast %s %s is not supported",
                               k == 0 ? "from" : "to", lps_dtype_name(dt));
    }
    out[0].dtype = to;
    out[0].rank = in[CAST_IN_X]->rank;
    memcpy(out[0].dims, in[CAST_IN_X]->dims, sizeof out[0].dims);
    return LPS_OK;
}

static lps_status cast_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    (void)op, (void)ctx, (void)err;
    const lps_tensor *x = in[CAST_IN_X];
    int64_t n = lps_tensor_numel(x);
    if (n == 0)
        return LPS_OK;
    if (x->dtype == out[0]->dtype)
        memcpy(out[0]->data, x->data, x->nbytes);
    else
        lps_elem_convert(x->dtype, x->data, out[0]->dtype, out[0]->data, n);
    return LPS_OK;
}

/* float -> float: dx += dy. Other pairs carry no gradient. */
static lps_status cast_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    (void)op, (void)ctx, (void)err;
    if (!din[CAST_IN_X] || !dout[0] || in[CAST_IN_X]->dtype != LPS_DT_FLOAT ||
        out[0]->dtype != LPS_DT_FLOAT)
        return LPS_OK;
    float *dx = lps_tensor_f32(din[CAST_IN_X]);
    const float *dy = lps_tensor_f32(dout[0]);
    for (int64_t i = 0; i < lps_tensor_numel(dout[0]); i++)
        dx[i] += dy[i];
    return LPS_OK;
}

const lps_op_def lps_op_def_cast = {
    .name = "Cast",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << CAST_IN_X,
    .prepare = cast_prepare,
    .shape = cast_shape,
    .forward = cast_forward,
    .backward = cast_backward,
};

const lps_op_def lps_op_def_cast_like = {
    .name = "CastLike",
    .min_opset = CAST_LIKE_SINCE,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << CAST_IN_X,
    .prepare = cast_prepare,
    .shape = cast_shape,
    .forward = cast_forward,
    .backward = cast_backward,
};
