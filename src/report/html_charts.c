/* Inline SVG charts of the HTML report: the per-epoch curves and the
 * paper's figure of expected Hoyer sparsity against p (docs/method.md,
 * "Hoyer sparsity and the gamma hypothesis"). Every point carries a <title>,
 * the browser's own tooltip, so the charts read without JavaScript. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/html_internal.h"
#include "sparsity/hoyer.h"

#define PERCENT 100.0
/* Chart geometry in SVG user units (the SVG scales to its box). */
#define CHART_W 360.0
#define CHART_H 220.0
#define MARGIN_LEFT 56.0
#define MARGIN_RIGHT 14.0
#define MARGIN_TOP 14.0
#define MARGIN_BOTTOM 40.0
#define POINT_RADIUS 3.0
/* Aim for about this many labelled ticks per axis. */
#define TARGET_TICKS 5
/* The figure's p axis: LpSGD uses p in (1, 2]. */
#define P_MIN 1.0
#define P_MAX 2.0
#define P_CURVE_SAMPLES 60
/* Fan-ins drawn as curves: the smallest, the largest and evenly spaced
 * ones between, at most this many. */
#define MAX_FANIN_CURVES 4
#define MAX_SERIES (LPS_HTML_MAX_REPORTS + MAX_FANIN_CURVES + 1)
/* Bisection steps when a layer's p is implied from its Hoyer value. */
#define IMPLIED_P_STEPS 50

typedef struct axis {
    double lo, hi;
} axis;

typedef struct series {
    const char *label;
    const char *color;
    bool dashed;           /* a prediction, not a measurement */
    bool points;           /* draw markers with tooltips */
    bool scatter;          /* markers only, no connecting line */
    size_t n;
    double *x, *y;         /* owned; NAN entries are skipped */
    char **tips;           /* optional per-point tooltip texts, owned */
} series;

static void series_release(series *s)
{
    free(s->x);
    free(s->y);
    if (s->tips)
        for (size_t i = 0; i < s->n; i++)
            free(s->tips[i]);
    free(s->tips);
}

/* Allocates n points; false when out of memory. */
static bool series_alloc(series *s, size_t n, bool with_tips)
{
    s->n = n;
    s->x = calloc(n ? n : 1, sizeof *s->x);
    s->y = calloc(n ? n : 1, sizeof *s->y);
    s->tips = with_tips ? calloc(n ? n : 1, sizeof *s->tips) : NULL;
    return s->x && s->y && (!with_tips || s->tips);
}

/* Grows a to hold v. */
static void axis_include(axis *a, double v)
{
    if (isfinite(v)) {
        a->lo = fmin(a->lo, v);
        a->hi = fmax(a->hi, v);
    }
}

/* Gives a degenerate or empty range some height. */
static void axis_settle(axis *a)
{
    if (!(a->lo <= a->hi)) {
        a->lo = 0;
        a->hi = 1;
    } else if (a->lo == a->hi) {
        double pad = a->lo != 0 ? fabs(a->lo) * 0.1 : 0.5;
        a->lo -= pad;
        a->hi += pad;
    }
}

/* A 1, 2 or 5 times a power of ten step giving about TARGET_TICKS ticks. */
static double nice_step(const axis *a, bool integer)
{
    double raw = (a->hi - a->lo) / TARGET_TICKS;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    return integer && step < 1 ? 1 : step;
}

static double to_px_x(const axis *a, double v)
{
    return MARGIN_LEFT + (v - a->lo) / (a->hi - a->lo) * (CHART_W - MARGIN_LEFT - MARGIN_RIGHT);
}

static double to_px_y(const axis *a, double v)
{
    return CHART_H - MARGIN_BOTTOM -
           (v - a->lo) / (a->hi - a->lo) * (CHART_H - MARGIN_TOP - MARGIN_BOTTOM);
}

