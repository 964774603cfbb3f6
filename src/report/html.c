/* The HTML report page: header, summary of the extremes, the per-layer
 * table (grouped when the model is large) and, for several reports, the
 * per-layer differences. Charts are in html_charts.c; the page's style and
 * script in html_assets.c. docs/html_report.md describes the page. */
#include "report/html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "report/html_internal.h"
#include "report/report.h"

#define PERCENT 100.0
/* A measured Hoyer sparsity further than this from a prediction (absolute,
 * H is in [0, 1]) is shown as a gap: the gamma hypothesis does not describe
 * the layer. */
#define HOYER_GAP 0.05
/* Up to this many layers the table is one flat list; beyond it, layers are
 * folded into collapsible groups. */
#define FLAT_TABLE_MAX_LAYERS 60
/* A group never holds more layers than this (long runs are split). */
#define GROUP_MAX_LAYERS 50
/* Rows in each list of the summary. */
#define SUMMARY_ROWS 5

const char *const lps_html_palette[LPS_HTML_MAX_REPORTS] = {
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
};

double lps_html_number(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *lps_html_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- checking ---------------------------------------------------------- */

typedef enum field_type { FIELD_NUMBER, FIELD_STRING, FIELD_ARRAY, FIELD_OBJECT } field_type;

typedef struct field_rule {
    const char *key;
    field_type type;
} field_rule;

/* Keys the page reads from each layer; all optional but name. */
static const field_rule LAYER_FIELDS[] = {
    {"node", FIELD_STRING},        {"op", FIELD_STRING},        {"shape", FIELD_ARRAY},
    {"fan_in", FIELD_NUMBER},      {"rows", FIELD_NUMBER},      {"params", FIELD_NUMBER},
    {"zeros", FIELD_NUMBER},       {"sparsity", FIELD_NUMBER},  {"zero_rows", FIELD_NUMBER},
    {"hoyer", FIELD_NUMBER},       {"gamma_k", FIELD_NUMBER},   {"hoyer_expected_fit", FIELD_NUMBER},
    {"hoyer_expected_p", FIELD_NUMBER}, {"p", FIELD_NUMBER},
};

static const field_rule TOP_FIELDS[] = {
    {"model", FIELD_OBJECT},   {"totals", FIELD_OBJECT}, {"epochs", FIELD_ARRAY},
    {"accuracy", FIELD_OBJECT}, {"loss", FIELD_OBJECT},  {"bytes", FIELD_OBJECT},
    {"method", FIELD_STRING},  {"command", FIELD_STRING}, {"target", FIELD_NUMBER},
    {"achieved", FIELD_NUMBER},
};

static const char *field_type_name(field_type t)
{
    static const char *const names[] = {"a number or null", "a string", "an array", "an object"};
    return names[t];
}

/* Whether v (present) has type t; null stands for an undefined number. */
static bool field_ok(const cJSON *v, field_type t)
{
    switch (t) {
    case FIELD_NUMBER: return cJSON_IsNumber(v) || cJSON_IsNull(v);
    case FIELD_STRING: return cJSON_IsString(v);
    case FIELD_ARRAY: return cJSON_IsArray(v);
    case FIELD_OBJECT: return cJSON_IsObject(v);
    }
    return false;
}

/* Checks the optional keys rules[0..n) of obj; where names obj in messages. */
static lps_status check_fields(const cJSON *obj, const field_rule *rules, size_t n,
                               const char *where, lps_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, rules[i].key);
        if (v && !field_ok(v, rules[i].type))
            return lps_fail(err, LPS_ERR_INVALID, "%s%s: expected %s", where, rules[i].key,
                            field_type_name(rules[i].type));
    }
    return LPS_OK;
}

