/* The recurrent family's attributes, shapes and activations, and the RNN
 * op itself (H_t = f(X_t W^T + H_{t-1} R^T + Wb + Rb)). The sequence
 * driver is in rnn_seq.c; see rnn.h for how the two fit together. */
#include "ops/rnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* layout (batch-first tensors) exists from this opset. */
#define RNN_LAYOUT_OPSET 14

static const char *const act_names[] = {
    [RNN_ACT_SIGMOID] = "Sigmoid",
    [RNN_ACT_TANH] = "Tanh",
    [RNN_ACT_RELU] = "Relu",
};

/* direction: forward, reverse or bidirectional. */
static lps_status parse_direction(const lps_op_node *op, rnn_params *p, lps_error *err)
{
    const char *dir;
    lps_status st = lps_op_attr_string(op, "direction", "forward", &dir, err);
    if (st != LPS_OK)
        return st;
    p->n_dirs = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    p->reverse = strcmp(dir, "reverse") == 0;
    if (p->n_dirs == 1 && !p->reverse && strcmp(dir, "forward") != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "attribute 'direction' is '%s', expected forward, reverse or "
                           "bidirectional",
                           dir);
    return LPS_OK;
}

/* activations: n_acts names per direction (or n_acts for both directions),
 * each one of act_names (case-insensitive, as onnxruntime reads them). */
static lps_status parse_activations(const lps_op_node *op, rnn_params *p, lps_error *err)
{
    const rnn_cell *cell = p->cell;
    for (int d = 0; d < RNN_MAX_DIRS; d++)
        memcpy(p->act[d], cell->default_acts, sizeof p->act[d]);
    const lps_attr *a = lps_node_attr(op->node, "activations");
    if (!a)
        return LPS_OK;
    size_t n = a->n_strings, per = (size_t)cell->n_acts;
    if (a->type != LPS_ATTR_STRINGS || (n != per && n != per * (size_t)p->n_dirs))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "attribute 'activations' must list %zu names per direction", per);
    for (size_t k = 0; k < n; k++) {
        size_t known = 0;
        while (known < sizeof act_names / sizeof act_names[0] &&
               strcasecmp(a->strings[k], act_names[known]) != 0)
            known++;
        if (known == sizeof act_names / sizeof act_names[0])
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "attribute 'activations': activation '%s' is not supported "
                               "(Sigmoid, Tanh and Relu are)",
                               a->strings[k]);
        for (int d = 0; d < RNN_MAX_DIRS; d++)
            if (n == per || k / per == (size_t)d)
                p->act[d][k % per] = (rnn_act)known;
    }
    return LPS_OK;
}

/* activation_alpha/beta only parameterise activations refused above, so a
 * non-empty list would be ignored: refused instead. */
static lps_status check_alpha_beta(const lps_op_node *op, lps_error *err)
{
    static const char *const names[] = {"activation_alpha", "activation_beta"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const lps_attr *a = lps_node_attr(op->node, names[k]);
        if (a && a->n_floats > 0)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "attribute '%s' is not supported (no supported activation takes "
                               "one)",
                               names[k]);
    }
    return LPS_OK;
}

/* hidden_size, layout and clip. */
static lps_status parse_sizes(const lps_op_node *op, rnn_params *p, lps_error *err)
{
    int64_t layout = 0;
    lps_status st = lps_op_attr_int(op, "hidden_size", -1, &p->hidden_size, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "layout", 0, &layout, err);
    if (st != LPS_OK)
        return st;
    if (lps_node_attr(op->node, "hidden_size") && p->hidden_size <= 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'hidden_size' is %lld",
                           (long long)p->hidden_size);
    if (layout != 0 && layout != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'layout' is %lld, expected 0 or 1",
                           (long long)layout);
    p->batch_first = layout == 1;
    p->has_clip = lps_node_attr(op->node, "clip") != NULL;
    st = lps_op_attr_float(op, "clip", 0.0f, &p->clip, err);
    if (st == LPS_OK && p->has_clip && !(p->clip > 0.0f))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'clip' is %g, expected > 0",
                           (double)p->clip);
    for (int a = 0; a < RNN_ACT_COUNT; a++) {
        p->clip_bounds[a][0] = lps_rnn_act((rnn_act)a, -p->clip);
        p->clip_bounds[a][1] = lps_rnn_act((rnn_act)a, p->clip);
    }
    return st;
}

