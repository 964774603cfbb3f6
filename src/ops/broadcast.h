/* Shared strided iteration over numpy-broadcast operands.
 *
 * An lps_bcast describes up to LPS_BCAST_MAX_OPERANDS dense row-major
 * operands laid over one output shape (operand shapes right-aligned, dims of
 * size 1 broadcast). Dims of size 1 are dropped and adjacent dims that are
 * contiguous for every operand are merged, so the common cases collapse:
 *   equal shapes           -> one row of numel elements, all inner strides 1
 *   [N,K] + [K] (bias)     -> N rows of K, bias inner stride 1 and row stride 0
 *   [N,C,H,W] + [C,1,1]    -> N*C rows of H*W, channel inner stride 0
 * Callers loop over rows (lps_bcast_rows) and process each row of length
 * lps_bcast_row_len with the per-operand inner stride, which is always 0 or 1.
 * Everything counts elements, not bytes. */
#ifndef LPS_OPS_BROADCAST_H
#define LPS_OPS_BROADCAST_H

#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

/* Most operands one iteration walks together (output, inputs, gradients). */
#define LPS_BCAST_MAX_OPERANDS 4

typedef struct lps_bcast {
    int n_operands;
    int rank;                     /* collapsed rank, at least 1 */
    int64_t dims[LPS_MAX_RANK];   /* collapsed output dims; the last is the row */
    int64_t strides[LPS_BCAST_MAX_OPERANDS][LPS_MAX_RANK]; /* 0 where broadcast */
    int64_t rows;                 /* product of all but the last collapsed dim */
} lps_bcast;

/* Position of the current row: per-operand element offsets of its start. */
typedef struct lps_bcast_cursor {
    int64_t index[LPS_MAX_RANK];
    int64_t offset[LPS_BCAST_MAX_OPERANDS];
} lps_bcast_cursor;

/* Lays n operands (ranks[k], dims[k]) over the output shape. Fails with
 * LPS_ERR_INVALID when an operand has a higher rank than the output or a
 * dim that is neither 1 nor the output's, and LPS_ERR_UNSUPPORTED for more
 * than LPS_BCAST_MAX_OPERANDS operands; the message names both shapes. */
lps_status lps_bcast_init(lps_bcast *b, int out_rank, const int64_t *out_dims, int n,
                          const int *ranks, const int64_t *const *dims, lps_error *err);

static inline int64_t lps_bcast_row_len(const lps_bcast *b)
{
    return b->dims[b->rank - 1];
}

/* Inner (within-row) stride of operand k: 0 or 1. */
static inline int64_t lps_bcast_inner_stride(const lps_bcast *b, int k)
{
    return b->strides[k][b->rank - 1];
}

/* Puts the cursor on row 0 (all offsets 0). */
void lps_bcast_begin(const lps_bcast *b, lps_bcast_cursor *c);

/* Puts the cursor on row `row` (0 <= row < b->rows), where lps_bcast_next
 * called row times after lps_bcast_begin leaves it: the start of a run of
 * rows that a thread walks on its own. */
void lps_bcast_seek(const lps_bcast *b, lps_bcast_cursor *c, int64_t row);

/* Moves the cursor to the next row (wraps to row 0 after the last). Inline
 * because short rows (a trailing [K] broadcast) call it once per K elements. */
static inline void lps_bcast_next(const lps_bcast *b, lps_bcast_cursor *c)
{
    for (int d = b->rank - 2; d >= 0; d--) {
        if (++c->index[d] < b->dims[d]) {
            for (int k = 0; k < b->n_operands; k++)
                c->offset[k] += b->strides[k][d];
            return;
        }
        c->index[d] = 0;
        for (int k = 0; k < b->n_operands; k++)
            c->offset[k] -= b->strides[k][d] * (b->dims[d] - 1);
    }
}

/* dst (shape dst_rank/dst_dims) += scale * src (shape src_rank/src_dims)
 * summed over the dims along which dst broadcasts to src: the gradient of a
 * broadcast, and the sum of a reduction kept as size-1 dims. dst must
 * broadcast to src's shape; otherwise LPS_ERR_INVALID as lps_bcast_init. */
lps_status lps_bcast_sum_into(float *dst, int dst_rank, const int64_t *dst_dims, const float *src,
                              int src_rank, const int64_t *src_dims, float scale, lps_error *err);

/* dst (shape dst_rank/dst_dims) += scale * src broadcast from its shape
 * (src_rank/src_dims) to dst's: the adjoint of lps_bcast_sum_into. Fails as
 * lps_bcast_init when src does not broadcast to dst. */
lps_status lps_bcast_expand_into(float *dst, int dst_rank, const int64_t *dst_dims,
                                 const float *src, int src_rank, const int64_t *src_dims,
                                 float scale, lps_error *err);

#endif
