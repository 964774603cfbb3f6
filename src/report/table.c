/* The human-readable form of a report: what `lpsparsify inspect` prints. */
#include "report/report.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Longest cell text; longer values (huge shapes) are cut. */
#define CELL_MAX 96
/* Spaces between columns. */
#define COLUMN_GAP 2
#define PERCENT 100.0

typedef enum cell_kind {
    CELL_TEXT,     /* a string */
    CELL_SHAPE,    /* an array of ints, "[300, 784]" */
    CELL_INT,      /* an integer count */
    CELL_PERCENT,  /* a fraction shown as "90.00%" */
    CELL_FIXED,    /* a value in [0, 1] or similar, 4 decimals */
    CELL_GENERAL   /* any magnitude, 4 significant digits */
} cell_kind;

typedef struct column {
    const char *header;
    const char *key;   /* per-layer JSON key */
    cell_kind kind;
} column;

/* Every per-layer key the table knows, in display order. p and
 * hoyer_expected_p appear once the sparsify command adds them. */
static const column COLUMNS[] = {
    {"layer", "name", CELL_TEXT},
    {"op", "op", CELL_TEXT},
    {"shape", "shape", CELL_SHAPE},
    {"fan_in", "fan_in", CELL_INT},
    {"params", "params", CELL_INT},
    {"zeros", "zeros", CELL_INT},
    {"sparsity", "sparsity", CELL_PERCENT},
    {"p", "p", CELL_FIXED},
    {"hoyer", "hoyer", CELL_FIXED},
    {"hoyer_tensor", "hoyer_tensor", CELL_FIXED},
    {"gamma_k", "gamma_k", CELL_GENERAL},
    {"hoyer_expected_fit", "hoyer_expected_fit", CELL_FIXED},
    {"hoyer_expected_p", "hoyer_expected_p", CELL_FIXED},
};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

/* "[d0, d1, ...]" from a JSON array, cut to size. */
static void format_shape(const cJSON *arr, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    const cJSON *d;
    bool first = true;
    cJSON_ArrayForEach(d, arr) {
        if (used >= size)
            break;
        used += (size_t)snprintf(buf + used, size - used, "%s%.0f", first ? "" : ", ", d->valuedouble);
        first = false;
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Text of one cell; "-" for a missing or null value. */
static void format_cell(const cJSON *layer, const column *c, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(layer, c->key);
    if (c->kind == CELL_TEXT && cJSON_IsString(v))
        snprintf(buf, size, "%s", v->valuestring);
    else if (c->kind == CELL_SHAPE && cJSON_IsArray(v))
        format_shape(v, buf, size);
    else if (!cJSON_IsNumber(v))
        snprintf(buf, size, "-");
    else if (c->kind == CELL_INT)
        snprintf(buf, size, "%.0f", v->valuedouble);
    else if (c->kind == CELL_PERCENT)
        snprintf(buf, size, "%.2f%%", v->valuedouble * PERCENT);
    else if (c->kind == CELL_FIXED)
        snprintf(buf, size, "%.4f", v->valuedouble);
    else
        snprintf(buf, size, "%.4g", v->valuedouble);
}

/* Marks the columns some layer has a key for and measures their widths. */
static void measure(const cJSON *layers, bool shown[N_COLUMNS], int width[N_COLUMNS])
{
    for (size_t c = 0; c < N_COLUMNS; c++) {
        shown[c] = false;
        width[c] = (int)strlen(COLUMNS[c].header);
    }
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers) {
        for (size_t c = 0; c < N_COLUMNS; c++) {
            if (!cJSON_GetObjectItemCaseSensitive(layer, COLUMNS[c].key))
                continue;
            char cell[CELL_MAX];
            format_cell(layer, &COLUMNS[c], cell, sizeof cell);
            shown[c] = true;
            if ((int)strlen(cell) > width[c])
                width[c] = (int)strlen(cell);
        }
    }
}

/* Text columns are left-aligned, numbers right-aligned. */
static void print_cell(FILE *out, const char *text, size_t c, int width, bool last)
{
    bool left = COLUMNS[c].kind == CELL_TEXT || COLUMNS[c].kind == CELL_SHAPE;
    if (left && last)
        fputs(text, out);  /* no trailing blanks */
    else
        fprintf(out, left ? "%-*s" : "%*s", width, text);
    if (!last)
        fprintf(out, "%*s", COLUMN_GAP, "");
}

/* Index of the rightmost shown column. */
static size_t last_shown(const bool shown[N_COLUMNS])
{
    size_t last = 0;
    for (size_t c = 0; c < N_COLUMNS; c++)
        if (shown[c])
            last = c;
    return last;
}

/* Header plus one aligned line per layer. */
static void print_layers(FILE *out, const cJSON *layers)
{
    bool shown[N_COLUMNS];
    int width[N_COLUMNS];
    measure(layers, shown, width);
    size_t last = last_shown(shown);
    for (size_t c = 0; c < N_COLUMNS; c++)
        if (shown[c])
            print_cell(out, COLUMNS[c].header, c, width[c], c == last);
    fputc('\n', out);
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers) {
        for (size_t c = 0; c < N_COLUMNS; c++) {
            if (!shown[c])
                continue;
            char cell[CELL_MAX];
            format_cell(layer, &COLUMNS[c], cell, sizeof cell);
            print_cell(out, cell, c, width[c], c == last);
        }
        fputc('\n', out);
    }
}

