#include "cli/recipe.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report.h"

/* A recipe is a few kilobytes; a larger file is not one. */
#define RECIPE_MAX_BYTES (1u << 20)
/* Room for a number written back as option text. */
#define NUMBER_TEXT_MAX 40
/* Room for "layers[NNN]". */
#define KEY_PATH_MAX 32

typedef enum value_kind {
    KIND_NUMBER,    /* a JSON number */
    KIND_STRING,    /* a JSON string */
    KIND_ANY,       /* a number or a string (per-channel lists: "0.5,0.4") */
    KIND_FLAG       /* a JSON boolean: true sets the flag, false is the default */
} value_kind;

typedef struct recipe_key {
    const char *name;
    value_kind kind;
} recipe_key;

/* The options a recipe may carry (docs/recipe.md lists the same): every
 * sparsify option except the per-run paths (-o, --report, --html, the
 * checkpoint options --checkpoint, --checkpoint-every, --resume), -q,
 * --help, --recipe itself and the by-name overrides (--p-layer,
 * --layer-target, --exclude), which `layers` rules replace. */
static const recipe_key KEYS[] = {
    {"target", KIND_NUMBER},         {"method", KIND_STRING},
    {"pattern", KIND_STRING},        {"p", KIND_NUMBER},
    {"allocation", KIND_STRING},     {"lpsgd-lr", KIND_ANY},   
    {"freeze-gain", KIND_FLAG},      {"prune-every", KIND_NUMBER},
    {"stats-fix", KIND_STRING},      {"prune-embeddings", KIND_FLAG},
    {"storage", KIND_STRING},        {"max-drop", KIND_NUMBER},
    {"data", KIND_STRING},           {"batch", KIND_NUMBER},
    {"scale", KIND_NUMBER},          {"mean", KIND_ANY},
    {"std", KIND_ANY},               {"label-column", KIND_NUMBER},
    {"csv-header", KIND_STRING},     {"memory-budget", KIND_NUMBER},
    {"resize", KIND_NUMBER},         {"crop", KIND_NUMBER},
    {"augment", KIND_STRING},        {"normalize", KIND_STRING},
    {"val-split", KIND_NUMBER},      {"skip-bad", KIND_FLAG},
    {"epochs", KIND_NUMBER},         {"lr", KIND_NUMBER},
    {"lr-schedule", KIND_STRING},    {"momentum", KIND_NUMBER},
    {"no-nesterov", KIND_FLAG},      {"weight-decay", KIND_NUMBER},
    {"clip", KIND_NUMBER},           {"label-smoothing", KIND_NUMBER},
    {"seed", KIND_NUMBER},           {"distill", KIND_FLAG},
    {"temperature", KIND_NUMBER},    {"bn-frozen", KIND_FLAG},
    {"train-bn", KIND_STRING},       {"calibration", KIND_NUMBER},
    {"wanda-group", KIND_STRING},    {"sparsegpt-block", KIND_NUMBER},
    {"sparsegpt-damp", KIND_NUMBER}, {"finetune", KIND_STRING},
};

static const char *kind_name(value_kind k)
{
    switch (k) {
    case KIND_NUMBER: return "a number";
    case KIND_STRING: return "a string";
    case KIND_ANY: return "a number or a string";
    case KIND_FLAG: return "true or false";
    }
    return "?";
}

static const recipe_key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return &KEYS[i];
    return NULL;
}

static bool kind_matches(value_kind k, const cJSON *v)
{
    switch (k) {
    case KIND_NUMBER: return cJSON_IsNumber(v);
    case KIND_STRING: return cJSON_IsString(v);
    case KIND_ANY: return cJSON_IsNumber(v) || cJSON_IsString(v);
    case KIND_FLAG: return cJSON_IsBool(v);
    }
    return false;
}

/* LPS_ERR_INVALID "PATH: KEY: ..." when an object has the same key twice
 * (cJSON keeps both; the second would silently win). */
static lps_status check_unique(const char *path, const char *where, const cJSON *obj,
                               lps_error *err)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return lps_fail(err, LPS_ERR_INVALID, "%s: %s%s%s: given twice", path, where,
                                where[0] ? "." : "", a->string);
    return LPS_OK;
}

/* Rewrites the parser's "--NAME: reason" as "PATH: NAME: reason". */
static lps_status rename_option_error(const char *path, const char *name, lps_error *err)
{
    char reason[LPS_ERROR_MSG_MAX];
    const char *msg = err->msg;
    size_t n = strlen(name);
    if (strncmp(msg, "--", 2) == 0 && strncmp(msg + 2, name, n) == 0 &&
        strncmp(msg + 2 + n, ": ", 2) == 0)
        msg += 2 + n + 2;
    snprintf(reason, sizeof reason, "%s", msg);
    return lps_fail(err, err->status, "%s: %s: %s", path, name, reason);
}

/* One top-level option key. */
static lps_status apply_key(const char *path, const cJSON *item, const struct option *options,
                            lps_recipe_option_fn apply, void *user, lps_error *err)
{
    const recipe_key *key = find_key(item->string);
    const struct option *opt = options;
    while (key && opt->name && strcmp(opt->name, key->name) != 0)
        opt++;
    if (!key || !opt->name)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: unknown key (docs/recipe.md lists the keys)",
                        path, item->string);
    if (!kind_matches(key->kind, item))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: expected %s", path, key->name,
                        kind_name(key->kind));
    char number[NUMBER_TEXT_MAX];
    char *arg = NULL;
    if (key->kind == KIND_FLAG) {
        if (cJSON_IsFalse(item))
            return LPS_OK;
    } else if (cJSON_IsNumber(item)) {
        snprintf(number, sizeof number, "%.17g", item->valuedouble);
        arg = number;
    } else {
        arg = item->valuestring;
    }
    if (apply(user, opt->val, arg, err) != LPS_OK)
        return rename_option_error(path, key->name, err);
    return LPS_OK;
}

