/* im2col / col2im and the one-channel window dot products over any number
 * of spatial dims (see im2col.h).
 *
 * All walk the same way: for each kernel tap and channel, one output line
 * (the last spatial dim) at a time. Along a line the tap's input positions
 * advance by the last stride, so the in-bounds part is one contiguous range
 * of output positions computed once per tap; likewise the lines whose tap
 * row lies inside the input are one range of the second-to-last dim. */
#include "ops/im2col.h"
#include "ops/simd.h"

#include <stdint.h>
#include <string.h>

/* Output positions [*lo, *hi) of spatial dim d whose kernel tap kd lands
 * inside the input; *off is the tap's input coordinate at output 0. */
static inline void tap_range(const lps_spatial_geom *g, int d, int64_t kd, int64_t *lo,
                             int64_t *hi, int64_t *off)
{
    int64_t s = g->stride[d], in = g->in[d], out = g->out[d];
    *off = kd * g->dilation[d] - g->pad_begin[d];
    *lo = *off >= 0 ? 0 : (-*off + s - 1) / s;
    *hi = *off < in ? (in - 1 - *off) / s + 1 : 0;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

/* Plane offset contributed by dims 0..n_outer-1 for tap k at output
 * position o; -1 when one of them is in the padding. */
static inline int64_t outer_base(const lps_spatial_geom *g, int n_outer, const int64_t *k,
                                 const int64_t *o)
{
    int64_t base = 0;
    for (int d = 0; d < n_outer; d++) {
        int64_t idx = o[d] * g->stride[d] + k[d] * g->dilation[d] - g->pad_begin[d];
        if (idx < 0 || idx >= g->in[d])
            return -1;
        base += idx * g->in_stride[d];
    }
    return base;
}

/* What walk() does on each (kernel tap, output line) pair. "row" is the
 * [O] stretch the pair maps to: a row of the im2col matrix, or the single
 * output plane of a one-channel window dot product. */
typedef enum walk_op {
    WALK_IM2COL,     /* row <- image taps, 0 in the padding */
    WALK_COL2IM,     /* image taps += row */
    WALK_DOT,        /* row += w[tap] * image taps */
    WALK_DOT_INPUT,  /* image taps += w[tap] * row */
    WALK_DOT_WEIGHT  /* w[tap] += <row, image taps> */
} walk_op;

typedef struct walk_args {
    walk_op op;
    bool avx512;         /* the CPU has AVX-512F (IM2COL's stride-2 lines) */
    const float *im_in;  /* image read (IM2COL, DOT, DOT_WEIGHT) */
    float *im_out;       /* image accumulated (COL2IM, DOT_INPUT) */
    const float *row_in; /* rows read (COL2IM, DOT_INPUT, DOT_WEIGHT) */
    float *row_out;      /* rows written (IM2COL, DOT) */
    const float *w_in;   /* one weight per tap (DOT, DOT_INPUT) */
    float *w_out;        /* (DOT_WEIGHT) */
    int64_t ld;          /* floats between consecutive rows (IM2COL, COL2IM) */
} walk_args;

/* dst[j] = src[2 * j] for j < n, 16 at a time: two loads and a permute of
 * their even lanes, where the scalar copy of a stride-2 line (ResNet-18's
 * 7x7 and MobileNetV2's 3x3 stride-2 first convolutions) was 5% of
 * ResNet-18's batch-128 forward. */
static LPS_AVX512 void copy_stride_2(float *dst, const float *src, int64_t n)
{
    for (int64_t j = 0; j < n; j += LPS_AVX512_FLOATS) {
        int64_t left = n - j < LPS_AVX512_FLOATS ? n - j : LPS_AVX512_FLOATS;
        _mm512_mask_storeu_ps(dst + j, lps_lanes_below(left),
                              lps_load_even_lanes(src + 2 * j, left));
    }
}

/* One (tap, line) pair: base is the line's plane offset (-1 when an outer
 * dim is in the padding), outputs [lo, hi) read image elements
 * base + off + j * s, seg is where the line starts in the rows and tap the
 * tap's index within the kernel. */
static inline __attribute__((always_inline)) void
walk_line(const walk_args *a, int64_t base, int64_t off, int64_t lo, int64_t hi, int64_t s,
          int64_t out_last, int64_t seg, int64_t tap)
{
    if (a->op == WALK_IM2COL) {
        float *dst = a->row_out + seg;
        if (base < 0)
            lo = hi = out_last;
        /* the pads at either end of a line are a few floats: plain loops beat memset */
        for (int64_t j = 0; j < lo; j++)
            dst[j] = 0.0f;
        if (s == 1 && hi > lo) {
            memcpy(dst + lo, a->im_in + base + (off + lo), (size_t)(hi - lo) * sizeof *dst);
        } else if (s == 2 && a->avx512 && hi > lo) {
            copy_stride_2(dst + lo, a->im_in + base + off + lo * s, hi - lo);
        } else {
            for (int64_t j = lo; j < hi; j++)
                dst[j] = a->im_in[base + off + j * s];
        }
        for (int64_t j = hi; j < out_last; j++)
            dst[j] = 0.0f;
        return;
    }
    if (base < 0 || hi <= lo)
        return;
    /* element j of the in-bounds run is image[first + j * s], row[seg + lo + j] */
    int64_t first = base + off + lo * s, len = hi - lo;
    switch (a->op) {
    case WALK_COL2IM: {
        const float *row = a->row_in + seg + lo;
        float *im = a->im_out + first;
        if (s == 1) /* the common case, as its own loop: it vectorises */
            for (int64_t j = 0; j < len; j++)
                im[j] += row[j];
        else
            for (int64_t j = 0; j < len; j++)
                im[j * s] += row[j];
        break;
    }
    case WALK_DOT: {
        float wt = a->w_in[tap];
        const float *im = a->im_in + first;
        float *row = a->row_out + seg + lo;
        for (int64_t j = 0; j < len; j++)
            row[j] += wt * im[j * s];
        break;
    }
    case WALK_DOT_INPUT: {
        float wt = a->w_in[tap];
        const float *row = a->row_in + seg + lo;
        float *im = a->im_out + first;
        for (int64_t j = 0; j < len; j++)
            im[j * s] += wt * row[j];
        break;
    }
    case WALK_DOT_WEIGHT: {
        const float *row = a->row_in + seg + lo;
        const float *im = a->im_in + first;
        float acc = 0.0f;
        for (int64_t j = 0; j < len; j++)
            acc += row[j] * im[j * s];
        a->w_out[tap] += acc;
        break;
    }
    case WALK_IM2COL:
        break;
    }
}

/* im2col of one tap over a block of `lines` output lines when lines are
 * contiguous on both sides (unit strides, output lines as long as input
 * lines: a stride-1 "same" convolution): the in-bounds part is then one
 * memcpy from image + at + off, after which the few elements per line that
 * wrapped around from the neighbouring input line are zeroed. at is the
 * plane offset of line 0 (it may be negative: line 0 may lie in the
 * padding), outside is set when an outer dim is in the padding; lines
 * [line_lo, line_hi) and positions [lo, hi) are in bounds. */
static void im2col_dense_lines(const walk_args *a, bool outside, int64_t at, int64_t off,
                               int64_t lo,
                               int64_t hi, int64_t line_lo, int64_t line_hi, int64_t lines,
                               int64_t out_last, int64_t seg)
{
    float *dst = a->row_out + seg;
    int64_t total = lines * out_last;
    if (outside || hi <= lo || line_hi <= line_lo) {
        for (int64_t j = 0; j < total; j++)
            dst[j] = 0.0f;
        return;
    }
    int64_t d0 = line_lo * out_last + lo, d1 = (line_hi - 1) * out_last + hi;
    for (int64_t j = 0; j < d0; j++)
        dst[j] = 0.0f;
    memcpy(dst + d0, a->im_in + at + off + d0, (size_t)(d1 - d0) * sizeof *dst);
    for (int64_t j = d1; j < total; j++)
        dst[j] = 0.0f;
    for (int64_t r = line_lo; r < line_hi; r++) {
        float *line = dst + r * out_last;
        for (int64_t j = 0; j < lo; j++)
            line[j] = 0.0f;
        for (int64_t j = hi; j < out_last; j++)
            line[j] = 0.0f;
    }
}

/* Visits every (tap, channel, output line) of the sweep. Row (c, tap) of
 * the im2col pair is c * K + tap; the dot products stay on the one output
 * plane. The last two dims are resolved once per tap for all channels (the
 * in-bounds range of lines and of positions along them: four divisions,
 * which dominated small planes when redone per channel), so a line costs a
 * compare and a multiply-add; dims before those (3-D and up) are decided
 * per block of lines. Taps run in the same order for every image element,
 * so col2im's sums do not depend on the loop nesting. Forced inline so that
 * each entry point gets a copy specialised on its constant op. */
static inline __attribute__((always_inline)) void
walk(const lps_spatial_geom *g, int64_t channels, const walk_args *a)
{
    int last = g->n - 1, mid = g->n - 2; /* mid < 0 for 1-D */
    int n_outer = mid > 0 ? mid : 0;
    int64_t out_last = g->out[last], s = g->stride[last];
    int64_t lines = mid >= 0 ? g->out[mid] : 1;
    int64_t line_step = mid >= 0 ? g->stride[mid] * g->in_stride[mid] : 0;
    int64_t blocks = g->out_size / (lines * out_last);
    bool per_tap_rows = a->op == WALK_IM2COL || a->op == WALK_COL2IM;
    bool dense_lines = a->op == WALK_IM2COL && mid >= 0 && s == 1 && g->stride[mid] == 1 &&
                       out_last == g->in[last];
    int64_t k[LPS_SPATIAL_MAX] = {0};
    int64_t tap = 0;
    do {
        int64_t lo, hi, off, line_lo = 0, line_hi = 1, line_off = 0;
        tap_range(g, last, k[last], &lo, &hi, &off);
        if (mid >= 0)
            tap_range(g, mid, k[mid], &line_lo, &line_hi, &line_off);
        int64_t first_line = mid >= 0 ? line_off * g->in_stride[mid] : 0;
        for (int64_t c = 0; c < channels; c++) {
            int64_t plane = c * g->in_size;
            int64_t o[LPS_SPATIAL_MAX] = {0};
            int64_t seg = per_tap_rows ? (c * g->kernel_size + tap) * a->ld : 0;
            for (int64_t block = 0; block < blocks; block++) {
                int64_t base = outer_base(g, n_outer, k, o);
                lps_spatial_next_pos(n_outer, g->out, o);
                if (dense_lines) {
                    im2col_dense_lines(a, base < 0, plane + base + first_line, off, lo, hi,
                                       line_lo, line_hi, lines, out_last, seg);
                    seg += lines * out_last;
                    continue;
                }
                for (int64_t r = 0; r < lines; r++, seg += out_last) {
                    bool inside = base >= 0 && r >= line_lo && r < line_hi;
                    int64_t at = inside ? plane + base + first_line + r * line_step : -1;
                    walk_line(a, at, off, lo, hi, s, out_last, seg, tap);
                }
            }
        }
        tap++;
    } while (lps_spatial_next_pos(g->n, g->kernel, k));
}

void lps_im2col(const float *im, int64_t channels, const lps_spatial_geom *g, float *col)
{
    lps_im2col_ld(im, channels, g, col, g->out_size);
}

/* The pads im2col zeroes are a few floats per line: GCC would turn those
 * loops into memset calls, which then cost more than the copies (a tenth of
 * a ResNet-18 step at 4x4 planes). Clang (the fuzz build) has no such
 * attribute and does not distribute these loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define LPS_NO_MEMSET_PATTERNS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LPS_NO_MEMSET_PATTERNS
#endif
LPS_NO_MEMSET_PATTERNS void
lps_im2col_ld(const float *im, int64_t channels, const lps_spatial_geom *g, float *col,
              int64_t ld)
{
    walk_args a = {.op = WALK_IM2COL,
                   .avx512 = __builtin_cpu_supports("avx512f"),
                   .im_in = im,
                   .row_out = col,
                   .ld = ld};
    walk(g, channels, &a);
}

void lps_col2im(const float *col, int64_t channels, const lps_spatial_geom *g, float *im)
{
    lps_col2im_ld(col, channels, g, im, g->out_size);
}

LPS_VECTOR_CLONES
void lps_col2im_ld(const float *col, int64_t channels, const lps_spatial_geom *g, float *im,
                   int64_t ld)
{
    walk_args a = {.op = WALK_COL2IM, .im_out = im, .row_in = col, .ld = ld};
    walk(g, channels, &a);
}

/* Most kernel_size * out_size entries im2col_images reads through an offset
 * table (on the stack). Small planes (ResNet-18's 8x8 to 2x2 at 32x32
 * inputs) have lines of a few floats, where walk's per-(tap, channel, line)
 * bookkeeping cost more than the copies (im2col was 15% of its batch-128
 * forward). */
#define IM2COL_TABLE_MAX 1024

/* tab[t * O + o] = offset in a plane of tap t's input at output o, or
 * in_size when it is in the padding (im2col_by_table's zero). */
static void im2col_table(const lps_spatial_geom *g, int32_t *tab)
{
    int64_t k[LPS_SPATIAL_MAX] = {0}, j = 0;
    do {
        int64_t o[LPS_SPATIAL_MAX] = {0};
        do {
            int64_t at = 0;
            for (int d = 0; d < g->n && at < g->in_size; d++) {
                int64_t idx = o[d] * g->stride[d] + k[d] * g->dilation[d] - g->pad_begin[d];
                at = idx < 0 || idx >= g->in[d] ? g->in_size : at + idx * g->in_stride[d];
            }
            tab[j++] = (int32_t)at;
        } while (lps_spatial_next_pos(g->n, g->out, o));
    } while (lps_spatial_next_pos(g->n, g->kernel, k));
}

/* lps_im2col_ld of one image through im2col_table's tab; each plane is
 * first copied into plane (in_size + 1 floats), whose last float is the
 * zero the padding reads, so the gather has no branch. */
LPS_VECTOR_CLONES
static void im2col_by_table(const float *im, int64_t channels, const lps_spatial_geom *g,
                            const int32_t *tab, float *plane, float *col, int64_t ld)
{
    int64_t taps = g->kernel_size, out = g->out_size;
    plane[g->in_size] = 0.0f;
    for (int64_t c = 0; c < channels; c++) {
        memcpy(plane, im + c * g->in_size, (size_t)g->in_size * sizeof *plane);
        for (int64_t t = 0; t < taps; t++) {
            float *restrict dst = col + (c * taps + t) * ld;
            const int32_t *at = tab + t * out;
            for (int64_t o = 0; o < out; o++)
                dst[o] = plane[at[o]];
        }
    }
}

/* Vectors of a plane im2col_by_permute holds in registers, and the
 * largest such plane. */
#define PERMUTE_VECS 4
#define PERMUTE_PLANE_MAX (PERMUTE_VECS * LPS_AVX512_FLOATS)
/* The index bit that picks the second pair of vectors. */
#define PERMUTE_HIGH_BIT (2 * LPS_AVX512_FLOATS)

/* im2col_by_table for planes of at most PERMUTE_PLANE_MAX floats on
 * AVX-512: the plane sits in four vector registers and 16 outputs of a tap
 * are two two-source permutes, a blend and a mask (the table's padding
 * entry, in_size, reads 0), where the table's gather loads one float at a
 * time (im2col was 18% of ResNet-18's batch-128 forward on its 8x8
 * planes, docs/benchmarks.md "Ninth round"). It writes the same floats. */
static LPS_AVX512 void im2col_by_permute(const float *im, int64_t channels,
                                         const lps_spatial_geom *g, const int32_t *tab,
                                         float *col, int64_t ld)
{
    int64_t taps = g->kernel_size, out = g->out_size, in = g->in_size;
    __m512i size = _mm512_set1_epi32((int32_t)in), high = _mm512_set1_epi32(PERMUTE_HIGH_BIT);
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = im + c * in;
        __m512 v[PERMUTE_VECS];
        for (int q = 0; q < PERMUTE_VECS; q++) {
            int64_t at = (int64_t)q * LPS_AVX512_FLOATS;
            v[q] = at < in ? _mm512_maskz_loadu_ps(lps_lanes_below(in - at), plane + at)
                           : _mm512_setzero_ps();
        }
        for (int64_t t = 0; t < taps; t++) {
            float *dst = col + (c * taps + t) * ld;
            const int32_t *at = tab + t * out;
            for (int64_t o = 0; o < out; o += LPS_AVX512_FLOATS) {
                __mmask16 lanes = lps_lanes_below(out - o);
                __m512i idx = _mm512_maskz_loadu_epi32(lanes, at + o);
                __m512 lo = _mm512_permutex2var_ps(v[0], idx, v[1]);
                __m512 hi = _mm512_permutex2var_ps(v[2], idx, v[3]);
                __m512 r = _mm512_mask_mov_ps(lo, _mm512_test_epi32_mask(idx, high), hi);
                r = _mm512_maskz_mov_ps(_mm512_cmplt_epi32_mask(idx, size), r);
                _mm512_mask_storeu_ps(dst + o, lanes, r);
            }
        }
    }
}

