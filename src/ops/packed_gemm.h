/* Products against a constant matrix packed once (docs/architecture.md,
 * "Packed weights"): C = A * B + bias with B (a layer's weights) laid out
 * in column panels when the plan is compiled's first forward, kept in the
 * node's cache, and A (activations, an im2col matrix) read where it is,
 * with any row and column strides. OpenBLAS repacks both operands on every
 * call (14% of a LeNet-300-100 forward at batch 128 was packing the
 * constant 784x300 weight); this kernel (AVX-512, or AVX2 and FMA)
 * packs neither per call,
 * adds the bias in its accumulators' initial value and writes C through a
 * stride map, so a convolution's NCHW output needs no scatter pass. */
#ifndef LPS_OPS_PACKED_GEMM_H
#define LPS_OPS_PACKED_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/runtime_env.h"
#include "ops/clamp.h"

/* Columns of B per packed panel: two 16-float AVX-512 vectors, or two
 * tiles of two 8-float AVX2 ones. */
#define LPS_PACKED_NR 32

/* Fewest rows of C the kernel's row tiles take: with fewer, a tile's few
 * accumulator chains would wait on the multiply-add latency (a 1-row
 * product ran at 0.7x OpenBLAS's matrix-vector rate), so the kernel takes
 * each row across several panels instead. */
#define LPS_PACKED_MIN_ROWS 4

/* Fewest rows of C worth the packed path on this CPU: 1 with the AVX2
 * kernel (its one-row tile against OpenBLAS's sgemm, which packs B on
 * every call, docs/benchmarks.md, "Eleventh round"), LPS_PACKED_MIN_ROWS
 * with the AVX-512 one (its one-row tile unmeasured there). */
int64_t lps_packed_min_rows(void);

/* Largest packed B the kernel keeps up with OpenBLAS's AVX-512 kernel on
 * when C is scattered (a convolution's NCHW output): its panel groups
 * (about 1 MiB) stay in L2 while the row tiles pass; a 2304x256 conv
 * weight (2.4 MiB) ran at 0.6-0.8x OpenBLAS's rate
 * (lps_packed_gemm_large_fast says where larger ones still pay). */
#define LPS_PACKED_FAST_BYTES ((size_t)1 << 20)

/* A row stride for an A the caller lays out itself (an im2col matrix read
 * down its columns) at least ld floats: ld, or one cache line more when ld
 * is a multiple of 1 KiB, whose rows would share a few L1 sets (the
 * kernel's strip of A then missed L1 on every step; 0.6x -> 0.8x on a
 * 2304-row conv). */
int64_t lps_packed_a_stride(int64_t ld);

/* The vectors lps_packed_gemm's kernel uses on this CPU: its
 * lps_cpu_vector_width (LPS_VECTORS_NARROW: no kernel). */
lps_vector_width lps_packed_gemm_width(void);

/* Whether lps_packed_gemm runs its AVX-512 kernel on this CPU: the
 * training products (train_gemm.h) route to it only then, their thresholds
 * having been measured against that kernel; they keep their BLAS path
 * otherwise. */
bool lps_packed_gemm_available(void);

/* Whether lps_packed_gemm runs on this CPU at all (either kernel): the
 * inference products (Gemm, Conv with constant weights) route to it then
 * and keep their BLAS path otherwise. */
bool lps_packed_forward_available(void);

/* Whether the kernel beats OpenBLAS on a packed B larger than
 * LPS_PACKED_FAST_BYTES (docs/benchmarks.md, "Eighth round"): always for
 * a C written by rows (scattered false: 1.0-1.2x OpenBLAS's AVX-512
 * kernel on 2304-4608 x 512 weights), and for a scattered C only when
 * OpenBLAS runs a kernel without AVX-512 (openblas_get_corename; 0.3.21
 * runs its Haswell kernel on AMD Zen 5, which the kernel beats by 1.25x
 * scattered and 1.7-2.0x by rows). */
bool lps_packed_gemm_large_fast(bool scattered);

/* Whether OpenBLAS runs an AVX-512 sgemm kernel on this CPU (its core
 * name, openblas_get_corename, is one of them). */
bool lps_packed_blas_avx512(void);

/* Floats a packed [k, n] B takes: n rounded up to whole panels. */
size_t lps_packed_b_floats(int64_t k, int64_t n);

/* packed = scale * op(B) as [k, n] panels of LPS_PACKED_NR columns, each
 * panel k rows of LPS_PACKED_NR floats, zero past column n. B is stored
 * [k, n] with row stride ldb, or [n, k] when trans. packed holds
 * lps_packed_b_floats(k, n) floats. */
void lps_packed_b_pack(const float *b, int64_t ldb, bool trans, int64_t k, int64_t n, float scale,
                       float *packed);

/* A [m, k] where it lies: element (i, p) at a[i * row_stride + p * k_stride]. */
typedef struct lps_packed_a {
    const float *a;
    int64_t row_stride, k_stride;
} lps_packed_a;

/* Where C's element (i, j) is written: c + (i / group_rows) * group_stride
 * + (i % group_rows) * row_stride + j * col_stride. A row-major C is
 * {c, m, 0, ldc, 1}; a convolution's NCHW output from a block of images
 * side by side (rows = positions, columns = channels) is {y, O, C * O, 1,
 * O}. col_stride * LPS_PACKED_NR must fit an int32 (a vector scatter's
 * index). */
typedef struct lps_packed_out {
    float *c;
    int64_t group_rows, group_stride, row_stride, col_stride;
} lps_packed_out;

/* C [m, n] = A [m, k] * B + bias (bias [n], NULL: none), B packed by
 * lps_packed_b_pack. Every C element is one sum in k order started at its
 * bias, whatever the thread count: whole 12-row tiles, or whole panels
 * when there are more of those, are cut into lps_par_chunks pieces over
 * the ops' threads (one piece inside a parallel region), so results are
 * the same bytes at any thread count, and on either kernel (each is one
 * chain of fused multiply-adds). Needs lps_packed_forward_available();
 * m, n, k >= 0. */
void lps_packed_gemm(int64_t m, int64_t n, int64_t k, lps_packed_a a, const float *packed_b,
                     const float *bias, lps_packed_out out);

/* lps_packed_gemm with each C element through act (clamp.h) in the
 * registers before its store: a producer's fused Relu or Clip with no
 * pass of its own over C. */
void lps_packed_gemm_clamped(int64_t m, int64_t n, int64_t k, lps_packed_a a,
                             const float *packed_b, const float *bias, lps_packed_out out,
                             lps_clamp act);

/* lps_packed_gemm_clamped on the kernel of `width` (LPS_VECTORS_AVX2 or
 * LPS_VECTORS_AVX512, at most lps_packed_gemm_width()), whatever the
 * widest one: the tests run each kernel the CPU has. */
void lps_packed_gemm_on(lps_vector_width width, int64_t m, int64_t n, int64_t k, lps_packed_a a,
                        const float *packed_b, const float *bias, lps_packed_out out,
                        lps_clamp act);

#endif
