/* MaxPool, AveragePool and GlobalAveragePool over any number of spatial
 * dims (ONNX opsets 7..21).
 *
 * Attributes by opset: MaxPool gains storage_order and the Indices output
 * at 8, ceil_mode and dilations at 10, int8/uint8 inputs at 12;
 * AveragePool has count_include_pad from 7, gains ceil_mode at 10 and
 * dilations at 19. An attribute used before its opset is rejected like any
 * unknown attribute.
 *
 * Windows are visited with lps_sweep (spatial.h): those inside the input
 * through a shared tap list, border ones with an lps_window clipped to the
 * input, so padding is never materialised: MaxPool ignores it, AveragePool
 * divides by the number of input elements (count_include_pad=0) or of
 * input-plus-pad elements. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "ops/op.h"
#include "ops/simd.h"
#include "ops/spatial.h"

/* Rank of N and C in front of the spatial dims. */
#define POOL_LEADING_DIMS 2
#define POOL_INDICES_OUTPUT 1
/* Opsets where pooling attributes and outputs appeared. */
#define OPSET_MAXPOOL_INDICES 8
#define OPSET_POOL_CEIL_MODE 10
#define OPSET_MAXPOOL_DILATIONS 10
#define OPSET_AVGPOOL_DILATIONS 19
#define OPSET_MAXPOOL_INT8 12
/* MaxPool's storage_order values. */
#define STORAGE_ROW_MAJOR 0
#define STORAGE_COLUMN_MAJOR 1
/* op->saved slot holding MaxPool's argmax from a training forward. */
#define SAVED_ARGMAX 0
/* Longest known-attribute list of a pooling op, NULL included. */
#define POOL_MAX_ATTRS 9

typedef struct pool_params {
    lps_spatial_attrs win;
    bool count_include_pad; /* AveragePool */
    bool column_major;      /* MaxPool storage_order = 1 */
} pool_params;

/* Parses the window attributes after checking the node carries only the
 * names in known. Stores the params in op->params; fails naming the node. */
static lps_status pool_prepare_common(lps_op_node *op, const char *const *known,
                                      pool_params **out, lps_error *err)
{
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st != LPS_OK)
        return st;
    pool_params *p = calloc(1, sizeof *p);
    if (!p)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    st = lps_spatial_parse(op, &p->win, err);
    if (st == LPS_OK && p->win.n_kernel < 0)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'kernel_shape' is required");
    if (st != LPS_OK) {
        free(p);
        return st;
    }
    op->params = p;
    *out = p;
    return LPS_OK;
}

/* True for the 8-bit integer inputs MaxPool accepts from opset 12. */
static bool max_pool_takes_bytes(const lps_op_node *op, const lps_tensor *x)
{
    return op->kind == LPS_OP_MAX_POOL && op->opset >= OPSET_MAXPOOL_INT8 &&
           (x->dtype == LPS_DT_UINT8 || x->dtype == LPS_DT_INT8);
}

/* Checks X and resolves the window sweep over it. */
static lps_status pool_geometry(const lps_op_node *op, const lps_tensor *x, lps_spatial_geom *g,
                                lps_error *err)
{
    const pool_params *p = op->params;
    if (!x || !max_pool_takes_bytes(op, x)) {
        lps_status st = lps_op_expect_dtype(op, x, 0, LPS_DT_FLOAT, err);
        if (st != LPS_OK)
            return st;
    }
    if (x->rank <= POOL_LEADING_DIMS)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "input X has rank %d, expected (N, C, spatial...)", x->rank);
    return lps_spatial_resolve(op, &p->win, x->rank - POOL_LEADING_DIMS,
                               x->dims + POOL_LEADING_DIMS, NULL, true, g, err);
}

