#include "sparsity/sparsify_internal.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/hoyer.h"
#include "sparsity/lpsgd.h"
#include "sparsity/stats_fix.h"
#include "train/dist.h"

/* GMP ramps over the same window as LpSS's adaptive phase by default. */
#define DEFAULT_WINDOW_BEGIN 0.2
#define DEFAULT_WINDOW_END 0.8
/* Automatic mask-update interval (lps_schedule_interval), as for LpSS. */
#define DEFAULT_GMP_FREQUENCY 0
/* The least share of the global pool's density a layer other than the
 * classifier keeps (docs/method.md, "The classifier under global
 * allocation"): at 90% no layer goes beyond 97%. */
#define LPS_LAYER_KEEP_SHARE 0.3

void lps_sparsify_options_default(lps_sparsify_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = LPS_METHOD_LPSS;
    o->allocation = LPS_ALLOC_GLOBAL;
    o->lpsgd_lr_scale = LPS_SPARSIFY_DEFAULT_LPSGD_LR_SCALE;
    o->lpsgd_lr_auto = true;
    o->semi = lps_semiprune_config_default();
    o->progressive_floor = true;
    o->stats_fix = false;
    o->gmp.initial_sparsity = 0.0;
    o->gmp.begin = DEFAULT_WINDOW_BEGIN;
    o->gmp.end = DEFAULT_WINDOW_END;
    o->gmp.frequency = DEFAULT_GMP_FREQUENCY;
    o->calibration.samples = LPS_CALIBRATION_DEFAULT_SAMPLES;
    o->sparsegpt.block = LPS_SPARSEGPT_DEFAULT_BLOCK;
    o->sparsegpt.damp = LPS_SPARSEGPT_DEFAULT_DAMP;
}

bool lps_sparsify_method_is_oneshot(lps_sparsify_method m)
{
    return m == LPS_METHOD_MAGNITUDE || m == LPS_METHOD_WANDA || m == LPS_METHOD_SPARSEGPT;
}

const char *lps_finetune_name(lps_finetune f)
{
    return f == LPS_FINETUNE_LPSS ? "lpss" : "frozen";
}

bool lps_sparsify_trains_lpsgd(const lps_sparsify_options *o)
{
    return o->method == LPS_METHOD_LPSS ||
           (lps_sparsify_method_is_oneshot(o->method) && o->finetune == LPS_FINETUNE_LPSS);
}

const char *lps_sparsify_method_name(lps_sparsify_method m)
{
    switch (m) {
    case LPS_METHOD_LPSS: return "lpss";
    case LPS_METHOD_GMP: return "gmp";
    case LPS_METHOD_MAGNITUDE: return "magnitude";
    case LPS_METHOD_WANDA: return "wanda";
    case LPS_METHOD_SPARSEGPT: return "sparsegpt";
    }
    return "unknown";
}


static bool matches(const char *pattern_name, const lps_prunable *w)
{
    return strcmp(pattern_name, w->initializer) == 0 || strcmp(pattern_name, w->node) == 0;
}

/* Sets hit[i] for the layers whose initializer or node name matches regex.
 * LPS_ERR_INVALID naming `what` for a bad regex or one matching nothing. */
static lps_status match_layers(const lps_sparsify *s, const char *what, const char *regex,
                               bool *hit, lps_error *err)
{
    regex_t re;
    bool used = false;
    if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not a valid regex", what, regex);
    for (size_t i = 0; i < s->n_layers; i++) {
        const lps_prunable *w = s->layers[i].weight;
        hit[i] = regexec(&re, w->initializer, 0, NULL, 0) == 0 ||
                 regexec(&re, w->node, 0, NULL, 0) == 0;
        used = used || hit[i];
    }
    regfree(&re);
    if (!used)
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' matches no prunable layer", what, regex);
    return LPS_OK;
}

