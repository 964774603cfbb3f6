/* Dropout (opsets 7..21).
 *
 * Versions: before 12 the ratio is an attribute (default 0.5) and the only
 * input is the data; from 12 ratio and training_mode are optional scalar
 * inputs and `seed` an attribute. The optional mask output has the data's
 * type before opset 10 and is bool from 10.
 *
 * When dropout is active. The same graph serves training and evaluation,
 * so the run decides: dropout is random iff lps_ctx_training(ctx) (the trainer's
 * training steps), also when a training_mode input says false, so graphs
 * exported for inference still drop out while being fine-tuned. Outside
 * training it is the identity, also in a graph exported in training mode
 * (training_mode input true): evaluation treats it as in inference. A run
 * that honors the graph's training flags (lps_ctx_honors_training_flags(ctx), the
 * conformance runner) drops out where training_mode=true, with the mask
 * ONNX's reference draws: numpy's legacy MT19937 seeded with the `seed`
 * attribute (default 0), uniform doubles in element order, kept when
 * >= ratio. Training steps ignore `seed`: their masks come from the run's
 * seeded generator (lps_ctx_random), so runs are reproducible from the
 * run's seed.
 *
 * Active: y = x * mask / (1 - ratio) with mask[i] = (u_i >= ratio) for
 * uniform u_i; the mask is kept in op->saved[0] (bool) for backward.
 * Inactive: y = x and the mask output is all ones. */
#include "ops/op.h"
#include "ops/simd.h"

#include <stdlib.h>
#include <string.h>

enum { DROP_X, DROP_RATIO, DROP_TRAINING_MODE, DROP_MAX_INPUTS };
enum { DROP_Y, DROP_MASK, DROP_MAX_OUTPUTS };
enum { DROP_SAVED_MASK = 0 };

#define DROP_INPUTS_OPSET 12
#define DROP_BOOL_MASK_OPSET 10
#define DROP_DEFAULT_RATIO 0.5f

typedef struct drop_params {
    float ratio;   /* the attribute's, before opset 12 */
    uint32_t seed; /* the reference mask's seed */
} drop_params;

/* MT19937 as numpy's legacy RandomState runs it (state size, shift and
 * the generator's published constants). */
enum { MT_N = 624, MT_M = 397 };
#define MT_INIT_MULT 1812433253u
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

typedef struct mt19937 {
    uint32_t s[MT_N];
    int pos;
} mt19937;

static void mt_seed(mt19937 *mt, uint32_t seed)
{
    mt->s[0] = seed;
    for (uint32_t i = 1; i < MT_N; i++)
        mt->s[i] = MT_INIT_MULT * (mt->s[i - 1] ^ (mt->s[i - 1] >> 30)) + i;
    mt->pos = MT_N;
}

