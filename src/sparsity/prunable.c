#include "sparsity/prunable.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/name_map.h"
#include "ops/op.h"
#include "sparsity/weight_view.h"

/* Longest "<op_type>#<index>" label made up for an unnamed node. */
#define NODE_LABEL_MAX 160

/* Where a node takes a weight from. */
typedef struct weight_use {
    size_t init_index;
    const char *op_type;      /* the def's name: static */
    lps_weight_role role;
    int input;                /* the node's input index holding it */
    lps_row_layout layout;
    int64_t taps;             /* positions per input channel of a row */
    bool rows_in_order;       /* row j feeds the node's output unit j */
    size_t bias_index;        /* SIZE_MAX: none */
} weight_use;

/* The node's name, or "<op_type>#<index>" when ONNX left it empty. */
static void node_label(const lps_node *n, size_t index, char *buf, size_t size)
{
    if (n->name && n->name[0])
        snprintf(buf, size, "%s", n->name);
    else
        snprintf(buf, size, "%s#%zu", n->op_type, index);
}

/* The initializer feeding input `slot` of n, or NULL when the input is
 * absent, omitted or computed. *index receives its position. */
static const lps_initializer *const_input(const lps_graph *g, const lps_node *n,
                                          size_t slot, size_t *index)
{
    if (slot >= n->n_inputs || n->inputs[slot][0] == '\0')
        return NULL;
    const lps_initializer *init = lps_graph_find_initializer(g, n->inputs[slot]);
    if (init)
        *index = (size_t)(init - g->initializers);
    return init;
}

/* An int attribute of n, def when absent. LPS_ERR_INVALID naming the node
 * when it has another type. */
static lps_status int_attr(const lps_node *n, const char *label, const char *name, int64_t def,
                           int64_t *out, lps_error *err)
{
    const lps_attr *a = name ? lps_node_attr(n, name) : NULL;
    if (a && a->type != LPS_ATTR_INT)
        return lps_fail(err, LPS_ERR_INVALID, "node '%s' (%s): attribute %s is not an integer",
                        label, n->op_type, name);
    *out = a ? a->i : def;
    return LPS_OK;
}

/* Product of dims[from..rank): the kernel taps behind a row's input-channel
 * axis `from - 1` (1 when that axis is the last). */
static int64_t taps_after(const lps_tensor *w, int from)
{
    int64_t taps = 1;
    for (int i = from; i < w->rank; i++)
        taps *= w->dims[i];
    return taps;
}

/* The row layout of weight w as the def entry describes it (docs/method.md,
 * "Prunable weights and their rows"), and its positions per input channel
 * (*taps: the row's input channel is the first axis after the units). */
static lps_status layout_of(const lps_node *n, const char *label, const lps_op_weight *spec,
                            const lps_tensor *w, lps_row_layout *out, int64_t *taps,
                            lps_error *err)
{
    int64_t transposed = 0, groups = 1;
    *taps = 1;
    lps_status st = int_attr(n, label, spec->transpose_attr, 0, &transposed, err);
    if (st != LPS_OK)
        return st;
    lps_weight_rows rows = spec->rows;
    if (transposed)
        rows = rows == LPS_ROWS_UNITS_LAST ? LPS_ROWS_UNITS_FIRST : LPS_ROWS_UNITS_LAST;
    int unit_axes = transposed ? 1 : spec->unit_axes;
    switch (rows) {
    case LPS_ROWS_UNITS_FIRST:
        *out = lps_rows_leading(w->rank, w->dims, unit_axes);
        *taps = taps_after(w, unit_axes + 1);
        return LPS_OK;
    case LPS_ROWS_UNITS_LAST:
        *out = lps_rows_trailing(w->rank, w->dims);
        *taps = 1;
        return LPS_OK;
    case LPS_ROWS_FANIN_LAST:
        *out = lps_rows_leading(w->rank, w->dims, w->rank - 1);
        *taps = 1;
        return LPS_OK;
    case LPS_ROWS_UNITS_SECOND_GROUPED:
        st = int_attr(n, label, spec->group_attr, 1, &groups, err);
        if (st == LPS_OK && (groups < 1 || w->dims[0] % groups != 0))
            st = lps_fail(err, LPS_ERR_INVALID,
                          "node '%s' (%s): group %lld does not divide the %lld channels of '%s'",
                          label, n->op_type, (long long)groups, (long long)w->dims[0],
                          n->inputs[spec->input]);
        if (st == LPS_OK)
            *out = lps_rows_second_grouped(w->rank, w->dims, groups);
        *taps = taps_after(w, 2);
        return st;
    }
    return lps_fail(err, LPS_ERR_RUNTIME, "node '%s' (%s): unknown weight row form %d", label,
                    n->op_type, (int)rows);
}