/* The rules, in order: a layer takes each matching rule's values. */
static lps_status apply_rules(lps_sparsify *s, bool *hit, lps_error *err)
{
    char what[LPS_ERROR_MSG_MAX];
    for (int k = 0; k < s->opt.n_rules; k++) {
        const lps_layer_rule *r = &s->opt.rules[k];
        snprintf(what, sizeof what, "%s: layers[%d].match", r->file ? r->file : "rules",
                 r->index);
        lps_status st = match_layers(s, what, r->match, hit, err);
        if (st != LPS_OK)
            return st;
        for (size_t i = 0; i < s->n_layers; i++) {
            lps_sparsify_layer *L = &s->layers[i];
            if (!hit[i])
                continue;
            if (!isnan(r->target))
                L->target = r->target;
            if (!isnan(r->p) && lps_sparsify_trains_lpsgd(&s->opt))
                L->p = r->p;
            L->excluded = L->excluded || r->exclude;
        }
    }
    return LPS_OK;
}

/* Every override must name a layer, so a typo is an error, not a no-op. */
static lps_status apply_overrides(lps_sparsify *s, lps_error *err)
{
    const lps_sparsify_options *o = &s->opt;
    bool *hit = calloc(s->n_layers + 1, sizeof *hit);
    if (!hit)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    lps_status st = apply_rules(s, hit, err);
    for (int k = 0; k < o->n_p_layer && st == LPS_OK; k++) {
        bool used = false;
        for (size_t i = 0; i < s->n_layers; i++)
            if (matches(o->p_layer[k].name, s->layers[i].weight)) {
                s->layers[i].p = o->p_layer[k].value;
                used = true;
            }
        if (!used)
            st = lps_fail(err, LPS_ERR_INVALID, "--p-layer: no prunable layer is called '%s'",
                          o->p_layer[k].name);
    }
    for (int k = 0; k < o->n_layer_target && st == LPS_OK; k++) {
        bool used = false;
        for (size_t i = 0; i < s->n_layers; i++)
            if (matches(o->layer_target[k].name, s->layers[i].weight)) {
                s->layers[i].target = o->layer_target[k].value;
                used = true;
            }
        if (!used)
            st = lps_fail(err, LPS_ERR_INVALID, "--layer-target: no prunable layer is called '%s'",
                          o->layer_target[k].name);
    }
    for (int k = 0; k < o->n_exclude && st == LPS_OK; k++) {
        st = match_layers(s, "--exclude", o->exclude[k], hit, err);
        for (size_t i = 0; i < s->n_layers && st == LPS_OK; i++)
            s->layers[i].excluded = s->layers[i].excluded || hit[i];
    }
    free(hit);
    return st;
}

/* --pattern: the layers whose rows split into N:M groups take the pattern
 * and its sparsity as their target; the others stay dense (not counted)
 * unless they have their own target, which they reach unstructured. */
static lps_status apply_pattern(lps_sparsify *s, lps_error *err)
{
    const lps_pattern p = s->opt.pattern;
    if (!lps_pattern_on(p))
        return LPS_OK;
    double sparsity = lps_pattern_sparsity(p);
    if (s->opt.target != sparsity)
        return lps_fail(err, LPS_ERR_INVALID,
                        "--target %g conflicts with --pattern %d:%d, which sets %g on every layer "
                        "it applies to", s->opt.target, p.n, p.m, sparsity);
    for (size_t i = 0; i < s->n_layers; i++) {
        lps_sparsify_layer *L = &s->layers[i];
        const lps_prunable *w = L->weight;
        if (L->excluded)
            continue;
        if (!lps_pattern_fits(p, w->layout.row_len, w->taps)) {
            L->pattern_misfit = true;
            L->excluded = L->target == LPS_PRUNE_GLOBAL_TARGET;
            continue;
        }
        if (L->target != LPS_PRUNE_GLOBAL_TARGET)
            return lps_fail(err, LPS_ERR_INVALID,
                            "--layer-target %s: conflicts with --pattern %d:%d, which applies to "
                            "the layer (%lld input channels)", w->initializer, p.n, p.m,
                            (long long)(w->layout.row_len / w->taps));
        L->patterned = true;
        L->target = sparsity;
    }
    return LPS_OK;
}

