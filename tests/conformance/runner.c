/* Conformance runner over ONNX's own test folders (model.onnx plus
 * test_data_set_N/{input,output}_K.pb).
 *
 *   conformance_runner CASE_DIR [--rtol R] [--atol A]
 *       runs one case; exit 0 pass, 1 mismatch or failure, 77 unsupported
 *   conformance_runner --emit-ctest OUT.cmake SELF KNOWN ROOT...
 *       writes one add_test per case that is not unsupported and not a
 *       known difference
 *   conformance_runner --summary KNOWN ROOT...
 *       runs every case, prints one line per case that is not a pass and
 *       "N passed, N failed, N skipped, N known differences"
 * KNOWN (tests/conformance/known_differences.txt) lists, one per line,
 * "suite/case reason": cases where ONNX's reference outputs and
 * onnxruntime disagree and we follow onnxruntime. The summary fails when a
 * listed case passes (the entry is stale) or does not load. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"
#include "ops/elementwise.h"

#define EXIT_UNSUPPORTED 77
#define DEFAULT_RTOL 1e-3
#define DEFAULT_ATOL 1e-5
#define MAX_TENSORS 64
#define PATH_LEN 4096

typedef enum case_result { CASE_PASS, CASE_FAIL, CASE_UNSUPPORTED } case_result;

typedef struct tolerance {
    double rtol;
    double atol;
} tolerance;

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Element i as a double; NaN for a dtype compare() refuses (see comparable). */
static double element_as_double(const lps_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LPS_DT_FLOAT: return ((const float *)t->data)[i];
    case LPS_DT_DOUBLE: return ((const double *)t->data)[i];
    case LPS_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case LPS_DT_INT32: return ((const int32_t *)t->data)[i];
    case LPS_DT_UINT8:
    case LPS_DT_BOOL: return ((const uint8_t *)t->data)[i];
    case LPS_DT_INT8: return ((const int8_t *)t->data)[i];
    case LPS_DT_INT16: return ((const int16_t *)t->data)[i];
    case LPS_DT_UINT16: return ((const uint16_t *)t->data)[i];
    case LPS_DT_UINT32: return ((const uint32_t *)t->data)[i];
    case LPS_DT_UINT64: return (double)((const uint64_t *)t->data)[i];
    case LPS_DT_FLOAT16: return lps_f16_load(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

/* The dtypes element_as_double reads; others would compare as NaN == NaN. */
static bool comparable(lps_dtype dtype)
{
    return dtype != LPS_DT_STRING && dtype != LPS_DT_BFLOAT16 && dtype != LPS_DT_COMPLEX64 &&
           dtype != LPS_DT_COMPLEX128 && dtype != LPS_DT_UNDEFINED;
}

static bool compare(const char *what, const lps_tensor *got, const lps_tensor *want, tolerance tol,
                    char *why, size_t why_len)
{
    char a[128], b[128];
    if (got->dtype != want->dtype) {
        snprintf(why, why_len, "%s: type %s, expected %s", what, lps_dtype_name(got->dtype),
                 lps_dtype_name(want->dtype));
        return false;
    }
    if (got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)got->rank * sizeof got->dims[0]) != 0) {
        snprintf(why, why_len, "%s: shape %s, expected %s", what,
                 lps_shape_str(got->rank, got->dims, a, sizeof a),
                 lps_shape_str(want->rank, want->dims, b, sizeof b));
        return false;
    }
    if (!comparable(want->dtype)) {
        snprintf(why, why_len, "%s: cannot compare %s values", what, lps_dtype_name(want->dtype));
        return false;
    }
    bool exact = got->dtype != LPS_DT_FLOAT && got->dtype != LPS_DT_DOUBLE &&
                 got->dtype != LPS_DT_FLOAT16;
    for (int64_t i = 0; i < lps_tensor_numel(want); i++) {
        double x = element_as_double(got, i), y = element_as_double(want, i);
        if (isnan(x) && isnan(y))
            continue;
        if (exact ? x != y : !(fabs(x - y) <= tol.atol + tol.rtol * fabs(y))) {
            snprintf(why, why_len, "%s: element %lld is %.9g, expected %.9g", what, (long long)i, x,
                     y);
            return false;
        }
    }
    return true;
}

