/* Calibration views of weight activations (docs/method.md, "One-shot
 * pruning from calibration"): the engine hands a node's inputs of the last forward to its op def's
 * calibration functions, so the sparsifier never runs an op itself. */
#include <string.h>

#include "engine/plan.h"

/* The def entry of `input`, or NULL. */
static const lps_op_weight *weight_entry(const lps_plan_node *n, int input)
{
    for (int k = 0; k < LPS_OP_MAX_WEIGHTS && n->def->weights[k].role != LPS_WEIGHT_NONE; k++)
        if (n->def->weights[k].input == input)
            return &n->def->weights[k];
    return NULL;
}

/* The node's inputs as the last forward saw them; false when one is missing. */
static bool node_inputs(const lps_plan *p, const lps_plan_node *n, const lps_tensor **in)
{
    for (size_t i = 0; i < n->op.n_inputs && i < LPS_OP_MAX_IO; i++) {
        in[i] = n->in[i] >= 0 ? lps_plan_value(p, n->in[i]) : NULL;
        if (n->in[i] >= 0 && !in[i])
            return false;
    }
    return true;
}

lps_status lps_plan_activation_view(const lps_plan *p, size_t node, int input,
                                    lps_activation_view *v, lps_error *err)
{
    const lps_tensor *in[LPS_OP_MAX_IO] = {0};
    if (node >= p->n_nodes)
        return lps_fail(err, LPS_ERR_INVALID, "node index %zu is out of range", node);
    const lps_plan_node *n = &p->nodes[node];
    const lps_op_weight *w = n->def ? weight_entry(n, input) : NULL;
    if (!w || !w->calibration)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "%s: the one-shot methods define no calibration for its weight input %d "
                        "(docs/method.md, \"One-shot pruning from calibration\"); --exclude it",
                        n->op.label, input);
    if (n->folded || !node_inputs(p, n, in))
        return lps_fail(err, LPS_ERR_INVALID, "%s: its inputs were not computed by the last forward",
                        n->op.label);
    lps_op_activations a;
    lps_status st = w->calibration->shape(&n->op, in, &a, err);
    if (st == LPS_OK)
        *v = (lps_activation_view){a.groups, a.features, a.chunks, a.positions};
    return st;
}

void lps_plan_activation_chunk(const lps_plan *p, size_t node, int input, int64_t c, int64_t g,
                               float *x, float *work)
{
    const lps_tensor *in[LPS_OP_MAX_IO] = {0};
    const lps_plan_node *n = &p->nodes[node];
    const lps_op_weight *w = weight_entry(n, input);
    if (w && w->calibration && node_inputs(p, n, in))
        w->calibration->chunk(&n->op, in, c, g, x, work);
}
