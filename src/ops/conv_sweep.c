/* Depthwise convolutions the channels-last kernel (conv_depthwise.c) does
 * not take: other than 2-D, or several output channels per input channel.
 * A plane-by-plane window sweep, no im2col or BLAS: per output channel the
 * product would be a single-row GEMM, so the window dot product (im2col's
 * walk fused with the multiply) is much cheaper. */
#include "ops/conv.h"
#include "ops/im2col.h"

/* Contract in conv.h. */
void lps_depthwise_sweep_forward(const lps_spatial_geom *g, int64_t batch, int64_t in_ch,
                                 int64_t out_ch, const float *x, const float *w, const float *b,
                                 float *y)
{
    int64_t per_input = out_ch / in_ch;
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t m = 0; m < out_ch; m++) {
            const float *plane = x + (n * in_ch + m / per_input) * g->in_size;
            float *y_m = y + (n * out_ch + m) * g->out_size;
            float bias = b ? b[m] : 0.0f;
            for (int64_t o = 0; o < g->out_size; o++)
                y_m[o] = bias;
            lps_window_dot(plane, g, w + m * g->kernel_size, y_m);
        }
    }
}

/* Contract in conv.h. */
void lps_depthwise_sweep_backward(const lps_spatial_geom *g, int64_t batch, int64_t in_ch,
                                  int64_t out_ch, const float *x, const float *w,
                                  const float *dy, float *dx, float *dw)
{
    int64_t per_input = out_ch / in_ch;
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t m = 0; m < out_ch; m++) {
            int64_t plane = (n * in_ch + m / per_input) * g->in_size;
            const float *dy_m = dy + (n * out_ch + m) * g->out_size;
            if (dx)
                lps_window_dot_input(dy_m, g, w + m * g->kernel_size, dx + plane);
            if (dw)
                lps_window_dot_weight(x + plane, dy_m, g, dw + m * g->kernel_size);
        }
    }
}
