#include "test_node.h"

#include "engine/plan.h"
#include "lpsparsify/engine.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        ck_abort_msg("out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        ck_abort_msg("out of memory");
    return p;
}

lps_node *test_node_new(const char *op_type, int n_inputs, int n_outputs)
{
    lps_node *n = xcalloc(1, sizeof *n);
    char name[32];
    n->name = xstrdup("test");
    n->op_type = xstrdup(op_type);
    n->domain = xstrdup("");
    n->n_inputs = (size_t)n_inputs;
    n->inputs = xcalloc((size_t)n_inputs, sizeof(char *));
    for (int i = 0; i < n_inputs; i++) {
        snprintf(name, sizeof name, "in%d", i);
        n->inputs[i] = xstrdup(name);
    }
    n->n_outputs = (size_t)n_outputs;
    n->outputs = xcalloc((size_t)n_outputs, sizeof(char *));
    for (int i = 0; i < n_outputs; i++) {
        snprintf(name, sizeof name, "out%d", i);
        n->outputs[i] = xstrdup(name);
    }
    return n;
}

void test_node_omit_input(lps_node *n, int index)
{
    n->inputs[index][0] = '\0';
}

static lps_attr *add_attr(lps_node *n, const char *name, lps_attr_type type)
{
    lps_attr *grown = realloc(n->attrs, (n->n_attrs + 1) * sizeof *grown);
    if (!grown)
        ck_abort_msg("out of memory");
    n->attrs = grown;
    lps_attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = xstrdup(name);
    a->type = type;
    return a;
}

void test_node_attr_int(lps_node *n, const char *name, int64_t v)
{
    add_attr(n, name, LPS_ATTR_INT)->i = v;
}

void test_node_attr_float(lps_node *n, const char *name, float v)
{
    add_attr(n, name, LPS_ATTR_FLOAT)->f = v;
}

void test_node_attr_string(lps_node *n, const char *name, const char *v)
{
    lps_attr *a = add_attr(n, name, LPS_ATTR_STRING);
    a->s = xstrdup(v);
    a->s_len = strlen(v);
}

void test_node_attr_ints(lps_node *n, const char *name, const int64_t *v, int count)
{
    lps_attr *a = add_attr(n, name, LPS_ATTR_INTS);
    a->ints = xcalloc((size_t)count, sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *v);
    a->n_ints = (size_t)count;
}

void test_node_attr_floats(lps_node *n, const char *name, const float *v, int count)
{
    lps_attr *a = add_attr(n, name, LPS_ATTR_FLOATS);
    a->floats = xcalloc((size_t)count, sizeof *a->floats);
    memcpy(a->floats, v, (size_t)count * sizeof *v);
    a->n_floats = (size_t)count;
}

void test_node_attr_tensor(lps_node *n, const char *name, const lps_tensor *t)
{
    lps_attr *a = add_attr(n, name, LPS_ATTR_TENSOR);
    a->t = xcalloc(1, sizeof *a->t);
    if (lps_tensor_copy(a->t, t, NULL) != LPS_OK)
        ck_abort_msg("out of memory");
}

void test_node_free(lps_node *n)
{
    if (!n)
        return;
    lps_node_release(n);
    free(n);
}

lps_tensor *test_tensor_random(int rank, const int64_t *dims, float lo, float hi, uint64_t seed)
{
    lps_tensor *t = lps_tensor_new();
    if (!t || lps_tensor_alloc(t, LPS_DT_FLOAT, rank, dims, NULL) != LPS_OK)
        ck_abort_msg("cannot allocate test tensor");
    float *x = lps_tensor_f32(t);
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int64_t i = 0; i < lps_tensor_numel(t); i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
    return t;
}

lps_tensor *test_tensor_from(lps_dtype dtype, int rank, const int64_t *dims, const void *values)
{
    lps_tensor *t = lps_tensor_new();
    if (!t || lps_tensor_alloc(t, dtype, rank, dims, NULL) != LPS_OK)
        ck_abort_msg("cannot allocate test tensor");
    if (t->nbytes)
        memcpy(t->data, values, t->nbytes);
    return t;
}

