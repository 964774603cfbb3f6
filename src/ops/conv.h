/* Conv's GEMM blocking (shared with bench/bench_train.c, which times the
 * same GEMMs alone) and its channels-last 2-D depthwise kernel
 * (conv_depthwise.c). */
#ifndef LPS_OPS_CONV_H
#define LPS_OPS_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"
#include "ops/packed_gemm.h"
#include "ops/spatial.h"

/* Everything a convolution's forward and backward derive from the input
 * shapes (conv.c, conv_dims_of). */
typedef struct lps_conv_dims {
    int64_t batch, in_ch, out_ch;
    int64_t in_per_group, out_per_group;
    int64_t rows; /* in_per_group * live.kernel_size: the im2col row count */
    bool pointwise;
    lps_spatial_geom g;
    /* The GEMM path's geometry: g with its kernel cropped to the taps that
     * read input (lps_spatial_crop_dead_taps); when cropped, W's kept taps
     * start at live_first and are gathered into a [M, rows] copy. */
    lps_spatial_geom live;
    int64_t live_first[LPS_SPATIAL_MAX];
    bool cropped;
} lps_conv_dims;

/* Appends cd's crop (per spatial dim the first live tap and the live
 * kernel size: what a cache of W's cropped taps depends on) to key at
 * n_key, which has room for 2 * LPS_SPATIAL_MAX more. Returns the new
 * length. */
size_t lps_conv_crop_key(const lps_conv_dims *cd, int64_t *key, size_t n_key);

/* *packed = W^T [rows, out_ch] (W's live taps when cd->cropped) packed for
 * lps_packed_gemm, made once into op->cache and found there on later
 * forwards (conv_packed.c), when the packed path applies: group 1, W a
 * constant of the plan, packed within LPS_PACKED_FAST_BYTES (any size where
 * lps_packed_gemm_large_fast says the kernel still beats OpenBLAS), at least
 * LPS_PACKED_MIN_ROWS output positions over the batch, an AVX-512 CPU,
 * and, unless the output is written by rows (rows_out: channels-last or
 * one position per image), sums long enough to hide the NCHW scatter;
 * else *packed = NULL and LPS_OK (the BLAS path runs). LPS_ERR_NOMEM
 * naming the node when out of memory. */
lps_status lps_conv_packed_weights(lps_op_node *op, const lps_conv_dims *cd, int64_t group,
                                   bool rows_out, const float *w, const float **packed,
                                   lps_error *err);

/* Y of images [n0, n0 + count) = f(A * W^T + b) in Y's layout (NCHW, or
 * channels-last when y_last), A [count * O, rows] the block's im2col
 * matrix transposed (or a channels-last X) as laid out in a, f op's fused
 * activation; packed from lps_conv_packed_weights, b NULL for none. */
void lps_conv_packed_forward(const lps_op_node *op, const lps_conv_dims *cd, const float *packed,
                             lps_packed_a a, int64_t n0, int64_t count, const float *b, float *y,
                             bool y_last);

/* Whether lps_conv_direct_forward takes op's forward (conv_direct.c): a
 * 2-D group-1 convolution of stride and dilation 1 with NCHW X and Y, an
 * uncropped kernel, at most 32 im2col rows, W a constant of the plan (an
 * inference plan; training keeps the GEMM path's bytes) and an AVX-512
 * CPU. */
bool lps_conv_direct_fits(const lps_op_node *op, const lps_conv_dims *cd, int64_t group);

/* Y = f(conv(X, W) + b) computed directly from each zero-padded image
 * (lps_conv_direct_fits(op, cd, 1) must hold), f op's fused activation, b
 * NULL for none; images run in chunks on the ops' threads, each its own,
 * so results do not depend on the thread count. LPS_ERR_NOMEM naming the
 * node when the workspace cannot grow. */
lps_status lps_conv_direct_forward(const lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_conv_dims *cd, const float *x, const float *w,
                                   const float *b, float *y, lps_error *err);

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

/* Walks `kernels` kernels of W in full geometry g (full, kernel_size
 * floats each) and their live copies (live, live->kernel_size floats each,
 * the taps from live_first of each dim on) in step: to_live copies the
 * live taps out of full, else adds live onto them (dW's add-back). The
 * kernels are cut over the threads (lps_par_elements): a 512-channel 3x3
 * layer at 1x1 has 262,144 of them, gathered and added back every
 * training step (docs/architecture.md, "Threads"). */
void lps_conv_live_taps(const lps_spatial_geom *g, const lps_spatial_geom *live,
                        const int64_t *live_first, int64_t kernels, float *full, float *live_w,
                        bool to_live);

#define LPS_CONV_GEMM_COLS 256
#define LPS_CONV_WORKSPACE_FLOATS ((size_t)16 << 20)