void lps_im2col_images(const float *x, int64_t images, int64_t channels,
                       const lps_spatial_geom *g, float *col, int64_t ld)
{
    int32_t tab[IM2COL_TABLE_MAX];
    float plane[IM2COL_TABLE_MAX + 1];
    bool by_table = g->kernel_size * g->out_size <= IM2COL_TABLE_MAX &&
                    g->in_size <= IM2COL_TABLE_MAX;
    bool by_permute =
        by_table && g->in_size <= PERMUTE_PLANE_MAX && __builtin_cpu_supports("avx512f");
    if (by_table)
        im2col_table(g, tab);
    for (int64_t i = 0; i < images; i++) {
        const float *im = x + i * channels * g->in_size;
        if (by_permute)
            im2col_by_permute(im, channels, g, tab, col + i * g->out_size, ld);
        else if (by_table)
            im2col_by_table(im, channels, g, tab, plane, col + i * g->out_size, ld);
        else
            lps_im2col_ld(im, channels, g, col + i * g->out_size, ld);
    }
}

void lps_col2im_images(const float *col, int64_t images, int64_t channels,
                       const lps_spatial_geom *g, float *dx, int64_t ld)
{
    for (int64_t i = 0; i < images; i++)
        lps_col2im_ld(col + i * g->out_size, channels, g, dx + i * channels * g->in_size, ld);
}

void lps_window_dot(const float *im, const lps_spatial_geom *g, const float *w, float *out)
{
    walk_args a = {.op = WALK_DOT, .im_in = im, .row_out = out, .w_in = w};
    walk(g, 1, &a);
}

void lps_window_dot_input(const float *dout, const lps_spatial_geom *g, const float *w,
                          float *dim)
{
    walk_args a = {.op = WALK_DOT_INPUT, .im_out = dim, .row_in = dout, .w_in = w};
    walk(g, 1, &a);
}

void lps_window_dot_weight(const float *im, const float *dout, const lps_spatial_geom *g,
                           float *dw)
{
    walk_args a = {.op = WALK_DOT_WEIGHT, .im_in = im, .row_in = dout, .w_out = dw};
    walk(g, 1, &a);
}
