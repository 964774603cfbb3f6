/* Datasets for sequence models: int64 token samples batched unscaled,
 * float32 sequences, and several model inputs from a directory
 * (S.NAME.npy) or a NAME=FILE list, with the errors for mismatched sample
 * counts, unknown, repeated and missing input names. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/data.h"
#include "test_fs.h"
#include "test_suite.h"

#define N 5
#define T 3
#define SPEC_MAX 2048

static const char *const two_inputs[] = {"ids", "mask"};

/* Writes an NPY of dtype, shape [rows, T] with values base + i, to dir/name. */
static void write_npy(const char *dir, const char *name, lps_dtype dtype, int64_t rows,
                      int64_t base)
{
    lps_tensor t = {0};
    int64_t dims[2] = {rows, T};
    lps_error err = {0};
    ck_assert_int_eq(lps_tensor_alloc(&t, dtype, 2, dims, &err), LPS_OK);
    for (int64_t i = 0; i < rows * T; i++) {
        if (dtype == LPS_DT_INT64)
            lps_tensor_i64(&t)[i] = base + i;
        else
            lps_tensor_f32(&t)[i] = (float)(base + i) * 0.5f;
    }
    char *path = test_path(dir, name);
    ck_assert_msg(lps_npy_write(path, &t, &err) == LPS_OK, "%s", err.msg);
    free(path);
    lps_tensor_release(&t);
}

static void write_labels(const char *dir, const char *name, int64_t rows)
{
    lps_tensor t = {0};
    int64_t dims[1] = {rows};
    lps_error err = {0};
    ck_assert_int_eq(lps_tensor_alloc(&t, LPS_DT_INT64, 1, dims, &err), LPS_OK);
    for (int64_t i = 0; i < rows; i++)
        lps_tensor_i64(&t)[i] = i % 2;
    char *path = test_path(dir, name);
    ck_assert_int_eq(lps_npy_write(path, &t, &err), LPS_OK);
    free(path);
    lps_tensor_release(&t);
}

static lps_data_options model_inputs(const char *const *names, size_t n)
{
    lps_data_options o;
    memset(&o, 0, sizeof o);
    o.input_names = names;
    o.n_input_names = n;
    return o;
}