lps_status lps_report_html_check(const cJSON *report, lps_error *err)
{
    if (!cJSON_IsObject(report))
        return lps_fail(err, LPS_ERR_INVALID, "not a JSON object");
    const char *schema = lps_html_string(report, "schema");
    if (!schema || strcmp(schema, LPS_REPORT_SCHEMA) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "schema: expected \"%s\"", LPS_REPORT_SCHEMA);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(report, "layers");
    if (!cJSON_IsArray(layers))
        return lps_fail(err, LPS_ERR_INVALID, "layers: missing or not an array");
    lps_status st = check_fields(report, TOP_FIELDS, sizeof TOP_FIELDS / sizeof TOP_FIELDS[0], "", err);
    int i = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers) {
        if (st != LPS_OK)
            return st;
        char where[48];
        snprintf(where, sizeof where, "layers[%d].", i++);
        if (!cJSON_IsObject(layer) || !lps_html_string(layer, "name"))
            return lps_fail(err, LPS_ERR_INVALID, "%sname: missing or not a string", where);
        st = check_fields(layer, LAYER_FIELDS, sizeof LAYER_FIELDS / sizeof LAYER_FIELDS[0], where,
                          err);
    }
    const cJSON *epoch;
    i = 0;
    cJSON_ArrayForEach(epoch, cJSON_GetObjectItemCaseSensitive(report, "epochs")) {
        if (st == LPS_OK && !cJSON_IsObject(epoch))
            st = lps_fail(err, LPS_ERR_INVALID, "epochs[%d]: expected an object", i);
        i++;
    }
    return st;
}

/* ---- cells ------------------------------------------------------------- */

/* Writes v as a table cell: the exact value in data-v (for sorting and for
 * checks), the text rounded to digits (a percentage when percent). */
static void number_cell(lps_html_buf *b, const char *key, double v, int digits, bool percent)
{
    lps_html_printf(b, "<td class=\"num\" data-key=\"%s\" data-v=\"", key);
    lps_html_exact(b, v);
    lps_html_puts(b, "\">");
    if (!isfinite(v))
        lps_html_puts(b, "&ndash;");
    else if (percent)
        lps_html_printf(b, "%.*f%%", digits, v * PERCENT);
    else
        lps_html_printf(b, "%.*f", digits, v);
    lps_html_puts(b, "</td>");
}

/* An integer count with thin-space thousands separators for reading. */
static void count_cell(lps_html_buf *b, const char *key, double v)
{
    lps_html_printf(b, "<td class=\"num\" data-key=\"%s\" data-v=\"", key);
    lps_html_exact(b, v);
    lps_html_puts(b, "\">");
    if (isfinite(v))
        lps_html_printf(b, "%.0f", v);
    else
        lps_html_puts(b, "&ndash;");
    lps_html_puts(b, "</td>");
}

/* A sparsity bar with its value written on it, in the report's colour. */
static void sparsity_cell(lps_html_buf *b, double v, size_t report)
{
    lps_html_puts(b, "<td class=\"bar-cell\" data-key=\"sparsity\" data-v=\"");
    lps_html_exact(b, v);
    lps_html_puts(b, "\">");
    if (isfinite(v))
        lps_html_printf(b,
                        "<div class=\"bar\"><span style=\"width:%.2f%%;background:%s\"></span>"
                        "</div><em>%.2f%%</em>",
                        v * PERCENT, lps_html_palette[report], v * PERCENT);
    else
        lps_html_puts(b, "&ndash;");
    lps_html_puts(b, "</td>");
}

/* Measured Hoyer, marked when it is further than HOYER_GAP from either
 * prediction (with the word "gap", not only a colour). */
static void hoyer_cell(lps_html_buf *b, const cJSON *layer)
{
    double h = lps_html_number(layer, "hoyer");
    double fit = lps_html_number(layer, "hoyer_expected_fit");
    double pe = lps_html_number(layer, "hoyer_expected_p");
    bool gap = isfinite(h) && ((isfinite(fit) && fabs(h - fit) > HOYER_GAP) ||
                               (isfinite(pe) && fabs(h - pe) > HOYER_GAP));
    lps_html_printf(b, "<td class=\"num%s\" data-key=\"hoyer\" data-v=\"", gap ? " gap" : "");
    lps_html_exact(b, h);
    lps_html_puts(b, "\">");
    if (isfinite(h))
        lps_html_printf(b, "%.4f%s", h, gap ? " <small>gap</small>" : "");
    else
        lps_html_puts(b, "&ndash;");
    lps_html_puts(b, "</td>");
}

