/* Taps and passes of separable resampling (see resize_taps.h). Coordinate
 * transforms, nearest rounding, linear and cubic weights follow the ONNX
 * Resize specification: input coordinates outside the input read the edge
 * (clamped indices) except that cubic's exclude_outside drops those taps
 * and renormalizes, and tf_crop_and_resize marks such outputs outside. */
#include "ops/resize_taps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Input coordinate of output index o (as a double). */
static double source_coord(const lps_resize_rule *r, const lps_resize_axis *a, int64_t o)
{
    double s = a->scale, in = (double)a->in, out = (double)a->out, x = (double)o;
    switch (r->coord) {
    case LPS_RESIZE_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case LPS_RESIZE_HALF_PIXEL_SYMMETRIC: {
        double adjust = out / (s * in), center = in / 2.0;
        return center * (1.0 - adjust) + (x + 0.5) / s - 0.5;
    }
    case LPS_RESIZE_PYTORCH_HALF_PIXEL: return a->out > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case LPS_RESIZE_ALIGN_CORNERS: return a->out > 1 ? x * (in - 1.0) / (out - 1.0) : 0.0;
    case LPS_RESIZE_ASYMMETRIC: return x / s;
    case LPS_RESIZE_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    case LPS_RESIZE_TF_CROP_AND_RESIZE:
        return a->out > 1 ? a->roi_start * (in - 1.0) +
                                x * (a->roi_end - a->roi_start) * (in - 1.0) / (out - 1.0)
                          : 0.5 * (a->roi_start + a->roi_end) * (in - 1.0);
    }
    return x;
}

static int64_t clamp_index(int64_t i, int64_t in)
{
    return i < 0 ? 0 : i >= in ? in - 1 : i;
}

/* Index nearest to x under the rounding rule. */
static int64_t nearest_index(const lps_resize_rule *r, const lps_resize_axis *a, double x)
{
    double f = x - floor(x);
    switch (r->nearest) {
    case LPS_RESIZE_ROUND_PREFER_FLOOR: return (int64_t)(f > 0.5 ? ceil(x) : floor(x));
    case LPS_RESIZE_ROUND_PREFER_CEIL: return (int64_t)(f >= 0.5 ? ceil(x) : floor(x));
    case LPS_RESIZE_FLOOR: return (int64_t)floor(x);
    case LPS_RESIZE_CEIL: return (int64_t)ceil(x);
    case LPS_RESIZE_NEAREST_LEGACY: return (int64_t)(a->scale < 1.0 ? ceil(x) : floor(x));
    }
    return (int64_t)floor(x);
}

/* Keys' cubic kernel with coefficient A at distance t >= 0. */
static double cubic_weight(double t, double A)
{
    if (t <= 1.0)
        return ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    if (t < 2.0)
        return ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A;
    return 0.0;
}

/* Fills the taps of output o at coordinate x; returns their count. */
static int taps_at(const lps_resize_rule *r, const lps_resize_axis *a, double x, int64_t *idx,
                   float *w)
{
    int64_t in = a->in;
    if (r->mode == LPS_RESIZE_NEAREST) {
        idx[0] = clamp_index(nearest_index(r, a, x), in);
        w[0] = 1.0f;
        return 1;
    }
    if (r->mode == LPS_RESIZE_LINEAR) {
        double xc = x < 0.0 ? 0.0 : x > (double)(in - 1) ? (double)(in - 1) : x;
        int64_t i0 = (int64_t)floor(xc);
        double f = xc - (double)i0;
        idx[0] = i0;
        idx[1] = clamp_index(i0 + 1, in);
        w[0] = (float)(1.0 - f);
        w[1] = (float)f;
        return 2;
    }
    int64_t base = (int64_t)floor(x) - 1;
    double sum = 0.0, cw[LPS_RESIZE_MAX_TAPS];
    for (int t = 0; t < LPS_RESIZE_MAX_TAPS; t++) {
        int64_t i = base + t;
        cw[t] = cubic_weight(fabs(x - (double)i), r->cubic_a);
        if (r->exclude_outside && (i < 0 || i >= in))
            cw[t] = 0.0;
        sum += cw[t];
        idx[t] = clamp_index(i, in);
    }
    for (int t = 0; t < LPS_RESIZE_MAX_TAPS; t++)
        w[t] = (float)(r->exclude_outside && sum != 0.0 ? cw[t] / sum : cw[t]);
    return LPS_RESIZE_MAX_TAPS;
}

