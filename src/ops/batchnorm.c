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
#include "core/par.h"
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
 * dmean, dvar (then a row of scratch per thread chunk). */
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

/* BN_LANES float lanes as two generic vectors of half as many (GCC's
 * vector extension: one AVX2 register each in the avx2 clone, two SSE ones
 * in the baseline). Written as arrays of 16 floats, GCC's avx2 clone of
 * the two-sum loop below shuffled its lanes through the stack (vpermd and
 * blends around each add): that loop was 4.8% of a residual CNN training
 * step on AMD Zen 1. Each lane gets the same additions in the same order
 * as an array lane would, so the sums are the same bytes. */
typedef float bn_lanes __attribute__((vector_size(BN_LANES / 2 * sizeof(float))));

/* The lanes at p (any alignment). */
#define BN_LOAD(v, p) memcpy(&(v), (p), sizeof(v))

/* s + the lanes of lo then hi, in lane order, in double. */
#define BN_ADD_LANES(s, lo, hi)                                                                \
    do {                                                                                   \
        for (int j_ = 0; j_ < BN_LANES / 2; j_++)                                          \
            (s) += (lo)[j_];                                                               \
        for (int j_ = 0; j_ < BN_LANES / 2; j_++)                                          \
            (s) += (hi)[j_];                                                               \
    } while (0)

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
    bn_lanes lo = {0}, hi = {0}, a0, a1, b0, b1;
    int64_t i = 0;
    if (b) {
        for (; i + BN_LANES <= n; i += BN_LANES) {
            BN_LOAD(a0, a + i);
            BN_LOAD(a1, a + i + BN_LANES / 2);
            BN_LOAD(b0, b + i);
            BN_LOAD(b1, b + i + BN_LANES / 2);
            lo += (a0 - shift) * (b0 - shift_b);
            hi += (a1 - shift) * (b1 - shift_b);
        }
    } else {
        for (; i + BN_LANES <= n; i += BN_LANES) {
            BN_LOAD(a0, a + i);
            BN_LOAD(a1, a + i + BN_LANES / 2);
            lo += a0;
            hi += a1;
        }
    }
    for (; i < n; i++)
        s += b ? (double)(a[i] - shift) * (double)(b[i] - shift_b) : (double)a[i];
    BN_ADD_LANES(s, lo, hi);
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
        bn_lanes lo = {0}, hi = {0}, lo_x = {0}, hi_x = {0}, d0, d1, x0, x1;
        int64_t i = 0;
        for (; i + BN_LANES <= n; i += BN_LANES) {
            BN_LOAD(d0, dy + i);
            BN_LOAD(d1, dy + i + BN_LANES / 2);
            BN_LOAD(x0, x + i);
            BN_LOAD(x1, x + i + BN_LANES / 2);
            lo += d0;
            hi += d1;
            lo_x += d0 * (x0 - mean);
            hi_x += d1 * (x1 - mean);
        }
        for (; i < n; i++) {
            s += (double)dy[i];
            sx += (double)dy[i] * (double)(x[i] - mean);
        }
        BN_ADD_LANES(s, lo, hi);
        BN_ADD_LANES(sx, lo_x, hi_x);
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

/* X with one value per (image, channel) (inner == 1: BatchNorm1d over
 * [N, C], the sparsifier's training-only BatchNorm) is walked row by row,
 * a block of BN_BLOCK channels at a time, instead of channel by channel
 * with a stride of C: each channel's double sum gets the same additions in
 * the same order as bn_channel_moments (a row of one value is summed in
 * double alone), and the loops over a block's channels vectorise. */
#define BN_BLOCK 64

/* Channels [c0, c0 + len) of inner == 1 x: mean, var, invstd, and
 * y = x * a + b with op's fused activation on each row segment. */
