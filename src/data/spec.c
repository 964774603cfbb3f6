/* The --data spec: "fashion-mnist", a directory with train/test files, one
 * file for both splits, or NAME=FILE pairs (inputs.c). docs/data.md lists
 * the accepted names. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/inputs.h"
#include "data/source.h"
#include "lpsparsify/data.h"

/* Bytes that identify a format at the start of a file. */
#define SNIFF_BYTES 6
static const char NPY_MAGIC[] = "\x93NUMPY";
#define NPY_MAGIC_LEN (sizeof NPY_MAGIC - 1)

/* File name stems per split, tried in order; "t10k" is the MNIST name. */
static const char *const TRAIN_STEMS[] = {"train"};
static const char *const TEST_STEMS[] = {"t10k", "test"};
#define N_TRAIN_STEMS (sizeof TRAIN_STEMS / sizeof TRAIN_STEMS[0])
#define N_TEST_STEMS (sizeof TEST_STEMS / sizeof TEST_STEMS[0])

typedef enum file_format {
    FORMAT_IDX,
    FORMAT_NPY,
    FORMAT_CSV
} file_format;

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir/name[suffix] into out; false when it does not fit. */
static bool join_path(char *out, size_t size, const char *dir, const char *name,
                      const char *suffix)
{
    int n = snprintf(out, size, "%s/%s%s", dir, name, suffix);
    return n >= 0 && (size_t)n < size;
}

/* Finds dir/stem+middle with or without ".gz" into out. */
static bool find_variant(char *out, size_t size, const char *dir, const char *stem,
                         const char *middle)
{
    char name[PATH_MAX];
    if (snprintf(name, sizeof name, "%s%s", stem, middle) >= (int)sizeof name)
        return false;
    return (join_path(out, size, dir, name, "") && is_regular_file(out))
        || (join_path(out, size, dir, name, ".gz") && is_regular_file(out));
}

static lps_status sniff_format(const char *path, file_format *format, lps_error *err)
{
    lps_source src;
    unsigned char head[SNIFF_BYTES];
    size_t got = 0;
    lps_status st = lps_source_open_file(&src, path, err);
    if (st == LPS_OK)
        st = lps_source_read(&src, head, sizeof head, &got, err);
    lps_source_close(&src);
    if (st != LPS_OK)
        return st;
    if (got >= NPY_MAGIC_LEN && memcmp(head, NPY_MAGIC, NPY_MAGIC_LEN) == 0)
        *format = FORMAT_NPY;
    else if (got >= 2 && head[0] == 0 && head[1] == 0)
        *format = FORMAT_IDX;
    else
        *format = FORMAT_CSV;
    return LPS_OK;
}

static lps_status load_format(lps_dataset *ds, file_format format, const char *samples,
                              const char *labels, const lps_data_options *opt, lps_error *err)
{
    size_t budget = opt ? opt->memory_budget : 0;
    switch (format) {
    case FORMAT_IDX: return lps_dataset_load_idx(ds, samples, labels, budget, err);
    case FORMAT_NPY: return lps_dataset_load_npy(ds, samples, labels, budget, err);
    case FORMAT_CSV: return lps_dataset_load_csv(ds, samples, opt, err);
    }
    return lps_fail(err, LPS_ERR_RUNTIME, "%s: unknown dataset format", samples);
}

static lps_status open_fashion_mnist(lps_dataset *ds, lps_data_split split,
                                     const lps_data_options *opt, lps_error *err)
{
    char images[PATH_MAX];
    char labels[PATH_MAX];
    const char *stem = split == LPS_SPLIT_TRAIN ? "train" : "t10k";
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", LPS_FASHION_MNIST_DIR, stem);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", LPS_FASHION_MNIST_DIR, stem);
    const char *missing = !is_regular_file(images) ? images
                        : !is_regular_file(labels) ? labels : NULL;
    if (missing) {
        memset(ds, 0, sizeof *ds);
        return lps_fail(err, LPS_ERR_IO, "%s: %s not found (install the Debian package "
                        "dataset-fashion-mnist or pass --data DIR)", LPS_FASHION_MNIST_SPEC,
                        missing);
    }
    return lps_dataset_load_idx(ds, images, labels, opt ? opt->memory_budget : 0, err);
}

/* Tries the documented names for one stem; *found false when none exist. */
static lps_status open_dir_stem(lps_dataset *ds, const char *dir, const char *stem,
                                const lps_data_options *opt, bool *found, lps_error *err)
{
    char samples[PATH_MAX];
    char labels[PATH_MAX];
    /* A model with several inputs takes one S.NAME.npy per input, nothing else. */
    if (opt && opt->n_input_names > 1)
        return lps_data_open_named_dir(ds, dir, stem, opt, found, err);
    *found = true;
    if (find_variant(samples, sizeof samples, dir, stem, "-images-idx3-ubyte")) {
        bool has_labels = find_variant(labels, sizeof labels, dir, stem, "-labels-idx1-ubyte");
        return load_format(ds, FORMAT_IDX, samples, has_labels ? labels : NULL, opt, err);
    }
    if (find_variant(samples, sizeof samples, dir, stem, ".npy")) {
        bool has_labels = find_variant(labels, sizeof labels, dir, stem, "_labels.npy");
        return load_format(ds, FORMAT_NPY, samples, has_labels ? labels : NULL, opt, err);
    }
    if (find_variant(samples, sizeof samples, dir, stem, ".csv"))
        return load_format(ds, FORMAT_CSV, samples, NULL, opt, err);
    return lps_data_open_named_dir(ds, dir, stem, opt, found, err);
}