static lps_status pool_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    lps_spatial_geom g;
    lps_status st = pool_geometry(op, in[0], &g, err);
    if (st != LPS_OK)
        return st;
    for (size_t j = 0; j < op->n_outputs; j++) {
        out[j].dtype = j == POOL_INDICES_OUTPUT ? LPS_DT_INT64 : in[0]->dtype;
        out[j].rank = in[0]->rank;
        out[j].dims[0] = in[0]->dims[0];
        out[j].dims[1] = in[0]->dims[1];
        memcpy(out[j].dims + POOL_LEADING_DIMS, g.out, (size_t)g.n * sizeof g.out[0]);
    }
    return LPS_OK;
}

/* Number of (n, c) planes of X. */
static int64_t pool_planes(const lps_tensor *x)
{
    return x->dims[0] * x->dims[1];
}

/* ---- MaxPool ---- */

static lps_status max_pool_prepare(lps_op_node *op, lps_error *err)
{
    const char *known[POOL_MAX_ATTRS] = {"auto_pad", "kernel_shape", "pads", "strides"};
    int k = 0;
    while (known[k])
        k++;
    if (op->opset >= OPSET_MAXPOOL_INDICES)
        known[k++] = "storage_order";
    if (op->opset >= OPSET_POOL_CEIL_MODE)
        known[k++] = "ceil_mode";
    if (op->opset >= OPSET_MAXPOOL_DILATIONS)
        known[k++] = "dilations";
    known[k] = NULL;
    if (op->n_outputs > POOL_INDICES_OUTPUT && op->opset < OPSET_MAXPOOL_INDICES)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "the Indices output needs opset %d or later", OPSET_MAXPOOL_INDICES);
    pool_params *p = NULL;
    lps_status st = pool_prepare_common(op, known, &p, err);
    if (st != LPS_OK)
        return st;
    int64_t order = STORAGE_ROW_MAJOR;
    st = lps_op_attr_int(op, "storage_order", STORAGE_ROW_MAJOR, &order, err);
    if (st == LPS_OK && order != STORAGE_ROW_MAJOR && order != STORAGE_COLUMN_MAJOR)
        st = lps_op_fail(op, err, LPS_ERR_INVALID,
                         "attribute 'storage_order' is %lld, expected 0 or 1", (long long)order);
    p->column_major = order == STORAGE_COLUMN_MAJOR;
    return st;
}

/* Pooling work (planes * outputs * taps) below which a forward runs in the
 * caller's thread: waking OpenMP's sleeping workers costs about 15 us
 * (src/core/par.h), some 10^5 vectorised compares, where LPS_PAR_MIN_FLOPS
 * counts GEMM flops. */
#define POOL_PARALLEL_MIN_TAPS ((int64_t)1 << 17)

/* y[o] = the maximum of at[o * stride + taps[t]] over the taps, for count
 * outputs of a line whose windows all fit, taps in kernel order and ties
 * and NaNs resolved as the per-window search does (a later tap wins only
 * when greater). Taps outer, outputs inner, so the inner loop vectorises;
 * inlined per stride (max_pool_fit_run) so constant strides do. */
static inline __attribute__((always_inline)) void
max_pool_fit_line(const float *at, int64_t stride, const int64_t *taps, int64_t k_size,
                  int64_t count, float *restrict y)
{
    const float *first = at + taps[0];
    for (int64_t o = 0; o < count; o++)
        y[o] = first[o * stride];
    for (int64_t t = 1; t < k_size; t++) {
        const float *src = at + taps[t];
        for (int64_t o = 0; o < count; o++) {
            float v = src[o * stride];
            y[o] = v > y[o] ? v : y[o];
        }
    }
}

LPS_VECTOR_CLONES
static void max_pool_fit_run(const float *at, int64_t stride, const int64_t *taps,
                             int64_t k_size, int64_t count, float *y)
{
    if (stride == 1)
        max_pool_fit_line(at, 1, taps, k_size, count, y);
    else if (stride == 2)
        max_pool_fit_line(at, 2, taps, k_size, count, y);
    else
        max_pool_fit_line(at, stride, taps, k_size, count, y);
}