/* Grid lines and tick labels of both axes, plus the axis titles. */
static void draw_axes(lps_html_buf *b, const axis *x, const axis *y, const char *x_title,
                      bool y_percent)
{
    /* Epochs are counted: no ticks between them. */
    double sx = nice_step(x, strcmp(x_title, "epoch") == 0), sy = nice_step(y, false);
    for (double v = ceil(x->lo / sx) * sx; v <= x->hi + sx * 1e-9; v += sx)
        lps_html_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>",
                        to_px_x(x, v), to_px_x(x, v), MARGIN_TOP, CHART_H - MARGIN_BOTTOM,
                        to_px_x(x, v), CHART_H - MARGIN_BOTTOM + 14, v);
    for (double v = ceil(y->lo / sy) * sy; v <= y->hi + sy * 1e-9; v += sy)
        lps_html_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g%s</text>",
                        MARGIN_LEFT, CHART_W - MARGIN_RIGHT, to_px_y(y, v), to_px_y(y, v),
                        MARGIN_LEFT - 4, to_px_y(y, v) + 4, y_percent ? v * PERCENT : v,
                        y_percent ? "%" : "");
    lps_html_printf(b, "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                    (MARGIN_LEFT + CHART_W - MARGIN_RIGHT) / 2, CHART_H - 6);
    lps_html_text(b, x_title);
    lps_html_puts(b, "</text>");
}

static void draw_series(lps_html_buf *b, const axis *x, const axis *y, const series *s)
{
    lps_html_puts(b, "<g class=\"series\">");
    if (!s->scatter) {
        lps_html_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                        s->color, s->dashed ? " stroke-dasharray=\"5 3\"" : "");
        for (size_t i = 0; i < s->n; i++)
            if (isfinite(s->x[i]) && isfinite(s->y[i]))
                lps_html_printf(b, "%.1f,%.1f ", to_px_x(x, s->x[i]), to_px_y(y, s->y[i]));
        lps_html_puts(b, "\"/>");
    }
    for (size_t i = 0; s->points && i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i]))
            continue;
        lps_html_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\" fill=\"%s\"><title>",
                        to_px_x(x, s->x[i]), to_px_y(y, s->y[i]), POINT_RADIUS, s->color);
        if (s->tips && s->tips[i])
            lps_html_text(b, s->tips[i]);
        lps_html_puts(b, "</title></circle>");
    }
    lps_html_puts(b, "</g>");
}

static void draw_legend(lps_html_buf *b, const series *s, size_t n)
{
    lps_html_puts(b, "<figcaption class=\"legend\">");
    for (size_t i = 0; i < n; i++) {
        lps_html_printf(b, "<span><i style=\"border-color:%s\"%s></i>", s[i].color,
                        s[i].dashed ? " class=\"dashed\"" : "");
        lps_html_text(b, s[i].label);
        lps_html_puts(b, "</span>");
    }
    lps_html_puts(b, "</figcaption>");
}

/* One chart of series s[0..n) with a title, drawn as a <figure>. Series
 * without a finite point are neither drawn nor listed. */
static void chart(lps_html_buf *b, const char *id, const char *title, const char *x_title,
                  const series *s, size_t n, bool y_percent)
{
    axis x = {INFINITY, -INFINITY}, y = {INFINITY, -INFINITY};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < s[i].n; j++)
            if (isfinite(s[i].x[j]) && isfinite(s[i].y[j])) {
                axis_include(&x, s[i].x[j]);
                axis_include(&y, s[i].y[j]);
            }
    axis_settle(&x);
    axis_settle(&y);
    lps_html_printf(b, "<figure class=\"chart\" id=\"%s\"><h3>", id);
    lps_html_text(b, title);
    lps_html_printf(b, "</h3><svg viewBox=\"0 0 %g %g\" role=\"img\" aria-label=\"", CHART_W,
                    CHART_H);
    lps_html_text(b, title);
    lps_html_puts(b, "\">");
    draw_axes(b, &x, &y, x_title, y_percent);
    for (size_t i = 0; i < n; i++)
        draw_series(b, &x, &y, &s[i]);
    lps_html_puts(b, "</svg>");
    draw_legend(b, s, n);
    lps_html_puts(b, "</figure>");
}

/* ---- per-epoch curves -------------------------------------------------- */

typedef struct epoch_metric {
    const char *key;
    const char *title;
    bool percent;
} epoch_metric;

static const epoch_metric EPOCH_METRICS[] = {
    {"train_loss", "Training loss", false}, {"loss", "Evaluation loss", false},
    {"accuracy", "Accuracy", true},         {"sparsity", "Sparsity", true},
    {"hoyer", "Mean Hoyer sparsity", false}, {"lr", "Learning rate", false},
};

