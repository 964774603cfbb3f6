/* BatchNormalization (opsets 7..21): Y = (X - mean) / sqrt(var + eps) * scale + B
 * per channel of X [N, C, D1, ...].
 *
 * Attributes by opset: epsilon and momentum throughout; spatial in 7-8
 * (spatial=0 gives every (c, d1, ...) position its own statistics);
 * training_mode from 14.
 *
 * Which statistics. A node normalizes with batch statistics when
 *   training run ? lps_ctx_batch_stats(ctx)
 *                : lps_ctx_honors_training_flags(ctx) && the node is in training mode
 * and with its input_mean/input_var (running statistics) otherwise. A node
 * is in training mode by its training_mode attribute from opset 14, and
 * before it when it declares the statistic outputs (ONNX's "training mode"
 * output case). So evaluation of a training-mode export runs it as in
 * inference.
 *
 * After a forward with batch statistics op->saved holds, as 1-D float
 * tensors of one value per normalized channel, the batch mean
 * (BN_SAVED_MEAN), 1 / sqrt(batch variance + epsilon) (BN_SAVED_INVSTD)
 * and the batch population variance (BN_SAVED_VAR).
 *
 * Running statistics. Forward never changes the model's input_mean/
 * input_var initializers (declared running_mean/running_var outputs get
 * the updated values, as ONNX says). The def's update_state does, after a
 * training forward with batch statistics: the engine calls it with the
 * input_mean/input_var initializers (state_inputs) and marks them
 * modified, so the saved model carries them.
 *
 * Optional outputs: from opset 14 running_mean, running_var; before it
 * mean, var (the running statistics) and saved_mean, saved_var (this
 * batch's mean and population variance). With batch statistics they get
 * the updated values; with running statistics the running outputs are
 * copies of input_mean/input_var (nothing changes) and the saved ones too.
 *
 * Gradients flow to X, scale and B. input_mean/input_var are state, not
 * parameters: no gradient reaches them, but gradients arriving at the
 * statistic outputs flow into X when those depend on it. */
#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BN_X, BN_SCALE, BN_B, BN_MEAN, BN_VAR, BN_N_INPUTS };
enum { BN_SAVED_MEAN, BN_SAVED_INVSTD, BN_SAVED_VAR };
enum { BN_Y, BN_OUT_MEAN, BN_OUT_VAR, BN_OUT_SAVED_MEAN, BN_OUT_SAVED_VAR, BN_MAX_OUTPUTS };

#define BN_SPATIAL_LAST_OPSET 8
#define BN_TRAINING_MODE_OPSET 14
/* Opsets from 14 have only the two running outputs. */
#define BN_NEW_MAX_OUTPUTS 3
#define BN_DEFAULT_EPSILON 1e-5f
#define BN_DEFAULT_MOMENTUM 0.9f
/* Per-channel scratch arrays of backward: invstd (fixed statistics),
 * dmean, dvar. */
#define BN_SCRATCH_ARRAYS 3

typedef struct bn_params {
    float epsilon, momentum;
    bool spatial;
    bool training_mode;
} bn_params;

/* X viewed as [outer, channels, inner]; statistics are per channel. */
typedef struct bn_view {
    int64_t outer, channels, inner;
} bn_view;

static lps_status bn_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_7[] = {"epsilon", "momentum", "spatial", NULL};
    static const char *const known_9[] = {"epsilon", "momentum", NULL};
    static const char *const known_14[] = {"epsilon", "momentum", "training_mode", NULL};
    const char *const *known = op->opset <= BN_SPATIAL_LAST_OPSET     ? known_7
                               : op->opset < BN_TRAINING_MODE_OPSET ? known_9
                                                                    : known_14;
    bn_params p;
    int64_t spatial = 1, training_mode = 0;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "epsilon", BN_DEFAULT_EPSILON, &p.epsilon, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "momentum", BN_DEFAULT_MOMENTUM, &p.momentum, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "spatial", 1, &spatial, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "training_mode", 0, &training_mode, err);
    if (st != LPS_OK)
        return st;
    if ((spatial != 0 && spatial != 1) || (training_mode != 0 && training_mode != 1))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "spatial/training_mode must be 0 or 1");
    if (op->opset >= BN_TRAINING_MODE_OPSET && op->n_outputs > BN_NEW_MAX_OUTPUTS)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "has %zu outputs, at most %d from opset %d",
                           op->n_outputs, BN_NEW_MAX_OUTPUTS, BN_TRAINING_MODE_OPSET);
    p.spatial = spatial == 1;
    p.training_mode = op->opset >= BN_TRAINING_MODE_OPSET ? training_mode == 1
                                                          : op->n_outputs > 1;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* Checks types and sizes; every parameter input holds one value per channel. */