static void free_tensors(lps_tensor *t, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lps_tensor_release(&t[i]);
        free(names[i]);
    }
}

/* Loads prefix_0.pb, prefix_1.pb, ... until one is missing. */
static lps_status load_series(const char *dir, const char *prefix, lps_tensor *t, char **names,
                              size_t *n, lps_error *err)
{
    char path[PATH_LEN];
    *n = 0;
    for (size_t k = 0; k < MAX_TENSORS; k++) {
        int len = snprintf(path, sizeof path, "%s/%s_%zu.pb", dir, prefix, k);
        if (len < 0 || (size_t)len >= sizeof path)
            return lps_fail(err, LPS_ERR_INVALID, "%.200s: path too long", dir);
        if (!is_file(path))
            break;
        lps_status st = lps_tensor_load_pb(path, &t[k], &names[k], err);
        if (st != LPS_OK)
            return st;
        (*n)++;
    }
    return LPS_OK;
}

static case_result run_data_set(lps_plan *plan, const char *set_dir, tolerance tol, char *why,
                                size_t why_len)
{
    lps_tensor inputs[MAX_TENSORS] = {0}, outputs[MAX_TENSORS] = {0};
    char *in_names[MAX_TENSORS] = {0}, *out_names[MAX_TENSORS] = {0};
    size_t n_in = 0, n_out = 0;
    lps_error err = {0};
    /* ONNX's expected outputs follow the graph's training flags. */
    lps_run_options run = {.honor_training_flags = true};
    lps_exec_ctx *ctx = lps_exec_ctx_new(&run, &err);
    case_result r = CASE_FAIL;
    if (!ctx || load_series(set_dir, "input", inputs, in_names, &n_in, &err) != LPS_OK ||
        load_series(set_dir, "output", outputs, out_names, &n_out, &err) != LPS_OK) {
        snprintf(why, why_len, "%.500s", err.msg);
        goto cleanup;
    }
    if (n_in != lps_plan_n_inputs(plan) || n_out != lps_plan_n_outputs(plan)) {
        snprintf(why, why_len, "%.300s: %zu inputs/%zu outputs for a model with %zu/%zu", set_dir,
                 n_in, n_out, lps_plan_n_inputs(plan), lps_plan_n_outputs(plan));
        goto cleanup;
    }
    for (size_t i = 0; i < n_in; i++) {
        /* A graph input of a type no operator computes on (bfloat16, string)
         * makes the case unsupported; ONNX 1.12 also stores bfloat16 data as
         * uint16 with shapes that contradict the model. */
        const lps_value_info *vi = lps_plan_input_info(plan, i);
        if (!lps_elem_supported(vi->dtype)) {
            snprintf(why, why_len, "input '%.200s' has type %s, which no operator supports",
                     vi->name, lps_dtype_name(vi->dtype));
            r = CASE_UNSUPPORTED;
            goto cleanup;
        }
        if (lps_plan_set_input(plan, i, &inputs[i], &err) != LPS_OK)
            goto op_error;
    }
    if (lps_plan_forward(plan, ctx, &err) != LPS_OK)
        goto op_error;
    r = CASE_PASS;
    for (size_t j = 0; j < n_out && r == CASE_PASS; j++)
        if (!compare(lps_plan_output_name(plan, j), lps_plan_output(plan, j), &outputs[j], tol,
                     why, why_len))
            r = CASE_FAIL;
    goto cleanup;
op_error:
    snprintf(why, why_len, "%.500s", err.msg);
    r = err.status == LPS_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
cleanup:
    free_tensors(inputs, in_names, n_in);
    free_tensors(outputs, out_names, n_out);
    lps_exec_ctx_free(ctx);
    return r;
}

