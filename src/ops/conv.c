/* Conv (ONNX opsets 1 and 11; same attributes and semantics in 7..21).
 *
 * Y[n, m] = sum_c W[m, c] (*) X[n, c] + B[m] over any number of spatial
 * dims, computed per block of B images (lps_conv_block_images, conv.h) and
 * group as one GEMM against the im2col matrix of that group's input
 * channels, the block's images side by side:
 *     Y_g [Mg, B*O] = W_g [Mg, Cg*K] * col_g [Cg*K, B*O],
 * then scattered to Y's [N, M, O] layout (the bias added on the way).
 * Backward rebuilds the same matrix: dW_g += dY_g * col_g^T and
 * dX_g += col2im(W_g^T * dY_g), dY gathered into the block layout. A
 * one-image block needs no scatter or gather, and for a 1x1 kernel with
 * unit stride and no padding no im2col: the input channels already are
 * col_g. Taps that only ever read padding (small planes) are cropped from
 * the kernel first and the GEMMs run on a copy of W's live taps. Depthwise
 * convs take a direct path (conv_depthwise.c, conv_sweep.c). In an
 * inference plan X or Y may be stored channels-last (conv_channels_last,
 * conv_forward_channels_last; docs/architecture.md, "Channels-last
 * values"). A fused activation
 * (docs/architecture.md, "Fused activations") is applied in the scatter
 * and taken back in the gather, so a block always gathers then. The batch
 * is cut into chunks of consecutive images, each blocked as above in a
 * thread of its own with its own workspace, dW and dB summed per chunk
 * and added in chunk order (lps_conv_split_batch; docs/architecture.md,
 * "Threads"). The blocks' workspace and copies are in conv_block.c; where
 * W changes between calls (training) and the shapes fit, the products run
 * on the packed AVX-512 kernel with an operand packed per call
 * (train_gemm.h; docs/architecture.md, "Packed training products"). */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "ops/conv.h"
#include "ops/conv_block.h"
#include "ops/conv_shape.h"
#include "ops/im2col.h"
#include "ops/op.h"
#include "ops/op_util.h"
#include "ops/spatial.h"
#include "ops/train_gemm.h"

/* Inputs and their gradients. */
enum { CONV_X = LPS_CONV_IN_X, CONV_W = LPS_CONV_IN_W, CONV_B = LPS_CONV_IN_B };
/* Rank of N and C in front of the spatial dims. */
#define CONV_LEADING_DIMS LPS_CONV_LEADING_DIMS
/* Largest matrix dimension handed to cblas (its int parameters). */
#define CONV_BLAS_DIM_MAX INT_MAX

typedef struct conv_params {
    lps_spatial_attrs win;
    int64_t group;
} conv_params;


static lps_status conv_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"auto_pad",     "dilations", "group", "kernel_shape",
                                        "pads",         "strides",   NULL};
    conv_params *p = NULL;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st != LPS_OK)
        return st;
    p = calloc(1, sizeof *p);
    if (!p)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    st = lps_spatial_parse(op, &p->win, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "group", 1, &p->group, err);
    if (st == LPS_OK && p->group < 1)
        st = lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'group' is %lld, expected >= 1",
                         (long long)p->group);
    if (st != LPS_OK) {
        free(p);
        return st;
    }
    op->params = p;
    return LPS_OK;
}

/* The bias, or NULL when the node omits it (the in array may be shorter). */
static const lps_tensor *conv_bias(const lps_op_node *op, const lps_tensor *const *in)
{
    return op->n_inputs > CONV_B ? in[CONV_B] : NULL;
}

/* Validates X, W and the optional B against each other and resolves the
 * window geometry. Fails naming the node. */
