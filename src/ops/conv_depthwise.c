/* 2-D depthwise convolution (one input channel per group, one output
 * channel per input channel) in a channels-last layout.
 *
 * MobileNet's depthwise planes are small (16x16 down to 1x1 at 32x32
 * inputs), so a per-plane sweep spends its time on loop control over lines
 * of a few elements. Here a slice of channels of one image is transposed to
 * [position, channel]: every (output position, tap) pair is then one
 * multiply-add over the slice's channels, contiguous and vectorisable, and
 * the weights are read as [tap, channel]. The transposes cost one pass over
 * each tensor.
 *
 * Work is split over OpenMP threads (as many as lps_par_chunks grants,
 * src/core/par.h) by (image, channel slice) in the forward and by channel
 * slice in the backward (dW sums over images, so each slice walks all
 * images itself). Every channel's sums run in the same
 * fixed order (taps, then positions, then images) whatever the slices are,
 * so results do not depend on the thread count. */
#include "ops/conv.h"

#include <omp.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "core/par.h"
#include "ops/conv_shape.h"
#include "ops/op_util.h"
#include "ops/simd.h"

/* Side of the square tiles the transposes below move: a tile's rows are
 * whole cache lines on both sides, where an untiled transpose writes (or
 * reads) one float per cache line and was 60% of a MobileNetV2 forward. */
#define DW_TILE 16
/* Side of the register blocks inside a tile: one SSE vector. */
#define DW_QUAD 4
/* Columns of a tile: its DW_TILE source rows are read as DW_QUAD streams
 * of this many floats (whole 16x16 tiles read 16 rows a cache line each,
 * an order the hardware prefetcher does not follow, and stalled on the
 * cold input: 29% of a MobileNetV2 batch-128 forward at one thread, 18%
 * like this, the forward 1.16x faster), while the tile's destination
 * lines (DW_TILE_COLS of them) stay in L1. */
#define DW_TILE_COLS 256

/* Channels one forward accumulator block holds in registers: two AVX2
 * vectors (four SSE ones), so the block's sums stay in registers across
 * the taps and each output is stored once. */
#define DW_LANES 16

/* Channel slices are multiples of this, so a slice's rows stay whole
 * vectors (one AVX2 vector). */
#define DW_SLICE_ALIGN 8

/* *d = v, or *d += v when add. */
static inline void dw_put(float *d, float v, bool add)
{
    *d = add ? *d + v : v;
}

/* dst[c * ld_dst + r] = src[r * ld_src + c] (added onto dst when add) for
 * r < rows, c < cols: one tile of a transpose, 4x4 blocks through SSE
 * registers (a scalar loop reads or writes one float per step and was most
 * of this kernel's time), the edges scalar. */