/* A number member of a rule in [lo, hi] (lo open when lo_open), or NAN when
 * absent. */
static lps_status rule_number(const char *path, const char *where, const cJSON *rule,
                              const char *name, double lo, bool lo_open, double hi, double *out,
                              lps_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, name);
    *out = NAN;
    if (!v)
        return LPS_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        (lo_open ? v->valuedouble <= lo : v->valuedouble < lo) || v->valuedouble > hi)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s.%s: expected a number in %s%g, %g]", path,
                        where, name, lo_open ? "(" : "[", lo, hi);
    *out = v->valuedouble;
    return LPS_OK;
}

/* layers[i]: {match, target?, p?, exclude?}. */
static lps_status parse_rule(const char *path, const char *where, const cJSON *rule,
                             lps_layer_rule *out, lps_error *err)
{
    static const char *const known[] = {"match", "target", "p", "exclude"};
    if (!cJSON_IsObject(rule))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: expected an object", path, where);
    lps_status st = check_unique(path, where, rule, err);
    for (const cJSON *m = rule->child; m && st == LPS_OK; m = m->next) {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(known[k], m->string) != 0)
            k++;
        if (k == sizeof known / sizeof known[0])
            st = lps_fail(err, LPS_ERR_INVALID, "%s: %s.%s: unknown key (match, target, p or "
                          "exclude)", path, where, m->string);
    }
    if (st != LPS_OK)
        return st;
    const cJSON *match = cJSON_GetObjectItemCaseSensitive(rule, "match");
    const cJSON *exclude = cJSON_GetObjectItemCaseSensitive(rule, "exclude");
    if (!cJSON_IsString(match) || !match->valuestring[0])
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s.match: expected a non-empty string (a "
                        "regex over initializer and node names)", path, where);
    if (exclude && !cJSON_IsBool(exclude))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s.exclude: expected true or false", path,
                        where);
    out->match = match->valuestring;
    out->exclude = cJSON_IsTrue(exclude);
    if ((st = rule_number(path, where, rule, "target", 0.0, false, 1.0, &out->target, err)) !=
            LPS_OK ||
        (st = rule_number(path, where, rule, "p", 1.0, true, 2.0, &out->p, err)) != LPS_OK)
        return st;
    if (isnan(out->target) && isnan(out->p) && !out->exclude)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: needs target, p or exclude", path, where);
    if (out->exclude && (!isnan(out->target) || !isnan(out->p)))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: an excluded layer takes no target or p",
                        path, where);
    return LPS_OK;
}

static lps_status parse_layers(const char *path, const cJSON *layers, lps_sparsify_options *o,
                               lps_error *err)
{
    if (!cJSON_IsArray(layers))
        return lps_fail(err, LPS_ERR_INVALID, "%s: layers: expected an array of rules", path);
    int i = 0;
    for (const cJSON *rule = layers->child; rule; rule = rule->next, i++) {
        char where[KEY_PATH_MAX];
        snprintf(where, sizeof where, "layers[%d]", i);
        if (o->n_rules >= LPS_SPARSIFY_MAX_OVERRIDES)
            return lps_fail(err, LPS_ERR_INVALID, "%s: %s: at most %d rules", path, where,
                            LPS_SPARSIFY_MAX_OVERRIDES);
        lps_layer_rule *r = &o->rules[o->n_rules];
        lps_status st = parse_rule(path, where, rule, r, err);
        if (st != LPS_OK)
            return st;
        o->n_rules++;
    }
    return LPS_OK;
}

/* Checks the schema key and applies every other key. */
static lps_status apply_recipe(const char *path, const cJSON *root, const struct option *options,
                               lps_recipe_option_fn apply, void *user, lps_sparsify_options *o,
                               lps_error *err)
{
    if (!cJSON_IsObject(root))
        return lps_fail(err, LPS_ERR_INVALID, "%s: expected a JSON object", path);
    lps_status st = check_unique(path, "", root, err);
    if (st != LPS_OK)
        return st;
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, LPS_RECIPE_SCHEMA) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: schema: expected \"%s\"", path,
                        LPS_RECIPE_SCHEMA);
    for (const cJSON *item = root->child; item && st == LPS_OK; item = item->next) {
        if (strcmp(item->string, "schema") == 0)
            continue;
        if (strcmp(item->string, "layers") == 0)
            st = parse_layers(path, item, o, err);
        else
            st = apply_key(path, item, options, apply, user, err);
    }
    return st;
}

lps_status lps_recipe_load(const char *path, const struct option *options,
                           lps_recipe_option_fn apply, void *user, lps_sparsify_options *o,
                           cJSON **keep, lps_error *err)
{
    *keep = NULL;
    cJSON *root = lps_json_read(path, RECIPE_MAX_BYTES, err);
    if (!root)
        return err->status;
    int first_rule = o->n_rules;
    lps_status st = apply_recipe(path, root, options, apply, user, o, err);
    if (st != LPS_OK) {
        o->n_rules = first_rule;
        cJSON_Delete(root);
        return st;
    }
    for (int k = first_rule; k < o->n_rules; k++) {
        o->rules[k].file = path;
        o->rules[k].index = k - first_rule;
    }
    *keep = root;
    return LPS_OK;
}
