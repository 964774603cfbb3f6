/* Sliding-window geometry for Conv and pooling (see spatial.h). */
#include "ops/spatial.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    lps_auto_pad mode;
} auto_pad_names[] = {
    {"NOTSET", LPS_AUTO_PAD_NOTSET},
    {"VALID", LPS_AUTO_PAD_VALID},
    {"SAME_UPPER", LPS_AUTO_PAD_SAME_UPPER},
    {"SAME_LOWER", LPS_AUTO_PAD_SAME_LOWER},
};

/* Smallest q with q * b >= a, for a >= 0 and b > 0. */
static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static lps_status parse_auto_pad(const lps_op_node *op, lps_spatial_attrs *a, lps_error *err)
{
    const char *s;
    lps_status st = lps_op_attr_string(op, "auto_pad", "NOTSET", &s, err);
    if (st != LPS_OK)
        return st;
    for (size_t i = 0; i < sizeof auto_pad_names / sizeof auto_pad_names[0]; i++) {
        if (strcmp(s, auto_pad_names[i].name) == 0) {
            a->auto_pad = auto_pad_names[i].mode;
            return LPS_OK;
        }
    }
    return lps_op_fail(op, err, LPS_ERR_INVALID,
                       "attribute 'auto_pad' is '%s', expected NOTSET, VALID, SAME_UPPER or "
                       "SAME_LOWER",
                       s);
}

/* Reads an ints attribute and checks every value is in [min, LPS_SPATIAL_ATTR_MAX]. */
static lps_status parse_list(const lps_op_node *op, const char *name, int64_t *vals, int max,
                             int64_t min, int *count, lps_error *err)
{
    lps_status st = lps_op_attr_ints(op, name, vals, max, count, err);
    if (st != LPS_OK)
        return st;
    for (int i = 0; i < *count; i++)
        if (vals[i] < min || vals[i] > LPS_SPATIAL_ATTR_MAX)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "attribute '%s' has value %lld, expected %lld to %lld", name,
                               (long long)vals[i], (long long)min,
                               (long long)LPS_SPATIAL_ATTR_MAX);
    return LPS_OK;
}

lps_status lps_spatial_parse(const lps_op_node *op, lps_spatial_attrs *a, lps_error *err)
{
    int64_t ceil_mode = 0;
    memset(a, 0, sizeof *a);
    lps_status st = parse_auto_pad(op, a, err);
    if (st == LPS_OK)
        st = parse_list(op, "kernel_shape", a->kernel, LPS_SPATIAL_MAX, 1, &a->n_kernel, err);
    if (st == LPS_OK)
        st = parse_list(op, "strides", a->strides, LPS_SPATIAL_MAX, 1, &a->n_strides, err);
    if (st == LPS_OK)
        st = parse_list(op, "dilations", a->dilations, LPS_SPATIAL_MAX, 1, &a->n_dilations, err);
    if (st == LPS_OK)
        st = parse_list(op, "pads", a->pads, 2 * LPS_SPATIAL_MAX, 0, &a->n_pads, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "ceil_mode", 0, &ceil_mode, err);
    if (st != LPS_OK)
        return st;
    if (ceil_mode != 0 && ceil_mode != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "attribute 'ceil_mode' is %lld, expected 0 or 1", (long long)ceil_mode);
    a->ceil_mode = ceil_mode == 1;
    if (a->n_pads >= 0 && a->n_pads % 2 != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'pads' has an odd count %d",
                           a->n_pads);
    if (a->auto_pad != LPS_AUTO_PAD_NOTSET)
        for (int i = 0; i < a->n_pads; i++)
            if (a->pads[i] != 0)
                return lps_op_fail(op, err, LPS_ERR_INVALID,
                                   "attributes 'pads' and 'auto_pad' cannot both be set");
    return LPS_OK;
}

static lps_status check_count(const lps_op_node *op, const char *name, int count, int want,
                              lps_error *err)
{
    if (count >= 0 && count != want)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "attribute '%s' has %d values, expected one per spatial dim (%d)", name,
                           count, want);
    return LPS_OK;
}

