#include "sparsity/train_bn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/prunable.h"
#include "train/feeder.h"

/* PyTorch's BatchNorm2d default, and ONNX's. */
#define TRAIN_BN_EPSILON 1e-5f
/* Inserted initializers per BatchNorm: scale, B, mean, var (ONNX input order 1..4). */
#define BN_PARAMS 4
#define BN_INPUTS (1 + BN_PARAMS)
static const char *const BN_PARAM_SUFFIX[BN_PARAMS] = {"scale", "B", "mean", "var"};
enum { P_SCALE, P_B, P_MEAN, P_VAR };
#define NAME_SUFFIX ".lps_train_bn"

/* How many nodes read value `name`. */
static size_t readers(const lps_graph *g, const char *name)
{
    size_t n = 0;
    for (size_t k = 0; k < g->n_nodes; k++)
        for (size_t i = 0; i < g->nodes[k].n_inputs; i++)
            n += strcmp(g->nodes[k].inputs[i], name) == 0;
    return n;
}

/* Whether p gets a BatchNorm: a layer weight used once, a bias of its own,
 * and an output that is not the logits. */
static bool is_candidate(const lps_graph *g, const lps_prunable *p)
{
    if (p->role != LPS_WEIGHT_LAYER || p->n_uses != 1 || p->bias_index == SIZE_MAX)
        return false;
    const lps_node *n = &g->nodes[p->node_index];
    return n->n_outputs >= 1 && n->outputs[0][0] &&
           readers(g, g->initializers[p->bias_index].name) == 1 &&
           !lps_prunable_reaches_output(g, n->outputs[0]);
}

static lps_status find_units(lps_train_bn *bn, const lps_model *m, lps_error *err)
{
    lps_prunable_list list = {0};
    lps_status st = lps_prunable_find(m, &list, err);
    if (st != LPS_OK)
        return st;
    bn->units = calloc(list.count + 1, sizeof *bn->units);
    if (!bn->units)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for training BatchNorms");
    for (size_t i = 0; st == LPS_OK && i < list.count; i++) {
        const lps_prunable *p = &list.items[i];
        if (!is_candidate(&m->graph, p))
            continue;
        lps_train_bn_unit *u = &bn->units[bn->n_units++];
        u->node = p->node_index;
        u->weight = p->init_index;
        u->bias = p->bias_index;
        u->layout = p->layout;
        u->channels = p->layout.n_rows;
    }
    lps_prunable_list_release(&list);
    return st;
}

/* The name unit u's layer writes its output to in the plan being measured. */
static const char *measured_name(const lps_graph *g, const lps_train_bn_unit *u)
{
    return g->nodes[u->node].outputs[0];
}

/* Per-channel mean and population variance of every unit's layer output
 * over the first LPS_TRAIN_BN_CALIBRATION_BATCHES batches of ds through
 * plan run as `run` says; mean and var hold the units' channels in order. */
static lps_status measure(const lps_train_bn *bn, const lps_model *m, lps_plan *plan,
                          const lps_run_options *run, const lps_dataset *ds,
                          const lps_preprocess_opts *pp, int64_t batch, double *mean,
                          double *var, lps_error *err)
{
    lps_feeder f = {0};
    int *ids = calloc(bn->n_units + 1, sizeof *ids);
    double *count = calloc(bn->n_units + 1, sizeof *count);
    lps_exec_ctx *ctx = lps_exec_ctx_new(run, err);
    lps_status st = ids && count && ctx ? LPS_OK : LPS_ERR_NOMEM;
    if (st != LPS_OK) {
        free(ids);
        free(count);
        lps_exec_ctx_free(ctx);
        return lps_fail(err, st, "out of memory measuring training BatchNorm statistics");
    }
    for (size_t u = 0; u < bn->n_units; u++) {
        ids[u] = lps_plan_find_value(plan, measured_name(&m->graph, &bn->units[u]));
        if (ids[u] >= 0)
            lps_plan_keep_value(plan, ids[u]);
    }
    st = lps_feeder_init(&f, plan, ds, pp, batch, false, 0, err);
    if (st != LPS_OK)
        goto cleanup;
    lps_batch_iter_start_epoch(&f.it, 0);
    int64_t samples = 0;
    for (int b = 0; b < LPS_TRAIN_BN_CALIBRATION_BATCHES; b++) {
        if ((st = lps_feeder_next(&f, &samples, err)) != LPS_OK || samples == 0 ||
            (st = lps_feeder_bind(&f, plan, err)) != LPS_OK ||
            (st = lps_plan_forward(plan, ctx, err)) != LPS_OK)
            break;
        double *mu = mean, *sq = var;
        for (size_t u = 0; u < bn->n_units; u++) {
            const lps_train_bn_unit *U = &bn->units[u];
            const lps_tensor *t = ids[u] >= 0 ? lps_plan_value(plan, ids[u]) : NULL;
            if (!t || t->dtype != LPS_DT_FLOAT || t->rank < 2 || t->dims[1] != U->channels) {
                st = lps_fail(err, LPS_ERR_UNSUPPORTED,
                              "node '%s': output '%s' is not float [N, %lld, ...]; "
                              "use --train-bn off", m->graph.nodes[U->node].name,
                              measured_name(&m->graph, U), (long long)U->channels);
                goto cleanup;
            }
            int64_t inner = lps_numel_of(t->rank - 2, t->dims + 2);
            const float *x = lps_tensor_f32(t);
            for (int64_t n = 0; n < t->dims[0]; n++)
                for (int64_t c = 0; c < U->channels; c++) {
                    const float *p = x + (n * U->channels + c) * inner;
                    for (int64_t i = 0; i < inner; i++) {
                        mu[c] += p[i];
                        sq[c] += (double)p[i] * p[i];
                    }
                }
            count[u] += (double)(t->dims[0] * inner);
            mu += U->channels;
            sq += U->channels;
        }
    }
    for (size_t u = 0, off = 0; st == LPS_OK && u < bn->n_units; off += bn->units[u++].channels)
        for (int64_t c = 0; c < bn->units[u].channels && count[u] > 0; c++) {
            double mu = mean[off + c] / count[u];
            double v = var[off + c] / count[u] - mu * mu;
            mean[off + c] = mu;
            var[off + c] = v > 0.0 ? v : 0.0;
        }
cleanup:
    lps_feeder_release(&f);
    lps_exec_ctx_free(ctx);
    free(ids);
    free(count);
    return st;
}

