/* Saving ONNX models: byte-exact preservation, dense/sparse storage of
 * modified initializers, and the safety rules of lps_model_save. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lpsparsify/model.h"
#include "pb_build.h"
#include "test_fs.h"
#include "test_suite.h"

#define DT_FLOAT 1
#define DT_INT64 7
#define DT_STRING 8
#define IR_WITH_SPARSE 7
#define IR_WITHOUT_SPARSE 3
#define W_ROWS 4
#define W_COLS 3
#define W_NUMEL (W_ROWS * W_COLS)
#define BIG_NUMEL 1000
#define UNKNOWN_GRAPH_FIELD 99
#define UNKNOWN_MODEL_FIELD 1000

/* The initializer W [4, 3] float with the given values as raw_data. */
static void w_tensor(pb *t, const float *v)
{
    int64_t dims[] = {W_ROWS, W_COLS};
    pb_tensor_head(t, "W", DT_FLOAT, 2, dims);
    pb_bytes(t, PB_TENSOR_RAW_DATA, v, W_NUMEL * sizeof *v);
}

static void ramp(float *v, float scale)
{
    for (int i = 0; i < W_NUMEL; i++)
        v[i] = (float)(i + 1) * scale;
}

static char *write_w_model(const char *dir, const char *name, int64_t ir_version, const float *v)
{
    pb t = {0}, fields = {0}, model = {0};
    w_tensor(&t, v);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &t);
    pb_model_matmul(&model, ir_version, &fields);
    char *path = test_path(dir, name);
    pb_write_file(&model, path);
    pb_free(&t);
    pb_free(&fields);
    pb_free(&model);
    return path;
}

static lps_model *load_ok(const char *path)
{
    lps_error err = {0};
    lps_model *m = lps_model_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

static void save_ok(const lps_model *m, const char *path, lps_storage storage)
{
    lps_error err = {0};
    ck_assert_msg(lps_model_save(m, path, storage, &err) == LPS_OK, "%s", err.msg);
}

static void set_w(lps_model *m, const float *v)
{
    lps_initializer *w = lps_graph_find_initializer(&m->graph, "W");
    ck_assert_ptr_nonnull(w);
    memcpy(w->tensor.data, v, W_NUMEL * sizeof *v);
    w->modified = true;
}

/* Reloads path and checks W's values and storage. */
static void expect_w(const char *path, const float *v, bool sparse)
{
    lps_model *m = load_ok(path);
    ck_assert_uint_eq(m->graph.n_initializers, 1);
    lps_initializer *w = lps_graph_find_initializer(&m->graph, "W");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->was_sparse, sparse);
    ck_assert_int_eq(w->tensor.rank, 2);
    ck_assert_int_eq(w->tensor.dims[1], W_COLS);
    ck_assert_mem_eq(w->tensor.data, v, W_NUMEL * sizeof *v);
    ck_assert_uint_eq(m->graph.n_nodes, 1);
    ck_assert_str_eq(m->graph.inputs[0].dims[0].symbol, "N");
    lps_model_free(m);
}

START_TEST(unchanged_model_saves_identical)
{
    char *dir = test_tmpdir_new();
    float v[W_NUMEL];
    ramp(v, 0.5f);
    char *in = write_w_model(dir, "in.onnx", IR_WITH_SPARSE, v);
    char *out = test_path(dir, "out.onnx");
    lps_model *m = load_ok(in);
    save_ok(m, out, LPS_STORAGE_AUTO);
    size_t a_len = 0, b_len = 0;
    uint8_t *a = test_read_file(in, &a_len);
    uint8_t *b = test_read_file(out, &b_len);
    ck_assert_uint_eq(a_len, b_len);
    ck_assert_mem_eq(a, b, a_len);
    /* No temporary is left behind. */
    ck_assert_int_eq(test_dir_entries(dir), 2);
    free(a);
    free(b);
    lps_model_free(m);
    free(in);
    free(out);
    test_tmpdir_free(dir);
}
END_TEST

/* A model in encodings protobuf-c would not reproduce: packed dims on B,
 * an unknown field between initializers, model fields out of order and an
 * unknown model field. W is passed in already encoded. */
static void noncanonical_model(pb *model, const pb *w)
{
    pb fields = {0}, b = {0};
    int64_t b_dims[] = {2};
    int64_t b_vals[] = {7, -9};
    pb_packed_ints(&b, PB_TENSOR_DIMS, b_dims, 1);
    pb_int(&b, PB_TENSOR_DATA_TYPE, DT_INT64);
    pb_str(&b, PB_TENSOR_NAME, "B");
    pb_bytes(&b, PB_TENSOR_RAW_DATA, b_vals, sizeof b_vals);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &b);
    pb_int(&fields, UNKNOWN_GRAPH_FIELD, 12345);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, w);
    pb_model_matmul(model, IR_WITH_SPARSE, &fields);
    pb_str(model, PB_MODEL_DOC_STRING, "written after opset_import");
    pb_entry(model, PB_MODEL_METADATA_PROPS, "author", "tests");
    pb_str(model, UNKNOWN_MODEL_FIELD, "from the future");
    pb_free(&fields);
    pb_free(&b);
}

