#include "test_blobs.h"

#include <check.h>
#include <stdlib.h>

#include "test_node.h"

void test_blobs(lps_dataset *ds, int64_t n, int64_t features, int64_t classes, float spread,
                uint64_t seed)
{
    lps_tensor *x = test_tensor_random(2, (int64_t[]){n, features}, -spread, spread, seed);
    int64_t *lab = malloc((size_t)n * sizeof *lab);
    ck_assert_ptr_nonnull(lab);
    for (int64_t i = 0; i < n; i++) {
        lab[i] = i % classes;
        lps_tensor_f32(x)[i * features + lab[i]] += 1.0f;
    }
    lps_tensor *labels = test_tensor_from(LPS_DT_INT64, 1, (int64_t[]){n}, lab);
    free(lab);
    lps_error err;
    ck_assert_int_eq(lps_dataset_from_tensors(ds, "blobs", x, "blobs-labels", labels, &err), LPS_OK);
    lps_tensor_free(x);
    lps_tensor_free(labels);
}
