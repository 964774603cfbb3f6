#include "cli/pattern_cli.h"

#include <stdio.h>

#include "cli/cli_util.h"
#include "report/report.h"

/* Longest "N:M" text. */
#define PATTERN_TEXT_MAX 16

lps_status lps_cli_pattern_target(lps_sparsify_options *o, lps_error *err)
{
    (void)err;
    if (lps_pattern_on(o->pattern) && o->target == 0.0)
        o->target = lps_pattern_sparsity(o->pattern);
    return LPS_OK;
}

lps_storage lps_cli_pattern_storage(const lps_sparsify_options *o, lps_storage storage)
{
    return lps_pattern_on(o->pattern) && storage == LPS_STORAGE_AUTO ? LPS_STORAGE_DENSE
                                                                    : storage;
}

void lps_cli_print_pattern_misfits(const lps_sparsify *s, const lps_sparsify_options *o,
                                   bool quiet)
{
    if (quiet || !lps_pattern_on(o->pattern))
        return;
    for (size_t i = 0; i < lps_sparsify_n_layers(s); i++) {
        const lps_sparsify_layer *L = lps_sparsify_layer_info(s, i);
        if (!L->pattern_misfit)
            continue;
        const lps_prunable *w = L->weight;
        fprintf(stderr,
                "%s: --pattern %d:%d: layer '%s' (node '%s'): %lld input channels (of %lld "
                "positions per row) do not split into groups of %d: %s\n",
                LPS_PROGRAM, o->pattern.n, o->pattern.m, w->initializer, w->node,
                (long long)(w->taps > 0 ? w->layout.row_len / w->taps : 0),
                (long long)w->layout.row_len, o->pattern.m,
                L->excluded ? "left dense" : "pruned unstructured to its --layer-target");
    }
}

void lps_cli_report_pattern(cJSON *report, const lps_sparsify *s, const lps_sparsify_options *o)
{
    if (!lps_pattern_on(o->pattern)) {
        cJSON_AddNullToObject(report, "pattern");
        return;
    }
    char text[PATTERN_TEXT_MAX];
    snprintf(text, sizeof text, "%d:%d", o->pattern.n, o->pattern.m);
    cJSON *summary = cJSON_AddObjectToObject(report, "pattern");
    cJSON *dense = cJSON_CreateArray(), *unstructured = cJSON_CreateArray();
    int applied = 0;
    for (size_t i = 0; i < lps_sparsify_n_layers(s); i++) {
        const lps_sparsify_layer *L = lps_sparsify_layer_info(s, i);
        cJSON *layer = lps_report_layer(report, i);
        const char *state = L->patterned        ? text
                            : !L->pattern_misfit ? NULL
                            : L->excluded        ? "dense"
                                                 : "unstructured";
        if (layer && state)
            cJSON_AddStringToObject(layer, "pattern", state);
        else if (layer)
            cJSON_AddNullToObject(layer, "pattern");
        applied += L->patterned;
        if (L->pattern_misfit)
            cJSON_AddItemToArray(L->excluded ? dense : unstructured,
                                 cJSON_CreateString(L->weight->initializer));
    }
    if (!summary) {
        cJSON_Delete(dense);
        cJSON_Delete(unstructured);
        return;
    }
    cJSON_AddStringToObject(summary, "pattern", text);
    cJSON_AddNumberToObject(summary, "n", o->pattern.n);
    cJSON_AddNumberToObject(summary, "m", o->pattern.m);
    cJSON_AddNumberToObject(summary, "layers", applied);
    cJSON_AddItemToObject(summary, "dense_layers", dense);
    cJSON_AddItemToObject(summary, "unstructured_layers", unstructured);
}
