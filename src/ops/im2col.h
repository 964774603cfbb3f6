/* im2col / col2im for N-d convolution: the bridge between a sliding-window
 * sweep and one GEMM. */
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

/* The adjoint of lps_im2col: adds every col entry onto the image element it
 * was read from (entries of taps in the padding are dropped). im is
 * accumulated into, not overwritten. */
void lps_col2im(const float *col, int64_t channels, const lps_spatial_geom *geom, float *im);

#endif
