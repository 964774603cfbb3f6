#include "report/html_buf.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; growth doubles from here. */
#define INITIAL_CAPACITY 4096

/* Makes room for extra more bytes plus the NUL. False (and latched) when
 * the buffer cannot grow. */
static bool reserve(lps_html_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : INITIAL_CAPACITY;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void append(lps_html_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lps_html_puts(lps_html_buf *b, const char *s)
{
    if (s)
        append(b, s, strlen(s));
}

void lps_html_printf(lps_html_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void lps_html_text(lps_html_buf *b, const char *s)
{
    if (!s)
        return;
    for (const char *run = s;; s++) {
        const char *entity = NULL;
        switch (*s) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        default: break;
        }
        if (!entity && *s)
            continue;
        append(b, run, (size_t)(s - run));
        if (!*s)
            return;
        lps_html_puts(b, entity);
        run = s + 1;
    }
}

/* Digits cJSON tries first, and its fallback. */
#define SHORT_DIGITS 15
#define EXACT_DIGITS 17

void lps_html_exact(lps_html_buf *b, double v)
{
    if (!isfinite(v)) {
        lps_html_puts(b, "null");
        return;
    }
    /* The digits cJSON writes for v in the JSON report: 15 when they read
     * back within one rounding step, else 17. The page then shows the JSON's
     * numbers, not ones a last bit apart. */
    char text[32];
    snprintf(text, sizeof text, "%.*g", SHORT_DIGITS, v);
    double back = strtod(text, NULL);
    if (fabs(back - v) > fmax(fabs(back), fabs(v)) * DBL_EPSILON)
        snprintf(text, sizeof text, "%.*g", EXACT_DIGITS, v);
    lps_html_puts(b, text);
}

char *lps_html_take(lps_html_buf *b)
{
    char *out = (b->failed || !b->data) ? NULL : b->data;
    if (!out)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
    return out;
}

void lps_html_buf_release(lps_html_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