/* How a convolution's batch runs on threads: `chunks` runs of consecutive
 * images (lps_par_chunks over the batch for `flops` of GEMMs, ranges from
 * lps_par_range), each in blocks of `images` (lps_conv_block_images of the
 * largest chunk). One chunk, as with one thread, blocks as before. */
typedef struct lps_conv_split {
    int chunks;
    int64_t images;
} lps_conv_split;

lps_conv_split lps_conv_split_batch(int64_t batch, double flops, int64_t out_size,
                                    int64_t col_rows, int64_t out_rows);

/* Floats of workspace lps_depthwise_forward/_backward need for a 2-D
 * geometry g (g->n == 2) and channels channels, for any batch, at
 * OpenMP's current thread count. */
size_t lps_depthwise_workspace(const lps_spatial_geom *g, int64_t channels);

/* Y [batch, channels, out] = depthwise conv of X [batch, channels, in] with
 * W [channels, 1, kh, kw] and the optional bias b (NULL: none), then op's
 * fused activation (op NULL: none); every element of y is written. w_taps
 * is W as the kernel reads it, [taps, channels] (lps_depthwise_taps), or
 * NULL to lay W out so in ws. ws holds lps_depthwise_workspace floats.
 * Runs on OpenMP's threads; results do not depend on their count. */
void lps_depthwise_forward(const lps_op_node *op, const lps_spatial_geom *g, int64_t batch,
                           int64_t channels, const float *x, const float *w, const float *w_taps,
                           const float *b, float *y, float *ws);

/* *w_taps = a constant W (lps_op_input_const) laid out [taps, channels]
 * for lps_depthwise_forward, made once into op's cache (an inference
 * plan's weights are read from memory again for every forward otherwise:
 * 4.3% of a batch-1 MobileNetV2 forward); NULL for a W that is not
 * constant. Fails with LPS_ERR_NOMEM (naming the node) when the cache
 * cannot be made. */
lps_status lps_depthwise_taps(lps_op_node *op, const lps_spatial_geom *g, int64_t channels,
                              const float *w, const float **w_taps, lps_error *err);

/* Accumulates dX (when dx is non-NULL) and dW (when dw is non-NULL) of
 * lps_depthwise_forward from dY (the gradient at the convolution's own
 * output); ws as above, threads as above. */
void lps_depthwise_backward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                            const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *ws);

/* Y [batch, out_ch, out] = depthwise conv of X [batch, in_ch, in] (one
 * input channel per group, out_ch a multiple of in_ch: output channel m
 * reads input channel m / (out_ch / in_ch)) with W [out_ch, 1, kernel...]
 * and the optional bias b, over any spatial rank, plane by plane
 * (conv_sweep.c); single-threaded. */
void lps_depthwise_sweep_forward(const lps_spatial_geom *g, int64_t batch, int64_t in_ch,
                                 int64_t out_ch, const float *x, const float *w, const float *b,
                                 float *y);

/* Accumulates dX (dx non-NULL) and dW (dw non-NULL) of
 * lps_depthwise_sweep_forward from dY. */
void lps_depthwise_sweep_backward(const lps_spatial_geom *g, int64_t batch, int64_t in_ch,
                                  int64_t out_ch, const float *x, const float *w,
                                  const float *dy, float *dx, float *dw);

/* What a convolution's backward reads and accumulates (group 1): the
 * geometry, X [batch, in_ch, in], W [out_ch, in_ch, kernel], the output Y
 * (the fused activation's when there is one) and its gradient dY, and dX,
 * dW, dB, each NULL when not wanted. */
typedef struct lps_conv_backward_args {
    const lps_spatial_geom *g;
    int64_t batch, in_ch, out_ch;
    const float *x, *w, *y, *dy;
    float *dx, *dw, *db;
    bool dx_fresh; /* dx holds stale bytes to overwrite, not add to (din_fresh) */
} lps_conv_backward_args;

/* Whether lps_conv_backward_flip takes a group-1 convolution of geometry g
 * (unit strides, pads within the dilated kernel, not pointwise, out_ch <=
 * in_ch, matrices within BLAS's int sizes). */
bool lps_conv_flip_applies(const lps_spatial_geom *g, int64_t in_ch, int64_t out_ch);

/* Accumulates dX (or writes it whole, a->dx_fresh), dW and dB of a
 * convolution lps_conv_flip_applies takes from one im2col of dY
 * (conv_grad_flip.c), op's fused activation taken back first. LPS_ERR_NOMEM naming the node when the workspace cannot
 * grow. */
lps_status lps_conv_backward_flip(const lps_op_node *op, lps_exec_ctx *ctx,
                                  const lps_conv_backward_args *a, lps_error *err);

/* db[m] += sum of dy's row m over out_size positions, for count images
 * side by side in rows ld floats apart, image by image; a row is summed
 * in double, in 8 interleaved partial sums added in a fixed order. */
void lps_conv_bias_grad(const float *dy, int64_t out_ch, int64_t out_size, int64_t ld,
                        int64_t count, float *db);

#endif
