/* Conv backward for unit strides without col2im (docs/architecture.md,
 * "Operators: convolution and pooling").
 *
 * With unit strides the input gradient is the correlation of dY (the
 * gradient at the conv's own output) with W flipped and transposed, over
 * dY padded by (K - 1) * dilation - pad on each side (1-D, tap t):
 *     dX[c, i] = sum_{m, t} W[m, c, t] dY[m, i - t * dilation + pad_begin].
 * So one im2col of dY with the kernel reversed, T [(m, t'), i] =
 * dY[m, i - (K - 1 - t') * dilation + pad_begin] (lps_im2col over the
 * transposed geometry: dY's planes in, X's planes out), serves both
 * gradients:
 *     dX [C, I]   = Wf [C, M * K] * T [M * K, I],  Wf[c, (m, t')] = W[m, c, K-1-t']
 *     R [M * K, C] = T * X^T,                      dW[m, c, t] += R[(m, K-1-t), c]
 * (reversing every spatial dim of the kernel reverses its row-major tap
 * index). The general path (conv.c) rebuilds im2col of X for dW and runs
 * dX as a [C * K, O] GEMM then col2im; for M <= C this one writes no larger
 * matrix than that im2col and skips the col2im pass, about a tenth of a
 * residual CNN's training step. The batch is cut into chunks and blocks
 * as in conv.c (lps_conv_split_batch); sums run in a fixed order, so
 * results depend on the shapes and the thread count only. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "core/par.h"
#include "ops/conv.h"
#include "ops/im2col.h"
#include "ops/op_util.h"
#include "ops/simd.h"
#include "ops/train_gemm.h"

/* The transposed geometry of g (unit strides): dY's planes swept by the
 * same kernel and dilations give X's planes. false when g has a stride
 * other than 1 or a pad wider than its dilated kernel. */
static bool flip_geom(const lps_spatial_geom *g, lps_spatial_geom *t)
{
    *t = *g;
    for (int d = 0; d < g->n; d++) {
        int64_t reach = (g->kernel[d] - 1) * g->dilation[d];
        if (g->stride[d] != 1 || g->pad_begin[d] > reach || g->pad_end[d] > reach)
            return false;
        t->in[d] = g->out[d];
        t->out[d] = g->in[d];
        t->pad_begin[d] = reach - g->pad_begin[d];
        t->pad_end[d] = reach - g->pad_end[d];
        if (t->in[d] + t->pad_begin[d] + t->pad_end[d] - reach != t->out[d])
            return false;
    }
    t->in_size = g->out_size;
    t->out_size = g->in_size;
    t->in_stride[g->n - 1] = 1;
    for (int d = g->n - 2; d >= 0; d--)
        t->in_stride[d] = t->in_stride[d + 1] * t->in[d + 1];
    return true;
}

/* Contract in conv.h. */
bool lps_conv_flip_applies(const lps_spatial_geom *g, int64_t in_ch, int64_t out_ch)
{
    lps_spatial_geom t;
    return g->n > 0 && out_ch <= in_ch && !lps_spatial_is_pointwise(g) && flip_geom(g, &t) &&
           out_ch * g->kernel_size <= INT_MAX && in_ch <= INT_MAX &&
           g->in_size <= INT_MAX - LPS_CONV_GEMM_COLS; /* a block's columns */
}

/* Partial sums of a bias gradient row: one dependent double add per
 * element was 2% of the bundled CNN's training step; eight independent
 * ones vectorise. */
#define BIAS_GRAD_LANES 8

/* Contract in conv.h. */
LPS_VECTOR_CLONES
void lps_conv_bias_grad(const float *dy, int64_t out_ch, int64_t out_size, int64_t ld,
                        int64_t count, float *db)
{
    for (int64_t i = 0; i < count; i++)
        for (int64_t m = 0; m < out_ch; m++) {
            const float *row = dy + m * ld + i * out_size;
            double lane[BIAS_GRAD_LANES] = {0};
            int64_t o = 0;
            for (; o + BIAS_GRAD_LANES <= out_size; o += BIAS_GRAD_LANES)
                for (int l = 0; l < BIAS_GRAD_LANES; l++)
                    lane[l] += row[o + l];
            for (int l = 0; o < out_size; o++, l++)
                lane[l] += row[o];
            double sum = 0.0;
            for (int l = 0; l < BIAS_GRAD_LANES; l++)
                sum += lane[l];
            db[m] += (float)sum;
        }
}

