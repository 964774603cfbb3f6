/* The validation hold-out of a training split (--val-split). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/rng.h"
#include "lpsparsify/data.h"

/* Keeps the hold-out independent of the shuffling stream of the same seed. */
#define VAL_SEED_SALT 0xA0761D6478BD642Fu

/* Copies the strings names[0..n) (NULL stays NULL). */
static char **copy_names(char *const *names, int64_t n)
{
    if (!names)
        return NULL;
    char **out = calloc((size_t)(n ? n : 1), sizeof *out);
    for (int64_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(names[i]))) {
            for (int64_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    return out;
}

/* part gets the samples i of ds with in_part[i] == want, in ds's order. */
static lps_status take_part(const lps_dataset *ds, const bool *in_part, bool want, int64_t count,
                            const char *suffix, lps_dataset *part, lps_error *err)
{
    memset(part, 0, sizeof *part);
    int64_t n = lps_dataset_size(ds);
    size_t row = ds->files ? 0
                           : (size_t)lps_numel_of(lps_dataset_sample_rank(ds),
                                                  lps_dataset_sample_dims(ds)) *
                                 lps_dtype_size(ds->samples.dtype);
    size_t name_len = strlen(ds->name) + strlen(suffix) + 1;
    part->name = malloc(name_len);
    part->labels_name = ds->labels_name ? strdup(ds->labels_name) : NULL;
    part->labels = ds->labels ? malloc((size_t)count * sizeof *part->labels) : NULL;
    part->samples = ds->samples;
    part->samples.dims[0] = count;
    part->samples.data = ds->files ? NULL : malloc((size_t)count * row);
    part->samples.nbytes = (size_t)count * row;
    part->samples.owns_data = part->samples.data != NULL;
    part->files = ds->files ? calloc(1, sizeof *part->files) : NULL;
    if (part->files) {
        part->files->paths = calloc((size_t)count, sizeof *part->files->paths);
        part->files->height = ds->files->height;
        part->files->width = ds->files->width;
    }
    part->class_names = copy_names(ds->class_names, ds->n_classes);
    part->n_classes = ds->n_classes;
    part->adapt = ds->adapt;
    bool ok = part->name && (!ds->labels_name || part->labels_name) &&
              (!ds->labels || part->labels) && (ds->files || part->samples.data) &&
              (!ds->files || (part->files && part->files->paths)) &&
              (!ds->class_names || part->class_names);
    for (int64_t i = 0, k = 0; ok && i < n; i++) {
        if (in_part[i] != want)
            continue;
        if (ds->files)
            ok = (part->files->paths[part->files->n++] = strdup(ds->files->paths[i])) != NULL;
        else
            memcpy((char *)part->samples.data + (size_t)k * row,
                   (const char *)ds->samples.data + (size_t)i * row, row);
        if (ds->labels)
            part->labels[k] = ds->labels[i];
        k++;
    }
    if (!ok) {
        lps_dataset_release(part);
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory splitting off the validation part",
                        ds->name);
    }
    snprintf(part->name, name_len, "%s%s", ds->name, suffix);
    return LPS_OK;
}

lps_status lps_dataset_split_validation(lps_dataset *ds, double fraction, uint64_t seed,
                                        lps_dataset *val, lps_error *err)
{
    memset(val, 0, sizeof *val);
    if (ds->n_more > 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: --val-split is not supported for data "
                        "with several model inputs; give a test split", ds->name);
    int64_t n = lps_dataset_size(ds);
    int64_t n_val = (int64_t)llround(fraction * (double)n);
    if (!(fraction > 0 && fraction < 1) || n_val < 1 || n_val >= n)
        return lps_fail(err, LPS_ERR_INVALID, "%s: --val-split %g of %lld samples leaves an empty "
                        "part", ds->name, fraction, (long long)n);
    bool *in_val = calloc((size_t)n, sizeof *in_val);
    int64_t *order = malloc((size_t)n * sizeof *order);
    lps_dataset train = {0};
    lps_status st = LPS_OK;
    if (!in_val || !order) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", ds->name);
        goto cleanup;
    }
    /* A seeded partial Fisher-Yates: the first n_val of a permutation. */
    lps_rng rng;
    lps_rng_seed(&rng, seed ^ VAL_SEED_SALT);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    for (int64_t i = 0; i < n_val; i++) {
        int64_t j = i + (int64_t)lps_rng_below(&rng, (uint64_t)(n - i));
        int64_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
        in_val[order[i]] = true;
    }
    st = take_part(ds, in_val, true, n_val, " (validation part)", val, err);
    if (st == LPS_OK)
        st = take_part(ds, in_val, false, n - n_val, "", &train, err);
    if (st != LPS_OK) {
        lps_dataset_release(val);
        goto cleanup;
    }
    val->adapt.augment = LPS_AUGMENT_NONE;
    /* The skipped-file list stays with the training part. */
    train.n_skipped = ds->n_skipped;
    train.skipped = ds->skipped;
    ds->n_skipped = 0;
    ds->skipped = NULL;
    lps_dataset_release(ds);
    *ds = train;
cleanup:
    free(in_val);
    free(order);
    return st;
}
