/* 2-D depthwise convolution (one input channel per group, one output
 * channel per input channel) in a channels-last layout.
 *
 * MobileNet's depthwise planes are small (16x16 down to 1x1 at 32x32
 * inputs), so a per-plane sweep spends its time on loop control over lines
 * of a few elements. Here each image (a block of DW_BLOCK_IMAGES) is
 * transposed to [position, channel]: every (output position, tap) pair is
 * then one multiply-add over all channels, contiguous and vectorisable,
 * and the weights are read as [tap, channel]. The transposes cost one pass
 * over each tensor. Sums run in a fixed order (taps, then positions, then
 * images), so results do not depend on the thread count. */
#include "ops/conv.h"

#include <string.h>

/* Channels-last block: P = images * channels floats per position. */
typedef struct dw_block {
    int64_t images, planes; /* planes = images * channels */
} dw_block;

/* Side of the square tiles the transposes below move: a tile's rows are
 * whole cache lines on both sides, where an untiled transpose writes (or
 * reads) one float per cache line and was 60% of a MobileNetV2 forward. */
#define DW_TILE 16

/* t[i * P + p] = src[p * size + i] for P planes of size elements. */
static void to_channels_last(const float *restrict src, int64_t planes, int64_t size,
                             float *restrict t)
{
    for (int64_t p0 = 0; p0 < planes; p0 += DW_TILE) {
        int64_t p1 = p0 + DW_TILE < planes ? p0 + DW_TILE : planes;
        for (int64_t i0 = 0; i0 < size; i0 += DW_TILE) {
            int64_t i1 = i0 + DW_TILE < size ? i0 + DW_TILE : size;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t p = p0; p < p1; p++)
                    t[i * planes + p] = src[p * size + i];
        }
    }
}

/* dst[p * size + i] (+)= t[i * P + p]; accumulates when add is set. */
static void from_channels_last(const float *restrict t, int64_t planes, int64_t size,
                               float *restrict dst, bool add)
{
    for (int64_t p0 = 0; p0 < planes; p0 += DW_TILE) {
        int64_t p1 = p0 + DW_TILE < planes ? p0 + DW_TILE : planes;
        for (int64_t i0 = 0; i0 < size; i0 += DW_TILE) {
            int64_t i1 = i0 + DW_TILE < size ? i0 + DW_TILE : size;
            for (int64_t p = p0; p < p1; p++)
                for (int64_t i = i0; i < i1; i++)
                    dst[p * size + i] = (add ? dst[p * size + i] : 0.0f) + t[i * planes + p];
        }
    }
}

/* Input position of tap (kh, kw) at output (oh, ow), or -1 in the padding. */
static inline int64_t dw_input_pos(const lps_spatial_geom *g, int64_t oh, int64_t ow, int64_t kh,
                                   int64_t kw)
{
    int64_t ih = oh * g->stride[0] + kh * g->dilation[0] - g->pad_begin[0];
    int64_t iw = ow * g->stride[1] + kw * g->dilation[1] - g->pad_begin[1];
    if (ih < 0 || ih >= g->in[0] || iw < 0 || iw >= g->in[1])
        return -1;
    return ih * g->in[1] + iw;
}

/* Which product one (output position, tap) pair contributes. */
typedef enum dw_pass { DW_FORWARD, DW_INPUT_GRAD, DW_WEIGHT_GRAD } dw_pass;

/* Runs one pass over all (output position, tap) pairs of a block. a is the
 * output-side tensor (yT or dyT, [out_size, P]), b the input-side one (xT or
 * dxT, [in_size, P]), wt the [taps, C] weights (read, or accumulated for
 * DW_WEIGHT_GRAD). */
static void dw_sweep(const lps_spatial_geom *g, int64_t channels, const dw_block *blk,
                     dw_pass pass, float *restrict a, float *restrict b, float *restrict wt)
{
    int64_t P = blk->planes, C = channels;
    for (int64_t oh = 0; oh < g->out[0]; oh++)
        for (int64_t ow = 0; ow < g->out[1]; ow++) {
            float *a_o = a + (oh * g->out[1] + ow) * P;
            for (int64_t kh = 0; kh < g->kernel[0]; kh++)
                for (int64_t kw = 0; kw < g->kernel[1]; kw++) {
                    int64_t i = dw_input_pos(g, oh, ow, kh, kw);
                    if (i < 0)
                        continue;
                    float *b_i = b + i * P, *w_t = wt + (kh * g->kernel[1] + kw) * C;
                    for (int64_t n = 0; n < blk->images; n++) {
                        float *restrict av = a_o + n * C, *restrict bv = b_i + n * C;
                        if (pass == DW_FORWARD)
                            for (int64_t c = 0; c < C; c++)
                                av[c] += w_t[c] * bv[c];
                        else if (pass == DW_INPUT_GRAD)
                            for (int64_t c = 0; c < C; c++)
                                bv[c] += w_t[c] * av[c];
                        else
                            for (int64_t c = 0; c < C; c++)
                                w_t[c] += av[c] * bv[c];
                    }
                }
        }
}

