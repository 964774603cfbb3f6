/* Modify-save-reload: one initializer of a real model (dense storage) and of
 * a built IR 7 model (dense, sparse and auto) is changed, saved into the
 * folder named by $LPS_ROUNDTRIP_OUT, reloaded and compared. The files stay there for
 * the ONNX checker test that runs after this one. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lpsparsify/model.h"
#include "pb_build.h"
#include "test_fs.h"
#include "test_suite.h"

#define REAL_MODEL "/usr/share/libonnx-testdata/data/pytorch-converted/test_Linear/model.onnx"
#define REAL_WEIGHT "1"
#define REAL_BIAS "2"
#define BUILT_IR_VERSION 7
#define DT_FLOAT 1
#define W_ROWS 4
#define W_COLS 3
#define W_NUMEL (W_ROWS * W_COLS)
#define KEEP_EVERY 3
#define OUT_DIR_MODE 0755

#define OUT_ENV "LPS_ROUNDTRIP_OUT"

/* The folder the saved models go to. */
static const char *out_dir(void)
{
    const char *dir = getenv(OUT_ENV);
    ck_assert_msg(dir && dir[0], "$" OUT_ENV " is not set");
    return dir;
}

static lps_model *load_ok(const char *path)
{
    lps_error err = {0};
    lps_model *m = lps_model_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

/* Zeroes all but every KEEP_EVERY-th element and gives the rest new values. */
static void reshape_values(lps_initializer *init)
{
    float *v = lps_tensor_f32(&init->tensor);
    int64_t n = lps_tensor_numel(&init->tensor);
    for (int64_t i = 0; i < n; i++)
        v[i] = i % KEEP_EVERY ? 0.0f : (float)(i + 1) * 0.125f;
    init->modified = true;
}

static void save_and_compare(const lps_model *m, const char *name, lps_storage storage,
                             const char *changed, bool expect_sparse)
{
    char *path = test_path(out_dir(), name);
    lps_error err = {0};
    ck_assert_msg(lps_model_save(m, path, storage, &err) == LPS_OK, "%s", err.msg);
    lps_model *r = load_ok(path);
    ck_assert_uint_eq(r->graph.n_initializers, m->graph.n_initializers);
    ck_assert_uint_eq(r->graph.n_nodes, m->graph.n_nodes);
    for (size_t i = 0; i < m->graph.n_initializers; i++) {
        const lps_initializer *a = &m->graph.initializers[i];
        const lps_initializer *b = lps_graph_find_initializer(&r->graph, a->name);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(a->tensor.dtype, b->tensor.dtype);
        ck_assert_int_eq(a->tensor.rank, b->tensor.rank);
        ck_assert_mem_eq(a->tensor.dims, b->tensor.dims, sizeof a->tensor.dims);
        ck_assert_uint_eq(a->tensor.nbytes, b->tensor.nbytes);
        ck_assert_mem_eq(a->tensor.data, b->tensor.data, a->tensor.nbytes);
        bool sparse_now = strcmp(a->name, changed) == 0 ? expect_sparse : a->was_sparse;
        ck_assert_int_eq(b->was_sparse, sparse_now);
    }
    lps_model_free(r);
    free(path);
}

START_TEST(real_model_dense)
{
    lps_model *m = load_ok(REAL_MODEL);
    lps_initializer *w = lps_graph_find_initializer(&m->graph, REAL_WEIGHT);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(lps_graph_find_initializer(&m->graph, REAL_BIAS));
    reshape_values(w);
    save_and_compare(m, "linear_dense.onnx", LPS_STORAGE_DENSE, REAL_WEIGHT, false);
    /* IR 3 has no sparse initializers: auto must stay dense. */
    save_and_compare(m, "linear_auto.onnx", LPS_STORAGE_AUTO, REAL_WEIGHT, false);
    lps_model_free(m);
}
END_TEST

START_TEST(built_model_all_storages)
{
    float v[W_NUMEL];
    for (int i = 0; i < W_NUMEL; i++)
        v[i] = (float)i - 5.0f;
    pb t = {0}, fields = {0}, model = {0};
    int64_t dims[] = {W_ROWS, W_COLS};
    pb_tensor_head(&t, "W", DT_FLOAT, 2, dims);
    pb_bytes(&t, PB_TENSOR_RAW_DATA, v, sizeof v);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &t);
    pb_model_matmul(&model, BUILT_IR_VERSION, &fields);
    char *in = test_path(out_dir(), "matmul.onnx");
    pb_write_file(&model, in);
    lps_model *m = load_ok(in);
    reshape_values(lps_graph_find_initializer(&m->graph, "W"));
    save_and_compare(m, "matmul_dense.onnx", LPS_STORAGE_DENSE, "W", false);
    save_and_compare(m, "matmul_sparse.onnx", LPS_STORAGE_SPARSE, "W", true);
    lps_model_free(m);
    /* And back: a sparse initializer rewritten dense. */
    char *sparse = test_path(out_dir(), "matmul_sparse.onnx");
    m = load_ok(sparse);
    lps_initializer *w = lps_graph_find_initializer(&m->graph, "W");
    ck_assert(w->was_sparse);
    w->modified = true;
    save_and_compare(m, "matmul_resparse_dense.onnx", LPS_STORAGE_DENSE, "W", false);
    lps_model_free(m);
    free(sparse);
    free(in);
    pb_free(&t);
    pb_free(&fields);
    pb_free(&model);
}
END_TEST

int main(void)
{
    const char *dir = getenv(OUT_ENV);
    if (!dir || !dir[0]) {
        fprintf(stderr, "set $%s to the folder for the saved models\n", OUT_ENV);
        return EXIT_FAILURE;
    }
    if (mkdir(dir, OUT_DIR_MODE) != 0 && errno != EEXIST) {
        perror(dir);
        return EXIT_FAILURE;
    }
    const test_entry tests[] = {
        {"modify", real_model_dense, 1},
        {"modify", built_model_all_storages, 1},
    };
    return test_run_table("roundtrip_modify", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