/* Mean and variance arrays over every unit's channels, zeroed. */
static lps_status alloc_moments(const lps_train_bn *bn, double **mean, double **var,
                                lps_error *err)
{
    size_t n = 1;
    for (size_t u = 0; u < bn->n_units; u++)
        n += (size_t)bn->units[u].channels;
    *mean = calloc(n, sizeof **mean);
    *var = calloc(n, sizeof **var);
    if (*mean && *var)
        return LPS_OK;
    free(*mean);
    free(*var);
    return lps_fail(err, LPS_ERR_NOMEM, "out of memory for training BatchNorm statistics");
}

/* "<base><suffix>" in a new string, or NULL. */
static char *joined(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", base, suffix);
    return s;
}

/* Builds unit u's BatchNorm node (reading u->renamed, writing its layer's
 * output name) and its 4 initializers from the measured moments. */
static lps_status build_bn(const lps_graph *g, lps_train_bn_unit *u, const double *mean,
                           const double *var, lps_node *node, lps_initializer *inits,
                           lps_error *err)
{
    const char *out = g->nodes[u->node].outputs[0];
    const int64_t dims[1] = {u->channels};
    node->name = joined(g->nodes[u->node].name, NAME_SUFFIX);
    node->op_type = strdup("BatchNormalization");
    node->domain = strdup("");
    node->inputs = calloc(BN_INPUTS, sizeof *node->inputs);
    node->outputs = calloc(1, sizeof *node->outputs);
    node->attrs = calloc(1, sizeof *node->attrs);
    u->renamed = joined(out, NAME_SUFFIX);
    if (!node->name || !node->op_type || !node->domain || !node->inputs || !node->outputs ||
        !node->attrs || !u->renamed || !(node->inputs[0] = strdup(u->renamed)) ||
        !(node->outputs[0] = strdup(out)) || !(node->attrs[0].name = strdup("epsilon")))
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory inserting a training BatchNorm");
    node->n_inputs = BN_INPUTS;
    node->n_outputs = 1;
    node->n_attrs = 1;
    node->attrs[0].type = LPS_ATTR_FLOAT;
    node->attrs[0].f = TRAIN_BN_EPSILON;
    for (int k = 0; k < BN_PARAMS; k++) {
        char suffix[64];
        snprintf(suffix, sizeof suffix, "%s.%s", NAME_SUFFIX, BN_PARAM_SUFFIX[k]);
        if (!(inits[k].name = joined(out, suffix)) || !(node->inputs[1 + k] = strdup(inits[k].name)))
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory inserting a training BatchNorm");
        if (lps_graph_find_initializer(g, inits[k].name))
            return lps_fail(err, LPS_ERR_INVALID,
                            "initializer '%s' already exists; use --train-bn off", inits[k].name);
        lps_status st = lps_tensor_alloc(&inits[k].tensor, LPS_DT_FLOAT, 1, dims, err);
        if (st != LPS_OK)
            return st;
    }
    for (int64_t c = 0; c < u->channels; c++) {
        lps_tensor_f32(&inits[P_SCALE].tensor)[c] = sqrtf((float)var[c] + TRAIN_BN_EPSILON);
        lps_tensor_f32(&inits[P_B].tensor)[c] = (float)mean[c];
        lps_tensor_f32(&inits[P_MEAN].tensor)[c] = (float)mean[c];
        lps_tensor_f32(&inits[P_VAR].tensor)[c] = (float)var[c];
    }
    return LPS_OK;
}

