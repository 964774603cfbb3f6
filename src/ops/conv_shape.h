/* The input checks and the output shape Conv and ConvTranspose share: X
 * [N, C, D1..Dn] and W [., ., k1..kn] float of the same rank, an optional
 * float bias B [M], and a float output Y [N, M, O1..On]. Each op then
 * checks its own channel rules and resolves its own geometry. */
#ifndef LPS_OPS_CONV_SHAPE_H
#define LPS_OPS_CONV_SHAPE_H

#include <stdint.h>

#include "ops/op.h"

/* Input order of both ops; N and C stand before the spatial dims. */
enum { LPS_CONV_IN_X = 0, LPS_CONV_IN_W = 1, LPS_CONV_IN_B = 2 };
#define LPS_CONV_LEADING_DIMS 2

/* Checks that X, W and (when the node has one) B are float, that X has
 * spatial dims and that W has X's rank. Fails naming the node:
 * lps_op_expect_dtype's errors, LPS_ERR_INVALID for the ranks. */
lps_status lps_conv_check_inputs(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_error *err);

/* Checks that the bias b (NULL: the node has none) is [out_ch];
 * LPS_ERR_INVALID naming the node otherwise. */
lps_status lps_conv_check_bias(const lps_op_node *op, const lps_tensor *b, int64_t out_ch,
                               lps_error *err);

/* out = float [batch, out_ch, spatial[0], ..., spatial[n - 1]]. */
void lps_conv_output_shape(lps_shape *out, int64_t batch, int64_t out_ch, int n,
                           const int64_t *spatial);

#endif
