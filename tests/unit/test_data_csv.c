/* CSV loading and --data spec resolution (directories and single files). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data_test_files.h"
#include "lpsparsify/data.h"
#include "test_suite.h"

static lps_data_options label_column(int column)
{
    lps_data_options opt = {0};
    opt.csv_has_labels = true;
    opt.csv_label_column = column;
    return opt;
}

START_TEST(csv_header_labels_and_layout)
{
    char dir[TEST_PATH_MAX], path[TEST_PATH_MAX];
    lps_dataset ds;
    lps_error err = {0};
    test_make_dir(dir, sizeof dir);

    test_write_text(path, dir, "a.csv", "label,x0,x1\n1,0.5,2\n\n0, 1e-3 ,-4\n");
    lps_data_options first = label_column(0);
    ck_assert_msg(lps_dataset_load_csv(&ds, path, &first, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 2);
    ck_assert_int_eq(lps_dataset_sample_rank(&ds), 1);
    ck_assert_int_eq(lps_dataset_sample_dims(&ds)[0], 2);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[2], 1e-3f);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[3], -4.0f);
    ck_assert_int_eq(ds.labels[0], 1);
    ck_assert_int_eq(ds.n_classes, 2);
    lps_dataset_release(&ds);

    /* No header, CRLF line ends, label in the last column written as 2.0. */
    test_write_text(path, dir, "b.csv", "1,2,2.0\r\n3,4,0\r\n");
    lps_data_options last = label_column(-1);
    ck_assert_msg(lps_dataset_load_csv(&ds, path, &last, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 2);
    ck_assert_float_eq(lps_tensor_f32(&ds.samples)[2], 3.0f);
    ck_assert_int_eq(ds.labels[0], 2);
    lps_dataset_release(&ds);

    /* Without a label column every column is a feature: label-free. */
    ck_assert_int_eq(lps_dataset_load_csv(&ds, path, NULL, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_sample_dims(&ds)[0], 3);
    ck_assert_ptr_null(ds.labels);
    lps_dataset_release(&ds);

    /* A forced header skips a numeric first line. */
    lps_data_options forced = {0};
    forced.csv_header = LPS_CSV_HEADER_PRESENT;
    ck_assert_int_eq(lps_dataset_load_csv(&ds, path, &forced, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_size(&ds), 1);
    lps_dataset_release(&ds);
    test_remove_dir(dir);
}
END_TEST

static void expect_csv_failure(const char *dir, const char *text, const lps_data_options *opt,
                               lps_status want, const char *needle)
{
    char path[TEST_PATH_MAX];
    lps_dataset ds;
    lps_error err = {0};
    test_write_text(path, dir, "bad.csv", text);
    ck_assert_int_eq(lps_dataset_load_csv(&ds, path, opt, &err), want);
    ck_assert_error(err, want, needle);
    ck_assert_error(err, want, path);
    ck_assert_ptr_null(ds.samples.data);
}

START_TEST(csv_malformed_files_name_file_and_line)
{
    char dir[TEST_PATH_MAX];
    test_make_dir(dir, sizeof dir);
    lps_data_options first = label_column(0);
    lps_data_options absent = {0};
    absent.csv_header = LPS_CSV_HEADER_ABSENT;
    lps_data_options tiny = {0};
    tiny.memory_budget = 16;
    expect_csv_failure(dir, "a,b,c\n1,2,3\n4,5\n", NULL, LPS_ERR_INVALID,
                       "bad.csv:3: 2 fields where the first line has 3");
    expect_csv_failure(dir, "1,2\n3,4\n\n5,abc\n", NULL, LPS_ERR_INVALID,
                       "bad.csv:4: column 2: 'abc' is not a number");
    expect_csv_failure(dir, "1,2\n3,4\r5\n", NULL, LPS_ERR_INVALID, "column 2: '4?5'");
    expect_csv_failure(dir, "1,2\nnan,4\n", NULL, LPS_ERR_INVALID, "bad.csv:2: column 1: 'nan'");
    expect_csv_failure(dir, "1,2\n3,1e39\n", NULL, LPS_ERR_INVALID, "float32 range");
    expect_csv_failure(dir, "1.5,2\n", &first, LPS_ERR_INVALID, "label '1.5' is not an integer");
    expect_csv_failure(dir, "-1,2\n", &first, LPS_ERR_INVALID, "label '-1'");
    expect_csv_failure(dir, "x,y\n1,2\n", &absent, LPS_ERR_INVALID, "bad.csv:1: column 1: 'x'");
    lps_data_options far = label_column(5);
    expect_csv_failure(dir, "1,2\n", &far, LPS_ERR_INVALID, "label column 5");
    expect_csv_failure(dir, "\n\n", NULL, LPS_ERR_INVALID, "no data rows");
    expect_csv_failure(dir, "a,b\n", NULL, LPS_ERR_INVALID, "no data rows");
    expect_csv_failure(dir, "1,2,3\n4,5,6\n7,8,9\n", &tiny, LPS_ERR_NOMEM, "budget");
    test_remove_dir(dir);
}
END_TEST

START_TEST(spec_resolves_directories_and_files)
{
    char dir[TEST_PATH_MAX], path[TEST_PATH_MAX], other[TEST_PATH_MAX];
    lps_dataset ds;
    lps_error err = {0};
    test_make_dir(dir, sizeof dir);
    lps_data_options opt = label_column(0);
    test_write_text(path, dir, "train.csv", "3,1,1\n2,1,1\n1,0,0\n");

    ck_assert_int_eq(lps_dataset_open(&ds, dir, LPS_SPLIT_TEST, &opt, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "no test split");
    ck_assert_error(err, LPS_ERR_INVALID, dir);

    test_write(other, dir, "test.csv.gz", "1,5,5\n", 6, 1);
    ck_assert_msg(lps_dataset_open(&ds, dir, LPS_SPLIT_TRAIN, &opt, &err) == LPS_OK, "%s",
                  err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 3);
    ck_assert_int_eq(ds.n_classes, 4);
    lps_dataset_release(&ds);
    ck_assert_msg(lps_dataset_open(&ds, dir, LPS_SPLIT_TEST, &opt, &err) == LPS_OK, "%s",
                  err.msg);
    ck_assert_int_eq(lps_dataset_size(&ds), 1);
    ck_assert_ptr_nonnull(strstr(ds.name, "test.csv.gz"));
    lps_dataset_release(&ds);

    /* A single file serves both splits; the format comes from its content. */
    ck_assert_int_eq(lps_dataset_open(&ds, path, LPS_SPLIT_TEST, &opt, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_size(&ds), 3);
    lps_dataset_release(&ds);
    unsigned char idx[] = {0, 0, 0x08, 2, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9};
    test_write(other, dir, "single.bin", idx, sizeof idx, 0);
    ck_assert_int_eq(lps_dataset_open(&ds, other, LPS_SPLIT_TRAIN, &opt, &err), LPS_OK);
    ck_assert_int_eq(ds.samples.dtype, LPS_DT_UINT8);
    ck_assert_ptr_null(ds.labels);
    lps_dataset_release(&ds);

    ck_assert_int_lt(snprintf(other, sizeof other, "%s/none", dir), (int)sizeof other);
    ck_assert_int_eq(lps_dataset_open(&ds, other, LPS_SPLIT_TRAIN, NULL, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, other);
    test_remove_dir(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"csv", csv_header_labels_and_layout, 1},
        {"csv", csv_malformed_files_name_file_and_line, 1},
        {"csv", spec_resolves_directories_and_files, 1},
    };
    return test_run_table("data_csv", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
