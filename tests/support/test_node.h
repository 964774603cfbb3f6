/* Builders for hand-made nodes and tensors in operator tests. Each builder
 * aborts the test (ck_abort) on allocation failure, so callers need no checks. */
#ifndef LPS_TEST_NODE_H
#define LPS_TEST_NODE_H

#include <stdint.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"
#include "lpsparsify/tensor.h"
#include "ops/op.h"

/* A node with inputs "in0".."inN-1" and outputs "out0".. ; an input named in
 * `omitted` positions can be blanked with test_node_omit_input. Free with
 * test_node_free (NULL accepted). */
lps_node *test_node_new(const char *op_type, int n_inputs, int n_outputs);
void test_node_omit_input(lps_node *n, int index);
void test_node_attr_int(lps_node *n, const char *name, int64_t v);
void test_node_attr_float(lps_node *n, const char *name, float v);
void test_node_attr_string(lps_node *n, const char *name, const char *v);
void test_node_attr_ints(lps_node *n, const char *name, const int64_t *v, int count);
void test_node_attr_floats(lps_node *n, const char *name, const float *v, int count);
void test_node_attr_tensor(lps_node *n, const char *name, const lps_tensor *t);
void test_node_free(lps_node *n);

/* A heap float tensor of the given shape filled with uniform values in
 * [lo, hi) from a seeded generator; free with lps_tensor_free. */
lps_tensor *test_tensor_random(int rank, const int64_t *dims, float lo, float hi, uint64_t seed);
/* A heap tensor of dtype with the values copied from `values` (numel elements). */
lps_tensor *test_tensor_from(lps_dtype dtype, int rank, const int64_t *dims, const void *values);

/* A node of op_type named `name`, with n_inputs inputs named by `inputs`
 * (NULL when n_inputs is 0) and one output named `output`. Free with
 * test_node_free (or hand it to test_model_add_node). */
lps_node *test_node_with_io(const char *op_type, const char *name, int n_inputs,
                            const char *const *inputs, const char *output);

/* An empty model at the given default-domain opset with one float graph
 * input `input` of shape [N, features] (N symbolic) and one graph output
 * `output`. Free with lps_model_free. */
lps_model *test_model_new(int64_t opset, const char *input, int64_t features, const char *output);

/* Runs m in inference mode on x (bound to input 0) and returns a malloc'd
 * copy of output 0, which must hold `numel` floats (the test fails
 * otherwise). */
float *test_model_output(const lps_model *m, const lps_tensor *x, int64_t numel);

/* Appends node n to the graph, taking over its contents (n is freed). */
void test_model_add_node(lps_model *m, lps_node *n);

/* Appends an initializer holding t's values: the model takes over t's
 * contents and t itself is freed. */
void test_model_add_init(lps_model *m, const char *name, lps_tensor *t);

/* Appends an initializer with uniform values in [-0.5, 0.5) from seed. */
void test_model_add_random_init(lps_model *m, const char *name, int rank, const int64_t *dims,
                                uint64_t seed);

/* The float data of m's initializer called name (the test fails when
 * there is none). */
const float *test_model_init_data(const lps_model *m, const char *name);

/* The first node of p whose def fuses an activation (a Gemm or Conv in
 * the tests' one-product plans); the test fails when there is none. */
const lps_op_node *test_plan_fused_node(const lps_plan *p);

#endif