START_TEST(directory_with_one_file_per_input)
{
    char *dir = test_tmpdir_new();
    write_npy(dir, "train.ids.npy", LPS_DT_INT64, N, 100);
    write_npy(dir, "train.mask.npy", LPS_DT_FLOAT, N, 0);
    write_labels(dir, "train_labels.npy", N);
    lps_data_options o = model_inputs(two_inputs, 2);
    lps_dataset ds;
    lps_error err = {0};
    ck_assert_msg(lps_dataset_open(&ds, dir, LPS_SPLIT_TRAIN, &o, &err) == LPS_OK, "%s", err.msg);
    ck_assert_uint_eq(lps_dataset_n_inputs(&ds), 2);
    ck_assert_int_eq(lps_dataset_find_input(&ds, "ids", 2, &err), 0);
    ck_assert_int_eq(lps_dataset_find_input(&ds, "mask", 2, &err), 1);
    ck_assert_int_eq(lps_dataset_find_input(&ds, "other", 2, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "'other'"));
    ck_assert_int_eq(ds.samples.dtype, LPS_DT_INT64);
    ck_assert_ptr_nonnull(ds.labels);
    /* One shared order: rows of both inputs and the labels stay together. */
    lps_batch_iter it;
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, 2, true, 9, &err), LPS_OK);
    lps_tensor ids = {0}, mask = {0};
    int64_t dims[2] = {2, T}, labels[2], count;
    ck_assert_int_eq(lps_tensor_alloc(&ids, LPS_DT_INT64, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&mask, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    lps_tensor *xs[2] = {&ids, &mask};
    ck_assert_int_eq(lps_batch_next_inputs(&it, 2, NULL, xs, labels, &count, &err), LPS_OK);
    ck_assert_int_eq(count, 2);
    for (int64_t b = 0; b < count; b++) {
        int64_t row = (lps_tensor_i64(&ids)[b * T] - 100) / T;
        ck_assert_int_eq(lps_tensor_i64(&ids)[b * T + 1], 100 + row * T + 1); /* unscaled */
        ck_assert_float_eq(lps_tensor_f32(&mask)[b * T], (float)(row * T) * 0.5f);
        ck_assert_int_eq(labels[b], row % 2);
    }
    lps_tensor_release(&ids);
    lps_tensor_release(&mask);
    lps_batch_iter_release(&it);
    lps_dataset_release(&ds);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(pairs_spec_and_its_errors)
{
    char *dir = test_tmpdir_new();
    char spec[SPEC_MAX];
    write_npy(dir, "ids.npy", LPS_DT_INT64, N, 0);
    write_npy(dir, "mask.npy", LPS_DT_FLOAT, N, 0);
    write_npy(dir, "short.npy", LPS_DT_FLOAT, N - 1, 0);
    write_labels(dir, "y.npy", N);
    lps_data_options o = model_inputs(two_inputs, 2);
    lps_dataset ds;
    lps_error err = {0};
    snprintf(spec, sizeof spec, "mask=%s/mask.npy,ids=%s/ids.npy,labels=%s/y.npy", dir, dir, dir);
    ck_assert_msg(lps_dataset_open(&ds, spec, LPS_SPLIT_TEST, &o, &err) == LPS_OK, "%s", err.msg);
    ck_assert_str_eq(ds.input, "mask");
    ck_assert_int_eq(lps_dataset_find_input(&ds, "ids", 2, &err), 1);
    ck_assert_int_eq(ds.n_classes, 2);
    lps_dataset_release(&ds);
    snprintf(spec, sizeof spec, "ids=%s/ids.npy,mask=%s/short.npy", dir, dir);
    ck_assert_int_eq(lps_dataset_open(&ds, spec, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "short.npy") && strstr(err.msg, "4 samples"), "%s", err.msg);
    snprintf(spec, sizeof spec, "ids=%s/ids.npy,masks=%s/mask.npy", dir, dir);
    ck_assert_int_eq(lps_dataset_open(&ds, spec, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "'masks' is not an input"), "%s", err.msg);
    snprintf(spec, sizeof spec, "ids=%s/ids.npy", dir);
    ck_assert_int_eq(lps_dataset_open(&ds, spec, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "no file for model input 'mask'"), "%s", err.msg);
    snprintf(spec, sizeof spec, "ids=%s/ids.npy,ids=%s/ids.npy,mask=%s/mask.npy", dir, dir, dir);
    ck_assert_int_eq(lps_dataset_open(&ds, spec, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "given twice"), "%s", err.msg);
    ck_assert_int_eq(lps_dataset_open(&ds, "ids", LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(directory_missing_one_input)
{
    char *dir = test_tmpdir_new();
    write_npy(dir, "test.ids.npy", LPS_DT_INT64, N, 0);
    lps_data_options o = model_inputs(two_inputs, 2);
    lps_dataset ds;
    lps_error err = {0};
    ck_assert_int_eq(lps_dataset_open(&ds, dir, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "test.mask.npy") && strstr(err.msg, "'mask'"), "%s", err.msg);
    write_npy(dir, "test.mask.npy", LPS_DT_FLOAT, N + 1, 0);
    ck_assert_int_eq(lps_dataset_open(&ds, dir, LPS_SPLIT_TEST, &o, &err), LPS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "test.mask.npy") && strstr(err.msg, "6 samples"), "%s", err.msg);
    test_tmpdir_free(dir);
}
END_TEST

/* A float32 [N, T, F] file of a single-input model; int64 samples refuse
 * preprocessing and float batches. */
START_TEST(float_sequences_and_int64_batches)
{
    char *dir = test_tmpdir_new();
    static const char *const one[] = {"tokens"};
    write_npy(dir, "train.tokens.npy", LPS_DT_INT64, N, 7);
    lps_data_options o = model_inputs(one, 1);
    lps_dataset ds;
    lps_error err = {0};
    ck_assert_msg(lps_dataset_open(&ds, dir, LPS_SPLIT_TRAIN, &o, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_dataset_find_input(&ds, "tokens", 1, &err), 0);
    lps_batch_iter it;
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, 4, false, 0, &err), LPS_OK);
    lps_tensor x = {0};
    int64_t dims[2] = {4, T}, count;
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_next(&it, NULL, &x, NULL, &count, &err), LPS_ERR_INVALID);
    lps_tensor_release(&x);
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_INT64, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_next(&it, NULL, &x, NULL, &count, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_i64(&x)[5], 12);
    ck_assert_int_eq(lps_batch_next(&it, NULL, &x, NULL, &count, &err), LPS_OK);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(lps_tensor_i64(&x)[T], 0); /* padding rows are zeroed */
    lps_tensor_release(&x);
    lps_batch_iter_release(&it);
    lps_dataset_release(&ds);
    lps_tensor seq = {0};
    int64_t sd[3] = {N, T, 2};
    ck_assert_int_eq(lps_tensor_alloc(&seq, LPS_DT_FLOAT, 3, sd, &err), LPS_OK);
    memset(seq.data, 0, seq.nbytes);
    char *path = test_path(dir, "seq.npy");
    ck_assert_int_eq(lps_npy_write(path, &seq, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_open(&ds, path, LPS_SPLIT_TRAIN, NULL, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_sample_rank(&ds), 2);
    lps_dataset_release(&ds);
    lps_tensor_release(&seq);
    free(path);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"inputs", directory_with_one_file_per_input, 1},
        {"inputs", pairs_spec_and_its_errors, 1},
        {"inputs", directory_missing_one_input, 1},
        {"inputs", float_sequences_and_int64_batches, 1},
    };
    return test_run_table("data_inputs", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
