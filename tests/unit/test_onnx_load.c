/* Loading ONNX models: what is decoded, and every kind of bad input being
 * refused with LPS_ERR_INVALID (exit code 2) and a message naming the file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lpsparsify/model.h"
#include "pb_build.h"
#include "test_fs.h"
#include "test_suite.h"

#define TESTDATA "/usr/share/libonnx-testdata/data"
#define REAL_MODEL TESTDATA "/pytorch-converted/test_Linear/model.onnx"
#define REAL_TENSOR_PB TESTDATA "/pytorch-converted/test_Linear/test_data_set_0/input_0.pb"
#define DT_FLOAT 1
#define DT_INT8 3
#define DT_INT64 7
#define IR_VERSION 7
#define RANDOM_BYTES 512
#define LCG_MUL 6364136223846793005ULL
#define LCG_ADD 1442695040888963407ULL
#define LCG_SHIFT 56

/* Loads path expecting failure with `want`, a message that starts with the
 * path and contains `needle`. */
static void expect_load_fails(const char *path, lps_status want, const char *needle)
{
    lps_error err = {0};
    lps_model *m = lps_model_load(path, &err);
    ck_assert_ptr_null(m);
    ck_assert_msg(err.status == want, "status %d, want %d: %s", err.status, want, err.msg);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message does not start with %s: %s",
                  path, err.msg);
    ck_assert_msg(strstr(err.msg, needle), "message lacks '%s': %s", needle, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
}

/* Writes a MatMul model whose graph carries `init` as its initializer. */
static char *write_model(const char *dir, const char *name, const pb *graph_fields)
{
    pb model = {0};
    pb_model_matmul(&model, IR_VERSION, graph_fields);
    char *path = test_path(dir, name);
    pb_write_file(&model, path);
    pb_free(&model);
    return path;
}

/* A model whose initializer is the TensorProto t. */
static char *write_model_with_tensor(const char *dir, const pb *t)
{
    pb fields = {0};
    pb_msg(&fields, PB_GRAPH_INITIALIZER, t);
    char *path = write_model(dir, "model.onnx", &fields);
    pb_free(&fields);
    return path;
}

