/* Running one operator's forward pass in a test: node init, shape, forward,
 * release, without a graph. */
#ifndef LPS_TEST_FORWARD_H
#define LPS_TEST_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"

/* Runs node at opset on inputs (NULL entries are omitted optional inputs)
 * and stores the node's outputs in outs[0..n_outputs-1], which the caller
 * releases (lps_tensor_release) also on failure. Returns the op's status
 * with its message in err. */
lps_status test_run_forward(const lps_node *node, int64_t opset, lps_tensor *const *inputs,
                            size_t n_inputs, lps_tensor *outs, lps_error *err);

/* Asserts (ck_assert) that t has the given shape and float values within tol. */
void test_expect_floats(const lps_tensor *t, int rank, const int64_t *dims, const float *values,
                        float tol);

/* Asserts that t is an int64 tensor of the given shape and values. */
void test_expect_int64s(const lps_tensor *t, int rank, const int64_t *dims, const int64_t *values);

#endif
