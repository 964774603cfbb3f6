/* Resize (opsets 10..21) and Upsample (7..9): nearest, linear and cubic
 * interpolation over any subset of axes.
 *
 * Every mode is separable: output index o of an axis reads a few input
 * indices with fixed weights (1 tap nearest, 2 linear, 4 cubic), so the
 * resize is one pass per resized axis over the tensor viewed as
 * [outer, in, inner] -> [outer, out, inner], and backward (w.r.t. X) the
 * same passes transposed in reverse order. The taps are built per call
 * (src/ops/resize_taps.c) from the coordinate transformation, the nearest
 * rounding and the cubic coefficient.
 *
 * Inputs by version: Upsample-7 takes scales as an attribute, Upsample-9
 * and Resize-10 as input 1; Resize-11+ takes roi (1), scales (2) and sizes
 * (3), one of scales/sizes non-empty (an empty or omitted tensor counts as
 * absent). Output sizes: floor(in * scale) from scales, else sizes, with
 * keep_aspect_ratio_policy (18+) not_larger / not_smaller taking one scale
 * for all resized axes and rounding in * scale. axes (18+) names the
 * resized axes; scales/sizes/roi then have one entry per listed axis.
 * Upsample and Resize-10 use the asymmetric transform, and for nearest
 * onnxruntime's rounding of that era (ceil when the axis shrinks, floor
 * otherwise); their "linear" (also "bilinear" in Upsample) is linear.
 * tf_crop_and_resize outputs that map outside the input get
 * extrapolation_value (and no gradient). antialias=1 is unsupported. */
#include "ops/op.h"
#include "ops/resize_taps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { RZ_X = 0 };
#define RZ_FIRST_OPSET 10
#define RZ_AXES_OPSET 18
#define RZ_UPSAMPLE_INPUT_OPSET 9
#define RZ_UPSAMPLE_LAST_OPSET 9
#define RZ_DEFAULT_CUBIC_A (-0.75f)

typedef enum rz_keep { RZ_KEEP_STRETCH, RZ_KEEP_NOT_LARGER, RZ_KEEP_NOT_SMALLER } rz_keep;

typedef struct rz_params {
    lps_resize_rule rule;
    bool upsample;           /* Upsample, not Resize */
    int roi_input, scales_input, sizes_input; /* -1: the version has none */
    rz_keep keep;
    int n_axes;              /* -1: all axes */
    int64_t axes[LPS_MAX_RANK];
    int n_scales_attr;       /* Upsample-7's scales attribute, else -1 */
    float scales_attr[LPS_MAX_RANK];
} rz_params;

/* Index of name in the NULL-terminated list, or -1. */
static int rz_find(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* Reads string attribute `attr` (default def) as an index into names;
 * an unknown value is LPS_ERR_UNSUPPORTED naming the node. */
static lps_status rz_enum_attr(const lps_op_node *op, const char *attr, const char *def,
                               const char *const *names, int *out, lps_error *err)
{
    const char *v;
    lps_status st = lps_op_attr_string(op, attr, def, &v, err);
    if (st != LPS_OK)
        return st;
    *out = rz_find(names, v);
    if (*out < 0)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "%s '%s' is not supported", attr, v);
    return LPS_OK;
}

/* The mode, coordinate and rounding attributes of Resize-11+. */
static lps_status rz_parse_rule(const lps_op_node *op, rz_params *p, lps_error *err)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    static const char *const coords[] = {"half_pixel",   "half_pixel_symmetric",
                                         "pytorch_half_pixel", "align_corners",
                                         "asymmetric",   "tf_half_pixel_for_nn",
                                         "tf_crop_and_resize", NULL};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil", NULL};
    static const char *const keeps[] = {"stretch", "not_larger", "not_smaller", NULL};
    int mode, coord, near, keep;
    int64_t exclude = 0, antialias = 0;
    lps_status st = rz_enum_attr(op, "mode", "nearest", modes, &mode, err);
    if (st == LPS_OK)
        st = rz_enum_attr(op, "coordinate_transformation_mode", "half_pixel", coords, &coord, err);
    if (st == LPS_OK)
        st = rz_enum_attr(op, "nearest_mode", "round_prefer_floor", nearest, &near, err);
    if (st == LPS_OK)
        st = rz_enum_attr(op, "keep_aspect_ratio_policy", "stretch", keeps, &keep, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "cubic_coeff_a", RZ_DEFAULT_CUBIC_A, &p->rule.cubic_a, err);
    if (st == LPS_OK)
        st = lps_op_attr_float(op, "extrapolation_value", 0.0f, &p->rule.extrapolation, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "exclude_outside", 0, &exclude, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "antialias", 0, &antialias, err);
    if (st != LPS_OK)
        return st;
    if (antialias != 0)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "antialias=%lld is not supported",
                           (long long)antialias);
    p->rule.mode = (lps_resize_mode)mode;
    p->rule.coord = (lps_resize_coord)coord;
    p->rule.nearest = (lps_resize_nearest)near;
    p->rule.exclude_outside = exclude != 0;
    p->keep = (rz_keep)keep;
    return lps_op_attr_ints(op, "axes", p->axes, LPS_MAX_RANK, &p->n_axes, err);
}