static void release_inits(lps_initializer *inits, size_t n)
{
    for (size_t i = 0; inits && i < n; i++) {
        free(inits[i].name);
        lps_tensor_release(&inits[i].tensor);
    }
    free(inits);
}

static void release_nodes(lps_node *nodes, size_t n)
{
    for (size_t i = 0; nodes && i < n; i++)
        lps_node_release(&nodes[i]);
    free(nodes);
}

/* Appends the built nodes and initializers to the graph and renames each
 * layer's output; on LPS_ERR_NOMEM the graph is unchanged. */
static lps_status commit(lps_train_bn *bn, lps_graph *g, lps_node *nodes, lps_initializer *inits,
                         lps_error *err)
{
    size_t n_inits = BN_PARAMS * bn->n_units;
    lps_node *gn = realloc(g->nodes, (g->n_nodes + bn->n_units) * sizeof *gn);
    if (gn)
        g->nodes = gn;
    lps_initializer *gi = gn ? realloc(g->initializers, (g->n_initializers + n_inits) * sizeof *gi)
                             : NULL;
    if (!gi)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory inserting training BatchNorms");
    g->initializers = gi;
    memcpy(g->nodes + g->n_nodes, nodes, bn->n_units * sizeof *nodes);
    memcpy(g->initializers + g->n_initializers, inits, n_inits * sizeof *inits);
    for (size_t u = 0; u < bn->n_units; u++) {
        lps_train_bn_unit *U = &bn->units[u];
        U->first_init = g->n_initializers + BN_PARAMS * u;
        U->output = g->nodes[U->node].outputs[0];
        g->nodes[U->node].outputs[0] = U->renamed;
        U->renamed = NULL; /* owned by the node until detached */
    }
    g->n_nodes += bn->n_units;
    g->n_initializers += n_inits;
    return LPS_OK;
}

lps_status lps_train_bn_insert(lps_train_bn *bn, lps_model *m, const lps_dataset *train,
                               const lps_preprocess_opts *pp, int64_t batch, lps_error *err)
{
    lps_graph *g = &m->graph;
    double *mean = NULL, *var = NULL;
    lps_node *nodes = NULL;
    lps_initializer *inits = NULL;
    lps_plan *plan = NULL;
    bn->n_nodes = g->n_nodes;
    bn->n_initializers = g->n_initializers;
    lps_status st = find_units(bn, m, err);
    if (st != LPS_OK || bn->n_units == 0)
        goto cleanup;
    if ((st = alloc_moments(bn, &mean, &var, err)) != LPS_OK)
        goto cleanup;
    /* a training plan (run as in inference): the moments then come from
     * the arithmetic the training forward uses, which inference-only paths
     * (packed weights, channels-last values; docs/architecture.md) leave
     * alone, so they do not move the inserted statistics */
    if (!(plan = lps_plan_compile(m, &(lps_plan_options){.training = true}, err))) {
        st = err ? err->status : LPS_ERR_RUNTIME;
        goto cleanup;
    }
    if ((st = measure(bn, m, plan, NULL, train, pp, batch, mean, var, err)) != LPS_OK)
        goto cleanup;
    nodes = calloc(bn->n_units, sizeof *nodes);
    inits = calloc(BN_PARAMS * bn->n_units, sizeof *inits);
    if (!nodes || !inits) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory inserting training BatchNorms");
        goto cleanup;
    }
    for (size_t u = 0, off = 0; st == LPS_OK && u < bn->n_units; off += bn->units[u++].channels)
        st = build_bn(g, &bn->units[u], mean + off, var + off, &nodes[u], inits + BN_PARAMS * u,
                      err);
    if (st == LPS_OK && (st = commit(bn, g, nodes, inits, err)) == LPS_OK) {
        free(nodes);
        free(inits);
        nodes = NULL;
        inits = NULL;
        bn->inserted = true;
    }
cleanup:
    lps_plan_free(plan);
    release_nodes(nodes, bn->n_units);
    release_inits(inits, BN_PARAMS * bn->n_units);
    free(mean);
    free(var);
    if (st != LPS_OK)
        lps_train_bn_release(bn, m);
    return st;
}