static lps_status bn_view_of(const lps_op_node *op, const lps_tensor *const *in, bn_view *v,
                             lps_error *err)
{
    const bn_params *p = op->params;
    for (int i = BN_X; i < BN_N_INPUTS; i++) {
        lps_status st = lps_op_expect_dtype(op, in[i], i, LPS_DT_FLOAT, err);
        if (st != LPS_OK)
            return st;
    }
    const lps_tensor *x = in[BN_X];
    if (x->rank < 2)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "X must have rank >= 2 (N, C, ...), got %d",
                           x->rank);
    int64_t spatial = lps_numel_of(x->rank - 2, x->dims + 2);
    v->outer = x->dims[0];
    v->channels = p->spatial ? x->dims[1] : x->dims[1] * spatial;
    v->inner = p->spatial ? spatial : 1;
    for (int i = BN_SCALE; i < BN_N_INPUTS; i++)
        if (lps_tensor_numel(in[i]) != v->channels)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "input %d has %lld values, expected %lld (one per channel)", i,
                               (long long)lps_tensor_numel(in[i]), (long long)v->channels);
    return LPS_OK;
}

static lps_status bn_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    bn_view v;
    lps_status st = bn_view_of(op, in, &v, err);
    if (st != LPS_OK)
        return st;
    out[BN_Y].dtype = LPS_DT_FLOAT;
    out[BN_Y].rank = in[BN_X]->rank;
    memcpy(out[BN_Y].dims, in[BN_X]->dims, sizeof in[BN_X]->dims);
    for (size_t j = BN_OUT_MEAN; j < op->n_outputs; j++) {
        const lps_tensor *like = in[BN_MEAN];
        out[j].dtype = LPS_DT_FLOAT;
        out[j].rank = like->rank;
        memcpy(out[j].dims, like->dims, sizeof like->dims);
    }
    return LPS_OK;
}

/* Whether this run normalizes with batch statistics (file comment). */
static bool bn_uses_batch_stats(const bn_params *p, const lps_exec_ctx *ctx)
{
    if (lps_ctx_training(ctx))
        return lps_ctx_batch_stats(ctx);
    return lps_ctx_honors_training_flags(ctx) && p->training_mode;
}

/* The reductions below keep BN_LANES float partial sums per row (a fixed
 * order, so results do not depend on the machine, and one the compiler
 * vectorises, where a single running double sum is one dependent add per
 * element) and add each row's total into a double. Rows shorter than
 * BN_LANES (the small planes of deep layers) are summed in double alone:
 * their lanes would stay zero. The row functions are inlined into the
 * per-channel loops (LPS_VECTOR_CLONES), so a row of one or four values
 * costs no call. */
#define BN_LANES 16
#define BN_ROW_INLINE static inline __attribute__((always_inline))

/* Sum over a row of (a[i] - shift) * (b[i] - shift_b), or of a[i] alone
 * when b is NULL. */
BN_ROW_INLINE double bn_row_dot(const float *a, float shift, const float *b, float shift_b,
                                int64_t n)
{
    double s = 0.0;
    if (n < BN_LANES) {
        for (int64_t i = 0; i < n; i++)
            s += b ? (double)(a[i] - shift) * (double)(b[i] - shift_b) : (double)a[i];
        return s;
    }
    float lane[BN_LANES] = {0};
    int64_t i = 0;
    if (b) {
        for (; i + BN_LANES <= n; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++)
                lane[j] += (a[i + j] - shift) * (b[i + j] - shift_b);
    } else {
        for (; i + BN_LANES <= n; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++)
                lane[j] += a[i + j];
    }
    for (; i < n; i++)
        s += b ? (double)(a[i] - shift) * (double)(b[i] - shift_b) : (double)a[i];
    for (int j = 0; j < BN_LANES; j++)
        s += lane[j];
    return s;
}

/* bn_row_dot(dy, 0, NULL, 0, n) into *sum and bn_row_dot(dy, 0, x, mean,
 * n) into *sum_x, in one pass over dy (the same additions in the same
 * order as the two calls). */