/* Output size and pads of spatial dim d from the padding mode. */
static lps_status resolve_dim(const lps_op_node *op, const lps_spatial_attrs *a, int d,
                              lps_spatial_geom *g, lps_error *err)
{
    int64_t in = g->in[d], s = g->stride[d];
    int64_t extent = (g->kernel[d] - 1) * g->dilation[d] + 1;
    switch (a->auto_pad) {
    case LPS_AUTO_PAD_NOTSET: {
        int64_t span = in + g->pad_begin[d] + g->pad_end[d] - extent;
        if (span < 0)
            break;
        g->out[d] = span / s + 1;
        if (a->ceil_mode && span % s != 0) {
            g->out[d]++;
            /* a window may not start in the end padding */
            if ((g->out[d] - 1) * s >= in + g->pad_begin[d])
                g->out[d]--;
        }
        return LPS_OK;
    }
    case LPS_AUTO_PAD_VALID:
        g->pad_begin[d] = g->pad_end[d] = 0;
        if (in < extent)
            break;
        g->out[d] = (in - extent) / s + 1;
        return LPS_OK;
    case LPS_AUTO_PAD_SAME_UPPER:
    case LPS_AUTO_PAD_SAME_LOWER: {
        g->out[d] = ceil_div(in, s);
        int64_t total = (g->out[d] - 1) * s + extent - in;
        if (total < 0)
            total = 0;
        int64_t small = total / 2;
        /* the odd pad goes to the end for SAME_UPPER, the beginning for SAME_LOWER */
        g->pad_begin[d] = a->auto_pad == LPS_AUTO_PAD_SAME_UPPER ? small : total - small;
        g->pad_end[d] = total - g->pad_begin[d];
        return LPS_OK;
    }
    }
    return lps_op_fail(op, err, LPS_ERR_INVALID,
                       "spatial dim %d of size %lld (with pads) is smaller than the kernel "
                       "extent %lld",
                       d, (long long)in, (long long)extent);
}

/* Fails when some window of dim d covers only padding. */
static lps_status check_windows_overlap(const lps_op_node *op, const lps_spatial_geom *g, int d,
                                        lps_error *err)
{
    for (int64_t o = 0; o < g->out[d]; o++) {
        int64_t start = o * g->stride[d] - g->pad_begin[d];
        int64_t k_lo = start >= 0 ? 0 : ceil_div(-start, g->dilation[d]);
        if (k_lo >= g->kernel[d] || start + k_lo * g->dilation[d] >= g->in[d])
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "window %lld of spatial dim %d lies wholly in the padding",
                               (long long)o, d);
    }
    return LPS_OK;
}

