/* Dataset assembly and validation shared by every file format. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/adapt.h"
#include "data/formats.h"
#include "data/image.h"
#include "lpsparsify/data.h"

/* Buffer for one formatted shape in a message. */
#define SHAPE_STR_MAX 128

static bool is_integer_dtype(lps_dtype dtype)
{
    return dtype == LPS_DT_UINT8 || dtype == LPS_DT_INT8 || dtype == LPS_DT_INT16
        || dtype == LPS_DT_INT32 || dtype == LPS_DT_INT64;
}

/* Element i of a tensor whose dtype passed is_integer_dtype(). */
static int64_t integer_at(const lps_tensor *t, size_t i)
{
    switch (t->dtype) {
    case LPS_DT_UINT8: return ((const uint8_t *)t->data)[i];
    case LPS_DT_INT8: return ((const int8_t *)t->data)[i];
    case LPS_DT_INT16: return ((const int16_t *)t->data)[i];
    case LPS_DT_INT32: return ((const int32_t *)t->data)[i];
    default: return ((const int64_t *)t->data)[i];
    }
}

static lps_status check_samples(const char *name, const lps_tensor *samples, lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    if (samples->dtype != LPS_DT_UINT8 && samples->dtype != LPS_DT_FLOAT
        && samples->dtype != LPS_DT_INT64)
        return lps_fail(err, LPS_ERR_INVALID, "%s: samples of type %s are not supported "
                        "(uint8, float32 and int64 are)", name, lps_dtype_name(samples->dtype));
    if (samples->rank < 2)
        return lps_fail(err, LPS_ERR_INVALID, "%s: shape %s has no sample axes "
                        "(expected [samples, ...])", name,
                        lps_shape_str(samples->rank, samples->dims, shape, sizeof shape));
    int64_t numel = lps_tensor_numel(samples);
    if (samples->dims[0] == 0 || numel == 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: shape %s holds no data", name,
                        lps_shape_str(samples->rank, samples->dims, shape, sizeof shape));
    if (samples->dtype == LPS_DT_FLOAT) {
        const float *x = samples->data;
        int64_t per_sample = numel / samples->dims[0];
        for (int64_t i = 0; i < numel; i++)
            if (!isfinite(x[i]))
                return lps_fail(err, LPS_ERR_INVALID, "%s: sample %lld holds %s at element %lld",
                                name, (long long)(i / per_sample), isnan(x[i]) ? "NaN" : "Inf",
                                (long long)(i % per_sample));
    }
    return LPS_OK;
}

/* Converts labels to a malloc'd int64 array (*out) after checking count and
 * range; *n_classes gets the largest label + 1. */
static lps_status convert_labels(const char *name, const lps_tensor *labels, int64_t n_samples,
                                 const char *samples_name, int64_t **out, int64_t *n_classes,
                                 lps_error *err)
{
    char shape[SHAPE_STR_MAX];
    if (labels->rank < 1)
        return lps_fail(err, LPS_ERR_INVALID, "%s: labels need a sample axis, got shape %s", name,
                        lps_shape_str(labels->rank, labels->dims, shape, sizeof shape));
    if (!is_integer_dtype(labels->dtype))
        return lps_fail(err, LPS_ERR_INVALID, "%s: labels of type %s are not integers", name,
                        lps_dtype_name(labels->dtype));
    int64_t count = lps_tensor_numel(labels);
    if (labels->dims[0] != n_samples || count != n_samples)
        return lps_fail(err, LPS_ERR_INVALID, "%s: labels of shape %s do not give one label to "
                        "each of the %lld samples in %s", name,
                        lps_shape_str(labels->rank, labels->dims, shape, sizeof shape),
                        (long long)n_samples, samples_name);
    int64_t *values = malloc((size_t)count * sizeof *values);
    if (!values)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory converting %lld labels", name,
                        (long long)count);
    int64_t largest = -1;
    for (int64_t i = 0; i < count; i++) {
        values[i] = integer_at(labels, (size_t)i);
        if (values[i] < 0 || values[i] >= LPS_DATA_MAX_CLASSES) {
            lps_fail(err, LPS_ERR_INVALID, "%s: label %lld of sample %lld is outside 0..%lld",
                     name, (long long)values[i], (long long)i,
                     (long long)(LPS_DATA_MAX_CLASSES - 1));
            free(values);
            return LPS_ERR_INVALID;
        }
        if (values[i] > largest)
            largest = values[i];
    }
    *out = values;
    *n_classes = largest + 1;
    return LPS_OK;
}

lps_status lps_dataset_from_tensors(lps_dataset *ds, const char *name, lps_tensor *samples,
                                    const char *labels_name, lps_tensor *labels, lps_error *err)
{
    memset(ds, 0, sizeof *ds);
    lps_status st = check_samples(name, samples, err);
    if (st != LPS_OK)
        goto cleanup;
    ds->name = strdup(name);
    if (!ds->name) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
        goto cleanup;
    }
    if (labels) {
        const char *lname = labels_name ? labels_name : name;
        st = convert_labels(lname, labels, samples->dims[0], name, &ds->labels, &ds->n_classes,
                            err);
        if (st != LPS_OK)
            goto cleanup;
        ds->labels_name = strdup(lname);
        if (!ds->labels_name) {
            st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", lname);
            goto cleanup;
        }
    }
    ds->samples = *samples;
    memset(samples, 0, sizeof *samples);
