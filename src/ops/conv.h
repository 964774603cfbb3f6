/* Conv's GEMM blocking (shared with bench/bench_train.c, which times the
 * same GEMMs alone) and its channels-last 2-D depthwise kernel
 * (conv_depthwise.c). */
#ifndef LPS_OPS_CONV_H
#define LPS_OPS_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/spatial.h"

/* Images per GEMM of a convolution: a block of images sits side by side in
 * one [matrix rows, images * out_size] matrix, enough of them for about
 * LPS_CONV_GEMM_COLS columns (one image's matrices are small when the output
 * plane is, and OpenBLAS then spends its time packing W; more of them push
 * the im2col matrix out of L2 before the GEMM packs it), with the block's
 * workspace (col_rows + out_rows) * images * out_size floats kept under
 * LPS_CONV_WORKSPACE_FLOATS. col_rows = in_channels * kernel_size,
 * out_rows = out_channels. Depends on the shapes only, so results do not
 * change with the thread count. Returns 1..batch (1 when batch < 1). */
int64_t lps_conv_block_images(int64_t batch, int64_t out_size, int64_t col_rows,
                              int64_t out_rows);

#define LPS_CONV_GEMM_COLS 256
#define LPS_CONV_WORKSPACE_FLOATS ((size_t)16 << 20)

/* Floats of workspace lps_depthwise_forward/_backward need for a 2-D
 * geometry g (g->n == 2) and channels channels, for any batch. */
size_t lps_depthwise_workspace(const lps_spatial_geom *g, int64_t channels);

/* Y [batch, channels, out] = depthwise conv of X [batch, channels, in] with
 * W [channels, 1, kh, kw] and the optional bias b (NULL: none); every
 * element of y is written. ws holds lps_depthwise_workspace floats. */
void lps_depthwise_forward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                           const float *x, const float *w, const float *b, float *y, float *ws);

/* Accumulates dX (when dx is non-NULL) and dW (when dw is non-NULL) of
 * lps_depthwise_forward from dY; ws as above. */
void lps_depthwise_backward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                            const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *ws);

#endif