/* The floats at p[0], p[stride], ... of n <= 16 outputs (stride 1 or 2),
 * zero past n. */
static inline __attribute__((always_inline)) LPS_AVX512 __m512
max_pool_tap_vector(const float *p, int64_t stride, int64_t n)
{
    return stride == 1 ? _mm512_maskz_loadu_ps(lps_lanes_below(n), p) : lps_load_even_lanes(p, n);
}

/* max_pool_fit_run for strides 1 and 2 on AVX-512, 16 outputs a step with
 * the taps' lines loaded (and, for stride 2, their even lanes permuted)
 * as vectors: vmaxps(v, y) is v > y ? v : y, the scalar select, so NaNs
 * and ties resolve as there. The bundled CNN's 2x2 pools on lines of 14
 * and 7 outputs, mostly scalar tail for the AVX2 clone, were 10% of its
 * batch-128 forward (docs/benchmarks.md, "Ninth round"). */
static LPS_AVX512 void max_pool_fit_run_avx512(const float *at, int64_t stride,
                                               const int64_t *taps, int64_t k_size,
                                               int64_t count, float *y)
{
    for (int64_t o = 0; o < count; o += LPS_AVX512_FLOATS) {
        int64_t n = count - o < LPS_AVX512_FLOATS ? count - o : LPS_AVX512_FLOATS;
        const float *first = at + o * stride;
        __m512 best = max_pool_tap_vector(first + taps[0], stride, n);
        for (int64_t t = 1; t < k_size; t++)
            best = _mm512_max_ps(max_pool_tap_vector(first + taps[t], stride, n), best);
        _mm512_mask_storeu_ps(y + o, lps_lanes_below(n), best);
    }
}

/* max_pool_fit_line with each maximum's row-major plane offset in argmax
 * (at + argmax[o] is the winning element, base = at's offset in its
 * plane): the same compare, so the first occurrence wins as in
 * max_pool_window. */
static inline __attribute__((always_inline)) void
max_pool_fit_line_argmax(const float *at, int64_t base, int64_t stride, const int64_t *taps,
                         int64_t k_size, int64_t count, float *restrict y,
                         int64_t *restrict argmax)
{
    const float *first = at + taps[0];
    for (int64_t o = 0; o < count; o++) {
        y[o] = first[o * stride];
        argmax[o] = base + o * stride + taps[0];
    }
    for (int64_t t = 1; t < k_size; t++) {
        const float *src = at + taps[t];
        int64_t tap = base + taps[t];
        for (int64_t o = 0; o < count; o++) {
            float v = src[o * stride];
            /* all ones when v wins: a mask, not a branch, as lines are
             * short (7 or 14 outputs) and mostly the scalar tail, where a
             * branch on the data mispredicts */
            int64_t wins = -(int64_t)(v > y[o]);
            y[o] = v > y[o] ? v : y[o];
            argmax[o] ^= (argmax[o] ^ (tap + o * stride)) & wins;
        }
    }
}

/* max_pool_fit_run for a training forward, which keeps the argmax: per
 * window the search cost about 70 instructions an output on the bundled
 * CNN's 2x2 pools, 5% of its training step. */
LPS_VECTOR_CLONES
static void max_pool_fit_run_argmax(const float *at, int64_t base, int64_t stride,
                                    const int64_t *taps, int64_t k_size, int64_t count, float *y,
                                    int64_t *argmax)
{
    if (stride == 1)
        max_pool_fit_line_argmax(at, base, 1, taps, k_size, count, y, argmax);
    else if (stride == 2)
        max_pool_fit_line_argmax(at, base, 2, taps, k_size, count, y, argmax);
    else
        max_pool_fit_line_argmax(at, base, stride, taps, k_size, count, y, argmax);
}

