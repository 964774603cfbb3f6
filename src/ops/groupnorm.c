/* InstanceNormalization (opsets 7..21) and GroupNormalization (18..21):
 * normalization of X [N, C, D1, ...] over channel groups, always with the
 * statistics of the input itself (there are no running statistics).
 *
 * InstanceNormalization: every (n, c) is one group over the spatial dims;
 * scale and B have one value per channel.
 * GroupNormalization: the C channels split into num_groups consecutive
 * groups of C / num_groups channels, normalized together over the channels
 * and spatial dims. Opset 18 gives scale and bias one value per group; 21
 * (which deprecates 18's form) one per channel. stash_type (21) names the
 * precision of the statistics: 1 (float) and 11 (double) are accepted and
 * both are computed in double (src/ops/norm_groups.c).
 *
 * Gradients flow to X, scale and B. op->saved holds the per-group mean and
 * invstd of the last forward for backward. */
#include "ops/norm_groups.h"
#include "ops/op.h"

#include <stdlib.h>
#include <string.h>

enum { GN_X, GN_SCALE, GN_B, GN_N_INPUTS };
enum { GN_SAVED_MEAN, GN_SAVED_INVSTD };

#define GN_FIRST_OPSET 18
#define GN_PER_CHANNEL_OPSET 21
#define GN_DEFAULT_EPSILON 1e-5f
#define GN_STASH_FLOAT 1
#define GN_STASH_DOUBLE 11

typedef struct gn_params {
    float epsilon;
    int64_t num_groups;       /* 0: InstanceNormalization, a group per channel */
    bool per_channel_affine;  /* scale/B per channel, not per group */
} gn_params;

/* Stores params in op->params; fails naming the node on no memory. */
static lps_status gn_store(lps_op_node *op, const gn_params *p, lps_error *err)
{
    op->params = malloc(sizeof *p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, p, sizeof *p);
    return LPS_OK;
}

static lps_status instance_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"epsilon", NULL};
    gn_params p = {.num_groups = 0, .per_channel_affine = true};
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "epsilon", GN_DEFAULT_EPSILON, &p.epsilon, err);
    return st == LPS_OK ? gn_store(op, &p, err) : st;
}

static lps_status group_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_18[] = {"epsilon", "num_groups", NULL};
    static const char *const known_21[] = {"epsilon", "num_groups", "stash_type", NULL};
    bool per_channel = op->opset >= GN_PER_CHANNEL_OPSET;
    gn_params p = {.num_groups = -1, .per_channel_affine = per_channel};
    int64_t stash = GN_STASH_FLOAT;
    lps_status st = lps_op_check_attrs(op, per_channel ? known_21 : known_18, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "epsilon", GN_DEFAULT_EPSILON, &p.epsilon, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "num_groups", -1, &p.num_groups, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "stash_type", GN_STASH_FLOAT, &stash, err);
    if (st != LPS_OK)
        return st;
    if (p.num_groups < 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "num_groups must be given and at least 1");
    if (stash != GN_STASH_FLOAT && stash != GN_STASH_DOUBLE)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "stash_type %lld is not supported (1 float, 11 double)",
                           (long long)stash);
    return gn_store(op, &p, err);
}