lps_status lps_train_bn_recalibrate(lps_train_bn *bn, lps_model *m, lps_plan *plan,
                                    const lps_dataset *train, const lps_preprocess_opts *pp,
                                    int64_t batch, lps_error *err)
{
    if (!bn->inserted)
        return LPS_OK;
    double *mean = NULL, *var = NULL;
    lps_status st = alloc_moments(bn, &mean, &var, err);
    if (st != LPS_OK)
        return st;
    const lps_run_options run = {.training = true, .bn_batch_stats = true};
    st = measure(bn, m, plan, &run, train, pp, batch, mean, var, err);
    for (size_t u = 0, off = 0; st == LPS_OK && u < bn->n_units; off += bn->units[u++].channels) {
        lps_initializer *in = &m->graph.initializers[bn->units[u].first_init];
        for (int64_t c = 0; c < bn->units[u].channels; c++) {
            lps_tensor_f32(&in[P_MEAN].tensor)[c] = (float)mean[off + c];
            lps_tensor_f32(&in[P_VAR].tensor)[c] = (float)var[off + c];
        }
    }
    free(mean);
    free(var);
    return st;
}

/* Puts the graph back as it was loaded: layer outputs renamed back, the
 * inserted nodes and initializers moved out (freed by release, after any
 * plan compiled with them). */
static lps_status detach(lps_train_bn *bn, lps_model *m, lps_error *err)
{
    /* Only a committed insert changed the graph; a zeroed bn, or one whose
     * insert failed, leaves its counts and names to lps_model_free. */
    if (!bn->inserted)
        return LPS_OK;
    lps_graph *g = &m->graph;
    size_t n_inits = BN_PARAMS * bn->n_units;
    bn->nodes = malloc((bn->n_units + 1) * sizeof *bn->nodes);
    bn->inits = malloc((n_inits + 1) * sizeof *bn->inits);
    if (!bn->nodes || !bn->inits) {
        free(bn->nodes);
        free(bn->inits);
        bn->nodes = NULL;
        bn->inits = NULL;
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory removing training BatchNorms");
    }
    memcpy(bn->nodes, g->nodes + bn->n_nodes, bn->n_units * sizeof *bn->nodes);
    memcpy(bn->inits, g->initializers + bn->n_initializers, n_inits * sizeof *bn->inits);
    for (size_t u = 0; u < bn->n_units; u++) {
        lps_train_bn_unit *U = &bn->units[u];
        U->renamed = g->nodes[U->node].outputs[0];
        g->nodes[U->node].outputs[0] = U->output;
        U->output = NULL;
    }
    g->n_nodes = bn->n_nodes;
    g->n_initializers = bn->n_initializers;
    bn->inserted = false;
    return LPS_OK;
}

lps_status lps_train_bn_fold(lps_train_bn *bn, lps_model *m, lps_error *err)
{
    if (!bn->inserted)
        return LPS_OK;
    lps_graph *g = &m->graph;
    for (size_t u = 0; u < bn->n_units; u++) {
        const lps_train_bn_unit *U = &bn->units[u];
        const lps_initializer *in = &g->initializers[U->first_init];
        const float *s = lps_tensor_f32(&in[P_SCALE].tensor), *b = lps_tensor_f32(&in[P_B].tensor);
        const float *mu = lps_tensor_f32(&in[P_MEAN].tensor);
        const float *v = lps_tensor_f32(&in[P_VAR].tensor);
        float *w = lps_tensor_f32(&g->initializers[U->weight].tensor);
        float *bias = lps_tensor_f32(&g->initializers[U->bias].tensor);
        for (int64_t c = 0; c < U->channels; c++) {
            double a = (double)s[c] / sqrt((double)v[c] + TRAIN_BN_EPSILON);
            for (int64_t k = 0; k < U->layout.row_len; k++) {
                float *x = &w[lps_row_offset(&U->layout, c, k)];
                *x = (float)(*x * a);
            }
            bias[c] = (float)(((double)bias[c] - mu[c]) * a + b[c]);
        }
        g->initializers[U->weight].modified = true;
        g->initializers[U->bias].modified = true;
    }
    return detach(bn, m, err);
}

void lps_train_bn_release(lps_train_bn *bn, lps_model *m)
{
    if (!bn)
        return;
    /* Out of memory detaching: the graph keeps the inserted entries and
     * lps_model_free frees them; the layers keep the renamed outputs. */
    if (m)
        detach(bn, m, NULL);
    release_nodes(bn->nodes, bn->nodes ? bn->n_units : 0);
    release_inits(bn->inits, bn->inits ? BN_PARAMS * bn->n_units : 0);
    for (size_t u = 0; bn->units && u < bn->n_units; u++) {
        free(bn->units[u].renamed);
        free(bn->units[u].output);
    }
    free(bn->units);
    memset(bn, 0, sizeof *bn);
}