/* Builds the taps of one pass; false on allocation failure. */
static bool build_pass(lps_resize_pass *p, const lps_resize_rule *r, const lps_resize_axis *a)
{
    size_t n = (size_t)(a->out > 0 ? a->out : 1);
    p->idx = malloc(n * LPS_RESIZE_MAX_TAPS * sizeof *p->idx);
    p->w = malloc(n * LPS_RESIZE_MAX_TAPS * sizeof *p->w);
    p->n_taps = calloc(n, 1);
    p->outside = calloc(n, 1);
    if (!p->idx || !p->w || !p->n_taps || !p->outside)
        return false;
    for (int64_t o = 0; o < a->out; o++) {
        double x = source_coord(r, a, o);
        if (r->coord == LPS_RESIZE_TF_CROP_AND_RESIZE && (x < 0.0 || x > (double)(a->in - 1))) {
            p->outside[o] = 1;
            p->any_outside = true;
            continue;
        }
        p->n_taps[o] = (uint8_t)taps_at(r, a, x, p->idx + o * LPS_RESIZE_MAX_TAPS,
                                        p->w + o * LPS_RESIZE_MAX_TAPS);
    }
    return true;
}

/* Whether the pass maps every output to the same input index, weight 1. */
static bool pass_is_identity(const lps_resize_pass *p)
{
    if (p->in != p->out || p->any_outside)
        return false;
    for (int64_t o = 0; o < p->out; o++) {
        const int64_t *idx = p->idx + o * LPS_RESIZE_MAX_TAPS;
        const float *w = p->w + o * LPS_RESIZE_MAX_TAPS;
        if (p->n_taps[o] < 1 || idx[0] != o || w[0] != 1.0f)
            return false;
        for (int t = 1; t < p->n_taps[o]; t++)
            if (w[t] != 0.0f)
                return false;
    }
    return true;
}

static void release_pass(lps_resize_pass *p)
{
    free(p->idx);
    free(p->w);
    free(p->n_taps);
    free(p->outside);
    memset(p, 0, sizeof *p);
}

/* Contract in resize_taps.h. */
lps_status lps_resize_plan_init(lps_resize_plan *plan, const lps_resize_rule *rule, int rank,
                                const int64_t *dims, const int *axes, const lps_resize_axis *ax,
                                int n, lps_error *err)
{
    memset(plan, 0, sizeof *plan);
    plan->rank = rank;
    plan->extrapolation = rule->extrapolation;
    memcpy(plan->in_dims, dims, (size_t)rank * sizeof *dims);
    int64_t cur[LPS_MAX_RANK], result_numel[LPS_MAX_RANK];
    memcpy(cur, dims, (size_t)rank * sizeof *dims);
    for (int k = 0; k < n; k++) {
        lps_resize_pass *p = &plan->pass[plan->n_passes];
        p->axis = axes[k];
        p->outer = lps_numel_of(axes[k], cur);
        p->in = ax[k].in;
        p->out = ax[k].out;
        p->inner = lps_numel_of(rank - axes[k] - 1, cur + axes[k] + 1);
        if (!build_pass(p, rule, &ax[k])) {
            release_pass(p);
            lps_resize_plan_release(plan);
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for resize taps");
        }
        if (pass_is_identity(p)) {
            release_pass(p);
            continue;
        }
        plan->any_outside = plan->any_outside || p->any_outside;
        cur[axes[k]] = ax[k].out;
        result_numel[plan->n_passes++] = lps_numel_of(rank, cur);
    }
    /* every pass result but the last lives in scratch */
    for (int i = 0; i + 1 < plan->n_passes; i++)
        if (result_numel[i] > plan->max_inter)
            plan->max_inter = result_numel[i];
    memcpy(plan->out_dims, cur, (size_t)rank * sizeof *cur);
    return LPS_OK;
}

/* Contract in resize_taps.h. */
void lps_resize_plan_release(lps_resize_plan *plan)
{
    if (!plan)
        return;
    for (int i = 0; i < plan->n_passes; i++)
        release_pass(&plan->pass[i]);
    plan->n_passes = 0;
}

/* Contract in resize_taps.h: two intermediates, and a masked copy of dy
 * when some outputs are outside. */
size_t lps_resize_scratch_floats(const lps_resize_plan *plan)
{
    size_t n = 2 * (size_t)plan->max_inter;
    if (plan->any_outside)
        n += (size_t)lps_numel_of(plan->rank, plan->out_dims);
    return n ? n : 1;
}

