/* Graph compile: value table, Kahn topological order, operator binding,
 * constant folding, parameter discovery and the flat parameter buffers. */
#include <stdlib.h>
#include <string.h>

#include "engine/plan.h"


static lps_status add_value(lps_plan *p, const char *name, lps_value_kind kind, int producer,
                            int *id, lps_error *err)
{
    int v = (int)p->n_values;
    lps_status st = lps_name_map_put(&p->names, name, v, err);
    if (st != LPS_OK)
        return st;
    lps_value *val = &p->values[p->n_values++];
    memset(val, 0, sizeof *val);
    val->name = name;
    val->kind = kind;
    val->producer = producer;
    val->last_reader = -1;
    val->initializer = -1;
    *id = v;
    return LPS_OK;
}

static lps_status build_values(lps_plan *p, lps_error *err)
{
    const lps_graph *g = &p->model->graph;
    size_t max_values = g->n_initializers + g->n_inputs;
    for (size_t i = 0; i < g->n_nodes; i++)
        max_values += g->nodes[i].n_outputs;
    p->values = calloc(max_values ? max_values : 1, sizeof *p->values);
    p->input_values = calloc(g->n_inputs ? g->n_inputs : 1, sizeof *p->input_values);
    p->input_infos = calloc(g->n_inputs ? g->n_inputs : 1, sizeof *p->input_infos);
    if (!p->values || !p->input_values || !p->input_infos)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for %zu values", max_values);
    lps_status st = lps_name_map_init(&p->names, max_values, err);
    if (st != LPS_OK)
        return st;
    int id;
    for (size_t i = 0; i < g->n_initializers; i++) {
        st = add_value(p, g->initializers[i].name, LPS_VALUE_CONST, -1, &id, err);
        if (st != LPS_OK)
            return lps_fail(err, LPS_ERR_INVALID, "initializer '%s' is defined twice",
                            g->initializers[i].name);
        p->values[id].t = g->initializers[i].tensor;
        p->values[id].t.owns_data = false;
        p->values[id].initializer = (int)i;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        if (lps_name_map_get(&p->names, g->inputs[i].name) >= 0)
            continue; /* an input with an initializer is a constant (IR < 4 style) */
        if (g->inputs[i].dtype == LPS_DT_UNDEFINED)
            return lps_fail(err, LPS_ERR_UNSUPPORTED,
                            "graph input '%s' is not a tensor (sequence, map and optional types "
                            "are not supported)", g->inputs[i].name);
        st = add_value(p, g->inputs[i].name, LPS_VALUE_INPUT, -1, &id, err);
        if (st != LPS_OK)
            return lps_fail(err, LPS_ERR_INVALID, "graph input '%s' is declared twice",
                            g->inputs[i].name);
        p->input_values[p->n_inputs] = id;
        p->input_infos[p->n_inputs++] = &g->inputs[i];
    }
    for (size_t k = 0; k < g->n_nodes; k++) {
        const lps_node *nd = &g->nodes[k];
        lps_plan_node *n = &p->nodes[k];
        n->in = calloc(nd->n_inputs + 1, sizeof *n->in);
        n->out = calloc(nd->n_outputs + 1, sizeof *n->out);
        if (!n->in || !n->out)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for node %zu", k);
        for (size_t j = 0; j < nd->n_outputs; j++) {
            n->out[j] = -1;
            if (nd->outputs[j][0] == '\0')
                continue;
            st = add_value(p, nd->outputs[j], LPS_VALUE_TEMP, (int)k, &n->out[j], err);
            if (st != LPS_OK)
                return lps_fail(err, LPS_ERR_INVALID,
                                "node '%s' (%s): output '%s' is already defined elsewhere",
                                nd->name ? nd->name : "", nd->op_type, nd->outputs[j]);
        }
    }
    for (size_t k = 0; k < g->n_nodes; k++) {
        const lps_node *nd = &g->nodes[k];
        for (size_t i = 0; i < nd->n_inputs; i++) {
            p->nodes[k].in[i] = -1;
            if (nd->inputs[i][0] == '\0')
                continue;
            int v = lps_name_map_get(&p->names, nd->inputs[i]);
            if (v < 0)
                return lps_fail(err, LPS_ERR_INVALID,
                                "node '%s' (%s): input '%s' is not produced by any node, graph "
                                "input or initializer",
                                nd->name ? nd->name : "", nd->op_type, nd->inputs[i]);
            p->nodes[k].in[i] = v;
        }
    }
    p->output_values = calloc(g->n_outputs ? g->n_outputs : 1, sizeof *p->output_values);
    if (!p->output_values)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for graph outputs");
    for (size_t i = 0; i < g->n_outputs; i++) {
        int v = lps_name_map_get(&p->names, g->outputs[i].name);
        if (v < 0)
            return lps_fail(err, LPS_ERR_INVALID, "graph output '%s' is not produced by any node",
                            g->outputs[i].name);
        p->values[v].is_output = true;
        p->output_values[p->n_outputs++] = v;
    }
    return LPS_OK;
}

