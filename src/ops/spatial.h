/* Sliding-window geometry shared by Conv and the pooling operators.
 *
 * An (N, C, D1, ..., Dn) tensor is swept by a kernel window over its n
 * spatial dims. The attributes that describe the sweep (kernel_shape,
 * strides, pads, dilations, auto_pad, ceil_mode) are parsed once in prepare
 * (lps_spatial_parse) and resolved against an actual input shape into the
 * concrete per-dim numbers (lps_spatial_resolve) by shape, forward and
 * backward alike, so all three agree on one formula. */
#ifndef LPS_OPS_SPATIAL_H
#define LPS_OPS_SPATIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op.h"

/* Spatial dims a tensor can have besides N and C. */
#define LPS_SPATIAL_MAX (LPS_MAX_RANK - 2)
/* Largest kernel, stride, dilation or pad accepted. Far beyond any real
 * model, and small enough that products such as kernel * dilation and
 * (dims up to LPS_MAX_NUMEL) + pads cannot overflow int64. */
#define LPS_SPATIAL_ATTR_MAX ((int64_t)1 << 24)

typedef enum lps_auto_pad {
    LPS_AUTO_PAD_NOTSET = 0,
    LPS_AUTO_PAD_VALID,
    LPS_AUTO_PAD_SAME_UPPER,
    LPS_AUTO_PAD_SAME_LOWER
} lps_auto_pad;

/* The window attributes as written in the node. A count is -1 when the
 * attribute is absent (its default then applies at resolve time). */
typedef struct lps_spatial_attrs {
    lps_auto_pad auto_pad;
    bool ceil_mode;
    int n_kernel, n_strides, n_dilations, n_pads;
    int64_t kernel[LPS_SPATIAL_MAX];
    int64_t strides[LPS_SPATIAL_MAX];
    int64_t dilations[LPS_SPATIAL_MAX];
    int64_t pads[2 * LPS_SPATIAL_MAX]; /* all begins, then all ends */
} lps_spatial_attrs;

/* The concrete sweep for one input shape. */
typedef struct lps_spatial_geom {
    int n; /* spatial dims */
    int64_t in[LPS_SPATIAL_MAX];
    int64_t out[LPS_SPATIAL_MAX];
    int64_t kernel[LPS_SPATIAL_MAX];
    int64_t stride[LPS_SPATIAL_MAX];
    int64_t dilation[LPS_SPATIAL_MAX];
    int64_t pad_begin[LPS_SPATIAL_MAX];
    int64_t pad_end[LPS_SPATIAL_MAX];
    int64_t in_stride[LPS_SPATIAL_MAX]; /* row-major strides of the input plane */
    int64_t in_size;     /* product of in[] */
    int64_t out_size;    /* product of out[] */
    int64_t kernel_size; /* product of kernel[] */
} lps_spatial_geom;

/* Reads auto_pad, kernel_shape, strides, dilations, pads and ceil_mode from
 * the node (absent ones keep their defaults; which of them a node may carry
 * is the caller's lps_op_check_attrs list). Fails with LPS_ERR_INVALID on
 * non-positive kernel/stride/dilation, negative pads, values above
 * LPS_SPATIAL_ATTR_MAX, an unknown auto_pad string or more values than
 * LPS_SPATIAL_MAX allows, naming the node. */
lps_status lps_spatial_parse(const lps_op_node *op, lps_spatial_attrs *attrs, lps_error *err);

/* Resolves attrs against an input whose n spatial dims are in_dims. kernel
 * is the kernel taken from a weight tensor (Conv) or NULL to require
 * kernel_shape (pooling). Attribute lists must have n (pads 2n) values.
 * windows_overlap_input demands that every window holds at least one input
 * element (pooling has no value for a window made only of padding). Fails
 * with LPS_ERR_INVALID, naming the node, on any mismatch or when the input
 * is smaller than the kernel. */
lps_status lps_spatial_resolve(const lps_op_node *op, const lps_spatial_attrs *attrs, int n,
                               const int64_t *in_dims, const int64_t *kernel,
                               bool windows_overlap_input, lps_spatial_geom *geom,
                               lps_error *err);

/* True when every output element sees exactly the input element at the
 * same position (1x1 kernel, unit strides, no padding): im2col would copy. */
bool lps_spatial_is_pointwise(const lps_spatial_geom *geom);

