/* lpsparsify eval MODEL [--data SPEC] [--batch N] [--json FILE|-] */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "core/atomic_file.h"
#include "train/dist.h"
#include "train/trainer.h"

#define STDOUT_PATH "-"
#define PERCENT 100.0

void lps_cmd_eval_help(FILE *out)
{
    fprintf(out,
            "Usage: %s eval MODEL [options]\n\n"
            "Runs MODEL over the evaluation split (the test split of --data) and prints\n"
            "top-1 accuracy, mean cross-entropy and samples/s.\n\n"
            "  --json FILE|-          write the result as JSON (atomically; '-' = stdout)\n"
            "  -h, --help             show this help\n\n%s",
            LPS_PROGRAM, LPS_CLI_DATA_HELP);
}

static cJSON *number_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static lps_status emit_json(const char *path, const char *model, const lps_eval_result *r,
                            lps_error *err)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    lps_status st = LPS_OK;
    if (!root)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory building JSON");
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddNumberToObject(root, "samples", (double)r->samples);
    cJSON_AddItemToObject(root, "accuracy", number_or_null(r->accuracy));
    cJSON_AddItemToObject(root, "loss", number_or_null(r->loss));
    cJSON_AddItemToObject(root, "samples_per_second", number_or_null(r->samples_per_second));
    text = cJSON_Print(root);
    if (!text)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory printing JSON");
    else if (strcmp(path, STDOUT_PATH) == 0)
        printf("%s\n", text);
    else
        st = lps_write_file_atomic(path, text, strlen(text), err);
    free(text);
    cJSON_Delete(root);
    return st;
}

int lps_cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        LPS_CLI_DATA_OPTIONS,
        {"json", required_argument, NULL, LPS_OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lps_cli_data data;
    lps_error err = {0};
    const char *json = NULL;
    lps_dataset ds = {0};
    lps_model *m = NULL;
    lps_eval_result r;
    bool handled;
    int c, code;
    lps_cli_data_default(&data);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_eval_help(stdout);
            return 0;
        }
        if (c == LPS_OPT_JSON) {
            json = optarg;
            continue;
        }
        if (c == '?' || c == ':')
            return lps_cli_option_error(argv[0], c, argv);
        if (lps_cli_data_option(&data, c, optarg, &handled, &err) != LPS_OK)
            return lps_cli_report(&err);
    }
    if (optind + 1 != argc)
        return lps_cli_usage_error(argv[0], optind >= argc ? "no MODEL given"
                                                           : "exactly one MODEL is expected");
    const char *path = argv[optind];
    if (lps_cli_check_input_file(path, &err) != LPS_OK ||
        (json && lps_cli_check_not_input(json, path, &err) != LPS_OK) ||
        !(m = lps_model_load(path, &err)) ||
        lps_cli_open_split(&data, m, LPS_SPLIT_TEST, &ds, &err) != LPS_OK)
        goto failed;
    lps_cli_print_dataset_adaptation("test", &ds, m, json && strcmp(json, STDOUT_PATH) == 0);
    if (lps_evaluate_model(m, &ds, &data.preprocess, data.batch, &r, &err) != LPS_OK)
        goto failed;
    if (lps_dist_rank() != 0) { /* sharded under mpirun: rank 0 reports the sums */
        code = 0;
        goto cleanup;
    }
    if (json) {
        if (emit_json(json, path, &r, &err) != LPS_OK)
            goto failed;
    }
    if (!json || strcmp(json, STDOUT_PATH) != 0)
        printf("accuracy %.2f%%  loss %.4f  samples %lld  %.0f samples/s\n", r.accuracy * PERCENT,
               r.loss, (long long)r.samples, r.samples_per_second);
    code = 0;
    goto cleanup;
failed:
    code = lps_cli_report(&err);
cleanup:
    lps_dataset_release(&ds);
    lps_model_free(m);
    return code;
}