/* Validates the inputs and fills the group layout (see norm_groups.h). */
static lps_status gn_layout(const lps_op_node *op, const lps_tensor *const *in, lps_norm_layout *L,
                            lps_error *err)
{
    const gn_params *p = op->params;
    for (int i = GN_X; i < GN_N_INPUTS; i++) {
        lps_status st = lps_op_expect_dtype(op, in[i], i, LPS_DT_FLOAT, err);
        if (st != LPS_OK)
            return st;
    }
    const lps_tensor *x = in[GN_X];
    if (x->rank < 2)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "X must have rank >= 2 (N, C, ...), got %d",
                           x->rank);
    int64_t n = x->dims[0], c = x->dims[1], spatial = lps_numel_of(x->rank - 2, x->dims + 2);
    int64_t groups = p->num_groups ? p->num_groups : c;
    if (c % groups != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "%lld channels do not split into %lld groups",
                           (long long)c, (long long)groups);
    int64_t per_group = c / groups, affine = p->per_channel_affine ? c : groups;
    for (int i = GN_SCALE; i < GN_N_INPUTS; i++)
        if (lps_tensor_numel(in[i]) != affine)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "input %d has %lld values, expected %lld (one per %s)", i,
                               (long long)lps_tensor_numel(in[i]), (long long)affine,
                               p->per_channel_affine ? "channel" : "group");
    L->groups = n * groups;
    L->size = per_group * spatial;
    L->affine_period = groups;
    L->affine_stride = p->per_channel_affine ? per_group : 1;
    L->affine_run = p->per_channel_affine ? spatial : L->size;
    if (L->affine_run < 1)
        L->affine_run = 1; /* empty groups: no element is visited */
    return LPS_OK;
}

static lps_status gn_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    lps_norm_layout L;
    lps_status st = gn_layout(op, in, &L, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = in[GN_X]->rank;
    memcpy(out[0].dims, in[GN_X]->dims, sizeof in[GN_X]->dims);
    return LPS_OK;
}

static lps_status gn_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    const gn_params *p = op->params;
    lps_norm_layout L;
    lps_status st = gn_layout(op, in, &L, err);
    if (st != LPS_OK)
        return st;
    for (int k = GN_SAVED_MEAN; k <= GN_SAVED_INVSTD && st == LPS_OK; k++)
        st = lps_tensor_alloc(&op->saved[k], LPS_DT_FLOAT, 1, &L.groups, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", op->label);
    lps_norm_forward(&L, p->epsilon, lps_tensor_f32(in[GN_X]), lps_tensor_f32(in[GN_SCALE]),
                     lps_tensor_f32(in[GN_B]), lps_tensor_f32(out[0]),
                     lps_tensor_f32(&op->saved[GN_SAVED_MEAN]),
                     lps_tensor_f32(&op->saved[GN_SAVED_INVSTD]));
    return LPS_OK;
}

static lps_status gn_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)out;
    lps_norm_layout L;
    lps_status st = gn_layout(op, in, &L, err);
    if (st != LPS_OK)
        return st;
    if (op->saved[GN_SAVED_MEAN].dtype != LPS_DT_FLOAT ||
        lps_tensor_numel(&op->saved[GN_SAVED_MEAN]) != L.groups)
        return lps_op_fail(op, err, LPS_ERR_RUNTIME, "backward needs a forward first");
    if (!dout[0])
        return LPS_OK;
    lps_norm_backward(&L, lps_tensor_f32(in[GN_X]), lps_tensor_f32(in[GN_SCALE]),
                      lps_tensor_f32(&op->saved[GN_SAVED_MEAN]),
                      lps_tensor_f32(&op->saved[GN_SAVED_INVSTD]), lps_tensor_f32(dout[0]), NULL,
                      NULL, din[GN_X] ? lps_tensor_f32(din[GN_X]) : NULL,
                      din[GN_SCALE] ? lps_tensor_f32(din[GN_SCALE]) : NULL,
                      din[GN_B] ? lps_tensor_f32(din[GN_B]) : NULL);
    return LPS_OK;
}

const lps_op_def lps_op_def_instance_normalization = {
    .name = "InstanceNormalization",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = GN_N_INPUTS,
    .max_inputs = GN_N_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << GN_X) | (1u << GN_SCALE) | (1u << GN_B),
    .prepare = instance_prepare,
    .shape = gn_shape,
    .forward = gn_forward,
    .backward = gn_backward,
};

const lps_op_def lps_op_def_group_normalization = {
    .name = "GroupNormalization",
    .min_opset = GN_FIRST_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = GN_N_INPUTS,
    .max_inputs = GN_N_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << GN_X) | (1u << GN_SCALE) | (1u << GN_B),
    .prepare = group_prepare,
    .shape = gn_shape,
    .forward = gn_forward,
    .backward = gn_backward,
};
