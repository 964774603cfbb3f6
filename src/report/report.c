#include "report/report.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "sparsity/layer_stats.h"

bool lps_json_add_number(cJSON *obj, const char *key, double value)
{
    if (isfinite(value))
        return cJSON_AddNumberToObject(obj, key, value) != NULL;
    return cJSON_AddNullToObject(obj, key) != NULL;
}

/* Adds key: "string", or null when s is NULL. */
static bool add_string_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s)
        return cJSON_AddStringToObject(obj, key, s) != NULL;
    return cJSON_AddNullToObject(obj, key) != NULL;
}

/* "name version", "name", or NULL when the model names no producer.
 * Returns a malloc'd string in *out; false on allocation failure. */
static bool producer_string(const lps_model *m, char **out)
{
    const char *name = m->producer_name ? m->producer_name : "";
    const char *version = m->producer_version ? m->producer_version : "";
    *out = NULL;
    if (!name[0] && !version[0])
        return true;
    size_t size = strlen(name) + strlen(version) + 2;
    *out = malloc(size);
    if (!*out)
        return false;
    snprintf(*out, size, "%s%s%s", name, name[0] && version[0] ? " " : "", version);
    return true;
}

/* model.opsets: [{domain, version}]. false on allocation failure. */
static bool add_opsets(cJSON *model_obj, const lps_model *m)
{
    cJSON *arr = cJSON_AddArrayToObject(model_obj, "opsets");
    if (!arr)
        return false;
    for (size_t i = 0; i < m->n_opsets; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return false;
        cJSON_AddItemToArray(arr, o);
        const char *domain = m->opsets[i].domain ? m->opsets[i].domain : "";
        if (!cJSON_AddStringToObject(o, "domain", domain) ||
            !cJSON_AddNumberToObject(o, "version", (double)m->opsets[i].version))
            return false;
    }
    return true;
}

/* The "model" object. false on allocation failure. */
static bool add_model(cJSON *root, const lps_model *m)
{
    cJSON *obj = cJSON_AddObjectToObject(root, "model");
    char *producer = NULL;
    bool ok = obj && producer_string(m, &producer) &&
              add_string_or_null(obj, "path", m->path) &&
              cJSON_AddNumberToObject(obj, "bytes", (double)m->file_bytes) &&
              cJSON_AddNumberToObject(obj, "ir_version", (double)m->ir_version) &&
              add_opsets(obj, m) &&
              add_string_or_null(obj, "producer", producer);
    free(producer);
    return ok;
}

/* layer.shape: the weight dims. false on allocation failure. */
static bool add_shape(cJSON *obj, const lps_prunable *w)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "shape");
    if (!arr)
        return false;
    for (int d = 0; d < w->rank; d++) {
        cJSON *v = cJSON_CreateNumber((double)w->dims[d]);
        if (!v)
            return false;
        cJSON_AddItemToArray(arr, v);
    }
    return true;
}

/* The measured per-layer figures, null where undefined. false on
 * allocation failure. */
static bool add_stats(cJSON *obj, const lps_layer_stats *s)
{
    return cJSON_AddNumberToObject(obj, "params", (double)s->params) &&
           cJSON_AddNumberToObject(obj, "zeros", (double)s->zeros) &&
           lps_json_add_number(obj, "sparsity", s->sparsity) &&
           cJSON_AddNumberToObject(obj, "zero_rows", (double)s->hoyer.zero_rows) &&
           lps_json_add_number(obj, "hoyer", s->hoyer.mean) &&
           lps_json_add_number(obj, "hoyer_tensor", s->hoyer_tensor) &&
           lps_json_add_number(obj, "gamma_k", s->gamma_k) &&
           lps_json_add_number(obj, "hoyer_expected_fit", s->hoyer_expected_fit);
}

/* Sums over the report's layers. */
typedef struct layer_sums {
    int64_t params, zeros;
    int64_t prunable;         /* params of the layers that are not excluded */
} layer_sums;

