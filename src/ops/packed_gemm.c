/* The packed-B product (contract in packed_gemm.h). A register tile is
 * TILE_ROWS rows of C by one panel (LPS_PACKED_NR columns): per step of k,
 * two vector loads of the panel's row and one broadcast of A per tile row
 * feed 2 * TILE_ROWS fused multiply-adds, so the kernel is bound by the
 * multiply-adds, not by the loads (8 rows: 16 accumulators of the 32
 * vector registers). Rows stay outermost, so a tile's strip of A stays in
 * L1 while the panels stream from L2. */
#include "ops/packed_gemm.h"

#include "core/par.h"
#include "core/runtime_env.h"
#include "ops/simd.h"

#include <cblas.h>
#include <immintrin.h>
#include <string.h>

/* Steps of k per pass of a tile: a tile's strip of A (TILE_ROWS floats
 * per step, one cache line when A is an im2col matrix read down its
 * columns) then stays in L1 across the group's panels; with all of k at
 * once (2,304 lines at a ResNet-18 layer3 conv) it did not, and the kernel
 * ran at half OpenBLAS's rate. Partial sums wait in a buffer of the
 * group's tiles between passes. */
#define K_BLOCK 256
/* Panels a pass over a chunk's row tiles reuses: their K_BLOCK rows
 * (16 x 32 KiB) stay in L2 (2 MiB on this machine) while the row tiles
 * go by, where all of a 3136x512 weight (6.4 MiB) came from L3 for every
 * tile. */
#define GROUP_PANELS 16
#define GROUP_BYTES ((int64_t)LPS_PACKED_FAST_BYTES)
/* Rows of C per register tile. */
#define TILE_ROWS 12
/* Floats per AVX-512 vector, and vectors per panel. */
#define VEC 16
#define PANEL_VECS (LPS_PACKED_NR / VEC)
#define AVX512 __attribute__((target("avx512f")))
/* tile_run's prefetches for writing (PREFETCHW, which every AVX-512 CPU
 * has); GCC takes a function holding only prefetches for a const one and
 * drops its calls, so they are inlined into tile_run. */
#define AVX512_PREFETCHW __attribute__((target("avx512f,prfchw")))
#define ALWAYS_INLINE __attribute__((always_inline)) inline

_Static_assert(LPS_PACKED_NR == PANEL_VECS * VEC, "a panel is whole vectors");

bool lps_packed_gemm_available(void)
{
    return __builtin_cpu_supports("avx512f");
}

bool lps_packed_blas_avx512(void)
{
    lps_vector_width width;
    return lps_blas_core_width(openblas_get_corename(), &width) && width == LPS_VECTORS_AVX512;
}

bool lps_packed_gemm_large_fast(bool scattered)
{
    return !scattered || !lps_packed_blas_avx512();
}

/* Floats per 1 KiB and per cache line. */
#define ALIAS_FLOATS 256
#define LINE_FLOATS 16

int64_t lps_packed_a_stride(int64_t ld)
{
    return ld % ALIAS_FLOATS == 0 ? ld + LINE_FLOATS : ld;
}

static int64_t panels_of(int64_t n)
{
    return (n + LPS_PACKED_NR - 1) / LPS_PACKED_NR;
}

size_t lps_packed_b_floats(int64_t k, int64_t n)
{
    return (size_t)panels_of(n) * (size_t)k * LPS_PACKED_NR;
}

void lps_packed_b_pack(const float *b, int64_t ldb, bool trans, int64_t k, int64_t n, float scale,
                       float *packed)
{
    for (int64_t p = 0; p < panels_of(n); p++) {
        float *panel = packed + p * k * LPS_PACKED_NR;
        for (int64_t r = 0; r < k; r++)
            for (int64_t c = 0; c < LPS_PACKED_NR; c++) {
                int64_t j = p * LPS_PACKED_NR + c;
                panel[r * LPS_PACKED_NR + c] =
                    j < n ? scale * b[trans ? j * ldb + r : r * ldb + j] : 0.0f;
            }
    }
}

/* One register tile's pass over k rows [k0, k0 + k) of A's columns and
 * the panel: the panel's columns valid under masks mask[v]. */
typedef struct tile {
    int64_t i0, rows, k, j0;
    const float *a;     /* A at row i0, column k0 */
    const float *panel; /* the panel at row k0 */
    const float *bias;  /* at the panel's first column, or NULL */
    float *partial;     /* TILE_ROWS x LPS_PACKED_NR sums between passes */
    bool first, last;   /* k0 == 0; k0 + k == all of k */
    __mmask16 mask[PANEL_VECS];
} tile;

/* acc[2 i + v] += A(i, :) * panel vector v over k, for `rows` rows (a
 * constant where inlined, so the loops unroll into registers); unit: A's
 * rows are adjacent floats (an im2col matrix read column-wise). */
