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

/* Element i of an int32 or int64 index tensor, as int64. */
int64_t lps_op_index_at(const lps_tensor *t, int64_t i);

/* Index v of an axis of size dim made non-negative (v < 0 counts from the
 * end) into *out. LPS_ERR_INVALID naming the node, the index and the axis
 * when v is outside [-dim, dim - 1]; *out is then untouched. */
lps_status lps_op_resolve_index(const lps_op_node *op, int64_t v, int64_t dim, int axis,
                                int64_t *out, lps_error *err);

/* Every element of the int32 or int64 index tensor idx resolved against an
 * axis of size dim (lps_op_resolve_index), into a malloc'd array *out of
 * numel(idx) entries that the caller frees. On failure (LPS_ERR_NOMEM, or
 * LPS_ERR_INVALID for the first index out of range, naming the node) *out
 * is NULL. */
lps_status lps_op_resolve_indices(const lps_op_node *op, const lps_tensor *idx, int64_t dim,
                                  int axis, int64_t **out, lps_error *err);

/* The blocks an index-addressed move pairs (Gather, GatherElements): for
 * o < outer and j < n, block o * n + j of the indexed side (the output, or
 * its gradient) is block o * stride + at[j] of the data side; a block is
 * `block` consecutive elements. */
typedef struct lps_op_block_map {
    int64_t outer;
    int64_t n;
    int64_t stride;
    int64_t block;
    const int64_t *at;
} lps_op_block_map;

/* Forward: each indexed block of dst is a copy of its data block of src,
 * elements of elem_size bytes (any fixed-size dtype). */
void lps_op_gather_blocks(const lps_op_block_map *m, void *dst, const void *src,
                          size_t elem_size);

/* Backward: each indexed block of dy is added into its data block of dx
 * (several indices may share a data block). */
void lps_op_scatter_add_blocks(const lps_op_block_map *m, float *dx, const float *dy);

/* Forward and backward of the ops whose output holds input 0's elements in
 * the same order (Identity, Reshape, Flatten, Squeeze, Unsqueeze): the
 * bytes are copied, and backward adds dY into dX. Backward fails naming the
 * node when dX is not float; it does nothing without dX or dY. */
lps_status lps_op_copy_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err);
lps_status lps_op_copy_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err);

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

/* Whether input i of op is a constant of its plan (lps_op_node
 * const_inputs): data derived from it may be cached between forwards. */
static inline bool lps_op_input_const(const lps_op_node *op, int i)
{
    return i >= 0 && i < 32 && ((op->const_inputs >> i) & 1u);
}

/* op->cache's floats when they were made for key (n_key values), else
 * NULL. */
const float *lps_op_cache_find(const lps_op_node *op, const int64_t *key, size_t n_key);

/* Replaces op->cache by n floats (contents undefined) made for key and
 * returns them for the caller to fill before the next find. n_key must be
 * at most LPS_OP_CACHE_KEY_MAX. NULL (cache empty, err set naming the node)
 * when out of memory. */
float *lps_op_cache_make(lps_op_node *op, const int64_t *key, size_t n_key, size_t n,
                         lps_error *err);

/* Applies op's fused activation (lps_op_def.fuses_epilogue) to the n
 * floats at y; nothing when it has none. */
static inline void lps_op_epilogue_apply(const lps_op_node *op, float *y, int64_t n)
{
    if (op->epilogue)
        op->epilogue->forward(op->epilogue_op, y, n);
}

/* op's fused activation as a clamp its kernel applies before storing
 * (lps_op_epilogue.clamp); LPS_CLAMP_NONE when it has none, or one
 * without that form (lps_op_epilogue_rest then applies it). */
static inline lps_clamp lps_op_epilogue_clamp(const lps_op_node *op)
{
    if (op->epilogue && op->epilogue->clamp)
        return op->epilogue->clamp(op->epilogue_op);
    return (lps_clamp){LPS_CLAMP_NONE, 0.0f, 0.0f};
}

/* lps_op_epilogue_apply for a kernel that applied
 * lps_op_epilogue_clamp(op) in its stores: the fused activation over the
 * n floats at y only when it has no clamp form. */
static inline void lps_op_epilogue_rest(const lps_op_node *op, float *y, int64_t n)
{
    if (op->epilogue && !op->epilogue->clamp)
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

/* dst[0..n) += src[0..n), cut over the threads (lps_par_elements): the
 * gradient a pass-through or a sum hands back, the same bytes at any
 * thread count. */
void lps_op_accumulate(float *dst, const float *src, int64_t n);

/* The gradient at op's own output 0 as a whole tensor: dy itself when op
 * has no fused activation, else dy taken back through it (y the fused
 * output) into op->saved[slot], allocated here. NULL and err set, naming
 * the node, when out of memory. */
const lps_tensor *lps_op_epilogue_grad_tensor(lps_op_node *op, int slot, const lps_tensor *y,
                                              const lps_tensor *dy, lps_error *err);

#endif