/* Fails on a weight of rank above the entry's maximum. */
static lps_status check_rank(const char *label, const lps_op_def *def, const lps_op_weight *spec,
                             const char *name, int rank, lps_error *err)
{
    if (rank > spec->max_rank)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "node '%s' (%s): weight '%s' has rank %d; at most %d is supported",
                        label, def->name, name, rank, spec->max_rank);
    return LPS_OK;
}

/* The uses of the initializers behind the computed weight input of n
 * (docs/method.md, "Weights behind views"): none when the input is no
 * view of initializers or its rows are no rows of them. */
static lps_status view_uses(lps_view_tracer *tracer, const lps_node *n, const char *label,
                            const lps_op_def *def, const lps_op_weight *spec, weight_use *uses,
                            size_t *n_uses, lps_error *err)
{
    lps_tensor traced;
    lps_row_layout rows;
    int64_t taps;
    lps_view_source src[LPS_VIEW_MAX_SOURCES];
    bool found, ok = false;
    size_t n_src = 0;
    const char *name = n->inputs[spec->input];
    lps_status st = lps_view_trace(tracer, name, &traced, &found, err);
    if (st != LPS_OK || !found || traced.rank < spec->min_rank)
        goto cleanup;
    st = check_rank(label, def, spec, name, traced.rank, err);
    if (st == LPS_OK)
        st = layout_of(n, label, spec, &traced, &rows, &taps, err);
    if (st == LPS_OK)
        st = lps_view_split_rows(tracer, &traced, &rows, label, src, &n_src, &ok, err);
    for (size_t k = 0; st == LPS_OK && ok && k < n_src; k++) {
        weight_use *u = &uses[(*n_uses)++];
        u->init_index = src[k].init_index;
        u->op_type = def->name;
        u->role = spec->role;
        u->layout = src[k].layout;
        u->taps = src[k].taps;
        u->rows_in_order = src[k].rows_in_order;
        u->input = -1; /* behind a view: not the node's input itself */
        u->bias_index = SIZE_MAX; /* a view's bias is not a per-row vector of the initializer */
    }
cleanup:
    lps_tensor_release(&traced);
    return st;
}

/* Appends to uses[] the weights the def entry finds at node n: its
 * initializer, or those behind views. Fails on a rank above the entry's
 * maximum or a non-float initializer. */
