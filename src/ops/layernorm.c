/* LayerNormalization (opsets 17..21).
 *
 * X is normalized over its dims [axis, rank) (axis default -1, negative
 * counts from the end): X viewed as [outer, inner] with one mean and
 * variance per row, Y = (X - mean) * invstd * Scale + B, where Scale and
 * the optional B broadcast (numpy rules, right-aligned) to X's dims from
 * axis on. Optional outputs Mean and InvStdDev have X's shape with the
 * normalized dims set to 1 and the stash_type element type: 1 (float,
 * the default) or 11 (double); other stash types are unsupported. The
 * statistics are computed in double either way (src/ops/norm_groups.c).
 *
 * Gradients flow to X, Scale and B, including those arriving at Mean and
 * InvStdDev. op->saved holds the per-row mean and invstd for backward. */
#include "ops/broadcast.h"
#include "ops/norm_groups.h"
#include "ops/op.h"

#include <stdlib.h>
#include <string.h>

enum { LN_X, LN_SCALE, LN_B, LN_MAX_INPUTS };
enum { LN_Y, LN_MEAN, LN_INVSTD, LN_MAX_OUTPUTS };
enum { LN_SAVED_MEAN, LN_SAVED_INVSTD };

#define LN_FIRST_OPSET 17
#define LN_DEFAULT_AXIS (-1)
#define LN_DEFAULT_EPSILON 1e-5f
#define LN_STASH_FLOAT 1
#define LN_STASH_DOUBLE 11
/* Backward scratch: expanded Scale, and dScale/dB when they broadcast. */
#define LN_SCRATCH_ARRAYS 3

typedef struct ln_params {
    int64_t axis;
    float epsilon;
    lps_dtype stash;
} ln_params;

static lps_status ln_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"axis", "epsilon", "stash_type", NULL};
    ln_params p;
    int64_t stash = LN_STASH_FLOAT;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis", LN_DEFAULT_AXIS, &p.axis, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "epsilon", LN_DEFAULT_EPSILON, &p.epsilon, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "stash_type", LN_STASH_FLOAT, &stash, err);
    if (st != LPS_OK)
        return st;
    if (stash != LN_STASH_FLOAT && stash != LN_STASH_DOUBLE)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "stash_type %lld is not supported (1 float, 11 double)",
                           (long long)stash);
    p.stash = stash == LN_STASH_FLOAT ? LPS_DT_FLOAT : LPS_DT_DOUBLE;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* The normalized axis of x (resolved from a negative value). Fails naming
 * the node when it is outside [-rank, rank). */
static lps_status ln_axis(const lps_op_node *op, const lps_tensor *x, int *axis, lps_error *err)
{
    const ln_params *p = op->params;
    if (p->axis < -x->rank || p->axis >= x->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                           (long long)p->axis, -x->rank, x->rank - 1);
    *axis = (int)(p->axis < 0 ? p->axis + x->rank : p->axis);
    return LPS_OK;
}

/* Checks that input index (Scale or B) is float and broadcasts to X's dims
 * from axis on. */
static lps_status ln_check_affine(const lps_op_node *op, const lps_tensor *t, int index,
                                  const lps_tensor *x, int axis, lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, t, index, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    int norm_rank = x->rank - axis;
    bool ok = t->rank <= norm_rank;
    for (int d = 0; ok && d < t->rank; d++) {
        int64_t want = x->dims[x->rank - t->rank + d];
        ok = t->dims[d] == 1 || t->dims[d] == want;
    }
    if (!ok) {
        char a[128], b[128];
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d of shape %s does not broadcast to %s",
                           index, lps_shape_str(t->rank, t->dims, a, sizeof a),
                           lps_shape_str(norm_rank, x->dims + axis, b, sizeof b));
    }
    return LPS_OK;
}

