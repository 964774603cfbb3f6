#include "test_graph.h"

#include <check.h>
#include <string.h>

static lps_opset default_opset = {.domain = "", .version = 13};

void test_graph_init(test_graph *g)
{
    memset(g, 0, sizeof *g);
    g->m.opsets = &default_opset;
    g->m.n_opsets = 1;
    g->m.graph.initializers = g->inits;
    g->m.graph.nodes = g->nodes;
}

void test_graph_release(test_graph *g)
{
    for (size_t i = 0; i < g->m.graph.n_initializers; i++)
        lps_tensor_release(&g->inits[i].tensor);
}

lps_initializer *test_graph_add_init(test_graph *g, char *name, lps_dtype dtype, int rank,
                                     const int64_t *dims)
{
    ck_assert_uint_lt(g->m.graph.n_initializers, TEST_GRAPH_MAX_ITEMS);
    lps_initializer *i = &g->inits[g->m.graph.n_initializers++];
    memset(i, 0, sizeof *i);
    i->name = name;
    i->tensor.dtype = dtype;
    i->tensor.rank = rank;
    memcpy(i->tensor.dims, dims, (size_t)rank * sizeof *dims);
    return i;
}

lps_node *test_graph_add_node(test_graph *g, char *name, char *op, char **inputs,
                              size_t n_inputs, char **outputs, size_t n_outputs)
{
    ck_assert_uint_lt(g->m.graph.n_nodes, TEST_GRAPH_MAX_ITEMS);
    lps_node *n = &g->nodes[g->m.graph.n_nodes++];
    memset(n, 0, sizeof *n);
    n->name = name;
    n->op_type = op;
    n->domain = "";
    n->inputs = inputs;
    n->n_inputs = n_inputs;
    n->outputs = outputs;
    n->n_outputs = n_outputs;
    return n;
}