static lps_status conv_dims_of(const lps_op_node *op, const lps_tensor *const *in,
                               lps_conv_dims *cd, lps_error *err)
{
    const conv_params *p = op->params;
    const lps_tensor *x = in[CONV_X], *w = in[CONV_W];
    lps_status st = lps_conv_check_inputs(op, in, err);
    if (st != LPS_OK)
        return st;
    cd->batch = x->dims[0];
    cd->in_ch = x->dims[1];
    cd->out_ch = w->dims[0];
    /* divisions, not w->dims[1] * group: a hostile group must not overflow */
    if (cd->in_ch % p->group != 0 || cd->in_ch / p->group != w->dims[1] ||
        cd->out_ch % p->group != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "weight W has shape (%lld, %lld, ...), input X has %lld channels and "
                           "group is %lld",
                           (long long)w->dims[0], (long long)w->dims[1], (long long)cd->in_ch,
                           (long long)p->group);
    st = lps_conv_check_bias(op, conv_bias(op, in), cd->out_ch, err);
    if (st != LPS_OK)
        return st;
    st = lps_spatial_resolve(op, &p->win, x->rank - CONV_LEADING_DIMS,
                             x->dims + CONV_LEADING_DIMS, w->dims + CONV_LEADING_DIMS, false,
                             &cd->g, err);
    if (st != LPS_OK)
        return st;
    cd->in_per_group = cd->in_ch / p->group;
    cd->out_per_group = cd->out_ch / p->group;
    cd->cropped = lps_spatial_crop_dead_taps(&cd->g, &cd->live, cd->live_first);
    cd->rows = cd->in_per_group * cd->live.kernel_size;
    cd->pointwise = lps_spatial_is_pointwise(&cd->live);
    if (cd->rows > CONV_BLAS_DIM_MAX || cd->g.out_size > CONV_BLAS_DIM_MAX ||
        cd->out_per_group > CONV_BLAS_DIM_MAX)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "convolution matrices exceed BLAS sizes");
    return LPS_OK;
}

static lps_status conv_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                             lps_error *err)
{
    lps_conv_dims cd;
    lps_status st = conv_dims_of(op, in, &cd, err);
    if (st != LPS_OK)
        return st;
    lps_conv_output_shape(&out[0], cd.batch, cd.out_ch, cd.g.n, cd.g.out);
    return LPS_OK;
}

/* Depthwise convs (one input channel per group) skip im2col and BLAS: per
 * output channel the product would be a single-row GEMM, so the window dot
 * product (im2col's walk fused with the multiply) is much cheaper. */
static bool conv_is_depthwise(const conv_params *p, const lps_conv_dims *cd)
{
    return p->group > 1 && cd->in_per_group == 1;
}

/* 2-D depthwise convs with one output per input channel (MobileNet's) run
 * channels-last (conv_depthwise.c); others sweep plane by plane below. */
static bool conv_depthwise_channels_last(const lps_conv_dims *cd)
{
    return cd->g.n == 2 && cd->out_per_group == 1;
}

/* docs/architecture.md, "Channels-last values": judged from the attributes
 * and a constant rank-4 W. A depthwise conv (one input and one output
 * channel per group, the channels-last kernel of conv_depthwise.c) reads
 * and writes channels-last; a group-1 conv writes it (a transposed GEMM
 * product, conv_forward_channels_last) and reads it when 1x1 with unit
 * strides and no pads (then X is its own im2col matrix). */
static void conv_channels_last(const lps_op_node *op, const lps_tensor *const *in, bool *reads,
                               bool *writes)
{
    const conv_params *p = op->params;
    const lps_tensor *w = in[CONV_W];
    *reads = *writes = false;
    if (!w || w->rank != CONV_LEADING_DIMS + 2)
        return;
    bool depthwise = p->group > 1 && w->dims[0] == p->group && w->dims[1] == 1;
    bool pointwise = p->group == 1 && w->dims[2] == 1 && w->dims[3] == 1;
    for (int d = 0; d < p->win.n_strides; d++)
        pointwise = pointwise && p->win.strides[d] == 1;
    for (int d = 0; d < p->win.n_pads; d++)
        pointwise = pointwise && p->win.pads[d] == 0;
    *writes = depthwise || p->group == 1;
    *reads = depthwise || pointwise;
}

/* Whether the runtime geometry is one conv_channels_last allowed the
 * node's layout for (the plan decided from the attributes; a mismatch is
 * a bug, reported, never computed in the wrong layout). */