/* dst[a, o, b] = sum_t w * src[a, idx_t, b] over one pass. */
static void pass_forward(const lps_resize_pass *p, const float *src, float *dst)
{
    for (int64_t a = 0; a < p->outer; a++) {
        const float *s = src + a * p->in * p->inner;
        float *d = dst + a * p->out * p->inner;
        for (int64_t o = 0; o < p->out; o++) {
            const int64_t *idx = p->idx + o * LPS_RESIZE_MAX_TAPS;
            const float *w = p->w + o * LPS_RESIZE_MAX_TAPS;
            float *row = d + o * p->inner;
            memset(row, 0, (size_t)p->inner * sizeof *row);
            for (int t = 0; t < p->n_taps[o]; t++) {
                const float *in_row = s + idx[t] * p->inner;
                for (int64_t b = 0; b < p->inner; b++)
                    row[b] += w[t] * in_row[b];
            }
        }
    }
}

/* dsrc[a, idx_t, b] += w * ddst[a, o, b]: the transposed pass. */
static void pass_adjoint(const lps_resize_pass *p, const float *ddst, float *dsrc)
{
    for (int64_t a = 0; a < p->outer; a++) {
        float *s = dsrc + a * p->in * p->inner;
        const float *d = ddst + a * p->out * p->inner;
        for (int64_t o = 0; o < p->out; o++) {
            const int64_t *idx = p->idx + o * LPS_RESIZE_MAX_TAPS;
            const float *w = p->w + o * LPS_RESIZE_MAX_TAPS;
            const float *row = d + o * p->inner;
            for (int t = 0; t < p->n_taps[o]; t++) {
                float *in_row = s + idx[t] * p->inner;
                for (int64_t b = 0; b < p->inner; b++)
                    in_row[b] += w[t] * row[b];
            }
        }
    }
}

/* Sets every output slab [.., o, ..] of the final tensor whose pass marks
 * o outside to value. */
static void fill_outside(const lps_resize_plan *plan, float *y, float value)
{
    for (int i = 0; i < plan->n_passes; i++) {
        const lps_resize_pass *p = &plan->pass[i];
        if (!p->any_outside)
            continue;
        int64_t outer = lps_numel_of(p->axis, plan->out_dims);
        int64_t inner = lps_numel_of(plan->rank - p->axis - 1, plan->out_dims + p->axis + 1);
        for (int64_t a = 0; a < outer; a++)
            for (int64_t o = 0; o < p->out; o++)
                if (p->outside[o])
                    for (int64_t b = 0; b < inner; b++)
                        y[(a * p->out + o) * inner + b] = value;
    }
}

/* Contract in resize_taps.h. */
void lps_resize_apply(const lps_resize_plan *plan, const float *x, float *y, float *scratch)
{
    int64_t numel = lps_numel_of(plan->rank, plan->out_dims);
    if (plan->n_passes == 0) {
        if (numel > 0)
            memcpy(y, x, (size_t)numel * sizeof *y);
        return;
    }
    const float *src = x;
    for (int i = 0; i < plan->n_passes; i++) {
        float *dst = i == plan->n_passes - 1 ? y : scratch + (i % 2) * plan->max_inter;
        pass_forward(&plan->pass[i], src, dst);
        src = dst;
    }
    if (plan->any_outside)
        fill_outside(plan, y, plan->extrapolation);
}

/* Contract in resize_taps.h. */
void lps_resize_adjoint(const lps_resize_plan *plan, const float *dy, float *dx, float *scratch)
{
    int64_t numel = lps_numel_of(plan->rank, plan->out_dims);
    if (plan->any_outside) {
        float *masked = scratch + 2 * plan->max_inter;
        memcpy(masked, dy, (size_t)numel * sizeof *masked);
        fill_outside(plan, masked, 0.0f);
        dy = masked;
    }
    if (plan->n_passes == 0) {
        for (int64_t i = 0; i < numel; i++)
            dx[i] += dy[i];
        return;
    }
    const float *src = dy;
    for (int i = plan->n_passes - 1; i >= 0; i--) {
        float *dst = i == 0 ? dx : scratch + ((i - 1) % 2) * plan->max_inter;
        if (i > 0) {
            const lps_resize_pass *p = &plan->pass[i];
            memset(dst, 0, (size_t)(p->outer * p->in * p->inner) * sizeof *dst);
        }
        pass_adjoint(&plan->pass[i], src, dst);
        src = dst;
    }
}