START_TEST(noncanonical_encodings_survive_a_modification)
{
    char *dir = test_tmpdir_new();
    float before[W_NUMEL], after[W_NUMEL];
    ramp(before, 1.0f);
    ramp(after, -0.25f);
    pb w_before = {0}, w_after = {0}, model = {0}, expected = {0};
    w_tensor(&w_before, before);
    /* What protobuf-c packs for the rewritten W: dims, data_type, name,
     * raw_data, in field-number order. */
    w_tensor(&w_after, after);
    noncanonical_model(&model, &w_before);
    noncanonical_model(&expected, &w_after);
    char *in = test_path(dir, "in.onnx");
    pb_write_file(&model, in);

    lps_model *m = load_ok(in);
    uint8_t *bytes = NULL;
    size_t len = 0;
    lps_error err = {0};
    ck_assert_int_eq(lps_model_serialize(m, LPS_STORAGE_DENSE, &bytes, &len, &err), LPS_OK);
    ck_assert_uint_eq(len, model.len);
    ck_assert_mem_eq(bytes, model.data, len);
    free(bytes);

    set_w(m, after);
    ck_assert_msg(lps_model_serialize(m, LPS_STORAGE_DENSE, &bytes, &len, &err) == LPS_OK, "%s",
                  err.msg);
    ck_assert_uint_eq(len, expected.len);
    ck_assert_mem_eq(bytes, expected.data, len);
    free(bytes);
    lps_model_free(m);
    free(in);
    pb_free(&w_before);
    pb_free(&w_after);
    pb_free(&model);
    pb_free(&expected);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(dense_sparse_and_auto_storage)
{
    char *dir = test_tmpdir_new();
    float dense[W_NUMEL], mostly_zero[W_NUMEL] = {0};
    ramp(dense, 0.5f);
    mostly_zero[1] = 1.5f;
    mostly_zero[10] = -2.0f;
    mostly_zero[4] = -0.0f; /* a set sign bit is a value: it must survive */
    char *in = write_w_model(dir, "in.onnx", IR_WITH_SPARSE, dense);
    char *sparse_out = test_path(dir, "sparse.onnx");
    char *auto_out = test_path(dir, "auto.onnx");
    char *dense_out = test_path(dir, "dense.onnx");

    lps_model *m = load_ok(in);
    set_w(m, mostly_zero);
    save_ok(m, sparse_out, LPS_STORAGE_SPARSE);
    expect_w(sparse_out, mostly_zero, true);
    save_ok(m, dense_out, LPS_STORAGE_DENSE);
    expect_w(dense_out, mostly_zero, false);
    lps_model_free(m);

    /* Back from sparse: a dense tensor packs smaller as dense. */
    m = load_ok(sparse_out);
    set_w(m, dense);
    save_ok(m, auto_out, LPS_STORAGE_AUTO);
    expect_w(auto_out, dense, false);
    save_ok(m, dense_out, LPS_STORAGE_SPARSE);
    expect_w(dense_out, dense, true);
    lps_model_free(m);
    free(in);
    free(sparse_out);
    free(auto_out);
    free(dense_out);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(auto_picks_the_smaller_encoding)
{
    char *dir = test_tmpdir_new();
    float w[W_NUMEL];
    ramp(w, 2.0f);
    float *e = calloc(BIG_NUMEL, sizeof *e);
    ck_assert_ptr_nonnull(e);
    e[17] = 3.0f;
    e[BIG_NUMEL - 1] = -1.0f;
    pb tw = {0}, te = {0}, fields = {0}, model = {0};
    w_tensor(&tw, w);
    int64_t e_dims[] = {BIG_NUMEL};
    pb_tensor_head(&te, "E", DT_FLOAT, 1, e_dims);
    pb_bytes(&te, PB_TENSOR_RAW_DATA, e, BIG_NUMEL * sizeof *e);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &tw);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &te);
    pb_model_matmul(&model, IR_WITH_SPARSE, &fields);
    char *in = test_path(dir, "in.onnx");
    char *out = test_path(dir, "out.onnx");
    pb_write_file(&model, in);
    lps_model *m = load_ok(in);
    for (size_t i = 0; i < m->graph.n_initializers; i++)
        m->graph.initializers[i].modified = true;
    save_ok(m, out, LPS_STORAGE_AUTO);
    lps_model_free(m);
    m = load_ok(out);
    lps_initializer *rw = lps_graph_find_initializer(&m->graph, "W");
    lps_initializer *re = lps_graph_find_initializer(&m->graph, "E");
    ck_assert(!rw->was_sparse);
    ck_assert(re->was_sparse);
    ck_assert_mem_eq(rw->tensor.data, w, sizeof w);
    ck_assert_mem_eq(re->tensor.data, e, BIG_NUMEL * sizeof *e);
    lps_model_free(m);
    free(e);
    free(in);
    free(out);
    pb_free(&tw);
    pb_free(&te);
    pb_free(&fields);
    pb_free(&model);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(sparse_needs_ir_6)
{
    char *dir = test_tmpdir_new();
    float v[W_NUMEL] = {0};
    v[3] = 1.0f;
    char *in = write_w_model(dir, "in.onnx", IR_WITHOUT_SPARSE, v);
    char *out = test_path(dir, "out.onnx");
    lps_model *m = load_ok(in);
    set_w(m, v);
    lps_error err = {0};
    ck_assert_int_eq(lps_model_save(m, out, LPS_STORAGE_SPARSE, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "IR version 6"), "%s", err.msg);
    ck_assert_int_eq(access(out, F_OK), -1);
    save_ok(m, out, LPS_STORAGE_AUTO);
    expect_w(out, v, false);
    lps_model_free(m);
    free(in);
    free(out);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(save_refuses_the_input_file)
{
    char *dir = test_tmpdir_new();
    float v[W_NUMEL];
    ramp(v, 1.0f);
    char *in = write_w_model(dir, "in.onnx", IR_WITH_SPARSE, v);
    char *sym = test_path(dir, "sym.onnx");
    char *hard = test_path(dir, "hard.onnx");
    ck_assert_int_eq(symlink(in, sym), 0);
    ck_assert_int_eq(link(in, hard), 0);
    size_t len0 = 0;
    uint8_t *before = test_read_file(in, &len0);
    lps_model *m = load_ok(in);
    float changed[W_NUMEL] = {0};
    set_w(m, changed);
    const char *targets[] = {in, sym, hard};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        lps_error err = {0};
        ck_assert_int_eq(lps_model_save(m, targets[i], LPS_STORAGE_DENSE, &err), LPS_ERR_INVALID);
        ck_assert_msg(strstr(err.msg, "refusing to overwrite the input"), "%s", err.msg);
    }
    size_t len1 = 0;
    uint8_t *after = test_read_file(in, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert_mem_eq(before, after, len0);
    ck_assert_int_eq(test_dir_entries(dir), 3);
    free(before);
    free(after);
    lps_model_free(m);
    free(in);
    free(sym);
    free(hard);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(failed_save_leaves_nothing)
{
    char *dir = test_tmpdir_new();
    float v[W_NUMEL];
    ramp(v, 1.0f);
    char *in = write_w_model(dir, "in.onnx", IR_WITH_SPARSE, v);
    char *out = test_path(dir, "no/such/folder/out.onnx");
    lps_model *m = load_ok(in);
    lps_error err = {0};
    ck_assert_int_eq(lps_model_save(m, out, LPS_STORAGE_DENSE, &err), LPS_ERR_IO);
    ck_assert_msg(strncmp(err.msg, out, strlen(out)) == 0, "%s", err.msg);
    ck_assert_int_eq(test_dir_entries(dir), 1);
    lps_model_free(m);
    free(in);
    free(out);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(string_initializers_load_but_cannot_be_rewritten)
{
    char *dir = test_tmpdir_new();
    pb t = {0}, fields = {0}, model = {0};
    int64_t dims[] = {2};
    pb_tensor_head(&t, "labels", DT_STRING, 1, dims);
    pb_str(&t, PB_TENSOR_STRING_DATA, "cat");
    pb_str(&t, PB_TENSOR_STRING_DATA, "dog");
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &t);
    pb_model_matmul(&model, IR_WITH_SPARSE, &fields);
    char *in = test_path(dir, "in.onnx");
    pb_write_file(&model, in);
    lps_model *m = load_ok(in);
    lps_initializer *labels = lps_graph_find_initializer(&m->graph, "labels");
    ck_assert_int_eq(labels->tensor.dtype, LPS_DT_STRING);
    ck_assert_int_eq(labels->tensor.dims[0], 2);
    ck_assert_ptr_null(labels->tensor.data);
    uint8_t *bytes = NULL;
    size_t len = 0;
    lps_error err = {0};
    ck_assert_int_eq(lps_model_serialize(m, LPS_STORAGE_DENSE, &bytes, &len, &err), LPS_OK);
    ck_assert_mem_eq(bytes, model.data, model.len);
    free(bytes);
    labels->modified = true;
    ck_assert_int_eq(lps_model_serialize(m, LPS_STORAGE_DENSE, &bytes, &len, &err),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "'labels'"), "%s", err.msg);
    lps_model_free(m);
    free(in);
    pb_free(&t);
    pb_free(&fields);
    pb_free(&model);
    test_tmpdir_free(dir);
}
END_TEST

/* A model in its own folder whose W lives in weights.bin; with
 * `constant_external` a Constant node's tensor is external too. */
static char *write_external_model(const char *dir, const float *v, bool constant_external)
{
    char *bin = test_path(dir, "weights.bin");
    pb w = {0}, t = {0}, fields = {0}, model = {0};
    pb_append(&w, v, W_NUMEL * sizeof *v);
    pb_write_file(&w, bin);
    int64_t dims[] = {W_ROWS, W_COLS};
    if (constant_external) {
        pb node = {0}, attr = {0}, c = {0};
        pb_tensor_external(&c, "C", DT_FLOAT, 2, dims, "weights.bin", "0", NULL);
        pb_str(&attr, PB_ATTR_NAME, "value");
        pb_msg(&attr, PB_ATTR_T, &c);
        pb_int(&attr, PB_ATTR_TYPE, LPS_ATTR_TENSOR);
        pb_str(&node, PB_NODE_OUTPUT, "C");
        pb_str(&node, PB_NODE_OP_TYPE, "Constant");
        pb_msg(&node, PB_NODE_ATTRIBUTE, &attr);
        pb_msg(&fields, PB_GRAPH_NODE, &node);
        pb_free(&node);
        pb_free(&attr);
        pb_free(&c);
    }
    pb_tensor_external(&t, "W", DT_FLOAT, 2, dims, "weights.bin", NULL, NULL);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &t);
    pb_model_matmul(&model, IR_WITH_SPARSE, &fields);
    char *path = test_path(dir, "model.onnx");
    pb_write_file(&model, path);
    pb_free(&w);
    pb_free(&t);
    pb_free(&fields);
    pb_free(&model);
    free(bin);
    return path;
}

START_TEST(external_data_follows_the_save)
{
    char *dir = test_tmpdir_new();
    char *other = test_tmpdir_new();
    float v[W_NUMEL];
    ramp(v, 0.75f);
    char *in = write_external_model(dir, v, false);
    char *same = test_path(dir, "same.onnx");
    char *moved = test_path(other, "moved.onnx");
    lps_model *m = load_ok(in);
    /* Same folder: the reference still resolves and is kept as it was. */
    save_ok(m, same, LPS_STORAGE_DENSE);
    size_t a_len = 0, b_len = 0;
    uint8_t *a = test_read_file(in, &a_len);
    uint8_t *b = test_read_file(same, &b_len);
    ck_assert_uint_eq(a_len, b_len);
    ck_assert_mem_eq(a, b, a_len);
    free(a);
    free(b);
    /* Elsewhere: the weights move into the model. */
    save_ok(m, moved, LPS_STORAGE_DENSE);
    ck_assert_int_eq(test_dir_entries(other), 1);
    expect_w(moved, v, false);
    lps_model_free(m);
    free(in);
    free(same);
    free(moved);
    test_tmpdir_free(other);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(external_attribute_tensor_pins_the_folder)
{
    char *dir = test_tmpdir_new();
    char *other = test_tmpdir_new();
    float v[W_NUMEL];
    ramp(v, 1.0f);
    char *in = write_external_model(dir, v, true);
    char *same = test_path(dir, "same.onnx");
    char *moved = test_path(other, "moved.onnx");
    lps_model *m = load_ok(in);
    ck_assert_float_eq(lps_tensor_f32(lps_node_attr(&m->graph.nodes[1], "value")->t)[2], 3.0f);
    lps_error err = {0};
    ck_assert_int_eq(lps_model_save(m, moved, LPS_STORAGE_DENSE, &err), LPS_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "tensor 'C'"), "%s", err.msg);
    ck_assert_int_eq(test_dir_entries(other), 0);
    save_ok(m, same, LPS_STORAGE_DENSE);
    lps_model_free(m);
    free(in);
    free(same);
    free(moved);
    test_tmpdir_free(other);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"save", unchanged_model_saves_identical, 1},
        {"save", noncanonical_encodings_survive_a_modification, 1},
        {"save", dense_sparse_and_auto_storage, 1},
        {"save", auto_picks_the_smaller_encoding, 1},
        {"save", sparse_needs_ir_6, 1},
        {"save", save_refuses_the_input_file, 1},
        {"save", failed_save_leaves_nothing, 1},
        {"save", string_initializers_load_but_cannot_be_rewritten, 1},
        {"save", external_data_follows_the_save, 1},
        {"save", external_attribute_tensor_pins_the_folder, 1},
    };
    return test_run_table("onnx_save", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