cleanup:
    lps_tensor_release(samples);
    lps_tensor_release(labels);
    if (st != LPS_OK)
        lps_dataset_release(ds);
    return st;
}

lps_status lps_dataset_check_samples(const char *name, const lps_tensor *samples, lps_error *err)
{
    return check_samples(name, samples, err);
}

void lps_dataset_release(lps_dataset *ds)
{
    if (!ds)
        return;
    for (size_t k = 0; k < ds->n_more; k++) {
        free(ds->more[k].input);
        free(ds->more[k].name);
        lps_tensor_release(&ds->more[k].samples);
    }
    free(ds->more);
    free(ds->input);
    free(ds->name);
    free(ds->labels_name);
    free(ds->labels);
    lps_tensor_release(&ds->samples);
    lps_image_files_free(ds->files);
    for (int64_t i = 0; ds->class_names && i < ds->n_classes; i++)
        free(ds->class_names[i]);
    free(ds->class_names);
    for (int64_t i = 0; i < ds->n_skipped; i++)
        free(ds->skipped[i]);
    free(ds->skipped);
    memset(ds, 0, sizeof *ds);
}

typedef lps_status (*array_reader)(lps_source *src, size_t *remaining, lps_tensor *out,
                                   lps_error *err);

static lps_status read_array_file(array_reader read, const char *path, size_t *remaining,
                                  lps_tensor *out, lps_error *err)
{
    lps_source src;
    lps_status st = lps_source_open_file(&src, path, err);
    if (st == LPS_OK)
        st = read(&src, remaining, out, err);
    lps_source_close(&src);
    return st;
}

/* Shared by the IDX and NPY loaders: samples file plus optional labels. */
static lps_status load_array_pair(array_reader read, lps_dataset *ds, const char *samples_path,
                                  const char *labels_path, size_t budget, lps_error *err)
{
    lps_tensor samples = {0};
    lps_tensor labels = {0};
    size_t remaining = lps_data_budget(budget);
    memset(ds, 0, sizeof *ds);
    lps_status st = read_array_file(read, samples_path, &remaining, &samples, err);
    if (st != LPS_OK)
        goto cleanup;
    if (labels_path) {
        st = read_array_file(read, labels_path, &remaining, &labels, err);
        if (st != LPS_OK)
            goto cleanup;
    }
    /* The int64 copy of the labels counts against the budget too. */
    size_t label_bytes = 0;
    if (labels_path && samples.rank > 0
        && (!lps_size_mul((size_t)samples.dims[0], sizeof(int64_t), &label_bytes)
            || label_bytes > remaining)) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: converting the labels exceeds the memory budget",
                      labels_path);
        goto cleanup;
    }
    st = lps_dataset_from_tensors(ds, samples_path, &samples, labels_path,
                                  labels_path ? &labels : NULL, err);
cleanup:
    lps_tensor_release(&samples);
    lps_tensor_release(&labels);
    return st;
}

lps_status lps_dataset_load_idx(lps_dataset *ds, const char *images_path,
                                const char *labels_path, size_t budget, lps_error *err)
{
    return load_array_pair(lps_idx_read, ds, images_path, labels_path, budget, err);
}

lps_status lps_dataset_load_npy(lps_dataset *ds, const char *samples_path,
                                const char *labels_path, size_t budget, lps_error *err)
{
    return load_array_pair(lps_npy_read, ds, samples_path, labels_path, budget, err);
}

lps_status lps_dataset_load_csv(lps_dataset *ds, const char *path, const lps_data_options *opt,
                                lps_error *err)
{
    lps_source src;
    unsigned char *text = NULL;
    size_t len = 0;
    lps_tensor samples = {0};
    lps_tensor labels = {0};
    size_t remaining = lps_data_budget(opt ? opt->memory_budget : 0);
    memset(ds, 0, sizeof *ds);
    lps_status st = lps_source_open_file(&src, path, err);
    if (st != LPS_OK)
        goto cleanup;
    st = lps_source_read_all(&src, remaining, &text, &len, err);
    if (st != LPS_OK)
        goto cleanup;
    remaining -= len;
    st = lps_csv_parse((const char *)text, len, path, opt, &remaining, &samples, &labels, err);
    if (st != LPS_OK)
        goto cleanup;
    free(text);
    text = NULL;
    bool has_labels = labels.dtype != LPS_DT_UNDEFINED;
    st = lps_dataset_from_tensors(ds, path, &samples, path, has_labels ? &labels : NULL, err);
cleanup:
    lps_source_close(&src);
    free(text);
    lps_tensor_release(&samples);
    lps_tensor_release(&labels);
    return st;
}

/* Copies the dims other than 1 into out; returns how many. */
static int squeeze(int rank, const int64_t *dims, int64_t *out)
{
    int n = 0;
    for (int i = 0; i < rank; i++)
        if (dims[i] != 1)
            out[n++] = dims[i];
    return n;
}

