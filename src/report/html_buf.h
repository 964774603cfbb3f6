/* A growable text buffer for the HTML report.
 *
 * Appends never fail loudly: the first allocation failure latches `failed`,
 * later appends do nothing, and the caller checks once at the end. This
 * keeps the page writers free of an error check per line. */
#ifndef LPS_REPORT_HTML_BUF_H
#define LPS_REPORT_HTML_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lps_html_buf {
    char *data;    /* NUL-terminated once anything was appended; may be NULL */
    size_t len;
    size_t cap;
    bool failed;   /* an allocation failed; contents are incomplete */
} lps_html_buf;

/* Appends s verbatim (markup written by us). s may be NULL (no-op). */
void lps_html_puts(lps_html_buf *b, const char *s);

/* Appends printf-style text. Only for our own markup and numbers: text from
 * a report goes through lps_html_text(). */
void lps_html_printf(lps_html_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s with & < > " ' escaped, so that names taken from a model can
 * stand in element content and in quoted attribute values. NULL appends
 * nothing. */
void lps_html_text(lps_html_buf *b, const char *s);

/* Appends v with the digits cJSON gives it in a JSON report, so that
 * parseFloat() in the page equals the JSON's number; "null" for NaN/inf.
 * For data-* values. */
void lps_html_exact(lps_html_buf *b, double v);

/* Takes the contents: returns the NUL-terminated text (caller frees) and
 * empties b, or NULL when an append failed or nothing was appended
 * (b is released either way). */
char *lps_html_take(lps_html_buf *b);

/* Frees the contents. b may be NULL. */
void lps_html_buf_release(lps_html_buf *b);

#endif
