#include "test_forward.h"

#include <check.h>
#include <math.h>
#include <string.h>

#include "ops/op.h"

lps_status test_run_forward(const lps_node *node, int64_t opset, lps_tensor *const *inputs,
                            size_t n_inputs, lps_tensor *outs, lps_error *err)
{
    lps_op_node op;
    lps_exec_ctx ctx;
    const lps_tensor *in[LPS_OP_MAX_IO] = {0};
    lps_tensor *out[LPS_OP_MAX_IO] = {0};
    memset(&ctx, 0, sizeof ctx);
    ck_assert_uint_le(n_inputs, LPS_OP_MAX_IO);
    ck_assert_uint_le(node->n_outputs, LPS_OP_MAX_IO);
    for (size_t i = 0; i < n_inputs; i++)
        in[i] = inputs[i];
    for (size_t j = 0; j < node->n_outputs; j++)
        out[j] = &outs[j];
    lps_status st = lps_op_node_init(&op, node, 0, opset, err);
    if (st == LPS_OK)
        st = lps_op_run_forward(&op, &ctx, in, out, err);
    lps_op_node_release(&op);
    lps_ctx_release(&ctx);
    return st;
}

static void expect_shape(const lps_tensor *t, lps_dtype dtype, int rank, const int64_t *dims)
{
    ck_assert_int_eq(t->dtype, dtype);
    ck_assert_int_eq(t->rank, rank);
    for (int d = 0; d < rank; d++)
        ck_assert_int_eq(t->dims[d], dims[d]);
}

void test_expect_floats(const lps_tensor *t, int rank, const int64_t *dims, const float *values,
                        float tol)
{
    expect_shape(t, LPS_DT_FLOAT, rank, dims);
    const float *x = lps_tensor_f32(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        ck_assert_msg(fabsf(x[i] - values[i]) <= tol, "element %lld: got %g, expected %g",
                      (long long)i, (double)x[i], (double)values[i]);
}

void test_expect_int64s(const lps_tensor *t, int rank, const int64_t *dims, const int64_t *values)
{
    expect_shape(t, LPS_DT_INT64, rank, dims);
    const int64_t *x = lps_tensor_i64(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++)
        ck_assert_msg(x[i] == values[i], "element %lld: got %lld, expected %lld", (long long)i,
                      (long long)x[i], (long long)values[i]);
}