static void shape_text(lps_html_buf *b, const cJSON *layer)
{
    const cJSON *d;
    bool first = true;
    lps_html_puts(b, "[");
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(layer, "shape")) {
        lps_html_printf(b, "%s%.0f", first ? "" : "&times;", cJSON_IsNumber(d) ? d->valuedouble : 0);
        first = false;
    }
    lps_html_puts(b, "]");
}

/* ---- the layer table --------------------------------------------------- */

/* The layer called name in report, or NULL. */
static const cJSON *find_layer(const cJSON *report, const char *name)
{
    const cJSON *layer;
    cJSON_ArrayForEach(layer, cJSON_GetObjectItemCaseSensitive(report, "layers")) {
        const char *s = lps_html_string(layer, "name");
        if (s && strcmp(s, name) == 0)
            return layer;
    }
    return NULL;
}

/* Per-report column titles: all of them for one report; with several,
 * the first COMPARED_COLUMNS (the rest is in the difference table). */
static const char *const REPORT_COLUMNS[] = {"sparsity", "p", "Hoyer", "zero rows", "E[H] fit",
                                             "E[H] p"};
#define COMPARED_COLUMNS 3

static size_t report_columns(size_t n)
{
    return n > 1 ? COMPARED_COLUMNS : sizeof REPORT_COLUMNS / sizeof REPORT_COLUMNS[0];
}

static void table_head(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    lps_html_puts(b, "<table class=\"layers sortable\"><thead><tr><th data-sort=\"num\">#</th>"
                     "<th>layer</th><th>op</th><th>shape</th><th data-sort=\"num\">fan-in</th>"
                     "<th data-sort=\"num\">params</th>");
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < report_columns(n); c++) {
            lps_html_printf(b, "<th data-sort=\"num\">%s", REPORT_COLUMNS[c]);
            if (n > 1) {
                lps_html_puts(b, "<br><small>");
                lps_html_text(b, src[r].label);
                lps_html_puts(b, "</small>");
            }
            lps_html_puts(b, "</th>");
        }
    lps_html_puts(b, "</tr></thead><tbody>");
}

/* One row: the shared columns from base, then each report's columns (a
 * dash where a report lacks the layer). */
static void layer_row(lps_html_buf *b, const lps_html_source *src, size_t n, const cJSON *base,
                      int index)
{
    const char *name = lps_html_string(base, "name");
    lps_html_printf(b, "<tr class=\"layer\" id=\"layer-%d\" data-name=\"", index);
    lps_html_text(b, name);
    lps_html_printf(b, "\"><td class=\"num\" data-v=\"%d\">%d</td><td class=\"name\">", index,
                    index);
    lps_html_text(b, name);
    const char *node = lps_html_string(base, "node");
    if (node) {
        lps_html_puts(b, "<br><small>");
        lps_html_text(b, node);
        lps_html_puts(b, "</small>");
    }
    lps_html_puts(b, "</td><td>");
    lps_html_text(b, lps_html_string(base, "op"));
    lps_html_puts(b, "</td><td class=\"shape\">");
    shape_text(b, base);
    lps_html_puts(b, "</td>");
    count_cell(b, "fan_in", lps_html_number(base, "fan_in"));
    count_cell(b, "params", lps_html_number(base, "params"));
    for (size_t r = 0; r < n; r++) {
        const cJSON *layer = find_layer(src[r].report, name);
        sparsity_cell(b, lps_html_number(layer, "sparsity"), r);
        number_cell(b, "p", lps_html_number(layer, "p"), 3, false);
        hoyer_cell(b, layer);
        if (report_columns(n) == COMPARED_COLUMNS)
            continue;
        count_cell(b, "zero_rows", lps_html_number(layer, "zero_rows"));
        number_cell(b, "hoyer_expected_fit", lps_html_number(layer, "hoyer_expected_fit"), 4, false);
        number_cell(b, "hoyer_expected_p", lps_html_number(layer, "hoyer_expected_p"), 4, false);
    }
    lps_html_puts(b, "</tr>");
}

/* The group a layer belongs to: the first component of its node name
 * ("/layer1/layer1.0/conv1/Conv" -> "layer1") or of its initializer name
 * ("layer1.0.conv1.weight" -> "layer1"). Writes at most size-1 chars. */