/* Kahn's algorithm over node -> node edges through values. */
static lps_status topo_sort(lps_plan *p, lps_error *err)
{
    const lps_graph *g = &p->model->graph;
    lps_status st = LPS_OK;
    size_t n = g->n_nodes;
    int *indegree = calloc(n + 1, sizeof *indegree);
    size_t *first = calloc(p->n_values + 1, sizeof *first); /* CSR of value -> readers */
    int *readers = NULL;
    size_t n_edges = 0;
    p->schedule = calloc(n + 1, sizeof *p->schedule);
    if (!indegree || !first || !p->schedule) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory sorting %zu nodes", n);
        goto cleanup;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < g->nodes[k].n_inputs; i++) {
            int v = p->nodes[k].in[i];
            if (v >= 0 && p->values[v].producer >= 0) {
                indegree[k]++;
                first[v + 1]++;
                n_edges++;
            }
        }
    for (size_t v = 0; v < p->n_values; v++)
        first[v + 1] += first[v];
    readers = calloc(n_edges + 1, sizeof *readers);
    size_t *fill = calloc(p->n_values + 1, sizeof *fill);
    if (!readers || !fill) {
        free(fill);
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory sorting %zu nodes", n);
        goto cleanup;
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < g->nodes[k].n_inputs; i++) {
            int v = p->nodes[k].in[i];
            if (v >= 0 && p->values[v].producer >= 0)
                readers[first[v] + fill[v]++] = (int)k;
        }
    free(fill);
    /* The schedule array doubles as the FIFO queue; ready nodes keep graph order. */
    size_t head = 0, tail = 0;
    for (size_t k = 0; k < n; k++)
        if (indegree[k] == 0)
            p->schedule[tail++] = (int)k;
    while (head < tail) {
        int k = p->schedule[head++];
        for (size_t j = 0; j < g->nodes[k].n_outputs; j++) {
            int v = p->nodes[k].out[j];
            if (v < 0)
                continue;
            for (size_t e = first[v]; e < first[v + 1]; e++)
                if (--indegree[readers[e]] == 0)
                    p->schedule[tail++] = readers[e];
        }
    }
    if (tail < n) {
        for (size_t k = 0; k < n; k++)
            if (indegree[k] > 0) {
                const lps_node *nd = &g->nodes[k];
                st = lps_fail(err, LPS_ERR_INVALID,
                              "node '%s' (%s): the graph has a cycle through this node",
                              nd->name ? nd->name : "", nd->op_type);
                break;
            }
        goto cleanup;
    }
    p->n_schedule = tail;
cleanup:
    free(indegree);
    free(first);
    free(readers);
    return st;
}

static lps_status bind_ops(lps_plan *p, lps_error *err)
{
    const lps_graph *g = &p->model->graph;
    int64_t opset = lps_model_opset(p->model, "");
    for (size_t k = 0; k < g->n_nodes; k++) {
        lps_plan_node *n = &p->nodes[k];
        const lps_node *nd = &g->nodes[k];
        lps_status st = lps_op_node_init(&n->op, nd, k, opset, err);
        if (st != LPS_OK)
            return st;
        n->def = lps_op_get(n->op.kind);
        n->in_t = calloc(nd->n_inputs + 1, sizeof *n->in_t);
        n->din_t = calloc(nd->n_inputs + 1, sizeof *n->din_t);
        n->out_t = calloc(nd->n_outputs + 1, sizeof *n->out_t);
        n->dout_t = calloc(nd->n_outputs + 1, sizeof *n->dout_t);
        n->unused_out = calloc(nd->n_outputs + 1, sizeof *n->unused_out);
        n->seen = calloc(nd->n_outputs + 1, sizeof *n->seen);
        if (!n->in_t || !n->din_t || !n->out_t || !n->dout_t || !n->unused_out || !n->seen)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for %s", n->op.label);
    }
    return LPS_OK;
}

/* In training mode a float initializer that feeds a differentiable input of
 * any node is a trainable parameter. */
