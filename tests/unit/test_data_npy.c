/* NPY loading: versions 1 and 2, the three dtypes, and malformed files. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"
#include "data_test_files.h"
#include "lpsparsify/data.h"
#include "test_suite.h"

#define NPY_ALIGN 64
#define BUF_BYTES 1024

/* Serialises an NPY file the way numpy does (header padded with spaces to
 * a multiple of 64 and ended by '\n'); payload is little-endian already on
 * the x86/ARM hosts the project targets. */
static size_t make_npy(unsigned char *buf, int version, const char *dict, const void *payload,
                       size_t payload_len)
{
    static const unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    size_t len_bytes = version == 1 ? 2 : 4;
    size_t k = 0;
    memcpy(buf, magic, sizeof magic);
    k += sizeof magic;
    buf[k++] = (unsigned char)version;
    buf[k++] = 0;
    size_t prefix = k + len_bytes;
    size_t hlen = strlen(dict) + 1;
    while ((prefix + hlen) % NPY_ALIGN)
        hlen++;
    for (size_t i = 0; i < len_bytes; i++)
        buf[k++] = (unsigned char)(hlen >> (8 * i));
    memset(buf + k, ' ', hlen);
    memcpy(buf + k, dict, strlen(dict));
    buf[k + hlen - 1] = '\n';
    k += hlen;
    ck_assert_uint_lt(k + payload_len, BUF_BYTES);
    if (payload_len)
        memcpy(buf + k, payload, payload_len);
    return k + payload_len;
}

static const char *write_npy(char *out, const char *dir, const char *name, int version,
                             const char *dict, const void *payload, size_t len, int gz)
{
    unsigned char buf[BUF_BYTES];
    size_t n = make_npy(buf, version, dict, payload, len);
    return test_write(out, dir, name, buf, n, gz);
}

START_TEST(npy_versions_and_dtypes)
{
    char dir[TEST_PATH_MAX], x[TEST_PATH_MAX], y[TEST_PATH_MAX];
    lps_dataset ds;
    lps_error err = {0};
    test_make_dir(dir, sizeof dir);
    float xf[] = {1.5f, 2.0f, -3.0f, 4.0f, 5.0f, 6.25f};
    int64_t yi[] = {4, 1};
    write_npy(x, dir, "x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
              xf, sizeof xf, 0);
    write_npy(y, dir, "y.npy.gz", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
              yi, sizeof yi, 1);
    ck_assert_msg(lps_dataset_load_npy(&ds, x, y, 0, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 2);
    ck_assert_int_eq(lps_dataset_sample_dims(&ds)[0], 3);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[5], 6.25f);
    ck_assert_int_eq(ds.labels[0], 4);
    ck_assert_int_eq(ds.n_classes, 5);
    lps_dataset_release(&ds);

    uint8_t xu[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255};
    uint8_t yu[] = {2, 0, 1};
    write_npy(x, dir, "x2.npy", 2, "{\"descr\":\"|u1\",\"fortran_order\":False,\"shape\":(3,2,2)}",
              xu, sizeof xu, 0);
    write_npy(y, dir, "y2.npy", 2, "{'shape': (3, 1), 'fortran_order': False, 'descr': '|u1'}",
              yu, sizeof yu, 0);
    ck_assert_msg(lps_dataset_load_npy(&ds, x, y, 0, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(ds.samples.dtype, LPS_DT_UINT8);
    ck_assert_int_eq(lps_dataset_sample_rank(&ds), 2);
    ck_assert_uint_eq(((uint8_t *)ds.samples.data)[11], 255);
    ck_assert_int_eq(ds.labels[0], 2);
    lps_dataset_release(&ds);
    test_remove_dir(dir);
}
END_TEST

/* Writes dict + payload as x.npy and expects loading to fail mentioning
 * needle and the file. */
static void expect_npy_failure(const char *dir, int version, const char *dict,
                               const void *payload, size_t len, const char *needle)
{
    char path[TEST_PATH_MAX];
    lps_dataset ds;
    lps_error err = {0};
    write_npy(path, dir, "bad.npy", version, dict, payload, len, 0);
    ck_assert_int_eq(lps_dataset_load_npy(&ds, path, NULL, 0, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, needle);
    ck_assert_error(err, LPS_ERR_INVALID, path);
}

START_TEST(npy_malformed_files_name_the_file)
{
    char dir[TEST_PATH_MAX], path[TEST_PATH_MAX], y[TEST_PATH_MAX];
    float four[] = {1, 2, 3, 4};
    test_make_dir(dir, sizeof dir);
    expect_npy_failure(dir, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                       four, sizeof four, "version 3");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                       four, sizeof four, "Fortran");
    expect_npy_failure(dir, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }",
                       four, sizeof four, "dtype '<f8'");
    expect_npy_failure(dir, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
                       four, sizeof four, "dtype '>f4'");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'shape': (2, 2), }", four, sizeof four,
                       "missing 'fortran_order'");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 2), }",
                       four, sizeof four, "bad NPY header");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), "
                       "'extra': 1}", four, sizeof four, "unknown key 'extra'");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                       four, sizeof four - 1, "short NPY payload");
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                       four, sizeof(float), "no sample axes");
    /* Header bytes quoted in the message never break it across lines. */
    expect_npy_failure(dir, 1, "{'descr': '<f4',\x01\n'x': 1}", four, sizeof four,
                       "expected a quoted string at '?\?'x'");
    float with_nan[] = {1, NAN};
    expect_npy_failure(dir, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
                       with_nan, sizeof with_nan, "sample 1 holds NaN");

    /* Float labels are not class indices. */
    lps_dataset ds;
    lps_error err = {0};
    write_npy(path, dir, "x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
              four, sizeof four, 0);
    write_npy(y, dir, "y.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
              four, 2 * sizeof(float), 0);
    ck_assert_int_eq(lps_dataset_load_npy(&ds, path, y, 0, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "y.npy: labels of type float are not integers");

    unsigned char junk[] = "\x93NUMPZ\x01\x00";
    test_write(path, dir, "junk.npy", junk, sizeof junk - 1, 0);
    ck_assert_int_eq(lps_dataset_load_npy(&ds, path, NULL, 0, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "not an NPY file");
    test_remove_dir(dir);
}
END_TEST

START_TEST(npy_from_memory_respects_budget)
{
    unsigned char buf[BUF_BYTES];
    int64_t values[] = {7, 8, 9};
    size_t n = make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                        values, sizeof values);
    lps_source src;
    lps_tensor t = {0};
    lps_error err = {0};
    size_t remaining = sizeof values;
    lps_source_open_memory(&src, buf, n, "mem.npy");
    ck_assert_int_eq(lps_npy_read(&src, &remaining, &t, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_i64(&t)[2], 9);
    ck_assert_uint_eq(remaining, 0);
    lps_source_open_memory(&src, buf, n, "mem.npy");
    remaining = sizeof values - 1;
    ck_assert_int_eq(lps_npy_read(&src, &remaining, &t, &err), LPS_ERR_NOMEM);
    ck_assert_error(err, LPS_ERR_NOMEM, "mem.npy");
    ck_assert_ptr_null(t.data);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"npy", npy_versions_and_dtypes, 1},
        {"npy", npy_malformed_files_name_the_file, 1},
        {"npy", npy_from_memory_respects_budget, 1},
    };
    return test_run_table("data_npy", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