/* The single "mode" attribute of Upsample and Resize-10. */
static lps_status rz_parse_legacy(const lps_op_node *op, rz_params *p, lps_error *err)
{
    static const char *const modes[] = {"nearest", "linear", "bilinear", NULL};
    int mode;
    lps_status st = rz_enum_attr(op, "mode", "nearest", modes, &mode, err);
    if (st != LPS_OK)
        return st;
    if (mode == 2 && !p->upsample)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "mode 'bilinear' is not supported");
    p->rule.mode = mode == 0 ? LPS_RESIZE_NEAREST : LPS_RESIZE_LINEAR;
    p->rule.coord = LPS_RESIZE_ASYMMETRIC;
    p->rule.nearest = LPS_RESIZE_NEAREST_LEGACY;
    p->n_axes = -1;
    p->n_scales_attr = -1;
    if (!p->upsample || op->opset >= RZ_UPSAMPLE_INPUT_OPSET)
        return LPS_OK;
    const lps_attr *a = lps_node_attr(op->node, "scales");
    if (!a || a->type != LPS_ATTR_FLOATS || a->n_floats > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'scales' (floats) is required");
    p->n_scales_attr = (int)a->n_floats;
    if (a->n_floats)
        memcpy(p->scales_attr, a->floats, a->n_floats * sizeof *a->floats);
    return LPS_OK;
}

/* Common prepare; upsample selects the Upsample attribute set. */
static lps_status rz_prepare_common(lps_op_node *op, bool upsample, lps_error *err)
{
    static const char *const known_up7[] = {"mode", "scales", NULL};
    static const char *const known_old[] = {"mode", NULL};
    static const char *const known_11[] = {"coordinate_transformation_mode", "cubic_coeff_a",
                                           "exclude_outside", "extrapolation_value", "mode",
                                           "nearest_mode", NULL};
    static const char *const known_18[] = {"antialias", "axes", "coordinate_transformation_mode",
                                           "cubic_coeff_a", "exclude_outside",
                                           "extrapolation_value", "keep_aspect_ratio_policy",
                                           "mode", "nearest_mode", NULL};
    bool legacy = upsample || op->opset < LPS_RESIZE_RULES_OPSET;
    const char *const *known = upsample && op->opset < RZ_UPSAMPLE_INPUT_OPSET ? known_up7
                               : legacy                                      ? known_old
                               : op->opset < RZ_AXES_OPSET                   ? known_11
                                                                             : known_18;
    rz_params p;
    memset(&p, 0, sizeof p);
    p.upsample = upsample;
    p.n_scales_attr = -1;
    p.roi_input = legacy ? -1 : 1;
    p.scales_input = upsample && op->opset < RZ_UPSAMPLE_INPUT_OPSET ? -1 : legacy ? 1 : 2;
    p.sizes_input = legacy ? -1 : 3;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = legacy ? rz_parse_legacy(op, &p, err) : rz_parse_rule(op, &p, err);
    if (st != LPS_OK)
        return st;
    int max_inputs = p.scales_input < 0 ? 1 : p.sizes_input >= 0 ? 4 : 2;
    if ((int)op->n_inputs > max_inputs || (p.scales_input >= 0 && legacy && op->n_inputs < 2))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "has %zu inputs, expected %d", op->n_inputs,
                           max_inputs);
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

