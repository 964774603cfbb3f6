/* Datasets for models with several inputs (docs/data.md, "Several model
 * inputs"): one NPY file per model input, found in a directory as
 * S.NAME.npy or listed in the spec as NAME=FILE,..., all with the same
 * number of samples. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/formats.h"
#include "data/inputs.h"
#include "lpsparsify/data.h"

/* The spec key naming the labels file in the NAME=FILE form. */
#define LABELS_KEY "labels"
/* Longest NAME=FILE list. */
#define MAX_PAIRS 64

const lps_tensor *lps_dataset_input_samples(const lps_dataset *ds, size_t k)
{
    return k == 0 ? &ds->samples : &ds->more[k - 1].samples;
}

int lps_dataset_find_input(const lps_dataset *ds, const char *name, size_t n_model_inputs,
                           lps_error *err)
{
    if (ds->n_more == 0 && n_model_inputs == 1 && (!ds->input || strcmp(ds->input, name) == 0))
        return 0;
    if (ds->input && strcmp(ds->input, name) == 0)
        return 0;
    for (size_t k = 0; k < ds->n_more; k++)
        if (strcmp(ds->more[k].input, name) == 0)
            return (int)k + 1;
    lps_fail(err, LPS_ERR_INVALID,
             "%s: no samples for model input '%s' (the model has %zu inputs; give one NPY file "
             "per input, see docs/data.md)",
             ds->name, name, n_model_inputs);
    return -1;
}

lps_status lps_dataset_add_input(lps_dataset *ds, const char *input, const char *name,
                                 lps_tensor *samples, lps_error *err)
{
    lps_status st = lps_dataset_check_samples(name, samples, err);
    if (st == LPS_OK && samples->dims[0] != lps_dataset_size(ds))
        st = lps_fail(err, LPS_ERR_INVALID, "%s: %lld samples for input '%s', but %s has %lld",
                      name, (long long)samples->dims[0], input, ds->name,
                      (long long)lps_dataset_size(ds));
    lps_dataset_input *grown = NULL;
    if (st == LPS_OK && !(grown = realloc(ds->more, (ds->n_more + 1) * sizeof *grown)))
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
    if (st != LPS_OK) {
        lps_tensor_release(samples);
        return st;
    }
    ds->more = grown;
    lps_dataset_input *in = &ds->more[ds->n_more];
    memset(in, 0, sizeof *in);
    in->input = strdup(input);
    in->name = strdup(name);
    in->samples = *samples;
    memset(samples, 0, sizeof *samples);
    ds->n_more++;
    if (!in->input || !in->name)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
    return LPS_OK;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads one NPY file within *remaining bytes of budget. */
static lps_status read_npy(const char *path, size_t *remaining, lps_tensor *out, lps_error *err)
{
    lps_source src;
    lps_status st = lps_source_open_file(&src, path, err);
    if (st == LPS_OK)
        st = lps_npy_read(&src, remaining, out, err);
    lps_source_close(&src);
    return st;
}

/* Loads files[0] (with labels when non-NULL) as the dataset's samples for
 * inputs[0], then files[k] for inputs[k]. */
static lps_status load_named(lps_dataset *ds, size_t n, const char *const *inputs,
                             char (*files)[PATH_MAX], const char *labels,
                             const lps_data_options *opt, lps_error *err)
{
    size_t budget = opt ? opt->memory_budget : 0;
    lps_status st = lps_dataset_load_npy(ds, files[0], labels, budget, err);
    if (st != LPS_OK)
        return st;
    size_t remaining = lps_data_budget(budget);
    remaining = remaining > ds->samples.nbytes ? remaining - ds->samples.nbytes : 0;
    if (!(ds->input = strdup(inputs[0])))
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", files[0]);
    for (size_t k = 1; k < n && st == LPS_OK; k++) {
        lps_tensor t = {0};
        st = read_npy(files[k], &remaining, &t, err);
        if (st == LPS_OK)
            st = lps_dataset_add_input(ds, inputs[k], files[k], &t, err);
    }
    if (st != LPS_OK)
        lps_dataset_release(ds);
    return st;
}

/* dir/STEM.NAME.npy[.gz] into out, NAME with '/' written as '_'; false
 * when neither exists. */
static bool find_named(char *out, size_t size, const char *dir, const char *stem, const char *name)
{
    char safe[PATH_MAX];
    snprintf(safe, sizeof safe, "%s", name);
    for (char *c = safe; *c; c++)
        if (*c == '/')
            *c = '_';
    static const char *const suffixes[] = {"", ".gz"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        int len = snprintf(out, size, "%s/%s.%s.npy%s", dir, stem, safe, suffixes[i]);
        if (len >= 0 && (size_t)len < size && is_regular_file(out))
            return true;
    }
    return false;
}

lps_status lps_data_open_named_dir(lps_dataset *ds, const char *dir, const char *stem,
                                   const lps_data_options *opt, bool *found, lps_error *err)
{
    size_t n = opt ? opt->n_input_names : 0;
    char(*files)[PATH_MAX] = NULL;
    char labels[PATH_MAX];
    lps_status st = LPS_OK;
    memset(ds, 0, sizeof *ds);
    *found = false;
    if (n == 0)
        return LPS_OK;
    if (!(files = calloc(n, sizeof *files)))
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", dir);
    size_t have = 0;
    for (size_t k = 0; k < n; k++)
        have += find_named(files[k], sizeof files[k], dir, stem, opt->input_names[k]);
    *found = have > 0;
    if (have > 0 && have < n) {
        size_t k = 0;
        while (find_named(files[k], sizeof files[k], dir, stem, opt->input_names[k]))
            k++;
        st = lps_fail(err, LPS_ERR_INVALID, "%s: no %s.%s.npy for model input '%s' (found files "
                      "for %zu of the model's %zu inputs)", dir, stem, opt->input_names[k],
                      opt->input_names[k], have, n);
    } else if (have == n) {
        int len = snprintf(labels, sizeof labels, "%s/%s_labels.npy", dir, stem);
        bool has_labels = len > 0 && (size_t)len < sizeof labels && is_regular_file(labels);
        if (!has_labels && (size_t)snprintf(labels, sizeof labels, "%s/%s_labels.npy.gz", dir,
                                            stem) < sizeof labels)
            has_labels = is_regular_file(labels);
        st = load_named(ds, n, opt->input_names, files, has_labels ? labels : NULL, opt, err);
    }
    free(files);
    return st;
}

/* Splits "NAME=FILE,NAME=FILE" (in a copy held by text) into keys/values. */
static lps_status split_pairs(const char *spec, char *text, size_t size, char **keys,
                              char **values, size_t *n, lps_error *err)
{
    if ((size_t)snprintf(text, size, "%s", spec) >= size)
        return lps_fail(err, LPS_ERR_INVALID, "--data: spec too long");
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || eq[1] == '\0')
            return lps_fail(err, LPS_ERR_INVALID,
                            "--data '%s': '%s' is not NAME=FILE (NAME a model input or 'labels')",
                            spec, tok);
        if (*n == MAX_PAIRS)
            return lps_fail(err, LPS_ERR_INVALID, "--data '%s': more than %d files", spec,
                            MAX_PAIRS);
        *eq = '\0';
        keys[*n] = tok;
        values[(*n)++] = eq + 1;
    }
    return LPS_OK;
}