START_TEST(missing_file_is_invalid)
{
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "nope.onnx");
    expect_load_fails(path, LPS_ERR_INVALID, "No such file");
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(empty_file_is_invalid)
{
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "empty.onnx");
    pb nothing = {0};
    pb_write_file(&nothing, path);
    expect_load_fails(path, LPS_ERR_INVALID, "empty file");
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(random_bytes_are_invalid)
{
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "random.onnx");
    pb junk = {0};
    uint64_t state = 42;
    for (int i = 0; i < RANDOM_BYTES; i++) {
        state = state * LCG_MUL + LCG_ADD;
        uint8_t byte = (uint8_t)(state >> LCG_SHIFT);
        pb_append(&junk, &byte, 1);
    }
    pb_write_file(&junk, path);
    expect_load_fails(path, LPS_ERR_INVALID, "not an ONNX model");
    pb_free(&junk);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(truncated_real_model_is_invalid)
{
    /* Offsets inside the ir_version, producer, graph and opset fields and
     * exactly at field boundaries (which parse but lack the graph). */
    static const size_t cuts[] = {1, 5, 16, 17, 100, 292, 580, 583, 584};
    size_t len = 0;
    uint8_t *full = test_read_file(REAL_MODEL, &len);
    ck_assert_uint_gt(len, cuts[sizeof cuts / sizeof cuts[0] - 1]);
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "truncated.onnx");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        pb part = {0};
        pb_append(&part, full, cuts[i]);
        pb_write_file(&part, path);
        expect_load_fails(path, LPS_ERR_INVALID, "not an ONNX model");
        pb_free(&part);
    }
    free(path);
    free(full);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(tensor_pb_is_not_a_model)
{
    expect_load_fails(REAL_TENSOR_PB, LPS_ERR_INVALID, "not an ONNX model");
    /* A TensorProto holding only dims and raw_data parses as a ModelProto
     * (dims land in ir_version); it still has no graph. */
    char *dir = test_tmpdir_new();
    char *path = test_path(dir, "input_0.pb");
    pb t = {0};
    float v[] = {1, 2, 3};
    pb_int(&t, PB_TENSOR_DIMS, 3);
    pb_bytes(&t, PB_TENSOR_RAW_DATA, v, sizeof v);
    pb_write_file(&t, path);
    expect_load_fails(path, LPS_ERR_INVALID, "no graph");
    pb_free(&t);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(raw_data_length_mismatch)
{
    char *dir = test_tmpdir_new();
    pb t = {0};
    int64_t dims[] = {3, 4};
    pb_tensor_head(&t, "W", DT_FLOAT, 2, dims);
    uint8_t raw[100] = {0};
    pb_bytes(&t, PB_TENSOR_RAW_DATA, raw, sizeof raw);
    char *path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID,
                      ": initializer 'W': raw_data has 100 bytes, dims [3, 4] need 48");
    pb_free(&t);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(negative_and_overflowing_dims)
{
    static const int64_t shapes[][2] = {{-3, 4}, {(int64_t)1 << 31, (int64_t)1 << 31},
                                        {(int64_t)1 << 62, 4}, {INT64_MAX, 2}};
    char *dir = test_tmpdir_new();
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        pb t = {0};
        pb_tensor_head(&t, "W", DT_FLOAT, 2, shapes[i]);
        pb_bytes(&t, PB_TENSOR_RAW_DATA, "", 0);
        char *path = write_model_with_tensor(dir, &t);
        expect_load_fails(path, LPS_ERR_INVALID, "initializer 'W': dims");
        pb_free(&t);
        free(path);
    }
    /* 2^38 floats (1 TiB) are representable, but a few bytes cannot hold
     * them: malformed, refused before any allocation (not out of memory). */
    static const int64_t huge[] = {(int64_t)1 << 19, (int64_t)1 << 19};
    float one_value = 1.0f;
    pb t = {0};
    pb_tensor_head(&t, "W", DT_FLOAT, 2, huge);
    char *path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "float_data has 0 values, dims [524288, 524288]");
    free(path);
    pb_free(&t);
    pb_tensor_head(&t, "W", DT_FLOAT, 2, huge);
    pb_packed_floats(&t, PB_TENSOR_FLOAT_DATA, &one_value, 1);
    path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "float_data has 1 values");
    free(path);
    pb_free(&t);
    pb_tensor_head(&t, "W", DT_FLOAT, 2, huge);
    pb_bytes(&t, PB_TENSOR_RAW_DATA, "abcd", 4);
    path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "raw_data has 4 bytes");
    free(path);
    pb_free(&t);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(typed_count_and_range_checked)
{
    char *dir = test_tmpdir_new();
    int64_t dims[] = {4, 3};
    float five[] = {1, 2, 3, 4, 5};
    pb t = {0};
    pb_tensor_head(&t, "W", DT_FLOAT, 2, dims);
    pb_packed_floats(&t, PB_TENSOR_FLOAT_DATA, five, 5);
    char *path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "float_data has 5 values, dims [4, 3] need 12");
    free(path);
    pb_free(&t);

    int64_t one[] = {1};
    pb_tensor_head(&t, "W", DT_INT8, 1, one);
    pb_int(&t, PB_TENSOR_INT32_DATA, 300);
    path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "out of range for int8");
    free(path);
    pb_free(&t);

    pb_tensor_head(&t, "W", DT_FLOAT, 1, one);
    pb_int(&t, PB_TENSOR_INT64_DATA, 7);
    path = write_model_with_tensor(dir, &t);
    expect_load_fails(path, LPS_ERR_INVALID, "has int64_data");
    free(path);
    pb_free(&t);
    test_tmpdir_free(dir);
}
END_TEST

/* A W [4, 3] float tensor stored in external file `location`. */
static void external_tensor(pb *t, const char *location, const char *offset, const char *length)
{
    int64_t dims[] = {4, 3};
    pb_tensor_external(t, "W", DT_FLOAT, 2, dims, location, offset, length);
}

/* weights.bin: 16 bytes of padding then 12 floats 0, 1, ..., 11. */
static void write_weights(const char *path)
{
    pb w = {0};
    uint8_t pad[16] = {0};
    pb_append(&w, pad, sizeof pad);
    for (int i = 0; i < 12; i++) {
        float v = (float)i;
        pb_append(&w, &v, sizeof v);
    }
    pb_write_file(&w, path);
    pb_free(&w);
}

