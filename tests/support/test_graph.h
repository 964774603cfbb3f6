/* A hand-built graph in fixed arrays for the tests of weight discovery
 * (test_prunable, test_weight_view): discovery reads names, op types,
 * input lists, attributes and initializer dtype/shape, so no file or
 * tensor data is needed. Strings are literals owned by the test. */
#ifndef LPS_TEST_GRAPH_H
#define LPS_TEST_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/model.h"

#define TEST_GRAPH_MAX_ITEMS 24

typedef struct test_graph {
    lps_model m;
    lps_initializer inits[TEST_GRAPH_MAX_ITEMS];
    lps_node nodes[TEST_GRAPH_MAX_ITEMS];
} test_graph;

/* An empty graph at default-domain opset 13. */
void test_graph_init(test_graph *g);

/* Frees the initializers' tensor data (those given values with
 * lps_tensor_alloc); the arrays are g's own. */
void test_graph_release(test_graph *g);

/* Appends an initializer of that dtype and shape with no data. The test
 * fails when the graph is full. */
lps_initializer *test_graph_add_init(test_graph *g, char *name, lps_dtype dtype, int rank,
                                     const int64_t *dims);

/* Appends a default-domain node (outputs may be NULL with n_outputs 0).
 * The test fails when the graph is full. */
lps_node *test_graph_add_node(test_graph *g, char *name, char *op, char **inputs,
                              size_t n_inputs, char **outputs, size_t n_outputs);

#endif
