/* Dropout (opsets 7..21).
 *
 * Versions: before 12 the ratio is an attribute (default 0.5) and the only
 * input is the data; from 12 ratio and training_mode are optional scalar
 * inputs and `seed` an attribute. The optional mask output has the data's
 * type before opset 10 and is bool from 10.
 *
 * When dropout is active. The same graph serves training and evaluation,
 * so the run decides: dropout is active iff ctx->training (the trainer's
 * training steps), also when a training_mode input says false, so graphs
 * exported for inference still drop out while being fine-tuned. Outside
 * training it is the identity, also in a graph exported in training mode
 * (training_mode input true): evaluation treats it as in inference. Only a
 * run that honors the graph's training flags (ctx->honor_training_flags,
 * ONNX's reference semantics) refuses training_mode=true with a non-zero
 * ratio (LPS_ERR_UNSUPPORTED): it asks for random outputs that no
 * deterministic reference can match. The `seed` attribute is accepted and
 * not used: masks come from the run's seeded generator (lps_ctx_random),
 * so runs are reproducible from the run's seed.
 *
 * Active: y = x * mask / (1 - ratio) with mask[i] = (u_i >= ratio) for
 * uniform u_i; the mask is kept in op->saved[0] (bool) for backward.
 * Inactive: y = x and the mask output is all ones. */
#include "ops/op.h"

#include <stdlib.h>
#include <string.h>

enum { DROP_X, DROP_RATIO, DROP_TRAINING_MODE, DROP_MAX_INPUTS };
enum { DROP_Y, DROP_MASK, DROP_MAX_OUTPUTS };
enum { DROP_SAVED_MASK = 0 };

#define DROP_INPUTS_OPSET 12
#define DROP_BOOL_MASK_OPSET 10
#define DROP_DEFAULT_RATIO 0.5f

static lps_status drop_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_old[] = {"ratio", NULL};
    static const char *const known_new[] = {"seed", NULL};
    bool inputs = op->opset >= DROP_INPUTS_OPSET;
    float ratio = DROP_DEFAULT_RATIO;
    lps_status st = lps_op_check_attrs(op, inputs ? known_new : known_old, err);
    if (st == LPS_OK && !inputs)
        st = lps_op_attr_float(op, "ratio", DROP_DEFAULT_RATIO, &ratio, err);
    if (st != LPS_OK)
        return st;
    if (!inputs && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; ratio/training_mode are inputs only from opset %d",
                           op->n_inputs, DROP_INPUTS_OPSET);
    op->params = malloc(sizeof ratio);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &ratio, sizeof ratio);
    return LPS_OK;
}

/* The ratio from the attribute or the optional input, checked to lie in
 * [0, 1) so that the scale 1 / (1 - ratio) is finite. */
static lps_status drop_ratio(const lps_op_node *op, const lps_tensor *const *in, float *ratio,
                             lps_error *err)
{
    *ratio = *(const float *)op->params;
    const lps_tensor *r = op->n_inputs > DROP_RATIO ? in[DROP_RATIO] : NULL;
    if (r) {
        if (lps_tensor_numel(r) != 1 || (r->dtype != LPS_DT_FLOAT && r->dtype != LPS_DT_DOUBLE))
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "ratio must be a float or double scalar, got %s",
                               lps_dtype_name(r->dtype));
        *ratio = r->dtype == LPS_DT_FLOAT ? lps_tensor_f32(r)[0]
                                          : (float)((const double *)r->data)[0];
    }
    if (!(*ratio >= 0.0f && *ratio < 1.0f))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "ratio %g is outside [0, 1)",
                           (double)*ratio);
    return LPS_OK;
}