static void group_key(const cJSON *layer, char *key, size_t size)
{
    const char *node = lps_html_string(layer, "node");
    const char *s = (node && node[0] == '/') ? node + 1 : lps_html_string(layer, "name");
    size_t len = strcspn(s, "./");
    if (len >= size)
        len = size - 1;
    memcpy(key, s, len);
    key[len] = '\0';
}

#define GROUP_KEY_MAX 96

/* Layers [first, end) of the base report form one group: the run of equal
 * group keys from first, at most GROUP_MAX_LAYERS long. */
static int group_end(const cJSON *layers, int first, int count)
{
    char key[GROUP_KEY_MAX], next[GROUP_KEY_MAX];
    group_key(cJSON_GetArrayItem(layers, first), key, sizeof key);
    int end = first + 1;
    while (end < count && end - first < GROUP_MAX_LAYERS) {
        group_key(cJSON_GetArrayItem(layers, end), next, sizeof next);
        if (strcmp(key, next) != 0)
            break;
        end++;
    }
    return end;
}

/* Sparsity range of layers [first, end) of a report, for a group's title. */
static void group_summary(lps_html_buf *b, const cJSON *layers, int first, int end)
{
    char key[GROUP_KEY_MAX];
    group_key(cJSON_GetArrayItem(layers, first), key, sizeof key);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = first; i < end; i++) {
        double s = lps_html_number(cJSON_GetArrayItem(layers, i), "sparsity");
        if (isfinite(s)) {
            lo = fmin(lo, s);
            hi = fmax(hi, s);
        }
    }
    lps_html_puts(b, "<summary><b>");
    lps_html_text(b, key[0] ? key : "(unnamed)");
    lps_html_printf(b, "</b> &mdash; layers %d&ndash;%d", first, end - 1);
    if (lo <= hi)
        lps_html_printf(b, ", sparsity %.1f%%&ndash;%.1f%%", lo * PERCENT, hi * PERCENT);
    lps_html_puts(b, "</summary>");
}

static void layer_table(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(src[0].report, "layers");
    int count = cJSON_GetArraySize(layers);
    lps_html_printf(b, "<section id=\"layers\"><h2>Layers (%d)</h2>", count);
    if (count == 0) {
        lps_html_puts(b, "<p>No prunable layers.</p></section>");
        return;
    }
    bool grouped = count > FLAT_TABLE_MAX_LAYERS;
    if (grouped)
        lps_html_puts(b, "<p class=\"hint\">Groups fold and unfold; printing unfolds them all. "
                         "Click a column title to sort (within a group).</p>");
    for (int first = 0; first < count;) {
        int end = grouped ? group_end(layers, first, count) : count;
        if (grouped) {
            lps_html_puts(b, "<details class=\"group\">");
            group_summary(b, cJSON_GetObjectItemCaseSensitive(src[n - 1].report, "layers"), first,
                          end);
        }
        table_head(b, src, n);
        for (int i = first; i < end; i++)
            layer_row(b, src, n, cJSON_GetArrayItem(layers, i), i);
        lps_html_puts(b, "</tbody></table>");
        if (grouped)
            lps_html_puts(b, "</details>");
        first = end;
    }
    lps_html_puts(b, "</section>");
}

/* ---- differences between reports -------------------------------------- */

static void diff_cell(lps_html_buf *b, const char *key, double a, double v, bool percent)
{
    double d = (isfinite(a) && isfinite(v)) ? v - a : NAN;
    lps_html_printf(b, "<td class=\"num%s\" data-key=\"%s\" data-v=\"",
                    isfinite(d) && d != 0 ? (d > 0 ? " up" : " down") : "", key);
    lps_html_exact(b, d);
    lps_html_puts(b, "\">");
    if (!isfinite(d))
        lps_html_puts(b, "&ndash;");
    else if (percent)
        lps_html_printf(b, "%+.2f pts", d * PERCENT);
    else
        lps_html_printf(b, "%+.4f", d);
    lps_html_puts(b, "</td>");
}