BN_ROW_INLINE void bn_row_dot2(const float *dy, const float *x, float mean, int64_t n,
                               double *sum, double *sum_x)
{
    double s = 0.0, sx = 0.0;
    if (n < BN_LANES) {
        for (int64_t i = 0; i < n; i++) {
            s += (double)dy[i];
            sx += (double)dy[i] * (double)(x[i] - mean);
        }
    } else {
        float lane[BN_LANES] = {0}, lane_x[BN_LANES] = {0};
        int64_t i = 0;
        for (; i + BN_LANES <= n; i += BN_LANES)
            for (int j = 0; j < BN_LANES; j++) {
                lane[j] += dy[i + j];
                lane_x[j] += dy[i + j] * (x[i + j] - mean);
            }
        for (; i < n; i++) {
            s += (double)dy[i];
            sx += (double)dy[i] * (double)(x[i] - mean);
        }
        for (int j = 0; j < BN_LANES; j++) {
            s += lane[j];
            sx += lane_x[j];
        }
    }
    *sum = s;
    *sum_x = sx;
}

/* Mean and population variance of channel c of x (two passes over its
 * rows: a one-pass sum of squares loses digits for large batches). */
BN_ROW_INLINE void bn_channel_moments(const float *x, const bn_view *v, int64_t c, float *mean,
                                      float *var)
{
    double count = (double)(v->outer * v->inner);
    double s = 0.0;
    for (int64_t n = 0; n < v->outer; n++)
        s += bn_row_dot(x + (n * v->channels + c) * v->inner, 0.0f, NULL, 0.0f, v->inner);
    double mu = s / count;
    double q = 0.0;
    for (int64_t n = 0; n < v->outer; n++) {
        const float *row = x + (n * v->channels + c) * v->inner;
        q += bn_row_dot(row, (float)mu, row, (float)mu, v->inner);
    }
    *mean = (float)mu;
    *var = (float)(q / count);
}

/* Channel c of y = x * a + b, and op's fused activation (op_util.h) on
 * each row while it is in cache. */
BN_ROW_INLINE void bn_apply_channel(const lps_op_node *op, const float *x, float *y,
                                    const bn_view *v, int64_t c, float a, float b)
{
    for (int64_t n = 0; n < v->outer; n++) {
        size_t off = (size_t)((n * v->channels + c) * v->inner);
        for (int64_t i = 0; i < v->inner; i++)
            y[off + i] = x[off + i] * a + b;
        lps_op_epilogue_apply(op, y + off, v->inner);
    }
}

/* The per-channel affine map of normalizing with mean and invstd:
 * y = x * a + b. */
static inline void bn_affine(float mean, float invstd, float scale, float bias, float *a,
                             float *b)
{
    *a = scale * invstd;
    *b = bias - mean * *a;
}

/* y = x * a[c] + b[c] with a = scale * invstd and b = B - mean * a. */
LPS_VECTOR_CLONES
static void bn_apply(const lps_op_node *op, const float *x, float *y, const bn_view *v,
                     const float *mean, const float *invstd, const float *scale,
                     const float *bias)
{
    if (v->inner == 0 || v->outer == 0) /* an empty tensor: x and y may be NULL */
        return;
    for (int64_t c = 0; c < v->channels; c++) {
        float a, b;
        bn_affine(mean[c], invstd[c], scale[c], bias[c], &a, &b);
        bn_apply_channel(op, x, y, v, c, a, b);
    }
}

/* The batch-statistics forward, channel by channel: the moments, then the
 * normalization while the channel's rows are still in cache (one pass over
 * x from memory instead of two). An empty batch gets zero moments. */
LPS_VECTOR_CLONES
static void bn_normalize_batch(const lps_op_node *op, const float *x, float *y, const bn_view *v,
                               const float *scale, const float *bias, float *mean,
                               float *invstd, float *var)
{
    const bn_params *p = op->params;
    bool empty = v->outer * v->inner == 0; /* x may be NULL, no row to offset */
    for (int64_t c = 0; c < v->channels; c++) {
        if (empty)
            mean[c] = var[c] = 0.0f;
        else
            bn_channel_moments(x, v, c, &mean[c], &var[c]);
        invstd[c] = 1.0f / sqrtf(var[c] + p->epsilon);
        float a, b;
        bn_affine(mean[c], invstd[c], scale[c], bias[c], &a, &b);
        if (!empty)
            bn_apply_channel(op, x, y, v, c, a, b);
    }
}

