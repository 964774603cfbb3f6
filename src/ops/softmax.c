/* Softmax and LogSoftmax (opsets 7..21).
 *
 * Before opset 13 the input is coerced to 2-D at `axis` (default 1): the
 * normalization runs over all dims from axis on, flattened. From opset 13
 * it runs over the single dim `axis` (default -1). Both are viewed as
 * [outer, len, inner] with the reduction over len. The maximum is
 * subtracted first so exp never overflows. */
#include "ops/op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The opset from which the axis is a single dimension instead of a 2-D cut. */
#define SOFTMAX_SINGLE_AXIS_OPSET 13
#define SOFTMAX_OLD_DEFAULT_AXIS 1
#define SOFTMAX_NEW_DEFAULT_AXIS (-1)

typedef struct softmax_params {
    int64_t axis;
    bool single_axis;
    bool log;
} softmax_params;

/* The reduction layout of one call. */
typedef struct softmax_view {
    int64_t outer, len, inner;
} softmax_view;

/* Parses axis with the opset's default into op->params; log picks
 * LogSoftmax. Fails naming the node on unknown attributes or no memory. */
static lps_status softmax_prepare_common(lps_op_node *op, bool log, lps_error *err)
{
    static const char *const known[] = {"axis", NULL};
    softmax_params p = {.single_axis = op->opset >= SOFTMAX_SINGLE_AXIS_OPSET, .log = log};
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis",
                             p.single_axis ? SOFTMAX_NEW_DEFAULT_AXIS : SOFTMAX_OLD_DEFAULT_AXIS,
                             &p.axis, err);
    if (st != LPS_OK)
        return st;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

static lps_status softmax_prepare(lps_op_node *op, lps_error *err)
{
    return softmax_prepare_common(op, false, err);
}

static lps_status log_softmax_prepare(lps_op_node *op, lps_error *err)
{
    return softmax_prepare_common(op, true, err);
}

/* The [outer, len, inner] view of x under the opset's axis semantics.
 * Fails naming the node for a non-float, rank-0 input or a bad axis. */
