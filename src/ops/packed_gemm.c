/* The packed-B product (contract in packed_gemm.h). A register tile is a
 * few rows of C by a panel's columns, one per instruction set
 * (packed_tile.h, written once over the vector type): AVX-512's 12 rows
 * by a whole panel, AVX2's 6 rows by half of one. Rows stay outermost, so
 * a tile's strip of A stays in L1 while the panels stream from L2. */
#include "ops/packed_gemm.h"

#include "core/par.h"
#include "core/runtime_env.h"
#include "ops/simd.h"

#include <cblas.h>
#include <immintrin.h>
#include <string.h>

/* Steps of k per pass of a tile: a tile's strip of A (a tile's rows per
 * step, one cache line when A is an im2col matrix read down its columns)
 * then stays in L1 across the group's panels; with all of k at once (2,304
 * lines at a ResNet-18 layer3 conv) it did not, and the kernel ran at half
 * OpenBLAS's rate. Partial sums wait in a buffer of the group's tiles
 * between passes. */
#define K_BLOCK 256
/* Panels a pass over a chunk's row tiles reuses: their K_BLOCK rows
 * (16 x 32 KiB) stay in L2 (2 MiB on this machine) while the row tiles
 * go by, where all of a 3136x512 weight (6.4 MiB) came from L3 for every
 * tile. */
#define GROUP_PANELS 16
#define GROUP_BYTES ((int64_t)LPS_PACKED_FAST_BYTES)
/* Most rows of C per register tile, of any kernel. */
#define TILE_ROWS_MAX 12
/* The kernels' targets, with the prefetches for writing of a scattered
 * tile (PREFETCHW: every AVX-512 CPU has it; AVX2 CPUs without it run it
 * as a no-op). */
#define AVX512_PREFETCHW __attribute__((target("avx512f,prfchw")))
#define AVX2_PREFETCHW __attribute__((target("avx2,fma,prfchw")))
#define ALWAYS_INLINE __attribute__((always_inline)) inline

/* The CPU's width is the one source of truth: its AVX-512 level (F, CD,
 * BW, DQ, VL) is a superset of what the AVX-512 kernel runs (F, and
 * PREFETCHW, which every AVX-512 CPU has), so the kernel never meets an
 * instruction the CPU lacks; a CPU with only part of that set (Knights
 * Landing: F and CD, no BW, DQ, VL) gets the AVX2 kernel, which it runs,
 * with the same bytes (packed_gemm.h). */
lps_vector_width lps_packed_gemm_width(void)
{
    return lps_cpu_vector_width();
}

bool lps_packed_gemm_available(void)
{
    return lps_packed_gemm_width() == LPS_VECTORS_AVX512;
}

int64_t lps_packed_min_rows(void)
{
    return lps_packed_gemm_width() == LPS_VECTORS_AVX2 ? 1 : LPS_PACKED_MIN_ROWS;
}

