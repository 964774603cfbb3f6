/* Runs one operator's forward pass on hand-made inputs, for forward unit
 * tests that compare against hand-computed values. */
#ifndef LPS_TEST_OP_FORWARD_H
#define LPS_TEST_OP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"

/* Compiles node at opset and runs it (inference mode) on inputs (NULL =
 * omitted optional input). outs[0..n_outputs-1] receive the outputs and are
 * released by the caller with lps_tensor_release. Returns the status of the
 * first failing step, with its message in err. */
lps_status test_op_forward(const lps_node *node, int64_t opset, lps_tensor *const *inputs,
                           lps_tensor *outs, size_t n_outputs, lps_error *err);

/* As test_op_forward, with the context in training mode (training and
 * bn_batch_stats set) when training is true and its generator seeded with
 * seed, for Dropout masks and batch statistics. */
lps_status test_op_forward_mode(const lps_node *node, int64_t opset, bool training,
                                uint64_t seed, lps_tensor *const *inputs, lps_tensor *outs,
                                size_t n_outputs, lps_error *err);

/* As test_op_forward in a context made from run (e.g. honoring the graph's
 * training flags). */
lps_status test_op_forward_run(const lps_node *node, int64_t opset, const lps_run_options *run,
                               lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                               lps_error *err);

/* The op's state update as the engine runs it after a training forward:
 * compiles node, runs it forward in a context made from run (skipped when
 * run is NULL) into outs, then calls the def's update_state on state
 * (state[i] for each state input i, NULL elsewhere). Returns the first
 * failing status; LPS_ERR_UNSUPPORTED when the op has no state update. */
lps_status test_op_update_state(const lps_node *node, int64_t opset, const lps_run_options *run,
                                lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                                lps_tensor *const *state, lps_error *err);

/* The op's backward as the engine calls it: compiles node, runs it forward
 * in a context made from run (NULL: inference) into outs, then backward
 * from dout (dout[j] for output j, NULL where none) into din (din[i] an
 * allocated float tensor of input i's shape that the gradient is added
 * to, NULL where none is wanted). Returns the first failing status;
 * LPS_ERR_UNSUPPORTED when the op has no backward. */
lps_status test_op_backward(const lps_node *node, int64_t opset, const lps_run_options *run,
                            lps_tensor *const *inputs, lps_tensor *outs, size_t n_outputs,
                            const lps_tensor *const *dout, lps_tensor *const *din, lps_error *err);

/* Whether the engine trains a float initializer w [2] fed to input `input`
 * of an op_type node whose other inputs (n_inputs in all) are the graph
 * input x [N, 2]: lps_plan_compile in training mode finds w a parameter
 * exactly when the op declares that input differentiable. Fails the test
 * when the model does not compile. */
bool test_op_trains_input(const char *op_type, int64_t opset, int n_inputs, int input);

/* Fails the running Check test unless t has numel n and every element is
 * within tol of want[i]. */
void test_expect_floats(const lps_tensor *t, const float *want, int64_t n, float tol);

/* Fails the running Check test unless t has exactly this shape. */
void test_expect_shape(const lps_tensor *t, int rank, const int64_t *dims);

/* Fails the running Check test unless t is int64 with numel n and equal to want. */
void test_expect_int64s(const lps_tensor *t, const int64_t *want, int64_t n);

#endif