static lps_status entry_uses(const lps_graph *g, lps_view_tracer *tracer, const lps_node *n,
                             const char *label, const lps_op_def *def, const lps_op_weight *spec,
                             weight_use *uses, size_t *n_uses, lps_error *err)
{
    size_t index;
    if ((size_t)spec->input >= n->n_inputs || !n->inputs[spec->input][0])
        return LPS_OK;
    const lps_initializer *w = const_input(g, n, (size_t)spec->input, &index);
    if (!w)
        return view_uses(tracer, n, label, def, spec, uses, n_uses, err);
    if (w->tensor.rank < spec->min_rank)
        return LPS_OK;
    if (w->tensor.dtype != LPS_DT_FLOAT && spec->role == LPS_WEIGHT_EMBEDDING)
        return LPS_OK; /* a Gather over an index table */
    lps_status st = check_rank(label, def, spec, w->name, w->tensor.rank, err);
    if (st != LPS_OK)
        return st;
    if (w->tensor.dtype != LPS_DT_FLOAT)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "node '%s' (%s): weight '%s' has dtype %s; only float weights are supported",
                        label, def->name, w->name, lps_dtype_name(w->tensor.dtype));
    weight_use *u = &uses[(*n_uses)++];
    u->init_index = index;
    u->op_type = def->name;
    u->role = spec->role;
    u->rows_in_order = true;
    u->input = spec->input;
    st = layout_of(n, label, spec, &w->tensor, &u->layout, &u->taps, err);
    size_t b_index;
    const lps_initializer *b =
        spec->bias_input > 0 ? const_input(g, n, (size_t)spec->bias_input, &b_index) : NULL;
    u->bias_index = b && b->tensor.dtype == LPS_DT_FLOAT && b->tensor.rank == 1 &&
                            b->tensor.dims[0] == u->layout.n_rows
                        ? b_index
                        : SIZE_MAX;
    return st;
}

/* The entry already listed for initializer init_index, or NULL. */
static lps_prunable *find_entry(lps_prunable_list *list, size_t init_index)
{
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].init_index == init_index)
            return &list->items[i];
    return NULL;
}

/* Appends a new entry for use (one per initializer at most, so the caller
 * sized list->items for every initializer). */
static lps_status add_entry(lps_prunable_list *list, const lps_graph *g, const weight_use *use,
                            size_t node_index, const char *label, lps_error *err)
{
    const lps_initializer *init = &g->initializers[use->init_index];
    lps_prunable *p = &list->items[list->count];
    memset(p, 0, sizeof *p);
    p->initializer = strdup(init->name);
    p->node = strdup(label);
    if (!p->initializer || !p->node) {
        free(p->initializer);
        free(p->node);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory listing prunable weights");
    }
    p->init_index = use->init_index;
    p->node_index = node_index;
    p->input = use->input;
    p->op_type = use->op_type;
    p->role = use->role;
    p->excluded = use->role != LPS_WEIGHT_LAYER;
    p->n_uses = 1;
    p->rank = init->tensor.rank;
    memcpy(p->dims, init->tensor.dims, sizeof p->dims);
    p->layout = use->layout;
    p->rows_in_order = use->rows_in_order;
    p->fan_in = use->layout.row_len;
    p->taps = use->taps;
    p->bias_index = use->bias_index;
    list->count++;
    return LPS_OK;
}

/* Records node i's weight: a new entry, or one more use of a shared one. */
static lps_status record_use(lps_prunable_list *list, const lps_graph *g, const weight_use *use,
                             size_t node_index, const char *label, lps_error *err)
{
    lps_prunable *seen = find_entry(list, use->init_index);
    if (!seen)
        return add_entry(list, g, use, node_index, label, err);
    if (!lps_rows_equal(&seen->layout, &use->layout))
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "node '%s' (%s): weight '%s' is also used by '%s' (%s) with a different row layout",
                        label, use->op_type, seen->initializer, seen->node, seen->op_type);
    seen->n_uses++;
    /* a table that is also a layer's weight (tied embeddings) is a layer */
    if (use->role == LPS_WEIGHT_LAYER) {
        seen->role = LPS_WEIGHT_LAYER;
        seen->excluded = false;
    }
    return LPS_OK;
}

/* Records every weight node i takes, by its def's weights[] entries. A
 * node without a def (unsupported, custom domain) has no weights here;
 * compiling it is what reports it. */
