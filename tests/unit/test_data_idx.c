/* IDX loading, the fashion-mnist spec, shape checks and batching of real
 * Fashion-MNIST. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/formats.h"
#include "data_test_files.h"
#include "lpsparsify/data.h"
#include "test_suite.h"

#define FMNIST_TRAIN 60000
#define FMNIST_TEST 10000
#define FMNIST_SIDE 28
#define FMNIST_CLASSES 10
#define FMNIST_FIRST_LABEL 9 /* both splits start with an ankle boot */

/* Serialises an IDX file into buf: type code, dims, then payload bytes
 * given in host order and converted to big-endian per esize. */
static size_t make_idx(unsigned char *buf, unsigned char type, int rank, const uint32_t *dims,
                       const void *payload, size_t n, size_t esize)
{
    size_t k = 0;
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = type;
    buf[k++] = (unsigned char)rank;
    for (int i = 0; i < rank; i++)
        for (int b = 3; b >= 0; b--)
            buf[k++] = (unsigned char)(dims[i] >> (8 * b));
    const unsigned char *src = payload;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < esize; b++)
            buf[k++] = src[i * esize + esize - 1 - b];
    return k;
}

START_TEST(fashion_mnist_both_splits)
{
    lps_dataset train = {0};
    lps_dataset test = {0};
    lps_error err = {0};
    ck_assert_msg(lps_dataset_open(&train, "fashion-mnist", LPS_SPLIT_TRAIN, NULL, &err) == LPS_OK,
                  "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&train), FMNIST_TRAIN);
    ck_assert_int_eq(train.samples.dtype, LPS_DT_UINT8);
    ck_assert_int_eq(lps_dataset_sample_rank(&train), 2);
    ck_assert_int_eq(lps_dataset_sample_dims(&train)[0], FMNIST_SIDE);
    ck_assert_int_eq(lps_dataset_sample_dims(&train)[1], FMNIST_SIDE);
    ck_assert_int_eq(train.n_classes, FMNIST_CLASSES);
    ck_assert_int_eq(train.labels[0], FMNIST_FIRST_LABEL);
    ck_assert_ptr_nonnull(strstr(train.name, "train-images-idx3-ubyte.gz"));

    ck_assert_msg(lps_dataset_open(&test, "fashion-mnist", LPS_SPLIT_TEST, NULL, &err) == LPS_OK,
                  "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&test), FMNIST_TEST);
    ck_assert_int_eq(test.n_classes, FMNIST_CLASSES);
    ck_assert_int_eq(test.labels[0], FMNIST_FIRST_LABEL);
    int64_t counts[FMNIST_CLASSES] = {0};
    for (int64_t i = 0; i < FMNIST_TEST; i++) {
        ck_assert(test.labels[i] >= 0 && test.labels[i] < FMNIST_CLASSES);
        counts[test.labels[i]]++;
    }
    for (int c = 0; c < FMNIST_CLASSES; c++)
        ck_assert_int_eq(counts[c], FMNIST_TEST / FMNIST_CLASSES);

    /* The model input shapes a LeNet or a small CNN would declare. */
    int64_t chw[] = {1, FMNIST_SIDE, FMNIST_SIDE};
    int64_t flat[] = {FMNIST_SIDE * FMNIST_SIDE};
    int64_t rgb[] = {3, 32, 32};
    int64_t not_image[] = {5, FMNIST_SIDE, FMNIST_SIDE};
    ck_assert_int_eq(lps_dataset_check_shape(&test, 3, chw, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&test, 1, flat, &err), LPS_OK);
    /* Grey 28x28 feeds a 3x32x32 model by adaptation (grey to RGB, resize). */
    ck_assert_int_eq(lps_dataset_check_shape(&test, 3, rgb, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&test, 3, not_image, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "[28, 28]");
    ck_assert_error(err, LPS_ERR_INVALID, "[5, 28, 28]");
    ck_assert_int_eq(lps_dataset_check_labels(&test, FMNIST_CLASSES, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_labels(&test, FMNIST_CLASSES - 1, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "t10k-labels-idx1-ubyte.gz");

    /* Default preprocessing of uint8 data is x / 255. */
    enum { BATCH = 4 };
    lps_preprocess pp = {0};
    lps_batch_iter it = {0};
    lps_tensor x = {0};
    int64_t labels[BATCH];
    int64_t count = 0;
    int64_t xdims[] = {BATCH, 1, FMNIST_SIDE, FMNIST_SIDE};
    ck_assert_int_eq(lps_preprocess_resolve(&pp, NULL, test.samples.dtype, 3, chw, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&it, &test, BATCH, false, 0, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 4, xdims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_next(&it, &pp, &x, labels, &count, &err), LPS_OK);
    ck_assert_int_eq(count, BATCH);
    ck_assert_int_eq(labels[0], FMNIST_FIRST_LABEL);
    const uint8_t *pixels = test.samples.data;
    for (int i = 0; i < BATCH * FMNIST_SIDE * FMNIST_SIDE; i++)
        ck_assert_float_eq_tol(lps_tensor_f32(&x)[i], pixels[i] / 255.0f, 1e-6f);
    lps_tensor_release(&x);
    lps_batch_iter_release(&it);
    lps_preprocess_release(&pp);
    lps_dataset_release(&train);
    lps_dataset_release(&test);
}
END_TEST

START_TEST(idx_raw_and_gzip_round_trip)
{
    char dir[TEST_PATH_MAX], images[TEST_PATH_MAX], labels[TEST_PATH_MAX];
    unsigned char buf[256];
    test_make_dir(dir, sizeof dir);
    float values[] = {0.5f, -1.25f, 3.0f, 4.0f, 5.5f, 6.0f};
    uint32_t idims[] = {3, 2};
    size_t n = make_idx(buf, 0x0D, 2, idims, values, 6, sizeof(float));
    test_write(images, dir, "imgs.idx.gz", buf, n, 1);
    int32_t label_values[] = {2, 0, 7};
    uint32_t ldims[] = {3};
    n = make_idx(buf, 0x0C, 1, ldims, label_values, 3, sizeof(int32_t));
    test_write(labels, dir, "labels.idx", buf, n, 0);

    lps_dataset ds;
    lps_error err = {0};
    ck_assert_msg(lps_dataset_load_idx(&ds, images, labels, 0, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 3);
    ck_assert_int_eq(ds.samples.dtype, LPS_DT_FLOAT);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[1], -1.25f);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[4], 5.5f);
    ck_assert_int_eq(ds.labels[2], 7);
    ck_assert_int_eq(ds.n_classes, 8);
    lps_dataset_release(&ds);

    /* Without labels the dataset is label-free (distillation). */
    ck_assert_int_eq(lps_dataset_load_idx(&ds, images, NULL, 0, &err), LPS_OK);
    ck_assert_ptr_null(ds.labels);
    ck_assert_int_eq(ds.n_classes, 0);
    ck_assert_int_eq(lps_dataset_check_labels(&ds, 2, &err), LPS_OK);
    lps_dataset_release(&ds);
    test_remove_dir(dir);
}
END_TEST

/* Loads images (and labels) and expects a failure mentioning `needle`. */
static void expect_idx_failure(const char *images, const char *labels, size_t budget,
                               lps_status want, const char *needle)
{
    lps_dataset ds;
    lps_error err = {0};
    ck_assert_int_eq(lps_dataset_load_idx(&ds, images, labels, budget, &err), want);
    ck_assert_error(err, want, needle);
    ck_assert_ptr_null(ds.samples.data);
    ck_assert_ptr_null(ds.labels);
}

START_TEST(idx_malformed_files_name_the_file)
{
    char dir[TEST_PATH_MAX], good[TEST_PATH_MAX], path[TEST_PATH_MAX], labels[TEST_PATH_MAX];
    unsigned char buf[256];
    test_make_dir(dir, sizeof dir);
    uint8_t pixels[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint32_t idims[] = {3, 2, 2};
    size_t n = make_idx(buf, 0x08, 3, idims, pixels, 12, 1);
    test_write(good, dir, "good.idx", buf, n, 0);

    buf[0] = 0x12;
    test_write(path, dir, "magic.idx", buf, n, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, path);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "not an IDX file");
    buf[0] = 0;

    buf[2] = 0x0A;
    test_write(path, dir, "type.idx", buf, n, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "element type 0x0a");
    buf[2] = 0x08;

    test_write(path, dir, "short.idx.gz", buf, n - 1, 1);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "short IDX payload");
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, path);

    /* A gzip stream cut short is corrupt data, not a short file. */
    char gz[TEST_PATH_MAX];
    test_write(gz, dir, "cut.idx.gz", buf, n, 1);
    FILE *f = fopen(gz, "rb");
    unsigned char packed[256];
    size_t packed_len = fread(packed, 1, sizeof packed, f);
    fclose(f);
    test_write(path, dir, "cut.idx.gz", packed, packed_len - 6, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "corrupt gzip data");

    test_write(path, dir, "header.idx", buf, 6, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "short IDX header");

    buf[n] = 0;
    test_write(path, dir, "trailing.idx", buf, n + 1, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "after the payload");

    /* 2^32-1 in each of 4 dims overflows every size computation. */
    uint32_t huge[] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX};
    size_t hn = make_idx(buf, 0x08, 4, huge, NULL, 0, 1);
    test_write(path, dir, "huge.idx", buf, hn, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "too large");

    /* 12 bytes of pixels do not fit an 8-byte budget. */
    expect_idx_failure(good, NULL, 8, LPS_ERR_NOMEM, "budget");

    uint8_t two[] = {1, 1};
    uint32_t two_dims[] = {2};
    n = make_idx(buf, 0x08, 1, two_dims, two, 2, 1);
    test_write(labels, dir, "two.labels", buf, n, 0);
    expect_idx_failure(good, labels, 0, LPS_ERR_INVALID, labels);
    expect_idx_failure(good, labels, 0, LPS_ERR_INVALID, "3 samples");

    int32_t negative[] = {0, -4, 1};
    uint32_t three[] = {3};
    n = make_idx(buf, 0x0C, 1, three, negative, 3, sizeof(int32_t));
    test_write(labels, dir, "neg.labels", buf, n, 0);
    expect_idx_failure(good, labels, 0, LPS_ERR_INVALID, "label -4 of sample 1");

    float with_nan[] = {1.0f, NAN, 2.0f, 3.0f};
    uint32_t fdims[] = {2, 2};
    n = make_idx(buf, 0x0D, 2, fdims, with_nan, 4, sizeof(float));
    test_write(path, dir, "nan.idx", buf, n, 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "sample 0 holds NaN at element 1");

    ck_assert_int_lt(snprintf(path, sizeof path, "%s/missing.idx", dir), (int)sizeof path);
    expect_idx_failure(path, NULL, 0, LPS_ERR_IO, path);

    /* A FIFO is refused at once (opening it for reading would wait for a writer). */
    ck_assert_int_lt(snprintf(path, sizeof path, "%s/fifo.idx", dir), (int)sizeof path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    expect_idx_failure(path, NULL, 0, LPS_ERR_INVALID, "not a regular file");
    test_remove_dir(dir);
}
END_TEST

START_TEST(idx_from_memory)
{
    unsigned char buf[64];
    int16_t values[] = {-2, 300};
    uint32_t dims[] = {2};
    size_t n = make_idx(buf, 0x0B, 1, dims, values, 2, sizeof(int16_t));
    lps_source src;
    lps_tensor t = {0};
    lps_error err = {0};
    size_t remaining = 1024;
    lps_source_open_memory(&src, buf, n, "mem");
    ck_assert_int_eq(lps_idx_read(&src, &remaining, &t, &err), LPS_OK);
    ck_assert_int_eq(t.dtype, LPS_DT_INT16);
    ck_assert_int_eq(((int16_t *)t.data)[0], -2);
    ck_assert_int_eq(((int16_t *)t.data)[1], 300);
    ck_assert_uint_eq(remaining, 1020);
    lps_tensor_release(&t);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"idx", fashion_mnist_both_splits, 1},
        {"idx", idx_raw_and_gzip_round_trip, 1},
        {"idx", idx_malformed_files_name_the_file, 1},
        {"idx", idx_from_memory, 1},
    };
    return test_run_table("data_idx", tests, TEST_COUNT(tests), 60);
}