static lps_status resize_prepare(lps_op_node *op, lps_error *err)
{
    return rz_prepare_common(op, false, err);
}

static lps_status upsample_prepare(lps_op_node *op, lps_error *err)
{
    return rz_prepare_common(op, true, err);
}

/* Optional input i, NULL when the version has none, it is omitted or it is
 * empty (Resize-11 passes an empty scales next to sizes). */
static const lps_tensor *rz_input(const lps_op_node *op, const lps_tensor *const *in, int i)
{
    if (i < 0 || (size_t)i >= op->n_inputs || !in[i] || lps_tensor_numel(in[i]) == 0)
        return NULL;
    return in[i];
}

/* Per-axis flags and the resized-axis list: axes[k] for k < *n. */
static lps_status rz_axes(const lps_op_node *op, int rank, int *axes, int *n, lps_error *err)
{
    const rz_params *p = op->params;
    bool seen[LPS_MAX_RANK] = {false};
    *n = p->n_axes < 0 ? rank : p->n_axes;
    for (int k = 0; k < *n; k++) {
        int64_t a = p->n_axes < 0 ? k : p->axes[k];
        if (a < -rank || a >= rank || seen[a < 0 ? a + rank : a])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axes has a bad or repeated axis %lld",
                               (long long)a);
        axes[k] = (int)(a < 0 ? a + rank : a);
        seen[axes[k]] = true;
    }
    return LPS_OK;
}

/* A float value of a float or double tensor. */
static double rz_real(const lps_tensor *t, int64_t i)
{
    return t->dtype == LPS_DT_DOUBLE ? ((const double *)t->data)[i] : lps_tensor_f32(t)[i];
}

/* Output size and scale of every resized axis from scales or sizes (see
 * the file comment), and the roi of tf_crop_and_resize. */
static lps_status rz_sizes(const lps_op_node *op, const lps_tensor *const *in, const int *axes,
                           int n, lps_resize_axis *ax, lps_error *err)
{
    const rz_params *p = op->params;
    const lps_tensor *x = in[RZ_X], *scales = rz_input(op, in, p->scales_input);
    const lps_tensor *sizes = rz_input(op, in, p->sizes_input), *roi = rz_input(op, in, p->roi_input);
    int given = scales ? (int)lps_tensor_numel(scales) : sizes ? (int)lps_tensor_numel(sizes)
                                                               : p->n_scales_attr;
    if ((scales && sizes) || given != n ||
        (scales && scales->dtype != LPS_DT_FLOAT) || (sizes && sizes->dtype != LPS_DT_INT64))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "needs exactly one of float scales / int64 sizes with %d values", n);
    if (roi && (lps_tensor_numel(roi) != 2 * n ||
                (roi->dtype != LPS_DT_FLOAT && roi->dtype != LPS_DT_DOUBLE)))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "roi must be float with %d values", 2 * n);
    double keep = p->keep == RZ_KEEP_NOT_LARGER ? INFINITY : -INFINITY;
    for (int k = 0; k < n; k++) {
        ax[k].in = x->dims[axes[k]];
        ax[k].roi_start = roi ? rz_real(roi, k) : 0.0;
        ax[k].roi_end = roi ? rz_real(roi, n + k) : 1.0;
        if (sizes) {
            ax[k].out = lps_tensor_i64(sizes)[k];
            ax[k].scale = ax[k].in > 0 ? (double)ax[k].out / (double)ax[k].in : 1.0;
        } else {
            float s = scales ? lps_tensor_f32(scales)[k] : p->scales_attr[k];
            if (!(s > 0.0f) || (p->upsample && s < 1.0f))
                return lps_op_fail(op, err, LPS_ERR_INVALID, "scale %g is not allowed", (double)s);
            ax[k].scale = s;
            ax[k].out = (int64_t)floorf((float)ax[k].in * s);
        }
        keep = p->keep == RZ_KEEP_NOT_LARGER ? fmin(keep, ax[k].scale) : fmax(keep, ax[k].scale);
    }
    for (int k = 0; sizes && p->keep != RZ_KEEP_STRETCH && k < n; k++) {
        ax[k].scale = keep;
        ax[k].out = (int64_t)floor(keep * (double)ax[k].in + 0.5);
    }
    for (int k = 0; k < n; k++)
        if (ax[k].out < 0 || ax[k].out > LPS_MAX_NUMEL || (ax[k].in == 0 && ax[k].out > 0))
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %d: size %lld -> %lld", axes[k],
                               (long long)ax[k].in, (long long)ax[k].out);
    return LPS_OK;
}