static void diff_table(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    if (n < 2)
        return;
    lps_html_puts(b, "<section id=\"diff\"><h2>Differences by layer</h2><p>Each report against "
                     "<b>");
    lps_html_text(b, src[0].label);
    lps_html_puts(b, "</b>: sparsity in percentage points, Hoyer sparsity in absolute units.</p>"
                     "<table class=\"diff sortable\"><thead><tr><th data-sort=\"num\">#</th>"
                     "<th>layer</th>");
    for (size_t r = 1; r < n; r++) {
        lps_html_puts(b, "<th data-sort=\"num\">&Delta; sparsity ");
        lps_html_text(b, src[r].label);
        lps_html_puts(b, "</th><th data-sort=\"num\">&Delta; Hoyer ");
        lps_html_text(b, src[r].label);
        lps_html_puts(b, "</th>");
    }
    lps_html_puts(b, "</tr></thead><tbody>");
    int i = 0;
    const cJSON *base;
    cJSON_ArrayForEach(base, cJSON_GetObjectItemCaseSensitive(src[0].report, "layers")) {
        const char *name = lps_html_string(base, "name");
        lps_html_printf(b, "<tr class=\"diff-row\"><td class=\"num\" data-v=\"%d\">%d</td><td>", i,
                        i);
        lps_html_text(b, name);
        lps_html_puts(b, "</td>");
        for (size_t r = 1; r < n; r++) {
            const cJSON *other = find_layer(src[r].report, name);
            diff_cell(b, "sparsity", lps_html_number(base, "sparsity"),
                      lps_html_number(other, "sparsity"), true);
            diff_cell(b, "hoyer", lps_html_number(base, "hoyer"), lps_html_number(other, "hoyer"),
                      false);
        }
        lps_html_puts(b, "</tr>");
        i++;
    }
    lps_html_puts(b, "</tbody></table></section>");
}

/* ---- header and summary ------------------------------------------------ */

/* A row of the header table: one cell per report, value as text. */
typedef void (*header_value_fn)(lps_html_buf *b, const cJSON *report);

static void value_model(lps_html_buf *b, const cJSON *r)
{
    lps_html_text(b, lps_html_string(cJSON_GetObjectItemCaseSensitive(r, "model"), "path"));
}

static void value_producer(lps_html_buf *b, const cJSON *r)
{
    lps_html_text(b, lps_html_string(cJSON_GetObjectItemCaseSensitive(r, "model"), "producer"));
}

static void value_opsets(lps_html_buf *b, const cJSON *r)
{
    const cJSON *o;
    bool first = true;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "model"), "opsets")) {
        const char *domain = lps_html_string(o, "domain");
        lps_html_puts(b, first ? "" : ", ");
        lps_html_text(b, domain && domain[0] ? domain : "ai.onnx");
        lps_html_printf(b, " %.0f", lps_html_number(o, "version"));
        first = false;
    }
}

static void value_params(lps_html_buf *b, const cJSON *r)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "totals");
    double params = lps_html_number(t, "params"), zeros = lps_html_number(t, "zeros");
    if (isfinite(params))
        lps_html_printf(b, "<span data-key=\"params\" data-v=\"%.0f\">%.0f</span> prunable", params,
                        params);
    if (isfinite(zeros))
        lps_html_printf(b, ", <span data-key=\"zeros\" data-v=\"%.0f\">%.0f</span> zero", zeros,
                        zeros);
}

static void value_bytes(lps_html_buf *b, const cJSON *r)
{
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(r, "bytes");
    double in = bytes ? lps_html_number(bytes, "input")
                      : lps_html_number(cJSON_GetObjectItemCaseSensitive(r, "model"), "bytes");
    double out = lps_html_number(bytes, "output");
    if (isfinite(in))
        lps_html_printf(b, "%.0f", in);
    if (isfinite(out))
        lps_html_printf(b, " &rarr; %.0f (%.1f%%)", out, in > 0 ? out / in * PERCENT : 0);
}

static void value_method(lps_html_buf *b, const cJSON *r)
{
    lps_html_text(b, lps_html_string(r, "method"));
}

