/* The GEMM path's blocks of images and their workspace (contracts in
 * conv_block.h): im2col of a block, the scatter of its product into Y and
 * the gather of dY, and which products run on the packed kernel
 * (train_gemm.h). */
#include <limits.h>
#include <string.h>

#include "core/par.h"
#include "ops/conv_block.h"
#include "ops/conv_shape.h"
#include "ops/im2col.h"
#include "ops/op_util.h"
#include "ops/train_gemm.h"

/* Contract in conv.h. */
int64_t lps_conv_block_images(int64_t batch, int64_t out_size, int64_t col_rows,
                              int64_t out_rows)
{
    int64_t o = out_size > 0 ? out_size : 1;
    int64_t images = (LPS_CONV_GEMM_COLS + o - 1) / o;
    if (images > batch)
        images = batch;
    while (images > 1 &&
           (size_t)(col_rows + out_rows) * (size_t)(images * o) > LPS_CONV_WORKSPACE_FLOATS)
        images--;
    return images > 1 ? images : 1;
}

/* Contract in conv.h. */
lps_conv_split lps_conv_split_batch(int64_t batch, double flops, int64_t out_size,
                                    int64_t col_rows, int64_t out_rows)
{
    int chunks = lps_par_chunks(batch, flops);
    int64_t largest = (batch + chunks - 1) / chunks;
    return (lps_conv_split){chunks, lps_conv_block_images(largest, out_size, col_rows, out_rows)};
}


/* W's live taps out of W (to_live), or their gradient added back onto
 * dW's full kernels (lps_conv_live_taps). */
static void conv_live_taps(const lps_conv_dims *cd, float *full, float *live, bool to_live)
{
    lps_conv_live_taps(&cd->g, &cd->live, cd->live_first, cd->out_ch * cd->in_per_group, full,
                       live, to_live);
}

_Static_assert(2 * LPS_SPATIAL_MAX <= LPS_OP_CACHE_KEY_MAX, "a crop key fits an op cache key");

/* Contract in conv.h. */
size_t lps_conv_crop_key(const lps_conv_dims *cd, int64_t *key, size_t n_key)
{
    for (int d = 0; d < cd->live.n; d++) {
        key[n_key++] = cd->live_first[d];
        key[n_key++] = cd->live.kernel[d];
    }
    return n_key;
}

/* Contract in conv_block.h. */
const float *lps_conv_live_weights(lps_op_node *op, const lps_conv_dims *cd, const float *w,
                                   float *scratch, lps_error *err)
{
    if (!lps_op_input_const(op, LPS_CONV_IN_W)) {
        conv_live_taps(cd, (float *)w, scratch, true);
        return scratch;
    }
    int64_t key[LPS_OP_CACHE_KEY_MAX];
    size_t n_key = lps_conv_crop_key(cd, key, 0);
    const float *cached = lps_op_cache_find(op, key, n_key);
    if (cached)
        return cached;
    float *made = lps_op_cache_make(op, key, n_key, (size_t)cd->out_ch * (size_t)cd->rows, err);
    if (made)
        conv_live_taps(cd, (float *)w, made, true);
    return made;
}

/* Floats of workspace the packed products (lps_conv_block) take. */
typedef struct conv_pack_floats {
    size_t pack, tmp, w_packed; /* per chunk, per chunk, per call */
} conv_pack_floats;

/* Decides which of a pass's products run on the packed kernel with an
 * operand packed per call (train_gemm.h; group 1, a W that is not a
 * constant of the plan, NCHW values, else BLAS) and the floats they take
 * for blocks of `images` images: the forward (W^T [rows, M] packed) and
 * dcol [rows, cols] = W^T * dY (dY packed, W^T read in place) where
 * lps_train_gemm_packs (at every size unless OpenBLAS runs an AVX-512
 * kernel: each element of Y and dX is then one sum in k order whatever
 * the block's width, the same bytes at any thread count); dW^T [rows, M]
 * = col * dY^T (dY^T packed), a sum over the batch that the chunks split
 * anyway, only where lps_train_gemm_fits, judged on the whole batch's
 * blocks. */