/* The maximum of window o of the sweep's current line in *best, the
 * row-major plane offset of its first occurrence in *best_at. */
static void max_pool_window(lps_sweep *s, const float *plane, int64_t o, float *best,
                            int64_t *best_at)
{
    const lps_spatial_geom *g = s->g;
    int64_t at = lps_sweep_window(s, o);
    if (at >= 0) {
        const float *win = plane + at;
        int64_t best_tap = 0;
        *best = win[s->taps[0]];
        for (int64_t t = 1; t < g->kernel_size; t++) {
            if (win[s->taps[t]] > *best) {
                *best = win[s->taps[t]];
                best_tap = t;
            }
        }
        *best_at = at + s->taps[best_tap];
        return;
    }
    lps_window w;
    *best = -INFINITY;
    *best_at = -1;
    /* windows always hold an input element: resolve checked it */
    lps_window_begin(g, s->pos, &w);
    do {
        const float *line = plane + w.line_offset;
        for (int64_t j = 0; j < w.line_len; j++) {
            float v = line[j * w.line_step];
            if (v > *best || *best_at < 0) {
                *best = v;
                *best_at = w.line_offset + j * w.line_step;
            }
        }
    } while (lps_window_next_line(g, &w));
}

/* One plane's outputs into y and argmax (either may be NULL; both point at
 * the plane's first output). With y, the windows of a line that fit run
 * as one vectorised max_pool_fit_run (_argmax with argmax; the AVX-512
 * one for strides 1 and 2 when avx512). The sweep is left at the plane's
 * first line. */
static void max_pool_plane(lps_sweep *s, const float *plane, float *y, int64_t *argmax,
                           bool avx512)
{
    const lps_spatial_geom *g = s->g;
    int last = g->n - 1;
    int64_t out_last = g->out[last], idx = 0;
    do {
        int64_t lo = s->fit_lo[last], hi = s->fit_hi[last];
        bool run = y && s->line_inside && lo < hi;
        for (int64_t o = 0; o < out_last;) {
            if (run && o == lo) {
                int64_t base = s->line_base + lo * g->stride[last] - g->pad_begin[last];
                if (argmax)
                    max_pool_fit_run_argmax(plane + base, base, g->stride[last], s->taps,
                                            g->kernel_size, hi - lo, y + idx, argmax + idx);
                else if (avx512 && g->stride[last] <= 2)
                    max_pool_fit_run_avx512(plane + base, g->stride[last], s->taps,
                                            g->kernel_size, hi - lo, y + idx);
                else
                    max_pool_fit_run(plane + base, g->stride[last], s->taps, g->kernel_size,
                                     hi - lo, y + idx);
                idx += hi - lo;
                o = hi;
                continue;
            }
            float best;
            int64_t best_at;
            max_pool_window(s, plane, o, &best, &best_at);
            if (y)
                y[idx] = best;
            if (argmax)
                argmax[idx] = best_at;
            idx++;
            o++;
        }
    } while (lps_sweep_next_line(s));
}

/* For every plane and window: y (may be NULL) gets the maximum, argmax (may
 * be NULL) the row-major offset of its first occurrence within the plane.
 * Planes run on OpenMP's threads (lps_par_threads), each with its own copy
 * of the sweep (the tap list shared); each plane's outputs are its own, so
 * results do not depend on the thread count. Fails only on allocation, naming the node. */
static lps_status max_pool_planes(const lps_op_node *op, const lps_spatial_geom *g,
                                  int64_t planes, const float *x, float *y, int64_t *argmax,
                                  lps_error *err)
{
    lps_sweep s;
    lps_status st = lps_sweep_init(op, g, &s, err);
    if (st != LPS_OK)
        return st;
    int threads = planes * g->out_size * g->kernel_size >= POOL_PARALLEL_MIN_TAPS
                      ? lps_par_threads()
                      : 1;
    bool avx512 = __builtin_cpu_supports("avx512f");
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t p = 0; p < planes; p++) {
        lps_sweep own = s;
        max_pool_plane(&own, x + p * g->in_size, y ? y + p * g->out_size : NULL,
                       argmax ? argmax + p * g->out_size : NULL, avx512);
    }
    lps_sweep_release(&s);
    return LPS_OK;
}

