#include "sparsity/prunable.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Conv weights are [M, C/group, k1, ...]: at least one spatial dim. */
#define CONV_MIN_WEIGHT_RANK 3
/* Gemm operands and the MatMul weights we can lay out are matrices. */
#define MATRIX_RANK 2
/* Longest "<op_type>#<index>" label made up for an unnamed node. */
#define NODE_LABEL_MAX 160

/* Where a node takes its weight from, when it has one. */
typedef struct weight_use {
    size_t init_index;
    const char *op_type;
    lps_row_layout layout;
} weight_use;

/* Only ONNX's own Conv/Gemm/MatMul have the weight layouts of section 1. */
static bool is_default_domain(const lps_node *n)
{
    return !n->domain || n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0;
}

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

/* LPS_OK for a float weight, else LPS_ERR_UNSUPPORTED naming node and weight. */
static lps_status check_float(const lps_initializer *init, const char *label,
                              const char *op, lps_error *err)
{
    if (init->tensor.dtype == LPS_DT_FLOAT)
        return LPS_OK;
    return lps_fail(err, LPS_ERR_UNSUPPORTED,
                    "node '%s' (%s): weight '%s' has dtype %s; only float weights are supported",
                    label, op, init->name, lps_dtype_name(init->tensor.dtype));
}

/* Conv input 1, unit-major. Sets *found; fails on an impossible rank or dtype. */
static lps_status conv_weight(const lps_graph *g, const lps_node *n, const char *label,
                              weight_use *use, bool *found, lps_error *err)
{
    const lps_initializer *w = const_input(g, n, 1, &use->init_index);
    if (!w)
        return LPS_OK;
    if (w->tensor.rank < CONV_MIN_WEIGHT_RANK)
        return lps_fail(err, LPS_ERR_INVALID, "node '%s' (Conv): weight '%s' has rank %d, expected >= %d",
                        label, w->name, w->tensor.rank, CONV_MIN_WEIGHT_RANK);
    use->op_type = "Conv";
    use->layout = lps_rows_unit_major(w->tensor.rank, w->tensor.dims);
    *found = true;
    return check_float(w, label, use->op_type, err);
}

/* Gemm input B, laid out by transB. Sets *found; fails on a rank other than
 * 2, a non-integer transB or a non-float weight. */
static lps_status gemm_weight(const lps_graph *g, const lps_node *n, const char *label,
                              weight_use *use, bool *found, lps_error *err)
{
    const lps_initializer *w = const_input(g, n, 1, &use->init_index);
    if (!w)
        return LPS_OK;
    if (w->tensor.rank != MATRIX_RANK)
        return lps_fail(err, LPS_ERR_INVALID, "node '%s' (Gemm): input B '%s' has rank %d, expected 2",
                        label, w->name, w->tensor.rank);
    const lps_attr *trans = lps_node_attr(n, "transB");
    if (trans && trans->type != LPS_ATTR_INT)
        return lps_fail(err, LPS_ERR_INVALID, "node '%s' (Gemm): attribute transB is not an integer", label);
    bool out_in = trans && trans->i != 0;
    use->op_type = "Gemm";
    use->layout = out_in ? lps_rows_unit_major(MATRIX_RANK, w->tensor.dims)
                         : lps_rows_column_major(w->tensor.dims);
    *found = true;
    return check_float(w, label, use->op_type, err);
}

/* A constant B [in, out] feeds output column j; a constant A [M, K] feeds
 * output row m. B is preferred when both are constant. */
static lps_status matmul_weight(const lps_graph *g, const lps_node *n, const char *label,
                                weight_use *use, bool *found, lps_error *err)
{
    size_t slot_b = 1, slot_a = 0;
    const lps_initializer *w = const_input(g, n, slot_b, &use->init_index);
    bool is_b = w && w->tensor.rank >= MATRIX_RANK;
    if (!is_b) {
        w = const_input(g, n, slot_a, &use->init_index);
        if (!w || w->tensor.rank < MATRIX_RANK)
            return LPS_OK;
    }
    if (w->tensor.rank > MATRIX_RANK)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "node '%s' (MatMul): constant operand '%s' has rank %d; only rank-2 weights are supported",
                        label, w->name, w->tensor.rank);
    use->op_type = "MatMul";
    use->layout = is_b ? lps_rows_column_major(w->tensor.dims)
                       : lps_rows_unit_major(MATRIX_RANK, w->tensor.dims);
    *found = true;
    return check_float(w, label, use->op_type, err);
}

/* Decides whether node n takes a prunable weight; *found says if it does. */
static lps_status weight_of_node(const lps_graph *g, const lps_node *n, const char *label,
                                 weight_use *use, bool *found, lps_error *err)
{
    *found = false;
    if (!is_default_domain(n))
        return LPS_OK;
    if (strcmp(n->op_type, "Conv") == 0)
        return conv_weight(g, n, label, use, found, err);
    if (strcmp(n->op_type, "Gemm") == 0)
        return gemm_weight(g, n, label, use, found, err);
    if (strcmp(n->op_type, "MatMul") == 0)
        return matmul_weight(g, n, label, use, found, err);
    return LPS_OK;
}

/* Whether two uses of one weight see the same rows. */
static bool same_layout(const lps_row_layout *a, const lps_row_layout *b)
{
    return a->n_rows == b->n_rows && a->row_len == b->row_len &&
           a->row_stride == b->row_stride && a->elem_stride == b->elem_stride;
}

/* The entry already listed for initializer init_index, or NULL. */
static lps_prunable *find_entry(lps_prunable_list *list, size_t init_index)
{
    for (size_t i = 0; i < list->count; i++)
        if (list->items[i].init_index == init_index)
            return &list->items[i];
    return NULL;
}

/* Appends a new entry for use (at most one per node, so the caller sized
 * list->items for n_nodes entries). */
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
    p->op_type = use->op_type;
    p->n_uses = 1;
    p->rank = init->tensor.rank;
    memcpy(p->dims, init->tensor.dims, sizeof p->dims);
    p->layout = use->layout;
    p->fan_in = use->layout.row_len;
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
    if (!same_layout(&seen->layout, &use->layout))
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "node '%s' (%s): weight '%s' is also used by '%s' (%s) with a different row layout",
                        label, use->op_type, seen->initializer, seen->node, seen->op_type);
    seen->n_uses++;
    return LPS_OK;
}

lps_status lps_prunable_find(const lps_model *m, lps_prunable_list *out, lps_error *err)
{
    const lps_graph *g = &m->graph;
    lps_prunable_list list = {0, NULL};
    lps_status st = LPS_OK;
    out->count = 0;
    out->items = NULL;
    if (g->n_nodes == 0)
        return LPS_OK;
    list.items = calloc(g->n_nodes, sizeof *list.items);
    if (!list.items)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory listing prunable weights");
    for (size_t i = 0; i < g->n_nodes; i++) {
        char label[NODE_LABEL_MAX];
        weight_use use;
        bool found;
        node_label(&g->nodes[i], i, label, sizeof label);
        st = weight_of_node(g, &g->nodes[i], label, &use, &found, err);
        if (st == LPS_OK && found)
            st = record_use(&list, g, &use, i, label, err);
        if (st != LPS_OK)
            goto cleanup;
    }
    *out = list;
    return LPS_OK;
cleanup:
    lps_prunable_list_release(&list);
    return st;
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
