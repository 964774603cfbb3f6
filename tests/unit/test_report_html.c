/* The HTML report at library level: escaping, one row per layer, the
 * check of a report's fields, and the limits on the number of reports.
 * The page in a real browser is tests/html. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/html.h"
#include "report/html_buf.h"
#include "test_suite.h"

#define LARGE_LAYERS 500

/* A report with n layers named name_i ("%d" in fmt), sparsity i/n. */
static cJSON *make_report(int n, const char *fmt)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "schema", "lpsparsify.report/1");
    cJSON *model = cJSON_AddObjectToObject(r, "model");
    cJSON_AddStringToObject(model, "path", "<model>.onnx");
    cJSON *layers = cJSON_AddArrayToObject(r, "layers");
    for (int i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof name, fmt, i);
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", name);
        cJSON_AddStringToObject(l, "op", "Gemm");
        cJSON_AddNumberToObject(l, "fan_in", 16);
        cJSON_AddNumberToObject(l, "params", 256);
        cJSON_AddNumberToObject(l, "sparsity", (double)i / n);
        cJSON_AddNumberToObject(l, "hoyer", 0.3);
        cJSON_AddNullToObject(l, "hoyer_expected_fit");
        cJSON_AddItemToArray(layers, l);
    }
    return r;
}

static size_t count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *render_one(const cJSON *r, const char *label)
{
    lps_error err;
    lps_html_source src = {r, label};
    char *page = lps_report_html_render(&src, 1, &err);
    ck_assert_msg(page != NULL, "%s", err.msg);
    return page;
}

START_TEST(text_is_escaped)
{
    lps_html_buf b = {0};
    lps_html_text(&b, "<script>a&b\"c'd</script>");
    char *s = lps_html_take(&b);
    ck_assert_str_eq(s, "&lt;script&gt;a&amp;b&quot;c&#39;d&lt;/script&gt;");
    free(s);
}
END_TEST

START_TEST(hostile_names_never_become_markup)
{
    cJSON *r = make_report(3, "<script>alert(%d)</script>");
    char *page = render_one(r, "<img src=x onerror=alert(1)>");
    /* Our own script tag is the only one. */
    ck_assert_uint_eq(count(page, "<script"), 1);
    ck_assert_uint_eq(count(page, "<img"), 0);
    ck_assert_ptr_nonnull(strstr(page, "&lt;script&gt;alert(2)&lt;/script&gt;"));
    free(page);
    cJSON_Delete(r);
}
END_TEST

START_TEST(one_row_per_layer_flat_and_grouped)
{
    cJSON *small = make_report(3, "fc%d.weight");
    cJSON *large = make_report(LARGE_LAYERS, "block.fc%d.weight");
    char *a = render_one(small, "small");
    char *b = render_one(large, "large");
    ck_assert_uint_eq(count(a, "<tr class=\"layer\""), 3);
    ck_assert_uint_eq(count(a, "<details class=\"group\""), 0);
    ck_assert_uint_eq(count(b, "<tr class=\"layer\""), LARGE_LAYERS);
    /* One name prefix: runs of at most 50 layers. */
    ck_assert_uint_eq(count(b, "<details class=\"group\""), LARGE_LAYERS / 50);
    free(a);
    free(b);
    cJSON_Delete(small);
    cJSON_Delete(large);
}
END_TEST

START_TEST(numbers_are_the_json_digits)
{
    cJSON *r = make_report(1, "w%d");
    cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "layers"), 0);
    cJSON_ReplaceItemInObject(l, "sparsity", cJSON_CreateNumber(0.5207133418660511));
    char *json = cJSON_PrintUnformatted(l);
    char *page = render_one(r, "r");
    const char *digits = strstr(json, "\"sparsity\":") + strlen("\"sparsity\":");
    char want[64];
    snprintf(want, sizeof want, "data-key=\"sparsity\" data-v=\"%.*s\"", (int)strcspn(digits, ",}"),
             digits);
    ck_assert_msg(strstr(page, want) != NULL, "%s not in the page", want);
    ck_assert_ptr_nonnull(strstr(page, "data-key=\"hoyer_expected_fit\" data-v=\"null\""));
    free(page);
    free(json);
    cJSON_Delete(r);
}
END_TEST

START_TEST(overlay_adds_difference_table)
{
    cJSON *a = make_report(4, "fc%d.weight");
    cJSON *b = make_report(4, "fc%d.weight");
    lps_html_source src[2] = {{a, "dense"}, {b, "sparse"}};
    lps_error err;
    char *page = lps_report_html_render(src, 2, &err);
    ck_assert_ptr_nonnull(page);
    ck_assert_uint_eq(count(page, "<tr class=\"layer\""), 4);
    ck_assert_uint_eq(count(page, "<tr class=\"diff-row\""), 4);
    ck_assert_uint_eq(count(page, "data-key=\"sparsity\""), 4 * 2 + 4);
    free(page);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(report_count_is_bounded)
{
    cJSON *r = make_report(1, "w%d");
    lps_html_source src[LPS_HTML_MAX_REPORTS + 1];
    for (int i = 0; i <= LPS_HTML_MAX_REPORTS; i++)
        src[i] = (lps_html_source){r, "r"};
    lps_error err;
    ck_assert_ptr_null(lps_report_html_render(src, 0, &err));
    ck_assert_int_eq(err.status, LPS_ERR_INVALID);
    ck_assert_ptr_null(lps_report_html_render(src, LPS_HTML_MAX_REPORTS + 1, &err));
    ck_assert_int_eq(err.status, LPS_ERR_INVALID);
    cJSON_Delete(r);
}
END_TEST

/* Each malformed report is refused with a message naming the field. */
START_TEST(check_names_the_field)
{
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"schema\":\"other/1\",\"layers\":[]}", "schema"},
        {"{\"schema\":\"lpsparsify.report/1\"}", "layers: missing"},
        {"{\"schema\":\"lpsparsify.report/1\",\"layers\":[{}]}", "layers[0].name"},
        {"{\"schema\":\"lpsparsify.report/1\",\"layers\":[{\"name\":\"a\"},{\"name\":\"b\","
         "\"sparsity\":\"90%\"}]}",
         "layers[1].sparsity: expected a number or null"},
        {"{\"schema\":\"lpsparsify.report/1\",\"layers\":[],\"epochs\":[1]}", "epochs[0]"},
        {"{\"schema\":\"lpsparsify.report/1\",\"layers\":[],\"model\":3}", "model: expected an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *r = cJSON_Parse(cases[i].json);
        lps_error err;
        lps_error_clear(&err);
        ck_assert_int_eq(lps_report_html_check(r, &err), LPS_ERR_INVALID);
        ck_assert_msg(strstr(err.msg, cases[i].message) != NULL, "case %zu: '%s'", i, err.msg);
        cJSON_Delete(r);
    }
    cJSON *good = make_report(2, "w%d");
    ck_assert_int_eq(lps_report_html_check(good, NULL), LPS_OK);
    cJSON_Delete(good);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"html", text_is_escaped, 1},
        {"html", hostile_names_never_become_markup, 1},
        {"html", one_row_per_layer_flat_and_grouped, 1},
        {"html", numbers_are_the_json_digits, 1},
        {"html", overlay_adds_difference_table, 1},
        {"html", report_count_is_bounded, 1},
        {"html", check_names_the_field, 1},
    };
    return test_run_table("report_html", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
