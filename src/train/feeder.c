#include "train/feeder.h"

#include <stdlib.h>
#include <string.h>

/* The model input's dims with symbolic or unknown ones taken from the
 * samples (dataset input k), the batch dim set to batch unless fixed. */
static lps_status input_dims(const lps_value_info *vi, const lps_dataset *ds, size_t k,
                             int64_t batch, int *rank, int64_t *dims, lps_error *err)
{
    const lps_tensor *samples = lps_dataset_input_samples(ds, k);
    int srank = samples->rank - 1;
    const int64_t *sdims = samples->dims + 1;
    if (vi->rank < 1) {
        *rank = srank + 1;
        memcpy(dims + 1, sdims, (size_t)srank * sizeof *dims);
    } else {
        *rank = vi->rank;
        for (int d = 1; d < vi->rank; d++) {
            bool fixed = !vi->dims[d].symbol && vi->dims[d].value >= 0;
            if (fixed)
                dims[d] = vi->dims[d].value;
            else if (vi->rank == srank + 1)
                dims[d] = sdims[d - 1];
            else
                return lps_fail(err, LPS_ERR_UNSUPPORTED,
                                "input '%s': dim %d is not fixed and the data cannot supply it",
                                vi->name, d);
        }
    }
    dims[0] = batch;
    if (vi->rank >= 1 && !vi->dims[0].symbol && vi->dims[0].value > 0)
        dims[0] = vi->dims[0].value; /* a fixed batch dim wins over --batch */
    return lps_dataset_check_input_shape(ds, k, *rank - 1, dims + 1, err);
}

/* int64 samples feed int64 inputs; uint8 and float32 samples float ones. */
static lps_status check_dtype(const lps_value_info *vi, const lps_dataset *ds, size_t k,
                              lps_dtype *batch_dtype, lps_error *err)
{
    lps_dtype sd = lps_dataset_input_samples(ds, k)->dtype;
    *batch_dtype = sd == LPS_DT_INT64 ? LPS_DT_INT64 : LPS_DT_FLOAT;
    lps_dtype want = vi->dtype == LPS_DT_UNDEFINED ? *batch_dtype : vi->dtype;
    if (want == *batch_dtype)
        return LPS_OK;
    return lps_fail(err, LPS_ERR_INVALID, "%s: %s samples cannot feed model input '%s' of type %s",
                    k == 0 ? ds->name : ds->more[k - 1].name, lps_dtype_name(sd), vi->name,
                    lps_dtype_name(vi->dtype));
}

/* Sets up the batch of plan input i. */
static lps_status input_init(lps_feeder *f, const lps_plan *plan, size_t i,
                             const lps_preprocess_opts *ppo, int64_t batch, lps_error *err)
{
    const lps_value_info *vi = lps_plan_input_info(plan, i);
    lps_feed_input *in = &f->in[i];
    int rank = 0;
    int64_t dims[LPS_MAX_RANK] = {0};
    lps_dtype dtype;
    int k = lps_dataset_find_input(f->ds, vi->name, f->n, err);
    if (k < 0)
        return LPS_ERR_INVALID;
    in->data_index = (size_t)k;
    lps_status st = check_dtype(vi, f->ds, in->data_index, &dtype, err);
    if (st == LPS_OK)
        st = input_dims(vi, f->ds, in->data_index, batch, &rank, dims, err);
    if (st == LPS_OK && dtype == LPS_DT_FLOAT) {
        in->has_pp = true;
        st = lps_preprocess_resolve(&in->pp, ppo, lps_dataset_input_samples(f->ds, in->data_index)->dtype,
                                    rank - 1, dims + 1, err);
    }
    if (st == LPS_OK)
        st = lps_tensor_alloc(&in->x, dtype, rank, dims, err);
    if (st == LPS_OK && i > 0 && dims[0] != f->batch)
        st = lps_fail(err, LPS_ERR_UNSUPPORTED, "input '%s' has a fixed batch of %lld, another "
                      "input one of %lld", vi->name, (long long)dims[0], (long long)f->batch);
    f->batch = dims[0];
    if (st == LPS_OK && f->xs[in->data_index])
        st = lps_fail(err, LPS_ERR_INVALID, "model input '%s' shares its data with another input",
                      vi->name);
    f->xs[in->data_index] = &in->x;
    f->pps[in->data_index] = in->has_pp ? &in->pp : NULL;
    return st;
}

