/* Synthetic classification data for training tests: n samples of
 * `features` uniform values in [-spread, spread) from seed, label i %
 * classes, with 1 added to feature `label` so the classes are separable.
 * Aborts the test on failure; release ds with lps_dataset_release. */
#ifndef LPS_TEST_BLOBS_H
#define LPS_TEST_BLOBS_H

#include <stdint.h>

#include "lpsparsify/data.h"

void test_blobs(lps_dataset *ds, int64_t n, int64_t features, int64_t classes, float spread,
                uint64_t seed);

#endif