static case_result run_case(const char *case_dir, tolerance tol, char *why, size_t why_len)
{
    char path[PATH_LEN];
    lps_error err = {0};
    lps_plan *plan = NULL;
    case_result r = CASE_FAIL;
    snprintf(path, sizeof path, "%s/model.onnx", case_dir);
    lps_model *m = lps_model_load(path, &err);
    if (m)
        plan = lps_plan_compile(m, NULL, &err);
    if (!plan) {
        snprintf(why, why_len, "%.500s", err.msg);
        r = err.status == LPS_ERR_UNSUPPORTED ? CASE_UNSUPPORTED : CASE_FAIL;
        goto cleanup;
    }
    size_t sets = 0;
    for (int k = 0;; k++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", case_dir, k);
        if (!is_dir(path))
            break;
        r = run_data_set(plan, path, tol, why, why_len);
        sets++;
        if (r != CASE_PASS)
            break;
    }
    if (sets == 0) {
        snprintf(why, why_len, "%.300s: no test_data_set_0", case_dir);
        r = CASE_FAIL;
    }
cleanup:
    lps_plan_free(plan);
    lps_model_free(m);
    return r;
}

/* The known-differences list: names[i] ("suite/case") and reasons[i]. */
typedef struct known_list {
    char **names;
    char **reasons;
    size_t n;
} known_list;

static void known_release(known_list *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->names[i]);
        free(k->reasons[i]);
    }
    free(k->names);
    free(k->reasons);
    memset(k, 0, sizeof *k);
}

/* Loads path ("#" comments and blank lines skipped). Returns false, with
 * a message on stderr, when the file cannot be read or memory runs out. */
static bool known_load(const char *path, known_list *k)
{
    char line[1024];
    memset(k, 0, sizeof *k);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance_runner: %s: cannot read\n", path);
        return false;
    }
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *sep = strchr(line, ' ');
        char **names = realloc(k->names, (k->n + 1) * sizeof *names);
        char **reasons = names ? realloc(k->reasons, (k->n + 1) * sizeof *reasons) : NULL;
        if (names)
            k->names = names;
        if (reasons)
            k->reasons = reasons;
        ok = names && reasons;
        if (!ok)
            break;
        if (sep)
            *sep = '\0';
        k->names[k->n] = strdup(line);
        k->reasons[k->n] = strdup(sep ? sep + 1 : "");
        k->n++;
    }
    fclose(f);
    if (!ok)
        fprintf(stderr, "conformance_runner: out of memory reading %s\n", path);
    return ok;
}

/* The reason suite/case is listed for, or NULL. */
static const char *known_reason(const known_list *k, const char *suite, const char *name)
{
    char full[PATH_LEN];
    snprintf(full, sizeof full, "%s/%s", suite, name);
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->names[i], full) == 0)
            return k->reasons[i];
    return NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Case folders (those holding model.onnx) directly under root, sorted. */
static char **list_cases(const char *root, size_t *n)
{
    DIR *d = opendir(root);
    char **list = NULL;
    size_t cap = 0;
    char path[PATH_LEN];
    *n = 0;
    if (!d)
        return NULL;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/model.onnx", root, e->d_name);
        if (!is_file(path))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(list, cap * sizeof *grown);
            if (!grown)
                break;
            list = grown;
        }
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        list[(*n)++] = strdup(path);
    }
    closedir(d);
    qsort(list, *n, sizeof *list, compare_names);
    return list;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static const char *case_name(const char *dir)
{
    const char *slash = strrchr(dir, '/');
    return slash ? slash + 1 : dir;
}

static const char *suite_name(const char *root)
{
    return case_name(root);
}

/* Runs a case once to classify it: anything but "unsupported" (including
 * failures) becomes a ctest, so regressions stay visible. */
static bool case_supported(const char *case_dir, tolerance tol)
{
    char why[LPS_ERROR_MSG_MAX * 2];
    return run_case(case_dir, tol, why, sizeof why) != CASE_UNSUPPORTED;
}

/* One add_test per case whose ops are all supported (a case that fails to
 * load for another reason is added too, so it fails visibly). The cases left
 * out are listed with their reason by the conformance_summary test. */