static lps_status node_weights(lps_prunable_list *list, const lps_graph *g,
                               lps_view_tracer *tracer, int64_t opset, size_t i, lps_error *err)
{
    const lps_node *n = &g->nodes[i];
    const lps_op_def *def = lps_op_find(n->domain, n->op_type, opset);
    char label[NODE_LABEL_MAX];
    bool matched = false;
    node_label(n, i, label, sizeof label);
    for (int k = 0; def && k < LPS_OP_MAX_WEIGHTS && def->weights[k].role; k++) {
        const lps_op_weight *spec = &def->weights[k];
        weight_use uses[LPS_VIEW_MAX_SOURCES];
        size_t n_uses = 0;
        if (spec->fallback && matched)
            continue;
        lps_status st = entry_uses(g, tracer, n, label, def, spec, uses, &n_uses, err);
        for (size_t u = 0; st == LPS_OK && u < n_uses; u++)
            st = record_use(list, g, &uses[u], i, label, err);
        if (st != LPS_OK)
            return st;
        matched = matched || n_uses > 0;
    }
    return LPS_OK;
}

/* The default-domain opset whose defs describe m's nodes. inspect lists the
 * weights of models the engine cannot run (libonnx's opset-6 PyTorch
 * exports). Declared weight inputs and rows do not change between opsets,
 * so the nearest supported opset's defs apply; compiling such a model
 * still fails, naming the opset. */
static int64_t defs_opset(const lps_model *m)
{
    int64_t opset = lps_model_opset(m, "");
    return opset < LPS_OPSET_MIN ? LPS_OPSET_MIN : opset > LPS_OPSET_MAX ? LPS_OPSET_MAX : opset;
}

lps_status lps_prunable_find(const lps_model *m, lps_prunable_list *out, lps_error *err)
{
    const lps_graph *g = &m->graph;
    lps_prunable_list list = {0, NULL};
    lps_status st = LPS_OK;
    int64_t opset = defs_opset(m);
    out->count = 0;
    out->items = NULL;
    if (g->n_nodes == 0)
        return LPS_OK;
    list.items = calloc(g->n_initializers + 1, sizeof *list.items);
    lps_view_tracer *tracer = list.items ? lps_view_tracer_new(g, opset, err) : NULL;
    if (!tracer) {
        free(list.items);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory listing prunable weights");
    }
    for (size_t i = 0; i < g->n_nodes && st == LPS_OK; i++)
        st = node_weights(&list, g, tracer, opset, i, err);
    lps_view_tracer_free(tracer);
    if (st == LPS_OK) {
        *out = list;
        return LPS_OK;
    }
    lps_prunable_list_release(&list);
    return st;
}

lps_status lps_trainable_params(const lps_model *m, int64_t *params, lps_error *err)
{
    const lps_graph *g = &m->graph;
    int64_t opset = defs_opset(m);
    *params = 0;
    bool *trained = calloc(g->n_initializers + 1, sizeof *trained);
    if (!trained)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory counting parameters");
    for (size_t k = 0; k < g->n_nodes; k++) {
        const lps_node *n = &g->nodes[k];
        const lps_op_def *def = lps_op_find(n->domain, n->op_type, opset);
        for (size_t i = 0; def && i < n->n_inputs; i++) {
            size_t index;
            const lps_initializer *init = const_input(g, n, i, &index);
            if (init && init->tensor.dtype == LPS_DT_FLOAT && lps_op_input_differentiable(def, i))
                trained[index] = true;
        }
    }
    for (size_t i = 0; i < g->n_initializers; i++)
        if (trained[i])
            *params += lps_tensor_numel(&g->initializers[i].tensor);
    free(trained);
    return LPS_OK;
}

void lps_prunable_list_release(lps_prunable_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].initializer);
        free(list->items[i].node);
    }
    free(list->items);
    list->count = 0;
    list->items = NULL;
}

bool lps_prunable_reaches_output(const lps_graph *g, const char *name)
{
    for (size_t o = 0; o < g->n_outputs; o++)
        if (strcmp(g->outputs[o].name, name) == 0)
            return true;
    for (size_t k = 0; k < g->n_nodes; k++) {
        const lps_node *n = &g->nodes[k];
        bool reads = false;
        for (size_t i = 0; i < n->n_inputs && !reads; i++)
            reads = strcmp(n->inputs[i], name) == 0;
        for (size_t j = 0; reads && j < n->n_outputs; j++)
            for (size_t o = 0; o < g->n_outputs; o++)
                if (strcmp(g->outputs[o].name, n->outputs[j]) == 0)
                    return true;
    }
    return false;
}

