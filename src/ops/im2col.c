/* im2col / col2im over any number of spatial dims (see im2col.h).
 *
 * Both walk the same way: for each channel and kernel tap, one output line
 * (the last spatial dim) at a time. Along a line the tap's input positions
 * advance by the last stride, so the in-bounds part is one contiguous range
 * of output positions computed once per tap, and the outer dims decide per
 * line whether the whole line lies in the padding. */
#include "ops/im2col.h"

#include <string.h>

/* Output positions [*lo, *hi) of the last spatial dim whose tap k lands
 * inside the input; *off is the tap's input position at output 0. */
static inline void tap_range(const lps_spatial_geom *g, const int64_t *k, int64_t *lo,
                             int64_t *hi, int64_t *off)
{
    int last = g->n - 1;
    int64_t s = g->stride[last], in = g->in[last], out = g->out[last];
    *off = k[last] * g->dilation[last] - g->pad_begin[last];
    *lo = *off >= 0 ? 0 : (-*off + s - 1) / s;
    *hi = *off < in ? (in - 1 - *off) / s + 1 : 0;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

/* Plane offset of tap k on the output line at outer position o (dims
 * 0..n-2), not counting the last dim; -1 when an outer dim is in padding. */
static inline int64_t line_base(const lps_spatial_geom *g, const int64_t *k, const int64_t *o)
{
    int64_t base = 0;
    for (int d = 0; d < g->n - 1; d++) {
        int64_t idx = o[d] * g->stride[d] + k[d] * g->dilation[d] - g->pad_begin[d];
        if (idx < 0 || idx >= g->in[d])
            return -1;
        base += idx * g->in_stride[d];
    }
    return base;
}

void lps_im2col(const float *im, int64_t channels, const lps_spatial_geom *g, float *col)
{
    int last = g->n - 1;
    int64_t out_last = g->out[last], s = g->stride[last];
    int64_t lines = g->out_size / out_last;
    float *dst = col;
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = im + c * g->in_size;
        int64_t k[LPS_SPATIAL_MAX] = {0};
        do {
            int64_t lo, hi, off;
            int64_t o[LPS_SPATIAL_MAX] = {0};
            tap_range(g, k, &lo, &hi, &off);
            for (int64_t line = 0; line < lines; line++, dst += out_last) {
                int64_t base = line_base(g, k, o);
                lps_spatial_next_pos(last, g->out, o);
                if (base < 0) {
                    for (int64_t j = 0; j < out_last; j++)
                        dst[j] = 0.0f;
                    continue;
                }
                /* the pads at either end of a line are a few floats: plain loops beat memset */
                const float *line_in = plane + base;
                for (int64_t j = 0; j < lo; j++)
                    dst[j] = 0.0f;
                if (s == 1 && hi > lo) {
                    memcpy(dst + lo, line_in + (off + lo), (size_t)(hi - lo) * sizeof *dst);
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        dst[j] = line_in[off + j * s];
                }
                for (int64_t j = hi; j < out_last; j++)
                    dst[j] = 0.0f;
            }
        } while (lps_spatial_next_pos(g->n, g->kernel, k));
    }
}

void lps_col2im(const float *col, int64_t channels, const lps_spatial_geom *g, float *im)
{
    int last = g->n - 1;
    int64_t out_last = g->out[last], s = g->stride[last];
    int64_t lines = g->out_size / out_last;
    const float *src = col;
    for (int64_t c = 0; c < channels; c++) {
        float *plane = im + c * g->in_size;
        int64_t k[LPS_SPATIAL_MAX] = {0};
        do {
            int64_t lo, hi, off;
            int64_t o[LPS_SPATIAL_MAX] = {0};
            tap_range(g, k, &lo, &hi, &off);
            for (int64_t line = 0; line < lines; line++, src += out_last) {
                int64_t base = line_base(g, k, o);
                lps_spatial_next_pos(last, g->out, o);
                if (base < 0)
                    continue;
                float *line_im = plane + base;
                if (s == 1) {
                    for (int64_t j = lo; j < hi; j++)
                        line_im[off + j] += src[j];
                } else {
                    for (int64_t j = lo; j < hi; j++)
                        line_im[off + j * s] += src[j];
                }
            }
        } while (lps_spatial_next_pos(g->n, g->kernel, k));
    }
}