/* The metric's values over report's epochs as a series; false when out of
 * memory. An empty series (no epochs or no such key) is valid. */
static bool epoch_series(series *s, const lps_html_source *src, size_t r, const epoch_metric *m)
{
    const cJSON *epochs = cJSON_GetObjectItemCaseSensitive(src[r].report, "epochs");
    size_t n = (size_t)cJSON_GetArraySize(epochs);
    *s = (series){.label = src[r].label, .color = lps_html_palette[r], .points = true};
    if (!series_alloc(s, n, true))
        return false;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, epochs) {
        s->x[i] = lps_html_number(e, "epoch");
        s->y[i] = lps_html_number(e, m->key);
        size_t len = strlen(src[r].label) + 64;
        s->tips[i] = malloc(len);
        if (!s->tips[i])
            return false;
        snprintf(s->tips[i], len, "%s, epoch %g: %.6g", src[r].label, s->x[i], s->y[i]);
        i++;
    }
    return true;
}

static bool has_point(const series *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i]))
            return true;
    return false;
}

void lps_html_epoch_charts(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    lps_html_puts(b, "<section id=\"epochs\"><h2>Training</h2>");
    size_t drawn = 0;
    for (size_t k = 0; k < sizeof EPOCH_METRICS / sizeof EPOCH_METRICS[0]; k++) {
        series s[LPS_HTML_MAX_REPORTS];
        size_t used = 0;
        for (size_t r = 0; r < n && !b->failed; r++) {
            if (!epoch_series(&s[used], src, r, &EPOCH_METRICS[k]))
                b->failed = true;
            if (has_point(&s[used]))
                used++;
            else
                series_release(&s[used]);
        }
        char id[40];
        snprintf(id, sizeof id, "epochs-%s", EPOCH_METRICS[k].key);
        if (used && !b->failed)
            chart(b, id, EPOCH_METRICS[k].title, "epoch", s, used, EPOCH_METRICS[k].percent);
        drawn += used > 0;
        for (size_t i = 0; i < used; i++)
            series_release(&s[i]);
    }
    if (!drawn)
        lps_html_puts(b, "<p>No training epochs in these reports.</p>");
    lps_html_puts(b, "</section>");
}

/* ---- expected Hoyer against p ------------------------------------------ */

static double expected_hoyer_at_p(double fan_in, double p)
{
    return lps_hoyer_expected(fan_in, lps_gamma_k_from_p(p));
}

/* The p in (P_MIN, P_MAX] whose expected Hoyer for fan_in equals h, by
 * bisection (E[H] falls as p grows); NAN when h is outside the curve. */
