#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/recipe.h"
#include "cli/sensitivity.h"
#include "report/report.h"
#include "sparsity/allocate.h"
#include "sparsity/oneshot.h"
#include "sparsity/prune.h"

/* The loss increase only breaks ties between equal accuracy drops (a
 * subset of a few hundred samples moves accuracy in coarse steps). */
#define LOSS_TIEBREAK 1e-3
/* Characters a POSIX extended regex gives a meaning. */
#define REGEX_SPECIAL ".[]()*+?{}|^$\\"

/* How layers are pruned: by magnitude (plan NULL), or by Wanda /
 * SparseGPT on calibration statistics from plan, the dense model. */
typedef struct pruner {
    lps_plan *plan;
    lps_oneshot_config cfg;
} pruner;

/* Prunes weight w (data in place) to target t, by magnitude or from the
 * layer's calibration statistics acts; the caller restores it. */
static lps_status prune_layer(const pruner *p, const lps_layer_acts *acts, const lps_prunable *w,
                              float *data, uint8_t *mask, double t, lps_error *err)
{
    if (p->plan) {
        lps_oneshot_layer L = {w, data, mask, t, {0, 0}, NAN};
        return lps_oneshot_prune_layer(&p->cfg, &L, acts, err);
    }
    int64_t numel = w->layout.n_rows * w->layout.row_len;
    lps_prune_tensor v = {.name = w->initializer, .layout = w->layout, .numel = numel,
                          .weight = data, .mask = mask, .target = t};
    memset(mask, 1, (size_t)numel);
    lps_status st = lps_magnitude_prune(&v, 1, t, LPS_ALLOC_PER_LAYER, err);
    for (int64_t k = 0; k < numel && st == LPS_OK; k++)
        if (!mask[k])
            data[k] = 0.0f;
    return st;
}

/* Every grid target of one layer; the weight is restored on return. */
static lps_status measure_layer(lps_model *m, const lps_dataset *ds, const lps_sensitivity_args *a,
                                const pruner *p, lps_sensitivity *s, lps_sensitivity_layer *L,
                                lps_error *err)
{
    lps_tensor *t = &m->graph.initializers[L->weight->init_index].tensor;
    float *data = t->data;
    float *saved = malloc((size_t)L->params * sizeof *saved);
    uint8_t *mask = malloc((size_t)L->params);
    lps_layer_acts acts = {0};
    lps_status st = LPS_OK;
    if (!saved || !mask) {
        st = lps_fail(err, LPS_ERR_NOMEM, "sensitivity: out of memory for '%s'",
                      L->weight->initializer);
        goto cleanup;
    }
    if (p->plan) {
        lps_oneshot_layer one = {.weight = L->weight};
        if ((st = lps_oneshot_calibrate(p->plan, &p->cfg, &one, &acts, err)) != LPS_OK) {
            lps_error_prefix(err, "%s: layer '%s' (node '%s')",
                             lps_oneshot_method_name(p->cfg.method), L->weight->initializer,
                             L->weight->node);
            goto cleanup;
        }
        s->calibration_samples = acts.samples;
    }
    memcpy(saved, data, (size_t)L->params * sizeof *saved);
    for (int k = 0; k < a->n_grid && st == LPS_OK; k++) {
        st = prune_layer(p, &acts, L->weight, data, mask, a->grid[k], err);
        if (st == LPS_OK)
            st = lps_evaluate_model(m, ds, &a->data.preprocess, a->data.batch, &L->results[k],
                                    err);
        memcpy(data, saved, (size_t)L->params * sizeof *saved);
    }
cleanup:
    lps_layer_acts_release(&acts);
    free(saved);
    free(mask);
    return st;
}

/* Wanda, SparseGPT: a training plan of the dense model (calibration keeps
 * the inputs of every layer) and the method's settings. */
static lps_status pruner_init(pruner *p, const lps_model *m, const lps_dataset *train,
                              const lps_sensitivity_args *a, lps_error *err)
{
    memset(p, 0, sizeof *p);
    if (a->method == LPS_METHOD_MAGNITUDE)
        return LPS_OK;
    p->cfg.method = a->method == LPS_METHOD_WANDA ? LPS_ONESHOT_WANDA : LPS_ONESHOT_SPARSEGPT;
    p->cfg.calibration = (lps_calibration){train, a->data.preprocess, a->calibration,
                                           a->data.batch, a->seed};
    p->cfg.sparsegpt = (lps_sparsegpt_config){LPS_SPARSEGPT_DEFAULT_BLOCK,
                                              LPS_SPARSEGPT_DEFAULT_DAMP};
    p->cfg.wanda_per_layer = a->wanda_per_layer;
    lps_plan_options popt = {.training = true};
    p->plan = lps_plan_compile(m, &popt, err);
    return p->plan ? LPS_OK : err->status;
}