static ALWAYS_INLINE AVX512 void tile_sum(const tile *t, int rows, int vecs, bool unit,
                                          int64_t row_stride, int64_t k_stride, __m512 *acc)
{
    const float *a = t->a, *b = t->panel;
    for (int64_t p = 0; p < t->k; p++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = vecs > 1 ? _mm512_loadu_ps(b + VEC) : b0;
#pragma GCC unroll 12
        for (int i = 0; i < rows; i++) {
            __m512 ai = _mm512_set1_ps(a[unit ? i : i * row_stride]);
            acc[PANEL_VECS * i] = _mm512_fmadd_ps(ai, b0, acc[PANEL_VECS * i]);
            if (vecs > 1)
                acc[PANEL_VECS * i + 1] = _mm512_fmadd_ps(ai, b1, acc[PANEL_VECS * i + 1]);
        }
        a += k_stride;
        b += LPS_PACKED_NR;
    }
}

/* Where C's element (r, j) of out lies. */
static float *out_at(const lps_packed_out *out, int64_t r, int64_t j)
{
    return out->c + (r / out->group_rows) * out->group_stride +
           (r % out->group_rows) * out->row_stride + j * out->col_stride;
}

/* Writes the tile's rows through out (vector stores, or scatters when a
 * column is not the next float), each element through act. */
static AVX512 void tile_store(const tile *t, const lps_packed_out *out, const lps_clamp *act,
                              const __m512 *acc)
{
    __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i index = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)out->col_stride));
    for (int64_t i = 0; i < t->rows; i++) {
        int64_t r = t->i0 + i;
        float *row = out_at(out, r, t->j0);
        for (int v = 0; v < PANEL_VECS; v++) {
            float *at = row + (int64_t)v * VEC * out->col_stride;
            __m512 y = lps_clamp_vector(act, acc[PANEL_VECS * i + v]);
            if (out->col_stride == 1)
                _mm512_mask_storeu_ps(at, t->mask[v], y);
            else
                _mm512_mask_i32scatter_ps(at, t->mask[v], index, y, sizeof(float));
        }
    }
}

/* One of tile_sum's shapes, chosen once per tile. */
#define TILE_SHAPE(R)                                                                              \
    case R:                                                                                        \
        if (vecs > 1 && unit)                                                                      \
            tile_sum(t, R, 2, true, a->row_stride, a->k_stride, acc);                              \
        else if (vecs > 1)                                                                         \
            tile_sum(t, R, 2, false, a->row_stride, a->k_stride, acc);                             \
        else if (unit)                                                                             \
            tile_sum(t, R, 1, true, a->row_stride, a->k_stride, acc);                              \
        else                                                                                       \
            tile_sum(t, R, 1, false, a->row_stride, a->k_stride, acc);                             \
        break;

/* The tile's accumulators before its pass: the bias (or 0) on the first,
 * the partial sums after earlier passes. */
static AVX512 void tile_start(const tile *t, __m512 *acc)
{
    for (int v = 0; v < PANEL_VECS; v++) {
        __m512 init =
            t->bias ? _mm512_maskz_loadu_ps(t->mask[v], t->bias + v * VEC) : _mm512_setzero_ps();
        for (int i = 0; i < TILE_ROWS; i++)
            acc[PANEL_VECS * i + v] =
                t->first ? init : _mm512_loadu_ps(t->partial + i * LPS_PACKED_NR + v * VEC);
    }
}

/* Asks for the cache lines a scattered tile's stores will write (its
 * first and last row of each column) before its sums, which take long
 * enough for the lines to arrive: Y (a convolution's NCHW output) is
 * written fresh, and the instructions after the scatters had 45% of
 * tile_run's samples on the CNN's conv2 (one panel, 144 steps of k a
 * tile); with the prefetches that conv alone at batch 128 took 3.2-4.5
 * CPU ms against 5.0-5.8 (docs/benchmarks.md, "Tenth round"). */
static ALWAYS_INLINE AVX512_PREFETCHW void tile_prefetch_out(const tile *t,
                                                              const lps_packed_out *out)
{
    int64_t cols = t->mask[1] ? LPS_PACKED_NR : VEC;
    for (int64_t j = 0; j < cols; j++) {
        _mm_prefetch((const char *)out_at(out, t->i0, t->j0 + j), _MM_HINT_ET0);
        _mm_prefetch((const char *)out_at(out, t->i0 + t->rows - 1, t->j0 + j), _MM_HINT_ET0);
    }
}