/* Whether name is one of the model's inputs (any name when they are unknown). */
static bool is_model_input(const lps_data_options *opt, const char *name)
{
    if (!opt || !opt->input_names)
        return true;
    for (size_t k = 0; k < opt->n_input_names; k++)
        if (strcmp(opt->input_names[k], name) == 0)
            return true;
    return false;
}

/* Fails unless every model input has a file (when the inputs are known). */
static lps_status check_all_given(const char *spec, const lps_data_options *opt,
                                  char *const *keys, size_t n, lps_error *err)
{
    for (size_t k = 0; opt && opt->input_names && k < opt->n_input_names; k++) {
        size_t j = 0;
        while (j < n && strcmp(keys[j], opt->input_names[k]) != 0)
            j++;
        if (j == n)
            return lps_fail(err, LPS_ERR_INVALID, "--data '%s': no file for model input '%s'",
                            spec, opt->input_names[k]);
    }
    return LPS_OK;
}

lps_status lps_data_open_pairs(lps_dataset *ds, const char *spec, const lps_data_options *opt,
                               lps_error *err)
{
    char text[PATH_MAX * 4];
    char *keys[MAX_PAIRS], *values[MAX_PAIRS];
    const char *inputs[MAX_PAIRS];
    char(*files)[PATH_MAX] = NULL;
    const char *labels = NULL;
    size_t n = 0, n_inputs = 0;
    memset(ds, 0, sizeof *ds);
    lps_status st = split_pairs(spec, text, sizeof text, keys, values, &n, err);
    if (st == LPS_OK && !(files = calloc(n ? n : 1, sizeof *files)))
        st = lps_fail(err, LPS_ERR_NOMEM, "--data: out of memory");
    for (size_t k = 0; k < n && st == LPS_OK; k++) {
        bool labels_input = opt && opt->input_names && is_model_input(opt, LABELS_KEY);
        if (strcmp(keys[k], LABELS_KEY) == 0 && !labels_input) {
            labels = values[k];
            continue;
        }
        bool repeated = false;
        for (size_t j = 0; j < k; j++)
            repeated = repeated || strcmp(keys[j], keys[k]) == 0;
        if (repeated)
            st = lps_fail(err, LPS_ERR_INVALID, "--data '%s': '%s' is given twice", spec, keys[k]);
        else if (!is_model_input(opt, keys[k]))
            st = lps_fail(err, LPS_ERR_INVALID, "--data '%s': '%s' is not an input of the model",
                          spec, keys[k]);
        else if (!is_regular_file(values[k]))
            st = lps_fail(err, LPS_ERR_INVALID, "%s: no such file (for input '%s')", values[k],
                          keys[k]);
        else {
            snprintf(files[n_inputs], PATH_MAX, "%s", values[k]);
            inputs[n_inputs++] = keys[k];
        }
    }
    if (st == LPS_OK)
        st = check_all_given(spec, opt, keys, n, err);
    if (st == LPS_OK && n_inputs == 0)
        st = lps_fail(err, LPS_ERR_INVALID, "--data '%s': no input file", spec);
    if (st == LPS_OK)
        st = load_named(ds, n_inputs, inputs, files, labels, opt, err);
    free(files);
    return st;
}