/* Rewrites plane-local row-major offsets into ONNX Indices: flat offsets
 * into X, with the spatial part column-major when asked. */
static void max_pool_indices(const lps_spatial_geom *g, int64_t planes, bool column_major,
                             const int64_t *argmax, int64_t *indices)
{
    int64_t col_stride[LPS_SPATIAL_MAX];
    col_stride[0] = 1;
    for (int d = 1; d < g->n; d++)
        col_stride[d] = col_stride[d - 1] * g->in[d - 1];
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t o = 0; o < g->out_size; o++) {
            int64_t at = argmax[p * g->out_size + o], spatial = at;
            if (column_major) {
                spatial = 0;
                for (int d = 0; d < g->n; d++)
                    spatial += (at / g->in_stride[d] % g->in[d]) * col_stride[d];
            }
            indices[p * g->out_size + o] = p * g->in_size + spatial;
        }
    }
}

/* MaxPool of 8-bit integers: the windows are searched on a float copy of X
 * in the workspace (exact for 8-bit values) and each winner's byte copied,
 * so the float kernel serves these types too. No gradient flows here. */
static lps_status max_pool_bytes(lps_op_node *op, lps_exec_ctx *ctx, const lps_spatial_geom *g,
                                 const lps_tensor *x, lps_tensor *y, lps_tensor *indices,
                                 lps_error *err)
{
    const pool_params *p = op->params;
    int64_t planes = pool_planes(x), n_in = lps_tensor_numel(x), n_out = lps_tensor_numel(y);
    if (n_out == 0)
        return LPS_OK;
    float *xf = lps_ctx_workspace(ctx, (size_t)n_in, err);
    if (!xf) {
        lps_error_prefix(err, "%s", op->label);
        return LPS_ERR_NOMEM;
    }
    const uint8_t *xb = x->data;
    for (int64_t i = 0; i < n_in; i++)
        xf[i] = x->dtype == LPS_DT_INT8 ? (float)(int8_t)xb[i] : (float)xb[i];
    int64_t *argmax = indices ? lps_tensor_i64(indices) : malloc((size_t)n_out * sizeof *argmax);
    if (!argmax)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for argmax");
    lps_status st = max_pool_planes(op, g, planes, xf, NULL, argmax, err);
    if (st == LPS_OK) {
        uint8_t *yb = y->data;
        for (int64_t pl = 0, i = 0; pl < planes; pl++)
            for (int64_t o = 0; o < g->out_size; o++, i++)
                yb[i] = xb[pl * g->in_size + argmax[i]];
        if (indices)
            max_pool_indices(g, planes, p->column_major, argmax, argmax);
    }
    if (!indices)
        free(argmax);
    return st;
}

static lps_status max_pool_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_tensor *const *in, lps_tensor *const *out,
                                   lps_error *err)
{
    const pool_params *p = op->params;
    lps_spatial_geom g;
    lps_status st = pool_geometry(op, in[0], &g, err);
    if (st != LPS_OK)
        return st;
    int64_t planes = pool_planes(in[0]);
    lps_tensor *indices = op->n_outputs > POOL_INDICES_OUTPUT ? out[POOL_INDICES_OUTPUT] : NULL;
    if (in[0]->dtype != LPS_DT_FLOAT) {
        lps_tensor_release(&op->saved[SAVED_ARGMAX]);
        return max_pool_bytes(op, ctx, &g, in[0], out[0], indices, err);
    }
    lps_tensor *saved = &op->saved[SAVED_ARGMAX];
    int64_t *argmax = NULL;
    if (lps_ctx_training(ctx)) {
        /* backward then routes gradients without searching the windows again */
        st = lps_tensor_alloc(saved, LPS_DT_INT64, out[0]->rank, out[0]->dims, err);
        if (st != LPS_OK) {
            lps_error_prefix(err, "%s: argmax", op->label);
            return st;
        }
        argmax = lps_tensor_i64(saved);
    } else {
        lps_tensor_release(saved);
        if (indices)
            argmax = lps_tensor_i64(indices);
    }
    st = max_pool_planes(op, &g, planes, lps_tensor_f32(in[0]), lps_tensor_f32(out[0]), argmax,
                         err);
    if (st == LPS_OK && indices && argmax)
        max_pool_indices(&g, planes, p->column_major, argmax, lps_tensor_i64(indices));
    return st;
}

