/* lpsparsify report REPORT.json [REPORT2.json ...] -o OUT.html [--label NAME ...] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "report/html.h"
#include "report/report.h"

void lps_cmd_report_help(FILE *out)
{
    fprintf(out,
            "Usage: %s report REPORT.json [REPORT2.json ...] -o OUT.html [--label NAME ...]\n\n"
            "Draws one self-contained HTML page (inline SVG and CSS, nothing fetched) from\n"
            "the JSON reports of inspect (--json) or sparsify (--report): header, per-layer\n"
            "sparsity bars, measured and expected Hoyer sparsity, training curves and the\n"
            "Hoyer-against-p figure. With several reports (LpSS against GMP, dense against\n"
            "sparse) the views are overlaid and a per-layer difference table is added; the\n"
            "first report is the reference. docs/html_report.md describes the page.\n\n"
            "Options:\n"
            "  -o, --output FILE  the page to write (atomically)\n"
            "  --label NAME       name of the next report in legends (default: its file\n"
            "                     name); give it once per report, in order\n"
            "  -h, --help         show this help\n",
            LPS_PROGRAM);
}

typedef struct report_args {
    const char *output;
    const char *paths[LPS_HTML_MAX_REPORTS];
    const char *labels[LPS_HTML_MAX_REPORTS];
    size_t n_paths;
    size_t n_labels;
} report_args;

/* Parses argv into *a. Returns -1 when the command should go on, otherwise
 * the exit code (0 after --help). */
static int parse_args(int argc, char **argv, report_args *a)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"label", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = argv[0];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_report_help(stdout);
            return 0;
        }
        if (c == 'o') {
            a->output = optarg;
        } else if (c == 'l') {
            if (a->n_labels == LPS_HTML_MAX_REPORTS)
                return lps_cli_usage_error(cmd, "at most %d --label options", LPS_HTML_MAX_REPORTS);
            a->labels[a->n_labels++] = optarg;
        } else {
            return lps_cli_option_error(cmd, c, argv);
        }
    }
    if (optind >= argc)
        return lps_cli_usage_error(cmd, "no REPORT given");
    if (argc - optind > LPS_HTML_MAX_REPORTS)
        return lps_cli_usage_error(cmd, "at most %d reports on one page", LPS_HTML_MAX_REPORTS);
    for (int i = optind; i < argc; i++)
        a->paths[a->n_paths++] = argv[i];
    if (!a->output || !a->output[0])
        return lps_cli_usage_error(cmd, "no -o OUT.html given");
    if (a->n_labels > a->n_paths)
        return lps_cli_usage_error(cmd, "%zu --label options for %zu reports", a->n_labels,
                                   a->n_paths);
    return -1;
}

/* The file name of path without its folder. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Reads every report, then writes the page; nothing is written unless all
 * of them are valid. */
static lps_status render(const report_args *a, lps_error *err)
{
    cJSON *reports[LPS_HTML_MAX_REPORTS] = {NULL};
    lps_html_source src[LPS_HTML_MAX_REPORTS];
    lps_status st = LPS_OK;
    for (size_t i = 0; i < a->n_paths && st == LPS_OK; i++)
        st = lps_cli_check_not_input(a->output, a->paths[i], err);
    for (size_t i = 0; i < a->n_paths && st == LPS_OK; i++) {
        st = lps_cli_check_input_file(a->paths[i], err);
        if (st != LPS_OK)
            break;
        reports[i] = lps_report_read(a->paths[i], err);
        if (!reports[i])
            st = err->status;
        src[i].report = reports[i];
        src[i].label = i < a->n_labels ? a->labels[i] : base_name(a->paths[i]);
    }
    if (st == LPS_OK)
        st = lps_report_html_write(src, a->n_paths, a->output, err);
    for (size_t i = 0; i < a->n_paths; i++)
        cJSON_Delete(reports[i]);
    return st;
}

int lps_cmd_report(int argc, char **argv)
{
    report_args a = {0};
    int code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    lps_error err;
    lps_error_clear(&err);
    if (render(&a, &err) != LPS_OK)
        return lps_cli_report(&err);
    return 0;
}