static void mark_params(lps_plan *p)
{
    for (size_t k = 0; k < p->n_nodes; k++) {
        lps_plan_node *n = &p->nodes[k];
        for (size_t i = 0; i < n->op.n_inputs; i++) {
            int v = n->in[i];
            if (v < 0 || !lps_op_input_differentiable(n->def, i))
                continue;
            lps_value *val = &p->values[v];
            if (val->kind == LPS_VALUE_CONST && val->initializer >= 0 &&
                val->t.dtype == LPS_DT_FLOAT)
                val->kind = LPS_VALUE_PARAM;
        }
    }
}

/* Inference plans tell each node which inputs are constants
 * (lps_op_node.const_inputs; docs/architecture.md, "Constant-input
 * caches"). A training plan marks none: its parameters change every step
 * and BatchNorm's statistics are updated in place. */
static void mark_const_inputs(lps_plan *p)
{
    enum { MASK_BITS = 32 };
    for (size_t k = 0; k < p->n_nodes && !p->training; k++) {
        lps_plan_node *n = &p->nodes[k];
        for (size_t i = 0; i < n->op.n_inputs && i < MASK_BITS; i++)
            if (n->in[i] >= 0 && p->values[n->in[i]].kind == LPS_VALUE_CONST)
                n->op.const_inputs |= 1u << i;
    }
}

static lps_status fold_constants(lps_plan *p, lps_error *err)
{
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, err);
    lps_status st = ctx ? LPS_OK : LPS_ERR_NOMEM;
    size_t kept = 0;
    for (size_t s = 0; s < p->n_schedule && st == LPS_OK; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        bool constant = !n->def->stochastic;
        for (size_t i = 0; i < n->op.n_inputs && constant; i++)
            if (n->in[i] >= 0 && p->values[n->in[i]].kind != LPS_VALUE_CONST)
                constant = false;
        if (!constant) {
            p->schedule[kept++] = p->schedule[s];
            continue;
        }
        st = lps_plan_run_node(p, n, ctx, err);
        if (st != LPS_OK)
            break;
        for (size_t j = 0; j < n->op.n_outputs; j++)
            if (n->out[j] >= 0)
                p->values[n->out[j]].kind = LPS_VALUE_CONST;
        n->folded = true;
        p->n_folded++;
    }
    p->n_schedule = kept;
    lps_exec_ctx_free(ctx);
    return st;
}

/* Shape folding (docs/architecture.md): a shape_only node on a runtime
 * tensor is a source; a scheduled node whose inputs are all constants or
 * shape-derived depends on the sources only, so its outputs can be kept
 * from the last forward while the sources' outputs stay the same.
 * Stochastic nodes are neither. */
static void mark_shape_nodes(lps_plan *p)
{
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (n->def->stochastic)
            continue;
        bool derived = true;
        for (size_t i = 0; i < n->op.n_inputs && derived; i++) {
            const lps_value *v = n->in[i] >= 0 ? &p->values[n->in[i]] : NULL;
            derived = !v || v->kind == LPS_VALUE_CONST || v->shape_derived;
        }
        if (n->def->shape_only)
            n->shape_role = LPS_SHAPE_SOURCE;
        else if (derived) {
            n->shape_role = LPS_SHAPE_DEPENDENT;
            p->n_shape_cached++;
        } else
            continue;
        for (size_t j = 0; j < n->op.n_outputs; j++)
            if (n->out[j] >= 0)
                p->values[n->out[j]].shape_derived = true;
    }
}

void lps_plan_liveness(lps_plan *p)
{
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] >= 0)
                p->values[n->in[i]].last_reader = (int)s;
        /* an absorbed activation's output is its producer's */
        if (!p->training || n->absorbed)
            continue;
        bool grad = false;
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] >= 0 && lps_op_input_differentiable(n->def, i) &&
                p->values[n->in[i]].needs_grad)
                grad = true;
        for (size_t j = 0; j < n->op.n_outputs; j++)
            if (n->out[j] >= 0)
                p->values[n->out[j]].needs_grad = grad;
    }
    /* A view (aliases_input, docs/architecture.md "Views") reads its
     * input's storage until its own last reader: backwards, so chains of
     * views pass the extension on. */
    for (size_t s = p->n_schedule; s-- > 0;) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!n->def->aliases_input || n->absorbed || n->op.n_outputs != 1 || n->out[0] < 0 ||
            n->in[0] < 0)
            continue;
        lps_value *src = &p->values[n->in[0]];
        int until = p->values[n->out[0]].last_reader;
        if (until > src->last_reader)
            src->last_reader = until;
    }
}

