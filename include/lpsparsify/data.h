/* Datasets: loading (IDX, NPY, CSV), preprocessing and batching.
 *
 * A dataset keeps its samples in the source element type (uint8 or float32)
 * so that uint8 images cost one byte per pixel; conversion to float32 and the
 * affine preprocessing happen per batch, into a caller-provided tensor.
 * Labels are int64 and optional: a label-free dataset (labels == NULL) is
 * valid and is what distillation trains on. The file formats, the --data
 * spec and the preprocessing rules are documented in docs/data.md. */
#ifndef LPSPARSIFY_DATA_H
#define LPSPARSIFY_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory budget used when a caller passes 0: 8 GiB for samples and labels. */
#define LPS_DATA_DEFAULT_BUDGET ((size_t)8 << 30)

/* Labels must lie in 0 .. LPS_DATA_MAX_CLASSES - 1. */
#define LPS_DATA_MAX_CLASSES ((int64_t)1 << 20)

/* The --data spec naming the Debian dataset-fashion-mnist files. */
#define LPS_FASHION_MNIST_SPEC "fashion-mnist"
#define LPS_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Longest per-channel --mean / --std list. */
#define LPS_PREPROCESS_MAX_VALUES 64

/* Training augmentation (docs/data.md, "Augmentation"). */
typedef enum lps_augment {
    LPS_AUGMENT_NONE = 0,
    LPS_AUGMENT_LIGHT,     /* translation within the crop margin (or padding), flip */
    LPS_AUGMENT_STANDARD   /* random-resized crop (pad and crop for small images), flip */
} lps_augment;

/* How image samples become model inputs (docs/data.md, "Input adaptation"). */
typedef struct lps_adapt_opts {
    int64_t resize;        /* shorter side before the centre crop; 0: crop / 0.875 */
    int64_t crop;          /* side of the centre crop; 0: the model's height and width */
    lps_augment augment;   /* only ever set on a training split */
} lps_adapt_opts;

/* The file list of an image-folder dataset (src/data/image_folder.c). */
typedef struct lps_image_files lps_image_files;

/* The samples of one further model input of a multi-input dataset. */
typedef struct lps_dataset_input {
    char *input;         /* the model input they feed */
    char *name;          /* file they came from */
    lps_tensor samples;  /* [N, ...] with the dataset's N; uint8, float32 or int64 */
} lps_dataset_input;

typedef struct lps_dataset {
    char *name;          /* file the samples came from (for messages) */
    char *labels_name;   /* file the labels came from, NULL when label-free */
    lps_tensor samples;  /* [N, sample dims...], LPS_DT_UINT8, LPS_DT_FLOAT or LPS_DT_INT64
                          * (int64: token ids, fed unscaled to an int64 model input); for an
                          * image folder [N] with no data: samples are files */
    int64_t *labels;     /* N labels in 0..n_classes-1, NULL when label-free */
    int64_t n_classes;   /* largest label + 1; 0 when label-free */
    lps_image_files *files;  /* image folder: sample i is decoded from file i; else NULL */
    char **class_names;  /* image folder: class folder names in label order; else NULL */
    lps_adapt_opts adapt;
    int64_t n_skipped;   /* files left out by --skip-bad */
    char **skipped;      /* their paths and reasons ("PATH: reason"), n_skipped entries */
    char *input;         /* the model input `samples` feeds; NULL: the model's only input */
    size_t n_more;       /* further inputs (models with several, docs/data.md) */
    lps_dataset_input *more;
} lps_dataset;

typedef enum lps_data_split {
    LPS_SPLIT_TRAIN,
    LPS_SPLIT_TEST
} lps_data_split;

typedef enum lps_csv_header {
    LPS_CSV_HEADER_AUTO = 0, /* first row is a header when a field is not a number */
    LPS_CSV_HEADER_PRESENT,
    LPS_CSV_HEADER_ABSENT
} lps_csv_header;

typedef struct lps_data_options {
    size_t memory_budget;      /* bytes for samples + labels; 0 = LPS_DATA_DEFAULT_BUDGET */
    lps_adapt_opts adapt;      /* copied into the dataset (augment: training split only) */
    bool skip_bad;             /* image folders: leave out unreadable files, listing them */
    lps_csv_header csv_header;
    bool csv_has_labels;       /* CSV files carry a label column */
    int csv_label_column;      /* its 0-based index; negative counts from the end */
    const char *const *input_names; /* the model's inputs, to find one file per input
                                       (NULL when unknown: single-input data only) */
    size_t n_input_names;
} lps_data_options;

/* Number of samples in ds. */
static inline int64_t lps_dataset_size(const lps_dataset *ds) { return ds->samples.dims[0]; }