/* Validates the inputs and fills the [outer, inner] layout and axis. */
static lps_status ln_layout(const lps_op_node *op, const lps_tensor *const *in, lps_norm_layout *L,
                            int *axis, lps_error *err)
{
    const lps_tensor *x = in[LN_X], *b = op->n_inputs > LN_B ? in[LN_B] : NULL;
    lps_status st = lps_op_expect_dtype(op, x, LN_X, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = ln_axis(op, x, axis, err);
    if (st == LPS_OK)
        st = ln_check_affine(op, in[LN_SCALE], LN_SCALE, x, *axis, err);
    if (st == LPS_OK && b)
        st = ln_check_affine(op, b, LN_B, x, *axis, err);
    if (st != LPS_OK)
        return st;
    L->groups = lps_numel_of(*axis, x->dims);
    L->size = lps_numel_of(x->rank - *axis, x->dims + *axis);
    L->affine_period = 1;
    L->affine_stride = 0;
    L->affine_run = 1;
    return LPS_OK;
}

static lps_status ln_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    const ln_params *p = op->params;
    lps_norm_layout L;
    int axis = 0; /* set by ln_layout; initialized for -O3 -Wmaybe-uninitialized */
    lps_status st = ln_layout(op, in, &L, &axis, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *x = in[LN_X];
    for (size_t j = 0; j < op->n_outputs; j++) {
        out[j].dtype = j == LN_Y ? LPS_DT_FLOAT : p->stash;
        out[j].rank = x->rank;
        memcpy(out[j].dims, x->dims, sizeof x->dims);
        for (int d = axis; j != LN_Y && d < x->rank; d++)
            out[j].dims[d] = 1;
    }
    return LPS_OK;
}

/* t's values laid over the normalized dims as `size` floats: t's own data
 * when it already has that many, else expanded into buf. NULL t gives NULL. */
static const float *ln_full_affine(const lps_tensor *t, const lps_tensor *x, int axis,
                                   int64_t size, float *buf)
{
    if (!t)
        return NULL;
    if (lps_tensor_numel(t) == size)
        return lps_tensor_f32(t);
    memset(buf, 0, (size_t)size * sizeof *buf);
    /* Cannot fail: ln_check_affine accepted the shapes. */
    lps_bcast_expand_into(buf, x->rank - axis, x->dims + axis, lps_tensor_f32(t), t->rank,
                          t->dims, 1.0f, NULL);
    return buf;
}

/* Writes a statistic output (float or double) from the per-row floats. */
static void ln_write_stat(lps_tensor *o, const float *v, int64_t n)
{
    if (o->dtype == LPS_DT_FLOAT) {
        memcpy(o->data, v, (size_t)n * sizeof *v);
        return;
    }
    double *d = o->data;
    for (int64_t i = 0; i < n; i++)
        d[i] = v[i];
}

static lps_status ln_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    const ln_params *p = op->params;
    lps_norm_layout L;
    int axis = 0; /* set by ln_layout; initialized for -O3 -Wmaybe-uninitialized */
    lps_status st = ln_layout(op, in, &L, &axis, err);
    for (int k = LN_SAVED_MEAN; k <= LN_SAVED_INVSTD && st == LPS_OK; k++)
        st = lps_tensor_alloc(&op->saved[k], LPS_DT_FLOAT, 1, &L.groups, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    float *buf = lps_ctx_workspace(ctx, 2 * (size_t)L.size, err);
    if (!buf && L.size > 0)
        return lps_error_prefix(err, "%s", op->label);
    const lps_tensor *x = in[LN_X], *b = op->n_inputs > LN_B ? in[LN_B] : NULL;
    const float *scale = ln_full_affine(in[LN_SCALE], x, axis, L.size, buf);
    const float *bias = ln_full_affine(b, x, axis, L.size, buf + L.size);
    float *mean = lps_tensor_f32(&op->saved[LN_SAVED_MEAN]);
    float *invstd = lps_tensor_f32(&op->saved[LN_SAVED_INVSTD]);
    lps_norm_forward(&L, p->epsilon, lps_tensor_f32(x), scale, bias, lps_tensor_f32(out[LN_Y]),
                     mean, invstd);
    if (op->n_outputs > LN_MEAN && out[LN_MEAN])
        ln_write_stat(out[LN_MEAN], mean, L.groups);
    if (op->n_outputs > LN_INVSTD && out[LN_INVSTD])
        ln_write_stat(out[LN_INVSTD], invstd, L.groups);
    return LPS_OK;
}

/* Adds a gradient summed over the normalized dims (acc, `size` floats) to
 * din, shaped like input t, when t broadcasts (acc is then scratch). */
static lps_status ln_reduce_affine_grad(const lps_tensor *t, lps_tensor *din, const float *acc,
                                        const lps_tensor *x, int axis, lps_error *err)
{
    if (acc == lps_tensor_f32(din))
        return LPS_OK;
    return lps_bcast_sum_into(lps_tensor_f32(din), t->rank, t->dims, acc, x->rank - axis,
                              x->dims + axis, 1.0f, err);
}

/* Where the gradient of Scale or B accumulates: din itself when it has the
 * full normalized size, else zeroed scratch reduced afterwards. */
static float *ln_affine_grad_target(lps_tensor *din, int64_t size, float *scratch)
{
    if (!din)
        return NULL;
    if (lps_tensor_numel(din) == size)
        return lps_tensor_f32(din);
    memset(scratch, 0, (size_t)size * sizeof *scratch);
    return scratch;
}

static lps_status ln_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)out;
    lps_norm_layout L;
    int axis = 0; /* set by ln_layout; initialized for -O3 -Wmaybe-uninitialized */
    lps_status st = ln_layout(op, in, &L, &axis, err);
    if (st != LPS_OK)
        return st;
    if (lps_tensor_numel(&op->saved[LN_SAVED_MEAN]) != L.groups ||
        op->saved[LN_SAVED_MEAN].dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME, "backward needs a forward first");
    float *buf = lps_ctx_workspace(ctx, LN_SCRATCH_ARRAYS * (size_t)L.size, err);
    if (!buf && L.size > 0)
        return lps_error_prefix(err, "%s", op->label);
    const lps_tensor *x = in[LN_X];
    lps_tensor *db = op->n_inputs > LN_B && in[LN_B] ? din[LN_B] : NULL;
    const float *scale = ln_full_affine(in[LN_SCALE], x, axis, L.size, buf);
    float *dscale = ln_affine_grad_target(din[LN_SCALE], L.size, buf + L.size);
    float *dbias = ln_affine_grad_target(db, L.size, buf + 2 * L.size);
    const lps_tensor *dmean = op->n_outputs > LN_MEAN ? dout[LN_MEAN] : NULL;
    const lps_tensor *dinv = op->n_outputs > LN_INVSTD ? dout[LN_INVSTD] : NULL;
    lps_norm_backward(&L, lps_tensor_f32(x), scale, lps_tensor_f32(&op->saved[LN_SAVED_MEAN]),
                      lps_tensor_f32(&op->saved[LN_SAVED_INVSTD]),
                      dout[LN_Y] ? lps_tensor_f32(dout[LN_Y]) : NULL,
                      dmean ? lps_tensor_f32(dmean) : NULL, dinv ? lps_tensor_f32(dinv) : NULL,
                      din[LN_X] ? lps_tensor_f32(din[LN_X]) : NULL, dscale, dbias);
    if (dscale)
        st = ln_reduce_affine_grad(in[LN_SCALE], din[LN_SCALE], dscale, x, axis, err);
    if (st == LPS_OK && dbias)
        st = ln_reduce_affine_grad(in[LN_B], db, dbias, x, axis, err);
    return st == LPS_OK ? LPS_OK : lps_error_prefix(err, "%s", op->label);
}

const lps_op_def lps_op_def_layer_normalization = {
    .name = "LayerNormalization",
    .min_opset = LN_FIRST_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = LN_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = LN_MAX_OUTPUTS,
    .differentiable = (1u << LN_X) | (1u << LN_SCALE) | (1u << LN_B),
    .prepare = ln_prepare,
    .shape = ln_shape,
    .forward = ln_forward,
    .backward = ln_backward,
};
