/* The packed product's register tile, written once over a vector type:
 * packed_gemm.c includes this file once per instruction set, after
 * defining
 *   PT_NAME(x)      x with the set's suffix (the functions' names)
 *   PT_TARGET       the functions' target attribute
 *   PT_ROWS         rows of C per tile (at most TILE_ROWS_MAX)
 *   PT_ROW_PANELS   panels of row_run's one-row tile (3 or 6)
 *   PT_FLOATS       floats per vector; a tile is PT_ROWS x 2 vectors
 *   pt_vec          the vector type
 *   PT_LOAD(p), PT_LOAD_FIRST(p, n), PT_STORE(p, v), PT_STORE_FIRST(p, n, v)
 *                   whole-vector and first-n-lanes (the others zero on a
 *                   load, untouched on a store) accesses
 *   PT_SET1(x), PT_ZERO(), PT_FMADD(a, b, c)
 *   PT_CLAMP(act, v)  v through the lps_clamp act (clamp.h), bit for bit
 *   pt_index, PT_SCATTER_INDEX(stride), PT_SCATTER(p, n, index, v)
 *                   the first n lanes of v to p, p + stride, ...
 * and the tile, packed_row and packed_kernel structs, out_at and
 * ALWAYS_INLINE; it defines PT_NAME(kernel), the set's packed_kernel, and
 * undefines the macros at its end. Per step of k, two
 * vector loads of the panel's row and one broadcast of A per tile row feed
 * 2 * PT_ROWS fused multiply-adds, so a tile is bound by the multiply-adds,
 * not by the loads, while its 2 * PT_ROWS accumulators, the two panel
 * vectors and a broadcast fit the set's registers (AVX-512: 12 rows, 24 of
 * 32; AVX2: 6 rows, 15 of 16). */

/* acc[2 i + v] += A(i, :) * panel vector v over k, for `rows` rows (a
 * constant where inlined, so the loops unroll into registers); unit: A's
 * rows are adjacent floats (an im2col matrix read column-wise). */
static ALWAYS_INLINE PT_TARGET void PT_NAME(tile_sum)(const tile *t, int rows, int vecs, bool unit,
                                                      int64_t row_stride, int64_t k_stride,
                                                      pt_vec *acc)
{
    const float *a = t->a, *b = t->panel;
    for (int64_t p = 0; p < t->k; p++) {
        pt_vec b0 = PT_LOAD(b);
        pt_vec b1 = vecs > 1 ? PT_LOAD(b + PT_FLOATS) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            pt_vec ai = PT_SET1(a[unit ? i : i * row_stride]);
            acc[2 * i] = PT_FMADD(ai, b0, acc[2 * i]);
            if (vecs > 1)
                acc[2 * i + 1] = PT_FMADD(ai, b1, acc[2 * i + 1]);
        }
        a += k_stride;
        b += LPS_PACKED_NR;
    }
}

/* y's first `lanes` floats to at (whole vectors, or a scatter when a
 * column is not the next float), through act. */
static ALWAYS_INLINE PT_TARGET void PT_NAME(store_vec)(float *at, int64_t lanes, pt_index index,
                                                       const lps_packed_out *out,
                                                       const lps_clamp *act, pt_vec v)
{
    pt_vec y = PT_CLAMP(act, v);
    if (out->col_stride != 1)
        PT_SCATTER(at, lanes, index, y);
    else if (lanes >= PT_FLOATS)
        PT_STORE(at, y);
    else
        PT_STORE_FIRST(at, lanes, y);
}

/* Writes the tile's rows through out (vector stores, or scatters when a
 * column is not the next float), each element through act. */
static PT_TARGET void PT_NAME(tile_store)(const tile *t, const lps_packed_out *out,
                                          const lps_clamp *act, const pt_vec *acc)
{
    pt_index index = PT_SCATTER_INDEX(out->col_stride);
    for (int64_t i = 0; i < t->rows; i++) {
        float *row = out_at(out, t->i0 + i, t->j0);
        for (int v = 0; v < 2 && v * PT_FLOATS < t->cols; v++) {
            int64_t lanes = t->cols - v * PT_FLOATS;
            PT_NAME(store_vec)(row + (int64_t)v * PT_FLOATS * out->col_stride, lanes, index, out,
                               act, acc[2 * i + v]);
        }
    }
}