/* "model: PATH (BYTES bytes, IR version V, opset ..., producer P)". */
static void print_model_line(FILE *out, const cJSON *model)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(model, "path");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(model, "bytes");
    const cJSON *ir = cJSON_GetObjectItemCaseSensitive(model, "ir_version");
    const cJSON *producer = cJSON_GetObjectItemCaseSensitive(model, "producer");
    fprintf(out, "model: %s (%.0f bytes, IR version %.0f, opset",
            cJSON_IsString(path) ? path->valuestring : "-",
            cJSON_IsNumber(bytes) ? bytes->valuedouble : 0.0,
            cJSON_IsNumber(ir) ? ir->valuedouble : 0.0);
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(model, "opsets")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "domain");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
        const char *name = cJSON_IsString(d) && d->valuestring[0] ? d->valuestring : "ai.onnx";
        fprintf(out, " %s %.0f", name, cJSON_IsNumber(v) ? v->valuedouble : 0.0);
    }
    if (cJSON_IsString(producer))
        fprintf(out, ", producer %s", producer->valuestring);
    fputs(")\n", out);
}

/* "total: P prunable weights, Z zeros, sparsity S%". */
static void print_totals(FILE *out, const cJSON *totals)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(totals, "params");
    const cJSON *zeros = cJSON_GetObjectItemCaseSensitive(totals, "zeros");
    const cJSON *sparsity = cJSON_GetObjectItemCaseSensitive(totals, "sparsity");
    fprintf(out, "total: %.0f prunable weights, %.0f zeros",
            cJSON_IsNumber(params) ? params->valuedouble : 0.0,
            cJSON_IsNumber(zeros) ? zeros->valuedouble : 0.0);
    if (cJSON_IsNumber(sparsity))
        fprintf(out, ", sparsity %.2f%%", sparsity->valuedouble * PERCENT);
    fputc('\n', out);
}

void lps_report_print_table(FILE *out, const cJSON *report)
{
    print_model_line(out, cJSON_GetObjectItemCaseSensitive(report, "model"));
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(report, "layers");
    if (cJSON_GetArraySize(layers) == 0)
        fputs("no prunable weights (Conv, Gemm or MatMul with a constant weight)\n", out);
    else
        print_layers(out, layers);
    print_totals(out, cJSON_GetObjectItemCaseSensitive(report, "totals"));
}