/* The flip path's workspace: per chunk of the batch (lps_conv_split_batch,
 * chunk c's chunk_floats after chunk 0's) T [M * K, ld], and for blocks of
 * several images X's block [C, ld] and dX's [C, ld] and the gradient at
 * the conv's own output for the block's images (a fused activation's taken
 * back); shared, R [M * K, C] and Wf [C, M * K]. The chunks sum R and dB
 * through r_sum and db_sum (src/core/par.h), chunk 0 into R and dB. */
typedef struct flip_work {
    lps_spatial_geom t;
    int64_t images, ld, rows; /* rows = M * K */
    int chunks;
    size_t chunk_floats;
    float *col, *xb, *dxb, *grad, *r, *wf;
    lps_par_sum r_sum, db_sum;
    /* Products on the packed kernel (train_gemm.h): R = T * X^T packs the
     * block's X^T per chunk into pack (pack_r), dX^T = T^T * Wf^T reads
     * Wf^T packed once per call (wf_packed; pack_dx), both adding onto
     * their sums through pack_tmp. */
    bool pack_r, pack_dx;
    float *pack, *pack_tmp, *wf_packed;
} flip_work;

/* Decides flip_work's packed products for blocks of `cols` columns; sets
 * *pack, *tmp (floats per chunk) and *shared (per call). R where
 * lps_train_gemm_fits on the whole batch's blocks (`whole` columns), dX
 * where lps_train_gemm_packs (as conv_block.c). */
static void flip_work_packs(const lps_conv_backward_args *a, flip_work *k, int64_t cols,
                            int64_t whole, size_t *pack, size_t *tmp, size_t *shared)
{
    k->pack_r = a->dw && lps_train_gemm_fits(k->rows, a->in_ch, whole, false);
    /* dX where lps_train_gemm_packs (at every size unless OpenBLAS runs
     * an AVX-512 kernel: one sum in k order per element, the same bytes
     * at any thread count; conv_block.c) */
    k->pack_dx = a->dx && a->g->in_size <= INT_MAX / LPS_PACKED_NR && lps_packed_gemm_available() &&
                 lps_train_gemm_packs(LPS_TRAIN_FLIP_DX, cols, a->in_ch, k->rows);
    size_t r_tmp = k->pack_r ? (size_t)k->rows * (size_t)a->in_ch : 0;
    size_t dx_tmp = k->pack_dx ? (size_t)cols * (size_t)a->in_ch : 0;
    *pack = k->pack_r ? lps_packed_b_floats(cols, a->in_ch) : 0;
    *tmp = r_tmp > dx_tmp ? r_tmp : dx_tmp;
    *shared = k->pack_dx ? lps_packed_b_floats(k->rows, a->in_ch) : 0;
}

static lps_status flip_work_init(const lps_op_node *op, lps_exec_ctx *ctx,
                                 const lps_conv_backward_args *a, flip_work *k, lps_error *err)
{
    const lps_spatial_geom *g = a->g;
    flip_geom(g, &k->t);
    k->rows = a->out_ch * g->kernel_size;
    double flops = 2.0 * (double)a->batch * (double)k->rows * (double)a->in_ch *
                   (double)g->in_size * ((a->dw ? 1 : 0) + (a->dx ? 1 : 0));
    lps_conv_split split = lps_conv_split_batch(a->batch, flops, g->in_size, k->rows,
                                                2 * a->in_ch);
    k->chunks = split.chunks;
    k->images = split.images;
    size_t pack, tmp, shared;
    int64_t whole = lps_conv_block_images(a->batch, g->in_size, k->rows, 2 * a->in_ch);
    flip_work_packs(a, k, k->images * g->in_size, whole * g->in_size, &pack, &tmp, &shared);
    k->ld = k->images * g->in_size;
    if (k->pack_dx) /* T is then read down its columns */
        k->ld = lps_packed_a_stride(k->ld);
    size_t col = (size_t)k->rows * (size_t)k->ld;
    size_t block = k->images > 1 ? (size_t)a->in_ch * (size_t)k->ld : 0;
    size_t grad = op->epilogue ? (size_t)(k->images * a->out_ch * g->out_size) : 0;
    size_t weights = (size_t)k->rows * (size_t)a->in_ch;
    size_t r_parts = a->dw ? lps_par_sum_floats(weights, k->chunks) : 0;
    size_t db_parts = a->db ? lps_par_sum_floats((size_t)a->out_ch, k->chunks) : 0;
    k->chunk_floats = col + 2 * block + grad + pack + tmp;
    size_t chunks = (size_t)k->chunks * k->chunk_floats;
    float *ws = lps_ctx_workspace(ctx, chunks + 2 * weights + r_parts + db_parts + shared, err);
    if (!ws)
        return lps_error_prefix(err, "%s", op->label);
    k->col = ws;
    k->xb = ws + col;
    k->dxb = k->xb + block;
    k->grad = k->dxb + block;
    k->pack = k->grad + grad;
    k->pack_tmp = k->pack + pack;
    k->wf_packed = shared > 0 ? ws + chunks + 2 * weights + r_parts + db_parts : NULL;
    k->r = ws + chunks;
    k->wf = k->r + weights;
    k->r_sum = lps_par_sum_make(a->dw ? k->r : NULL, weights, k->chunks, k->wf + weights);
    k->db_sum = lps_par_sum_make(a->db, (size_t)a->out_ch, k->chunks,
                                 k->wf + weights + r_parts);
    return LPS_OK;
}