lps_status lps_sensitivity_measure(lps_model *m, const lps_dataset *train, lps_dataset *eval,
                                   const lps_sensitivity_args *a, lps_sensitivity *s,
                                   lps_error *err)
{
    s->n_grid = a->n_grid;
    memcpy(s->grid, a->grid, (size_t)a->n_grid * sizeof *a->grid);
    if (!eval->labels)
        return lps_fail(err, LPS_ERR_INVALID, "%s: sensitivity needs labelled data", eval->name);
    const lps_dataset *ds = eval;
    int64_t n = lps_dataset_size(eval);
    if (a->samples < n) {
        lps_status st = lps_dataset_split_validation(eval, (double)a->samples / (double)n, a->seed,
                                                     &s->subset, err);
        if (st != LPS_OK)
            return lps_error_prefix(err, "--samples %lld", (long long)a->samples);
        ds = &s->subset;
    }
    lps_status st = lps_prunable_find(m, &s->weights, err);
    if (st == LPS_OK && !(s->layers = calloc(s->weights.count + 1, sizeof *s->layers)))
        st = lps_fail(err, LPS_ERR_NOMEM, "sensitivity: out of memory");
    for (size_t i = 0; i < s->weights.count && st == LPS_OK; i++) {
        const lps_prunable *w = &s->weights.items[i];
        if (w->excluded)
            continue;
        lps_sensitivity_layer *L = &s->layers[s->n_layers++];
        L->weight = w;
        L->params = w->layout.n_rows * w->layout.row_len;
    }
    if (st == LPS_OK && s->n_layers == 0)
        st = lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: the model has no prunable layer",
                      m->path ? m->path : "model");
    if (st == LPS_OK)
        st = lps_evaluate_model(m, ds, &a->data.preprocess, a->data.batch, &s->dense, err);
    pruner p = {0};
    if (st == LPS_OK)
        st = pruner_init(&p, m, train, a, err);
    for (size_t i = 0; i < s->n_layers && st == LPS_OK; i++)
        st = measure_layer(m, ds, a, &p, s, &s->layers[i], err);
    lps_plan_free(p.plan);
    return st;
}

/* The cost of a measured point (LOSS_TIEBREAK). */
static double point_cost(const lps_sensitivity *s, const lps_eval_result *r)
{
    return (s->dense.accuracy - r->accuracy) + LOSS_TIEBREAK * (r->loss - s->dense.loss);
}

lps_status lps_sensitivity_suggest(lps_sensitivity *s, double global, lps_error *err)
{
    lps_alloc_curve *curves = calloc(s->n_layers + 1, sizeof *curves);
    double *costs = calloc(s->n_layers * (size_t)s->n_grid + 1, sizeof *costs);
    double *out = calloc(s->n_layers + 1, sizeof *out);
    lps_status st = LPS_OK;
    if (!curves || !costs || !out) {
        st = lps_fail(err, LPS_ERR_NOMEM, "sensitivity: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < s->n_layers; i++) {
        double *c = costs + i * (size_t)s->n_grid;
        for (int k = 0; k < s->n_grid; k++)
            c[k] = point_cost(s, &s->layers[i].results[k]);
        curves[i] = (lps_alloc_curve){s->layers[i].params, s->n_grid, s->grid, c};
    }
    st = lps_allocate_targets(curves, s->n_layers, global, out, err);
    if (st != LPS_OK) {
        lps_error_prefix(err, "--suggest %g", global);
        goto cleanup;
    }
    for (size_t i = 0; i < s->n_layers; i++)
        s->layers[i].suggested = out[i];
    s->suggest = global;
    s->suggested = true;
cleanup:
    free(curves);
    free(costs);
    free(out);
    return st;
}

static cJSON *result_json(const lps_sensitivity *s, double target, const lps_eval_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "target", target);
        lps_json_add_number(o, "accuracy", r->accuracy);
        lps_json_add_number(o, "loss", r->loss);
        lps_json_add_number(o, "drop", s->dense.accuracy - r->accuracy);
    }
    return o;
}