/* One of tile_sum's shapes, chosen once per tile. */
#define PT_SHAPE(R)                                                                                \
    case R:                                                                                        \
        if (vecs > 1 && unit)                                                                      \
            PT_NAME(tile_sum)(t, R, 2, true, a->row_stride, a->k_stride, acc);                     \
        else if (vecs > 1)                                                                         \
            PT_NAME(tile_sum)(t, R, 2, false, a->row_stride, a->k_stride, acc);                    \
        else if (unit)                                                                             \
            PT_NAME(tile_sum)(t, R, 1, true, a->row_stride, a->k_stride, acc);                     \
        else                                                                                       \
            PT_NAME(tile_sum)(t, R, 1, false, a->row_stride, a->k_stride, acc);                    \
        break;

/* The tile's accumulators before its pass: the bias (or 0) on the first,
 * the partial sums after earlier passes. */
static PT_TARGET void PT_NAME(tile_start)(const tile *t, pt_vec *acc)
{
    for (int v = 0; v < 2; v++) {
        int64_t lanes = t->cols - v * PT_FLOATS;
        pt_vec init = t->bias && lanes > 0 ? PT_LOAD_FIRST(t->bias + v * PT_FLOATS, lanes)
                                           : PT_ZERO();
        for (int i = 0; i < PT_ROWS; i++)
            acc[2 * i + v] =
                t->first ? init : PT_LOAD(t->partial + (2 * i + v) * PT_FLOATS);
    }
}

/* Asks for the cache lines a scattered tile's stores will write (its
 * first and last row of each column) before its sums, which take long
 * enough for the lines to arrive: Y (a convolution's NCHW output) is
 * written fresh, and the instructions after the scatters had 45% of
 * tile_run's samples on the CNN's conv2 (one panel, 144 steps of k a
 * tile); with the prefetches that conv alone at batch 128 took 3.2-4.5
 * CPU ms against 5.0-5.8 (docs/benchmarks.md, "Tenth round"). GCC takes
 * a function holding only prefetches for a const one and drops its
 * calls, so they are inlined into tile_run. */
static ALWAYS_INLINE PT_TARGET void PT_NAME(tile_prefetch_out)(const tile *t,
                                                               const lps_packed_out *out)
{
    int64_t cols = t->cols > PT_FLOATS ? 2 * PT_FLOATS : PT_FLOATS;
    for (int64_t j = 0; j < cols; j++) {
        _mm_prefetch((const char *)out_at(out, t->i0, t->j0 + j), _MM_HINT_ET0);
        _mm_prefetch((const char *)out_at(out, t->i0 + t->rows - 1, t->j0 + j), _MM_HINT_ET0);
    }
}

/* One tile's pass (tile_fn in packed_gemm.c). */
static PT_TARGET void PT_NAME(tile_run)(const tile *t, const lps_packed_a *a,
                                        const lps_packed_out *out, const lps_clamp *act)
{
    pt_vec acc[2 * PT_ROWS];
    if (t->last && out->col_stride != 1)
        PT_NAME(tile_prefetch_out)(t, out);
    PT_NAME(tile_start)(t, acc);
    int vecs = t->cols > PT_FLOATS ? 2 : 1;
    bool unit = a->row_stride == 1;
    switch (t->rows) {
        PT_SHAPE(1)
        PT_SHAPE(2)
        PT_SHAPE(3)
        PT_SHAPE(4)
        PT_SHAPE(5)
        PT_SHAPE(6)
#if PT_ROWS > 6
        PT_SHAPE(7)
        PT_SHAPE(8)
        PT_SHAPE(9)
        PT_SHAPE(10)
        PT_SHAPE(11)
        PT_SHAPE(12)
#endif
    default:
        return;
    }
    if (t->last) {
        PT_NAME(tile_store)(t, out, act, acc);
        return;
    }
    for (int i = 0; i < 2 * PT_ROWS; i++)
        PT_STORE(t->partial + i * PT_FLOATS, acc[i]);
}

_Static_assert(PT_ROWS == 6 || PT_ROWS == 12, "tile_run has a shape per row count up to PT_ROWS");

/* Panels of the row kernel's tile, and its accumulators. */
#define PT_PANEL_VECS (LPS_PACKED_NR / PT_FLOATS)
#define PT_ROW_ACC (PT_ROW_PANELS * PT_PANEL_VECS)

