/* lpsparsify inspect MODEL [--json FILE|-] [--html FILE] */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "lpsparsify/model.h"
#include "report/html.h"
#include "report/report.h"
#include "sparsity/prunable.h"

#define STDOUT_PATH "-"

void lps_cmd_inspect_help(FILE *out)
{
    fprintf(out,
            "Usage: %s inspect MODEL [--json FILE|-] [--html FILE]\n\n"
            "Lists the prunable weights of MODEL (Conv, ConvTranspose, Gemm and constant\n"
            "MatMul weights) with their shape, fan-in, zeros, sparsity, Hoyer sparsity\n"
            "(row mean and whole tensor), fitted gamma shape and the Hoyer sparsity that\n"
            "shape predicts.\n"
            "The table goes to stdout.\n\n"
            "Options:\n"
            "  --json FILE   also write the JSON report (docs/report.md) to FILE, atomically\n"
            "  --json -      write the JSON report to stdout instead of the table\n"
            "  --html FILE   also write the report as a self-contained HTML page\n"
            "  -h, --help    show this help\n",
            LPS_PROGRAM);
}

typedef struct inspect_args {
    const char *model;
    const char *json;   /* NULL, STDOUT_PATH or a file */
    const char *html;   /* NULL or a file */
} inspect_args;

/* Parses argv into *a. Returns -1 when the command should go on, otherwise
 * the exit code (0 after --help). */
static int parse_args(int argc, char **argv, inspect_args *a)
{
    static const struct option options[] = {
        {"json", required_argument, NULL, 'j'},
        {"html", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = argv[0];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_inspect_help(stdout);
            return 0;
        }
        if (c != 'j' && c != 'H')
            return lps_cli_option_error(cmd, c, argv);
        if (!optarg[0])
            return lps_cli_usage_error(cmd, c == 'j' ? "--json needs a file name or '-'"
                                                     : "--html needs a file name");
        if (c == 'j')
            a->json = optarg;
        else
            a->html = optarg;
    }
    if (optind >= argc)
        return lps_cli_usage_error(cmd, "no MODEL given");
    if (optind + 1 < argc)
        return lps_cli_usage_error(cmd, "unexpected argument '%s' after MODEL", argv[optind + 1]);
    a->model = argv[optind];
    return -1;
}

/* Loads the model, measures it and emits the table and/or the JSON. */
static lps_status inspect(const inspect_args *a, lps_error *err)
{
    lps_prunable_list weights = {0, NULL};
    cJSON *report = NULL;
    lps_model *m = NULL;
    lps_status st = lps_cli_check_input_file(a->model, err);
    if (st != LPS_OK)
        return st;
    if (a->json && lps_cli_same_file(a->json, a->model))
        return lps_fail(err, LPS_ERR_INVALID, "%s: --json would overwrite the model", a->json);
    if (a->html && lps_cli_same_file(a->html, a->model))
        return lps_fail(err, LPS_ERR_INVALID, "%s: --html would overwrite the model", a->html);
    if (a->html && a->json && strcmp(a->html, a->json) == 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: --html and --json name the same file", a->html);
    m = lps_model_load(a->model, err);
    if (!m)
        return err->status;
    st = lps_prunable_find(m, &weights, err);
    if (st != LPS_OK) {
        lps_error_prefix(err, "%s", a->model);
        goto cleanup;
    }
    report = lps_report_build(m, &weights, err);
    if (!report) {
        st = lps_error_prefix(err, "%s", a->model);
        goto cleanup;
    }
    if (!a->json || strcmp(a->json, STDOUT_PATH) != 0)
        lps_report_print_table(stdout, report);
    if (a->json)
        st = lps_report_write(report, a->json, err);
    if (st == LPS_OK && a->html) {
        const char *slash = strrchr(a->model, '/');
        lps_html_source src = {report, slash ? slash + 1 : a->model};
        st = lps_report_html_write(&src, 1, a->html, err);
    }
cleanup:
    cJSON_Delete(report);
    lps_prunable_list_release(&weights);
    lps_model_free(m);
    return st;
}

int lps_cmd_inspect(int argc, char **argv)
{
    inspect_args a = {NULL, NULL, NULL};
    int code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    lps_error err;
    lps_error_clear(&err);
    if (inspect(&a, &err) != LPS_OK)
        return lps_cli_report(&err);
    return 0;
}
