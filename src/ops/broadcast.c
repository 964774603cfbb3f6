/* Strided N-d iteration over broadcast operands (see broadcast.h). */
#include "ops/broadcast.h"

#include <stdbool.h>
#include <string.h>

/* Independent partial sums in sum_row: enough for the CPU to overlap the
 * additions, and a little less rounding error than one running sum. */
#define SUM_LANES 4

lps_status lps_bcast_init(lps_bcast *b, int out_rank, const int64_t *out_dims, int n,
                          const int *ranks, const int64_t *const *dims, lps_error *err)
{
    int64_t full[LPS_BCAST_MAX_OPERANDS][LPS_MAX_RANK];
    char s1[128], s2[128];
    if (n < 1 || n > LPS_BCAST_MAX_OPERANDS)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "broadcast of %d operands (at most %d)", n,
                        LPS_BCAST_MAX_OPERANDS);
    if (out_rank < 0 || out_rank > LPS_MAX_RANK)
        return lps_fail(err, LPS_ERR_INVALID, "broadcast rank %d is outside 0..%d", out_rank,
                        LPS_MAX_RANK);
    memset(b, 0, sizeof *b);
    b->n_operands = n;
    for (int k = 0; k < n; k++) {
        int offset = out_rank - ranks[k];
        if (offset < 0)
            goto mismatch;
        int64_t stride = 1;
        for (int d = out_rank - 1; d >= 0; d--) {
            int64_t dim = d < offset ? 1 : dims[k][d - offset];
            if (dim != out_dims[d] && dim != 1)
                goto mismatch;
            full[k][d] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
        continue;
    mismatch:
        return lps_fail(err, LPS_ERR_INVALID, "shape %s does not broadcast to %s",
                        lps_shape_str(ranks[k], dims[k], s1, sizeof s1),
                        lps_shape_str(out_rank, out_dims, s2, sizeof s2));
    }
    for (int d = 0; d < out_rank; d++) {
        if (out_dims[d] == 0) {
            /* nothing to visit: one empty row */
            b->rank = 1;
            b->dims[0] = 0;
            b->rows = 1;
            return LPS_OK;
        }
    }
    for (int d = 0; d < out_rank; d++) {
        if (out_dims[d] == 1)
            continue;
        bool merge = b->rank > 0;
        for (int k = 0; k < n && merge; k++)
            merge = b->strides[k][b->rank - 1] == full[k][d] * out_dims[d];
        if (merge) {
            b->dims[b->rank - 1] *= out_dims[d];
        } else {
            b->dims[b->rank] = out_dims[d];
            b->rank++;
        }
        for (int k = 0; k < n; k++)
            b->strides[k][b->rank - 1] = full[k][d];
    }
    if (b->rank == 0) {
        /* a scalar: one row of one element */
        b->rank = 1;
        b->dims[0] = 1;
    }
    b->rows = 1;
    for (int d = 0; d < b->rank - 1; d++)
        b->rows *= b->dims[d];
    return LPS_OK;
}

void lps_bcast_begin(const lps_bcast *b, lps_bcast_cursor *c)
{
    (void)b;
    memset(c, 0, sizeof *c);
}

void lps_bcast_seek(const lps_bcast *b, lps_bcast_cursor *c, int64_t row)
{
    memset(c, 0, sizeof *c);
    for (int d = b->rank - 2; d >= 0; d--) {
        c->index[d] = row % b->dims[d];
        row /= b->dims[d];
        for (int k = 0; k < b->n_operands; k++)
            c->offset[k] += c->index[d] * b->strides[k][d];
    }
}

/* Sum of n floats. */
static float sum_row(const float *x, int64_t n)
{
    float lane[SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int l = 0; l < SUM_LANES; l++)
            lane[l] += x[i + l];
    float s = 0.0f;
    for (; i < n; i++)
        s += x[i];
    for (int l = 0; l < SUM_LANES; l++)
        s += lane[l];
    return s;
}

lps_status lps_bcast_sum_into(float *dst, int dst_rank, const int64_t *dst_dims, const float *src,
                              int src_rank, const int64_t *src_dims, float scale, lps_error *err)
{
    enum { SRC, DST };
    const int ranks[] = {src_rank, dst_rank};
    const int64_t *const dims[] = {src_dims, dst_dims};
    /* Empty tensors have NULL data: no row may be addressed. */
    if (lps_numel_of(src_rank, src_dims) == 0 || lps_numel_of(dst_rank, dst_dims) == 0)
        return LPS_OK;
    lps_bcast b;
    lps_bcast_cursor c;
    lps_status st = lps_bcast_init(&b, src_rank, src_dims, 2, ranks, dims, err);
    if (st != LPS_OK)
        return st;
    int64_t n = lps_bcast_row_len(&b);
    bool reduce_row = lps_bcast_inner_stride(&b, DST) == 0;
    lps_bcast_begin(&b, &c);
    for (int64_t r = 0; r < b.rows; r++, lps_bcast_next(&b, &c)) {
        const float *s = src + c.offset[SRC];
        float *d = dst + c.offset[DST];
        if (reduce_row) {
            *d += scale * sum_row(s, n);
        } else {
            for (int64_t i = 0; i < n; i++)
                d[i] += scale * s[i];
        }
    }
    return LPS_OK;
}

lps_status lps_bcast_expand_into(float *dst, int dst_rank, const int64_t *dst_dims,
                                 const float *src, int src_rank, const int64_t *src_dims,
                                 float scale, lps_error *err)
{
    enum { DST, SRC };
    const int ranks[] = {dst_rank, src_rank};
    const int64_t *const dims[] = {dst_dims, src_dims};
    /* Empty tensors have NULL data: no row may be addressed. */
    if (lps_numel_of(src_rank, src_dims) == 0 || lps_numel_of(dst_rank, dst_dims) == 0)
        return LPS_OK;
    lps_bcast b;
    lps_bcast_cursor c;
    lps_status st = lps_bcast_init(&b, dst_rank, dst_dims, 2, ranks, dims, err);
    if (st != LPS_OK)
        return st;
    int64_t n = lps_bcast_row_len(&b);
    bool scalar_row = lps_bcast_inner_stride(&b, SRC) == 0;
    lps_bcast_begin(&b, &c);
    for (int64_t r = 0; r < b.rows; r++, lps_bcast_next(&b, &c)) {
        const float *s = src + c.offset[SRC];
        float *d = dst + c.offset[DST];
        if (scalar_row) {
            float v = scale * *s;
            for (int64_t i = 0; i < n; i++)
                d[i] += v;
        } else {
            for (int64_t i = 0; i < n; i++)
                d[i] += scale * s[i];
        }
    }
    return LPS_OK;
}