/* dx[plane + argmax[o]] += dy[o] for the planes [p0, p1): every plane adds
 * into its own part of dx in output order, so the planes are cut over the
 * threads (lps_par_elements) and the bytes do not depend on the cut. */
typedef struct max_pool_route_job {
    const lps_spatial_geom *g;
    const int64_t *argmax;
    const float *dy;
    float *dx;
} max_pool_route_job;

static void max_pool_route_planes(void *arg, int64_t p0, int64_t p1)
{
    const max_pool_route_job *j = arg;
    int64_t in_size = j->g->in_size, out_size = j->g->out_size;
    for (int64_t p = p0; p < p1; p++) {
        float *dx = j->dx + p * in_size;
        const int64_t *at = j->argmax + p * out_size;
        const float *dy = j->dy + p * out_size;
        for (int64_t o = 0; o < out_size; o++)
            dx[at[o]] += dy[o];
    }
}

static lps_status max_pool_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                    const lps_tensor *const *in, const lps_tensor *const *out,
                                    const lps_tensor *const *dout, lps_tensor *const *din,
                                    lps_error *err)
{
    (void)ctx;
    (void)out;
    if (!dout[0] || !din[0])
        return LPS_OK;
    lps_spatial_geom g;
    lps_status st = pool_geometry(op, in[0], &g, err);
    if (st == LPS_OK && in[0]->dtype != LPS_DT_FLOAT)
        st = lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "has no gradient for %s input",
                         lps_dtype_name(in[0]->dtype));
    if (st != LPS_OK)
        return st;
    int64_t planes = pool_planes(in[0]);
    int64_t count = planes * g.out_size;
    if (count == 0)
        return LPS_OK;
    const lps_tensor *saved = &op->saved[SAVED_ARGMAX];
    int64_t *scratch = NULL;
    const int64_t *argmax;
    if (saved->dtype == LPS_DT_INT64 && saved->data && lps_tensor_numel(saved) == count) {
        argmax = lps_tensor_i64(saved);
    } else {
        scratch = malloc((size_t)count * sizeof *scratch);
        if (!scratch)
            return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for argmax");
        st = max_pool_planes(op, &g, planes, lps_tensor_f32(in[0]), NULL, scratch, err);
        if (st != LPS_OK) {
            free(scratch);
            return st;
        }
        argmax = scratch;
    }
    max_pool_route_job job = {&g, argmax, lps_tensor_f32(dout[0]), lps_tensor_f32(din[0])};
    /* an output's index, its gradient and the element it adds to */
    lps_par_elements(planes, (double)g.out_size * 4.0, max_pool_route_planes, &job);
    free(scratch);
    return LPS_OK;
}

const lps_op_def lps_op_def_max_pool = {
    .name = "MaxPool",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 2,
    .differentiable = 1u,
    .prepare = max_pool_prepare,
    .shape = pool_shape,
    .forward = max_pool_forward,
    .backward = max_pool_backward,
};

/* ---- AveragePool ---- */