/* Rank and dims of one sample (the samples tensor without its first axis). */
static inline int lps_dataset_sample_rank(const lps_dataset *ds) { return ds->samples.rank - 1; }
static inline const int64_t *lps_dataset_sample_dims(const lps_dataset *ds) { return ds->samples.dims + 1; }

/* Builds a dataset from tensors, taking ownership of their storage (both
 * tensors are zeroed on success and on failure; they must own their data).
 * samples must be uint8 or float32 with rank >= 2 and at least one sample;
 * float samples must be finite. labels (NULL for label-free) must hold an
 * integer type with one element per sample, each in 0..LPS_DATA_MAX_CLASSES-1;
 * they are converted to int64. name / labels_name are copied and prefix every
 * error. Fails with LPS_ERR_INVALID (bad content) or LPS_ERR_NOMEM; ds is
 * zeroed on failure. Release with lps_dataset_release(). */
lps_status lps_dataset_from_tensors(lps_dataset *ds, const char *name, lps_tensor *samples,
                                    const char *labels_name, lps_tensor *labels, lps_error *err);

/* Number of model inputs ds feeds (1 + n_more). */
static inline size_t lps_dataset_n_inputs(const lps_dataset *ds) { return 1 + ds->n_more; }

/* Samples of dataset input k: 0 is ds->samples, k >= 1 is ds->more[k - 1]. */
const lps_tensor *lps_dataset_input_samples(const lps_dataset *ds, size_t k);

/* The dataset input feeding the model input `name`, one of the model's
 * n_model_inputs inputs: the samples of a single-input dataset feed the only
 * input of a single-input model whatever its name. Returns its index k, or
 * -1 with LPS_ERR_INVALID naming the input and the files looked at. */
int lps_dataset_find_input(const lps_dataset *ds, const char *name, size_t n_model_inputs,
                           lps_error *err);

/* Adds the samples of model input `input` (read from file `name`) to ds,
 * taking ownership of *samples (zeroed either way). They must hold one
 * sample per sample of ds and an accepted dtype; LPS_ERR_INVALID names both
 * files, LPS_ERR_NOMEM. */
lps_status lps_dataset_add_input(lps_dataset *ds, const char *input, const char *name,
                                 lps_tensor *samples, lps_error *err);

/* Loads IDX images (raw or gzip) and, when labels_path is non-NULL, IDX
 * labels. budget as in lps_data_options. Errors name the offending file:
 * LPS_ERR_IO (cannot read), LPS_ERR_INVALID (malformed, count mismatch, NaN,
 * label out of range), LPS_ERR_NOMEM (over budget). ds zeroed on failure. */
lps_status lps_dataset_load_idx(lps_dataset *ds, const char *images_path,
                                const char *labels_path, size_t budget, lps_error *err);

/* Same for NPY files (float32, uint8 or int64, C order, versions 1 and 2;
 * gzip-compressed files are read transparently). */
lps_status lps_dataset_load_npy(lps_dataset *ds, const char *samples_path,
                                const char *labels_path, size_t budget, lps_error *err);

/* Loads a numeric CSV file; opt selects the header mode and label column
 * (opt may be NULL: header auto-detected, no labels). Errors as above, with
 * the line number for ragged rows and non-numeric fields. */
lps_status lps_dataset_load_csv(lps_dataset *ds, const char *path,
                                const lps_data_options *opt, lps_error *err);

/* Resolves a --data spec for one split and loads it: "fashion-mnist", a
 * directory holding train and test files, a single file used for both
 * splits (format recognised from its content), or "NAME=FILE,..." with one
 * NPY file per model input (and `labels=FILE`) for both splits. With
 * opt->input_names of several inputs a directory must hold S.NAME.npy per
 * input. See docs/data.md for the accepted file names. opt may be NULL for
 * defaults. A missing file or an
 * unrecognised directory is bad input, LPS_ERR_INVALID naming what was
 * looked for; missing Debian fashion-mnist files are LPS_ERR_IO. */
lps_status lps_dataset_open(lps_dataset *ds, const char *spec, lps_data_split split,
                            const lps_data_options *opt, lps_error *err);

/* Frees everything ds owns and zeroes it. ds may be NULL. */
void lps_dataset_release(lps_dataset *ds);

/* Loads an image folder split: dir/<class>/... PNG and JPEG files (nested
 * folders walked, hidden entries ignored), classes sorted by name into
 * labels. Every file is decoded once here, so a corrupt, truncated, empty
 * or non-image file is reported before training: LPS_ERR_INVALID naming
 * it, unless opt->skip_bad, which leaves such files out and lists them in
 * ds->skipped. Also LPS_ERR_INVALID naming the folder: no class folders,
 * an empty class, a file beside the class folders, a symlink loop, an
 * unreadable folder. Samples are decoded again per batch (the file list
 * is all that stays in memory). ds zeroed on failure. */