/* acc[q * PT_PANEL_VECS + v] += A's row * vector v of panel q over all of
 * k, for `panels` panels (a constant where inlined). */
static ALWAYS_INLINE PT_TARGET void PT_NAME(row_sum)(const float *a, int64_t k_stride,
                                                     const float *b, int64_t k, int panels,
                                                     pt_vec *acc)
{
    for (int64_t p = 0; p < k; p++) {
        pt_vec ai = PT_SET1(a[p * k_stride]);
        const float *bp = b + p * LPS_PACKED_NR;
#pragma GCC unroll 16
        for (int q = 0; q < panels * PT_PANEL_VECS; q++)
            acc[q] = PT_FMADD(ai, PT_LOAD(bp + (q / PT_PANEL_VECS) * k * LPS_PACKED_NR +
                                          (q % PT_PANEL_VECS) * PT_FLOATS),
                              acc[q]);
    }
}

/* One of row_sum's shapes, chosen once per row. */
#define PT_ROW_CASE(P)                                                                             \
    case P:                                                                                        \
        PT_NAME(row_sum)(ar, a->k_stride, b, w->k, P, acc);                                        \
        break;

/* Row r of C by panels [p0, p0 + panels) (panels <= PT_ROW_PANELS) over
 * all of k (row_fn in packed_gemm.c): a product of fewer rows than a tile
 * keeps enough chains of multiply-adds to hide their latency by going
 * across panels, one A element broadcast against every vector of them.
 * Each element is the same chain as in tile_run. */
static PT_TARGET void PT_NAME(row_run)(const packed_row *w, const lps_packed_a *a,
                                       const lps_packed_out *out, const lps_clamp *act)
{
    pt_vec acc[PT_ROW_ACC];
    int64_t j0 = w->p0 * LPS_PACKED_NR;
    for (int q = 0; q < PT_ROW_ACC; q++) {
        int64_t lanes = w->n - j0 - (int64_t)q * PT_FLOATS;
        acc[q] = w->bias && lanes > 0 && q < w->panels * PT_PANEL_VECS
                     ? PT_LOAD_FIRST(w->bias + j0 + q * PT_FLOATS, lanes)
                     : PT_ZERO();
    }
    const float *ar = a->a + w->r * a->row_stride, *b = w->b + w->p0 * w->k * LPS_PACKED_NR;
    switch (w->panels) {
        PT_ROW_CASE(1)
        PT_ROW_CASE(2)
        PT_ROW_CASE(3)
#if PT_ROW_PANELS > 3
        PT_ROW_CASE(4)
        PT_ROW_CASE(5)
        PT_ROW_CASE(6)
#endif
    default:
        return;
    }
    pt_index index = PT_SCATTER_INDEX(out->col_stride);
    float *row = out_at(out, w->r, j0);
    for (int q = 0; q < w->panels * PT_PANEL_VECS && j0 + q * PT_FLOATS < w->n; q++) {
        int64_t lanes = w->n - j0 - (int64_t)q * PT_FLOATS;
        PT_NAME(store_vec)(row + (int64_t)q * PT_FLOATS * out->col_stride, lanes, index, out, act,
                           acc[q]);
    }
}

_Static_assert(PT_ROW_PANELS == 3 || PT_ROW_PANELS == 6, "row_run has a case per panel count");

_Static_assert(LPS_PACKED_NR % (2 * PT_FLOATS) == 0, "a panel is whole tiles of two vectors");

/* The set's kernel: a tile is PT_ROWS rows by two vectors. */
static const packed_kernel PT_NAME(kernel) = {PT_ROWS, 2 * PT_FLOATS, PT_NAME(tile_run),
                                              PT_ROW_PANELS, PT_NAME(row_run)};

#undef PT_SHAPE
#undef PT_ROW_CASE
#undef PT_PANEL_VECS
#undef PT_ROW_ACC
#undef PT_ROW_PANELS
#undef PT_NAME
#undef PT_TARGET
#undef PT_ROWS
#undef PT_FLOATS
#undef pt_vec
#undef pt_index
#undef PT_LOAD
#undef PT_LOAD_FIRST
#undef PT_STORE
#undef PT_STORE_FIRST
#undef PT_SET1
#undef PT_ZERO
#undef PT_FMADD
#undef PT_CLAMP
#undef PT_SCATTER_INDEX
#undef PT_SCATTER
