/* The GEMM path of Conv (conv.c) in blocks of images side by side: the
 * workspace a pass gets (lps_conv_block_init), each chunk's view of it,
 * and the copies between a block's matrices and the tensors. Internal to
 * src/ops. */
#ifndef LPS_OPS_CONV_BLOCK_H
#define LPS_OPS_CONV_BLOCK_H

#include "core/par.h"
#include "ops/conv.h"
#include "ops/op.h"

/* A block of images and the workspace it uses: col [group * rows, ld]
 * (im2col of every channel, or dcol), tmp [out_ch, ld] (Y or dY in the
 * same column layout). ld = images * O. The batch is cut into `chunks`
 * runs of consecutive images (lps_conv_split_batch) run on threads of
 * their own (src/core/par.h), each with its own col and tmp chunk_floats
 * further on (lps_conv_block_of_chunk). */
typedef struct lps_conv_block {
    int64_t images, ld;
    int chunks;
    size_t chunk_floats;
    float *col, *tmp;
    /* W as the GEMMs read it, [out_ch, rows]: W itself, or its live taps
     * (cd->cropped); dw_live is where dW's GEMMs accumulate: dW itself, or
     * a zeroed [out_ch, rows] that lps_conv_block_finish_dw adds back. Chunk c
     * accumulates dW and dB at lps_par_sum_at(&dw_sum / &db_sum, c), chunk
     * 0 into dw_live and dB themselves. */
    const float *w_live;
    float *dw_live;
    lps_par_sum dw_sum, db_sum;
    /* Products on the packed kernel (train_gemm.h), for a W that changes
     * between calls: the forward's W^T packed once per call (w_packed,
     * NULL: not packed); per chunk, the backward's packed dY (pack) and the
     * dW product before it is added (pack_tmp), with pack_dw and pack_dx
     * saying which backward products take that path. */
    const float *w_packed;
    float *pack, *pack_tmp;
    bool pack_dw, pack_dx;
} lps_conv_block;

/* What lps_conv_block_init gets the workspace for: a forward on BLAS (or on
 * W packed per call when that fits), a forward on W packed once per plan
 * (lps_conv_packed_weights), or a backward. */
typedef enum lps_conv_pass {
    LPS_CONV_PASS_FORWARD,
    LPS_CONV_PASS_FORWARD_CACHED,
    LPS_CONV_PASS_BACKWARD
} lps_conv_pass;

/* W's live taps [out_ch, rows] for a forward of a cropped kernel. While W
 * is a constant of the plan they are gathered once per crop (the crop
 * depends on the input's spatial dims) into op->cache (docs/architecture.md,
 * "Constant-input caches"); else into scratch. NULL, err set naming the
 * node, when out of memory. */
const float *lps_conv_live_weights(lps_op_node *op, const lps_conv_dims *cd, const float *w,
                                   float *scratch, lps_error *err);

/* Cuts the batch (lps_conv_split_batch, for `flops` of GEMMs) and gets the
 * workspace: every chunk's block matrices (and packed operands), for a
 * cropped kernel W's live taps (cached for a constant W in a forward,
 * lps_conv_live_weights; none when the forward is packed,
 * lps_conv_packed_weights) and (dw non-NULL) their zeroed gradient, the
 * chunks' partial dW and dB (db non-NULL), and W^T packed for a forward
 * that packs it. cd->out_ch > 0. LPS_ERR_NOMEM naming the node on
 * allocation failure. */
lps_status lps_conv_block_init(lps_op_node *op, lps_exec_ctx *ctx, const lps_conv_dims *cd,
                               const float *w, float *dw, float *db, double flops,
                               lps_conv_pass pass, lps_conv_block *blk, lps_error *err);

/* Chunk c's view of blk: its own col, tmp and packed operands. */
lps_conv_block lps_conv_block_of_chunk(const lps_conv_block *blk, int c);

/* Adds the live taps' gradient back onto dW when the kernel was cropped. */
void lps_conv_block_finish_dw(const lps_conv_dims *cd, const lps_conv_block *blk, float *dw);

/* The im2col matrix of images [n0, n0 + count) of x into blk->col, or x
 * itself when one pointwise image needs no copy. */
const float *lps_conv_block_col(const lps_conv_dims *cd, const lps_conv_block *blk,
                                const float *x, int64_t n0, int64_t count);

/* y[n0 + i, m, :] = f(src[m, i * O ...] + b[m]) for the block's images, f
 * op's fused activation or none, src [out_ch, ld]; src may be y itself (a
 * one-image block), then the bias and f are applied in place. */
void lps_conv_block_scatter(const lps_op_node *op, const lps_conv_dims *cd, const float *src,
                            int64_t ld, const float *b, float *y, int64_t n0, int64_t count);

/* The transpose of lps_conv_block_scatter without bias: the gradient at
 * the conv's own output for the block's images as [out_ch, ld] in
 * blk->tmp (taken back through the fused activation, y being its output),
 * or dy itself for a one-image block without one. */
const float *lps_conv_block_gather(const lps_op_node *op, const lps_conv_dims *cd,
                                   const lps_conv_block *blk, const float *y, const float *dy,
                                   int64_t n0, int64_t count);

#endif