static conv_pack_floats conv_block_packs(const lps_op_node *op, const lps_conv_dims *cd,
                                         int64_t group, lps_conv_pass pass, bool want_dw,
                                         int64_t images, lps_conv_block *blk)
{
    int64_t m = cd->out_ch, rows = cd->rows, cols = images * cd->g.out_size;
    int64_t whole = lps_conv_block_images(cd->batch, cd->g.out_size, group * rows, m) *
                    cd->g.out_size;
    conv_pack_floats f = {0, 0, 0};
    blk->pack_dw = blk->pack_dx = false;
    if (group != 1 || op->x_channels_last || op->y_channels_last ||
        pass == LPS_CONV_PASS_FORWARD_CACHED || lps_op_input_const(op, LPS_CONV_IN_W) ||
        cd->g.out_size > INT_MAX / LPS_PACKED_NR || !lps_packed_gemm_available())
        return f;
    if (pass == LPS_CONV_PASS_FORWARD) {
        if (lps_train_gemm_packs(LPS_TRAIN_FORWARD, cols, m, rows))
            f.w_packed = lps_packed_b_floats(rows, m);
        return f;
    }
    blk->pack_dw = want_dw && lps_train_gemm_fits(rows, m, whole, true);
    blk->pack_dx = lps_train_gemm_packs(LPS_TRAIN_DCOL, rows, cols, m);
    size_t dw_pack = blk->pack_dw ? lps_packed_b_floats(cols, m) : 0;
    size_t dx_pack = blk->pack_dx ? lps_packed_b_floats(m, cols) : 0;
    f.pack = dw_pack > dx_pack ? dw_pack : dx_pack;
    f.tmp = blk->pack_dw ? (size_t)rows * (size_t)m : 0;
    return f;
}

/* Contract in conv_block.h. */
lps_status lps_conv_block_init(lps_op_node *op, lps_exec_ctx *ctx, const lps_conv_dims *cd,
                               const float *w, float *dw, float *db, double flops,
                               lps_conv_pass pass, lps_conv_block *blk, lps_error *err)
{
    /* out_ch > 0 here (the callers return before on an empty output) */
    int64_t group = cd->out_ch / cd->out_per_group, col_rows = group * cd->rows;
    lps_conv_split split =
        lps_conv_split_batch(cd->batch, flops, cd->g.out_size, col_rows, cd->out_ch);
    conv_pack_floats pk = conv_block_packs(op, cd, group, pass, dw != NULL, split.images, blk);
    bool cached_pack = pass == LPS_CONV_PASS_FORWARD_CACHED;
    bool packed = cached_pack || pk.w_packed > 0;
    int64_t ld = split.images * cd->g.out_size;
    if (packed)
        ld = lps_packed_a_stride(ld);
    size_t block = (size_t)(col_rows + cd->out_ch) * (size_t)ld + pk.pack + pk.tmp;
    bool cached = cd->cropped && !dw && (cached_pack || lps_op_input_const(op, LPS_CONV_IN_W));
    size_t weights = (size_t)cd->out_ch * (size_t)cd->rows;
    size_t live = cd->cropped ? weights : 0;
    size_t dw_parts = dw ? lps_par_sum_floats(weights, split.chunks) : 0;
    size_t db_parts = db ? lps_par_sum_floats((size_t)cd->out_ch, split.chunks) : 0;
    size_t chunks = (size_t)split.chunks * block;
    size_t floats = chunks + (cached ? 0 : live * (dw ? 2 : 1)) + dw_parts + db_parts;
    float *ws = lps_ctx_workspace(ctx, floats + pk.w_packed > 0 ? floats + pk.w_packed : 1, err);
    if (!ws)
        return lps_error_prefix(err, "%s", op->label);
    float *parts = ws + chunks + (cached ? 0 : live * (dw ? 2 : 1));
    blk->images = split.images;
    blk->ld = ld;
    blk->chunks = split.chunks;
    blk->chunk_floats = block;
    blk->col = ws;
    blk->tmp = ws + (size_t)col_rows * (size_t)blk->ld;
    blk->pack = blk->tmp + (size_t)cd->out_ch * (size_t)ld;
    blk->pack_tmp = blk->pack + pk.pack;
    blk->w_live = w;
    blk->dw_live = dw;
    blk->w_packed = NULL;
    if (cd->cropped && dw) {
        float *w_live = ws + chunks;
        conv_live_taps(cd, (float *)w, w_live, true);
        blk->w_live = w_live;
        blk->dw_live = w_live + live;
        lps_par_zero(blk->dw_live, live);
    } else if (cd->cropped && !cached_pack &&
               !(blk->w_live = lps_conv_live_weights(op, cd, w, ws + chunks, err))) {
        return err ? err->status : LPS_ERR_NOMEM;
    }
    if (pk.w_packed > 0) { /* W's live taps when cropped */
        lps_packed_b_pack(blk->w_live, cd->rows, true, cd->rows, cd->out_ch, 1.0f, ws + floats);
        blk->w_packed = ws + floats;
    }
    blk->dw_sum = lps_par_sum_make(blk->dw_live, weights, split.chunks, parts);
    blk->db_sum = lps_par_sum_make(db, (size_t)cd->out_ch, split.chunks, parts + dw_parts);
    return LPS_OK;
}