/* Next tempered 32-bit output. */
static uint32_t mt_next(mt19937 *mt)
{
    if (mt->pos >= MT_N) {
        for (int i = 0; i < MT_N; i++) {
            uint32_t y = (mt->s[i] & MT_UPPER) | (mt->s[(i + 1) % MT_N] & MT_LOWER);
            mt->s[i] = mt->s[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
        }
        mt->pos = 0;
    }
    uint32_t y = mt->s[mt->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* numpy's random_sample: 53 random bits from two outputs, in [0, 1). */
static double mt_double(mt19937 *mt)
{
    uint32_t a = mt_next(mt) >> 5, b = mt_next(mt) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

static lps_status drop_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_old[] = {"ratio", NULL};
    static const char *const known_new[] = {"seed", NULL};
    bool inputs = op->opset >= DROP_INPUTS_OPSET;
    drop_params p = {.ratio = DROP_DEFAULT_RATIO};
    int64_t seed = 0;
    lps_status st = lps_op_check_attrs(op, inputs ? known_new : known_old, err);
    if (st == LPS_OK && !inputs)
        st = lps_op_attr_float(op, "ratio", DROP_DEFAULT_RATIO, &p.ratio, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "seed", 0, &seed, err);
    if (st != LPS_OK)
        return st;
    p.seed = (uint32_t)seed;
    if (!inputs && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; ratio/training_mode are inputs only from opset %d",
                           op->n_inputs, DROP_INPUTS_OPSET);
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* The ratio from the attribute or the optional input, checked to lie in
 * [0, 1) so that the scale 1 / (1 - ratio) is finite. */
static lps_status drop_ratio(const lps_op_node *op, const lps_tensor *const *in, float *ratio,
                             lps_error *err)
{
    *ratio = ((const drop_params *)op->params)->ratio;
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

/* Whether this forward drops out (see the file comment), and with
 * ONNX's reference mask (*reference) rather than the run's generator. */
static bool drop_active(const lps_op_node *op, const lps_exec_ctx *ctx,
                        const lps_tensor *const *in, float ratio, bool *reference)
{
    const lps_tensor *mode = op->n_inputs > DROP_TRAINING_MODE ? in[DROP_TRAINING_MODE] : NULL;
    *reference = !lps_ctx_training(ctx) && lps_ctx_honors_training_flags(ctx) && mode &&
                 *(const uint8_t *)mode->data && ratio > 0.0f;
    return lps_ctx_training(ctx) || *reference;
}

/* Uniforms drawn per block of this many, on the stack. */
#define DROP_DRAW_BLOCK 256

/* keep[i] = (u_i >= ratio) for the run generator's next n uniforms. */
static void drop_draw_keep(lps_exec_ctx *ctx, float ratio, uint8_t *keep, size_t n)
{
    float u[DROP_DRAW_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += DROP_DRAW_BLOCK) {
        size_t m = n - i0 < DROP_DRAW_BLOCK ? n - i0 : DROP_DRAW_BLOCK;
        lps_ctx_random_fill(ctx, u, m);
        for (size_t i = 0; i < m; i++)
            keep[i0 + i] = u[i] >= ratio;
    }
}

/* v where keep (1), +0 where not (0): a bit mask rather than a branch, so
 * the loops below vectorise. */
static inline float drop_masked(float v, uint8_t keep)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0u - (uint32_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* y = x * scale where kept, 0 elsewhere. */
LPS_VECTOR_CLONES static void drop_apply(const float *restrict x, const uint8_t *restrict keep,
                                         float scale, float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = drop_masked(x[i] * scale, keep[i]);
}

/* dx += dy * scale where kept. */
LPS_VECTOR_CLONES static void drop_apply_grad(const float *restrict dy,
                                              const uint8_t *restrict keep, float scale,
                                              float *restrict dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] += drop_masked(dy[i] * scale, keep[i]);
}

static lps_status drop_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    float ratio;
    bool reference;
    lps_status st = drop_ratio(op, in, &ratio, err);
    if (st != LPS_OK)
        return st;
    size_t n = (size_t)lps_tensor_numel(in[DROP_X]);
    const float *x = lps_tensor_f32(in[DROP_X]);
    float *y = lps_tensor_f32(out[DROP_Y]);
    lps_tensor *mask_out = op->n_outputs > DROP_MASK ? out[DROP_MASK] : NULL;
    if (!drop_active(op, ctx, in, ratio, &reference)) {
        if (n > 0)
            memcpy(y, x, n * sizeof *y);
        if (mask_out)
            drop_write_mask(mask_out, NULL, n);
        return LPS_OK;
    }
    lps_tensor *saved = &op->saved[DROP_SAVED_MASK];
    st = lps_tensor_alloc(saved, LPS_DT_BOOL, in[DROP_X]->rank, in[DROP_X]->dims, err);
    mt19937 *mt = reference ? malloc(sizeof *mt) : NULL;
    if (st == LPS_OK && reference && !mt)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for the reference generator");
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    if (mt)
        mt_seed(mt, ((const drop_params *)op->params)->seed);
    uint8_t *keep = saved->data;
    if (mt)
        for (size_t i = 0; i < n; i++)
            keep[i] = mt_double(mt) >= (double)ratio;
    else
        drop_draw_keep(ctx, ratio, keep, n);
    free(mt);
    drop_apply(x, keep, 1.0f / (1.0f - ratio), y, n);
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
    if (!lps_ctx_training(ctx)) {
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
    drop_apply_grad(dy, saved->data, 1.0f / (1.0f - ratio), dx, n);
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