/* Chunk c's view of k: its own T, X and dX blocks and gradient. */
static flip_work flip_work_of_chunk(const flip_work *k, int c)
{
    flip_work mine = *k;
    size_t at = (size_t)c * k->chunk_floats;
    mine.col += at;
    mine.xb += at;
    mine.dxb += at;
    mine.grad += at;
    mine.pack += at;
    mine.pack_tmp += at;
    return mine;
}

/* Output channels [m0, m1) of flip_weights (to_flipped) or of
 * unflip_weight_grad: each channel's taps are its own, so the channels are
 * cut over the threads (lps_par_elements; 590,000 weights in a 256-channel
 * 3x3 layer, every step). */
typedef struct flip_weights_job {
    const lps_conv_backward_args *a;
    float *wf;
    const float *r;
} flip_weights_job;

/* wf[c, (m, t')] = w[m, c, K - 1 - t']. */
static void flip_weights_piece(void *arg, int64_t m0, int64_t m1)
{
    const flip_weights_job *j = arg;
    const lps_conv_backward_args *a = j->a;
    int64_t taps = a->g->kernel_size, rows = a->out_ch * taps;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t c = 0; c < a->in_ch; c++)
            for (int64_t t = 0; t < taps; t++)
                j->wf[c * rows + m * taps + (taps - 1 - t)] = a->w[(m * a->in_ch + c) * taps + t];
}

/* dw[m, c, t] += r[(m, K - 1 - t), c]. */
static void unflip_weight_grad_piece(void *arg, int64_t m0, int64_t m1)
{
    const flip_weights_job *j = arg;
    const lps_conv_backward_args *a = j->a;
    int64_t taps = a->g->kernel_size;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t c = 0; c < a->in_ch; c++)
            for (int64_t t = 0; t < taps; t++)
                a->dw[(m * a->in_ch + c) * taps + t] +=
                    j->r[(m * taps + taps - 1 - t) * a->in_ch + c];
}

/* Floats a channel of the two passes moves: its weights read and written
 * (and dW's read), at strided addresses on one side. */
static double flip_floats_per_channel(const lps_conv_backward_args *a)
{
    return 3.0 * (double)(a->in_ch * a->g->kernel_size);
}

static void flip_weights(const lps_conv_backward_args *a, float *wf)
{
    flip_weights_job job = {a, wf, NULL};
    lps_par_elements(a->out_ch, flip_floats_per_channel(a), flip_weights_piece, &job);
}

static void unflip_weight_grad(const lps_conv_backward_args *a, const float *r)
{
    flip_weights_job job = {a, NULL, r};
    lps_par_elements(a->out_ch, flip_floats_per_channel(a), unflip_weight_grad_piece, &job);
}

/* The block's gradient at the conv's own output, images [n0, n0 + count)
 * consecutive as in dY; db (when non-NULL) accumulated from it image by
 * image. */
static const float *flip_block_grad(const lps_op_node *op, const lps_conv_backward_args *a,
                                    const flip_work *k, int64_t n0, int64_t count, float *db)
{
    int64_t per_image = a->out_ch * a->g->out_size, at = n0 * per_image;
    const float *grad = lps_op_epilogue_grad(op, a->y + at, a->dy + at, k->grad,
                                             count * per_image);
    for (int64_t i = 0; db && i < count; i++)
        lps_conv_bias_grad(grad + i * per_image, a->out_ch, a->g->out_size, a->g->out_size, 1,
                           db);
    return grad;
}

/* xb [C, ld] = images [n0, n0 + count) of x side by side, or x itself for
 * one image. */
static const float *flip_block_x(const lps_conv_backward_args *a, const flip_work *k,
                                 int64_t n0, int64_t count)
{
    int64_t size = a->g->in_size;
    if (k->images == 1)
        return a->x + n0 * a->in_ch * size;
    for (int64_t i = 0; i < count; i++)
        for (int64_t c = 0; c < a->in_ch; c++)
            memcpy(k->xb + c * k->ld + i * size, a->x + ((n0 + i) * a->in_ch + c) * size,
                   (size_t)size * sizeof *k->xb);
    return k->xb;
}