bool lps_packed_forward_available(void)
{
    return lps_packed_gemm_width() != LPS_VECTORS_NARROW;
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
 * `cols` columns of the panel from column j0 of C (packed_tile.h). */
typedef struct tile {
    int64_t i0, rows, k, j0, cols;
    const float *a;     /* A at row i0, column k0 */
    const float *panel; /* the panel at row k0, at the tile's first column */
    const float *bias;  /* at the tile's first column, or NULL */
    float *partial;     /* the tile's sums between passes */
    bool first, last;   /* k0 == 0; k0 + k == all of k */
} tile;

/* One row of C against a run of whole panels over all of k (row_run in
 * packed_tile.h). */
typedef struct packed_row {
    int64_t r, p0, panels, n, k;
    const float *b;    /* the packed B */
    const float *bias; /* [n], or NULL */
} packed_row;

/* A tile's pass on one instruction set's kernel. */
typedef void (*tile_fn)(const tile *t, const lps_packed_a *a, const lps_packed_out *out,
                        const lps_clamp *act);

/* A one-row pass on one instruction set's kernel. */
typedef void (*row_fn)(const packed_row *w, const lps_packed_a *a, const lps_packed_out *out,
                       const lps_clamp *act);

/* One instruction set's register tile: its shape and its pass, and its
 * one-row tile's panels and pass for products of fewer than
 * LPS_PACKED_MIN_ROWS rows (PT_NAME(kernel), defined in packed_tile.h
 * from the macros of its instantiation). */
typedef struct packed_kernel {
    int64_t rows, cols;
    tile_fn run;
    int64_t row_panels;
    row_fn run_row;
} packed_kernel;

/* Where C's element (r, j) of out lies. */
static float *out_at(const lps_packed_out *out, int64_t r, int64_t j)
{
    return out->c + (r / out->group_rows) * out->group_stride +
           (r % out->group_rows) * out->row_stride + j * out->col_stride;
}

/* AVX-512: 12 rows by a whole panel (two 16-float vectors). */
#define PT_NAME(x) x##_avx512
#define PT_TARGET AVX512_PREFETCHW
#define PT_ROWS 12
/* 12 of the 32 registers: the chains hide the multiply-add's latency */
#define PT_ROW_PANELS 6
#define PT_FLOATS 16
typedef __m512 pt_vec_avx512;
typedef __m512i pt_index_avx512;
#define pt_vec pt_vec_avx512
#define pt_index pt_index_avx512
#define PT_LOAD(p) _mm512_loadu_ps(p)
#define PT_LOAD_FIRST(p, n) _mm512_maskz_loadu_ps(lps_lanes_below(n), p)
#define PT_STORE(p, v) _mm512_storeu_ps(p, v)
#define PT_STORE_FIRST(p, n, v) _mm512_mask_storeu_ps(p, lps_lanes_below(n), v)
#define PT_SET1(x) _mm512_set1_ps(x)
#define PT_ZERO() _mm512_setzero_ps()
#define PT_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define PT_CLAMP(act, v) lps_clamp_vector(act, v)
#define PT_SCATTER_INDEX(stride)                                                                   \
    _mm512_mullo_epi32(                                                                            \
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),                    \
        _mm512_set1_epi32((int)(stride)))
#define PT_SCATTER(p, n, index, v)                                                                 \
    _mm512_mask_i32scatter_ps(p, lps_lanes_below(n), index, v, sizeof(float))
#include "ops/packed_tile.h"

/* AVX2 + FMA: 6 rows by half a panel (two 8-float vectors), the packed
 * layout unchanged, so one packing serves both kernels and each tile row
 * of the panel is one cache line. AVX2 has no scatter: a scattered tile
 * row goes out through a spill of the vector. */
#define PT_NAME(x) x##_avx2
#define PT_TARGET AVX2_PREFETCHW
#define PT_ROWS 6
/* 12 accumulators, a broadcast, the panel vectors as memory operands */
#define PT_ROW_PANELS 3
#define PT_FLOATS 8
typedef __m256 pt_vec_avx2;
#define pt_vec pt_vec_avx2
#define pt_index int64_t
#define PT_LOAD(p) _mm256_loadu_ps(p)
#define PT_LOAD_FIRST(p, n) _mm256_maskload_ps(p, lps_lanes_below_avx2(n))
#define PT_STORE(p, v) _mm256_storeu_ps(p, v)
#define PT_STORE_FIRST(p, n, v) _mm256_maskstore_ps(p, lps_lanes_below_avx2(n), v)
#define PT_SET1(x) _mm256_set1_ps(x)
#define PT_ZERO() _mm256_setzero_ps()
#define PT_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define PT_CLAMP(act, v) lps_clamp_vector_avx2(act, v)
#define PT_SCATTER_INDEX(stride) (stride)
#define PT_SCATTER(p, n, index, v) scatter_avx2(p, n, index, v)

/* The first n (<= 8) lanes of v to p, p + stride, ... */
static ALWAYS_INLINE AVX2_PREFETCHW void scatter_avx2(float *p, int64_t n, int64_t stride, __m256 v)
{
    float lanes[PT_FLOATS];
    _mm256_storeu_ps(lanes, v);
    for (int64_t l = 0; l < n && l < PT_FLOATS; l++)
        p[l * stride] = lanes[l];
}
#include "ops/packed_tile.h"