static inline void dw_transpose_tile(const float *restrict src, int64_t ld_src, int64_t rows,
                                     int64_t cols, float *restrict dst, int64_t ld_dst,
                                     bool add)
{
    int64_t r = 0;
#if defined(__SSE__)
    for (; r + DW_QUAD <= rows; r += DW_QUAD) {
        int64_t c = 0;
        for (; c + DW_QUAD <= cols; c += DW_QUAD) {
            const float *s = src + r * ld_src + c;
            float *d = dst + c * ld_dst + r;
            __m128 q0 = _mm_loadu_ps(s), q1 = _mm_loadu_ps(s + ld_src);
            __m128 q2 = _mm_loadu_ps(s + 2 * ld_src), q3 = _mm_loadu_ps(s + 3 * ld_src);
            _MM_TRANSPOSE4_PS(q0, q1, q2, q3);
            if (add) {
                q0 = _mm_add_ps(_mm_loadu_ps(d), q0);
                q1 = _mm_add_ps(_mm_loadu_ps(d + ld_dst), q1);
                q2 = _mm_add_ps(_mm_loadu_ps(d + 2 * ld_dst), q2);
                q3 = _mm_add_ps(_mm_loadu_ps(d + 3 * ld_dst), q3);
            }
            _mm_storeu_ps(d, q0);
            _mm_storeu_ps(d + ld_dst, q1);
            _mm_storeu_ps(d + 2 * ld_dst, q2);
            _mm_storeu_ps(d + 3 * ld_dst, q3);
        }
        for (int64_t rr = r; rr < r + DW_QUAD; rr++)
            for (int64_t cc = c; cc < cols; cc++)
                dw_put(dst + cc * ld_dst + rr, src[rr * ld_src + cc], add);
    }
#endif
    for (; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dw_put(dst + c * ld_dst + r, src[r * ld_src + c], add);
}

/* dst[c * rows + r] (+)= src[r * cols + c]: a [rows, cols] matrix
 * transposed tile by tile, added onto dst when add. */
static void dw_transpose(const float *restrict src, int64_t rows, int64_t cols,
                         float *restrict dst, bool add)
{
    for (int64_t r0 = 0; r0 < rows; r0 += DW_TILE)
        for (int64_t c0 = 0; c0 < cols; c0 += DW_TILE_COLS)
            dw_transpose_tile(src + r0 * cols + c0, cols,
                              rows - r0 < DW_TILE ? rows - r0 : DW_TILE,
                              cols - c0 < DW_TILE_COLS ? cols - c0 : DW_TILE_COLS,
                              dst + c0 * rows + r0, rows, add);
}

/* t[i * P + p] = src[p * size + i] for P planes of size elements. */
static void to_channels_last(const float *src, int64_t planes, int64_t size, float *t)
{
    if (size == 1)
        memcpy(t, src, (size_t)planes * sizeof *t);
    else
        dw_transpose(src, planes, size, t, false);
}

/* dst[p * size + i] (+)= t[i * P + p]; accumulates when add is set. */
static void from_channels_last(const float *t, int64_t planes, int64_t size, float *dst,
                               bool add)
{
    dw_transpose(t, size, planes, dst, add);
}

/* The window of one output position clipped to the input: taps
 * (kh, kw) for kh in [kh_lo, kh_hi), kw in [kw_lo, kw_hi) land inside it,
 * tap (kh, kw) at input position in0 + kh * step_h + kw * step_w (in0 may
 * lie outside: only live taps are read). */
typedef struct dw_window {
    int64_t kh_lo, kh_hi, kw_lo, kw_hi;
    int64_t in0, step_h, step_w, kernel_w;
} dw_window;

/* Kernel indices k in [0, kernel) with 0 <= base + k * step < size. */
static void dw_live_range(int64_t base, int64_t step, int64_t size, int64_t kernel,
                          int64_t *lo, int64_t *hi)
{
    *lo = base >= 0 ? 0 : (-base + step - 1) / step;
    *hi = size - base <= 0 ? 0 : (size - base + step - 1) / step;
    if (*hi > kernel)
        *hi = kernel;
    if (*lo > *hi)
        *lo = *hi;
}

static void dw_window_of(const lps_spatial_geom *g, int64_t oh, int64_t ow, dw_window *t)
{
    int64_t ih = oh * g->stride[0] - g->pad_begin[0];
    int64_t iw = ow * g->stride[1] - g->pad_begin[1];
    dw_live_range(ih, g->dilation[0], g->in[0], g->kernel[0], &t->kh_lo, &t->kh_hi);
    dw_live_range(iw, g->dilation[1], g->in[1], g->kernel[1], &t->kw_lo, &t->kw_hi);
    t->in0 = ih * g->in[1] + iw;
    t->step_h = g->dilation[0] * g->in[1];
    t->step_w = g->dilation[1];
    t->kernel_w = g->kernel[1];
}

/* A slice of a tensor's channels, channels-last: width channels, the
 * [taps, C] weights read with rows ldw = C apart; the forward reads x's
 * positions ldx floats apart and writes y's ldy apart (width in the
 * workspace's transposes, C straight in a channels-last tensor). */
typedef struct dw_slice {
    int64_t width, ldw, ldx, ldy;
} dw_slice;

/* y[c] = b[c] + sum over the live taps (kernel order) of w[tap, c] *
 * x[in, c] for lanes channels from c; inlined with lanes = DW_LANES into a
 * register block. */
static inline __attribute__((always_inline)) void
dw_out_lanes(int64_t lanes, const dw_window *t, int64_t ldx, int64_t ldw, const float *b,
             const float *wt, const float *xt, float *yo)
{
    float acc[DW_LANES];
    for (int64_t l = 0; l < lanes; l++)
        acc[l] = b ? b[l] : 0.0f;
    for (int64_t kh = t->kh_lo; kh < t->kh_hi; kh++)
        for (int64_t kw = t->kw_lo; kw < t->kw_hi; kw++) {
            const float *xv = xt + (t->in0 + kh * t->step_h + kw * t->step_w) * ldx;
            const float *wv = wt + (kh * t->kernel_w + kw) * ldw;
            for (int64_t l = 0; l < lanes; l++)
                acc[l] += wv[l] * xv[l];
        }
    for (int64_t l = 0; l < lanes; l++)
        yo[l] = acc[l];
}

/* Output positions along a row that one run block sums together: a tap's
 * weight vectors then serve DW_RUN positions, and the DW_RUN x
 * DW_BLOCK_VECS independent sums hide the add's latency, where one
 * position at a time waited on two chains of adds and loaded the weights
 * again (MobileNetV2's depthwise layers, one thread, in cache: 0.57-0.59
 * -> 0.46-0.49 ms at batch 8; docs/benchmarks.md, "Twelfth round"). */
#define DW_RUN 4

/* A register block's lanes as whole vectors of DW_VEC_FLOATS (GCC's
 * generic vectors: one AVX2 register in the avx2 clone, two SSE ones in
 * the baseline), so the run's sums stay in registers across the taps (as
 * a float array GCC kept them on the stack). Accesses through it are
 * unaligned (aligned(4)). */
#define DW_VEC_FLOATS 8
#define DW_BLOCK_VECS (DW_LANES / DW_VEC_FLOATS)
typedef float dw_vec
    __attribute__((vector_size(DW_VEC_FLOATS * sizeof(float)), aligned(sizeof(float)),
                   may_alias));

/* `count` adjacent output positions of a row with the same live taps
 * (window t, of the first), the next one in_step input positions further
 * (the column stride). */
typedef struct dw_run {
    dw_window t;
    int64_t count, in_step;
} dw_run;

/* dw_out_lanes on a whole DW_LANES block for `runs` (a constant where
 * inlined, 2 to DW_RUN) positions of run: each position's sum is the same
 * chain as there, the bias then the live taps in kernel order, one
 * multiply and one add each. b, wt, xt and yo point at the block's first
 * channel, yo at the run's first position; y's positions are ldy apart. */
static inline __attribute__((always_inline)) void
dw_run_block(const dw_run *run, int runs, const dw_slice *s, const float *b, const float *wt,
             const float *xt, float *yo)
{
    const dw_window *t = &run->t;
    int64_t ldx = s->ldx, ldw = s->ldw, ldy = s->ldy, x_step = run->in_step * ldx;
    dw_vec acc[DW_RUN][DW_BLOCK_VECS];
    for (int v = 0; v < DW_BLOCK_VECS; v++) {
        dw_vec init = {0};
        if (b)
            init = *(const dw_vec *)(b + v * DW_VEC_FLOATS);
        for (int r = 0; r < runs; r++)
            acc[r][v] = init;
    }
    for (int64_t kh = t->kh_lo; kh < t->kh_hi; kh++)
        for (int64_t kw = t->kw_lo; kw < t->kw_hi; kw++) {
            const float *xv = xt + (t->in0 + kh * t->step_h + kw * t->step_w) * ldx;
            const float *wv = wt + (kh * t->kernel_w + kw) * ldw;
            for (int v = 0; v < DW_BLOCK_VECS; v++) {
                dw_vec w = *(const dw_vec *)(wv + v * DW_VEC_FLOATS);
                for (int r = 0; r < runs; r++)
                    acc[r][v] += w * *(const dw_vec *)(xv + r * x_step + v * DW_VEC_FLOATS);
            }
        }
    for (int r = 0; r < runs; r++)
        for (int v = 0; v < DW_BLOCK_VECS; v++)
            *(dw_vec *)(yo + r * ldy + v * DW_VEC_FLOATS) = acc[r][v];
}

/* One output position of a slice, every channel, one position's sums per
 * lane block (dw_out_lanes): the positions outside whole runs. Not inlined
 * into dw_forward_slice, whose registers the blocks then lost (0.87x on
 * 2x2 planes). yo points at the position's first channel. */
LPS_VECTOR_CLONES __attribute__((noinline))
static void dw_forward_position(const dw_slice *s, const dw_window *t, const float *b,
                                const float *wt, const float *xt, float *yo)
{
    /* copies, not loads through the pointers on every row of taps */
    dw_window w = *t;
    int64_t width = s->width, ldx = s->ldx, ldw = s->ldw, c = 0;
    for (; c + DW_LANES <= width; c += DW_LANES)
        dw_out_lanes(DW_LANES, &w, ldx, ldw, b ? b + c : NULL, wt + c, xt + c, yo + c);
    if (c < width)
        dw_out_lanes(width - c, &w, ldx, ldw, b ? b + c : NULL, wt + c, xt + c, yo + c);
}

/* One of dw_run_block's lengths. */
#define DW_RUN_CASE(R)                                                                             \
    case R:                                                                                        \
        dw_run_block(run, R, s, b ? b + c : NULL, wt + c, xt + c, yo + c);                         \
        break;

/* The positions of run from output position p, every channel: whole
 * blocks by dw_run_block (a run of one position by dw_forward_position),
 * the channels past them position by position. */
static inline __attribute__((always_inline)) void
dw_forward_run(const dw_slice *s, const dw_run *run, int64_t p, const float *b,
               const float *wt, const float *xt, float *yt)
{
    float *yo = yt + p * s->ldy;
    int64_t c = 0;
    if (run->count == 1) {
        dw_forward_position(s, &run->t, b, wt, xt, yo);
        return;
    }
    for (; c + DW_LANES <= s->width; c += DW_LANES)
        switch (run->count) {
            DW_RUN_CASE(2)
            DW_RUN_CASE(3)
            DW_RUN_CASE(4)
        default:
            return;
        }
    dw_window t = run->t;
    for (int64_t r = 0; c < s->width && r < run->count; r++, t.in0 += run->in_step)
        dw_out_lanes(s->width - c, &t, s->ldx, s->ldw, b ? b + c : NULL, wt + c, xt + c,
                     yo + r * s->ldy + c);
}

_Static_assert(DW_RUN == 4, "dw_forward_run has a case per run length");

/* Output columns [*lo, *hi) whose windows have every column of taps
 * live: the rest are the rows' edges. */
static void dw_full_columns(const lps_spatial_geom *g, int64_t *lo, int64_t *hi)
{
    int64_t stride = g->stride[1], pad = g->pad_begin[1];
    /* the last input column a window's first tap may start at, plus pad */
    int64_t last = g->in[1] - 1 - (g->kernel[1] - 1) * g->dilation[1] + pad;
    *lo = (pad + stride - 1) / stride;
    *hi = last < 0 ? 0 : last / stride + 1;
    if (*hi > g->out[1])
        *hi = g->out[1];
    if (*lo > *hi)
        *lo = *hi;
}

/* yT [out, width] of a slice from xT [in, width] (rows s->ldy and s->ldx
 * apart): per output position and channel, the bias then the live taps in
 * kernel order, in raster order (a run's lines of x and y are then
 * those the previous one left in cache: a pass down the edge columns
 * after the rows' interiors ran 0.8x at batch 128). A row's columns whose
 * windows are whole in width (the row shares its live rows of taps) go
 * DW_RUN at a time, its edges one by one. b, wt, xt and yt point at the
 * slice's first channel. */
LPS_VECTOR_CLONES
static void dw_forward_slice(const lps_spatial_geom *g, const dw_slice *s, const float *b,
                             const float *wt, const float *xt, float *yt)
{
    int64_t col_lo, col_hi, out_w = g->out[1];
    dw_full_columns(g, &col_lo, &col_hi);
    dw_run run = {.in_step = g->stride[1]};
    for (int64_t oh = 0; oh < g->out[0]; oh++)
        for (int64_t ow = 0; ow < out_w; ow += run.count) {
            bool whole = ow >= col_lo && ow < col_hi;
            run.count = whole ? (col_hi - ow < DW_RUN ? col_hi - ow : DW_RUN) : 1;
            dw_window_of(g, oh, ow, &run.t);
            dw_forward_run(s, &run, oh * out_w + ow, b, wt, xt, yt);
        }
}

/* The backward products of one slice: dwt[tap, c] += dyT[out, c] * xT[in, c]
 * (xt non-NULL) and dxT[in, c] += wt[tap, c] * dyT[out, c] (dxt non-NULL),
 * over output positions then live taps in kernel order. */
LPS_VECTOR_CLONES
static void dw_backward_slice(const lps_spatial_geom *g, const dw_slice *s, const float *wt,
                              const float *dyt, const float *xt, float *dwt, float *dxt)
{
    int64_t width = s->width;
    dw_window t;
    for (int64_t oh = 0; oh < g->out[0]; oh++)
        for (int64_t ow = 0; ow < g->out[1]; ow++) {
            dw_window_of(g, oh, ow, &t);
            const float *restrict dyo = dyt + (oh * g->out[1] + ow) * width;
            for (int64_t kh = t.kh_lo; kh < t.kh_hi; kh++)
                for (int64_t kw = t.kw_lo; kw < t.kw_hi; kw++) {
                    int64_t in = t.in0 + kh * t.step_h + kw * t.step_w;
                    int64_t tap = kh * t.kernel_w + kw;
                    if (xt) {
                        const float *restrict xv = xt + in * width;
                        float *restrict dwv = dwt + tap * width;
                        for (int64_t c = 0; c < width; c++)
                            dwv[c] += dyo[c] * xv[c];
                    }
                    if (dxt) {
                        const float *restrict wv = wt + tap * s->ldw;
                        float *restrict dxv = dxt + in * width;
                        for (int64_t c = 0; c < width; c++)
                            dxv[c] += wv[c] * dyo[c];
                    }
                }
        }
}

/* Multiply-adds of a pass over every (output, tap) pair: what
 * lps_par_chunks weighs against waking threads. */
static double dw_flops(const lps_spatial_geom *g, int64_t batch, int64_t channels)
{
    return 2.0 * (double)batch * (double)channels * (double)g->out_size *
           (double)g->kernel_size;
}

/* Slice width for channels split into about parts slices, rounded up to
 * DW_SLICE_ALIGN. */
static int64_t dw_slice_width(int64_t channels, int64_t parts)
{
    int64_t width = (channels + parts - 1) / parts;
    width = (width + DW_SLICE_ALIGN - 1) / DW_SLICE_ALIGN * DW_SLICE_ALIGN;
    return width < channels ? width : channels;
}

/* Per-thread workspace: xT [in, C], aT [out, C] (yT or dyT), dxT [in, C],
 * dwT [taps, C], with the slice's width in place of C. */
static size_t dw_thread_floats(const lps_spatial_geom *g, int64_t channels)
{
    return (size_t)(channels * (2 * g->in_size + g->out_size + g->kernel_size));
}

/* Contract in conv.h. */
size_t lps_depthwise_workspace(const lps_spatial_geom *g, int64_t channels)
{
    return (size_t)(g->kernel_size * channels) +
           (size_t)lps_par_threads() * dw_thread_floats(g, channels);
}

typedef struct dw_work {
    float *xt, *at, *dxt, *dwt;
} dw_work;

/* Thread tid's regions (at a slice of width floats per row) of ws, past the
 * shared [taps, C] weights. */
static dw_work dw_split(const lps_spatial_geom *g, int64_t channels, int64_t width, int tid,
                        float *ws)
{
    float *base = ws + g->kernel_size * channels + (size_t)tid * dw_thread_floats(g, channels);
    dw_work w = {.xt = base};
    w.at = w.xt + width * g->in_size;
    w.dxt = w.at + width * g->out_size;
    w.dwt = w.dxt + width * g->in_size;
    return w;
}

/* wt[t * C + c] = w[c * K + t]: the tiled transpose (a scalar loop
 * writing one float per C floats was 4.8% of a batch-1 MobileNetV2
 * forward, every depthwise layer's weights on every call). */
static void weights_by_tap(const float *w, int64_t channels, int64_t taps, float *wt)
{
    dw_transpose(w, channels, taps, wt, false);
}

/* op's fused activation (op NULL: none) on a slice of y: the slice's
 * contiguous planes, or in a channels-last y (ldy > width) its rows of
 * width channels at each of the `positions` positions. */
static void dw_epilogue(const lps_op_node *op, float *y, int64_t positions, int64_t width,
                        int64_t ldy)
{
    if (!op || !op->epilogue)
        return;
    if (ldy == width)
        lps_op_epilogue_apply(op, y, positions * width);
    else
        for (int64_t p = 0; p < positions; p++)
            lps_op_epilogue_apply(op, y + p * ldy, width);
}

/* Tells the depthwise weights' cache key from other entries of a Conv's
 * cache (packed weights, live taps). */
#define DW_TAPS_KEY_TAG (-2)

/* Contract in conv.h. */
lps_status lps_depthwise_taps(lps_op_node *op, const lps_spatial_geom *g, int64_t channels,
                              const float *w, const float **w_taps, lps_error *err)
{
    *w_taps = NULL;
    if (!lps_op_input_const(op, LPS_CONV_IN_W))
        return LPS_OK;
    int64_t key[] = {DW_TAPS_KEY_TAG, channels, g->kernel_size};
    size_t n_key = sizeof key / sizeof key[0];
    if ((*w_taps = lps_op_cache_find(op, key, n_key)))
        return LPS_OK;
    float *made = lps_op_cache_make(op, key, n_key, (size_t)(channels * g->kernel_size), err);
    if (!made)
        return err ? err->status : LPS_ERR_NOMEM;
    weights_by_tap(w, channels, g->kernel_size, made);
    *w_taps = made;
    return LPS_OK;
}

/* Contract in conv.h. A channels-last x or y (op's x_channels_last,
 * y_channels_last; docs/architecture.md, "Channels-last values") is read
 * or written in place of the slice's transposes. */
void lps_depthwise_forward(const lps_op_node *op, const lps_spatial_geom *g, int64_t batch,
                           int64_t channels, const float *x, const float *w, const float *w_taps,
                           const float *b, float *y, float *ws)
{
    int threads = lps_par_chunks(batch * channels, dw_flops(g, batch, channels));
    /* images alone feed the threads from a batch of a few times their count */
    int64_t parts = batch >= 2 * threads ? 1 : threads;
    int64_t width = dw_slice_width(channels, parts);
    int64_t slices = (channels + width - 1) / width;
    bool x_last = op && op->x_channels_last, y_last = op && op->y_channels_last;
    const float *wt = w_taps;
    if (!wt) {
        weights_by_tap(w, channels, g->kernel_size, ws);
        wt = ws;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t item = 0; item < batch * slices; item++) {
        int64_t n = item / slices, c0 = item % slices * width;
        dw_slice s = {.width = channels - c0 < width ? channels - c0 : width, .ldw = channels};
        dw_work k = dw_split(g, channels, s.width, omp_get_thread_num(), ws);
        const float *xt = k.xt;
        float *yt = k.at;
        s.ldx = x_last ? channels : s.width;
        s.ldy = y_last ? channels : s.width;
        if (x_last)
            xt = x + n * g->in_size * channels + c0;
        else
            to_channels_last(x + (n * channels + c0) * g->in_size, s.width, g->in_size, k.xt);
        if (y_last)
            yt = y + n * g->out_size * channels + c0;
        dw_forward_slice(g, &s, b ? b + c0 : NULL, wt + c0, xt, yt);
        if (!y_last) {
            yt = y + (n * channels + c0) * g->out_size;
            from_channels_last(k.at, s.width, g->out_size, yt, false);
        }
        dw_epilogue(op, yt, g->out_size, s.width, s.ldy);
    }
}

/* Contract in conv.h. */
void lps_depthwise_backward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                            const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *ws)
{
    int threads = lps_par_chunks(channels, 2.0 * dw_flops(g, batch, channels));
    int64_t taps = g->kernel_size;
    int64_t width = dw_slice_width(channels, threads);
    int64_t slices = (channels + width - 1) / width;
    float *wt = ws;
    weights_by_tap(w, channels, taps, wt);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t sl = 0; sl < slices; sl++) {
        int64_t c0 = sl * width;
        dw_slice s = {.width = channels - c0 < width ? channels - c0 : width,
                      .ldw = channels};
        dw_work k = dw_split(g, channels, s.width, omp_get_thread_num(), ws);
        if (dw)
            memset(k.dwt, 0, (size_t)(taps * s.width) * sizeof *k.dwt);
        for (int64_t n = 0; n < batch; n++) {
            int64_t in_at = (n * channels + c0) * g->in_size;
            to_channels_last(dy + (n * channels + c0) * g->out_size, s.width, g->out_size, k.at);
            if (dw)
                to_channels_last(x + in_at, s.width, g->in_size, k.xt);
            if (dx)
                memset(k.dxt, 0, (size_t)(s.width * g->in_size) * sizeof *k.dxt);
            dw_backward_slice(g, &s, wt + c0, k.at, dw ? k.xt : NULL, k.dwt, dx ? k.dxt : NULL);
            if (dx)
                from_channels_last(k.dxt, s.width, g->in_size, dx + in_at, true);
        }
        for (int64_t c = 0; dw && c < s.width; c++)
            for (int64_t t = 0; t < taps; t++)
                dw[(c0 + c) * taps + t] += k.dwt[t * s.width + c];
    }
}