START_TEST(external_data_loads_inside_folder)
{
    char *dir = test_tmpdir_new();
    char *bin = test_path(dir, "weights.bin");
    write_weights(bin);
    pb t = {0};
    external_tensor(&t, "weights.bin", "16", "48");
    char *path = write_model_with_tensor(dir, &t);
    lps_error err = {0};
    lps_model *m = lps_model_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    lps_initializer *w = lps_graph_find_initializer(&m->graph, "W");
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->tensor.rank, 2);
    ck_assert_float_eq(lps_tensor_f32(&w->tensor)[11], 11.0f);
    lps_model_free(m);

    /* From memory: only with a folder to resolve in. */
    size_t len = 0;
    uint8_t *bytes = test_read_file(path, &len);
    m = lps_model_load_buffer(bytes, len, "mem.onnx", dir, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    lps_model_free(m);
    m = lps_model_load_buffer(bytes, len, "mem.onnx", NULL, &err);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, LPS_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, "mem.onnx: initializer 'W': external data", 40) == 0, "%s",
                  err.msg);
    free(bytes);
    free(path);
    free(bin);
    pb_free(&t);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(external_data_escaping_or_broken_is_invalid)
{
    char *dir = test_tmpdir_new();
    char *outside_dir = test_tmpdir_new();
    char *outside = test_path(outside_dir, "secret.bin");
    write_weights(outside);
    char *bin = test_path(dir, "weights.bin");
    write_weights(bin);
    char *link = test_path(dir, "link.bin");
    ck_assert_int_eq(symlink(outside, link), 0);
    char *sub = test_path(dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    /* Opening a FIFO for reading would wait for a writer: it must be refused. */
    char *fifo = test_path(dir, "fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    /* "sub/../weights.bin" stays inside but is refused for its "..". */
    char *dotdot = test_path("sub/..", "weights.bin");
    struct {
        const char *location, *offset, *length, *needle;
    } cases[] = {
        {outside, NULL, NULL, "is absolute"},
        {"../secret.bin", NULL, NULL, "contains '..'"},
        {dotdot, NULL, NULL, "contains '..'"},
        {"link.bin", NULL, NULL, "outside the model's folder"},
        {"missing.bin", NULL, NULL, "missing.bin"},
        {"weights.bin", "40", NULL, "too short"},
        {"weights.bin", "16", "44", "has length 44, dims [4, 3] need 48"},
        {"weights.bin", "-1", NULL, "offset '-1'"},
        {"sub", NULL, NULL, "not a regular file"},
        {"fifo", NULL, NULL, "not a regular file"},
        {"", NULL, NULL, "no location"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pb t = {0};
        external_tensor(&t, cases[i].location, cases[i].offset, cases[i].length);
        char *path = write_model_with_tensor(dir, &t);
        expect_load_fails(path, LPS_ERR_INVALID, cases[i].needle);
        free(path);
        pb_free(&t);
    }
    free(dotdot);
    expect_load_fails(fifo, LPS_ERR_INVALID, "not a regular file");
    free(fifo);
    free(sub);
    free(link);
    free(bin);
    free(outside);
    test_tmpdir_free(outside_dir);
    test_tmpdir_free(dir);
}
END_TEST

/* An attribute of every scalar/list kind the engine reads, on a node. */
static void add_attr_node(pb *fields)
{
    pb node = {0}, a = {0}, t = {0};
    pb_str(&node, PB_NODE_INPUT, "Y");
    pb_str(&node, PB_NODE_OUTPUT, "Z");
    pb_str(&node, PB_NODE_OP_TYPE, "Custom");
    pb_str(&a, PB_ATTR_NAME, "alpha");
    pb_float(&a, PB_ATTR_F, 0.25f);
    pb_int(&a, PB_ATTR_TYPE, LPS_ATTR_FLOAT);
    pb_msg(&node, PB_NODE_ATTRIBUTE, &a);
    pb_free(&a);
    pb_str(&a, PB_ATTR_NAME, "perm");
    pb_int(&a, PB_ATTR_INTS, 2);
    pb_int(&a, PB_ATTR_INTS, -1);
    pb_int(&a, PB_ATTR_TYPE, LPS_ATTR_INTS);
    pb_msg(&node, PB_NODE_ATTRIBUTE, &a);
    pb_free(&a);
    pb_str(&a, PB_ATTR_NAME, "mode");
    pb_str(&a, PB_ATTR_S, "edge");
    pb_int(&a, PB_ATTR_TYPE, LPS_ATTR_STRING);
    pb_msg(&node, PB_NODE_ATTRIBUTE, &a);
    pb_free(&a);
    int64_t dims[] = {2};
    pb_tensor_head(&t, "", DT_INT64, 1, dims);
    pb_int(&t, PB_TENSOR_INT64_DATA, 5);
    pb_int(&t, PB_TENSOR_INT64_DATA, -6);
    pb_str(&a, PB_ATTR_NAME, "value");
    pb_msg(&a, PB_ATTR_T, &t);
    pb_int(&a, PB_ATTR_TYPE, LPS_ATTR_TENSOR);
    pb_msg(&node, PB_NODE_ATTRIBUTE, &a);
    pb_msg(fields, PB_GRAPH_NODE, &node);
    pb_free(&a);
    pb_free(&t);
    pb_free(&node);
}

START_TEST(model_structures_are_filled)
{
    char *dir = test_tmpdir_new();
    pb fields = {0}, t = {0};
    add_attr_node(&fields);
    int64_t dims[] = {4, 3};
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (float)i;
    pb_tensor_head(&t, "W", DT_FLOAT, 2, dims);
    pb_packed_floats(&t, PB_TENSOR_FLOAT_DATA, v, 12);
    pb_msg(&fields, PB_GRAPH_INITIALIZER, &t);
    char *path = write_model(dir, "model.onnx", &fields);
    lps_error err = {0};
    lps_model *m = lps_model_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(m->ir_version, IR_VERSION);
    ck_assert_str_eq(m->producer_name, "lpsparsify-tests");
    ck_assert_int_eq(lps_model_opset(m, ""), 13);
    ck_assert_uint_eq(m->graph.n_nodes, 2);
    const lps_node *mm = &m->graph.nodes[0];
    ck_assert_str_eq(mm->op_type, "MatMul");
    ck_assert_str_eq(mm->name, "mm");
    ck_assert_uint_eq(mm->n_inputs, 2);
    ck_assert_str_eq(mm->inputs[1], "W");
    const lps_node *custom = &m->graph.nodes[1];
    ck_assert_float_eq(lps_node_attr(custom, "alpha")->f, 0.25f);
    const lps_attr *perm = lps_node_attr(custom, "perm");
    ck_assert_uint_eq(perm->n_ints, 2);
    ck_assert_int_eq(perm->ints[1], -1);
    ck_assert_str_eq(lps_node_attr(custom, "mode")->s, "edge");
    const lps_attr *value = lps_node_attr(custom, "value");
    ck_assert_int_eq(value->type, LPS_ATTR_TENSOR);
    ck_assert_int_eq(value->t->dtype, LPS_DT_INT64);
    ck_assert_int_eq(lps_tensor_i64(value->t)[1], -6);
    ck_assert_uint_eq(m->graph.n_initializers, 1);
    ck_assert_float_eq(lps_tensor_f32(&m->graph.initializers[0].tensor)[7], 7.0f);
    ck_assert(!m->graph.initializers[0].was_sparse);
    ck_assert_uint_eq(m->graph.n_inputs, 1);
    const lps_value_info *x = &m->graph.inputs[0];
    ck_assert_int_eq(x->dtype, LPS_DT_FLOAT);
    ck_assert_int_eq(x->rank, 2);
    ck_assert_str_eq(x->dims[0].symbol, "N");
    ck_assert_int_eq(x->dims[0].value, -1);
    ck_assert_int_eq(x->dims[1].value, 4);
    lps_model_free(m);
    free(path);
    pb_free(&t);
    pb_free(&fields);
    test_tmpdir_free(dir);
}
END_TEST

/* A sparse initializer W [4, 3] with values at linear positions 1 and 10,
 * indices given linearly or as coordinates. */
static void sparse_w(pb *fields, bool coords, int64_t bad_index)
{
    pb sp = {0}, vals = {0}, idx = {0};
    int64_t nnz[] = {2};
    float v[] = {1.5f, -2.0f};
    pb_tensor_head(&vals, "W", DT_FLOAT, 1, nnz);
    pb_bytes(&vals, PB_TENSOR_RAW_DATA, v, sizeof v);
    if (coords) {
        int64_t dims[] = {2, 2};
        int64_t c[] = {0, 1, 3, 1};
        pb_tensor_head(&idx, "", DT_INT64, 2, dims);
        pb_bytes(&idx, PB_TENSOR_RAW_DATA, c, sizeof c);
    } else {
        int64_t lin[] = {1, bad_index >= 0 ? bad_index : 10};
        pb_tensor_head(&idx, "", DT_INT64, 1, nnz);
        pb_bytes(&idx, PB_TENSOR_RAW_DATA, lin, sizeof lin);
    }
    pb_msg(&sp, PB_SPARSE_VALUES, &vals);
    pb_msg(&sp, PB_SPARSE_INDICES, &idx);
    pb_int(&sp, PB_SPARSE_DIMS, 4);
    pb_int(&sp, PB_SPARSE_DIMS, 3);
    pb_msg(fields, PB_GRAPH_SPARSE_INITIALIZER, &sp);
    pb_free(&sp);
    pb_free(&vals);
    pb_free(&idx);
}

START_TEST(sparse_initializers_are_densified)
{
    char *dir = test_tmpdir_new();
    for (int coords = 0; coords < 2; coords++) {
        pb fields = {0};
        sparse_w(&fields, coords, -1);
        char *path = write_model(dir, "sparse.onnx", &fields);
        lps_error err = {0};
        lps_model *m = lps_model_load(path, &err);
        ck_assert_msg(m != NULL, "%s", err.msg);
        lps_initializer *w = lps_graph_find_initializer(&m->graph, "W");
        ck_assert_ptr_nonnull(w);
        ck_assert(w->was_sparse);
        ck_assert_int_eq(w->tensor.dims[0], 4);
        const float *d = lps_tensor_f32(&w->tensor);
        ck_assert_float_eq(d[1], 1.5f);
        ck_assert_float_eq(d[10], -2.0f);
        ck_assert_float_eq(d[0] + d[2] + d[9] + d[11], 0.0f);
        lps_model_free(m);
        free(path);
        pb_free(&fields);
    }
    pb fields = {0};
    sparse_w(&fields, false, 12);
    char *path = write_model(dir, "sparse.onnx", &fields);
    expect_load_fails(path, LPS_ERR_INVALID, "outside 12 elements");
    free(path);
    pb_free(&fields);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(tensor_pb_files_load)
{
    lps_tensor t = {0};
    lps_error err = {0};
    char *name = NULL;
    ck_assert_msg(lps_tensor_load_pb(REAL_TENSOR_PB, &t, &name, &err) == LPS_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(t.dtype, LPS_DT_FLOAT);
    ck_assert_int_gt(lps_tensor_numel(&t), 0);
    lps_tensor_release(&t);
    free(name);
    ck_assert_int_eq(lps_tensor_load_pb(REAL_MODEL, &t, NULL, &err), LPS_ERR_INVALID);
    ck_assert_msg(strncmp(err.msg, REAL_MODEL, strlen(REAL_MODEL)) == 0, "%s", err.msg);
    ck_assert_ptr_null(t.data);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"bad_input", missing_file_is_invalid, 1},
        {"bad_input", empty_file_is_invalid, 1},
        {"bad_input", random_bytes_are_invalid, 1},
        {"bad_input", truncated_real_model_is_invalid, 1},
        {"bad_input", tensor_pb_is_not_a_model, 1},
        {"bad_input", raw_data_length_mismatch, 1},
        {"bad_input", negative_and_overflowing_dims, 1},
        {"bad_input", typed_count_and_range_checked, 1},
        {"bad_input", external_data_escaping_or_broken_is_invalid, 1},
        {"decoding", external_data_loads_inside_folder, 1},
        {"decoding", model_structures_are_filled, 1},
        {"decoding", sparse_initializers_are_densified, 1},
        {"decoding", tensor_pb_files_load, 1},
    };
    return test_run_table("onnx_load", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