static bool conv_layout_fits(const lps_op_node *op, const conv_params *p, const lps_conv_dims *cd)
{
    bool depthwise = conv_is_depthwise(p, cd) && conv_depthwise_channels_last(cd);
    if (op->x_channels_last && !depthwise && !(p->group == 1 && cd->pointwise))
        return false;
    return !op->y_channels_last || depthwise || p->group == 1;
}

/* Outside training, an output of one position per image (a 1x1 plane, as
 * in the last stages of ResNet and MobileNet at small inputs) is one matrix
 * product over the whole batch in Y's own layout: image n's im2col column
 * is row n of colT [N, rows], so Y [N, M] = colT * W^T, with no scatter;
 * a pointwise input already is colT. At batch 1 it is a matrix-vector
 * product, which unlike sgemm does not pack W first (the packing was a
 * third of a batch-1 ResNet-18 forward). The training forward keeps the
 * block path its backward mirrors. */
static bool conv_single_position(const lps_exec_ctx *ctx, const conv_params *p,
                                 const lps_conv_dims *cd)
{
    return cd->g.out_size == 1 && p->group == 1 && cd->batch <= CONV_BLAS_DIM_MAX &&
           cd->out_ch <= CONV_BLAS_DIM_MAX && !lps_ctx_training(ctx);
}

static lps_status conv_forward_single_position(lps_op_node *op, lps_exec_ctx *ctx,
                                               const lps_conv_dims *cd, const float *x,
                                               const float *w, const float *b,
                                               const float *packed, float *y, lps_error *err)
{
    int64_t in_img = cd->in_ch * cd->g.in_size, rows = cd->rows, m_out = cd->out_ch;
    size_t col = cd->pointwise ? 0 : (size_t)cd->batch * (size_t)rows;
    size_t weights = cd->cropped && !packed ? (size_t)m_out * (size_t)rows : 0;
    float *ws = lps_ctx_workspace(ctx, col + weights + 1, err);
    if (!ws)
        return lps_error_prefix(err, "%s", op->label);
    const float *w_live =
        cd->cropped && !packed ? lps_conv_live_weights(op, cd, w, ws + col, err) : w;
    if (!w_live)
        return err ? err->status : LPS_ERR_NOMEM;
    const float *col_t = x;
    if (!cd->pointwise) {
        for (int64_t n = 0; n < cd->batch; n++)
            lps_im2col(x + n * in_img, cd->in_ch, &cd->live, ws + n * rows);
        col_t = ws;
    }
    if (packed) {
        lps_conv_packed_forward(op, cd, packed, (lps_packed_a){col_t, rows, 1}, 0, cd->batch, b,
                                y, true);
        return LPS_OK;
    }
    if (cd->batch == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m_out, (int)rows, 1.0f, w_live, (int)rows,
                    col_t, 1, 0.0f, y, 1);
    else /* on the ops' threads: OpenBLAS's own would spin after it (par.h) */
        lps_par_sgemm(0, 1, (int)cd->batch, (int)m_out, (int)rows, 1.0f, col_t, (int)rows,
                      w_live, (int)rows, 0.0f, y, (int)m_out);
    for (int64_t n = 0; b && n < cd->batch; n++)
        for (int64_t m = 0; m < m_out; m++)
            y[n * m_out + m] += b[m];
    lps_op_epilogue_apply(op, y, cd->batch * m_out);
    return LPS_OK;
}

/* The forward values and gradients backward reads and accumulates: X,
 * the output (the fused activation's when there is one) and its gradient,
 * and dX, dW, dB, each NULL when not wanted. */
typedef struct conv_grads {
    const float *x, *y, *dy;
    float *dx, *dw, *db;
    bool dx_fresh; /* dx holds stale bytes to overwrite (lps_op_node.din_fresh) */
} conv_grads;

/* One GEMM-path pass over the batch, chunk by chunk (lps_par_for): what
 * every chunk reads; x, b, y for forward, g for backward. */