/* One lps_packed_gemm call, its rows cut into chunks of whole tiles. */
typedef struct packed_job {
    int64_t m, n, k, tiles, panels;
    bool by_panels; /* chunks cut the panels (all row tiles each), not the tiles */
    lps_packed_a a;
    const float *b, *bias;
    lps_packed_out out;
    lps_clamp act;
    const packed_kernel *kernel;
} packed_job;

/* Row tile r of C against panels [p0, p1), k in passes of K_BLOCK;
 * partial holds (p1 - p0) panels' tiles' sums between passes. */
static void packed_row_tile(const packed_job *j, int64_t r, int64_t p0, int64_t p1, float *partial)
{
    const packed_kernel *kn = j->kernel;
    int64_t i0 = r * kn->rows;
    for (int64_t k0 = 0; k0 < j->k || k0 == 0; k0 += K_BLOCK) {
        int64_t kc = j->k - k0 < K_BLOCK ? j->k - k0 : K_BLOCK;
        for (int64_t p = p0; p < p1; p++)
            for (int64_t c0 = 0; c0 < LPS_PACKED_NR && p * LPS_PACKED_NR + c0 < j->n;
                 c0 += kn->cols) {
                int64_t j0 = p * LPS_PACKED_NR + c0;
                tile t = {.i0 = i0,
                          .rows = j->m - i0 < kn->rows ? j->m - i0 : kn->rows,
                          .k = kc,
                          .j0 = j0,
                          .cols = j->n - j0 < kn->cols ? j->n - j0 : kn->cols,
                          .a = j->a.a + i0 * j->a.row_stride + k0 * j->a.k_stride,
                          .panel = j->b + (p * j->k + k0) * LPS_PACKED_NR + c0,
                          .bias = j->bias ? j->bias + j0 : NULL,
                          .partial = partial + ((p - p0) * LPS_PACKED_NR + c0) * kn->rows,
                          .first = k0 == 0,
                          .last = k0 + kc >= j->k};
                kn->run(&t, &j->a, &j->out, &j->act);
            }
    }
}

/* Chunk `chunk`'s row tiles, GROUP_PANELS panels at a time. */
static void packed_chunk(void *arg, int chunk, int n_chunks)
{
    const packed_job *j = arg;
    float partial[GROUP_PANELS * TILE_ROWS_MAX * LPS_PACKED_NR];
    int64_t first = 0, end = j->tiles, p_first = 0, p_end = j->panels;
    if (j->by_panels)
        lps_par_range(j->panels, chunk, n_chunks, &p_first, &p_end);
    else
        lps_par_range(j->tiles, chunk, n_chunks, &first, &end);
    if (j->m < LPS_PACKED_MIN_ROWS) {
        const packed_kernel *kn = j->kernel;
        for (int64_t r = 0; r < j->m; r++)
            for (int64_t p0 = p_first; p0 < p_end; p0 += kn->row_panels) {
                packed_row w = {r, p0, p_end - p0 < kn->row_panels ? p_end - p0 : kn->row_panels,
                                j->n, j->k, j->b, j->bias};
                kn->run_row(&w, &j->a, &j->out, &j->act);
            }
        return;
    }
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
    lps_packed_gemm_on(lps_packed_gemm_width(), m, n, k, a, packed_b, bias, out, act);
}

void lps_packed_gemm_on(lps_vector_width width, int64_t m, int64_t n, int64_t k, lps_packed_a a,
                        const float *packed_b, const float *bias, lps_packed_out out,
                        lps_clamp act)
{
    if (m <= 0 || n <= 0)
        return;
    const packed_kernel *kn = width == LPS_VECTORS_AVX512 ? &kernel_avx512 : &kernel_avx2;
    packed_job job = {.m = m,
                      .n = n,
                      .k = k,
                      .tiles = (m + kn->rows - 1) / kn->rows,
                      .panels = panels_of(n),
                      .a = a,
                      .b = packed_b,
                      .bias = bias,
                      .out = out,
                      .act = act,
                      .kernel = kn};
    /* the longer of the two cuts: 32 rows of A are 3 tiles (24 rows
     * against 8 on two threads), a 300-column B 10 panels */
    job.by_panels = job.panels > job.tiles || m < LPS_PACKED_MIN_ROWS;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    lps_par_for(lps_par_chunks(job.by_panels ? job.panels : job.tiles, flops), packed_chunk, &job);
}
