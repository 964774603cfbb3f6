/* What the files of the HTML report share (src/report/html*.c only). */
#ifndef LPS_REPORT_HTML_INTERNAL_H
#define LPS_REPORT_HTML_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "report/html.h"
#include "report/html_buf.h"

/* Okabe-Ito colours, the colour-blind-safe palette: one per report, in
 * order (black is left out so that every series shows on dark pages). */
extern const char *const lps_html_palette[LPS_HTML_MAX_REPORTS];

/* The page's inline style sheet and script (html_assets.c). */
extern const char lps_html_style[];
extern const char lps_html_script[];

/* The number under key in obj, or NAN when the key is absent or null. */
double lps_html_number(const cJSON *obj, const char *key);

/* The string under key in obj, or NULL. */
const char *lps_html_string(const cJSON *obj, const char *key);

/* Per-epoch curves (loss, accuracy, sparsity, Hoyer, lr), one small chart
 * per metric with every report that has epochs overlaid. */
void lps_html_epoch_charts(lps_html_buf *b, const lps_html_source *src, size_t n);

/* The paper's figure: expected Hoyer sparsity against p for the model's
 * fan-ins, with each report's layers as points. */
void lps_html_p_figure(lps_html_buf *b, const lps_html_source *src, size_t n);

#endif
