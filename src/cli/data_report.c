/* The data keys of a training command's report (docs/report.md). */
#include <cJSON.h>

#include "cli/options.h"
#include "report/report.h"

static cJSON *pair(double dense, double sparse)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        lps_json_add_number(o, "dense", dense);
        lps_json_add_number(o, "sparse", sparse);
    }
    return o;
}

/* Appends items[0..n) as strings to arr (NULL arr: nothing). */
static void add_strings(cJSON *arr, char *const *items, int64_t n)
{
    for (int64_t i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(items[i]));
}

void lps_cli_report_data(cJSON *report, const lps_cli_splits *s,
                         const lps_eval_result *dense_test, const lps_eval_result *sparse_test)
{
    bool held_out = s->eval != &s->test;
    const lps_dataset *train = &s->train;
    cJSON_AddStringToObject(report, "evaluation_split", held_out ? "val" : "test");
    if (held_out) {
        cJSON *test = cJSON_AddObjectToObject(report, "test");
        if (test) {
            cJSON_AddItemToObject(test, "accuracy", pair(dense_test->accuracy, sparse_test->accuracy));
            cJSON_AddItemToObject(test, "loss", pair(dense_test->loss, sparse_test->loss));
        }
    }
    if (train->class_names)
        add_strings(cJSON_AddArrayToObject(report, "classes"), train->class_names, train->n_classes);
    if (train->files) {
        cJSON *skipped = cJSON_AddArrayToObject(report, "skipped");
        add_strings(skipped, s->train.skipped, s->train.n_skipped);
        add_strings(skipped, s->test.skipped, s->test.n_skipped);
    }
}