/* Fails when a dataset input feeds no model input: a misnamed file. */
static lps_status check_all_used(const lps_feeder *f, lps_error *err)
{
    for (size_t k = 0; k < lps_dataset_n_inputs(f->ds); k++) {
        if (f->xs[k])
            continue;
        const char *file = k == 0 ? f->ds->name : f->ds->more[k - 1].name;
        const char *input = k == 0 ? f->ds->input : f->ds->more[k - 1].input;
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not an input of the model", file,
                        input ? input : "(unnamed)");
    }
    return LPS_OK;
}

lps_status lps_feeder_init(lps_feeder *f, const lps_plan *plan, const lps_dataset *ds,
                           const lps_preprocess_opts *ppo, int64_t batch, bool shuffle,
                           uint64_t seed, lps_error *err)
{
    size_t n_data = lps_dataset_n_inputs(ds);
    memset(f, 0, sizeof *f);
    f->ds = ds;
    f->n = lps_plan_n_inputs(plan);
    lps_status st = LPS_OK;
    f->in = calloc(f->n ? f->n : 1, sizeof *f->in);
    f->pps = calloc(n_data, sizeof *f->pps);
    f->xs = calloc(n_data, sizeof *f->xs);
    if (!f->in || !f->pps || !f->xs)
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for a batch");
    if (st == LPS_OK && f->n == 0)
        st = lps_fail(err, LPS_ERR_UNSUPPORTED, "the model has no inputs to feed");
    for (size_t i = 0; i < f->n && st == LPS_OK; i++)
        st = input_init(f, plan, i, ppo, batch, err);
    if (st == LPS_OK)
        st = check_all_used(f, err);
    if (st == LPS_OK)
        st = lps_batch_iter_init(&f->it, ds, f->batch, shuffle, seed, err);
    if (st == LPS_OK && !(f->labels = calloc((size_t)f->batch, sizeof *f->labels)))
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for a batch of labels");
    if (st != LPS_OK)
        lps_feeder_release(f);
    return st;
}

lps_status lps_feeder_next(lps_feeder *f, int64_t *count, lps_error *err)
{
    lps_status st = lps_batch_next_inputs(&f->it, lps_dataset_n_inputs(f->ds), f->pps, f->xs,
                                          f->ds->labels ? f->labels : NULL, count, err);
    if (st != LPS_OK || *count == 0)
        return st;
    for (size_t i = 0; i < f->n; i++) {
        lps_feed_input *in = &f->in[i];
        in->view = in->x;
        in->view.owns_data = false;
        in->view.dims[0] = *count;
        in->view.nbytes = in->x.nbytes / (size_t)in->x.dims[0] * (size_t)*count;
    }
    return LPS_OK;
}

void lps_feeder_limit(lps_feeder *f, int64_t n)
{
    for (size_t i = 0; i < f->n; i++) {
        lps_feed_input *in = &f->in[i];
        if (n >= in->view.dims[0])
            continue;
        in->view.nbytes = in->view.nbytes / (size_t)in->view.dims[0] * (size_t)n;
        in->view.dims[0] = n;
    }
}

lps_status lps_feeder_bind(const lps_feeder *f, lps_plan *plan, lps_error *err)
{
    for (size_t i = 0; i < f->n; i++) {
        lps_status st = lps_plan_set_input(plan, i, &f->in[i].view, err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

void lps_feeder_release(lps_feeder *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->in && i < f->n; i++) {
        lps_preprocess_release(&f->in[i].pp);
        lps_tensor_release(&f->in[i].x);
    }
    free(f->in);
    free(f->pps);
    free(f->xs);
    lps_batch_iter_release(&f->it);
    free(f->labels);
    memset(f, 0, sizeof *f);
}