typedef struct conv_job {
    const lps_op_node *op;
    const lps_conv_dims *cd;
    int64_t group;
    const lps_conv_block *blk;
    const float *x, *b;
    float *y;
    const conv_grads *g;
    const float *packed; /* W^T packed (lps_conv_packed_weights), or NULL */
} conv_job;

/* Floating-point operations of one of the GEMM path's passes (forward, dW
 * or dX) over the batch. */
static double conv_gemm_flops(const lps_conv_dims *cd)
{
    return 2.0 * (double)cd->batch * (double)cd->out_ch * (double)cd->rows *
           (double)cd->g.out_size;
}

/* y[r, m] += b[m] for rows r of a channels-last block [rows, out_ch]
 * (b NULL: none). */
static void conv_rows_bias(float *y, int64_t rows, int64_t out_ch, const float *b)
{
    for (int64_t r = 0; b && r < rows; r++)
        for (int64_t m = 0; m < out_ch; m++)
            y[r * out_ch + m] += b[m];
}

/* The forward of images [first, end) with X or Y channels-last
 * (docs/architecture.md, "Channels-last values"; group 1, X only when
 * pointwise). A channels-last X already is the transposed im2col matrix
 * of its images, [count * O, C], so it is read in place; a channels-last
 * Y takes the product transposed, Y^T = col^T W^T, straight into its
 * images, with the bias and activation over its rows (no scatter). With
 * neither a copy nor a scatter the range is one GEMM. */
static void conv_forward_channels_last(const conv_job *j, const lps_conv_block *blk, int64_t first,
                                       int64_t end)
{
    const lps_conv_dims *cd = j->cd;
    int64_t o = cd->g.out_size, m = cd->out_ch;
    bool x_last = j->op->x_channels_last, y_last = j->op->y_channels_last;
    int rows = (int)cd->rows;
    int64_t step = x_last && y_last ? CONV_BLAS_DIM_MAX / o : blk->images;
    for (int64_t n0 = first; n0 < end; n0 += step) {
        int64_t count = end - n0 < step ? end - n0 : step;
        int cols = (int)(count * o);
        const float *col = x_last ? j->x + n0 * o * cd->in_ch
                                  : lps_conv_block_col(cd, blk, j->x, n0, count);
        int ld_col = x_last ? rows : (int)blk->ld;
        if (j->packed) {
            lps_packed_a a = x_last ? (lps_packed_a){col, rows, 1} : (lps_packed_a){col, 1, ld_col};
            lps_conv_packed_forward(j->op, cd, j->packed, a, n0, count, j->b, j->y, y_last);
            continue;
        }
        if (y_last) {
            float *dst = j->y + n0 * o * m;
            lps_par_sgemm(!x_last, 1, cols, (int)m, rows, 1.0f, col, ld_col, blk->w_live, rows,
                          0.0f, dst, (int)m);
            conv_rows_bias(dst, cols, m, j->b);
            lps_op_epilogue_apply(j->op, dst, cols * m);
            continue;
        }
        float *dst = blk->images == 1 ? j->y + n0 * m * o : blk->tmp;
        lps_par_sgemm(0, 1, (int)m, cols, rows, 1.0f, blk->w_live, rows, col, ld_col, 0.0f, dst,
                      (int)blk->ld);
        lps_conv_block_scatter(j->op, cd, dst, blk->ld, j->b, j->y, n0, count);
    }
}

/* The forward of chunk `chunk`'s images, block by block. Its GEMMs go
 * through lps_par_sgemm: inside the chunks' region a single-threaded sgemm
 * as before; when the batch is one chunk (fewer images than threads, as
 * at batch 1) a large GEMM is cut over the ops' threads and a small one
 * holds OpenBLAS to one thread, whose own workers would otherwise spin in
 * sched_yield beside the next region's (docs/architecture.md, "Threads"). */