BN_ROW_INLINE void bn_normalize_block(const lps_op_node *op, const float *x, float *y,
                                      const bn_view *v, int64_t c0, int64_t len,
                                      const float *scale, const float *bias, float *mean,
                                      float *invstd, float *var)
{
    const bn_params *p = op->params;
    const int64_t nc = v->channels;
    double sum[BN_BLOCK] = {0}, sq[BN_BLOCK] = {0};
    float a[BN_BLOCK], b[BN_BLOCK];
    for (int64_t n = 0; n < v->outer; n++)
        for (int64_t k = 0; k < len; k++)
            sum[k] += (double)x[n * nc + c0 + k];
    for (int64_t k = 0; k < len; k++)
        mean[c0 + k] = (float)(sum[k] / (double)v->outer);
    for (int64_t n = 0; n < v->outer; n++)
        for (int64_t k = 0; k < len; k++) {
            float d = x[n * nc + c0 + k] - mean[c0 + k];
            sq[k] += (double)d * (double)d;
        }
    for (int64_t k = 0; k < len; k++) {
        int64_t c = c0 + k;
        var[c] = (float)(sq[k] / (double)v->outer);
        invstd[c] = 1.0f / sqrtf(var[c] + p->epsilon);
        bn_affine(mean[c], invstd[c], scale[c], bias[c], &a[k], &b[k]);
    }
    for (int64_t n = 0; n < v->outer; n++) {
        size_t off = (size_t)(n * nc + c0);
        for (int64_t k = 0; k < len; k++)
            y[off + k] = x[off + k] * a[k] + b[k];
        lps_op_epilogue_apply(op, y + off, len);
    }
}

/* y = x * a[c] + b[c] with a = scale * invstd and b = B - mean * a. */
LPS_VECTOR_CLONES
static void bn_apply(const lps_op_node *op, const float *x, float *y, const bn_view *v,
                     const float *mean, const float *invstd, const float *scale,
                     const float *bias)
{
    if (v->inner == 0 || v->outer == 0) /* an empty tensor: x and y may be NULL */
        return;
    if (v->inner == 1) { /* row by row, as bn_normalize_block: no stride of C */
        float a[BN_BLOCK], b[BN_BLOCK];
        for (int64_t c0 = 0; c0 < v->channels; c0 += BN_BLOCK) {
            int64_t len = v->channels - c0 < BN_BLOCK ? v->channels - c0 : BN_BLOCK;
            for (int64_t k = 0; k < len; k++)
                bn_affine(mean[c0 + k], invstd[c0 + k], scale[c0 + k], bias[c0 + k], &a[k],
                          &b[k]);
            for (int64_t n = 0; n < v->outer; n++) {
                size_t off = (size_t)(n * v->channels + c0);
                for (int64_t k = 0; k < len; k++)
                    y[off + k] = x[off + k] * a[k] + b[k];
                lps_op_epilogue_apply(op, y + off, len);
            }
        }
        return;
    }
    for (int64_t c = 0; c < v->channels; c++) {
        float a, b;
        bn_affine(mean[c], invstd[c], scale[c], bias[c], &a, &b);
        bn_apply_channel(op, x, y, v, c, a, b);
    }
}

/* What an element of the batch-statistics forward (the sum, the centred
 * square, the affine map) and of backward (the two sums, dX) weighs for
 * the thread split (core/par.h), in sgemm flops' time: a profile of
 * ResNet-18's and the residual CNN's training measured about 1 ns an
 * element forward and 2 ns backward on one core (loaded machine; short
 * per-channel rows, double sums), where 6 and 10 flops (0.1-0.2 ns at
 * 50 GFLOP/s) kept every BatchNorm over a plane of 8x8 or less at batch
 * 64 on one thread. Half the measured figure, as a quiet core is faster.
 * Backward on [N, C] rows (LeNet-300-100's training-only BatchNorms at
 * batch 128, docs/benchmarks.md "Default run, ninth round") measured
 * 2.6 ns an element on a loaded Emerald Rapids core: at 48 its 128 x 300
 * BatchNorm stayed on one thread, 2.8% of the run's samples serial. */
#define BN_FORWARD_FLOPS 24
#define BN_BACKWARD_FLOPS 64

/* Channels per item of the thread split when inner == 1: a chunk's
 * channels then run in blocks of up to BN_BLOCK from its first one. Whole
 * blocks as items cut LeNet-300-100's 300 channels 192/108 (five blocks,
 * three and two); runs of 8 cut them 152/148, and keep every chunk's
 * first channel on a 32-byte boundary of a row. */