lps_status lps_spatial_resolve(const lps_op_node *op, const lps_spatial_attrs *a, int n,
                               const int64_t *in_dims, const int64_t *kernel,
                               bool windows_overlap_input, lps_spatial_geom *g, lps_error *err)
{
    lps_status st = LPS_OK;
    memset(g, 0, sizeof *g);
    if (n < 1 || n > LPS_SPATIAL_MAX)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "input has %d spatial dims, supported are 1 to %d", n,
                           LPS_SPATIAL_MAX);
    if (!kernel && a->n_kernel < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'kernel_shape' is required");
    st = check_count(op, "kernel_shape", a->n_kernel, n, err);
    if (st == LPS_OK)
        st = check_count(op, "strides", a->n_strides, n, err);
    if (st == LPS_OK)
        st = check_count(op, "dilations", a->n_dilations, n, err);
    if (st == LPS_OK && a->n_pads >= 0 && a->n_pads != 2 * n)
        st = lps_op_fail(op, err, LPS_ERR_INVALID,
                         "attribute 'pads' has %d values, expected %d for %d spatial dims",
                         a->n_pads, 2 * n, n);
    if (st != LPS_OK)
        return st;
    g->n = n;
    for (int d = 0; d < n; d++) {
        if (kernel && a->n_kernel >= 0 && kernel[d] != a->kernel[d])
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "attribute 'kernel_shape' disagrees with the weight shape in "
                               "spatial dim %d (%lld vs %lld)",
                               d, (long long)a->kernel[d], (long long)kernel[d]);
        g->in[d] = in_dims[d];
        if (g->in[d] < 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "spatial dim %d is empty", d);
        g->kernel[d] = kernel ? kernel[d] : a->kernel[d];
        if (g->kernel[d] < 1 || g->kernel[d] > LPS_SPATIAL_ATTR_MAX)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "kernel dim %d is %lld", d,
                               (long long)g->kernel[d]);
        g->stride[d] = a->n_strides >= 0 ? a->strides[d] : 1;
        g->dilation[d] = a->n_dilations >= 0 ? a->dilations[d] : 1;
        g->pad_begin[d] = a->n_pads >= 0 ? a->pads[d] : 0;
        g->pad_end[d] = a->n_pads >= 0 ? a->pads[n + d] : 0;
        st = resolve_dim(op, a, d, g, err);
        if (st == LPS_OK && windows_overlap_input)
            st = check_windows_overlap(op, g, d, err);
        if (st != LPS_OK)
            return st;
    }
    g->in_size = lps_numel_of(n, g->in);
    g->out_size = lps_numel_of(n, g->out);
    g->kernel_size = lps_numel_of(n, g->kernel);
    if (g->in_size < 0 || g->out_size < 0 || g->kernel_size < 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "spatial sizes overflow");
    g->in_stride[n - 1] = 1;
    for (int d = n - 2; d >= 0; d--)
        g->in_stride[d] = g->in_stride[d + 1] * g->in[d + 1];
    return LPS_OK;
}

bool lps_spatial_is_pointwise(const lps_spatial_geom *g)
{
    for (int d = 0; d < g->n; d++)
        if (g->kernel[d] != 1 || g->stride[d] != 1 || g->pad_begin[d] != 0 || g->pad_end[d] != 0)
            return false;
    return true;
}

/* True when tap kd of dim d reads an input element for some output
 * position: o * stride + kd * dilation - pad_begin in [0, in) for some o in
 * [0, out). */
static bool tap_is_live(const lps_spatial_geom *g, int d, int64_t kd)
{
    int64_t s = g->stride[d], at = kd * g->dilation[d] - g->pad_begin[d];
    int64_t o_lo = at >= 0 ? 0 : (-at + s - 1) / s; /* first o with a position >= 0 */
    return o_lo < g->out[d] && o_lo * s + at < g->in[d];
}

bool lps_spatial_crop_dead_taps(const lps_spatial_geom *g, lps_spatial_geom *live,
                                int64_t first[LPS_SPATIAL_MAX])
{
    bool cropped = false;
    *live = *g;
    for (int d = 0; d < LPS_SPATIAL_MAX; d++)
        first[d] = 0;
    for (int d = 0; d < g->n; d++) {
        int64_t lo = 0, hi = g->kernel[d];
        while (lo < hi && !tap_is_live(g, d, lo))
            lo++;
        while (hi > lo && !tap_is_live(g, d, hi - 1))
            hi--;
        if (lo == hi) {
            *live = *g;
            for (int e = 0; e < LPS_SPATIAL_MAX; e++)
                first[e] = 0;
            return false;
        }
        first[d] = lo;
        live->kernel[d] = hi - lo;
        live->pad_begin[d] -= lo * g->dilation[d];
        live->pad_end[d] -= (g->kernel[d] - hi) * g->dilation[d];
        cropped = cropped || hi - lo < g->kernel[d];
    }
    live->kernel_size = 1;
    for (int d = 0; d < g->n; d++)
        live->kernel_size *= live->kernel[d];
    return cropped;
}

