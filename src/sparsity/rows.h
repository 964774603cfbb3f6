/* Per-unit rows of a prunable weight (docs/method.md, "Prunable weights and
 * their rows").
 *
 * The method works per output unit: a unit's row is the set of weights that
 * feed it. A layout maps (row j, position i) to a flat offset into the
 * weight tensor, so that every per-row routine (Hoyer, LpSGD, thresholds)
 * serves Conv [M, C/g, k...], Gemm transB=1 [out, in], Gemm transB=0 /
 * MatMul [in, out], batched [b, in, out] and ConvTranspose [C, M/g, k...]
 * alike. The operator's def says which form its weight has
 * (lps_op_weight in src/ops/op.h); src/sparsity/prunable.c builds the
 * layout from it. */
#ifndef LPS_SPARSITY_ROWS_H
#define LPS_SPARSITY_ROWS_H

#include <stdbool.h>
#include <stdint.h>

/* offset(j, i) = row part + position part, where
 *   row part      = j * row_stride                         (group_rows == 0)
 *                 = (j / group_rows) * group_stride + (j % group_rows) * row_stride
 *   position part = i * elem_stride                        (block_len == 0)
 *                 = (i / block_len) * block_stride + (i % block_len) * elem_stride
 * Zero group_rows / block_len (the default) mean one group / one block, so
 * a layout that sets only n_rows, row_len, row_stride, elem_stride is simple. */
typedef struct lps_row_layout {
    int64_t n_rows;      /* output units */
    int64_t row_len;     /* fan-in n */
    int64_t row_stride;  /* offset between the first elements of rows j and j+1 (in a group) */
    int64_t elem_stride; /* offset between positions i and i+1 of one row (in a block) */
    int64_t group_rows;  /* rows per group; 0: one group */
    int64_t group_stride;
    int64_t block_len;   /* positions per block; 0: one block */
    int64_t block_stride;
} lps_row_layout;

/* True for a layout without groups or blocks: rows and positions are each
 * one arithmetic progression. */
static inline bool lps_rows_simple(const lps_row_layout *l)
{
    return l->group_rows == 0 && l->block_len == 0;
}

/* Layout for a weight whose leading dim is the unit (Conv, Gemm transB=1,
 * constant MatMul A): rows are contiguous. dims/rank describe the tensor. */
static inline lps_row_layout lps_rows_unit_major(int rank, const int64_t *dims)
{
    lps_row_layout l = {.n_rows = dims[0], .row_len = 1, .elem_stride = 1};
    for (int i = 1; i < rank; i++)
        l.row_len *= dims[i];
    l.row_stride = l.row_len;
    return l;
}

/* Layout whose units enumerate the first unit_axes dims (RNN W [D, G*H, I]
 * with 2): still contiguous rows. */
static inline lps_row_layout lps_rows_leading(int rank, const int64_t *dims, int unit_axes)
{
    lps_row_layout l = lps_rows_unit_major(rank, dims);
    for (int i = 1; i < unit_axes && i < rank; i++) {
        l.n_rows *= dims[i];
        l.row_len = dims[i] ? l.row_len / dims[i] : 0;
    }
    l.row_stride = l.row_len;
    return l;
}

/* Layout for a [in, out] weight (Gemm transB=0, constant MatMul B): unit j
 * is column j. */
static inline lps_row_layout lps_rows_column_major(const int64_t *dims)
{
    lps_row_layout l = {.n_rows = dims[1], .row_len = dims[0], .row_stride = 1,
                        .elem_stride = dims[1]};
    return l;
}

/* Layout for [b..., in, out] (rank >= 2): unit (b, j) is column j of
 * matrix b. Rank 2 is lps_rows_column_major. */
static inline lps_row_layout lps_rows_trailing(int rank, const int64_t *dims)
{
    lps_row_layout l = lps_rows_column_major(dims + rank - 2);
    int64_t batch = 1;
    for (int i = 0; i < rank - 2; i++)
        batch *= dims[i];
    if (rank > 2) {
        l.group_rows = l.n_rows;
        l.group_stride = l.n_rows * l.row_len;
        l.n_rows *= batch;
    }
    return l;
}

/* Layout for [C, M/groups, k...] (ConvTranspose): unit g*M/groups + m over
 * positions (c, k...) of the group's C/groups input channels. groups must
 * divide C. */
static inline lps_row_layout lps_rows_second_grouped(int rank, const int64_t *dims,
                                                     int64_t groups)
{
    int64_t taps = 1;
    for (int i = 2; i < rank; i++)
        taps *= dims[i];
    int64_t in_per_group = dims[0] / groups, out_per_group = dims[1];
    lps_row_layout l = {groups * out_per_group, in_per_group * taps, taps, 1,
                        out_per_group, in_per_group * out_per_group * taps,
                        taps, out_per_group * taps};
    return l;
}

static inline int64_t lps_row_offset(const lps_row_layout *l, int64_t row, int64_t i)
{
    int64_t o = l->group_rows
                    ? (row / l->group_rows) * l->group_stride + (row % l->group_rows) * l->row_stride
                    : row * l->row_stride;
    return o + (l->block_len ? (i / l->block_len) * l->block_stride +
                                   (i % l->block_len) * l->elem_stride
                             : i * l->elem_stride);
}

/* l with the fields that do not change any offset reset: one group (or
 * block) holding every row (position) is none, and a stride along an axis
 * of length 1 is never used. */
static inline lps_row_layout lps_rows_normalized(lps_row_layout l)
{
    if (l.group_rows >= l.n_rows)
        l.group_rows = l.group_stride = 0;
    if (l.block_len >= l.row_len)
        l.block_len = l.block_stride = 0;
    if ((l.group_rows ? l.group_rows : l.n_rows) <= 1)
        l.row_stride = 0;
    if ((l.block_len ? l.block_len : l.row_len) <= 1)
        l.elem_stride = 0;
    return l;
}

/* True when two layouts address the same rows in the same order. */
static inline bool lps_rows_equal(const lps_row_layout *pa, const lps_row_layout *pb)
{
    lps_row_layout a = lps_rows_normalized(*pa), b = lps_rows_normalized(*pb);
    return a.n_rows == b.n_rows && a.row_len == b.row_len && a.row_stride == b.row_stride &&
           a.elem_stride == b.elem_stride && a.group_rows == b.group_rows &&
           a.group_stride == b.group_stride && a.block_len == b.block_len &&
           a.block_stride == b.block_stride;
}

#endif
