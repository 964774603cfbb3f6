#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "test_suite.h"

/* A hand-built model with two Gemm layers: fc1 [out=2, in=3] (transB=1)
 * with an all-zero row, and fc2 [in=2, out=1] that is entirely zero so
 * every Hoyer/gamma figure of it is undefined. */
typedef struct fixture {
    lps_model m;
    lps_initializer inits[2];
    lps_node nodes[2];
    lps_opset opset;
    float w1[6];
    float w2[2];
} fixture;

static lps_attr trans_b_one = {.name = "transB", .type = LPS_ATTR_INT, .i = 1};
static char *in1[] = {"x", "fc1.weight"};
static char *in2[] = {"h", "fc2.weight"};

static void set_init(lps_initializer *i, char *name, float *data, int64_t d0, int64_t d1)
{
    memset(i, 0, sizeof *i);
    i->name = name;
    i->tensor.dtype = LPS_DT_FLOAT;
    i->tensor.rank = 2;
    i->tensor.dims[0] = d0;
    i->tensor.dims[1] = d1;
    i->tensor.data = data;
    i->tensor.nbytes = (size_t)(d0 * d1) * sizeof(float);
}

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    const float w1[] = {0.5f, -0.25f, 0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(f->w1, w1, sizeof w1);
    set_init(&f->inits[0], "fc1.weight", f->w1, 2, 3);
    set_init(&f->inits[1], "fc2.weight", f->w2, 2, 1);
    f->nodes[0] = (lps_node){.name = "fc1", .op_type = "Gemm", .domain = "", .n_inputs = 2,
                             .inputs = in1, .n_attrs = 1, .attrs = &trans_b_one};
    f->nodes[1] = (lps_node){.name = "fc2", .op_type = "Gemm", .domain = "", .n_inputs = 2,
                             .inputs = in2};
    f->opset = (lps_opset){.domain = "", .version = 13};
    f->m.path = "tiny.onnx";
    f->m.file_bytes = 1234;
    f->m.ir_version = 7;
    f->m.producer_name = "pytorch";
    f->m.producer_version = "2.1";
    f->m.n_opsets = 1;
    f->m.opsets = &f->opset;
    f->m.graph.n_initializers = 2;
    f->m.graph.initializers = f->inits;
    f->m.graph.n_nodes = 2;
    f->m.graph.nodes = f->nodes;
}

static cJSON *build(fixture *f)
{
    lps_prunable_list list;
    lps_error err;
    ck_assert_int_eq(lps_prunable_find(&f->m, &list, &err), LPS_OK);
    cJSON *r = lps_report_build(&f->m, &list, &err);
    lps_prunable_list_release(&list);
    ck_assert_ptr_nonnull(r);
    return r;
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return v->valuedouble;
}

START_TEST(report_has_documented_keys)
{
    fixture f;
    fixture_init(&f);
    cJSON *r = build(&f);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(r, "schema")->valuestring, "lpsparsify.report/1");
    cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(model, "path")->valuestring, "tiny.onnx");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(model, "producer")->valuestring, "pytorch 2.1");
    ck_assert_double_eq(num(model, "bytes"), 1234);
    ck_assert_double_eq(num(model, "ir_version"), 7);
    cJSON *op = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(model, "opsets"), 0);
    ck_assert_double_eq(num(op, "version"), 13);

    cJSON *l0 = lps_report_layer(r, 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l0, "name")->valuestring, "fc1.weight");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l0, "node")->valuestring, "fc1");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l0, "op")->valuestring, "Gemm");
    ck_assert_double_eq(num(l0, "fan_in"), 3);
    ck_assert_double_eq(num(l0, "params"), 6);
    ck_assert_double_eq(num(l0, "zeros"), 4);
    ck_assert_double_eq(num(l0, "zero_rows"), 1);
    ck_assert_double_eq_tol(num(l0, "sparsity"), 4.0 / 6.0, 1e-12);
    double h = (sqrt(3.0) - 0.75 / sqrt(0.3125)) / (sqrt(3.0) - 1.0);
    ck_assert_double_eq_tol(num(l0, "hoyer"), h, 1e-12);
    ck_assert(num(l0, "gamma_k") > 0.0);
    ck_assert(num(l0, "hoyer_expected_fit") > -1.0);

    cJSON *l1 = lps_report_layer(r, 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l1, "hoyer")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l1, "hoyer_tensor")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l1, "gamma_k")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l1, "hoyer_expected_fit")));
    ck_assert_ptr_null(lps_report_layer(r, 2));

    cJSON *tot = cJSON_GetObjectItemCaseSensitive(r, "totals");
    ck_assert_double_eq(num(tot, "params"), 8);
    ck_assert_double_eq(num(tot, "zeros"), 6);
    char *text = cJSON_PrintUnformatted(r);
    ck_assert_ptr_null(strstr(text, "nan"));
    cJSON_free(text);
    cJSON_Delete(r);
}
END_TEST

START_TEST(empty_model_has_null_sparsity)
{
    fixture f;
    fixture_init(&f);
    f.m.graph.n_nodes = 0;
    f.m.producer_name = NULL;
    f.m.producer_version = NULL;
    cJSON *r = build(&f);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "layers")), 0);
    cJSON *tot = cJSON_GetObjectItemCaseSensitive(r, "totals");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(tot, "sparsity")));
    cJSON *model = cJSON_GetObjectItemCaseSensitive(r, "model");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(model, "producer")));
    cJSON_Delete(r);
}
END_TEST

START_TEST(table_is_aligned_and_shows_extension_columns)
{
    fixture f;
    fixture_init(&f);
    cJSON *r = build(&f);
    ck_assert(lps_json_add_number(lps_report_layer(r, 0), "p", 1.07));
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    ck_assert_ptr_nonnull(out);
    lps_report_print_table(out, r);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "model: tiny.onnx (1234 bytes, IR version 7, opset ai.onnx 13"));
    ck_assert_ptr_nonnull(strstr(buf, "total: 8 prunable weights, 6 zeros, sparsity 75.00%"));
    /* Header, two layer lines: the "sparsity" column ends at the same offset. */
    char *header = strstr(buf, "\nlayer");
    ck_assert_ptr_nonnull(header);
    char *row1 = strchr(header + 1, '\n') + 1;
    char *row2 = strchr(row1, '\n') + 1;
    long end_h = strstr(header + 1, "sparsity") + strlen("sparsity") - (header + 1);
    long end_1 = strstr(row1, "66.67%") + strlen("66.67%") - row1;
    long end_2 = strstr(row2, "100.00%") + strlen("100.00%") - row2;
    ck_assert_int_eq(end_h, end_1);
    ck_assert_int_eq(end_h, end_2);
    ck_assert_ptr_nonnull(strstr(header, "  p  "));
    ck_assert_ptr_nonnull(strstr(row1, "1.0700"));
    ck_assert_ptr_null(strstr(header, "hoyer_expected_p"));
    free(buf);
    cJSON_Delete(r);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", report_has_documented_keys, 1},
        {"core", empty_model_has_null_sparsity, 1},
        {"core", table_is_aligned_and_shows_extension_columns, 1},
    };
    return test_run_table("report", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