bool lps_window_begin(const lps_spatial_geom *g, const int64_t *pos, lps_window *w)
{
    int last = g->n - 1;
    w->valid_count = 1;
    w->padded_count = 1;
    w->line_offset = 0;
    for (int d = 0; d < g->n; d++) {
        int64_t dil = g->dilation[d];
        int64_t start = pos[d] * g->stride[d] - g->pad_begin[d];
        int64_t lo, hi, padded_hi;
        if (dil == 1) {
            /* no divisions: border windows are a quarter of a small feature map */
            lo = start >= 0 ? 0 : -start;
            hi = g->in[d] - start;
            padded_hi = g->in[d] + g->pad_end[d] - start;
        } else {
            lo = start >= 0 ? 0 : ceil_div(-start, dil);
            hi = start < g->in[d] ? (g->in[d] - 1 - start) / dil + 1 : 0;
            padded_hi = (g->in[d] + g->pad_end[d] - 1 - start) / dil + 1;
        }
        if (hi > g->kernel[d])
            hi = g->kernel[d];
        if (padded_hi > g->kernel[d])
            padded_hi = g->kernel[d];
        w->start[d] = start;
        w->k_lo[d] = lo;
        w->k_hi[d] = hi;
        w->k[d] = lo;
        w->valid_count *= hi > lo ? hi - lo : 0;
        w->padded_count *= padded_hi;
        w->line_offset += (start + lo * dil) * g->in_stride[d];
    }
    w->line_step = g->dilation[last];
    w->line_len = w->k_hi[last] - w->k_lo[last];
    return w->valid_count > 0;
}

bool lps_window_next_line(const lps_spatial_geom *g, lps_window *w)
{
    for (int d = g->n - 2; d >= 0; d--) {
        int64_t step = g->dilation[d] * g->in_stride[d];
        w->k[d]++;
        w->line_offset += step;
        if (w->k[d] < w->k_hi[d])
            return true;
        w->line_offset -= (w->k_hi[d] - w->k_lo[d]) * step;
        w->k[d] = w->k_lo[d];
    }
    return false;
}

/* First and one-past-last output position of dim d whose window fits inside
 * the input. */
static void inside_range(const lps_spatial_geom *g, int d, int64_t *lo, int64_t *hi)
{
    int64_t s = g->stride[d], extent = (g->kernel[d] - 1) * g->dilation[d] + 1;
    /* start = o*s - pad_begin must be >= 0 and start + extent <= in */
    *lo = ceil_div(g->pad_begin[d], s);
    int64_t room = g->in[d] - extent + g->pad_begin[d];
    *hi = room < 0 ? 0 : room / s + 1;
    if (*hi > g->out[d])
        *hi = g->out[d];
    if (*lo > *hi)
        *lo = *hi;
}

/* Decides the current line's outer dims from s->pos. */
static void sweep_line(lps_sweep *s)
{
    const lps_spatial_geom *g = s->g;
    s->line_base = 0;
    s->line_inside = true;
    for (int d = 0; d < g->n - 1; d++) {
        if (s->pos[d] < s->fit_lo[d] || s->pos[d] >= s->fit_hi[d])
            s->line_inside = false;
        s->line_base += (s->pos[d] * g->stride[d] - g->pad_begin[d]) * g->in_stride[d];
    }
}

lps_status lps_sweep_init(const lps_op_node *op, const lps_spatial_geom *g, lps_sweep *s,
                          lps_error *err)
{
    memset(s, 0, sizeof *s);
    s->g = g;
    s->taps = malloc((size_t)g->kernel_size * sizeof *s->taps);
    if (!s->taps)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for window taps");
    int64_t k[LPS_SPATIAL_MAX] = {0};
    int64_t t = 0;
    do {
        int64_t off = 0;
        for (int d = 0; d < g->n; d++)
            off += k[d] * g->dilation[d] * g->in_stride[d];
        s->taps[t++] = off;
    } while (lps_spatial_next_pos(g->n, g->kernel, k));
    for (int d = 0; d < g->n; d++)
        inside_range(g, d, &s->fit_lo[d], &s->fit_hi[d]);
    sweep_line(s);
    return LPS_OK;
}

void lps_sweep_release(lps_sweep *s)
{
    if (!s)
        return;
    free(s->taps);
    s->taps = NULL;
}

bool lps_sweep_next_line(lps_sweep *s)
{
    int last = s->g->n - 1;
    s->pos[last] = 0;
    bool more = lps_spatial_next_pos(last, s->g->out, s->pos);
    sweep_line(s);
    return more;
}
