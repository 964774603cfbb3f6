/* Batches of a dataset shaped for every input of a plan: one batch tensor
 * per model input, filled from the dataset input of the same name (or, for
 * single-input data and models, from the only one), in one shared order. */
#ifndef LPS_TRAIN_FEEDER_H
#define LPS_TRAIN_FEEDER_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/engine.h"

/* One model input's batch. */
typedef struct lps_feed_input {
    size_t data_index;     /* dataset input k feeding it */
    bool has_pp;           /* float inputs are preprocessed, int64 ones never */
    lps_preprocess pp;
    lps_tensor x;          /* [batch, model sample dims...] */
    lps_tensor view;       /* x with dims[0] = samples in the current batch */
} lps_feed_input;

typedef struct lps_feeder {
    const lps_dataset *ds;
    lps_batch_iter it;
    size_t n;              /* the plan's inputs */
    lps_feed_input *in;    /* in plan input order */
    const lps_preprocess **pps; /* per dataset input, for lps_batch_next_inputs */
    lps_tensor **xs;
    int64_t *labels;
    int64_t batch;         /* rows per batch */
} lps_feeder;

/* Prepares f for plan and ds with preprocessing ppo (applied to float
 * inputs), batch rows (a fixed batch dim of the model wins) and shuffling.
 * Fails, f released, with LPS_ERR_INVALID / LPS_ERR_UNSUPPORTED naming the
 * model input without data or whose shape or type the data cannot feed. */
lps_status lps_feeder_init(lps_feeder *f, const lps_plan *plan, const lps_dataset *ds,
                           const lps_preprocess_opts *ppo, int64_t batch, bool shuffle,
                           uint64_t seed, lps_error *err);

/* Next batch into every f->in[i].view; *count is 0 at the end of the epoch. */
lps_status lps_feeder_next(lps_feeder *f, int64_t *count, lps_error *err);

/* Keeps only the first n samples of the current batch (n <= its count):
 * calibration takes an exact number of samples. */
void lps_feeder_limit(lps_feeder *f, int64_t n);

/* Binds the current batch to plan's inputs. */
lps_status lps_feeder_bind(const lps_feeder *f, lps_plan *plan, lps_error *err);

/* Frees everything and zeroes f. f may be NULL. */
void lps_feeder_release(lps_feeder *f);

#endif