lps_node *test_node_with_io(const char *op_type, const char *name, int n_inputs,
                            const char *const *inputs, const char *output)
{
    lps_node *n = test_node_new(op_type, n_inputs, 1);
    free(n->name);
    n->name = xstrdup(name);
    for (size_t i = 0; i < n->n_inputs; i++) {
        free(n->inputs[i]);
        n->inputs[i] = xstrdup(inputs[i]);
    }
    free(n->outputs[0]);
    n->outputs[0] = xstrdup(output);
    return n;
}

lps_model *test_model_new(int64_t opset, const char *input, int64_t features, const char *output)
{
    lps_model *m = xcalloc(1, sizeof *m);
    m->n_opsets = 1;
    m->opsets = xcalloc(1, sizeof *m->opsets);
    m->opsets[0].domain = xstrdup("");
    m->opsets[0].version = opset;
    m->graph.n_inputs = 1;
    m->graph.inputs = xcalloc(1, sizeof *m->graph.inputs);
    lps_value_info *in = &m->graph.inputs[0];
    in->name = xstrdup(input);
    in->dtype = LPS_DT_FLOAT;
    in->rank = 2;
    in->dims[0].value = -1;
    in->dims[0].symbol = xstrdup("N");
    in->dims[1].value = features;
    m->graph.n_outputs = 1;
    m->graph.outputs = xcalloc(1, sizeof *m->graph.outputs);
    m->graph.outputs[0].name = xstrdup(output);
    m->graph.outputs[0].rank = -1;
    return m;
}

void test_model_add_node(lps_model *m, lps_node *n)
{
    lps_node *grown = realloc(m->graph.nodes, (m->graph.n_nodes + 1) * sizeof *grown);
    if (!grown)
        ck_abort_msg("out of memory");
    m->graph.nodes = grown;
    m->graph.nodes[m->graph.n_nodes++] = *n;
    free(n);
}

void test_model_add_init(lps_model *m, const char *name, lps_tensor *t)
{
    lps_initializer *grown =
        realloc(m->graph.initializers, (m->graph.n_initializers + 1) * sizeof *grown);
    if (!grown)
        ck_abort_msg("out of memory");
    m->graph.initializers = grown;
    lps_initializer *init = &m->graph.initializers[m->graph.n_initializers++];
    memset(init, 0, sizeof *init);
    init->name = xstrdup(name);
    init->tensor = *t;
    free(t);
}

void test_model_add_random_init(lps_model *m, const char *name, int rank, const int64_t *dims,
                                uint64_t seed)
{
    test_model_add_init(m, name, test_tensor_random(rank, dims, -0.5f, 0.5f, seed));
}

float *test_model_output(const lps_model *m, const lps_tensor *x, int64_t numel)
{
    lps_error err = {0};
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, &err);
    ck_assert_ptr_nonnull(ctx);
    lps_plan *plan = lps_plan_compile(m, NULL, &err);
    ck_assert_msg(plan != NULL, "%s", err.msg);
    ck_assert_int_eq(lps_plan_set_input(plan, 0, x, &err), LPS_OK);
    ck_assert_msg(lps_plan_forward(plan, ctx, &err) == LPS_OK, "%s", err.msg);
    const lps_tensor *out = lps_plan_output(plan, 0);
    ck_assert_int_eq(out->dtype, LPS_DT_FLOAT);
    ck_assert_int_eq(lps_tensor_numel(out), numel);
    float *copy = xcalloc((size_t)numel, sizeof *copy);
    memcpy(copy, lps_tensor_f32(out), (size_t)numel * sizeof *copy);
    lps_exec_ctx_free(ctx);
    lps_plan_free(plan);
    return copy;
}

const float *test_model_init_data(const lps_model *m, const char *name)
{
    const lps_initializer *init = lps_graph_find_initializer(&m->graph, name);
    if (!init)
        ck_abort_msg("no initializer %s", name);
    return lps_tensor_f32(&init->tensor);
}

const lps_op_node *test_plan_fused_node(const lps_plan *p)
{
    for (size_t k = 0; k < p->n_nodes; k++)
        if (p->nodes[k].def->fuses_epilogue)
            return &p->nodes[k].op;
    ck_abort_msg("no node that fuses an activation");
    return NULL;
}