static lps_status drop_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    float ratio;
    const lps_tensor *mode = op->n_inputs > DROP_TRAINING_MODE ? in[DROP_TRAINING_MODE] : NULL;
    lps_status st = lps_op_expect_dtype(op, in[DROP_X], DROP_X, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = drop_ratio(op, in, &ratio, err);
    if (st != LPS_OK)
        return st;
    if (mode && (mode->dtype != LPS_DT_BOOL || lps_tensor_numel(mode) != 1))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "training_mode must be a bool scalar");
    for (size_t j = 0; j < op->n_outputs; j++) {
        out[j].dtype = j == DROP_Y || op->opset < DROP_BOOL_MASK_OPSET ? LPS_DT_FLOAT : LPS_DT_BOOL;
        out[j].rank = in[DROP_X]->rank;
        memcpy(out[j].dims, in[DROP_X]->dims, sizeof in[DROP_X]->dims);
    }
    return LPS_OK;
}

/* Writes the optional mask output from keep (NULL: all kept). */
static void drop_write_mask(lps_tensor *mask, const uint8_t *keep, size_t n)
{
    if (mask->dtype == LPS_DT_BOOL) {
        if (keep)
            memcpy(mask->data, keep, n);
        else
            memset(mask->data, 1, n);
        return;
    }
    float *m = lps_tensor_f32(mask);
    for (size_t i = 0; i < n; i++)
        m[i] = keep && !keep[i] ? 0.0f : 1.0f;
}

static lps_status drop_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    float ratio;
    lps_status st = drop_ratio(op, in, &ratio, err);
    if (st != LPS_OK)
        return st;
    size_t n = (size_t)lps_tensor_numel(in[DROP_X]);
    const float *x = lps_tensor_f32(in[DROP_X]);
    float *y = lps_tensor_f32(out[DROP_Y]);
    lps_tensor *mask_out = op->n_outputs > DROP_MASK ? out[DROP_MASK] : NULL;
    if (!ctx->training) {
        const lps_tensor *mode = op->n_inputs > DROP_TRAINING_MODE ? in[DROP_TRAINING_MODE] : NULL;
        if (ctx->honor_training_flags && mode && *(const uint8_t *)mode->data && ratio > 0.0f)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "training_mode=true asks for a random mask outside a training "
                               "run (evaluation runs Dropout as in inference)");
        if (n > 0)
            memcpy(y, x, n * sizeof *y);
        if (mask_out)
            drop_write_mask(mask_out, NULL, n);
        return LPS_OK;
    }
    lps_tensor *saved = &op->saved[DROP_SAVED_MASK];
    st = lps_tensor_alloc(saved, LPS_DT_BOOL, in[DROP_X]->rank, in[DROP_X]->dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    uint8_t *keep = saved->data;
    float scale = 1.0f / (1.0f - ratio);
    for (size_t i = 0; i < n; i++) {
        keep[i] = lps_ctx_random(ctx) >= ratio;
        y[i] = keep[i] ? x[i] * scale : 0.0f;
    }
    if (mask_out)
        drop_write_mask(mask_out, keep, n);
    return LPS_OK;
}

static lps_status drop_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    (void)out;
    if (!din[DROP_X] || !dout[DROP_Y])
        return LPS_OK;
    size_t n = (size_t)lps_tensor_numel(in[DROP_X]);
    const float *dy = lps_tensor_f32(dout[DROP_Y]);
    float *dx = lps_tensor_f32(din[DROP_X]);
    if (!ctx->training) {
        for (size_t i = 0; i < n; i++)
            dx[i] += dy[i];
        return LPS_OK;
    }
    const lps_tensor *saved = &op->saved[DROP_SAVED_MASK];
    if (saved->dtype != LPS_DT_BOOL || (size_t)lps_tensor_numel(saved) != n)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME,
                           "backward in training mode needs a training forward first");
    float ratio;
    lps_status st = drop_ratio(op, in, &ratio, err);
    if (st != LPS_OK)
        return st;
    const uint8_t *keep = saved->data;
    float scale = 1.0f / (1.0f - ratio);
    for (size_t i = 0; i < n; i++)
        dx[i] += keep[i] ? dy[i] * scale : 0.0f;
    return LPS_OK;
}

const lps_op_def lps_op_def_dropout = {
    .name = "Dropout",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = DROP_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = DROP_MAX_OUTPUTS,
    .differentiable = 1u << DROP_X,
    .prepare = drop_prepare,
    .shape = drop_shape,
    .forward = drop_forward,
    .backward = drop_backward,
    .stochastic = true,
};
