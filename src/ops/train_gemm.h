/* Training products on the packed AVX-512 kernel (docs/architecture.md,
 * "Packed training products"). A convolution's training GEMMs multiply
 * matrices that change every step (W, dY, X), so nothing can be packed
 * once per plan; here the smaller operand is packed per call into the
 * caller's workspace and the larger one is read where it lies. Where
 * OpenBLAS 0.3.21 runs its Haswell (AVX2) kernel on an AVX-512 CPU (AMD
 * Zen 5) the packed kernel ran the residual CNN's conv shapes at 1.7-2x
 * its rate, packing included (docs/benchmarks.md, "Training throughput,
 * eighth round"); against its SkylakeX (AVX-512) kernel each product
 * goes to the side that ran it faster (lps_train_gemm_fits,
 * lps_train_gemm_packs). */
#ifndef LPS_OPS_TRAIN_GEMM_H
#define LPS_OPS_TRAIN_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/packed_gemm.h"

/* Whether C [m, n] = A [m, k] * B [k, n] with B packed per call is worth
 * the packed kernel: it is available, B packed stays in L2
 * (LPS_PACKED_FAST_BYTES), and no dimension is so short that the tiles
 * idle; `scattered` when C's columns are not contiguous (its stores are
 * then scatters, worth it only over a long k). When OpenBLAS runs an
 * AVX-512 kernel (lps_packed_blas_avx512) only a scattered product over
 * few columns is (docs/benchmarks.md, "Training throughput, ninth
 * round"). */
bool lps_train_gemm_fits(int64_t m, int64_t n, int64_t k, bool scattered);

/* A convolution's per-call products besides dW (conv_block.c,
 * conv_grad_flip.c): the forward Y^T = col^T * W^T, the general path's
 * dcol = W^T * dY and the flip path's dX^T = T^T * Wf^T. */
typedef enum lps_train_product {
    LPS_TRAIN_FORWARD,
    LPS_TRAIN_DCOL,
    LPS_TRAIN_FLIP_DX
} lps_train_product;

/* Whether `product`, C [m, n] = A [m, k] * B [k, n] with B packed per
 * call, runs on the packed kernel (callers check
 * lps_packed_gemm_available): at every size where OpenBLAS runs a kernel
 * without AVX-512, else only where the packed kernel kept up with
 * OpenBLAS's SkylakeX kernel at the residual CNN's and ResNet-18's shapes
 * (docs/benchmarks.md, "Training throughput, tenth round"). On BLAS a
 * product's bytes may depend on the block's width, and so on the thread
 * count (docs/architecture.md, "Packed training products"). */
bool lps_train_gemm_packs(lps_train_product product, int64_t m, int64_t n, int64_t k);

/* C (+)= A [m, k] * B [k, n], B already packed (lps_packed_b_pack), C
 * written through the stride map `out`. accumulate adds the product onto
 * C through tmp (m * n floats, scratch), else C is overwritten and tmp
 * unused (may be NULL). The sum of each product element is the packed
 * kernel's, in k order, so results depend on the shapes only; one piece
 * inside a parallel region (lps_packed_gemm). */
void lps_train_gemm(int64_t m, int64_t n, int64_t k, lps_packed_a a, const float *packed_b,
                    lps_packed_out out, bool accumulate, float *tmp);

#endif