static void conv_forward_chunk(void *arg, int chunk, int n_chunks)
{
    const conv_job *j = arg;
    const lps_conv_dims *cd = j->cd;
    lps_conv_block blk = lps_conv_block_of_chunk(j->blk, chunk);
    int64_t out_size = cd->g.out_size, first, end;
    int rows = (int)cd->rows, ld = (int)blk.ld;
    lps_par_range(cd->batch, chunk, n_chunks, &first, &end);
    if (j->op->x_channels_last || j->op->y_channels_last) {
        conv_forward_channels_last(j, &blk, first, end);
        return;
    }
    for (int64_t n0 = first; n0 < end; n0 += blk.images) {
        int64_t count = end - n0 < blk.images ? end - n0 : blk.images;
        const float *col = lps_conv_block_col(cd, &blk, j->x, n0, count);
        if (j->packed) {
            /* X itself when one pointwise image needs no copy */
            int64_t ld_col = cd->pointwise && blk.images == 1 ? out_size : blk.ld;
            lps_conv_packed_forward(j->op, cd, j->packed, (lps_packed_a){col, 1, ld_col}, n0,
                                    count, j->b, j->y, false);
            continue;
        }
        /* a one-image block is already in Y's layout */
        float *dst = blk.images == 1 ? j->y + n0 * cd->out_ch * out_size : blk.tmp;
        int cols = (int)(count * out_size);
        for (int64_t grp = 0; grp < j->group; grp++)
            lps_par_sgemm(0, 0, (int)cd->out_per_group, cols, rows, 1.0f,
                          blk.w_live + grp * cd->out_per_group * cd->rows, rows,
                          col + grp * cd->rows * blk.ld, ld, 0.0f,
                          dst + grp * cd->out_per_group * blk.ld, ld);
        lps_conv_block_scatter(j->op, cd, dst, blk.ld, j->b, j->y, n0, count);
    }
}

static lps_status conv_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    const conv_params *p = op->params;
    lps_conv_dims cd;
    lps_status st = conv_dims_of(op, in, &cd, err);
    if (st != LPS_OK)
        return st;
    int64_t out_size = cd.g.out_size;
    if (cd.batch == 0 || cd.out_ch == 0 || out_size == 0)
        return LPS_OK;
    const float *x = lps_tensor_f32(in[CONV_X]);
    const float *w = lps_tensor_f32(in[CONV_W]);
    const lps_tensor *bias = conv_bias(op, in);
    const float *b = bias ? lps_tensor_f32(bias) : NULL;
    float *y = lps_tensor_f32(out[0]);
    if (!conv_layout_fits(op, p, &cd))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "channels-last input or output on a convolution that cannot take it");
    if (conv_is_depthwise(p, &cd)) {
        float *ws = NULL;
        if (conv_depthwise_channels_last(&cd)) {
            const float *w_taps = NULL;
            st = lps_depthwise_taps(op, &cd.g, cd.in_ch, w, &w_taps, err);
            if (st != LPS_OK)
                return st;
            ws = lps_ctx_workspace(ctx, lps_depthwise_workspace(&cd.g, cd.in_ch), err);
            if (!ws)
                return lps_error_prefix(err, "%s", op->label);
            lps_depthwise_forward(op, &cd.g, cd.batch, cd.in_ch, x, w, w_taps, b, y, ws);
        } else {
            lps_depthwise_sweep_forward(&cd.g, cd.batch, cd.in_ch, cd.out_ch, x, w, b, y);
            lps_op_epilogue_apply(op, y, lps_tensor_numel(out[0]));
        }
        return LPS_OK;
    }
    if (lps_conv_direct_fits(op, &cd, p->group))
        return lps_conv_direct_forward(op, ctx, &cd, x, w, b, y, err);
    const float *packed = NULL;
    bool single = conv_single_position(ctx, p, &cd);
    st = lps_conv_packed_weights(op, &cd, p->group, single || op->y_channels_last, w, &packed,
                                 err);
    if (st != LPS_OK)
        return st;
    if (single)
        return conv_forward_single_position(op, ctx, &cd, x, w, b, packed, y, err);
    lps_conv_block blk;
    st = lps_conv_block_init(op, ctx, &cd, w, NULL, NULL, conv_gemm_flops(&cd),
                         packed ? LPS_CONV_PASS_FORWARD_CACHED : LPS_CONV_PASS_FORWARD, &blk,
                         err);
    if (st != LPS_OK)
        return st;
    conv_job job = {.op = op, .cd = &cd, .group = p->group, .blk = &blk, .x = x, .b = b, .y = y,
                    .packed = packed ? packed : blk.w_packed};
    lps_par_for(blk.chunks, conv_forward_chunk, &job);
    return LPS_OK;
}

