/* Conv's direct forward for short sums (docs/architecture.md, "Direct
 * convolutions"): a stride-1 2-D convolution whose im2col matrix has few
 * rows (the bundled CNN's first layer: one input channel, 5x5, 25 rows)
 * computes each output row from the zero-padded image in vector
 * registers: per tap one load of the shifted input row feeds a multiply-
 * add into each of DIRECT_CH output channels. The GEMM path spent more on
 * the im2col copy (25 rows of every image), OpenBLAS's edge handling of a
 * 16-row product and the scatter and Relu passes over Y than on the sums. */
#include "core/par.h"
#include "ops/conv.h"
#include "ops/conv_shape.h"
#include "ops/op_util.h"
#include "ops/simd.h"

#include <string.h>

/* Most im2col rows (input channels x taps) a direct forward takes: longer
 * sums keep the packed or BLAS product, whose register tiles reuse each
 * loaded input across more outputs. */
#define DIRECT_MAX_ROWS 32
/* Output channels per register block, by two vectors of an output row
 * (DIRECT_STRIP columns): 16 accumulators, each tap's two input vectors
 * loaded once. */
#define DIRECT_CH 8
#define DIRECT_STRIP (2 * LPS_AVX512_FLOATS)

/* Contract in conv.h. */
bool lps_conv_direct_fits(const lps_op_node *op, const lps_conv_dims *cd, int64_t group)
{
    const lps_spatial_geom *g = &cd->g;
    return group == 1 && g->n == 2 && !cd->cropped && cd->rows <= DIRECT_MAX_ROWS &&
           g->stride[0] == 1 && g->stride[1] == 1 && g->dilation[0] == 1 &&
           g->dilation[1] == 1 && !op->x_channels_last && !op->y_channels_last &&
           lps_op_input_const(op, LPS_CONV_IN_W) && __builtin_cpu_supports("avx512f");
}

/* The padded plane's shape: rows and row length. */
typedef struct direct_pad {
    int64_t h, w;
} direct_pad;

/* What every chunk of the batch reads. */
typedef struct direct_job {
    const lps_op_node *op;
    const lps_conv_dims *cd;
    const float *x, *b;
    const float *wt; /* W by blocks of channels (direct_weights) */
    float *y, *ws;   /* ws: one padded image per chunk */
    direct_pad pad;
    lps_clamp act;
} direct_job;

/* Image n's input channels zero-padded into padded [in_ch, pad.h, pad.w]. */
static void direct_pad_image(const direct_job *j, int64_t n, float *padded)
{
    const lps_spatial_geom *g = &j->cd->g;
    int64_t plane = j->pad.h * j->pad.w;
    memset(padded, 0, (size_t)(j->cd->in_ch * plane) * sizeof *padded);
    for (int64_t c = 0; c < j->cd->in_ch; c++)
        for (int64_t r = 0; r < g->in[0]; r++)
            memcpy(padded + c * plane + (r + g->pad_begin[0]) * j->pad.w + g->pad_begin[1],
                   j->x + ((n * j->cd->in_ch + c) * g->in[0] + r) * g->in[1],
                   (size_t)g->in[1] * sizeof *padded);
}

/* Output row oh, columns [col0, col0 + DIRECT_STRIP), of channels
 * [m0, m0 + DIRECT_CH) of image n from its padded planes: each element one
 * sum started at its bias, taps in W's order (the im2col rows' order),
 * then op's clamp. wt holds the block's weights [rows, DIRECT_CH]
 * (direct_weights). */
