/* Training fixtures shared by the unit tests of small hand-built
 * classifiers (test_sparsify, test_train_bn): their training options, their
 * logits, and a sparsification session on them. Each aborts the test
 * (ck_assert) on failure, so callers need no checks. */
#ifndef LPS_TEST_TRAIN_H
#define LPS_TEST_TRAIN_H

#include <stdint.h>

#include "lpsparsify/data.h"
#include "lpsparsify/model.h"
#include "sparsity/sparsify.h"
#include "train/trainer.h"

/* The defaults with `epochs` and `batch`, seed 3, base lr 0.05 and the
 * float samples fed as they are (scale 1). */
void test_train_options(lps_train_options *o, int64_t epochs, int64_t batch);

/* n samples of `features` features uniform in [-1, 1] (seed), labelled
 * 2 * (x[a] > 0) + (x[b] > 0): four classes, learnable in a few epochs. */
void test_sign_dataset(lps_dataset *ds, int64_t n, int64_t features, uint64_t seed, int64_t a,
                       int64_t b);

/* The logits of m, one per class of ds, on every sample of ds (malloc'd;
 * the caller frees). */
float *test_logits_of(const lps_model *m, const lps_dataset *ds);

/* Creates the trainer of m on ds and the session of so over its plan; the
 * caller frees both (lps_sparsify_free, lps_trainer_free). */
void test_sparsify_session(lps_model *m, const lps_dataset *ds, const lps_train_options *to,
                           const lps_sparsify_options *so, lps_trainer **t, lps_sparsify **s);

/* Runs the trainer's epochs with hooks (NULL: the session's own), filling
 * stats when not NULL, then lps_sparsify_finish. */
void test_sparsify_train(lps_trainer *t, lps_sparsify *s, const lps_train_hooks *hooks,
                         lps_epoch_stats *stats);

#endif