/* Image-folder split folders, tried in order for the evaluation split. */
static const char *const IMAGE_TRAIN_FOLDER = "train";
static const char *const IMAGE_TEST_FOLDERS[] = {"val", "test"};

/* DIR/train/ as a folder marks DIR as an image folder (ImageFolder
 * layout); the evaluation split is DIR/val/ or DIR/test/. */
static bool open_image_split(lps_dataset *ds, const char *dir, lps_data_split split,
                             const lps_data_options *opt, lps_status *st, lps_error *err)
{
    char path[PATH_MAX];
    if (!join_path(path, sizeof path, dir, IMAGE_TRAIN_FOLDER, "") || !is_directory(path))
        return false;
    if (split == LPS_SPLIT_TEST) {
        size_t i = 0;
        while (i < sizeof IMAGE_TEST_FOLDERS / sizeof IMAGE_TEST_FOLDERS[0] &&
               !(join_path(path, sizeof path, dir, IMAGE_TEST_FOLDERS[i], "") && is_directory(path)))
            i++;
        if (i == sizeof IMAGE_TEST_FOLDERS / sizeof IMAGE_TEST_FOLDERS[0]) {
            *st = lps_fail(err, LPS_ERR_INVALID, "%s: image folder without an evaluation split "
                           "(looked for %s/val/ and %s/test/)", dir, dir, dir);
            return true;
        }
    }
    lps_data_options local = *opt;
    if (split == LPS_SPLIT_TEST)
        local.adapt.augment = LPS_AUGMENT_NONE;
    *st = lps_dataset_open_image_folder(ds, path, &local, err);
    return true;
}

static lps_status open_directory(lps_dataset *ds, const char *dir, lps_data_split split,
                                 const lps_data_options *opt, lps_error *err)
{
    static const lps_data_options defaults = {0};
    const char *const *stems = split == LPS_SPLIT_TRAIN ? TRAIN_STEMS : TEST_STEMS;
    size_t n_stems = split == LPS_SPLIT_TRAIN ? N_TRAIN_STEMS : N_TEST_STEMS;
    memset(ds, 0, sizeof *ds);
    lps_status image_status = LPS_OK;
    if (open_image_split(ds, dir, split, opt ? opt : &defaults, &image_status, err))
        return image_status;
    for (size_t i = 0; i < n_stems; i++) {
        bool found = false;
        lps_status st = open_dir_stem(ds, dir, stems[i], opt, &found, err);
        if (found || st != LPS_OK)
            return st;
    }
    const char *stem = stems[0];
    const char *also = split == LPS_SPLIT_TRAIN ? "" : " and the same with 'test'";
    if (opt && opt->n_input_names > 1)
        return lps_fail(err, LPS_ERR_INVALID, "%s: no %s split found (looked for %s.NAME.npy[.gz] "
                        "for each model input NAME, e.g. %s.%s.npy%s)", dir,
                        split == LPS_SPLIT_TRAIN ? "training" : "test", stem, stem,
                        opt->input_names[0], also);
    return lps_fail(err, LPS_ERR_INVALID, "%s: no %s split found (looked for %s-images-idx3-ubyte[.gz], "
                    "%s.npy[.gz], %s.csv[.gz]%s)", dir,
                    split == LPS_SPLIT_TRAIN ? "training" : "test", stem, stem, stem, also);
}

static lps_status open_spec(lps_dataset *ds, const char *spec, lps_data_split split,
                           const lps_data_options *opt, lps_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (strcmp(spec, LPS_FASHION_MNIST_SPEC) == 0)
        return open_fashion_mnist(ds, split, opt, err);
    if (is_directory(spec))
        return open_directory(ds, spec, split, opt, err);
    if (!is_regular_file(spec) && strchr(spec, '='))
        return lps_data_open_pairs(ds, spec, opt, err);
    if (!is_regular_file(spec))
        return lps_fail(err, LPS_ERR_INVALID, "%s: no such dataset file or directory", spec);
    file_format format;
    lps_status st = sniff_format(spec, &format, err);
    if (st != LPS_OK)
        return st;
    return load_format(ds, format, spec, NULL, opt, err);
}

lps_status lps_dataset_open(lps_dataset *ds, const char *spec, lps_data_split split,
                            const lps_data_options *opt, lps_error *err)
{
    lps_status st = open_spec(ds, spec, split, opt, err);
    /* Array datasets adapt the same way as image folders; evaluation never
     * augments. */
    if (st == LPS_OK && opt && !ds->files) {
        ds->adapt = opt->adapt;
        if (split == LPS_SPLIT_TEST)
            ds->adapt.augment = LPS_AUGMENT_NONE;
    }
    return st;
}