static cJSON *layer_json(const lps_sensitivity *s, const lps_sensitivity_layer *L)
{
    cJSON *o = cJSON_CreateObject(), *results = cJSON_CreateArray();
    if (!o || !results) {
        cJSON_Delete(o);
        cJSON_Delete(results);
        return NULL;
    }
    cJSON_AddStringToObject(o, "name", L->weight->initializer);
    cJSON_AddStringToObject(o, "node", L->weight->node);
    cJSON_AddStringToObject(o, "op", L->weight->op_type);
    cJSON_AddNumberToObject(o, "params", (double)L->params);
    for (int k = 0; k < s->n_grid; k++)
        cJSON_AddItemToArray(results, result_json(s, s->grid[k], &L->results[k]));
    cJSON_AddItemToObject(o, "results", results);
    if (s->suggested)
        cJSON_AddNumberToObject(o, "suggested", L->suggested);
    else
        cJSON_AddNullToObject(o, "suggested");
    return o;
}

cJSON *lps_sensitivity_json(const lps_sensitivity *s, const lps_sensitivity_args *a,
                            lps_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *grid = cJSON_CreateDoubleArray(s->grid, s->n_grid);
    cJSON *layers = cJSON_CreateArray(), *dense = cJSON_CreateObject();
    if (!root || !grid || !layers || !dense) {
        cJSON_Delete(root);
        cJSON_Delete(grid);
        cJSON_Delete(layers);
        cJSON_Delete(dense);
        lps_fail(err, LPS_ERR_NOMEM, "sensitivity: out of memory building JSON");
        return NULL;
    }
    cJSON_AddStringToObject(root, "schema", LPS_SENSITIVITY_SCHEMA);
    cJSON_AddStringToObject(root, "model", a->model);
    cJSON_AddStringToObject(root, "method", lps_sparsify_method_name(a->method));
    lps_json_add_number(root, "calibration_samples",
                        a->method == LPS_METHOD_MAGNITUDE ? NAN : (double)s->calibration_samples);
    cJSON_AddNumberToObject(root, "samples", (double)s->dense.samples);
    cJSON_AddNumberToObject(root, "seed", (double)a->seed);
    lps_json_add_number(dense, "accuracy", s->dense.accuracy);
    lps_json_add_number(dense, "loss", s->dense.loss);
    cJSON_AddItemToObject(root, "dense", dense);
    cJSON_AddItemToObject(root, "grid", grid);
    for (size_t i = 0; i < s->n_layers; i++)
        cJSON_AddItemToArray(layers, layer_json(s, &s->layers[i]));
    cJSON_AddItemToObject(root, "layers", layers);
    if (s->suggested)
        cJSON_AddNumberToObject(root, "suggest", s->suggest);
    else
        cJSON_AddNullToObject(root, "suggest");
    return root;
}

/* "^NAME$" with NAME's regex characters escaped; NULL on no memory. */
static char *anchored(const char *name)
{
    size_t n = strlen(name);
    char *re = malloc(2 * n + 3), *p = re;
    if (!re)
        return NULL;
    *p++ = '^';
    for (const char *c = name; *c; c++) {
        if (strchr(REGEX_SPECIAL, *c))
            *p++ = '\\';
        *p++ = *c;
    }
    *p++ = '$';
    *p = '\0';
    return re;
}

cJSON *lps_sensitivity_recipe(const lps_sensitivity *s, lps_error *err)
{
    cJSON *root = cJSON_CreateObject(), *rules = cJSON_CreateArray();
    bool ok = root && rules;
    if (ok) {
        cJSON_AddStringToObject(root, "schema", LPS_RECIPE_SCHEMA);
        cJSON_AddNumberToObject(root, "target", s->suggest);
    }
    for (size_t i = 0; ok && i < s->n_layers; i++) {
        cJSON *rule = cJSON_CreateObject();
        char *re = anchored(s->layers[i].weight->initializer);
        ok = rule && re && cJSON_AddStringToObject(rule, "match", re) &&
             cJSON_AddNumberToObject(rule, "target", s->layers[i].suggested);
        free(re);
        if (rule)
            cJSON_AddItemToArray(rules, rule);
    }
    if (ok) {
        cJSON_AddItemToObject(root, "layers", rules);
        rules = NULL;
    }
    cJSON_Delete(rules);
    if (!ok) {
        cJSON_Delete(root);
        lps_fail(err, LPS_ERR_NOMEM, "sensitivity: out of memory building the recipe");
        return NULL;
    }
    return root;
}

void lps_sensitivity_release(lps_sensitivity *s)
{
    if (!s)
        return;
    free(s->layers);
    s->layers = NULL;
    lps_prunable_list_release(&s->weights);
    lps_dataset_release(&s->subset);
}
