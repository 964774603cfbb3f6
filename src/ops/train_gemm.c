/* Training products on the packed kernel (contract in train_gemm.h). */
#include "ops/train_gemm.h"

/* Shortest m, n and k the packed kernel beats OpenBLAS's Haswell kernel
 * at, measured on the residual CNN's and ResNet-18's conv shapes: at 32
 * it ran 1.0-1.9x OpenBLAS's rate, at 9 (a one-channel 3x3 stem) 0.5-0.7x. */
#define TRAIN_GEMM_MIN_DIM 32
/* Shortest k for a scattered C: a tile's stores are then 32 scatters, a
 * share of about 32 / k of its time (the forward's 32-row sums ran at
 * 0.9x OpenBLAS's rate, its 288-row sums at 1.8x). */
#define TRAIN_GEMM_SCATTER_MIN_K 144
/* Against OpenBLAS's AVX-512 (SkylakeX) kernel, one thread, packing and
 * the add counted, on an Intel Emerald Rapids: the packed kernel ran the
 * bundled CNN's scattered dW^T (n = 32 and 64 output channels) at
 * 0.86-1.5x OpenBLAS's rate (above 1 in 6 of 8 timings), ResNet-18's
 * (n = 128) at 0.75-0.92x, and the products by rows (R = T * X^T of
 * conv_grad_flip.c, n = 64 to 256) at 0.74-0.86x. So with that kernel
 * only the scattered products up to this many columns stay. */
#define TRAIN_GEMM_AVX512_BLAS_MAX_SCATTERED_N 64

/* Against OpenBLAS's SkylakeX kernel, one thread, the packing of B once
 * per call and BLAS's scatter into NCHW counted, five runs
 * (docs/benchmarks.md, "Training throughput, tenth round"): the forward
 * over k = 9 and 32 (the residual CNN's stem and 1x1 shortcut) ran at
 * 0.2x and 0.6x its rate, over 64 to 256 (1x1 shortcuts) at 1.1-2.9x;
 * dcol = W^T * dY at 0.4-1.0x (1.0-1.1x only at ResNet-18's last
 * stage); the forward and the flip path's dX with B past
 * LPS_PACKED_FAST_BYTES (ResNet-18's 2304 x 256 third stage) at
 * 0.65-1.0x, except over fewer rows of C than
 * TRAIN_GEMM_AVX512_BLAS_NARROW_M (its last stage at 32x32, 32 images of
 * one position: 1.15-1.55x); the other 3x3 products at 0.75-1.3x. */
#define TRAIN_GEMM_AVX512_BLAS_MIN_K 64
#define TRAIN_GEMM_AVX512_BLAS_NARROW_M 64

/* Contract in train_gemm.h. */
bool lps_train_gemm_packs(lps_train_product product, int64_t m, int64_t n, int64_t k)
{
    if (!lps_packed_blas_avx512())
        return true;
    if (product == LPS_TRAIN_DCOL || k < TRAIN_GEMM_AVX512_BLAS_MIN_K)
        return false;
    return lps_packed_b_floats(k, n) * sizeof(float) <= LPS_PACKED_FAST_BYTES ||
           m < TRAIN_GEMM_AVX512_BLAS_NARROW_M;
}

/* Contract in train_gemm.h. */
bool lps_train_gemm_fits(int64_t m, int64_t n, int64_t k, bool scattered)
{
    if (lps_packed_blas_avx512() && (!scattered || n > TRAIN_GEMM_AVX512_BLAS_MAX_SCATTERED_N))
        return false;
    return m >= TRAIN_GEMM_MIN_DIM && n >= TRAIN_GEMM_MIN_DIM && k >= TRAIN_GEMM_MIN_DIM &&
           (!scattered || k >= TRAIN_GEMM_SCATTER_MIN_K) &&
           lps_packed_b_floats(k, n) * sizeof(float) <= LPS_PACKED_FAST_BYTES &&
           lps_packed_gemm_available();
}

/* Where element (i, j) of C lies in `out` (packed_gemm.h). */
static inline float *out_at(const lps_packed_out *out, int64_t i, int64_t j)
{
    return out->c + (i / out->group_rows) * out->group_stride +
           (i % out->group_rows) * out->row_stride + j * out->col_stride;
}

/* C += tmp: tmp row-major [m, n] when C's columns are contiguous, else
 * column-major, so that the add walks both along C's unit stride. */
static void add_product(int64_t m, int64_t n, const lps_packed_out *out, const float *tmp)
{
    if (out->col_stride == 1) {
        for (int64_t i = 0; i < m; i++) {
            float *c = out_at(out, i, 0);
            const float *t = tmp + i * n;
            for (int64_t j = 0; j < n; j++)
                c[j] += t[j];
        }
        return;
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i0 = 0; i0 < m; i0 += out->group_rows) {
            int64_t run = m - i0 < out->group_rows ? m - i0 : out->group_rows;
            float *c = out_at(out, i0, j);
            const float *t = tmp + j * m + i0;
            for (int64_t i = 0; i < run; i++)
                c[i * out->row_stride] += t[i];
        }
}

/* Contract in train_gemm.h. */
void lps_train_gemm(int64_t m, int64_t n, int64_t k, lps_packed_a a, const float *packed_b,
                    lps_packed_out out, bool accumulate, float *tmp)
{
    if (!accumulate) {
        lps_packed_gemm(m, n, k, a, packed_b, NULL, out);
        return;
    }
    lps_packed_out scratch = out.col_stride == 1 ? (lps_packed_out){tmp, m, 0, n, 1}
                                                 : (lps_packed_out){tmp, m, 0, 1, m};
    lps_packed_gemm(m, n, k, a, packed_b, NULL, scratch);
    add_product(m, n, &out, tmp);
}
