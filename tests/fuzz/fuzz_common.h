/* Shared by the dataset fuzz harnesses: after a reader accepted the input,
 * the result goes through the same validation and batching as a real run.
 * Every failure must be a clean lps_status with a one-line message; the
 * sanitizers catch everything else. */
#ifndef LPS_FUZZ_COMMON_H
#define LPS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"
#include "lpsparsify/data.h"

/* Small enough that huge declared shapes are refused quickly. */
#define FUZZ_BUDGET ((size_t)16 << 20)
#define FUZZ_BATCH 3
#define FUZZ_SEED 7
/* Batches larger than this are not worth an execution's time. */
#define FUZZ_MAX_BATCH_VALUES ((int64_t)1 << 20)

/* A message must be one non-empty line. */
static inline void fuzz_check_message(const lps_error *err)
{
    if (err->msg[0] == '\0' || strchr(err->msg, '\n'))
        abort();
}

/* Takes ownership of samples/labels: builds a dataset and runs one
 * shuffled, preprocessed batch over a flat model input. */
static inline void fuzz_exercise(lps_tensor *samples, lps_tensor *labels)
{
    lps_dataset ds;
    lps_error err;
    lps_preprocess pp = {0};
    lps_batch_iter it = {0};
    lps_tensor x = {0};
    int64_t batch_labels[FUZZ_BATCH];
    int64_t count = 0;
    if (lps_dataset_from_tensors(&ds, "fuzz", samples, "fuzz-labels", labels, &err) != LPS_OK) {
        fuzz_check_message(&err);
        return;
    }
    int64_t flat = lps_numel_of(lps_dataset_sample_rank(&ds), lps_dataset_sample_dims(&ds));
    int64_t xdims[] = {FUZZ_BATCH, flat};
    if (flat > FUZZ_MAX_BATCH_VALUES / FUZZ_BATCH) {
        lps_dataset_release(&ds);
        return;
    }
    /* int64 samples (token ids) are batched as int64 and never preprocessed. */
    bool tokens = ds.samples.dtype == LPS_DT_INT64;
    if (lps_dataset_check_shape(&ds, 1, &flat, &err) != LPS_OK
        || (!tokens && lps_preprocess_resolve(&pp, NULL, ds.samples.dtype, 1, &flat, &err) != LPS_OK)
        || lps_batch_iter_init(&it, &ds, FUZZ_BATCH, true, FUZZ_SEED, &err) != LPS_OK
        || lps_tensor_alloc(&x, tokens ? LPS_DT_INT64 : LPS_DT_FLOAT, 2, xdims, &err) != LPS_OK
        || lps_batch_next(&it, tokens ? NULL : &pp, &x, batch_labels, &count, &err) != LPS_OK
        || count < 1 || count > FUZZ_BATCH)
        abort();
    lps_tensor_release(&x);
    lps_batch_iter_release(&it);
    lps_preprocess_release(&pp);
    lps_dataset_release(&ds);
}

typedef lps_status (*fuzz_reader)(lps_source *src, size_t *remaining, lps_tensor *out,
                                  lps_error *err);

/* Reads one array from the bytes; a rank-1 array doubles as labels for a
 * one-feature sample set so that label validation is reached as well. */
static inline void fuzz_array_reader(fuzz_reader read, const uint8_t *data, size_t size,
                                     const char *name)
{
    lps_source src;
    lps_tensor t = {0};
    lps_error err;
    size_t remaining = FUZZ_BUDGET;
    lps_source_open_memory(&src, data, size, name);
    if (read(&src, &remaining, &t, &err) != LPS_OK) {
        fuzz_check_message(&err);
        return;
    }
    if (t.rank == 1 && t.dims[0] > 0) {
        lps_tensor samples = {0};
        lps_tensor labels = t;
        int64_t dims[] = {t.dims[0], 1};
        if (lps_tensor_alloc(&samples, LPS_DT_UINT8, 2, dims, &err) != LPS_OK) {
            lps_tensor_release(&t);
            return;
        }
        fuzz_exercise(&samples, &labels);
        return;
    }
    fuzz_exercise(&t, NULL);
}

#endif