#define BN_SPLIT_CHANNELS 8

/* The passes below split the channels over threads (core/par.h): each
 * channel's statistics and outputs are computed by one thread in the order
 * above, so results do not depend on the thread count or the cut. The
 * items are channels, or runs of BN_SPLIT_CHANNELS when inner == 1. */
static int64_t bn_items(const bn_view *v)
{
    return v->inner == 1 ? (v->channels + BN_SPLIT_CHANNELS - 1) / BN_SPLIT_CHANNELS
                         : v->channels;
}

/* The channels [*c0, *c1) of chunk `chunk` of n_chunks. */
static void bn_chunk_channels(const bn_view *v, int chunk, int n_chunks, int64_t *c0, int64_t *c1)
{
    int64_t per_item = v->inner == 1 ? BN_SPLIT_CHANNELS : 1;
    lps_par_range(bn_items(v), chunk, n_chunks, c0, c1);
    *c0 *= per_item;
    *c1 = *c1 * per_item < v->channels ? *c1 * per_item : v->channels;
}

/* What the batch-statistics forward reads and writes. */
typedef struct bn_forward_job {
    const lps_op_node *op;
    bn_view v;
    const float *x, *scale, *bias;
    float *y, *mean, *invstd, *var;
} bn_forward_job;

/* One chunk of the batch-statistics forward, channel by channel: the
 * moments, then the normalization while the channel's rows are still in
 * cache (one pass over x from memory instead of two). */
LPS_VECTOR_CLONES
static void bn_normalize_chunk(void *arg, int chunk, int n_chunks)
{
    const bn_forward_job *j = arg;
    const bn_params *p = j->op->params;
    int64_t c0, c1;
    bn_chunk_channels(&j->v, chunk, n_chunks, &c0, &c1);
    if (j->v.inner == 1) {
        for (int64_t c = c0; c < c1; c += BN_BLOCK)
            bn_normalize_block(j->op, j->x, j->y, &j->v, c, c1 - c < BN_BLOCK ? c1 - c : BN_BLOCK,
                               j->scale, j->bias, j->mean, j->invstd, j->var);
        return;
    }
    for (int64_t c = c0; c < c1; c++) {
        bn_channel_moments(j->x, &j->v, c, &j->mean[c], &j->var[c]);
        j->invstd[c] = 1.0f / sqrtf(j->var[c] + p->epsilon);
        float a, b;
        bn_affine(j->mean[c], j->invstd[c], j->scale[c], j->bias[c], &a, &b);
        bn_apply_channel(j->op, j->x, j->y, &j->v, c, a, b);
    }
}