/* Appends one layer object for w to layers; accumulates its sums. */
static lps_status add_layer(cJSON *layers, const lps_model *m, const lps_prunable *w,
                            layer_sums *sums, lps_error *err)
{
    const lps_tensor *t = &m->graph.initializers[w->init_index].tensor;
    if (!t->data && lps_tensor_numel(t) > 0)
        return lps_fail(err, LPS_ERR_INVALID, "initializer '%s': no data", w->initializer);
    lps_layer_stats s = lps_layer_stats_of(lps_tensor_f32(t), &w->layout);
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory building the report");
    cJSON_AddItemToArray(layers, obj);
    bool ok = cJSON_AddStringToObject(obj, "name", w->initializer) &&
              cJSON_AddStringToObject(obj, "node", w->node) &&
              cJSON_AddStringToObject(obj, "op", w->op_type) &&
              cJSON_AddStringToObject(obj, "role",
                                      w->role == LPS_WEIGHT_EMBEDDING ? "embedding" : "layer") &&
              cJSON_AddBoolToObject(obj, "excluded", w->excluded) &&
              add_shape(obj, w) &&
              cJSON_AddNumberToObject(obj, "fan_in", (double)w->fan_in) &&
              cJSON_AddNumberToObject(obj, "rows", (double)w->layout.n_rows) &&
              add_stats(obj, &s);
    if (!ok)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory building the report");
    sums->params += s.params;
    sums->zeros += s.zeros;
    if (!w->excluded)
        sums->prunable += s.params;
    return LPS_OK;
}

/* The "totals" object. false on allocation failure. */
static bool add_totals(cJSON *root, const layer_sums *sums, int64_t trainable)
{
    cJSON *obj = cJSON_AddObjectToObject(root, "totals");
    double sparsity = sums->params > 0 ? (double)sums->zeros / (double)sums->params : NAN;
    return obj && cJSON_AddNumberToObject(obj, "params", (double)sums->params) &&
           cJSON_AddNumberToObject(obj, "zeros", (double)sums->zeros) &&
           lps_json_add_number(obj, "sparsity", sparsity) &&
           cJSON_AddNumberToObject(obj, "trainable_params", (double)trainable) &&
           cJSON_AddNumberToObject(obj, "prunable_params", (double)sums->prunable) &&
           cJSON_AddNumberToObject(obj, "not_prunable_params",
                                   (double)(trainable - sums->prunable));
}

cJSON *lps_report_build(const lps_model *m, const lps_prunable_list *weights, lps_error *err)
{
    layer_sums sums = {0, 0, 0};
    int64_t trainable = 0;
    cJSON *layers = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "schema", LPS_REPORT_SCHEMA) || !add_model(root, m))
        goto nomem;
    layers = cJSON_AddArrayToObject(root, "layers");
    if (!layers)
        goto nomem;
    for (size_t i = 0; i < weights->count; i++)
        if (add_layer(layers, m, &weights->items[i], &sums, err) != LPS_OK)
            goto cleanup;
    if (lps_trainable_params(m, &trainable, err) != LPS_OK)
        goto cleanup;
    if (!add_totals(root, &sums, trainable))
        goto nomem;
    return root;
nomem:
    lps_fail(err, LPS_ERR_NOMEM, "out of memory building the report");
cleanup:
    cJSON_Delete(root);
    return NULL;
}

cJSON *lps_report_layer(const cJSON *report, size_t i)
{
    cJSON *layers = cJSON_GetObjectItemCaseSensitive(report, "layers");
    if (!cJSON_IsArray(layers) || i > INT32_MAX)
        return NULL;
    return cJSON_GetArrayItem(layers, (int)i);
}

lps_status lps_report_write(const cJSON *report, const char *path, lps_error *err)
{
    char *text = cJSON_Print(report);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? malloc(len + 2) : NULL;
    lps_status st = LPS_OK;
    if (!line) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory printing the report", path);
        goto cleanup;
    }
    memcpy(line, text, len);
    line[len] = '\n';
    line[len + 1] = '\0';
    if (strcmp(path, "-") == 0) {
        if (fwrite(line, 1, len + 1, stdout) != len + 1 || fflush(stdout) != 0)
            st = lps_fail(err, LPS_ERR_IO, "(stdout): cannot write the report");
    } else {
        st = lps_write_file_atomic(path, line, len + 1, err);
    }
cleanup:
    free(line);
    cJSON_free(text);
    return st;
}