/* Whether node n reads one of the list's weights. */
static bool holds_listed_weight(const lps_node *n, const lps_prunable_list *list)
{
    for (size_t i = 0; i < n->n_inputs; i++)
        for (size_t w = 0; w < list->count; w++)
            if (strcmp(n->inputs[i], list->items[w].initializer) == 0)
                return true;
    return false;
}

/* Whether node n reads an output of a node marked in `reached`; producer
 * maps each node output's name to its node. */
static bool reads_reached(const lps_node *n, const lps_name_map *producer, const bool *reached)
{
    for (size_t i = 0; i < n->n_inputs; i++) {
        int from = n->inputs[i][0] ? lps_name_map_get(producer, n->inputs[i]) : -1;
        if (from >= 0 && reached[from])
            return true;
    }
    return false;
}

/* Whether a graph output depends on node `start` through nodes that hold no
 * listed weight (layer); at_output marks the nodes writing a graph output,
 * `reached` is scratch of g->n_nodes flags. Passes until no node is added,
 * as graph.nodes need not be in topological order. */
static bool is_head(const lps_graph *g, const bool *layer, const bool *at_output,
                    const lps_name_map *producer, size_t start, bool *reached)
{
    memset(reached, 0, g->n_nodes * sizeof *reached);
    reached[start] = true;
    if (at_output[start])
        return true;
    for (bool added = true; added;) {
        added = false;
        for (size_t k = 0; k < g->n_nodes; k++)
            if (!reached[k] && !layer[k] && reads_reached(&g->nodes[k], producer, reached)) {
                if (at_output[k])
                    return true;
                reached[k] = added = true;
            }
    }
    return false;
}

/* Fills producer (node output name -> node; the compiled plan has refused
 * a name written twice) and at_output (the node writes a graph output). */
static lps_status index_outputs(const lps_graph *g, lps_name_map *producer, bool *at_output,
                                lps_error *err)
{
    lps_status st = lps_name_map_init(producer, g->n_nodes, err);
    for (size_t k = 0; st == LPS_OK && k < g->n_nodes; k++)
        for (size_t j = 0; st == LPS_OK && j < g->nodes[k].n_outputs; j++) {
            const char *name = g->nodes[k].outputs[j];
            if (!name[0])
                continue;
            st = lps_name_map_put(producer, name, (int)k, err);
            for (size_t o = 0; o < g->n_outputs; o++)
                at_output[k] = at_output[k] || strcmp(g->outputs[o].name, name) == 0;
        }
    return st;
}

lps_status lps_prunable_heads(const lps_graph *g, const lps_prunable_list *list, bool *head,
                              lps_error *err)
{
    lps_status st = LPS_OK;
    lps_name_map producer = {0};
    bool *layer = calloc(g->n_nodes + 1, sizeof *layer);
    bool *at_output = calloc(g->n_nodes + 1, sizeof *at_output);
    bool *reached = calloc(g->n_nodes + 1, sizeof *reached);
    if (!layer || !at_output || !reached) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory finding the output layers");
        goto cleanup;
    }
    if ((st = index_outputs(g, &producer, at_output, err)) != LPS_OK)
        goto cleanup;
    for (size_t k = 0; k < g->n_nodes; k++)
        layer[k] = holds_listed_weight(&g->nodes[k], list);
    for (size_t w = 0; w < list->count; w++)
        head[w] = is_head(g, layer, at_output, &producer, list->items[w].node_index, reached);
cleanup:
    lps_name_map_release(&producer);
    free(layer);
    free(at_output);
    free(reached);
    return st;
}