static void fraction(lps_html_buf *b, const char *key, double v)
{
    lps_html_printf(b, "<span data-key=\"%s\" data-v=\"", key);
    lps_html_exact(b, v);
    lps_html_puts(b, "\">");
    if (isfinite(v))
        lps_html_printf(b, "%.2f%%", v * PERCENT);
    else
        lps_html_puts(b, "&ndash;");
    lps_html_puts(b, "</span>");
}

static void value_sparsity(lps_html_buf *b, const cJSON *r)
{
    double target = lps_html_number(r, "target");
    if (isfinite(target)) {
        fraction(b, "target", target);
        lps_html_puts(b, " target, ");
        fraction(b, "achieved", lps_html_number(r, "achieved"));
        lps_html_puts(b, " achieved");
    } else {
        fraction(b, "total_sparsity", lps_html_number(cJSON_GetObjectItemCaseSensitive(r, "totals"),
                                                "sparsity"));
    }
}

static void value_accuracy(lps_html_buf *b, const cJSON *r)
{
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(r, "accuracy");
    if (!acc)
        return;
    fraction(b, "accuracy_dense", lps_html_number(acc, "dense"));
    lps_html_puts(b, " &rarr; ");
    fraction(b, "accuracy_sparse", lps_html_number(acc, "sparse"));
}

static void value_command(lps_html_buf *b, const cJSON *r)
{
    const char *cmd = lps_html_string(r, "command");
    if (cmd) {
        lps_html_puts(b, "<code>");
        lps_html_text(b, cmd);
        lps_html_puts(b, "</code>");
    }
}

static void header(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    static const struct {
        const char *title;
        header_value_fn value;
    } rows[] = {
        {"model", value_model},       {"producer", value_producer}, {"opsets", value_opsets},
        {"parameters", value_params}, {"bytes", value_bytes},       {"method", value_method},
        {"sparsity", value_sparsity}, {"accuracy", value_accuracy}, {"command", value_command},
    };
    lps_html_puts(b, "<header><h1>lpsparsify report</h1><table class=\"header\"><thead><tr>"
                     "<th></th>");
    for (size_t r = 0; r < n; r++) {
        lps_html_printf(b, "<th><span class=\"swatch\" style=\"background:%s\"></span>",
                        lps_html_palette[r]);
        lps_html_text(b, src[r].label);
        lps_html_puts(b, "</th>");
    }
    lps_html_puts(b, "</tr></thead><tbody>");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* A row no report has a value for (method, accuracy of an inspect
         * report) is left out. */
        size_t row_start = b->len;
        bool any = false;
        lps_html_printf(b, "<tr><th>%s</th>", rows[i].title);
        for (size_t r = 0; r < n; r++) {
            lps_html_puts(b, "<td>");
            size_t before = b->len;
            rows[i].value(b, src[r].report);
            any = any || b->len > before;
            lps_html_puts(b, "</td>");
        }
        lps_html_puts(b, "</tr>");
        if (!any && !b->failed) {
            b->len = row_start;
            b->data[b->len] = '\0';
        }
    }
    lps_html_puts(b, "</tbody></table></header>");
}

/* Ranks layers of one report by a score; NAN scores are left out. */
typedef double (*layer_score_fn)(const cJSON *layer);

static double score_sparsity(const cJSON *l) { return lps_html_number(l, "sparsity"); }
static double score_density(const cJSON *l) { return -lps_html_number(l, "sparsity"); }
static double score_params(const cJSON *l) { return lps_html_number(l, "params"); }
static double score_gap(const cJSON *l)
{
    double h = lps_html_number(l, "hoyer"), fit = lps_html_number(l, "hoyer_expected_fit");
    return fabs(h - fit);
}

/* How a summary list shows its score next to each layer. */
typedef enum score_format { SHOW_SPARSITY, SHOW_COUNT, SHOW_GAP } score_format;

/* Lists the SUMMARY_ROWS layers of report with the highest score, linked
 * to their rows. */