/* Allocates op->saved[index] as [channels] floats. LPS_ERR_NOMEM on
 * failure, naming the node. */
static lps_status bn_save(lps_op_node *op, int index, int64_t channels, lps_error *err)
{
    lps_status st = lps_tensor_alloc(&op->saved[index], LPS_DT_FLOAT, 1, &channels, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

/* Writes the optional statistic outputs (see the file comment). */
static void bn_write_stat_outputs(const lps_op_node *op, const lps_tensor *const *in,
                                  lps_tensor *const *out, const float *batch_mean,
                                  const float *batch_var, int64_t channels)
{
    const bn_params *p = op->params;
    const float *rm = lps_tensor_f32(in[BN_MEAN]), *rv = lps_tensor_f32(in[BN_VAR]);
    for (size_t j = BN_OUT_MEAN; j < op->n_outputs; j++) {
        float *o = lps_tensor_f32(out[j]);
        const float *running = j == BN_OUT_MEAN || j == BN_OUT_SAVED_MEAN ? rm : rv;
        const float *batch = j == BN_OUT_MEAN || j == BN_OUT_SAVED_MEAN ? batch_mean : batch_var;
        bool saved = j >= BN_OUT_SAVED_MEAN;
        for (int64_t c = 0; c < channels; c++) {
            if (!batch)
                o[c] = running[c];
            else if (saved)
                o[c] = batch[c];
            else
                o[c] = p->momentum * running[c] + (1.0f - p->momentum) * batch[c];
        }
    }
}

static lps_status bn_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    const bn_params *p = op->params;
    bn_view v;
    lps_status st = bn_view_of(op, in, &v, err);
    if (st != LPS_OK)
        return st;
    const float *x = lps_tensor_f32(in[BN_X]);
    const float *scale = lps_tensor_f32(in[BN_SCALE]), *bias = lps_tensor_f32(in[BN_B]);
    int64_t nc = v.channels;
    if (!bn_uses_batch_stats(p, ctx)) {
        float *invstd = lps_ctx_workspace(ctx, (size_t)nc, err);
        if (!invstd && nc > 0)
            return lps_error_prefix(err, "%s", op->label);
        const float *var = lps_tensor_f32(in[BN_VAR]);
        for (int64_t c = 0; c < nc; c++)
            invstd[c] = 1.0f / sqrtf(var[c] + p->epsilon);
        bn_apply(op, x, lps_tensor_f32(out[BN_Y]), &v, lps_tensor_f32(in[BN_MEAN]), invstd,
                 scale, bias);
        bn_write_stat_outputs(op, in, out, NULL, NULL, nc);
        return LPS_OK;
    }
    for (int k = BN_SAVED_MEAN; k <= BN_SAVED_VAR && st == LPS_OK; k++)
        st = bn_save(op, k, nc, err);
    if (st != LPS_OK)
        return st;
    float *mean = lps_tensor_f32(&op->saved[BN_SAVED_MEAN]);
    float *invstd = lps_tensor_f32(&op->saved[BN_SAVED_INVSTD]);
    float *var = lps_tensor_f32(&op->saved[BN_SAVED_VAR]);
    bn_normalize_batch(op, x, lps_tensor_f32(out[BN_Y]), &v, scale, bias, mean, invstd, var);
    bn_write_stat_outputs(op, in, out, mean, var, nc);
    return LPS_OK;
}

/* Gradients reaching the statistic outputs, as d(batch mean) and
 * d(batch var) per channel (zero when none arrive). */
static void bn_stat_output_grads(const lps_op_node *op, const lps_tensor *const *dout,
                                 int64_t channels, float *dmean, float *dvar)
{
    const bn_params *p = op->params;
    memset(dmean, 0, (size_t)channels * sizeof *dmean);
    memset(dvar, 0, (size_t)channels * sizeof *dvar);
    for (size_t j = BN_OUT_MEAN; j < op->n_outputs; j++) {
        if (!dout[j])
            continue;
        const float *g = lps_tensor_f32(dout[j]);
        float w = j >= BN_OUT_SAVED_MEAN ? 1.0f : 1.0f - p->momentum;
        float *dst = j == BN_OUT_MEAN || j == BN_OUT_SAVED_MEAN ? dmean : dvar;
        for (int64_t c = 0; c < channels; c++)
            dst[c] += w * g[c];
    }
}

/* What the backward pass reads and accumulates: X, the gradient at output
 * Y (NULL when only the statistic outputs carry one) and, for a fused
 * activation, Y (the activation's output) and one row of scratch for the
 * gradient taken back through it (lps_op_epilogue_grad); the per-channel
 * statistics and gradients at the statistic outputs; dX, dscale, dB
 * (each NULL when not wanted). */
typedef struct bn_grad_rows {
    const lps_op_node *op;
    bn_view v;
    const float *x, *dy, *y;
    float *tmp;
    const float *mean, *invstd, *scale, *dmean, *dvar;
    bool batch;
    float *dx, *dscale, *dbias;
} bn_grad_rows;

/* The gradient at BatchNorm's own Y over the row at off. */
static inline const float *bn_dy_row(const bn_grad_rows *r, size_t off)
{
    return lps_op_epilogue_grad(r->op, r->y + off, r->dy + off, r->tmp, r->v.inner);
}

/* Channel c's sum(dy) and sum(dy * xhat), xhat = (x - mean) * invstd. */
BN_ROW_INLINE void bn_channel_grad_sums(const bn_grad_rows *r, int64_t c, float *sum_dy,
                                        float *sum_dy_xhat)
{
    const bn_view *v = &r->v;
    double s = 0.0, sx = 0.0;
    for (int64_t n = 0; n < v->outer; n++) {
        size_t off = (size_t)((n * v->channels + c) * v->inner);
        double row, row_x;
        bn_row_dot2(bn_dy_row(r, off), r->x + off, r->mean[c], v->inner, &row, &row_x);
        s += row;
        sx += row_x;
    }
    *sum_dy = (float)s;
    *sum_dy_xhat = (float)sx * r->invstd[c];
}

/* Channel c of dX. With batch statistics xhat depends on every x of its
 * channel:
 *   dx = scale * invstd / M * (M dy - sum(dy) - xhat sum(dy xhat))
 *        + dmean / M + dvar * 2 (x - mean) / M
 * (the last two from gradients at the statistic outputs). With fixed
 * statistics dx = dy * scale * invstd. */
BN_ROW_INLINE void bn_channel_backward_x(const bn_grad_rows *r, int64_t c, float sum_dy,
                                         float sum_dy_xhat)
{
    const bn_view *v = &r->v;
    const float *x = r->x;
    float *dx = r->dx, mean = r->mean[c], invstd = r->invstd[c];
    float m = (float)(v->outer * v->inner), k = r->scale[c] * invstd;
    float a = k / m * sum_dy_xhat * invstd, b = k / m * sum_dy;
    float cm = r->batch ? r->dmean[c] / m : 0.0f, cv = r->batch ? 2.0f * r->dvar[c] / m : 0.0f;
    for (int64_t n = 0; n < v->outer; n++) {
        size_t off = (size_t)((n * v->channels + c) * v->inner);
        const float *dy = r->dy ? bn_dy_row(r, off) : NULL;
        if (!r->batch) {
            for (int64_t i = 0; i < v->inner; i++)
                dx[off + i] += dy[i] * k;
        } else if (dy) {
            for (int64_t i = 0; i < v->inner; i++) {
                float xc = x[off + i] - mean;
                dx[off + i] += k * dy[i] - b - a * xc + cm + cv * xc;
            }
        } else {
            for (int64_t i = 0; i < v->inner; i++)
                dx[off + i] += cm + cv * (x[off + i] - mean);
        }
    }
}

/* Backward channel by channel: the sums, dscale and dB, then dX while the
 * channel's rows of dY and X are still in cache (one pass over them from
 * memory instead of two). */
LPS_VECTOR_CLONES
static void bn_backward_channels(const bn_grad_rows *r)
{
    for (int64_t c = 0; c < r->v.channels; c++) {
        float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
        if (r->dy)
            bn_channel_grad_sums(r, c, &sum_dy, &sum_dy_xhat);
        if (r->dscale)
            r->dscale[c] += sum_dy_xhat;
        if (r->dbias)
            r->dbias[c] += sum_dy;
        if (r->dx && (r->dy || r->batch))
            bn_channel_backward_x(r, c, sum_dy, sum_dy_xhat);
    }
}

static lps_status bn_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    const bn_params *p = op->params;
    bn_view v;
    lps_status st = bn_view_of(op, in, &v, err);
    if (st != LPS_OK)
        return st;
    bool batch = bn_uses_batch_stats(p, ctx);
    int64_t nc = v.channels;
    if (batch && (op->saved[BN_SAVED_MEAN].dtype != LPS_DT_FLOAT ||
                  lps_tensor_numel(&op->saved[BN_SAVED_MEAN]) != nc))
        return lps_op_fail(op, err, LPS_ERR_RUNTIME,
                           "backward with batch statistics needs a training forward first");
    if (v.outer * v.inner == 0) /* an empty batch adds nothing, and its rows may be NULL */
        return LPS_OK;
    float *scratch = lps_ctx_workspace(ctx, BN_SCRATCH_ARRAYS * (size_t)nc + (size_t)v.inner,
                                       err);
    if (!scratch)
        return nc > 0 ? lps_error_prefix(err, "%s", op->label) : LPS_OK;
    float *invstd = scratch, *dmean = scratch + nc, *dvar = scratch + 2 * nc;
    const float *mean;
    if (batch) {
        mean = lps_tensor_f32(&op->saved[BN_SAVED_MEAN]);
        invstd = lps_tensor_f32(&op->saved[BN_SAVED_INVSTD]);
        bn_stat_output_grads(op, dout, nc, dmean, dvar);
    } else {
        mean = lps_tensor_f32(in[BN_MEAN]);
        const float *var = lps_tensor_f32(in[BN_VAR]);
        for (int64_t c = 0; c < nc; c++)
            invstd[c] = 1.0f / sqrtf(var[c] + p->epsilon);
    }
    bn_grad_rows rows = {
        .op = op, .v = v, .x = lps_tensor_f32(in[BN_X]),
        .dy = dout[BN_Y] ? lps_tensor_f32(dout[BN_Y]) : NULL, .y = lps_tensor_f32(out[BN_Y]),
        .tmp = scratch + BN_SCRATCH_ARRAYS * nc, .mean = mean, .invstd = invstd,
        .scale = lps_tensor_f32(in[BN_SCALE]), .dmean = dmean, .dvar = dvar, .batch = batch,
        .dx = din[BN_X] ? lps_tensor_f32(din[BN_X]) : NULL,
        .dscale = din[BN_SCALE] ? lps_tensor_f32(din[BN_SCALE]) : NULL,
        .dbias = din[BN_B] ? lps_tensor_f32(din[BN_B]) : NULL};
    bn_backward_channels(&rows);
    return LPS_OK;
}

