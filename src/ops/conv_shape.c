/* Conv and ConvTranspose's shared checks and output shape (conv_shape.h). */
#include "ops/conv_shape.h"

#include <string.h>

lps_status lps_conv_check_inputs(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_error *err)
{
    const lps_tensor *x = in[LPS_CONV_IN_X], *w = in[LPS_CONV_IN_W];
    const lps_tensor *b = op->n_inputs > LPS_CONV_IN_B ? in[LPS_CONV_IN_B] : NULL;
    lps_status st = lps_op_expect_dtype(op, x, LPS_CONV_IN_X, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, w, LPS_CONV_IN_W, LPS_DT_FLOAT, err);
    if (st == LPS_OK && b)
        st = lps_op_expect_dtype(op, b, LPS_CONV_IN_B, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    if (x->rank <= LPS_CONV_LEADING_DIMS)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "input X has rank %d, expected (N, C, spatial...)", x->rank);
    if (w->rank != x->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "weight W has rank %d, input X has rank %d",
                           w->rank, x->rank);
    return LPS_OK;
}

lps_status lps_conv_check_bias(const lps_op_node *op, const lps_tensor *b, int64_t out_ch,
                               lps_error *err)
{
    if (b && (b->rank != 1 || b->dims[0] != out_ch))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "bias B must have shape [%lld]",
                           (long long)out_ch);
    return LPS_OK;
}

void lps_conv_output_shape(lps_shape *out, int64_t batch, int64_t out_ch, int n,
                           const int64_t *spatial)
{
    out->dtype = LPS_DT_FLOAT;
    out->rank = LPS_CONV_LEADING_DIMS + n;
    out->dims[0] = batch;
    out->dims[1] = out_ch;
    memcpy(out->dims + LPS_CONV_LEADING_DIMS, spatial, (size_t)n * sizeof *spatial);
}
