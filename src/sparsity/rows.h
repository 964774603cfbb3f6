/* Per-unit rows of a prunable weight (ALGORITHM.md section 1).
 *
 * The method works per output unit: a unit's row is the set of weights that
 * feed it. A layout maps (row j, position i) to a flat offset into the
 * weight tensor, so that every per-row routine (Hoyer, LpSGD, thresholds)
 * serves Conv [M, C/g, k...], Gemm transB=1 [out, in] and Gemm transB=0 /
 * MatMul [in, out] alike. */
#ifndef LPS_SPARSITY_ROWS_H
#define LPS_SPARSITY_ROWS_H

#include <stdint.h>

typedef struct lps_row_layout {
    int64_t n_rows;      /* output units */
    int64_t row_len;     /* fan-in n */
    int64_t row_stride;  /* offset between the first elements of rows j and j+1 */
    int64_t elem_stride; /* offset between positions i and i+1 of one row */
} lps_row_layout;

/* Layout for a weight whose leading dim is the unit (Conv, Gemm transB=1,
 * constant MatMul A): rows are contiguous. dims/rank describe the tensor. */
static inline lps_row_layout lps_rows_unit_major(int rank, const int64_t *dims)
{
    lps_row_layout l = {dims[0], 1, 0, 1};
    for (int i = 1; i < rank; i++)
        l.row_len *= dims[i];
    l.row_stride = l.row_len;
    return l;
}

/* Layout for a [in, out] weight (Gemm transB=0, constant MatMul B): unit j
 * is column j. */
static inline lps_row_layout lps_rows_column_major(const int64_t *dims)
{
    lps_row_layout l = {dims[1], dims[0], 1, dims[1]};
    return l;
}

static inline int64_t lps_row_offset(const lps_row_layout *l, int64_t row, int64_t i)
{
    return row * l->row_stride + i * l->elem_stride;
}

#endif