static double implied_p(double fan_in, double h)
{
    double lo = P_MIN + (P_MAX - P_MIN) / P_CURVE_SAMPLES, hi = P_MAX;
    if (!isfinite(h) || h > expected_hoyer_at_p(fan_in, lo) || h < expected_hoyer_at_p(fan_in, hi))
        return NAN;
    for (int i = 0; i < IMPLIED_P_STEPS; i++) {
        double mid = (lo + hi) / 2;
        if (expected_hoyer_at_p(fan_in, mid) > h)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct finite fan-ins >= 2 of every report, sorted, thinned to at
 * most MAX_FANIN_CURVES (first, last and evenly spaced). Returns the count. */
static size_t pick_fan_ins(const lps_html_source *src, size_t n, double *out)
{
    size_t total = 0, cap = 0;
    double *all = NULL;
    for (size_t r = 0; r < n; r++) {
        const cJSON *l;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(src[r].report, "layers")) {
            double f = lps_html_number(l, "fan_in");
            if (!(f >= 2))
                continue;
            if (total == cap) {
                cap = cap ? cap * 2 : 64;
                double *grown = realloc(all, cap * sizeof *all);
                if (!grown)
                    break;
                all = grown;
            }
            all[total++] = f;
        }
    }
    qsort(all, total, sizeof *all, compare_doubles);
    size_t distinct = 0;
    for (size_t i = 0; i < total; i++)
        if (distinct == 0 || all[i] != all[distinct - 1])
            all[distinct++] = all[i];
    size_t picked = distinct < MAX_FANIN_CURVES ? distinct : MAX_FANIN_CURVES;
    for (size_t i = 0; i < picked; i++)
        out[i] = all[picked == 1 ? 0 : i * (distinct - 1) / (picked - 1)];
    free(all);
    return picked;
}

/* A dashed prediction curve E[H](p) for one fan-in (fan_in = INFINITY: the
 * n -> infinity limit). */
static bool prediction_series(series *s, double fan_in, char *label, size_t label_size,
                              const char *color)
{
    if (isinf(fan_in))
        snprintf(label, label_size, "E[H], n \u2192 \u221e");
    else
        snprintf(label, label_size, "E[H], fan-in %.0f", fan_in);
    *s = (series){.label = label, .color = color, .dashed = true};
    if (!series_alloc(s, P_CURVE_SAMPLES, false))
        return false;
    for (size_t i = 0; i < P_CURVE_SAMPLES; i++) {
        double p = P_MIN + (P_MAX - P_MIN) * (double)(i + 1) / P_CURVE_SAMPLES;
        s->x[i] = p;
        s->y[i] = isinf(fan_in) ? lps_hoyer_expected_limit(lps_gamma_k_from_p(p))
                                : expected_hoyer_at_p(fan_in, p);
    }
    return true;
}

/* The measured layers of report r as points: at their own p when the
 * report has one (sparsify), else at the p their Hoyer value implies. */
static bool layer_points(series *s, const lps_html_source *src, size_t r, bool *implied)
{
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(src[r].report, "layers");
    size_t n = (size_t)cJSON_GetArraySize(layers);
    *s = (series){.label = src[r].label, .color = lps_html_palette[r], .points = true,
                  .scatter = true};
    if (!series_alloc(s, n, true))
        return false;
    size_t i = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) {
        double h = lps_html_number(l, "hoyer"), p = lps_html_number(l, "p");
        if (!isfinite(p)) {
            p = implied_p(lps_html_number(l, "fan_in"), h);
            *implied = *implied || isfinite(p);
        }
        s->x[i] = p;
        s->y[i] = h;
        const char *name = lps_html_string(l, "name");
        size_t len = strlen(name) + strlen(src[r].label) + 64;
        s->tips[i] = malloc(len);
        if (!s->tips[i])
            return false;
        snprintf(s->tips[i], len, "%s (%s): p %.3f, Hoyer %.4f", name, src[r].label, p, h);
        i++;
    }
    return true;
}

/* Grey shades for the prediction curves, light to dark. */
static const char *const CURVE_SHADES[MAX_FANIN_CURVES + 1] = {
    "#999999", "#808080", "#666666", "#4d4d4d", "#333333",
};

void lps_html_p_figure(lps_html_buf *b, const lps_html_source *src, size_t n)
{
    series s[MAX_SERIES];
    char labels[MAX_FANIN_CURVES + 1][48];
    double fan_ins[MAX_FANIN_CURVES + 1];
    size_t n_fan = pick_fan_ins(src, n, fan_ins);
    fan_ins[n_fan++] = INFINITY;
    size_t used = 0;
    bool implied = false;
    for (size_t i = 0; i < n_fan && !b->failed; i++)
        if (!prediction_series(&s[used++], fan_ins[i], labels[i], sizeof labels[i], CURVE_SHADES[i]))
            b->failed = true;
    for (size_t r = 0; r < n && !b->failed; r++) {
        if (!layer_points(&s[used], src, r, &implied))
            b->failed = true;
        if (has_point(&s[used]))
            used++;
        else
            series_release(&s[used]);
    }
    lps_html_puts(b, "<section id=\"pcurve\"><h2>Hoyer sparsity against p</h2><p>Dashed: the "
                     "expected Hoyer sparsity of a row whose squared weights are Gamma(k = 0.4 "
                     "(p &minus; 1)) distributed, for the model's fan-ins. Points: the measured "
                     "layers");
    lps_html_puts(b, implied ? "; a layer without a p of its own (an inspect report) stands at "
                               "the p its Hoyer sparsity implies for its fan-in.</p>"
                             : ".</p>");
    if (!b->failed)
        chart(b, "pcurve-chart", "Expected and measured Hoyer sparsity", "p", s, used, false);
    for (size_t i = 0; i < used; i++)
        series_release(&s[i]);
    lps_html_puts(b, "</section>");
}
