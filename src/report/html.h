/* The HTML report: one self-contained page (inline CSS and SVG, a little
 * optional JavaScript, nothing fetched) drawn from one or more JSON reports
 * (docs/report.md). docs/html_report.md describes what the page shows. */
#ifndef LPS_REPORT_HTML_H
#define LPS_REPORT_HTML_H

#include <stddef.h>

#include <cJSON.h>

#include "lpsparsify/error.h"

/* Most reports one page overlays (one colour of the palette each). */
#define LPS_HTML_MAX_REPORTS 6

typedef struct lps_html_source {
    const cJSON *report;  /* an lpsparsify.report/1 object */
    const char *label;    /* its name in legends and headers: a file name, "LpSS" */
} lps_html_source;

/* Checks that report is an object with schema "lpsparsify.report/1", a
 * `layers` array of objects each with a string `name`, and that every key
 * the page reads has its documented type (number or null, string, array).
 * Returns LPS_OK, or LPS_ERR_INVALID with "FIELD: what is wrong" (for
 * example "layers[3].sparsity: expected a number or null"); the caller
 * prefixes the file name. */
lps_status lps_report_html_check(const cJSON *report, lps_error *err);

/* Renders the page for src[0..n), 1 <= n <= LPS_HTML_MAX_REPORTS; every
 * report must have passed lps_report_html_check. Returns the NUL-terminated
 * page, which the caller frees, or NULL with err set (LPS_ERR_INVALID for a
 * bad n, LPS_ERR_NOMEM). */
char *lps_report_html_render(const lps_html_source *src, size_t n, lps_error *err);

/* Renders the page and writes it to path atomically (core/atomic_file.h).
 * Returns what lps_report_html_render or the write returns; path is left
 * as it was on any failure. */
lps_status lps_report_html_write(const lps_html_source *src, size_t n, const char *path,
                                 lps_error *err);

#endif