static lps_status avg_pool_prepare(lps_op_node *op, lps_error *err)
{
    const char *known[POOL_MAX_ATTRS] = {"auto_pad", "kernel_shape", "pads", "strides",
                                         "count_include_pad"};
    int k = 0;
    while (known[k])
        k++;
    if (op->opset >= OPSET_POOL_CEIL_MODE)
        known[k++] = "ceil_mode";
    if (op->opset >= OPSET_AVGPOOL_DILATIONS)
        known[k++] = "dilations";
    known[k] = NULL;
    pool_params *p = NULL;
    lps_status st = pool_prepare_common(op, known, &p, err);
    if (st != LPS_OK)
        return st;
    int64_t include = 0;
    st = lps_op_attr_int(op, "count_include_pad", 0, &include, err);
    if (st == LPS_OK && include != 0 && include != 1)
        st = lps_op_fail(op, err, LPS_ERR_INVALID,
                         "attribute 'count_include_pad' is %lld, expected 0 or 1",
                         (long long)include);
    p->count_include_pad = include == 1;
    return st;
}

/* The divisor of a window's average. */
static float avg_divisor(const pool_params *p, const lps_window *w)
{
    return (float)(p->count_include_pad ? w->padded_count : w->valid_count);
}

static lps_status avg_pool_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_tensor *const *in, lps_tensor *const *out,
                                   lps_error *err)
{
    (void)ctx;
    const pool_params *p = op->params;
    lps_spatial_geom g;
    lps_sweep s;
    lps_status st = pool_geometry(op, in[0], &g, err);
    if (st == LPS_OK)
        st = lps_sweep_init(op, &g, &s, err);
    if (st != LPS_OK)
        return st;
    const float *x = lps_tensor_f32(in[0]);
    float *y = lps_tensor_f32(out[0]);
    int64_t out_last = g.out[g.n - 1], idx = 0;
    float inv_full = 1.0f / (float)g.kernel_size;
    for (int64_t pl = 0; pl < pool_planes(in[0]); pl++) {
        const float *plane = x + pl * g.in_size;
        do {
            for (int64_t o = 0; o < out_last; o++, idx++) {
                int64_t at = lps_sweep_window(&s, o);
                float sum = 0.0f;
                if (at >= 0) {
                    for (int64_t t = 0; t < g.kernel_size; t++)
                        sum += plane[at + s.taps[t]];
                    y[idx] = sum * inv_full;
                    continue;
                }
                lps_window w;
                lps_window_begin(&g, s.pos, &w);
                do {
                    const float *line = plane + w.line_offset;
                    for (int64_t j = 0; j < w.line_len; j++)
                        sum += line[j * w.line_step];
                } while (lps_window_next_line(&g, &w));
                y[idx] = sum / avg_divisor(p, &w);
            }
        } while (lps_sweep_next_line(&s));
    }
    lps_sweep_release(&s);
    return LPS_OK;
}

static lps_status avg_pool_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                    const lps_tensor *const *in, const lps_tensor *const *out,
                                    const lps_tensor *const *dout, lps_tensor *const *din,
                                    lps_error *err)
{
    (void)ctx;
    (void)out;
    const pool_params *p = op->params;
    if (!dout[0] || !din[0])
        return LPS_OK;
    lps_spatial_geom g;
    lps_sweep s;
    lps_status st = pool_geometry(op, in[0], &g, err);
    if (st == LPS_OK)
        st = lps_sweep_init(op, &g, &s, err);
    if (st != LPS_OK)
        return st;
    const float *dy = lps_tensor_f32(dout[0]);
    float *dx = lps_tensor_f32(din[0]);
    int64_t out_last = g.out[g.n - 1], idx = 0;
    float inv_full = 1.0f / (float)g.kernel_size;
    for (int64_t pl = 0; pl < pool_planes(in[0]); pl++) {
        float *plane = dx + pl * g.in_size;
        do {
            for (int64_t o = 0; o < out_last; o++, idx++) {
                int64_t at = lps_sweep_window(&s, o);
                if (at >= 0) {
                    float share = dy[idx] * inv_full;
                    for (int64_t t = 0; t < g.kernel_size; t++)
                        plane[at + s.taps[t]] += share;
                    continue;
                }
                lps_window w;
                lps_window_begin(&g, s.pos, &w);
                float share = dy[idx] / avg_divisor(p, &w);
                do {
                    float *line = plane + w.line_offset;
                    for (int64_t j = 0; j < w.line_len; j++)
                        line[j * w.line_step] += share;
                } while (lps_window_next_line(&g, &w));
            }
        } while (lps_sweep_next_line(&s));
    }
    lps_sweep_release(&s);
    return LPS_OK;
}

