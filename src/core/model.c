#include "lpsparsify/model.h"

#include <stdlib.h>
#include <string.h>

int64_t lps_model_opset(const lps_model *m, const char *domain)
{
    bool want_default = domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
    for (size_t i = 0; i < m->n_opsets; i++) {
        const char *d = m->opsets[i].domain ? m->opsets[i].domain : "";
        bool is_default = d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
        if (want_default ? is_default : strcmp(d, domain) == 0)
            return m->opsets[i].version;
    }
    return 0;
}

lps_initializer *lps_graph_find_initializer(const lps_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializers; i++)
        if (strcmp(g->initializers[i].name, name) == 0)
            return &g->initializers[i];
    return NULL;
}

const lps_attr *lps_node_attr(const lps_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

void lps_attr_release(lps_attr *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->s);
    lps_tensor_free(a->t);
    free(a->floats);
    free(a->ints);
    for (size_t i = 0; i < a->n_strings; i++)
        free(a->strings[i]);
    free(a->strings);
    free(a->ref_attr_name);
    memset(a, 0, sizeof *a);
}

void lps_node_release(lps_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->op_type);
    free(n->domain);
    for (size_t i = 0; i < n->n_inputs; i++)
        free(n->inputs[i]);
    free(n->inputs);
    for (size_t i = 0; i < n->n_outputs; i++)
        free(n->outputs[i]);
    free(n->outputs);
    for (size_t i = 0; i < n->n_attrs; i++)
        lps_attr_release(&n->attrs[i]);
    free(n->attrs);
    memset(n, 0, sizeof *n);
}

void lps_value_info_release(lps_value_info *v)
{
    if (!v)
        return;
    free(v->name);
    for (int i = 0; i < LPS_MAX_RANK; i++)
        free(v->dims[i].symbol);
    memset(v, 0, sizeof *v);
}

static void release_value_infos(lps_value_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lps_value_info_release(&v[i]);
    free(v);
}

void lps_graph_release(lps_graph *g)
{
    if (!g)
        return;
    free(g->name);
    for (size_t i = 0; i < g->n_nodes; i++)
        lps_node_release(&g->nodes[i]);
    free(g->nodes);
    for (size_t i = 0; i < g->n_initializers; i++) {
        free(g->initializers[i].name);
        lps_tensor_release(&g->initializers[i].tensor);
    }
    free(g->initializers);
    release_value_infos(g->inputs, g->n_inputs);
    release_value_infos(g->outputs, g->n_outputs);
    release_value_infos(g->value_infos, g->n_value_infos);
    memset(g, 0, sizeof *g);
}

void lps_model_free(lps_model *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->dir);
    free(m->producer_name);
    free(m->producer_version);
    for (size_t i = 0; i < m->n_opsets; i++)
        free(m->opsets[i].domain);
    free(m->opsets);
    lps_graph_release(&m->graph);
    if (m->source_free)
        m->source_free(m->source);
    free(m);
}