static int emit_ctest(const char *out, const char *self, const known_list *known, int n_roots,
                      char **roots, tolerance tol)
{
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "conformance_runner: %s: cannot write\n", out);
        return EXIT_FAILURE;
    }
    size_t total = 0, added = 0;
    for (int r = 0; r < n_roots; r++) {
        size_t n;
        char **cases = list_cases(roots[r], &n);
        for (size_t i = 0; i < n; i++) {
            if (known_reason(known, suite_name(roots[r]), case_name(cases[i])) ||
                !case_supported(cases[i], tol))
                continue;
            fprintf(f, "add_test(conformance/%s/%s \"%s\" \"%s\")\n", suite_name(roots[r]),
                    case_name(cases[i]), self, cases[i]);
            added++;
        }
        total += n;
        free_list(cases, n);
    }
    fclose(f);
    printf("conformance: %zu of %zu cases registered as ctests\n", added, total);
    return total ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Counts of one summary run. */
typedef struct summary_counts {
    size_t pass, fail, skip, known;
} summary_counts;

/* Classifies one case and prints its line unless it passes. A listed known
 * difference must load and mismatch; passing means the entry is stale. */
static void summarize_case(const char *suite, const char *dir, const known_list *known,
                           tolerance tol, summary_counts *c)
{
    char why[LPS_ERROR_MSG_MAX * 2] = "";
    const char *name = case_name(dir), *reason = known_reason(known, suite, name);
    case_result res = run_case(dir, tol, why, sizeof why);
    if (reason && res == CASE_FAIL) {
        printf("differs %s/%s (%s): %s\n", suite, name, reason, why);
        c->known++;
    } else if (reason) {
        printf("FAILED %s/%s: listed as a known difference but %s\n", suite, name,
               res == CASE_PASS ? "it passes (remove the entry)" : why);
        c->fail++;
    } else if (res == CASE_PASS) {
        c->pass++;
    } else if (res == CASE_UNSUPPORTED) {
        printf("unsupported %s/%s: %s\n", suite, name, why);
        c->skip++;
    } else {
        printf("FAILED %s/%s: %s\n", suite, name, why);
        c->fail++;
    }
}

static int summary(const known_list *known, int n_roots, char **roots, tolerance tol)
{
    summary_counts c = {0};
    for (int r = 0; r < n_roots; r++) {
        size_t n;
        char **cases = list_cases(roots[r], &n);
        for (size_t i = 0; i < n; i++)
            summarize_case(suite_name(roots[r]), cases[i], known, tol, &c);
        free_list(cases, n);
    }
    printf("conformance: %zu passed, %zu failed, %zu skipped, %zu known differences\n", c.pass,
           c.fail, c.skip, c.known);
    return c.fail ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    tolerance tol = {DEFAULT_RTOL, DEFAULT_ATOL};
    bool emit = argc >= 5 && strcmp(argv[1], "--emit-ctest") == 0;
    if (emit || (argc >= 4 && strcmp(argv[1], "--summary") == 0)) {
        known_list known;
        if (!known_load(argv[emit ? 4 : 2], &known))
            return EXIT_FAILURE;
        int rc = emit ? emit_ctest(argv[2], argv[3], &known, argc - 5, argv + 5, tol)
                      : summary(&known, argc - 3, argv + 3, tol);
        known_release(&known);
        return rc;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: conformance_runner CASE_DIR [--rtol R] [--atol A]\n");
        return EXIT_FAILURE;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rtol") == 0)
            tol.rtol = strtod(argv[i + 1], NULL);
        else if (strcmp(argv[i], "--atol") == 0)
            tol.atol = strtod(argv[i + 1], NULL);
    }
    char why[LPS_ERROR_MSG_MAX * 2] = "";
    case_result r = run_case(argv[1], tol, why, sizeof why);
    if (r == CASE_PASS) {
        printf("pass %s\n", argv[1]);
        return EXIT_SUCCESS;
    }
    printf("%s %s: %s\n", r == CASE_UNSUPPORTED ? "unsupported" : "FAILED", argv[1], why);
    return r == CASE_UNSUPPORTED ? EXIT_UNSUPPORTED : EXIT_FAILURE;
}