const lps_op_def lps_op_def_average_pool = {
    .name = "AveragePool",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = avg_pool_prepare,
    .shape = pool_shape,
    .forward = avg_pool_forward,
    .backward = avg_pool_backward,
};

/* ---- GlobalAveragePool ---- */

static lps_status global_avg_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}

/* Checks X and returns the size of one (n, c) plane in *plane. */
static lps_status global_avg_plane(const lps_op_node *op, const lps_tensor *x, int64_t *plane,
                                   lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, x, 0, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    if (x->rank <= POOL_LEADING_DIMS)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "input X has rank %d, expected (N, C, spatial...)", x->rank);
    *plane = lps_numel_of(x->rank - POOL_LEADING_DIMS, x->dims + POOL_LEADING_DIMS);
    if (*plane < 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input X has empty spatial dims");
    return LPS_OK;
}

static lps_status global_avg_shape(const lps_op_node *op, const lps_tensor *const *in,
                                   lps_shape *out, lps_error *err)
{
    int64_t plane = 0;
    lps_status st = global_avg_plane(op, in[0], &plane, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = in[0]->rank;
    out[0].dims[0] = in[0]->dims[0];
    out[0].dims[1] = in[0]->dims[1];
    for (int d = POOL_LEADING_DIMS; d < in[0]->rank; d++)
        out[0].dims[d] = 1;
    return LPS_OK;
}

static lps_status global_avg_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                     const lps_tensor *const *in, lps_tensor *const *out,
                                     lps_error *err)
{
    (void)ctx;
    int64_t plane = 0;
    lps_status st = global_avg_plane(op, in[0], &plane, err);
    if (st != LPS_OK)
        return st;
    const float *x = lps_tensor_f32(in[0]);
    float *y = lps_tensor_f32(out[0]);
    for (int64_t pl = 0; pl < pool_planes(in[0]); pl++) {
        const float *src = x + pl * plane;
        double sum = 0.0;
        for (int64_t i = 0; i < plane; i++)
            sum += src[i];
        y[pl] = (float)(sum / (double)plane);
    }
    return LPS_OK;
}

static lps_status global_avg_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                      const lps_tensor *const *in, const lps_tensor *const *out,
                                      const lps_tensor *const *dout, lps_tensor *const *din,
                                      lps_error *err)
{
    (void)ctx;
    (void)out;
    if (!dout[0] || !din[0])
        return LPS_OK;
    int64_t plane = 0;
    lps_status st = global_avg_plane(op, in[0], &plane, err);
    if (st != LPS_OK)
        return st;
    const float *dy = lps_tensor_f32(dout[0]);
    float *dx = lps_tensor_f32(din[0]);
    for (int64_t pl = 0; pl < pool_planes(in[0]); pl++) {
        float share = dy[pl] / (float)plane;
        float *dst = dx + pl * plane;
        for (int64_t i = 0; i < plane; i++)
            dst[i] += share;
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_global_average_pool = {
    .name = "GlobalAveragePool",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u,
    .prepare = global_avg_prepare,
    .shape = global_avg_shape,
    .forward = global_avg_forward,
    .backward = global_avg_backward,
};
