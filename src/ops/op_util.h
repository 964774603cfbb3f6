/* Helpers shared by the op families: parameter blocks, axes and integer
 * vector inputs. */
#ifndef LPS_OPS_OP_UTIL_H
#define LPS_OPS_OP_UTIL_H

#include "ops/op.h"

/* Copies size bytes of p into a fresh op->params (freed with the node).
 * LPS_ERR_NOMEM naming the node on allocation failure. */
lps_status lps_op_store_params(lps_op_node *op, const void *p, size_t size, lps_error *err);

/* The prepare of an op whose only attribute is the int "axis" (default
 * default_axis): stores it as an int64 in op->params, still to be
 * normalized against the input rank. Fails naming the node on another
 * attribute, a non-int axis or no memory. */
lps_status lps_op_prepare_axis(lps_op_node *op, int64_t default_axis, lps_error *err);

/* Makes an axis counted from the back when negative non-negative. Valid
 * axes are [-rank, rank - 1], plus rank itself when allow_end (Flatten).
 * LPS_ERR_INVALID naming the node otherwise. */
lps_status lps_op_normalize_axis(const lps_op_node *op, int64_t axis, int rank, bool allow_end,
                                 int *out, lps_error *err);

/* Reads a 1-D (or scalar) int32 or int64 input of at most max values into
 * out as int64, its length into *n. Errors name the node and input index. */
lps_status lps_op_read_ints(const lps_op_node *op, const lps_tensor *t, int index, int64_t *out,
                            int max, int *n, lps_error *err);

/* dst [cols, rows] = transpose of the row-major src [rows, cols]. */
void lps_op_transpose_f32(const float *src, int64_t rows, int64_t cols, float *dst);

/* Applies op's fused activation (lps_op_def.fuses_epilogue) to the n
 * floats at y; nothing when it has none. */
static inline void lps_op_epilogue_apply(const lps_op_node *op, float *y, int64_t n)
{
    if (op->epilogue)
        op->epilogue->forward(op->epilogue_op, y, n);
}

/* The gradient at op's own output 0 for n elements: dy (the fused
 * activation's output gradient) through the activation into g, which is
 * returned; dy itself when op has no fused activation. y is the fused
 * output. */
static inline const float *lps_op_epilogue_grad(const lps_op_node *op, const float *y,
                                                const float *dy, float *g, int64_t n)
{
    if (!op->epilogue)
        return dy;
    op->epilogue->backward(op->epilogue_op, y, dy, g, n);
    return g;
}

#endif