/* dB (g->db non-NULL), dW (g->dw) and dX (g->dx) of chunk `chunk`'s
 * images on the GEMM path, block by block, dB and dW into the chunk's
 * accumulators (lps_conv_block). */
static void conv_backward_chunk(void *arg, int chunk, int n_chunks)
{
    const conv_job *j = arg;
    const lps_conv_dims *cd = j->cd;
    const conv_grads *g = j->g;
    lps_conv_block blk = lps_conv_block_of_chunk(j->blk, chunk);
    int64_t in_img = cd->in_ch * cd->g.in_size, out_size = cd->g.out_size, first, end;
    int mg = (int)cd->out_per_group, rows = (int)cd->rows, ld = (int)blk.ld;
    float *dx = g->dx, *dw = lps_par_sum_at(&blk.dw_sum, chunk);
    float *db = lps_par_sum_at(&blk.db_sum, chunk);
    lps_par_range(cd->batch, chunk, n_chunks, &first, &end);
    for (int64_t n0 = first; n0 < end; n0 += blk.images) {
        int64_t count = end - n0 < blk.images ? end - n0 : blk.images;
        int cols = (int)(count * out_size);
        const float *dyb = lps_conv_block_gather(j->op, cd, &blk, g->y, g->dy, n0, count);
        if (db)
            lps_conv_bias_grad(dyb, cd->out_ch, out_size, blk.ld, count, db);
        const float *col = dw ? lps_conv_block_col(cd, &blk, g->x, n0, count) : NULL;
        if (dw && blk.pack_dw) {
            /* dW^T [rows, M] = col * dY^T (conv_block_packs) */
            lps_packed_b_pack(dyb, ld, true, cols, mg, 1.0f, blk.pack);
            lps_train_gemm(rows, mg, cols, (lps_packed_a){col, ld, 1}, blk.pack,
                           (lps_packed_out){dw, rows, 0, 1, rows}, true, blk.pack_tmp);
        }
        for (int64_t grp = 0; dw && !blk.pack_dw && grp < j->group; grp++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mg, rows, cols, 1.0f,
                        dyb + grp * cd->out_per_group * blk.ld, ld,
                        col + grp * cd->rows * blk.ld, ld, 1.0f,
                        dw + grp * cd->out_per_group * cd->rows, rows);
        if (!dx)
            continue;
        /* a one-image pointwise block accumulates straight into dX; else
         * dcol goes to col (free again: dW is done with it) and col2im */
        bool direct = cd->pointwise && blk.images == 1 && !blk.pack_dx;
        float *dcol = direct ? dx + n0 * in_img : blk.col;
        if (g->dx_fresh && !direct) /* col2im adds: zeroed here, while in cache */
            memset(dx + n0 * in_img, 0, (size_t)(count * in_img) * sizeof *dx);
        if (blk.pack_dx) {
            /* dcol [rows, cols] = W^T * dY, W^T read in place */
            lps_packed_b_pack(dyb, ld, false, mg, cols, 1.0f, blk.pack);
            lps_train_gemm(rows, cols, mg, (lps_packed_a){blk.w_live, 1, rows}, blk.pack,
                           (lps_packed_out){dcol, rows, 0, ld, 1}, false, NULL);
        }
        for (int64_t grp = 0; !blk.pack_dx && grp < j->group; grp++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, cols, mg, 1.0f,
                        blk.w_live + grp * cd->out_per_group * cd->rows, rows,
                        dyb + grp * cd->out_per_group * blk.ld, ld,
                        direct && !g->dx_fresh ? 1.0f : 0.0f,
                        dcol + grp * cd->rows * blk.ld, ld);
        if (!direct)
            lps_col2im_images(blk.col, count, cd->in_ch, &cd->live, dx + n0 * in_img, blk.ld);
    }
}