lps_status lps_dataset_open_image_folder(lps_dataset *ds, const char *dir,
                                         const lps_data_options *opt, lps_error *err);

/* Checks that two image-folder splits have the same class names in the
 * same order (labels mean the same class). Datasets without class names
 * pass. LPS_ERR_INVALID naming both folders and the first difference. */
lps_status lps_dataset_check_same_classes(const lps_dataset *a, const lps_dataset *b,
                                          lps_error *err);

/* Moves a seeded fraction (0, 1) of ds's samples into val (at least one
 * sample stays on each side), keeping class names and adaptation (val gets
 * no augmentation). The order of both parts follows ds. LPS_ERR_INVALID
 * when ds is too small to split, LPS_ERR_NOMEM; ds is unchanged and val
 * zeroed on failure. */
lps_status lps_dataset_split_validation(lps_dataset *ds, double fraction, uint64_t seed,
                                        lps_dataset *val, lps_error *err);

/* One line (into out) saying how ds's samples are adapted to a model
 * input of per-sample dims model_dims[0..model_rank-1], e.g. "train:
 * 28x28 grey -> 3x32x32 (NCHW), grey to RGB, resize shorter side to 36,
 * centre crop 32, augment light"; out[0] = 0 when they feed it unchanged. */
void lps_dataset_describe_adaptation(const lps_dataset *ds, int model_rank,
                                     const int64_t *model_dims, char *out, size_t size);

/* Checks that one sample can feed a model input whose dims without the batch
 * axis are model_dims[0..model_rank-1]. Accepted: the same element count and
 * either the same shape once size-1 axes are dropped ([28,28] vs [1,28,28])
 * or a flat side ([784] vs [1,28,28], [28,28] vs [784]). Anything else,
 * including a non-positive model dim, is LPS_ERR_INVALID naming both shapes. */
lps_status lps_dataset_check_shape(const lps_dataset *ds, int model_rank,
                                   const int64_t *model_dims, lps_error *err);

/* The same for dataset input k (see lps_dataset_input_samples). */
lps_status lps_dataset_check_input_shape(const lps_dataset *ds, size_t k, int model_rank,
                                         const int64_t *model_dims, lps_error *err);

/* Checks the samples of a dataset file named name as lps_dataset_from_tensors
 * does (dtype, rank, non-empty, finite floats). LPS_ERR_INVALID names it. */
lps_status lps_dataset_check_samples(const char *name, const lps_tensor *samples, lps_error *err);

/* Checks that every label is below n_model_classes (the model's output
 * width). A label-free dataset passes. LPS_ERR_INVALID names the labels file,
 * the sample index and both numbers. */
lps_status lps_dataset_check_labels(const lps_dataset *ds, int64_t n_model_classes,
                                    lps_error *err);

/* User-facing preprocessing: x' = (x * scale - mean[c]) / std[c], with c the
 * first axis of the model input after the batch axis. A list of one value
 * is broadcast over all channels; n_mean == 0 means mean 0, n_std == 0 means
 * std 1; has_scale false means 1/255 for uint8 data and 1 for float data. */
typedef struct lps_preprocess_opts {
    bool imagenet;        /* --normalize imagenet: ImageNet mean/std unless --mean/--std */
    bool has_scale;
    double scale;
    int n_mean;
    double mean[LPS_PREPROCESS_MAX_VALUES];
    int n_std;
    double std[LPS_PREPROCESS_MAX_VALUES];
} lps_preprocess_opts;

/* Preprocessing resolved for one dataset and model input: per channel,
 * x' = x * gain[c] + bias[c] over `per_channel` consecutive values. */
typedef struct lps_preprocess {
    int64_t channels;
    int64_t per_channel;
    bool channels_last;  /* NHWC model input: the channel is the last axis */
    float *gain;
    float *bias;
} lps_preprocess;

/* Parses "v" or "v1,v2,..." (each a finite number or a fraction "a/b") into
 * values[0..max-1] and *count. what names the option for the message
 * ("--mean"). LPS_ERR_INVALID on syntax, non-finite values or too many. */
lps_status lps_parse_value_list(const char *text, const char *what, double *values, int max,
                                int *count, lps_error *err);

/* Resolves opts (NULL = defaults) for samples of dtype src_dtype feeding a
 * model input whose per-sample dims are model_dims[0..model_rank-1].
 * LPS_ERR_INVALID when a list length is neither 1 nor the channel count, or a
 * std is zero or the scale is zero or non-finite; LPS_ERR_NOMEM. On success
 * release pp with lps_preprocess_release(). */