/* running = momentum * running + (1 - momentum) * batch statistic, for the
 * mean and the population variance saved by the last forward, into the
 * input_mean/input_var initializers in state[]. LPS_ERR_RUNTIME when the
 * last forward used running statistics, LPS_ERR_INVALID when a tensor has
 * the wrong type or size; nothing is changed on failure. */
static lps_status bn_update_state(const lps_op_node *op, lps_tensor *const *state,
                                  lps_error *err)
{
    const bn_params *p = op->params;
    lps_tensor *running_mean = state[BN_MEAN], *running_var = state[BN_VAR];
    const lps_tensor *mean = &op->saved[BN_SAVED_MEAN], *var = &op->saved[BN_SAVED_VAR];
    int64_t nc = lps_tensor_numel(mean);
    if (mean->dtype != LPS_DT_FLOAT || var->dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME,
                           "has no batch statistics: its last forward used running statistics");
    if (running_mean->dtype != LPS_DT_FLOAT || running_var->dtype != LPS_DT_FLOAT ||
        lps_tensor_numel(running_mean) != nc || lps_tensor_numel(running_var) != nc)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "running statistics must be float with %lld values", (long long)nc);
    float *rm = lps_tensor_f32(running_mean), *rv = lps_tensor_f32(running_var);
    const float *bm = lps_tensor_f32(mean), *bv = lps_tensor_f32(var);
    for (int64_t c = 0; c < nc; c++) {
        rm[c] = p->momentum * rm[c] + (1.0f - p->momentum) * bm[c];
        rv[c] = p->momentum * rv[c] + (1.0f - p->momentum) * bv[c];
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_batch_normalization = {
    .name = "BatchNormalization",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = BN_N_INPUTS,
    .max_inputs = BN_N_INPUTS,
    .min_outputs = 1,
    .max_outputs = BN_MAX_OUTPUTS,
    .differentiable = (1u << BN_X) | (1u << BN_SCALE) | (1u << BN_B),
    .prepare = bn_prepare,
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .update_state = bn_update_state,
    .state_inputs = (1u << BN_MEAN) | (1u << BN_VAR),
    .fuses_epilogue = true,
};