/* The GEMM path's backward: the chunks (conv_backward_chunk), then their
 * dB and dW partials added in chunk order and the live taps' dW added
 * back. */
static void conv_backward_blocks(const lps_op_node *op, const lps_conv_dims *cd, int64_t group,
                                 const lps_conv_block *blk, const conv_grads *g)
{
    conv_job job = {.op = op, .cd = cd, .group = group, .blk = blk, .g = g};
    lps_par_for(blk->chunks, conv_backward_chunk, &job);
    lps_par_sum_finish(&blk->db_sum);
    lps_par_sum_finish(&blk->dw_sum);
    lps_conv_block_finish_dw(cd, blk, g->dw);
}

/* The depthwise paths read the gradient at the conv's own output whole:
 * with a fused activation it is taken back through it into op->saved[0]
 * first. NULL and err set (naming the node) when out of memory. */
static const float *conv_own_grad(lps_op_node *op, const lps_tensor *y, const lps_tensor *dy,
                                  lps_error *err)
{
    const lps_tensor *g = lps_op_epilogue_grad_tensor(op, 0, y, dy, err);
    return g ? lps_tensor_f32(g) : NULL;
}

/* Depthwise dX and dW, and dB through the per-image bias sums. */
static lps_status conv_backward_depthwise(lps_op_node *op, lps_exec_ctx *ctx,
                                          const lps_conv_dims *cd, const lps_tensor *y,
                                          const lps_tensor *dout, const float *w, conv_grads *g,
                                          lps_error *err)
{
    const float *dy = conv_own_grad(op, y, dout, err);
    if (!dy)
        return err ? err->status : LPS_ERR_NOMEM;
    for (int64_t n = 0; g->db && n < cd->batch; n++)
        lps_conv_bias_grad(dy + n * cd->out_ch * cd->g.out_size, cd->out_ch, cd->g.out_size,
                           cd->g.out_size, 1, g->db);
    if (conv_depthwise_channels_last(cd)) {
        float *ws = lps_ctx_workspace(ctx, lps_depthwise_workspace(&cd->g, cd->in_ch), err);
        if (!ws)
            return lps_error_prefix(err, "%s", op->label);
        lps_depthwise_backward(&cd->g, cd->batch, cd->in_ch, g->x, w, dy, g->dx, g->dw, ws);
    } else {
        lps_depthwise_sweep_backward(&cd->g, cd->batch, cd->in_ch, cd->out_ch, g->x, w, dy, g->dx,
                                     g->dw);
    }
    return LPS_OK;
}

