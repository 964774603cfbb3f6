#include "cli/lpsgd_step_cli.h"

#include "report/report.h"

/* {"steps": .., "candidates": [{"scale", "loss"}], "batches", "run_steps", "seconds"} */
static cJSON *probe_json(const lps_lr_probe *pr)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cands = cJSON_CreateArray();
    if (!o || !cands) {
        cJSON_Delete(o);
        cJSON_Delete(cands);
        return NULL;
    }
    for (int64_t c = 0; c < pr->n; c++) {
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        cJSON_AddNumberToObject(e, "scale", pr->scale[c]);
        lps_json_add_number(e, "loss", pr->score[c]);
        cJSON_AddItemToArray(cands, e);
    }
    cJSON_AddNumberToObject(o, "updates_per_candidate", (double)pr->steps);
    cJSON_AddItemToObject(o, "candidates", cands);
    cJSON_AddNumberToObject(o, "batches", (double)pr->batches);
    cJSON_AddNumberToObject(o, "run_steps", (double)pr->run_steps);
    cJSON_AddNumberToObject(o, "seconds", pr->seconds);
    return o;
}

void lps_cli_report_lpsgd_step(cJSON *report, const lps_sparsify *s,
                               const lps_sparsify_options *o)
{
    if (!lps_sparsify_trains_lpsgd(o)) {
        cJSON_AddNullToObject(report, "lpsgd_step");
        return;
    }
    const lps_lr_probe *pr = lps_sparsify_lr_probe(s);
    cJSON *step = cJSON_CreateObject();
    if (!step)
        return;
    cJSON_AddNumberToObject(step, "scale", lps_sparsify_lpsgd_lr_scale(s));
    cJSON_AddStringToObject(step, "source", pr ? "probe" : o->lpsgd_lr_auto ? "default" : "fixed");
    if (pr)
        cJSON_AddItemToObject(step, "probe", probe_json(pr));
    else
        cJSON_AddNullToObject(step, "probe");
    cJSON_AddItemToObject(report, "lpsgd_step", step);
}