static void summary_list(lps_html_buf *b, const cJSON *report, const char *title,
                         layer_score_fn score, score_format format)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(report, "layers");
    int count = cJSON_GetArraySize(layers);
    int chosen[SUMMARY_ROWS];
    int n_chosen = 0;
    for (int k = 0; k < SUMMARY_ROWS; k++) {
        int best = -1;
        double best_score = -INFINITY;
        for (int i = 0; i < count; i++) {
            double s = score(cJSON_GetArrayItem(layers, i));
            bool taken = false;
            for (int j = 0; j < n_chosen; j++)
                taken = taken || chosen[j] == i;
            if (!taken && isfinite(s) && s > best_score) {
                best = i;
                best_score = s;
            }
        }
        if (best < 0)
            break;
        chosen[n_chosen++] = best;
    }
    lps_html_printf(b, "<div class=\"summary-list\"><h3>%s</h3><ol>", title);
    for (int k = 0; k < n_chosen; k++) {
        const cJSON *l = cJSON_GetArrayItem(layers, chosen[k]);
        lps_html_printf(b, "<li><a href=\"#layer-%d\">", chosen[k]);
        lps_html_text(b, lps_html_string(l, "name"));
        if (format == SHOW_COUNT)
            lps_html_printf(b, "</a> %.0f</li>", score(l));
        else if (format == SHOW_GAP)
            lps_html_printf(b, "</a> |H &minus; E[H]| = %.4f</li>", score(l));
        else
            lps_html_printf(b, "</a> %.2f%%</li>", lps_html_number(l, "sparsity") * PERCENT);
    }
    lps_html_puts(b, n_chosen ? "</ol></div>" : "</ol><p>&ndash;</p></div>");
}

static void summary(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    const cJSON *last = src[n - 1].report;
    lps_html_puts(b, "<section id=\"summary\"><h2>Summary</h2><p>Extremes of <b>");
    lps_html_text(b, src[n - 1].label);
    lps_html_printf(b, "</b>. Hoyer values further than %.2f from a prediction are marked "
                       "<span class=\"gap\">gap</span>.</p><div class=\"summary\">",
                    HOYER_GAP);
    summary_list(b, last, "Sparsest layers", score_sparsity, SHOW_SPARSITY);
    summary_list(b, last, "Densest layers", score_density, SHOW_SPARSITY);
    summary_list(b, last, "Largest layers (weights)", score_params, SHOW_COUNT);
    summary_list(b, last, "Largest gap to the gamma fit", score_gap, SHOW_GAP);
    lps_html_puts(b, "</div></section>");
}

/* ---- the page ---------------------------------------------------------- */

char *lps_report_html_render(const lps_html_source *src, size_t n, lps_error *err)
{
    if (n < 1 || n > LPS_HTML_MAX_REPORTS) {
        lps_fail(err, LPS_ERR_INVALID, "an HTML report takes 1 to %d reports, not %zu",
                 LPS_HTML_MAX_REPORTS, n);
        return NULL;
    }
    lps_html_buf b = {0};
    const char *title = lps_html_string(cJSON_GetObjectItemCaseSensitive(src[0].report, "model"),
                                        "path");
    lps_html_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
                      "<meta name=\"generator\" content=\"lpsparsify " LPS_VERSION "\"><title>");
    lps_html_text(&b, title ? title : "model");
    lps_html_puts(&b, " &mdash; lpsparsify report</title><style>");
    lps_html_puts(&b, lps_html_style);
    lps_html_puts(&b, "</style></head><body>");
    header(&b, src, n);
    summary(&b, src, n);
    layer_table(&b, src, n);
    diff_table(&b, src, n);
    lps_html_epoch_charts(&b, src, n);
    lps_html_p_figure(&b, src, n);
    lps_html_puts(&b, "<script>");
    lps_html_puts(&b, lps_html_script);
    lps_html_puts(&b, "</script></body></html>\n");
    char *page = lps_html_take(&b);
    if (!page)
        lps_fail(err, LPS_ERR_NOMEM, "out of memory rendering the HTML report");
    return page;
}

lps_status lps_report_html_write(const lps_html_source *src, size_t n, const char *path,
                                 lps_error *err)
{
    char *page = lps_report_html_render(src, n, err);
    if (!page)
        return err ? err->status : LPS_ERR_NOMEM;
    lps_status st = lps_write_file_atomic(path, page, strlen(page), err);
    free(page);
    return st;
}