/* Crops the kernel of geom to the hull of its live taps, those that land
 * inside the input for at least one output position: with small planes and
 * "same" padding (a 3x3 kernel over a 1x1 plane) the others only ever read
 * padding, and a convolution's GEMM would multiply zeros. Per dim d, taps
 * [first[d], first[d] + live->kernel[d]) are kept; live has the same
 * input, output, strides and dilations, pads shifted so that every kept
 * tap reads the same input element as before. Returns true when a tap was
 * dropped; false (live = *geom, first = 0) when every tap is live or some
 * dim has no live tap at all. */
bool lps_spatial_crop_dead_taps(const lps_spatial_geom *geom, lps_spatial_geom *live,
                                int64_t first[LPS_SPATIAL_MAX]);

/* One pooling window clipped to the input. The row cursor walks the window's
 * lines along the last spatial dim: each line holds `line_len` elements at
 * offsets line_offset + j * line_step (j = 0 .. line_len-1) of the
 * (D1, ..., Dn) plane, row-major. */
typedef struct lps_window {
    int64_t start[LPS_SPATIAL_MAX]; /* first input coordinate of the unclipped window */
    int64_t k_lo[LPS_SPATIAL_MAX];  /* kernel indices inside the input: [k_lo, k_hi) */
    int64_t k_hi[LPS_SPATIAL_MAX];
    int64_t k[LPS_SPATIAL_MAX];     /* kernel index of the current line (outer dims) */
    int64_t line_offset;
    int64_t line_len;
    int64_t line_step;
    int64_t valid_count;            /* input elements inside the window */
    int64_t padded_count;           /* elements inside the input plus explicit pads */
} lps_window;

/* Positions w at the first line of the window of output position pos.
 * Returns false when the window holds no input element. */
bool lps_window_begin(const lps_spatial_geom *geom, const int64_t *pos, lps_window *w);

/* Advances to the window's next line; false when there is none. */
bool lps_window_next_line(const lps_spatial_geom *geom, lps_window *w);

/* Sweeps the windows of a (D1, ..., Dn) plane in output order, one line
 * of the last spatial dim at a time. Windows wholly inside the input (all
 * of them without padding) share one list of tap offsets relative to their
 * first tap, so they cost one add per tap; only clipped border windows need
 * an lps_window. The outer dims are decided once per line. Usage:
 *     do { for (o = 0; o < out[n-1]; o++) {
 *              at = lps_sweep_window(&s, o);
 *              at >= 0 ? taps at + s.taps[t] : lps_window_begin(g, s.pos, ...)
 *     } } while (lps_sweep_next_line(&s));
 * which visits one plane and rewinds for the next. */
typedef struct lps_sweep {
    const lps_spatial_geom *g;
    int64_t *taps;                 /* kernel_size offsets of a full window's taps */
    int64_t fit_lo[LPS_SPATIAL_MAX]; /* per dim, the outputs whose window fits: [lo, hi) */
    int64_t fit_hi[LPS_SPATIAL_MAX];
    int64_t pos[LPS_SPATIAL_MAX];  /* current output position (last dim set per window) */
    int64_t line_base;             /* plane offset of the line's window start, outer dims */
    bool line_inside;              /* the outer dims of this line's windows fit */
} lps_sweep;

/* Prepares a sweep over geometry g, which must outlive it. taps is
 * malloc'd: release with lps_sweep_release. Fails with LPS_ERR_NOMEM
 * naming the node. */
lps_status lps_sweep_init(const lps_op_node *op, const lps_spatial_geom *g, lps_sweep *s,
                          lps_error *err);

/* Frees the taps; s may be NULL. */
void lps_sweep_release(lps_sweep *s);

/* Sets the current window to last-dim output o. Returns the plane offset of
 * its first tap when the whole window is inside the input, else -1 (walk it
 * with lps_window_begin(s->g, s->pos, ...)). */
static inline int64_t lps_sweep_window(lps_sweep *s, int64_t o)
{
    int last = s->g->n - 1;
    s->pos[last] = o;
    if (!s->line_inside || o < s->fit_lo[last] || o >= s->fit_hi[last])
        return -1;
    return s->line_base + o * s->g->stride[last] - s->g->pad_begin[last];
}

/* Moves to the next line; at the end of a plane, rewinds to the plane's
 * first line and returns false. */
bool lps_sweep_next_line(lps_sweep *s);

/* Advances an odometer pos over dims (row-major, last dim fastest). Returns
 * false after the last position, leaving pos all zero. Inline: it runs once
 * per output line in the im2col and pooling loops. */
static inline bool lps_spatial_next_pos(int n, const int64_t *dims, int64_t *pos)
{
    for (int d = n - 1; d >= 0; d--) {
        if (++pos[d] < dims[d])
            return true;
        pos[d] = 0;
    }
    return false;
}

#endif
