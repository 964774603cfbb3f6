/* Channels-last values (docs/architecture.md, "Channels-last values"): in
 * an inference plan, an intermediate value whose producer can write it
 * channels-last and whose every reader can read it so (each op's def says,
 * lps_op_def.channels_last) is stored [N, spatial..., C] under its usual
 * shape. MobileNet's depthwise convolutions then read and write their
 * tensors without transposing them, and the 1x1 convolutions around them
 * read their input as their im2col matrix and write with no scatter.
 * Nothing outside the producer and its readers ever sees such a value:
 * graph outputs and kept values are never stored so, and keeping a value
 * afterwards (lps_plan_keep_value) stores it channels-first again. */
#include <stdbool.h>

#include "engine/plan.h"

/* Inputs a node may have for its def to be asked; Conv has three. */
#define LAYOUT_MAX_INPUTS 8

/* What scheduled node n can read and write channels-last: its def's
 * answer from the plan's constants, or neither. */
static void node_layouts(const lps_plan *p, const lps_plan_node *n, bool *reads, bool *writes)
{
    const lps_tensor *in[LAYOUT_MAX_INPUTS] = {NULL};
    *reads = *writes = false;
    if (!n->def->channels_last || n->absorbed || n->shape_role != LPS_SHAPE_NONE ||
        n->op.n_inputs > LAYOUT_MAX_INPUTS)
        return;
    for (size_t i = 0; i < n->op.n_inputs; i++)
        if (n->in[i] >= 0 && p->values[n->in[i]].kind == LPS_VALUE_CONST)
            in[i] = &p->values[n->in[i]].t;
    n->def->channels_last(&n->op, in, reads, writes);
}

/* Whether value v has a scheduled reader and every scheduled reader reads
 * it as input 0 only and can read it channels-last. */
static bool readers_take(const lps_plan *p, int v)
{
    size_t readers = 0;
    for (size_t s = 0; s < p->n_schedule; s++) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        bool reads = false, writes = false, reads_v = false;
        if (n->absorbed)
            continue;
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] == v) {
                if (i != 0)
                    return false;
                reads_v = true;
            }
        if (!reads_v)
            continue;
        node_layouts(p, n, &reads, &writes);
        if (!reads)
            return false;
        readers++;
    }
    return readers > 0;
}

/* Stores value v, node k's output 0, channels-last (on) or not. */
static void set_layout(lps_plan *p, int k, int v, bool on)
{
    p->nodes[k].op.y_channels_last = on;
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!n->absorbed && n->op.n_inputs > 0 && n->in[0] == v)
            n->op.x_channels_last = on;
    }
    if (on)
        p->n_channels_last++;
    else
        p->n_channels_last--;
}

void lps_plan_channels_last(lps_plan *p)
{
    for (size_t s = 0; s < p->n_schedule && !p->training; s++) {
        int k = p->schedule[s];
        const lps_plan_node *n = &p->nodes[k];
        bool reads = false, writes = false;
        node_layouts(p, n, &reads, &writes);
        if (!writes || n->op.n_outputs < 1 || n->out[0] < 0)
            continue;
        int v = n->out[0];
        const lps_value *val = &p->values[v];
        if (val->kind == LPS_VALUE_TEMP && !val->is_output && !val->shape_derived &&
            readers_take(p, v))
            set_layout(p, k, v, true);
    }
}

void lps_plan_channels_first(lps_plan *p, int id)
{
    for (size_t k = 0; k < p->n_nodes; k++) {
        lps_plan_node *n = &p->nodes[k];
        if (n->op.y_channels_last && (n->out[0] == id || n->pre_out == id))
            set_layout(p, (int)k, n->out[0], false);
    }
}