/* The shared attribute names plus the cell's, NULL-terminated, into known. */
enum { RNN_SHARED_ATTRS = 7, RNN_MAX_ATTRS = 10 };
static void known_attrs(const lps_op_node *op, const rnn_cell *cell, const char **known)
{
    static const char *const shared[RNN_SHARED_ATTRS] = {
        "activation_alpha", "activation_beta", "activations", "clip",
        "direction",        "hidden_size",     "layout"};
    int n = 0;
    for (int k = 0; k < RNN_SHARED_ATTRS; k++)
        if (strcmp(shared[k], "layout") != 0 || op->opset >= RNN_LAYOUT_OPSET)
            known[n++] = shared[k];
    for (const char *const *a = cell->attrs; a && *a && n < RNN_MAX_ATTRS; a++)
        known[n++] = *a;
    known[n] = NULL;
}

lps_status lps_rnn_prepare(lps_op_node *op, const rnn_cell *cell, lps_error *err)
{
    const char *known[RNN_MAX_ATTRS + 1];
    rnn_params p;
    memset(&p, 0, sizeof p);
    p.cell = cell;
    known_attrs(op, cell, known);
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = parse_direction(op, &p, err);
    if (st == LPS_OK)
        st = parse_activations(op, &p, err);
    if (st == LPS_OK)
        st = check_alpha_beta(op, err);
    if (st == LPS_OK)
        st = parse_sizes(op, &p, err);
    if (st == LPS_OK && cell->prepare)
        st = cell->prepare(op, &p, err);
    if (st != LPS_OK)
        return st;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* ---- RNN: one gate, H_t = f(pre) ---- */

static int rnn_rec_gates(const rnn_params *p)
{
    (void)p;
    return 1;
}

static void rnn_step_forward(const rnn_step *s)
{
    rnn_act f = s->p->act[s->dir][0];
    for (int64_t b = 0; b < s->batch; b++) {
        const float *gx = s->gx + b * s->hidden, *gh = s->gh + b * s->hidden;
        float *pre = s->pre + b * s->ld, *h = s->h + b * s->hidden;
        for (int64_t j = 0; j < s->hidden; j++)
            h[j] = pre[j] = lps_rnn_gate(s->p, f, gx[j] + gh[j]);
    }
}

static void rnn_step_backward(const rnn_step *s)
{
    rnn_act f = s->p->act[s->dir][0];
    for (int64_t b = 0; b < s->batch; b++) {
        const float *pre = s->pre + b * s->ld, *dh = s->dh + b * s->hidden;
        float *dgx = s->dgx + b * s->hidden, *dgh = s->dgh + b * s->hidden;
        for (int64_t j = 0; j < s->hidden; j++) {
            dgx[j] = dgh[j] = dh[j] * lps_rnn_gate_grad(s->p, f, pre[j]);
            s->dh_prev[b * s->hidden + j] = 0.0f;
        }
    }
}

static const rnn_cell rnn_cell_simple = {
    .op_name = "RNN",
    .gates = 1,
    .n_acts = 1,
    .default_acts = {RNN_ACT_TANH},
    .has_c = false,
    .extra = 0,
    .attrs = NULL,
    .prepare = NULL,
    .rec_gates = rnn_rec_gates,
    .step_forward = rnn_step_forward,
    .step_backward = rnn_step_backward,
};

static lps_status rnn_prepare(lps_op_node *op, lps_error *err)
{
    return lps_rnn_prepare(op, &rnn_cell_simple, err);
}

/* Inputs X, W, R, B, sequence_lens, initial_h; outputs Y, Y_h. */
const lps_op_def lps_op_def_rnn = {
    .name = "RNN",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 3,
    .max_inputs = RNN_IN_INITIAL_H + 1,
    .min_outputs = 1,
    .max_outputs = RNN_OUT_Y_H + 1,
    .differentiable = (1u << RNN_IN_X) | (1u << RNN_IN_W) | (1u << RNN_IN_R) | (1u << RNN_IN_B) |
                      (1u << RNN_IN_INITIAL_H),
    .prepare = rnn_prepare,
    .shape = lps_rnn_shape,
    .forward = lps_rnn_forward,
    .backward = lps_rnn_backward,
    .weights = LPS_RNN_WEIGHTS,
};