/* Contract in conv_block.h. */
lps_conv_block lps_conv_block_of_chunk(const lps_conv_block *blk, int c)
{
    lps_conv_block mine = *blk;
    size_t at = (size_t)c * blk->chunk_floats;
    mine.col += at;
    mine.tmp += at;
    mine.pack += at;
    mine.pack_tmp += at;
    return mine;
}

/* Contract in conv_block.h. */
void lps_conv_block_finish_dw(const lps_conv_dims *cd, const lps_conv_block *blk, float *dw)
{
    if (cd->cropped && dw)
        conv_live_taps(cd, dw, blk->dw_live, false);
}

/* Contract in conv_block.h. */
const float *lps_conv_block_col(const lps_conv_dims *cd, const lps_conv_block *blk, const float *x,
                                int64_t n0, int64_t count)
{
    int64_t in_img = cd->in_ch * cd->g.in_size;
    if (cd->pointwise && blk->images == 1)
        return x + n0 * in_img;
    lps_im2col_images(x + n0 * in_img, count, cd->in_ch, &cd->live, blk->col, blk->ld);
    return blk->col;
}

/* y[n0 + i, m, :] = f(blk[m, i * O ...] + b[m]) for the block's images,
 * f the fused activation or none; blk may be y itself (a one-image block),
 * then the bias and f are applied in place. The in-place and the copying
 * add are separate loops (one loop for both would not vectorise: from and
 * to may be the same row), and f runs once over the block's rows, which
 * are contiguous in y (per row it was a call per 1 to 16 floats on small
 * planes, 8% of a MobileNetV2 forward). */
void lps_conv_block_scatter(const lps_op_node *op, const lps_conv_dims *cd, const float *src,
                            int64_t ld, const float *b, float *y, int64_t n0, int64_t count)
{
    int64_t o_size = cd->g.out_size;
    for (int64_t i = 0; i < count; i++)
        for (int64_t m = 0; m < cd->out_ch; m++) {
            const float *from = src + m * ld + i * o_size;
            float *to = y + ((n0 + i) * cd->out_ch + m) * o_size;
            float bias = b ? b[m] : 0.0f;
            if (from == to && b)
                for (int64_t o = 0; o < o_size; o++)
                    to[o] += bias;
            else if (from != to)
                for (int64_t o = 0; o < o_size; o++)
                    to[o] = from[o] + bias;
        }
    lps_op_epilogue_apply(op, y + n0 * cd->out_ch * o_size, count * cd->out_ch * o_size);
}

/* The transpose of lps_conv_block_scatter without bias: the gradient at the
 * conv's own output for the block's images as [out_ch, ld] (taken back
 * through the fused activation, y being its output), or dy itself for a
 * one-image block without one. */
const float *lps_conv_block_gather(const lps_op_node *op, const lps_conv_dims *cd,
                                   const lps_conv_block *blk, const float *y, const float *dy,
                                   int64_t n0, int64_t count)
{
    int64_t o_size = cd->g.out_size;
    if (blk->images == 1 && !op->epilogue)
        return dy + n0 * cd->out_ch * o_size;
    for (int64_t i = 0; i < count; i++)
        for (int64_t m = 0; m < cd->out_ch; m++) {
            int64_t at = ((n0 + i) * cd->out_ch + m) * o_size;
            float *to = blk->tmp + m * blk->ld + i * o_size;
            if (op->epilogue)
                lps_op_epilogue_grad(op, y + at, dy + at, to, o_size);
            else
                memcpy(to, dy + at, (size_t)o_size * sizeof *dy);
        }
    return blk->tmp;
}