/* dX of the block: straight into dx for one image, else through dxb;
 * written whole over a fresh dx (each image's dX is one block's). */
static void flip_block_dx(const lps_conv_backward_args *a, const flip_work *k, int64_t n0,
                          int64_t count)
{
    int64_t size = a->g->in_size;
    int rows = (int)k->rows, cols = (int)(count * size), ld = (int)k->ld;
    if (k->pack_dx) {
        /* dX^T [cols, C] = T^T * Wf^T, added onto dX's images */
        lps_train_gemm(cols, a->in_ch, rows, (lps_packed_a){k->col, 1, ld}, k->wf_packed,
                       (lps_packed_out){a->dx + n0 * a->in_ch * size, size, a->in_ch * size, 1,
                                        size},
                       !a->dx_fresh, k->pack_tmp);
        return;
    }
    if (k->images == 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)a->in_ch, cols, rows, 1.0f,
                    k->wf, rows, k->col, ld, a->dx_fresh ? 0.0f : 1.0f,
                    a->dx + n0 * a->in_ch * size, (int)size);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)a->in_ch, cols, rows, 1.0f, k->wf,
                rows, k->col, ld, 0.0f, k->dxb, ld);
    for (int64_t i = 0; i < count; i++)
        for (int64_t c = 0; c < a->in_ch; c++) {
            float *to = a->dx + ((n0 + i) * a->in_ch + c) * size;
            const float *from = k->dxb + c * k->ld + i * size;
            float zero = 0.0f; /* 0 + from: the bytes the add onto zeros gave */
            for (int64_t j = 0; j < size; j++)
                to[j] = (a->dx_fresh ? zero : to[j]) + from[j];
        }
}

/* What every chunk of lps_conv_backward_flip reads. */
typedef struct flip_job {
    const lps_op_node *op;
    const lps_conv_backward_args *a;
    const flip_work *k;
} flip_job;

/* dB, R and dX of chunk `chunk`'s images, block by block. */
static void flip_chunk(void *arg, int chunk, int n_chunks)
{
    const flip_job *j = arg;
    const lps_conv_backward_args *a = j->a;
    flip_work k = flip_work_of_chunk(j->k, chunk);
    float *r = lps_par_sum_at(&k.r_sum, chunk), *db = lps_par_sum_at(&k.db_sum, chunk);
    int rows = (int)k.rows, ld = (int)k.ld;
    int64_t first, end;
    lps_par_range(a->batch, chunk, n_chunks, &first, &end);
    for (int64_t n0 = first; n0 < end; n0 += k.images) {
        int64_t count = end - n0 < k.images ? end - n0 : k.images;
        const float *grad = flip_block_grad(j->op, a, &k, n0, count, db);
        if (!a->dw && !a->dx)
            continue;
        lps_im2col_images(grad, count, a->out_ch, &k.t, k.col, k.ld);
        if (a->dw) {
            const float *xb = flip_block_x(a, &k, n0, count);
            int ldx = k.images == 1 ? (int)a->g->in_size : ld;
            if (k.pack_r) {
                /* R [M * K, C] = T * X^T, X^T packed */
                lps_packed_b_pack(xb, ldx, true, count * a->g->in_size, a->in_ch, 1.0f, k.pack);
                lps_train_gemm(rows, a->in_ch, count * a->g->in_size, (lps_packed_a){k.col, ld, 1},
                               k.pack, (lps_packed_out){r, rows, 0, a->in_ch, 1}, n0 != first,
                               k.pack_tmp);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)a->in_ch,
                            (int)(count * a->g->in_size), 1.0f, k.col, ld, xb, ldx,
                            n0 == first ? 0.0f : 1.0f, r, (int)a->in_ch);
            }
        }
        if (a->dx)
            flip_block_dx(a, &k, n0, count);
    }
}

/* Contract in conv.h. */
lps_status lps_conv_backward_flip(const lps_op_node *op, lps_exec_ctx *ctx,
                                  const lps_conv_backward_args *a, lps_error *err)
{
    flip_work k;
    lps_status st = flip_work_init(op, ctx, a, &k, err);
    if (st != LPS_OK)
        return st;
    if (a->dx)
        flip_weights(a, k.wf);
    if (k.pack_dx)
        lps_packed_b_pack(k.wf, k.rows, true, k.rows, a->in_ch, 1.0f, k.wf_packed);
    flip_job job = {op, a, &k};
    lps_par_for(k.chunks, flip_chunk, &job);
    lps_par_sum_finish(&k.db_sum);
    if (a->dw) {
        lps_par_sum_finish(&k.r_sum);
        unflip_weight_grad(a, k.r);
    }
    return LPS_OK;
}
