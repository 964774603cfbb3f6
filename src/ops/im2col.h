/* im2col / col2im for N-d convolution: the bridge between a sliding-window
 * sweep and one GEMM; and, for depthwise convolution, where a GEMM would
 * have one row, the same sweep fused with the multiply (window dot). */
#ifndef LPS_OPS_IM2COL_H
#define LPS_OPS_IM2COL_H

#include <stdint.h>

#include "ops/spatial.h"

/* Writes the windows of one (channels, D1..Dn) image im as the row-major
 * [channels * K, O] matrix col (K = geom->kernel_size, O = geom->out_size).
 * Row (c, k1..kn), column o holds the input element under kernel tap k of
 * output position o, or 0 where that tap falls in the padding. col must
 * have room for channels * K * O floats; every element is written. */
void lps_im2col(const float *im, int64_t channels, const lps_spatial_geom *geom, float *col);

/* lps_im2col into the columns [0, O) of a matrix whose rows are ld >= O
 * floats apart: the images of a batch side by side in one matrix
 * [channels * K, images * O] (image i at col + i * O, ld = images * O).
 * Columns outside [0, O) are not touched. */
void lps_im2col_ld(const float *im, int64_t channels, const lps_spatial_geom *geom, float *col,
                   int64_t ld);

/* The adjoint of lps_im2col: adds every col entry onto the image element it
 * was read from (entries of taps in the padding are dropped). im is
 * accumulated into, not overwritten. */
void lps_col2im(const float *col, int64_t channels, const lps_spatial_geom *geom, float *im);

/* The adjoint of lps_im2col_ld: reads columns [0, O) of rows ld floats
 * apart. */
void lps_col2im_ld(const float *col, int64_t channels, const lps_spatial_geom *geom, float *im,
                   int64_t ld);

/* lps_im2col_ld of `images` consecutive images of x (each channels *
 * in_size floats) into one block matrix, image i at columns [i * O, (i + 1)
 * * O) of rows ld floats apart. */
void lps_im2col_images(const float *x, int64_t images, int64_t channels,
                       const lps_spatial_geom *geom, float *col, int64_t ld);

/* The adjoint of lps_im2col_images: accumulates each image's columns into
 * its image of dx. */
void lps_col2im_images(const float *col, int64_t images, int64_t channels,
                       const lps_spatial_geom *geom, float *dx, int64_t ld);

/* out[o] += sum over taps t of w[t] * (tap t of window o) for one
 * (D1..Dn) image: a one-channel convolution, w being kernel_size weights in
 * row-major tap order. out has geom->out_size floats and is accumulated. */
void lps_window_dot(const float *im, const lps_spatial_geom *geom, const float *w, float *out);

/* Gradient of lps_window_dot with respect to the image: dim (the image's
 * shape) += the adjoint applied to dout. */
void lps_window_dot_input(const float *dout, const lps_spatial_geom *geom, const float *w,
                          float *dim);

/* Gradient of lps_window_dot with respect to the weights: dw (kernel_size
 * floats) += sum over windows of dout[o] * (tap t of window o). */
void lps_window_dot_weight(const float *im, const float *dout, const lps_spatial_geom *geom,
                           float *dw);

#endif