/* The batch-statistics forward; an empty batch gets zero moments. */
static void bn_normalize_batch(const lps_op_node *op, const float *x, float *y, const bn_view *v,
                               const float *scale, const float *bias, float *mean,
                               float *invstd, float *var)
{
    const bn_params *p = op->params;
    if (v->outer * v->inner == 0) { /* x may be NULL, no row to offset */
        for (int64_t c = 0; c < v->channels; c++) {
            mean[c] = var[c] = 0.0f;
            invstd[c] = 1.0f / sqrtf(p->epsilon);
        }
        return;
    }
    bn_forward_job job = {op, *v, x, scale, bias, y, mean, invstd, var};
    double flops = (double)(v->outer * v->channels * v->inner) * BN_FORWARD_FLOPS;
    lps_par_for(lps_par_chunks(bn_items(v), flops), bn_normalize_chunk, &job);
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
    bool dx_fresh; /* dx is written, not added to (lps_op_node.din_fresh) */
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

/* The per-channel coefficients of dX. With batch statistics xhat depends
 * on every x of its channel:
 *   dx = scale * invstd / M * (M dy - sum(dy) - xhat sum(dy xhat))
 *        + dmean / M + dvar * 2 (x - mean) / M
 * (the last two from gradients at the statistic outputs). With fixed
 * statistics dx = dy * scale * invstd. */
typedef struct bn_dx_coef {
    float mean, k, a, b, cm, cv;
} bn_dx_coef;

static inline bn_dx_coef bn_dx_coef_of(const bn_grad_rows *r, int64_t c, float sum_dy,
                                       float sum_dy_xhat)
{
    float invstd = r->invstd[c];
    float m = (float)(r->v.outer * r->v.inner), k = r->scale[c] * invstd;
    bn_dx_coef f = {.mean = r->mean[c], .k = k, .a = k / m * sum_dy_xhat * invstd,
                    .b = k / m * sum_dy, .cm = r->batch ? r->dmean[c] / m : 0.0f,
                    .cv = r->batch ? 2.0f * r->dvar[c] / m : 0.0f};
    return f;
}

/* With batch statistics, the gradient added to an element of dX at x
 * with gradient dy at Y, and at x with none at Y. */
static inline float bn_dx_batch(const bn_dx_coef *f, float x, float dy)
{
    float xc = x - f->mean;
    return f->k * dy - f->b - f->a * xc + f->cm + f->cv * xc;
}

static inline float bn_dx_stats_only(const bn_dx_coef *f, float x)
{
    return f->cm + f->cv * (x - f->mean);
}

/* dx[i] += the gradient of element i of a row, or with `fresh` (a
 * constant at each call) dx[i] = 0 + it, the bytes an add onto a zeroed
 * dX gives (lps_op_node.din_fresh); f[i * f_step] its channel's
 * coefficients (f_step 0: one channel's row; 1: a row over channels). */
BN_ROW_INLINE void bn_dx_row_to(const bn_grad_rows *r, const bn_dx_coef *f, int64_t f_step,
                                const float *x, const float *dy, float *dx, int64_t n,
                                bool fresh)
{
    if (!r->batch) {
        for (int64_t i = 0; i < n; i++)
            dx[i] = (fresh ? 0.0f : dx[i]) + dy[i] * f[i * f_step].k;
    } else if (dy) {
        for (int64_t i = 0; i < n; i++)
            dx[i] = (fresh ? 0.0f : dx[i]) + bn_dx_batch(&f[i * f_step], x[i], dy[i]);
    } else {
        for (int64_t i = 0; i < n; i++)
            dx[i] = (fresh ? 0.0f : dx[i]) + bn_dx_stats_only(&f[i * f_step], x[i]);
    }
}

BN_ROW_INLINE void bn_dx_row(const bn_grad_rows *r, const bn_dx_coef *f, int64_t f_step,
                             const float *x, const float *dy, float *dx, int64_t n)
{
    if (r->dx_fresh)
        bn_dx_row_to(r, f, f_step, x, dy, dx, n, true);
    else
        bn_dx_row_to(r, f, f_step, x, dy, dx, n, false);
}

/* Channel c of dX (bn_dx_coef_of). */
BN_ROW_INLINE void bn_channel_backward_x(const bn_grad_rows *r, int64_t c, float sum_dy,
                                         float sum_dy_xhat)
{
    const bn_view *v = &r->v;
    const bn_dx_coef f = bn_dx_coef_of(r, c, sum_dy, sum_dy_xhat);
    for (int64_t n = 0; n < v->outer; n++) {
        size_t off = (size_t)((n * v->channels + c) * v->inner);
        const float *dy = r->dy ? bn_dy_row(r, off) : NULL;
        bn_dx_row(r, &f, 0, r->x + off, dy, r->dx + off, v->inner);
    }
}

/* Backward of channels [c0, c0 + len) of inner == 1 rows (BN_BLOCK): the
 * sums row by row over the block, in bn_channel_grad_sums' order, then dX
 * row by row. */
BN_ROW_INLINE void bn_backward_block(const bn_grad_rows *r, int64_t c0, int64_t len)
{
    const int64_t nc = r->v.channels;
    float sum_dy[BN_BLOCK] = {0}, sum_dy_xhat[BN_BLOCK] = {0}, g[BN_BLOCK];
    if (r->dy) {
        double s[BN_BLOCK] = {0}, sx[BN_BLOCK] = {0};
        for (int64_t n = 0; n < r->v.outer; n++) {
            size_t off = (size_t)(n * nc + c0);
            const float *dy = lps_op_epilogue_grad(r->op, r->y + off, r->dy + off, g, len);
            for (int64_t k = 0; k < len; k++) {
                s[k] += (double)dy[k];
                sx[k] += (double)dy[k] * (double)(r->x[off + k] - r->mean[c0 + k]);
            }
        }
        for (int64_t k = 0; k < len; k++) {
            sum_dy[k] = (float)s[k];
            sum_dy_xhat[k] = (float)sx[k] * r->invstd[c0 + k];
        }
    }
    for (int64_t k = 0; k < len; k++) {
        if (r->dscale)
            r->dscale[c0 + k] += sum_dy_xhat[k];
        if (r->dbias)
            r->dbias[c0 + k] += sum_dy[k];
    }
    if (!r->dx || !(r->dy || r->batch))
        return;
    bn_dx_coef f[BN_BLOCK];
    for (int64_t k = 0; k < len; k++)
        f[k] = bn_dx_coef_of(r, c0 + k, sum_dy[k], sum_dy_xhat[k]);
    for (int64_t n = 0; n < r->v.outer; n++) {
        size_t off = (size_t)(n * nc + c0);
        const float *dy = r->dy ? lps_op_epilogue_grad(r->op, r->y + off, r->dy + off, g, len)
                                : NULL;
        bn_dx_row(r, f, 1, r->x + off, dy, r->dx + off, len);
    }
}

/* One chunk of backward, channel by channel: the sums, dscale and dB,
 * then dX while the channel's rows of dY and X are still in cache (one
 * pass over them from memory instead of two); inner == 1 rows a block of
 * channels at a time. Chunk k's row of scratch is at tmp + k * inner. */
LPS_VECTOR_CLONES
static void bn_backward_chunk(void *arg, int chunk, int n_chunks)
{
    bn_grad_rows r = *(const bn_grad_rows *)arg;
    int64_t c0, c1;
    bn_chunk_channels(&r.v, chunk, n_chunks, &c0, &c1);
    if (r.v.inner == 1) {
        for (int64_t c = c0; c < c1; c += BN_BLOCK)
            bn_backward_block(&r, c, c1 - c < BN_BLOCK ? c1 - c : BN_BLOCK);
        return;
    }
    r.tmp += (size_t)chunk * (size_t)r.v.inner;
    for (int64_t c = c0; c < c1; c++) {
        float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
        if (r.dy)
            bn_channel_grad_sums(&r, c, &sum_dy, &sum_dy_xhat);
        if (r.dscale)
            r.dscale[c] += sum_dy_xhat;
        if (r.dbias)
            r.dbias[c] += sum_dy;
        if (r.dx && (r.dy || r.batch))
            bn_channel_backward_x(&r, c, sum_dy, sum_dy_xhat);
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
    int chunks = lps_par_chunks(bn_items(&v),
                                (double)(v.outer * nc * v.inner) * BN_BACKWARD_FLOPS);
    float *scratch = lps_ctx_workspace(
        ctx, BN_SCRATCH_ARRAYS * (size_t)nc + (size_t)chunks * (size_t)v.inner, err);
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
        .dbias = din[BN_B] ? lps_tensor_f32(din[BN_B]) : NULL,
        .dx_fresh = din[BN_X] && (op->din_fresh & (1u << BN_X))};
    /* without dY or batch statistics dX gets nothing: a fresh one is zeros */
    if (rows.dx_fresh && !rows.dy && !batch)
        lps_par_zero(rows.dx, (size_t)lps_tensor_numel(din[BN_X]));
    lps_par_for(chunks, bn_backward_chunk, &rows);
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
    .overwrites_fresh_grad = 1u << BN_X,
    .prepare = bn_prepare,
    .shape = bn_shape,
    .forward = bn_forward,
    .backward = bn_backward,
    .update_state = bn_update_state,
    .state_inputs = (1u << BN_MEAN) | (1u << BN_VAR),
    .fuses_epilogue = true,
};