static lps_status map_params(lps_sparsify *s, lps_error *err)
{
    size_t n_params = lps_plan_n_params(s->plan);
    s->param_is_pruned = calloc(n_params + 1, sizeof *s->param_is_pruned);
    if (!s->param_is_pruned)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_layers; i++) {
        const lps_prunable *w = s->layers[i].weight;
        size_t k = 0;
        while (k < n_params && lps_plan_param(s->plan, k)->initializer != w->init_index)
            k++;
        if (k == n_params)
            return lps_fail(err, LPS_ERR_UNSUPPORTED,
                            "weight '%s' of node '%s' is not trainable in this graph",
                            w->initializer, w->node);
        s->layers[i].param = k;
        if (!s->layers[i].excluded)
            s->param_is_pruned[k] = true;
    }
    return LPS_OK;
}

static float *param_slice(lps_plan *plan, size_t k)
{
    return lps_plan_param_data(plan, NULL) + lps_plan_param(plan, k)->offset;
}

float *lps_sparsify_layer_weights(const lps_sparsify *s, size_t i)
{
    return param_slice(s->plan, s->layers[i].param);
}

static float *grad_slice(lps_plan *plan, size_t k)
{
    return lps_plan_grad_data(plan, NULL) + lps_plan_param(plan, k)->offset;
}

lps_status lps_sparsify_lpsgd_view(lps_sparsify *s, int v, lps_error *err)
{
    int i = s->view_layer[v];
    const lps_sparsify_layer *L = &s->layers[i];
    const lps_prunable *w = L->weight;
    lps_prune_tensor *t = &s->views[v];
    lps_status st = lps_lpsgd_init(&s->lpsgd[i], param_slice(s->plan, L->param), w->layout,
                                   t->numel, L->p, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "weight '%s'", w->initializer);
    s->view_weight[i] = malloc((size_t)t->numel * sizeof(float));
    s->view_grad[i] = malloc((size_t)t->numel * sizeof(float));
    if (!s->view_weight[i] || !s->view_grad[i])
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    t->layout = lps_lpsgd_packed_layout(&s->lpsgd[i]);
    t->weight = s->view_weight[i];
    t->grad = s->view_grad[i];
    t->mask = s->lpsgd[i].mask;
    return LPS_OK;
}

/* The views' floors in the global pool: the classifier is never sparser
 * than the target, no other layer keeps less than LPS_LAYER_KEEP_SHARE of
 * the pool's density (docs/method.md, "The classifier under global
 * allocation"). LPS_ERR_NOMEM on allocation failure. */
static lps_status set_keep_shares(lps_sparsify *s, lps_error *err)
{
    bool *head = calloc(s->weights.count + 1, sizeof *head);
    if (!head)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    lps_status st = lps_prunable_heads(&s->model->graph, &s->weights, head, err);
    for (int v = 0; st == LPS_OK && v < s->n_views; v++)
        s->views[v].keep_share = head[s->view_layer[v]] ? 1.0 : LPS_LAYER_KEEP_SHARE;
    free(head);
    return st;
}

