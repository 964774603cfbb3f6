/* Graph compile errors: each names the offending node or value. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "test_node.h"
#include "test_suite.h"

/* A model whose graph has the given nodes (taken over) and one input "x". */
static lps_model *model_with(lps_node **nodes, size_t n, const char *output)
{
    lps_model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->n_opsets = 1;
    m->opsets = calloc(1, sizeof *m->opsets);
    m->opsets[0].domain = strdup("");
    m->opsets[0].version = 13;
    m->graph.n_nodes = n;
    m->graph.nodes = calloc(n, sizeof *m->graph.nodes);
    for (size_t i = 0; i < n; i++) {
        m->graph.nodes[i] = *nodes[i];
        free(nodes[i]);
    }
    m->graph.n_inputs = 1;
    m->graph.inputs = calloc(1, sizeof *m->graph.inputs);
    m->graph.inputs[0].name = strdup("x");
    m->graph.inputs[0].dtype = LPS_DT_FLOAT;
    m->graph.inputs[0].rank = -1;
    m->graph.n_outputs = 1;
    m->graph.outputs = calloc(1, sizeof *m->graph.outputs);
    m->graph.outputs[0].name = strdup(output);
    m->graph.outputs[0].rank = -1;
    return m;
}

static void rename_io(lps_node *n, const char *name, const char *in0, const char *out0)
{
    free(n->name);
    n->name = strdup(name);
    free(n->inputs[0]);
    n->inputs[0] = strdup(in0);
    free(n->outputs[0]);
    n->outputs[0] = strdup(out0);
}

static void expect_compile_error(lps_model *m, lps_status status, const char *needle)
{
    lps_error err = {0};
    lps_plan *p = lps_plan_compile(m, NULL, &err);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    lps_model_free(m);
}

START_TEST(dangling_input_names_node)
{
    lps_node *a = test_node_new("Relu", 1, 1);
    rename_io(a, "act", "nowhere", "y");
    expect_compile_error(model_with(&a, 1, "y"), LPS_ERR_INVALID, "node 'act' (Relu): input 'nowhere'");
}
END_TEST

START_TEST(duplicate_output_names_node)
{
    lps_node *n[2] = {test_node_new("Relu", 1, 1), test_node_new("Relu", 1, 1)};
    rename_io(n[0], "first", "x", "y");
    rename_io(n[1], "second", "x", "y");
    expect_compile_error(model_with(n, 2, "y"), LPS_ERR_INVALID, "node 'second' (Relu): output 'y'");
}
END_TEST

START_TEST(cycle_names_node)
{
    lps_node *n[2] = {test_node_new("Relu", 1, 1), test_node_new("Relu", 1, 1)};
    rename_io(n[0], "ping", "b", "a");
    rename_io(n[1], "pong", "a", "b");
    expect_compile_error(model_with(n, 2, "a"), LPS_ERR_INVALID, "cycle");
}
END_TEST

START_TEST(unknown_op_names_node)
{
    lps_node *a = test_node_new("FrobnicateV9", 1, 1);
    rename_io(a, "weird", "x", "y");
    expect_compile_error(model_with(&a, 1, "y"), LPS_ERR_UNSUPPORTED,
                         "node 'weird' (FrobnicateV9): operator is not supported");
}
END_TEST

/* The axis-only prepares (Gather, GatherElements, Flatten, Concat) refuse
 * any other attribute; Concat's axis has no default. */
START_TEST(axis_ops_check_their_attributes)
{
    lps_node *g = test_node_with_io("Gather", "pick", 2, (const char *[]){"x", "x"}, "y");
    test_node_attr_int(g, "batch_dims", 0);
    expect_compile_error(model_with(&g, 1, "y"), LPS_ERR_UNSUPPORTED,
                         "node 'pick' (Gather): attribute 'batch_dims' is not supported");
    lps_node *c = test_node_new("Concat", 1, 1);
    rename_io(c, "join", "x", "y");
    expect_compile_error(model_with(&c, 1, "y"), LPS_ERR_INVALID,
                         "node 'join' (Concat): attribute 'axis' is required");
}
END_TEST

START_TEST(missing_graph_output)
{
    lps_node *a = test_node_new("Relu", 1, 1);
    rename_io(a, "act", "x", "y");
    expect_compile_error(model_with(&a, 1, "z"), LPS_ERR_INVALID, "graph output 'z'");
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"compile", dangling_input_names_node, 1},
        {"compile", duplicate_output_names_node, 1},
        {"compile", cycle_names_node, 1},
        {"compile", unknown_op_names_node, 1},
        {"compile", axis_ops_check_their_attributes, 1},
        {"compile", missing_graph_output, 1},
    };
    return test_run_table("plan", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
