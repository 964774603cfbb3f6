/* CSV reader: comma-separated numbers, one sample per line, no quoting.
 * Blank lines are skipped. The first line may be a header. Two passes over
 * the text: the first counts rows and checks that every line has the same
 * number of fields, the second converts after one budgeted allocation. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"

/* Longest field accepted, surrounding blanks excluded; numbers are short. */
#define CSV_FIELD_MAX 64

typedef struct csv_line {
    const char *start;
    size_t len;         /* without the line terminator */
    size_t number;      /* 1-based line number for messages */
} csv_line;

typedef struct csv_reader {
    const char *text;
    size_t len;
    size_t pos;
    size_t line_number;
} csv_reader;

/* Next non-blank line; false at the end of the text. */
static bool next_line(csv_reader *r, csv_line *line)
{
    while (r->pos < r->len) {
        const char *start = r->text + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t len = nl ? (size_t)(nl - start) : r->len - r->pos;
        r->pos += len + (nl ? 1 : 0);
        r->line_number++;
        if (len && start[len - 1] == '\r')
            len--;
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++)
            blank = isspace((unsigned char)start[i]) != 0;
        if (!blank) {
            line->start = start;
            line->len = len;
            line->number = r->line_number;
            return true;
        }
    }
    return false;
}

static size_t count_fields(const csv_line *line)
{
    size_t n = 1;
    for (size_t i = 0; i < line->len; i++)
        n += line->start[i] == ',';
    return n;
}

typedef enum field_result {
    FIELD_OK,
    FIELD_NOT_NUMBER,
    FIELD_NOT_FINITE
} field_result;

/* Converts one field (start, len) to double. */
static field_result parse_field(const char *start, size_t len, double *out)
{
    while (len && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0 || len >= CSV_FIELD_MAX)
        return FIELD_NOT_NUMBER;
    char buf[CSV_FIELD_MAX];
    memcpy(buf, start, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    double value = strtod(buf, &end);
    if (end != buf + len)
        return FIELD_NOT_NUMBER;
    *out = value;
    /* ERANGE on underflow is harmless (the value is tiny); on overflow the
     * value is huge and caught by the float range check. */
    if (!isfinite(value) || fabs(value) > FLT_MAX)
        return FIELD_NOT_FINITE;
    return FIELD_OK;
}

static bool line_is_numeric(const csv_line *line)
{
    const char *p = line->start;
    const char *end = line->start + line->len;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        double value;
        if (parse_field(p, (size_t)(stop - p), &value) == FIELD_NOT_NUMBER)
            return false;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

static lps_status field_error(const char *name, const csv_line *line, size_t column,
                              field_result result, const char *start, size_t len,
                              lps_error *err)
{
    char excerpt[LPS_EXCERPT_MAX];
    lps_excerpt(excerpt, sizeof excerpt, start, len);
    if (result == FIELD_NOT_FINITE)
        return lps_fail(err, LPS_ERR_INVALID, "%s:%zu: column %zu: '%s' is NaN, infinite or "
                        "outside the float32 range", name, line->number, column + 1, excerpt);
    return lps_fail(err, LPS_ERR_INVALID, "%s:%zu: column %zu: '%s' is not a number", name,
                    line->number, column + 1, excerpt);
}

/* Converts one data line into features (and *label when label_column is a
 * valid column index, else label is ignored). */
static lps_status parse_row(const char *name, const csv_line *line, size_t n_cols,
                            long label_column, float *features, int64_t *label, lps_error *err)
{
    const char *p = line->start;
    const char *end = line->start + line->len;
    for (size_t col = 0; col < n_cols; col++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - p);
        double value = 0.0;
        field_result result = parse_field(p, len, &value);
        if (result != FIELD_OK)
            return field_error(name, line, col, result, p, len, err);
        if ((long)col == label_column) {
            if (value != floor(value) || value < 0 || value >= (double)LPS_DATA_MAX_CLASSES) {
                char excerpt[LPS_EXCERPT_MAX];
                return lps_fail(err, LPS_ERR_INVALID, "%s:%zu: label '%s' is not an integer "
                                "in 0..%lld", name, line->number,
                                lps_excerpt(excerpt, sizeof excerpt, p, len),
                                (long long)(LPS_DATA_MAX_CLASSES - 1));
            }
            *label = (int64_t)value;
        } else {
            *features++ = (float)value;
        }
        p = stop + 1;
    }
    return LPS_OK;
}

lps_status lps_csv_parse(const char *text, size_t len, const char *name,
                         const lps_data_options *opt, size_t *remaining, lps_tensor *samples,
                         lps_tensor *labels, lps_error *err)
{
    static const lps_data_options defaults = {0};
    if (!opt)
        opt = &defaults;
    lps_tensor_release(samples);
    lps_tensor_release(labels);
    csv_reader r = {text, len, 0, 0};
    csv_line line;
    lps_status st = LPS_OK;
    if (!next_line(&r, &line))
        return lps_fail(err, LPS_ERR_INVALID, "%s: no data rows", name);
    size_t n_cols = count_fields(&line);
    bool header = opt->csv_header == LPS_CSV_HEADER_PRESENT
               || (opt->csv_header == LPS_CSV_HEADER_AUTO && !line_is_numeric(&line));
    csv_reader data_start = r;
    if (!header) {
        data_start.pos = (size_t)(line.start - text);
        data_start.line_number = line.number - 1;
    }

    long label_column = -1;
    if (opt->csv_has_labels) {
        long col = opt->csv_label_column < 0 ? (long)n_cols + opt->csv_label_column
                                             : opt->csv_label_column;
        if (col < 0 || (size_t)col >= n_cols || n_cols < 2)
            return lps_fail(err, LPS_ERR_INVALID, "%s: label column %d does not exist or leaves "
                            "no features (the file has %zu columns)", name,
                            opt->csv_label_column, n_cols);
        label_column = col;
    }

    int64_t n_rows = 0;
    r = data_start;
    while (next_line(&r, &line)) {
        size_t fields = count_fields(&line);
        if (fields != n_cols)
            return lps_fail(err, LPS_ERR_INVALID, "%s:%zu: %zu fields where the first line has "
                            "%zu", name, line.number, fields, n_cols);
        n_rows++;
    }
    if (n_rows == 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: no data rows", name);

    size_t n_features = n_cols - (label_column >= 0 ? 1 : 0);
    int64_t sample_dims[] = {n_rows, (int64_t)n_features};
    st = lps_data_alloc(samples, name, LPS_DT_FLOAT, 2, sample_dims, remaining, err);
    if (st == LPS_OK && label_column >= 0)
        st = lps_data_alloc(labels, name, LPS_DT_INT64, 1, &n_rows, remaining, err);
    if (st != LPS_OK)
        goto cleanup;
    r = data_start;
    float *features = lps_tensor_f32(samples);
    int64_t *label_values = label_column >= 0 ? lps_tensor_i64(labels) : NULL;
    for (int64_t row = 0; next_line(&r, &line); row++) {
        int64_t unused = 0;
        st = parse_row(name, &line, n_cols, label_column, features + (size_t)row * n_features,
                       label_values ? &label_values[row] : &unused, err);
        if (st != LPS_OK)
            goto cleanup;
    }
cleanup:
    if (st != LPS_OK) {
        lps_tensor_release(samples);
        lps_tensor_release(labels);
    }
    return st;
}
