/* Fused activations (docs/architecture.md, "Fused activations"): an
 * element-wise activation whose def declares an epilogue, reading a
 * producer's output 0 that nothing else reads, is applied by the producer
 * (its def declares fuses_epilogue) in the pass that writes that output.
 * The producer then writes the activation's output value and its own
 * output 0 is never computed; the activation's node stays in the schedule,
 * marked absorbed, and neither forward nor backward runs it. Keeping the
 * producer's own output (lps_plan_keep_value) undoes the fusion. */
#include <stdlib.h>

#include "engine/plan.h"

/* Whether activation node act's inputs besides input 0 are what its
 * epilogue allows (bound_inputs) and constant in the plan, and its bind
 * accepts them. */
static bool epilogue_inputs_bind(const lps_plan *p, lps_plan_node *act)
{
    const lps_op_epilogue *epi = act->def->epilogue;
    const lps_tensor *in[LPS_OP_MAX_EPILOGUE_INPUTS] = {NULL};
    if (act->op.n_inputs > LPS_OP_MAX_EPILOGUE_INPUTS)
        return false;
    for (size_t i = 1; i < act->op.n_inputs; i++) {
        int v = act->in[i];
        if (v < 0)
            continue;
        if (!(epi->bound_inputs & (1u << i)) || p->values[v].kind != LPS_VALUE_CONST)
            return false;
        in[i] = &p->values[v].t;
    }
    return act->op.n_inputs == 1 || (epi->bind && epi->bind(&act->op, in));
}

/* Wires producer a to write the output of activation b. */
static void fuse_pair(lps_plan *p, int a, int b)
{
    lps_plan_node *pa = &p->nodes[a], *pb = &p->nodes[b];
    pa->fused_act = b;
    pa->pre_out = pa->out[0];
    pa->out[0] = pb->out[0];
    pa->op.epilogue = pb->def->epilogue;
    pa->op.epilogue_op = &pb->op;
    pb->absorbed = true;
    p->n_fused++;
}

/* The activation node that alone reads node k's output 0 and can be its
 * epilogue, or -1. readers[v] counts the scheduled reads of value v and
 * reader[v] is one of them. */
static int epilogue_reader(lps_plan *p, int k, const int *readers, const int *reader)
{
    const lps_plan_node *n = &p->nodes[k];
    if (!n->def->fuses_epilogue || n->shape_role != LPS_SHAPE_NONE || n->op.n_outputs < 1)
        return -1;
    int v = n->out[0];
    if (v < 0 || p->values[v].is_output || readers[v] != 1)
        return -1;
    lps_plan_node *act = &p->nodes[reader[v]];
    if (!act->def->epilogue || act->absorbed || act->shape_role != LPS_SHAPE_NONE ||
        act->op.n_inputs < 1 || act->in[0] != v || act->op.n_outputs < 1 || act->out[0] < 0 ||
        !epilogue_inputs_bind(p, act))
        return -1;
    return reader[v];
}

lps_status lps_plan_fuse_activations(lps_plan *p, lps_error *err)
{
    for (size_t k = 0; k < p->n_nodes; k++) {
        p->nodes[k].fused_act = -1;
        p->nodes[k].pre_out = -1;
    }
    int *readers = calloc(p->n_values + 1, sizeof *readers);
    int *reader = calloc(p->n_values + 1, sizeof *reader);
    if (!readers || !reader) {
        free(readers);
        free(reader);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory planning fused activations");
    }
    for (size_t s = 0; s < p->n_schedule; s++) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] >= 0) {
                readers[n->in[i]]++;
                reader[n->in[i]] = p->schedule[s];
            }
    }
    for (size_t s = 0; s < p->n_schedule; s++) {
        int b = epilogue_reader(p, p->schedule[s], readers, reader);
        if (b >= 0)
            fuse_pair(p, p->schedule[s], b);
    }
    free(readers);
    free(reader);
    return LPS_OK;
}

void lps_plan_unfuse_value(lps_plan *p, int id)
{
    int a = p->values[id].producer;
    if (a < 0 || p->nodes[a].fused_act < 0 || p->nodes[a].pre_out != id)
        return;
    lps_plan_node *pa = &p->nodes[a];
    pa->out[0] = pa->pre_out;
    p->nodes[pa->fused_act].absorbed = false;
    pa->fused_act = -1;
    pa->pre_out = -1;
    pa->op.epilogue = NULL;
    pa->op.epilogue_op = NULL;
    p->n_fused--;
}
