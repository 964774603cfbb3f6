/* Strided walks: the one kernel behind every op that copies elements
 * without arithmetic along an affine index map (Transpose, Slice, Expand,
 * Tile). A walk visits the elements of a dense row-major destination in
 * order; destination dim i steps stride[i] source elements (0 repeats an
 * element, negative walks backwards) starting at source element base.
 * Kernels move bytes of the element size, so float activations and int64
 * or bool shape/mask tensors share them; the adjoint (scatter-add) is for
 * float gradients. */
#ifndef LPS_OPS_STRIDED_H
#define LPS_OPS_STRIDED_H

#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/tensor.h"

/* Tile splits each dim into (repeat, dim): twice the tensor rank. */
#define LPS_STRIDED_MAX_RANK (2 * LPS_MAX_RANK)

typedef struct lps_strided {
    int rank;                             /* at least 1 after init */
    int64_t dims[LPS_STRIDED_MAX_RANK];
    int64_t stride[LPS_STRIDED_MAX_RANK]; /* source elements per step */
    int64_t base;                         /* source element of destination element 0 */
    int64_t numel;                        /* destination elements */
} lps_strided;

/* Builds the walk of a destination of `rank` dims (at most
 * LPS_STRIDED_MAX_RANK). Unit dims are dropped and adjacent dims that step
 * through the source as one are merged, so the innermost run is as long as
 * possible. */
void lps_strided_init(lps_strided *w, int rank, const int64_t *dims, const int64_t *stride,
                      int64_t base);

/* Row-major element strides of a dense tensor of rank/dims into stride. */
void lps_strided_dense(int rank, const int64_t *dims, int64_t *stride);

/* dst[i] = src[walk(i)] for every destination element, elements of esize
 * bytes. dst is dense; nothing is touched when the walk is empty. */
void lps_strided_gather(void *dst, const void *src, size_t esize, const lps_strided *w);

/* dsrc[walk(i)] += ddst[i]: the adjoint of lps_strided_gather on floats
 * (elements the walk visits twice receive both contributions). */
void lps_strided_scatter_add(float *dsrc, const float *ddst, const lps_strided *w);

#endif