static lps_status build_params(lps_plan *p, lps_error *err)
{
    size_t total = 0;
    for (size_t v = 0; v < p->n_values; v++)
        if (p->values[v].kind == LPS_VALUE_PARAM) {
            p->n_params++;
            total += (size_t)lps_tensor_numel(&p->values[v].t);
        }
    p->params = calloc(p->n_params + 1, sizeof *p->params);
    p->param_views = calloc(2 * p->n_params + 1, sizeof *p->param_views);
    p->param_data = calloc(total + 1, sizeof(float));
    p->grad_data = calloc(total + 1, sizeof(float));
    if (!p->params || !p->param_views || !p->param_data || !p->grad_data)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for %zu parameters", total);
    p->param_floats = total;
    size_t offset = 0, k = 0;
    for (size_t v = 0; v < p->n_values; v++) {
        lps_value *val = &p->values[v];
        if (val->kind != LPS_VALUE_PARAM)
            continue;
        size_t numel = (size_t)lps_tensor_numel(&val->t);
        lps_param *prm = &p->params[k];
        prm->name = val->name;
        prm->initializer = (size_t)val->initializer;
        prm->offset = offset;
        prm->numel = numel;
        if (numel)
            memcpy(p->param_data + offset, val->t.data, numel * sizeof(float));
        val->t.data = p->param_data + offset;
        val->t.owns_data = false;
        val->grad = val->t;
        val->grad.data = p->grad_data + offset;
        val->needs_grad = true;
        p->param_views[k] = val->t;
        p->param_views[p->n_params + k] = val->grad;
        prm->value = &p->param_views[k];
        prm->grad = &p->param_views[p->n_params + k];
        offset += numel;
        k++;
    }
    return LPS_OK;
}

lps_plan *lps_plan_compile(const lps_model *m, const lps_plan_options *opt, lps_error *err)
{
    lps_plan *p = calloc(1, sizeof *p);
    if (!p) {
        lps_fail(err, LPS_ERR_NOMEM, "out of memory for a plan");
        return NULL;
    }
    p->model = m;
    p->training = opt && opt->training;
    p->n_nodes = m->graph.n_nodes;
    p->nodes = calloc(p->n_nodes + 1, sizeof *p->nodes);
    lps_status st = p->nodes ? LPS_OK : lps_fail(err, LPS_ERR_NOMEM, "out of memory for nodes");
    if (st == LPS_OK)
        st = build_values(p, err);
    if (st == LPS_OK)
        st = topo_sort(p, err);
    if (st == LPS_OK)
        st = bind_ops(p, err);
    if (st == LPS_OK && p->training)
        mark_params(p);
    if (st == LPS_OK)
        st = fold_constants(p, err);
    if (st == LPS_OK && p->training)
        st = build_params(p, err);
    if (st == LPS_OK) {
        mark_shape_nodes(p);
        st = lps_plan_fuse_activations(p, err);
    }
    if (st == LPS_OK) {
        mark_const_inputs(p);
        lps_plan_channels_last(p);
        lps_plan_liveness(p);
    }
    if (st != LPS_OK) {
        /* The user needs to know which file is at fault, not only the node. */
        if (m->path)
            lps_error_prefix(err, "%s", m->path);
        lps_plan_free(p);
        return NULL;
    }
    return p;
}

void lps_plan_free(lps_plan *p)
{
    if (!p)
        return;
    lps_plan_release_runtime(p);
    for (size_t k = 0; k < p->n_nodes; k++) {
        lps_plan_node *n = &p->nodes[k];
        lps_op_node_release(&n->op);
        free(n->in);
        free(n->out);
        free(n->in_t);
        free(n->out_t);
        free(n->dout_t);
        free(n->din_t);
        free(n->unused_out);
        free(n->seen);
    }
    free(p->nodes);
    free(p->values);
    lps_name_map_release(&p->names);
    free(p->schedule);
    free(p->input_values);
    free(p->input_infos);
    free(p->output_values);
    free(p->symbols);
    free(p->params);
    free(p->param_views);
    free(p->param_data);
    free(p->grad_data);
    free(p);
}

size_t lps_plan_n_folded(const lps_plan *p) { return p->n_folded; }
size_t lps_plan_n_fused(const lps_plan *p) { return p->n_fused; }
size_t lps_plan_n_channels_last(const lps_plan *p) { return p->n_channels_last; }
size_t lps_plan_n_scheduled(const lps_plan *p) { return p->n_schedule; }
size_t lps_plan_n_shape_cached(const lps_plan *p) { return p->n_shape_cached; }
size_t lps_plan_n_last_run(const lps_plan *p) { return p->n_last_run; }