/* Whether samples of sample dims feed the model input as they are: the
 * same element count and the same shape once size-1 axes are dropped, or a
 * flat side. */
static bool fits_directly(int sample_rank, const int64_t *sample_dims, int model_rank,
                          const int64_t *model_dims)
{
    int64_t a[LPS_MAX_RANK];
    int64_t b[LPS_MAX_RANK];
    int na = squeeze(sample_rank, sample_dims, a);
    int nb = squeeze(model_rank, model_dims, b);
    bool same = na == nb && memcmp(a, b, (size_t)na * sizeof a[0]) == 0;
    return lps_numel_of(sample_rank, sample_dims) == lps_numel_of(model_rank, model_dims) &&
           (same || na <= 1 || nb <= 1);
}

bool lps_dataset_adapts(const lps_dataset *ds, int model_rank, const int64_t *model_dims,
                        lps_adapt_view *view, lps_adapt_target_shape *target)
{
    memset(view, 0, sizeof *view);
    if (!lps_adapt_target(model_rank, model_dims, target))
        return false;
    if (ds->files)
        return true;
    int sample_rank = lps_dataset_sample_rank(ds);
    const int64_t *sample_dims = lps_dataset_sample_dims(ds);
    if (!lps_adapt_source_view(sample_rank, sample_dims, view))
        return false;
    const lps_adapt_opts *o = &ds->adapt;
    return o->augment != LPS_AUGMENT_NONE || o->resize > 0 || o->crop > 0 ||
           !fits_directly(sample_rank, sample_dims, model_rank, model_dims);
}

bool lps_dataset_keeps_size(const lps_dataset *ds, const lps_adapt_view *v,
                            const lps_adapt_target_shape *t)
{
    return ds->files ? lps_adapt_keeps_size(ds->files->height, ds->files->width, t, &ds->adapt)
                     : lps_adapt_keeps_size(v->height, v->width, t, &ds->adapt);
}

void lps_dataset_describe_adaptation(const lps_dataset *ds, int model_rank,
                                     const int64_t *model_dims, char *out, size_t size)
{
    lps_adapt_view v;
    lps_adapt_target_shape t;
    out[0] = '\0';
    if (!lps_dataset_adapts(ds, model_rank, model_dims, &v, &t))
        return;
    lps_adapt_describe(ds->files ? NULL : &v, &t, &ds->adapt, lps_dataset_keeps_size(ds, &v, &t),
                       out, size);
}

lps_status lps_dataset_check_shape(const lps_dataset *ds, int model_rank,
                                   const int64_t *model_dims, lps_error *err)
{
    return lps_dataset_check_input_shape(ds, 0, model_rank, model_dims, err);
}

lps_status lps_dataset_check_input_shape(const lps_dataset *ds, size_t k, int model_rank,
                                         const int64_t *model_dims, lps_error *err)
{
    char have[SHAPE_STR_MAX];
    char want[SHAPE_STR_MAX];
    const lps_tensor *samples = lps_dataset_input_samples(ds, k);
    int sample_rank = samples->rank - 1;
    const int64_t *sample_dims = samples->dims + 1;
    bool ok = model_rank >= 0 && model_rank < LPS_MAX_RANK;
    for (int i = 0; ok && i < model_rank; i++)
        ok = model_dims[i] > 0;
    lps_adapt_view view;
    lps_adapt_target_shape target;
    /* Image adaptation (resize, crop) applies to the primary samples only. */
    if (ok && k == 0 && lps_dataset_adapts(ds, model_rank, model_dims, &view, &target))
        return LPS_OK;
    if (ok && k == 0 && ds->files)
        return lps_fail(err, LPS_ERR_INVALID, "%s: images need a model input of shape [C,H,W], "
                        "[H,W,C] (C = 1 or 3) or [H,W], not %s (without batch)", ds->name,
                        lps_shape_str(model_rank, model_dims, want, sizeof want));
    ok = ok && fits_directly(sample_rank, sample_dims, model_rank, model_dims);
    if (ok)
        return LPS_OK;
    return lps_fail(err, LPS_ERR_INVALID,
                    "%s: sample shape %s does not fit the model input shape %s (without batch)",
                    k == 0 ? ds->name : ds->more[k - 1].name,
                    lps_shape_str(sample_rank, sample_dims, have, sizeof have),
                    lps_shape_str(model_rank < 0 ? 0 : model_rank, model_dims, want, sizeof want));
}

lps_status lps_dataset_check_labels(const lps_dataset *ds, int64_t n_model_classes,
                                    lps_error *err)
{
    if (!ds->labels)
        return LPS_OK;
    int64_t n = lps_dataset_size(ds);
    for (int64_t i = 0; i < n; i++)
        if (ds->labels[i] >= n_model_classes)
            return lps_fail(err, LPS_ERR_INVALID,
                            "%s: label %lld of sample %lld is outside 0..%lld (the model has %lld "
                            "classes)", ds->labels_name, (long long)ds->labels[i], (long long)i,
                            (long long)(n_model_classes - 1), (long long)n_model_classes);
    return LPS_OK;
}