lps_status lps_preprocess_resolve(lps_preprocess *pp, const lps_preprocess_opts *opts,
                                  lps_dtype src_dtype, int model_rank, const int64_t *model_dims,
                                  lps_error *err);

/* Applies pp in place to n_samples consecutive samples of
 * channels * per_channel values each. */
void lps_preprocess_apply(const lps_preprocess *pp, float *x, int64_t n_samples);

/* Frees the per-channel arrays and zeroes pp. pp may be NULL. */
void lps_preprocess_release(lps_preprocess *pp);

/* Walks a dataset in batches, in order or in a per-epoch shuffled order that
 * depends only on (seed, epoch). The dataset must outlive the iterator. */
typedef struct lps_batch_iter {
    const lps_dataset *ds;
    int64_t batch_size;
    bool shuffle;
    uint64_t seed;
    int64_t *order;   /* permutation of 0..N-1 for the current epoch */
    int64_t pos;      /* next position in order */
    uint64_t epoch;   /* the current epoch (augmentation draws depend on it) */
    int64_t len;      /* positions of order this iterator walks (N unsharded) */
    int shard, shards; /* this iterator's shard of every global batch (0 of 1) */
} lps_batch_iter;

/* Prepares it for epoch 0. batch_size must be >= 1. LPS_ERR_INVALID or
 * LPS_ERR_NOMEM; release with lps_batch_iter_release() either way. */
lps_status lps_batch_iter_init(lps_batch_iter *it, const lps_dataset *ds, int64_t batch_size,
                               bool shuffle, uint64_t seed, lps_error *err);

/* Rewinds to the first batch of the given epoch, reshuffling when enabled. */
void lps_batch_iter_start_epoch(lps_batch_iter *it, uint64_t epoch);

/* Makes it walk shard `shard` of `shards` (data-parallel ranks,
 * docs/distributed.md) from the next lps_batch_iter_start_epoch on: the
 * epoch's order is cut into global batches of shards * batch_size samples
 * (the last one shorter), as one unsharded iterator at that batch size
 * would, and each batch yields this shard's part of the global one,
 * positions [shard * g / shards, (shard + 1) * g / shards) of a global
 * batch of g, so a full global batch gives every shard batch_size samples.
 * A shard's part of the last global batch may be empty: the caller counts
 * global batches with lps_batch_iter_global_batches. */
void lps_batch_iter_set_shard(lps_batch_iter *it, int shard, int shards);

/* Global batches in one epoch: ceil(N / (shards * batch_size)). */
int64_t lps_batch_iter_global_batches(const lps_batch_iter *it);

/* Samples in global batch `index` of the epoch (over all shards). */
int64_t lps_batch_iter_global_count(const lps_batch_iter *it, int64_t index);

/* Fills the next batch of every dataset input: xs[k] receives input k (see
 * lps_dataset_input_samples), preprocessed with pps[k] (NULL = identity);
 * n must be lps_dataset_n_inputs. Otherwise as lps_batch_next. */
lps_status lps_batch_next_inputs(lps_batch_iter *it, size_t n, const lps_preprocess *const *pps,
                                 lps_tensor *const *xs, int64_t *labels, int64_t *count,
                                 lps_error *err);

/* Fills the next batch: x must have dims[0] == batch_size and one sample's
 * worth of elements per row (see lps_dataset_check_shape); it is float32
 * for uint8 and float32 samples, converted and preprocessed with pp (NULL =
 * identity), and int64 for int64 samples, copied unchanged. labels,
 * when non-NULL and the dataset has labels, receives *count entries.
 * *count gets the number of samples filled: batch_size, fewer for the last
 * partial batch, 0 at the end of the epoch. Rows of x past *count are zeroed.
 * LPS_ERR_INVALID when x does not fit the dataset. */
lps_status lps_batch_next(lps_batch_iter *it, const lps_preprocess *pp, lps_tensor *x,
                          int64_t *labels, int64_t *count, lps_error *err);

/* Frees the permutation and zeroes it. it may be NULL. */
void lps_batch_iter_release(lps_batch_iter *it);

/* Writes t as an NPY file (version 1.0, C order) atomically. Supports
 * float32, float64, int64, int32, uint8 and bool; LPS_ERR_UNSUPPORTED for
 * other types, LPS_ERR_IO naming the file when writing fails. */
lps_status lps_npy_write(const char *path, const lps_tensor *t, lps_error *err);

/* Reads one NPY or ONNX TensorProto (.pb) file into t, told apart by the
 * NPY magic. Errors name the file. */
lps_status lps_tensor_read_file(const char *path, lps_tensor *t, lps_error *err);

#ifdef __cplusplus
}
#endif
#endif