/* Images per block. One: its channels-last rows are then C floats apart.
 * With several images side by side rows were images * C floats apart,
 * often a power of two times 4 KiB, and the transposes' tiles fell into
 * one L1 set (a MobileNetV2 forward: the depthwise kernel 40% of the time
 * with blocks of all images, 28% with one). */
#define DW_BLOCK_IMAGES 1

/* Contract in conv.h. */
size_t lps_depthwise_workspace(const lps_spatial_geom *g, int64_t channels)
{
    int64_t images = DW_BLOCK_IMAGES;
    return (size_t)(images * channels * (2 * g->in_size + g->out_size)) +
           2 * (size_t)(g->kernel_size * channels);
}

/* Workspace regions: xT [in, P], aT [out, P] (yT or dyT), dxT [in, P],
 * wt and dwt [taps, C]. */
typedef struct dw_work {
    float *xt, *at, *dxt, *wt, *dwt;
} dw_work;

static dw_work dw_split(const lps_spatial_geom *g, int64_t channels, int64_t images, float *ws)
{
    size_t in = (size_t)(images * channels * g->in_size);
    size_t out = (size_t)(images * channels * g->out_size);
    dw_work w = {.xt = ws, .at = ws + in, .dxt = ws + in + out};
    w.wt = w.dxt + in;
    w.dwt = w.wt + g->kernel_size * channels;
    return w;
}

/* wt[t * C + c] = w[c * K + t]. */
static void weights_by_tap(const float *w, int64_t channels, int64_t taps, float *wt)
{
    for (int64_t c = 0; c < channels; c++)
        for (int64_t t = 0; t < taps; t++)
            wt[t * channels + c] = w[c * taps + t];
}

/* Contract in conv.h. */
void lps_depthwise_forward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                           const float *x, const float *w, const float *b, float *y, float *ws)
{
    dw_block blk = {.images = DW_BLOCK_IMAGES};
    dw_work k = dw_split(g, channels, blk.images, ws);
    weights_by_tap(w, channels, g->kernel_size, k.wt);
    for (int64_t n0 = 0; n0 < batch; n0 += blk.images) {
        int64_t count = batch - n0 < blk.images ? batch - n0 : blk.images;
        dw_block cur = {.images = count, .planes = count * channels};
        to_channels_last(x + n0 * channels * g->in_size, cur.planes, g->in_size, k.xt);
        for (int64_t o = 0; o < g->out_size; o++)
            for (int64_t n = 0; n < count; n++)
                for (int64_t c = 0; c < channels; c++)
                    k.at[(o * count + n) * channels + c] = b ? b[c] : 0.0f;
        dw_sweep(g, channels, &cur, DW_FORWARD, k.at, k.xt, k.wt);
        from_channels_last(k.at, cur.planes, g->out_size, y + n0 * channels * g->out_size,
                           false);
    }
}

/* Contract in conv.h. */
void lps_depthwise_backward(const lps_spatial_geom *g, int64_t batch, int64_t channels,
                            const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *ws)
{
    dw_block blk = {.images = DW_BLOCK_IMAGES};
    dw_work k = dw_split(g, channels, blk.images, ws);
    int64_t taps = g->kernel_size;
    weights_by_tap(w, channels, taps, k.wt);
    memset(k.dwt, 0, (size_t)(taps * channels) * sizeof *k.dwt);
    for (int64_t n0 = 0; n0 < batch; n0 += blk.images) {
        int64_t count = batch - n0 < blk.images ? batch - n0 : blk.images;
        dw_block cur = {.images = count, .planes = count * channels};
        to_channels_last(dy + n0 * channels * g->out_size, cur.planes, g->out_size, k.at);
        if (dw) {
            to_channels_last(x + n0 * channels * g->in_size, cur.planes, g->in_size, k.xt);
            dw_sweep(g, channels, &cur, DW_WEIGHT_GRAD, k.at, k.xt, k.dwt);
        }
        if (dx) {
            memset(k.dxt, 0, (size_t)(cur.planes * g->in_size) * sizeof *k.dxt);
            dw_sweep(g, channels, &cur, DW_INPUT_GRAD, k.at, k.dxt, k.wt);
            from_channels_last(k.dxt, cur.planes, g->in_size, dx + n0 * channels * g->in_size,
                               true);
        }
    }
    for (int64_t c = 0; dw && c < channels; c++)
        for (int64_t t = 0; t < taps; t++)
            dw[c * taps + t] += k.dwt[t * channels + c];
}