static lps_status softmax_view_of(const lps_op_node *op, const lps_tensor *x, softmax_view *v,
                                  lps_error *err)
{
    const softmax_params *p = op->params;
    lps_status st = lps_op_expect_dtype(op, x, 0, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    if (x->rank == 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input must have rank >= 1");
    if (p->axis < -x->rank || p->axis >= x->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                           (long long)p->axis, -x->rank, x->rank - 1);
    int axis = (int)(p->axis < 0 ? p->axis + x->rank : p->axis);
    v->outer = lps_numel_of(axis, x->dims);
    if (p->single_axis) {
        v->len = x->dims[axis];
        v->inner = lps_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    } else {
        v->len = lps_numel_of(x->rank - axis, x->dims + axis);
        v->inner = 1;
    }
    return LPS_OK;
}

static lps_status softmax_shape(const lps_op_node *op, const lps_tensor *const *in,
                                lps_shape *out, lps_error *err)
{
    softmax_view v;
    lps_status st = softmax_view_of(op, in[0], &v, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = in[0]->rank;
    memcpy(out[0].dims, in[0]->dims, sizeof in[0]->dims);
    return LPS_OK;
}

/* One row (inner == 1, the common last-axis case). */
static void softmax_row(const float *x, float *y, int64_t len, bool log)
{
    float mx = x[0];
    for (int64_t l = 1; l < len; l++)
        mx = x[l] > mx ? x[l] : mx;
    float sum = 0.0f;
    if (log) {
        for (int64_t l = 0; l < len; l++)
            sum += expf(x[l] - mx);
        /* (x - max) first: folding log(sum) into max would round it away
         * for large inputs */
        float lse = logf(sum);
        for (int64_t l = 0; l < len; l++)
            y[l] = (x[l] - mx) - lse;
        return;
    }
    for (int64_t l = 0; l < len; l++) {
        y[l] = expf(x[l] - mx);
        sum += y[l];
    }
    float inv = 1.0f / sum;
    for (int64_t l = 0; l < len; l++)
        y[l] *= inv;
}

/* One [len, inner] block: for every inner position the max over len, then
 * the sum of exp(x - max), then the normalization. Rows of the block are
 * contiguous, so each pass streams through memory. mx and sum are inner
 * floats of scratch. */
static void softmax_block(const float *x, float *y, const softmax_view *v, bool log, float *mx,
                          float *sum)
{
    int64_t inner = v->inner;
    memcpy(mx, x, (size_t)inner * sizeof *mx);
    for (int64_t l = 1; l < v->len; l++) {
        const float *row = x + l * inner;
        for (int64_t i = 0; i < inner; i++)
            mx[i] = row[i] > mx[i] ? row[i] : mx[i];
    }
    memset(sum, 0, (size_t)inner * sizeof *sum);
    if (log) {
        for (int64_t l = 0; l < v->len; l++) {
            const float *row = x + l * inner;
            for (int64_t i = 0; i < inner; i++)
                sum[i] += expf(row[i] - mx[i]);
        }
        for (int64_t i = 0; i < inner; i++)
            sum[i] = logf(sum[i]);
        for (int64_t l = 0; l < v->len; l++) {
            const float *row = x + l * inner;
            float *yrow = y + l * inner;
            for (int64_t i = 0; i < inner; i++)
                yrow[i] = (row[i] - mx[i]) - sum[i];
        }
        return;
    }
    for (int64_t l = 0; l < v->len; l++) {
        const float *row = x + l * inner;
        float *yrow = y + l * inner;
        for (int64_t i = 0; i < inner; i++) {
            yrow[i] = expf(row[i] - mx[i]);
            sum[i] += yrow[i];
        }
    }
    for (int64_t i = 0; i < inner; i++)
        sum[i] = 1.0f / sum[i];
    for (int64_t l = 0; l < v->len; l++) {
        float *yrow = y + l * inner;
        for (int64_t i = 0; i < inner; i++)
            yrow[i] *= sum[i];
    }
}

static lps_status softmax_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  lps_tensor *const *out, lps_error *err)
{
    const softmax_params *p = op->params;
    softmax_view v;
    lps_status st = softmax_view_of(op, in[0], &v, err);
    if (st != LPS_OK || v.len == 0 || v.inner == 0)
        return st;
    float *scratch = lps_ctx_workspace(ctx, 2 * (size_t)v.inner, err);
    if (!scratch)
        return lps_error_prefix(err, "%s", op->label);
    size_t block = (size_t)(v.len * v.inner);
    const float *x = lps_tensor_f32(in[0]);
    float *y = lps_tensor_f32(out[0]);
    for (int64_t o = 0; o < v.outer; o++) {
        size_t off = (size_t)o * block;
        if (v.inner == 1)
            softmax_row(x + off, y + off, v.len, p->log);
        else
            softmax_block(x + off, y + off, &v, p->log, scratch, scratch + v.inner);
    }
    return LPS_OK;
}

/* Softmax:    dx = y * (dy - sum_len(dy * y))
 * LogSoftmax: dx = dy - exp(y) * sum_len(dy)
 * for one row (inner == 1). */
static void softmax_backward_row(const float *y, const float *dy, float *dx, int64_t len,
                                 bool log)
{
    float dot = 0.0f;
    if (log) {
        for (int64_t l = 0; l < len; l++)
            dot += dy[l];
        for (int64_t l = 0; l < len; l++)
            dx[l] += dy[l] - expf(y[l]) * dot;
        return;
    }
    for (int64_t l = 0; l < len; l++)
        dot += dy[l] * y[l];
    for (int64_t l = 0; l < len; l++)
        dx[l] += y[l] * (dy[l] - dot);
}

/* The same per [len, inner] block, with the sums in dot[inner]. */
static void softmax_backward_block(const float *y, const float *dy, float *dx,
                                   const softmax_view *v, bool log, float *dot)
{
    int64_t inner = v->inner;
    memset(dot, 0, (size_t)inner * sizeof *dot);
    for (int64_t l = 0; l < v->len; l++) {
        const float *yr = y + l * inner, *gr = dy + l * inner;
        if (log)
            for (int64_t i = 0; i < inner; i++)
                dot[i] += gr[i];
        else
            for (int64_t i = 0; i < inner; i++)
                dot[i] += gr[i] * yr[i];
    }
    for (int64_t l = 0; l < v->len; l++) {
        const float *yr = y + l * inner, *gr = dy + l * inner;
        float *xr = dx + l * inner;
        if (log)
            for (int64_t i = 0; i < inner; i++)
                xr[i] += gr[i] - expf(yr[i]) * dot[i];
        else
            for (int64_t i = 0; i < inner; i++)
                xr[i] += yr[i] * (gr[i] - dot[i]);
    }
}

static lps_status softmax_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_tensor *const *in, const lps_tensor *const *out,
                                   const lps_tensor *const *dout, lps_tensor *const *din,
                                   lps_error *err)
{
    const softmax_params *p = op->params;
    softmax_view v;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = softmax_view_of(op, in[0], &v, err);
    if (st != LPS_OK || v.len == 0 || v.inner == 0)
        return st;
    float *dot = lps_ctx_workspace(ctx, (size_t)v.inner, err);
    if (!dot)
        return lps_error_prefix(err, "%s", op->label);
    size_t block = (size_t)(v.len * v.inner);
    const float *y = lps_tensor_f32(out[0]), *dy = lps_tensor_f32(dout[0]);
    float *dx = lps_tensor_f32(din[0]);
    for (int64_t o = 0; o < v.outer; o++) {
        size_t off = (size_t)o * block;
        if (v.inner == 1)
            softmax_backward_row(y + off, dy + off, dx + off, v.len, p->log);
        else
            softmax_backward_block(y + off, dy + off, dx + off, &v, p->log, dot);
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_softmax = {
    .name = "Softmax",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = softmax_prepare,
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .logits_passthrough = true,
};

const lps_op_def lps_op_def_log_softmax = {
    .name = "LogSoftmax",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = log_softmax_prepare,
    .shape = softmax_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .logits_passthrough = true,
};