/* The prune views: LpSS sees its row-order buffers, the others the weight. */
static lps_status build_views(lps_sparsify *s, lps_error *err)
{
    s->views = calloc(s->n_layers + 1, sizeof *s->views);
    s->view_layer = calloc(s->n_layers + 1, sizeof *s->view_layer);
    s->lpsgd = calloc(s->n_layers + 1, sizeof *s->lpsgd);
    s->masks = calloc(s->n_layers + 1, sizeof *s->masks);
    s->view_weight = calloc(s->n_layers + 1, sizeof *s->view_weight);
    s->view_grad = calloc(s->n_layers + 1, sizeof *s->view_grad);
    if (!s->views || !s->view_layer || !s->lpsgd || !s->masks || !s->view_weight || !s->view_grad)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n_layers; i++) {
        lps_sparsify_layer *L = &s->layers[i];
        if (L->excluded)
            continue;
        const lps_prunable *w = L->weight;
        int64_t numel = w->layout.n_rows * w->layout.row_len;
        lps_prune_tensor *v = &s->views[s->n_views];
        v->name = w->initializer;
        v->numel = numel;
        v->target = L->target;
        v->pattern = L->patterned ? s->opt.pattern : (lps_pattern){0, 0};
        v->taps = w->taps;
        s->view_layer[s->n_views] = (int)i;
        if (s->opt.method == LPS_METHOD_LPSS) {
            lps_status st = lps_sparsify_lpsgd_view(s, s->n_views, err);
            if (st != LPS_OK)
                return st;
        } else {
            s->masks[i] = malloc((size_t)numel);
            if (!s->masks[i])
                return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
            memset(s->masks[i], 1, (size_t)numel);
            v->layout = w->layout;
            v->weight = param_slice(s->plan, L->param);
            v->mask = s->masks[i];
        }
        s->n_views++;
    }
    s->lpsgd_views = s->opt.method == LPS_METHOD_LPSS;
    lps_status st = set_keep_shares(s, err);
    return st == LPS_OK ? lps_prune_check(s->views, s->n_views, s->opt.target, err) : st;
}

/* The plan parameter holding initializer `name` with `numel` floats, or SIZE_MAX. */
static size_t param_named(const lps_sparsify *s, const char *name, int64_t numel)
{
    const lps_graph *g = &s->model->graph;
    for (size_t k = 0; k < lps_plan_n_params(s->plan); k++) {
        const lps_param *p = lps_plan_param(s->plan, k);
        if (strcmp(g->initializers[p->initializer].name, name) == 0 && (int64_t)p->numel == numel)
            return k;
    }
    return SIZE_MAX;
}

/* Output-statistics correction targets: counted layers with a bias (input
 * 2 of the weight's node, one value per unit) whose output does not reach
 * a graph output (the classifier's logits are not normalised). */