static AVX512_PREFETCHW void tile_run(const tile *t, const lps_packed_a *a,
                                      const lps_packed_out *out, const lps_clamp *act)
{
    __m512 acc[TILE_ROWS * PANEL_VECS];
    if (t->last && out->col_stride != 1)
        tile_prefetch_out(t, out);
    tile_start(t, acc);
    int vecs = t->mask[1] ? 2 : 1;
    bool unit = a->row_stride == 1;
    switch (t->rows) {
        TILE_SHAPE(1)
        TILE_SHAPE(2)
        TILE_SHAPE(3)
        TILE_SHAPE(4)
        TILE_SHAPE(5)
        TILE_SHAPE(6)
        TILE_SHAPE(7)
        TILE_SHAPE(8)
        TILE_SHAPE(9)
        TILE_SHAPE(10)
        TILE_SHAPE(11)
        TILE_SHAPE(12)
    default:
        return;
    }
    if (t->last) {
        tile_store(t, out, act, acc);
        return;
    }
    for (int i = 0; i < TILE_ROWS * PANEL_VECS; i++)
        _mm512_storeu_ps(t->partial + i * VEC, acc[i]);
}

_Static_assert(TILE_ROWS == 12, "tile_run has a shape per row count up to TILE_ROWS");

/* One lps_packed_gemm call, its rows cut into chunks of whole tiles. */
typedef struct packed_job {
    int64_t m, n, k, tiles, panels;
    bool by_panels; /* chunks cut the panels (all row tiles each), not the tiles */
    lps_packed_a a;
    const float *b, *bias;
    lps_packed_out out;
    lps_clamp act;
} packed_job;

/* Row tile r of C against panels [p0, p1), k in passes of K_BLOCK;
 * partial holds (p1 - p0) tiles' sums between passes. */
static void packed_row_tile(const packed_job *j, int64_t r, int64_t p0, int64_t p1, float *partial)
{
    int64_t i0 = r * TILE_ROWS;
    for (int64_t k0 = 0; k0 < j->k || k0 == 0; k0 += K_BLOCK) {
        int64_t kc = j->k - k0 < K_BLOCK ? j->k - k0 : K_BLOCK;
        for (int64_t p = p0; p < p1; p++) {
            int64_t j0 = p * LPS_PACKED_NR;
            tile t = {.i0 = i0,
                      .rows = j->m - i0 < TILE_ROWS ? j->m - i0 : TILE_ROWS,
                      .k = kc,
                      .j0 = j0,
                      .a = j->a.a + i0 * j->a.row_stride + k0 * j->a.k_stride,
                      .panel = j->b + (p * j->k + k0) * LPS_PACKED_NR,
                      .bias = j->bias ? j->bias + j0 : NULL,
                      .partial = partial + (p - p0) * TILE_ROWS * LPS_PACKED_NR,
                      .first = k0 == 0,
                      .last = k0 + kc >= j->k};
            for (int v = 0; v < PANEL_VECS; v++)
                t.mask[v] = lps_lanes_below(j->n - j0 - v * VEC);
            tile_run(&t, &j->a, &j->out, &j->act);
        }
    }
}

/* Chunk `chunk`'s row tiles, GROUP_PANELS panels at a time. */
static void packed_chunk(void *arg, int chunk, int n_chunks)
{
    const packed_job *j = arg;
    float partial[GROUP_PANELS * TILE_ROWS * LPS_PACKED_NR];
    int64_t first = 0, end = j->tiles, p_first = 0, p_end = j->panels;
    if (j->by_panels)
        lps_par_range(j->panels, chunk, n_chunks, &p_first, &p_end);
    else
        lps_par_range(j->tiles, chunk, n_chunks, &first, &end);
    int64_t panel_bytes = j->k * LPS_PACKED_NR * (int64_t)sizeof(float);
    int64_t group = panel_bytes > 0 ? GROUP_BYTES / panel_bytes : GROUP_PANELS;
    group = group < 1 ? 1 : group > GROUP_PANELS ? GROUP_PANELS : group;
    for (int64_t g0 = p_first; g0 < p_end; g0 += group)
        for (int64_t r = first; r < end; r++)
            packed_row_tile(j, r, g0, g0 + group < p_end ? g0 + group : p_end, partial);
}

void lps_packed_gemm(int64_t m, int64_t n, int64_t k, lps_packed_a a, const float *packed_b,
                     const float *bias, lps_packed_out out)
{
    lps_packed_gemm_clamped(m, n, k, a, packed_b, bias, out,
                            (lps_clamp){LPS_CLAMP_NONE, 0.0f, 0.0f});
}

void lps_packed_gemm_clamped(int64_t m, int64_t n, int64_t k, lps_packed_a a,
                             const float *packed_b, const float *bias, lps_packed_out out,
                             lps_clamp act)
{
    if (m <= 0 || n <= 0)
        return;
    packed_job job = {m,        n,    k,   (m + TILE_ROWS - 1) / TILE_ROWS, panels_of(n), false, a,
                      packed_b, bias, out, act};
    /* the longer of the two cuts: 32 rows of A are 3 tiles (24 rows
     * against 8 on two threads), a 300-column B 10 panels */
    job.by_panels = job.panels > job.tiles;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    lps_par_for(lps_par_chunks(job.by_panels ? job.panels : job.tiles, flops), packed_chunk, &job);
}