static LPS_AVX512 void direct_strip(const direct_job *j, const float *padded, const float *wt,
                                    int64_t n, int64_t m0, int64_t oh, int64_t col0)
{
    const lps_conv_dims *cd = j->cd;
    const lps_spatial_geom *g = &cd->g;
    int64_t kh = g->kernel[0], kw = g->kernel[1], ow = g->out[1];
    __mmask16 lo = lps_lanes_below(ow - col0),
              hi = lps_lanes_below(ow - col0 - LPS_AVX512_FLOATS);
    __m512 acc[2 * DIRECT_CH];
#pragma GCC unroll 8
    for (int c = 0; c < DIRECT_CH; c++) {
        int64_t m = m0 + c < cd->out_ch ? m0 + c : cd->out_ch - 1;
        acc[2 * c] = acc[2 * c + 1] = _mm512_set1_ps(j->b ? j->b[m] : 0.0f);
    }
    for (int64_t ci = 0; ci < cd->in_ch; ci++)
        for (int64_t r = 0; r < kh; r++) {
            const float *line = padded + (ci * j->pad.h + oh + r) * j->pad.w + col0;
            for (int64_t t = 0; t < kw; t++, wt += DIRECT_CH) {
                __m512 in_lo = _mm512_maskz_loadu_ps(lo, line + t);
                __m512 in_hi = _mm512_maskz_loadu_ps(hi, line + t + LPS_AVX512_FLOATS);
#pragma GCC unroll 8
                for (int c = 0; c < DIRECT_CH; c++) {
                    __m512 wk = _mm512_set1_ps(wt[c]);
                    acc[2 * c] = _mm512_fmadd_ps(wk, in_lo, acc[2 * c]);
                    acc[2 * c + 1] = _mm512_fmadd_ps(wk, in_hi, acc[2 * c + 1]);
                }
            }
        }
#pragma GCC unroll 8
    for (int c = 0; c < DIRECT_CH; c++) {
        if (m0 + c >= cd->out_ch)
            break;
        float *row = j->y + ((n * cd->out_ch + m0 + c) * g->out[0] + oh) * ow + col0;
        _mm512_mask_storeu_ps(row, lo, lps_clamp_vector(&j->act, acc[2 * c]));
        _mm512_mask_storeu_ps(row + LPS_AVX512_FLOATS, hi,
                              lps_clamp_vector(&j->act, acc[2 * c + 1]));
    }
}

/* W as direct_strip reads it: per block of DIRECT_CH output channels,
 * [rows, DIRECT_CH], channels past out_ch repeating the last one. */
static void direct_weights(const lps_conv_dims *cd, const float *w, float *wt)
{
    for (int64_t m0 = 0; m0 < cd->out_ch; m0 += DIRECT_CH)
        for (int64_t k = 0; k < cd->rows; k++)
            for (int64_t c = 0; c < DIRECT_CH; c++) {
                int64_t m = m0 + c < cd->out_ch ? m0 + c : cd->out_ch - 1;
                *wt++ = w[m * cd->rows + k];
            }
}

/* Chunk `chunk`'s images, each padded once into the chunk's buffer. */
static void direct_chunk(void *arg, int chunk, int n_chunks)
{
    const direct_job *j = arg;
    const lps_spatial_geom *g = &j->cd->g;
    float *padded = j->ws + (size_t)chunk * (size_t)(j->cd->in_ch * j->pad.h * j->pad.w);
    int64_t first, end;
    lps_par_range(j->cd->batch, chunk, n_chunks, &first, &end);
    for (int64_t n = first; n < end; n++) {
        direct_pad_image(j, n, padded);
        for (int64_t m0 = 0; m0 < j->cd->out_ch; m0 += DIRECT_CH)
            for (int64_t oh = 0; oh < g->out[0]; oh++)
                for (int64_t col0 = 0; col0 < g->out[1]; col0 += DIRECT_STRIP)
                    direct_strip(j, padded, j->wt + m0 * j->cd->rows, n, m0, oh, col0);
        lps_op_epilogue_rest(j->op, j->y + n * j->cd->out_ch * g->out_size,
                             j->cd->out_ch * g->out_size);
    }
}

/* Contract in conv.h. */
lps_status lps_conv_direct_forward(const lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_conv_dims *cd, const float *x, const float *w,
                                   const float *b, float *y, lps_error *err)
{
    const lps_spatial_geom *g = &cd->g;
    direct_job job = {.op = op, .cd = cd, .x = x, .b = b, .y = y,
                      .pad = {g->in[0] + g->pad_begin[0] + g->pad_end[0],
                              g->in[1] + g->pad_begin[1] + g->pad_end[1]},
                      .act = lps_op_epilogue_clamp(op)};
    double flops = 2.0 * (double)cd->batch * (double)cd->out_ch * (double)cd->rows *
                   (double)g->out_size;
    int chunks = lps_par_chunks(cd->batch, flops);
    size_t image = (size_t)(cd->in_ch * job.pad.h * job.pad.w);
    size_t blocks = (size_t)((cd->out_ch + DIRECT_CH - 1) / DIRECT_CH);
    size_t weights = blocks * DIRECT_CH * (size_t)cd->rows;
    float *ws = lps_ctx_workspace(ctx, (size_t)chunks * image + weights, err);
    if (!ws)
        return lps_error_prefix(err, "%s", op->label);
    job.ws = ws;
    direct_weights(cd, w, ws + (size_t)chunks * image);
    job.wt = ws + (size_t)chunks * image;
    lps_par_for(chunks, direct_chunk, &job);
    return LPS_OK;
}