static lps_status build_stats(lps_sparsify *s, lps_error *err)
{
    s->stats = calloc(s->n_layers + 1, sizeof *s->stats);
    s->bias_param = malloc((s->n_layers + 1) * sizeof *s->bias_param);
    if (!s->stats || !s->bias_param)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    const lps_graph *g = &s->model->graph;
    for (size_t i = 0; i < s->n_layers; i++) {
        s->stats[i].value_id = -1;
        s->bias_param[i] = SIZE_MAX;
        const lps_sparsify_layer *L = &s->layers[i];
        const lps_node *n = &g->nodes[L->weight->node_index];
        if (L->excluded || L->weight->n_uses != 1 || !L->weight->rows_in_order ||
            n->n_inputs < 3 || !n->inputs[2][0] ||
            n->n_outputs < 1 || lps_prunable_reaches_output(g, n->outputs[0]))
            continue;
        int64_t units = L->weight->layout.n_rows;
        size_t bias = param_named(s, n->inputs[2], units);
        int id = lps_plan_find_value(s->plan, n->outputs[0]);
        if (bias == SIZE_MAX || id < 0)
            continue;
        s->bias_param[i] = bias;
        lps_status st = lps_stats_layer_init(&s->stats[i], s->plan, id, units, err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

lps_sparsify *lps_sparsify_create(const lps_model *m, lps_plan *plan,
                                  const lps_sparsify_options *opt,
                                  const lps_train_options *train_opt, lps_error *err)
{
    lps_sparsify *s = calloc(1, sizeof *s);
    lps_status st = LPS_OK;
    if (!s) {
        lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->model = m;
    s->plan = plan;
    s->opt = *opt;
    s->topt = *train_opt;
    if (!(opt->target > 0.0 && opt->target < 1.0)) {
        st = lps_fail(err, LPS_ERR_INVALID, "--target %g is outside (0, 1)", opt->target);
        goto done;
    }
    if ((st = lps_sparsify_check_method_options(opt, train_opt, err)) != LPS_OK)
        goto done;
    if ((st = lps_prunable_find(m, &s->weights, err)) != LPS_OK)
        goto done;
    if (s->weights.count == 0) {
        st = lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: the model has no prunable weight (Conv, "
                      "Gemm or constant MatMul operand)", m->path ? m->path : "model");
        goto done;
    }
    s->n_layers = s->weights.count;
    s->layers = calloc(s->n_layers, sizeof *s->layers);
    if (!s->layers) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->n_layers; i++) {
        s->layers[i].weight = &s->weights.items[i];
        s->layers[i].excluded = s->weights.items[i].excluded && !opt->prune_embeddings;
        s->layers[i].target = LPS_PRUNE_GLOBAL_TARGET;
        s->layers[i].recon_error = NAN;
        s->layers[i].p = !lps_sparsify_trains_lpsgd(opt) ? 0.0
                         : opt->p > 0        ? opt->p
                                             : lps_lpsgd_default_p(opt->target, i == 0);
    }
    size_t n_floats;
    lps_plan_param_data(plan, &n_floats);
    s->n_floats = n_floats;
    s->momentum = calloc(n_floats + 1, sizeof *s->momentum);
    if (!s->momentum) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = apply_overrides(s, err)) != LPS_OK || (st = apply_pattern(s, err)) != LPS_OK ||
        (st = map_params(s, err)) != LPS_OK || (st = build_views(s, err)) != LPS_OK)
        goto done;
    if (s->n_views == 0) {
        st = lps_fail(err, LPS_ERR_UNSUPPORTED,
                      "%s: every prunable weight is excluded (embedding tables are pruned only "
                      "with --prune-embeddings; --pattern leaves layers whose input channels do "
                      "not split into its groups dense)", m->path ? m->path : "model");
        goto done;
    }
    if (opt->method == LPS_METHOD_WANDA || opt->method == LPS_METHOD_SPARSEGPT)
        st = lps_sparsify_check_calibration(opt, err);
    else if (opt->method == LPS_METHOD_GMP)
        st = lps_gmp_config_check(&opt->gmp, err);
    if (st == LPS_OK && lps_sparsify_trains_lpsgd(opt))
        st = lps_semiprune_config_check(&opt->semi, err);
    if (st == LPS_OK && lps_sparsify_trains_lpsgd(opt))
        st = lps_semiprune_state_init(&s->semi, s->n_views, &opt->semi, err);
    if (st == LPS_OK && opt->stats_fix)
        st = build_stats(s, err);
done:
    if (st != LPS_OK) {
        lps_sparsify_free(s);
        return NULL;
    }
    return s;
}

/* Pruned positions are exactly 0 in the forward weights. */
void lps_sparsify_apply_masks(lps_sparsify *s)
{
    for (int v = 0; v < s->n_views; v++) {
        const lps_sparsify_layer *L = &s->layers[s->view_layer[v]];
        float *w = param_slice(s->plan, L->param);
        const uint8_t *mask = s->views[v].mask;
        for (int64_t k = 0; k < s->views[v].numel; k++)
            if (!mask[k])
                w[k] = 0.0f;
    }
}


static lps_status hook_begin(void *user, lps_plan *plan, int64_t total_steps, lps_error *err)
{
    lps_sparsify *s = user;
    (void)plan;
    (void)total_steps;
    if (!lps_sparsify_method_is_oneshot(s->opt.method))
        return LPS_OK;
    lps_status st = lps_sparsify_one_shot(s, err);
    return st == LPS_OK && s->opt.finetune == LPS_FINETUNE_LPSS ? lps_sparsify_start_lpss(s, err)
                                                                : st;
}

/* Plain SGD on every parameter the sparsifier does not own. */
static void sgd_others(lps_sparsify *s, double lr, bool include_pruned)
{
    for (size_t k = 0; k < lps_plan_n_params(s->plan); k++) {
        if (s->param_is_pruned[k] && !include_pruned)
            continue;
        const lps_param *prm = lps_plan_param(s->plan, k);
        lps_sgd_step(&s->topt.sgd, (float)lr, (int64_t)prm->numel, param_slice(s->plan, k),
                     grad_slice(s->plan, k), s->momentum + prm->offset);
    }
}

/* The semi-pruning phase of this step as lpss_topology acts on it. */
static lps_semiprune_phase lpss_phase(const lps_sparsify *s, int64_t step, int64_t total)
{
    lps_semiprune_phase phase = lps_semiprune_phase_at(&s->opt.semi, step, total);
    /* A back-off may restore masks from before the projection step. */
    if (phase == LPS_SEMIPRUNE_FROZEN && !s->masks_final)
        phase = LPS_SEMIPRUNE_PROJECT;
    return phase;
}

/* Whether lpss_topology changes masks in this phase. */
static bool lpss_phase_changes_masks(lps_semiprune_phase phase)
{
    return phase == LPS_SEMIPRUNE_UPDATE || phase == LPS_SEMIPRUNE_PROJECT;
}

/* Whether lpss_topology changes masks at this step. */
static bool lpss_topology_due(const lps_sparsify *s, int64_t step, int64_t total)
{
    return lpss_phase_changes_masks(lpss_phase(s, step, total));
}

static lps_status lpss_topology(lps_sparsify *s, int64_t step, int64_t total, lps_error *err)
{
    lps_semiprune_phase phase = lpss_phase(s, step, total);
    if (!lpss_phase_changes_masks(phase))
        return LPS_OK;
    for (int v = 0; v < s->n_views; v++) {
        int i = s->view_layer[v];
        lps_lpsgd_latent_weight(&s->lpsgd[i], s->view_weight[i]);
        lps_lpsgd_pack(&s->lpsgd[i], grad_slice(s->plan, s->layers[i].param), s->view_grad[i]);
    }
    if (phase == LPS_SEMIPRUNE_PROJECT) {
        s->masks_final = true;
        return lps_project_to_target(s->views, s->n_views, s->opt.target, s->opt.allocation, err);
    }
    lps_status st = lps_semiprune_update(&s->semi, &s->opt.semi, s->views, s->n_views,
                                         s->opt.target, step, total, NULL, err);
    if (st != LPS_OK || !s->opt.progressive_floor)
        return st;
    /* Fine-tuning moves weights too little for the drop threshold alone to
     * reach the target (docs/method.md): a cubic floor over the same window
     * keeps the masks on the way there, so the projection at `end` is a
     * small correction, not a one-shot prune. */
    lps_gmp_config ramp = {0.0, s->opt.semi.begin, s->opt.semi.end, s->opt.semi.frequency};
    return lps_project_at_least(s->views, s->n_views, s->opt.target, s->opt.allocation,
                                lps_gmp_sparsity(&ramp, 1.0, step, total), err);
}

/* Output-statistics correction after this step's update (stats_fix.h):
 * before the pruning window the dense reference is averaged, from its
 * start on each unit's scale (LpSS gain, or GMP weight row) and bias move
 * toward the reference statistics. */
static void fix_stats(lps_sparsify *s, int64_t step, int64_t total)
{
    if (!s->stats)
        return;
    double begin = s->lpsgd_views ? s->opt.semi.begin : s->opt.gmp.begin;
    bool dense = step < (int64_t)floor(begin * (double)total);
    for (size_t i = 0; i < s->n_layers; i++) {
        lps_stats_layer *L = &s->stats[i];
        if (L->value_id < 0 || !lps_stats_layer_measure(L, s->plan, dense) || dense ||
            L->ref_batches == 0)
            continue;
        float *bias = param_slice(s->plan, s->bias_param[i]);
        const lps_row_layout *l = &s->layers[i].weight->layout;
        float *w = param_slice(s->plan, s->layers[i].param);
        for (int64_t c = 0; c < L->channels; c++) {
            float a;
            lps_stats_layer_correction(L, c, &a, &bias[c]);
            if (s->lpsgd_views)
                s->lpsgd[i].gain[c] *= a;
            else
                for (int64_t k = 0; k < l->row_len; k++)
                    w[lps_row_offset(l, c, k)] *= a;
        }
    }
}

/* One step's LpSGD layers (lps_lpsgd_layer_fn): the views in order. */
typedef struct lpss_step {
    lps_sparsify *s;
    double lr, factor; /* the step's lr, and its ratio to the base lr */
} lpss_step;

static void lpss_layer(void *user, int view, lps_lpsgd_layer_step *step)
{
    const lpss_step *u = user;
    lps_sparsify *s = u->s;
    int i = s->view_layer[view];
    lps_lpsgd_hparams hp = {0};
    hp.lr = (float)(s->opt.lpsgd_lr_scale * (s->layers[i].p - 1.0) * u->factor);
    hp.momentum = s->topt.sgd.momentum;
    hp.nesterov = s->topt.sgd.nesterov;
    hp.freeze_gain = s->opt.freeze_gain;
    hp.gain_lr = (float)u->lr;
    hp.gain_sgd.momentum = s->topt.sgd.momentum;
    hp.gain_sgd.nesterov = s->topt.sgd.nesterov;
    /* The forward weights are written in the step's pass; the mask update
     * and the statistics fix below change them again. */
    *step = (lps_lpsgd_layer_step){&s->lpsgd[i], grad_slice(s->plan, s->layers[i].param), hp,
                                   param_slice(s->plan, s->layers[i].param)};
}

static lps_status lpss_update(lps_sparsify *s, int64_t step, int64_t total, double lr,
                              lps_error *err)
{
    lpss_step layers = {s, lr, s->topt.lr.base_lr > 0 ? lr / s->topt.lr.base_lr : 1.0};
    sgd_others(s, lr, false);
    int failed = 0;
    if (s->n_views > 0 &&
        lps_lpsgd_step_layers(s->n_views, lpss_layer, &layers, &failed, err) != LPS_OK)
        return lps_error_prefix(err, "weight '%s'",
                                s->layers[s->view_layer[failed]].weight->initializer);
    if (s->probing)
        return LPS_OK;
    bool reexport = lpss_topology_due(s, step, total) || s->stats;
    lps_status st = lpss_topology(s, step, total, err);
    if (st == LPS_OK)
        fix_stats(s, step, total);
    for (int v = 0; v < s->n_views && st == LPS_OK && reexport; v++) {
        int i = s->view_layer[v];
        lps_lpsgd_export(&s->lpsgd[i], param_slice(s->plan, s->layers[i].param));
    }
    return st;
}

/* GMP's step: SGD on every weight under the current masks, then the
 * schedule's mask update when one is due. */
static lps_status gmp_update(lps_sparsify *s, int64_t step, int64_t total, double lr,
                             lps_error *err)
{
    lps_status st = LPS_OK;
    sgd_others(s, lr, true);
    lps_sparsify_apply_masks(s);
    if (lps_gmp_due(&s->opt.gmp, step, total) ||
        (!s->masks_final && lps_gmp_sparsity(&s->opt.gmp, 1.0, step, total) == 1.0)) {
        /* the second case: a back-off restored masks from before the last update */
        s->masks_final = lps_gmp_sparsity(&s->opt.gmp, 1.0, step, total) == 1.0;
        st = lps_gmp_update(&s->opt.gmp, s->views, s->n_views, s->opt.target, s->opt.allocation,
                            step, total, err);
        lps_sparsify_apply_masks(s);
    }
    fix_stats(s, step, total);
    return st;
}

static lps_status hook_update(void *user, lps_plan *plan, int64_t step, int64_t total, double lr,
                              lps_error *err)
{
    lps_sparsify *s = user;
    (void)plan;
    if (s->lpsgd_views) /* LpSS, or a one-shot method's --finetune lpss */
        return lpss_update(s, step, total, lr, err);
    if (s->opt.method == LPS_METHOD_GMP)
        return gmp_update(s, step, total, lr, err);
    /* magnitude, wanda, sparsegpt fine-tuned with --finetune frozen: the
     * one-shot mask stays */
    sgd_others(s, lr, true);
    lps_sparsify_apply_masks(s);
    return LPS_OK;
}

double lps_sparsify_achieved(const lps_sparsify *s)
{
    int64_t zeros = 0, total = 0;
    for (int v = 0; v < s->n_views; v++) {
        const float *w = param_slice(s->plan, s->layers[s->view_layer[v]].param);
        for (int64_t k = 0; k < s->views[v].numel; k++)
            zeros += w[k] == 0.0f;
        total += s->views[v].numel;
    }
    return total ? (double)zeros / (double)total : NAN;
}

static lps_status hook_end_epoch(void *user, lps_plan *plan, lps_epoch_stats *stats,
                                 lps_error *err)
{
    lps_sparsify *s = user;
    double hoyer_sum = 0.0;
    int n = 0;
    (void)plan;
    (void)err;
    for (int v = 0; v < s->n_views; v++) {
        const lps_sparsify_layer *L = &s->layers[s->view_layer[v]];
        lps_hoyer_mean h = lps_hoyer_layer(param_slice(s->plan, L->param), &L->weight->layout);
        if (isfinite(h.mean)) {
            hoyer_sum += h.mean;
            n++;
        }
    }
    stats->sparsity = lps_sparsify_achieved(s);
    stats->hoyer = n ? hoyer_sum / n : NAN;
    return LPS_OK;
}


void lps_sparsify_hooks(lps_sparsify *s, lps_train_hooks *hooks)
{
    hooks->transfer = lps_sparsify_hook_transfer;
    hooks->state_hash = lps_sparsify_hook_state_hash;
    hooks->user = s;
    hooks->begin = hook_begin;
    hooks->probe = lps_sparsify_hook_probe;
    hooks->update = hook_update;
    hooks->end_epoch = hook_end_epoch;
    hooks->save = lps_sparsify_hook_save;
    hooks->restore = lps_sparsify_hook_restore;
}

lps_status lps_sparsify_finish(lps_sparsify *s, lps_error *err)
{
    if (lps_sparsify_method_is_oneshot(s->opt.method) && !s->pruned_once)
        return lps_sparsify_one_shot(s, err);
    /* Every update already exported g * u; before any step this writes the
     * input model's weights back as the session sees them (step 0). */
    for (int v = 0; v < s->n_views && s->lpsgd_views; v++) {
        int i = s->view_layer[v];
        lps_lpsgd_export(&s->lpsgd[i], param_slice(s->plan, s->layers[i].param));
    }
    return LPS_OK;
}

size_t lps_sparsify_n_layers(const lps_sparsify *s) { return s->n_layers; }


const lps_sparsify_layer *lps_sparsify_layer_info(const lps_sparsify *s, size_t i)
{
    return i < s->n_layers ? &s->layers[i] : NULL;
}

void lps_sparsify_free(lps_sparsify *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_layers; i++) {
        if (s->lpsgd)
            lps_lpsgd_free(&s->lpsgd[i]);
        if (s->masks)
            free(s->masks[i]);
        if (s->view_weight)
            free(s->view_weight[i]);
        if (s->view_grad)
            free(s->view_grad[i]);
        if (s->saved_lpsgd)
            lps_lpsgd_free(&s->saved_lpsgd[i]);
        if (s->saved_masks)
            free(s->saved_masks[i]);
    }
    for (size_t i = 0; s->stats && i < s->n_layers; i++)
        lps_stats_layer_release(&s->stats[i]);
    free(s->stats);
    free(s->bias_param);
    free(s->saved_lpsgd);
    free(s->saved_masks);
    free(s->saved_momentum);
    free(s->saved_grow);
    free(s->lpsgd);
    free(s->masks);
    free(s->view_weight);
    free(s->view_grad);
    free(s->views);
    free(s->view_layer);
    free(s->layers);
    free(s->param_is_pruned);
    free(s->momentum);
    lps_semiprune_state_free(&s->semi);
    lps_prunable_list_release(&s->weights);
    free(s);
}