/* Validates the inputs and resolves every resized axis; out gets the
 * output shape. */
static lps_status rz_resolve(const lps_op_node *op, const lps_tensor *const *in, int *axes,
                             int *n, lps_resize_axis *ax, lps_shape *out, lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, in[RZ_X], RZ_X, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = rz_axes(op, in[RZ_X]->rank, axes, n, err);
    if (st == LPS_OK)
        st = rz_sizes(op, in, axes, *n, ax, err);
    if (st != LPS_OK)
        return st;
    out->dtype = LPS_DT_FLOAT;
    out->rank = in[RZ_X]->rank;
    memcpy(out->dims, in[RZ_X]->dims, sizeof out->dims);
    for (int k = 0; k < *n; k++)
        out->dims[axes[k]] = ax[k].out;
    if (lps_numel_of(out->rank, out->dims) < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "the output would be too large");
    return LPS_OK;
}

static lps_status rz_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                           lps_error *err)
{
    int axes[LPS_MAX_RANK], n;
    lps_resize_axis ax[LPS_MAX_RANK];
    return rz_resolve(op, in, axes, &n, ax, out, err);
}

/* Builds the passes of one call into *plan (release with
 * lps_resize_plan_release). Fails naming the node. */
static lps_status rz_plan(const lps_op_node *op, const lps_tensor *const *in,
                          lps_resize_plan *plan, lps_error *err)
{
    const rz_params *p = op->params;
    int axes[LPS_MAX_RANK], n;
    lps_resize_axis ax[LPS_MAX_RANK];
    lps_shape out;
    lps_status st = rz_resolve(op, in, axes, &n, ax, &out, err);
    if (st == LPS_OK)
        st = lps_resize_plan_init(plan, &p->rule, in[RZ_X]->rank, in[RZ_X]->dims, axes, ax, n,
                                  err);
    return st == LPS_OK ? LPS_OK : lps_error_prefix(err, "%s", op->label);
}

/* Builds the plan and runs it: dst = resize(src), or with adjoint
 * dst += resize^T(src). Fails naming the node. */
static lps_status rz_run(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                         const float *src, float *dst, bool adjoint, lps_error *err)
{
    lps_resize_plan plan;
    lps_status st = rz_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    float *scratch = lps_ctx_workspace(ctx, lps_resize_scratch_floats(&plan), err);
    if (!scratch)
        st = lps_error_prefix(err, "%s", op->label);
    else if (adjoint)
        lps_resize_adjoint(&plan, src, dst, scratch);
    else
        lps_resize_apply(&plan, src, dst, scratch);
    lps_resize_plan_release(&plan);
    return st;
}

static lps_status rz_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                             lps_tensor *const *out, lps_error *err)
{
    return rz_run(op, ctx, in, lps_tensor_f32(in[RZ_X]), lps_tensor_f32(out[0]), false, err);
}

static lps_status rz_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              const lps_tensor *const *out, const lps_tensor *const *dout,
                              lps_tensor *const *din, lps_error *err)
{
    (void)out;
    if (!din[RZ_X] || !dout[0])
        return LPS_OK;
    return rz_run(op, ctx, in, lps_tensor_f32(dout[0]), lps_tensor_f32(din[RZ_X]), true, err);
}

const lps_op_def lps_op_def_resize = {
    .name = "Resize",
    .min_opset = RZ_FIRST_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 4,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << RZ_X,
    .prepare = resize_prepare,
    .shape = rz_shape,
    .forward = rz_forward,
    .backward = rz_backward,
};

const lps_op_def lps_op_def_upsample = {
    .name = "Upsample",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = RZ_UPSAMPLE_LAST_OPSET,
    .min_inputs = 1,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << RZ_X,
    .prepare = upsample_prepare,
    .shape = rz_shape,
    .forward = rz_forward,
    .backward = rz_backward,
};