static lps_status conv_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    const conv_params *p = op->params;
    lps_conv_dims cd;
    lps_status st = conv_dims_of(op, in, &cd, err);
    if (st != LPS_OK)
        return st;
    bool dx_fresh = din[CONV_X] && (op->din_fresh & (1u << CONV_X));
    bool empty = !dout[0] || cd.batch == 0 || cd.out_ch == 0 || cd.g.out_size == 0;
    /* the depthwise paths add onto dX: a fresh one is zeroed first */
    if (dx_fresh && (empty || conv_is_depthwise(p, &cd))) {
        lps_par_zero(lps_tensor_f32(din[CONV_X]), (size_t)lps_tensor_numel(din[CONV_X]));
        dx_fresh = false;
    }
    if (empty)
        return LPS_OK;
    conv_grads g = {
        .x = lps_tensor_f32(in[CONV_X]), .y = lps_tensor_f32(out[0]),
        .dy = lps_tensor_f32(dout[0]),
        .dx = din[CONV_X] ? lps_tensor_f32(din[CONV_X]) : NULL,
        .dw = din[CONV_W] ? lps_tensor_f32(din[CONV_W]) : NULL,
        .db = op->n_inputs > CONV_B && din[CONV_B] && in[CONV_B] ? lps_tensor_f32(din[CONV_B])
                                                                 : NULL,
        .dx_fresh = dx_fresh};
    if (!g.dw && !g.dx && !g.db)
        return LPS_OK;
    const float *w = lps_tensor_f32(in[CONV_W]);
    if (conv_is_depthwise(p, &cd))
        return conv_backward_depthwise(op, ctx, &cd, out[0], dout[0], w, &g, err);
    /* the first layer (no dX) keeps the general path: its im2col of X
     * has C * K rows, fewer than dY's M * K */
    if (p->group == 1 && g.dx && !cd.cropped && lps_conv_flip_applies(&cd.g, cd.in_ch, cd.out_ch))
        return lps_conv_backward_flip(op, ctx,
                                      &(lps_conv_backward_args){.g = &cd.g, .batch = cd.batch,
                                                                .in_ch = cd.in_ch,
                                                                .out_ch = cd.out_ch, .x = g.x,
                                                                .w = w, .y = g.y, .dy = g.dy,
                                                                .dx = g.dx, .dw = g.dw,
                                                                .db = g.db,
                                                                .dx_fresh = g.dx_fresh},
                                      err);
    lps_conv_block blk;
    double flops = conv_gemm_flops(&cd) * ((g.dw ? 1 : 0) + (g.dx ? 1 : 0));
    st = lps_conv_block_init(op, ctx, &cd, w, g.dw, g.db, flops, LPS_CONV_PASS_BACKWARD, &blk, err);
    if (st != LPS_OK)
        return st;
    conv_backward_blocks(op, &cd, p->group, &blk, &g);
    return LPS_OK;
}

/* docs/method.md "One-shot pruning from calibration": group g's rows
 * multiply the im2col matrix of the group's input channels over the whole
 * kernel (every tap of the weight row, also those the forward crops
 * because they only read padding: their activations are 0), one position
 * per output pixel of each image (one chunk per image). */
static lps_status conv_act_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_op_activations *a, lps_error *err)
{
    lps_conv_dims cd;
    lps_status st = conv_dims_of(op, in, &cd, err);
    if (st == LPS_OK)
        *a = (lps_op_activations){.groups = ((const conv_params *)op->params)->group,
                                  .features = cd.in_per_group * cd.g.kernel_size,
                                  .chunks = cd.batch,
                                  .positions = cd.g.out_size};
    return st;
}

static void conv_act_chunk(const lps_op_node *op, const lps_tensor *const *in, int64_t c,
                           int64_t g, float *x, float *work)
{
    lps_conv_dims cd;
    lps_error ignored = {0};
    /* shape succeeded on the same inputs */
    if (conv_dims_of(op, in, &cd, &ignored) != LPS_OK)
        return;
    const float *image = lps_tensor_f32(in[CONV_X]) +
                         (c * cd.in_ch + g * cd.in_per_group) * cd.g.in_size;
    lps_im2col(image, cd.in_per_group, &cd.g, work);
    lps_op_transpose_f32(work, cd.in_per_group * cd.g.kernel_size, cd.g.out_size, x);
}

static const lps_op_calibration conv_calibration = {conv_act_shape, conv_act_chunk};

const lps_op_def lps_op_def_conv = {
    .name = "Conv",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = (1u << CONV_X) | (1u << CONV_W) | (1u << CONV_B),
    .prepare = conv_prepare,
    .shape = conv_shape,
    .forward = conv_forward,
    .backward = conv_backward,
    /* every path writes dX whole over a fresh gradient or zeroes it first
     * (conv_backward): the engine's zeroing pass was 1.3-2% of a ResNet-18
     * and a bundled-CNN training step */
    .overwrites_fresh_grad = 1u << CONV_X,
    /* docs/method.md: a row per output channel over (C/group, k...) */
    .weights = {{.role = LPS_WEIGHT_LAYER, .input = CONV_W, .min_rank = 3,
                 .max_rank = LPS_MAX_RANK, .rows = LPS_ROWS_UNITS_FIRST, .unit_axes = 1,
                 .calibration = &conv_calibration,
                 .bias_input = CONV_B}},
    .fuses_epilogue = true,
    .channels_last = conv_channels_last,
};
