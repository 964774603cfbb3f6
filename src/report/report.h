/* The JSON report (docs/report.md) and its human table.
 *
 * lps_report_build() returns the cJSON tree of `lpsparsify inspect`; other
 * commands extend it before writing (top-level keys with cJSON_Add*ToObject,
 * per-layer keys through lps_report_layer()). Undefined numbers are written
 * as JSON null, never NaN. */
#ifndef LPS_REPORT_REPORT_H
#define LPS_REPORT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <cJSON.h>

#include "lpsparsify/error.h"
#include "lpsparsify/model.h"
#include "sparsity/prunable.h"

#define LPS_REPORT_SCHEMA "lpsparsify.report/1"

/* Builds {schema, model, layers, totals} for m, one layer per entry of
 * weights, in the same order; an entry's `excluded` is reported as it is
 * and its params count as prunable only when it is false. Every listed weight must be a float
 * initializer of m (as lps_prunable_find guarantees). Returns NULL and
 * fills err on failure (LPS_ERR_NOMEM; LPS_ERR_INVALID when a weight has no
 * data). The caller frees the tree with cJSON_Delete. */
cJSON *lps_report_build(const lps_model *m, const lps_prunable_list *weights, lps_error *err);

/* The i-th layer object of a report (to add per-layer keys), or NULL when
 * there is no such layer. */
cJSON *lps_report_layer(const cJSON *report, size_t i);

/* Adds key: value to obj, or key: null when value is NaN or infinite.
 * Returns false on allocation failure. */
bool lps_json_add_number(cJSON *obj, const char *key, double value);

/* Writes the report as indented JSON plus a newline: to stdout when path is
 * "-", otherwise atomically to path (core/atomic_file.h). Returns
 * LPS_ERR_NOMEM or LPS_ERR_IO with a message naming path on failure. */
lps_status lps_report_write(const cJSON *report, const char *path, lps_error *err);

/* Reads and parses the JSON file at path (a regular file of at most
 * max_bytes). Returns the tree (caller frees with cJSON_Delete), or NULL
 * with err set: LPS_ERR_INVALID "PATH: reason" for a missing, oversized or
 * non-JSON file ("PATH: not valid JSON (at byte N)"), LPS_ERR_IO,
 * LPS_ERR_NOMEM. */
cJSON *lps_json_read(const char *path, size_t max_bytes, lps_error *err);

/* Reads the report written to path (by --report or --json) and checks it
 * the way the HTML page reads it (lps_report_html_check). Returns the tree
 * (caller frees with cJSON_Delete), or NULL with err set: LPS_ERR_INVALID
 * "PATH: not valid JSON (at byte N)" or "PATH: FIELD: what is wrong" for a
 * bad file, LPS_ERR_IO or LPS_ERR_NOMEM. */
cJSON *lps_report_read(const char *path, lps_error *err);

/* Prints the report for people: a model line, one aligned row per layer and
 * a totals line. Columns whose key no layer has are left out, so commands
 * that add per-layer keys known to the table (p, hoyer_expected_p) get them
 * shown. Null values print as "-". */
void lps_report_print_table(FILE *out, const cJSON *report);

#endif
