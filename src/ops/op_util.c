/* Helpers shared by the op families (see op_util.h). */
#include "ops/op_util.h"

#include <stdlib.h>
#include <string.h>

lps_status lps_op_store_params(lps_op_node *op, const void *p, size_t size, lps_error *err)
{
    op->params = malloc(size);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, p, size);
    return LPS_OK;
}

lps_status lps_op_prepare_axis(lps_op_node *op, int64_t default_axis, lps_error *err)
{
    static const char *const known[] = {"axis", NULL};
    int64_t axis = default_axis;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis", default_axis, &axis, err);
    if (st == LPS_OK)
        st = lps_op_store_params(op, &axis, sizeof axis, err);
    return st;
}

lps_status lps_op_normalize_axis(const lps_op_node *op, int64_t axis, int rank, bool allow_end,
                                 int *out, lps_error *err)
{
    int hi = allow_end ? rank : rank - 1;
    if (axis < -rank || axis > hi)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                           (long long)axis, -rank, hi);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return LPS_OK;
}

lps_status lps_op_read_ints(const lps_op_node *op, const lps_tensor *t, int index, int64_t *out,
                            int max, int *n, lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (t->dtype != LPS_DT_INT64 && t->dtype != LPS_DT_INT32)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has type %s, expected int64 "
                           "or int32", index, lps_dtype_name(t->dtype));
    int64_t count = lps_tensor_numel(t);
    if (t->rank > 1 || count > max)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "input %d must be 1-D with at most %d values", index, max);
    for (int64_t i = 0; i < count; i++)
        out[i] = t->dtype == LPS_DT_INT64 ? lps_tensor_i64(t)[i]
                                          : (int64_t)((const int32_t *)t->data)[i];
    *n = (int)count;
    return LPS_OK;
}

void lps_op_transpose_f32(const float *src, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}
