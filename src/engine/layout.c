/* Channels-last values (docs/architecture.md, "Channels-last values"): in
 * an inference plan, an intermediate value whose producer can write it
 * channels-last and whose every reader can read it so (each op's def says,
 * lps_op_def.channels_last) is stored [N, spatial..., C] under its usual
 * shape. MobileNet's depthwise convolutions then read and write their
 * tensors without transposing them, and the 1x1 convolutions around them
 * read their input as their im2col matrix and write with no scatter. An
 * element-wise def (lps_op_def.channels_last_elementwise: Add) passes the
 * layout through when all its inputs and its output are stored so, which
 * the plan settles as a whole: the residual joins between MobileNet's 1x1
 * convolutions. Nothing outside the producers and readers ever sees such a
 * value: graph outputs and kept values are never stored so, and keeping a
 * value afterwards (lps_plan_keep_value) stores it channels-first again. */
#include <stdbool.h>

#include "engine/plan.h"

/* Inputs a node may have for its def to be asked; Conv has three. */
#define LAYOUT_MAX_INPUTS 8

/* Whether scheduled node n takes part in layouts at all. */
static bool node_takes_layouts(const lps_plan_node *n)
{
    return !n->absorbed && n->shape_role == LPS_SHAPE_NONE && n->op.n_inputs <= LAYOUT_MAX_INPUTS;
}

/* What scheduled node n can read (input 0) and write (output 0)
 * channels-last on its own: its def's answer from the plan's constants,
 * or neither. */
static void node_layouts(const lps_plan *p, const lps_plan_node *n, bool *reads, bool *writes)
{
    const lps_tensor *in[LAYOUT_MAX_INPUTS] = {NULL};
    *reads = *writes = false;
    if (!n->def->channels_last || !node_takes_layouts(n))
        return;
    for (size_t i = 0; i < n->op.n_inputs; i++)
        if (n->in[i] >= 0 && p->values[n->in[i]].kind == LPS_VALUE_CONST)
            in[i] = &p->values[n->in[i]].t;
    n->def->channels_last(&n->op, in, reads, writes);
}

/* Whether scheduled node n is an element-wise node that passes the layout
 * through (all its inputs and its output 0 channels-last together). */
static bool node_elementwise(const lps_plan_node *n)
{
    return n->def->channels_last_elementwise && node_takes_layouts(n) && n->op.n_outputs >= 1 &&
           n->out[0] >= 0;
}

/* Whether value v has a scheduled reader and every scheduled reader can
 * take it channels-last: reading it as input 0 only, or element-wise. */
static bool readers_take(const lps_plan *p, int v)
{
    size_t readers = 0;
    for (size_t s = 0; s < p->n_schedule; s++) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        bool reads = false, writes = false, reads_v = false, other_slot = false;
        if (n->absorbed)
            continue;
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] == v) {
                other_slot = other_slot || i != 0;
                reads_v = true;
            }
        if (!reads_v)
            continue;
        node_layouts(p, n, &reads, &writes);
        if (!node_elementwise(n) && (!reads || other_slot))
            return false;
        readers++;
    }
    return readers > 0;
}

/* Whether value v is (still) to be stored channels-last. */
static bool value_on(const lps_plan *p, int v) { return v >= 0 && p->values[v].channels_last; }

/* Whether element-wise node n's inputs and output 0 are all to be stored
 * channels-last. */
static bool elementwise_all_on(const lps_plan *p, const lps_plan_node *n)
{
    if (!value_on(p, n->out[0]))
        return false;
    for (size_t i = 0; i < n->op.n_inputs; i++)
        if (!value_on(p, n->in[i]))
            return false;
    return true;
}

/* Takes element-wise nodes' inputs and outputs off channels-last until
 * every such node has all or none of them on: such a node computes in one
 * layout. */
static void settle_elementwise(lps_plan *p)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t s = 0; s < p->n_schedule; s++) {
            const lps_plan_node *n = &p->nodes[p->schedule[s]];
            if (!node_elementwise(n) || elementwise_all_on(p, n))
                continue;
            for (size_t i = 0; i <= n->op.n_inputs; i++) {
                int v = i < n->op.n_inputs ? n->in[i] : n->out[0];
                if (value_on(p, v)) {
                    p->values[v].channels_last = false;
                    changed = true;
                }
            }
        }
    }
}

/* Stores value v, node k's output 0, channels-last. */
static void set_layout(lps_plan *p, int k, int v)
{
    p->nodes[k].op.y_channels_last = true;
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!n->absorbed && n->op.n_inputs > 0 && n->in[0] == v)
            n->op.x_channels_last = true;
    }
    p->n_channels_last++;
}

/* Whether scheduled node n's output 0 may be stored channels-last: it
 * writes it so or passes the layout through. */
static bool node_writes(const lps_plan *p, const lps_plan_node *n)
{
    bool reads = false, writes = false;
    node_layouts(p, n, &reads, &writes);
    return (writes || node_elementwise(n)) && n->op.n_outputs >= 1 && n->out[0] >= 0;
}

/* Lays out the plan with value `excluded` (or -1) kept channels-first:
 * the candidates (TEMP values written by a node that writes them
 * channels-last or passes the layout through, every reader taking them),
 * settled over the element-wise nodes, are stored channels-last. */
static void plan_layouts(lps_plan *p, int excluded)
{
    for (size_t v = 0; v < p->n_values; v++)
        p->values[v].channels_last = false;
    for (size_t s = 0; s < p->n_schedule && !p->training; s++) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!node_writes(p, n))
            continue;
        int v = n->out[0];
        const lps_value *val = &p->values[v];
        p->values[v].channels_last = v != excluded && val->kind == LPS_VALUE_TEMP &&
                                     !val->is_output && !val->shape_derived && readers_take(p, v);
    }
    settle_elementwise(p);
    for (size_t s = 0; s < p->n_schedule; s++) {
        int k = p->schedule[s];
        if (node_writes(p, &p->nodes[k]) && value_on(p, p->nodes[k].out[0]))
            set_layout(p, k, p->nodes[k].out[0]);
    }
}

void lps_plan_channels_last(lps_plan *p) { plan_layouts(p, -1); }

void lps_plan_channels_first(lps_plan *p, int id)
{
    int excluded = -1;
    for (size_t k = 0; k < p->n_nodes; k++) {
        const lps_plan_node *n = &p->nodes[k];
        if (n->op.y_channels_last && (n->out[0] == id || n->pre_out == id))
            excluded = n->out[0];
    }
    if (excluded < 0)
        return;
    /* an element-wise node's other values may have to go with it: lay the
     * plan out again without it */
    for (size_t k = 0; k < p->n_nodes; k++)
        p->nodes[k].op.x_channels_last = p->nodes[k].op.y_channels_last = false;
    p->n_channels_last = 0;
    plan_layouts(p, excluded);
}
