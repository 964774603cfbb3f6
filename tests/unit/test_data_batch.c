/* Preprocessing, option lists, shuffling and batching on in-memory datasets. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/rng.h"
#include "data_test_files.h"
#include "lpsparsify/data.h"
#include "test_suite.h"

/* A dataset of n samples of shape [channels, side] holding uint8 values
 * sample*10 + element (mod 256) and labels sample % classes. */
static void make_uint8_dataset(lps_dataset *ds, int64_t n, int64_t channels, int64_t side,
                               int64_t classes)
{
    lps_tensor samples = {0};
    lps_tensor labels = {0};
    lps_error err = {0};
    int64_t dims[] = {n, channels, side};
    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_UINT8, 3, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&labels, LPS_DT_INT64, 1, &n, &err), LPS_OK);
    uint8_t *x = samples.data;
    for (int64_t i = 0; i < n * channels * side; i++)
        x[i] = (uint8_t)((i / (channels * side)) * 10 + i % (channels * side));
    for (int64_t i = 0; i < n; i++)
        lps_tensor_i64(&labels)[i] = i % classes;
    ck_assert_msg(lps_dataset_from_tensors(ds, "mem", &samples, "mem-labels", &labels, &err)
                  == LPS_OK, "%s", err.msg);
}

START_TEST(preprocess_per_channel_math)
{
    lps_preprocess_opts opts = {0};
    lps_preprocess pp = {0};
    lps_error err = {0};
    opts.has_scale = true;
    opts.scale = 0.5;
    opts.n_mean = 2;
    opts.mean[0] = 1.0;
    opts.mean[1] = -2.0;
    opts.n_std = 1;
    opts.std[0] = 4.0;
    int64_t dims[] = {2, 3};
    ck_assert_int_eq(lps_preprocess_resolve(&pp, &opts, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(pp.channels, 2);
    ck_assert_int_eq(pp.per_channel, 3);
    float x[] = {2, 4, 6, 8, 10, 12, 0, 0, 0, 1, 1, 1};
    float want[12];
    for (int i = 0; i < 12; i++) {
        int c = (i / 3) % 2;
        want[i] = (float)((x[i] * 0.5 - opts.mean[c]) / 4.0);
    }
    lps_preprocess_apply(&pp, x, 2);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq_tol(x[i], want[i], 1e-6f);
    lps_preprocess_release(&pp);

    /* Defaults: 1/255 for uint8 sources, identity for float ones. */
    ck_assert_int_eq(lps_preprocess_resolve(&pp, NULL, LPS_DT_UINT8, 2, dims, &err), LPS_OK);
    ck_assert_float_eq_tol(pp.gain[1], 1.0f / 255.0f, 1e-9f);
    ck_assert_float_eq(pp.bias[1], 0.0f);
    lps_preprocess_release(&pp);
    ck_assert_int_eq(lps_preprocess_resolve(&pp, NULL, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    ck_assert_float_eq(pp.gain[0], 1.0f);
    lps_preprocess_release(&pp);

    opts.n_mean = 3;
    ck_assert_int_eq(lps_preprocess_resolve(&pp, &opts, LPS_DT_FLOAT, 2, dims, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "--mean has 3 values");
    opts.n_mean = 1;
    opts.std[0] = 0.0;
    ck_assert_int_eq(lps_preprocess_resolve(&pp, &opts, LPS_DT_FLOAT, 2, dims, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "std 0");
    ck_assert_ptr_null(pp.gain);
    lps_preprocess_release(NULL);
}
END_TEST

START_TEST(value_lists_parse_and_reject)
{
    double v[LPS_PREPROCESS_MAX_VALUES];
    int n = 0;
    lps_error err = {0};
    ck_assert_int_eq(lps_parse_value_list("0.5,1/4,-2e1", "--mean", v, 4, &n, &err), LPS_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_double_eq(v[0], 0.5);
    ck_assert_double_eq(v[1], 0.25);
    ck_assert_double_eq(v[2], -20.0);
    ck_assert_int_eq(lps_parse_value_list("1/255", "--scale", v, 1, &n, &err), LPS_OK);
    ck_assert_double_eq_tol(v[0], 1.0 / 255.0, 1e-15);
    ck_assert_int_eq(lps_parse_value_list("1,x", "--std", v, 4, &n, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "--std");
    ck_assert_int_eq(lps_parse_value_list("1,2,3", "--std", v, 2, &n, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_parse_value_list("nan", "--mean", v, 2, &n, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_parse_value_list("1/0", "--scale", v, 2, &n, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_parse_value_list("1,", "--mean", v, 2, &n, &err), LPS_ERR_INVALID);
    ck_assert_int_eq(lps_parse_value_list("", "--mean", v, 2, &n, &err), LPS_ERR_INVALID);
}
END_TEST

/* Collects one epoch's sample order (recovered from the first pixel). */
static void epoch_order(lps_batch_iter *it, uint64_t epoch, int64_t *order, int64_t n)
{
    enum { BATCH = 4, CH = 1, SIDE = 3 };
    lps_tensor x = {0};
    lps_error err = {0};
    int64_t dims[] = {BATCH, CH * SIDE};
    int64_t labels[BATCH];
    int64_t count = 0, seen = 0;
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    lps_batch_iter_start_epoch(it, epoch);
    do {
        ck_assert_int_eq(lps_batch_next(it, NULL, &x, labels, &count, &err), LPS_OK);
        for (int64_t b = 0; b < count; b++) {
            ck_assert_int_lt(seen, n);
            order[seen++] = (int64_t)lps_tensor_f32(&x)[b * CH * SIDE] / 10;
        }
    } while (count > 0);
    ck_assert_int_eq(seen, n);
    lps_tensor_release(&x);
}

START_TEST(shuffle_is_deterministic_and_a_permutation)
{
    enum { N = 20 };
    lps_dataset ds;
    lps_batch_iter a = {0}, b = {0}, c = {0};
    lps_error err = {0};
    int64_t oa[N], ob[N], oc[N], next_epoch[N];
    make_uint8_dataset(&ds, N, 1, 3, 4);
    ck_assert_int_eq(lps_batch_iter_init(&a, &ds, 4, true, 42, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&b, &ds, 4, true, 42, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&c, &ds, 4, true, 43, &err), LPS_OK);
    epoch_order(&a, 0, oa, N);
    epoch_order(&b, 0, ob, N);
    epoch_order(&c, 0, oc, N);
    ck_assert_mem_eq(oa, ob, sizeof oa);
    ck_assert(memcmp(oa, oc, sizeof oa) != 0);
    epoch_order(&a, 1, next_epoch, N);
    ck_assert(memcmp(oa, next_epoch, sizeof oa) != 0);
    /* Epoch k's order depends only on (seed, k), not on what ran before. */
    epoch_order(&b, 1, ob, N);
    ck_assert_mem_eq(next_epoch, ob, sizeof ob);
    int seen[N] = {0};
    for (int i = 0; i < N; i++)
        seen[oa[i]]++;
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    lps_batch_iter_release(&a);
    lps_batch_iter_release(&b);
    lps_batch_iter_release(&c);
    lps_dataset_release(&ds);
}
END_TEST

/* The sample ids of the next batch of it into ids; returns the count. */
static int64_t next_ids(lps_batch_iter *it, lps_tensor *x, int64_t *ids)
{
    lps_error err = {0};
    int64_t labels[64], count = 0;
    ck_assert_int_eq(lps_batch_next(it, NULL, x, labels, &count, &err), LPS_OK);
    int64_t row = lps_tensor_numel(x) / x->dims[0];
    for (int64_t b = 0; b < count; b++)
        ids[b] = (int64_t)lps_tensor_f32(x)[b * row] / 10;
    return count;
}

/* Shard k of K at batch B walks its part of every global batch of K * B, as
 * one unsharded iterator at batch K * B orders them (docs/distributed.md). */
static void check_shards(int64_t n, int64_t batch, int shards)
{
    enum { SIDE = 3, MAX = 64 };
    lps_dataset ds;
    lps_batch_iter whole = {0}, part = {0};
    lps_tensor xw = {0}, xp = {0};
    lps_error err = {0};
    int64_t gdims[] = {batch * shards, SIDE}, pdims[] = {batch, SIDE};
    int64_t global[MAX], mine[MAX];
    make_uint8_dataset(&ds, n, 1, SIDE, 4);
    ck_assert_int_eq(lps_tensor_alloc(&xw, LPS_DT_FLOAT, 2, gdims, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&xp, LPS_DT_FLOAT, 2, pdims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&whole, &ds, batch * shards, true, 5, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&part, &ds, batch, true, 5, &err), LPS_OK);
    lps_batch_iter_set_shard(&part, 0, shards);
    int64_t steps = lps_batch_iter_global_batches(&part);
    ck_assert_int_eq(steps, (n + batch * shards - 1) / (batch * shards));
    for (uint64_t epoch = 0; epoch < 2; epoch++) {
        lps_batch_iter_start_epoch(&whole, epoch);
        for (int64_t b = 0; b < steps; b++) {
            int64_t g = next_ids(&whole, &xw, global);
            ck_assert_int_eq(g, lps_batch_iter_global_count(&part, b));
            int64_t at = 0;
            for (int k = 0; k < shards; k++) {
                /* Rewinding replays the same order: walk shard k to batch b. */
                lps_batch_iter_set_shard(&part, k, shards);
                lps_batch_iter_start_epoch(&part, epoch);
                int64_t c = 0;
                for (int64_t j = 0; j <= b; j++)
                    c = next_ids(&part, &xp, mine);
                ck_assert_int_eq(c, (k + 1) * g / shards - k * g / shards);
                ck_assert_mem_eq(mine, global + at, (size_t)c * sizeof *mine);
                at += c;
            }
            ck_assert_int_eq(at, g);
        }
    }
    lps_batch_iter_release(&whole);
    lps_batch_iter_release(&part);
    lps_tensor_release(&xw);
    lps_tensor_release(&xp);
    lps_dataset_release(&ds);
}

START_TEST(shards_split_every_global_batch)
{
    check_shards(23, 4, 3); /* last global batch of 11: parts of 3, 4 and 4 */
    check_shards(25, 4, 3); /* last global batch of 1: two shards get nothing */
    check_shards(20, 5, 2); /* no partial batch */
    check_shards(7, 4, 1);  /* one shard: the unsharded order */
}
END_TEST

/* uint8 samples become floats BYTE_LANES at a time plus a scalar tail
 * (src/data/batch.c): a sample of two whole vectors and a tail, fed
 * without preprocessing, gives back every byte's value exactly. */
START_TEST(uint8_samples_convert_exactly)
{
    enum { N = 3, SIDE = 2 * 16 + 5 };
    lps_dataset ds;
    lps_batch_iter it = {0};
    lps_tensor x = {0};
    lps_error err = {0};
    int64_t labels[N], count = 0;
    make_uint8_dataset(&ds, N, 1, SIDE, 2);
    int64_t xdims[] = {N, 1, SIDE};
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 3, xdims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, N, false, 0, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_next(&it, NULL, &x, labels, &count, &err), LPS_OK);
    ck_assert_int_eq(count, N);
    const uint8_t *bytes = lps_dataset_input_samples(&ds, 0)->data;
    for (int64_t i = 0; i < N * SIDE; i++)
        ck_assert_msg(lps_tensor_f32(&x)[i] == (float)bytes[i], "element %lld: %g, byte %u",
                      (long long)i, (double)lps_tensor_f32(&x)[i], bytes[i]);
    lps_batch_iter_release(&it);
    lps_tensor_release(&x);
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(partial_last_batch_is_kept)
{
    enum { N = 10, BATCH = 4, CH = 2, SIDE = 2 };
    lps_dataset ds;
    lps_batch_iter it = {0};
    lps_preprocess pp = {0};
    lps_tensor x = {0};
    lps_error err = {0};
    int64_t labels[BATCH];
    int64_t count = 0;
    make_uint8_dataset(&ds, N, CH, SIDE, 3);
    int64_t model[] = {CH, SIDE};
    int64_t xdims[] = {BATCH, CH, SIDE};
    ck_assert_int_eq(lps_preprocess_resolve(&pp, NULL, LPS_DT_UINT8, 2, model, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 3, xdims, &err), LPS_OK);
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, BATCH, false, 0, &err), LPS_OK);
    int64_t sizes[3];
    for (int k = 0; k < 3; k++) {
        lps_tensor_f32(&x)[BATCH * CH * SIDE - 1] = 99.0f;
        ck_assert_int_eq(lps_batch_next(&it, &pp, &x, labels, &count, &err), LPS_OK);
        sizes[k] = count;
        ck_assert_int_eq(labels[0], (k * BATCH) % 3);
    }
    ck_assert_int_eq(sizes[0], BATCH);
    ck_assert_int_eq(sizes[1], BATCH);
    ck_assert_int_eq(sizes[2], N - 2 * BATCH);
    /* Sample 9, element 3 was 93: scaled by 1/255. Rows past the end are 0. */
    ck_assert_float_eq_tol(lps_tensor_f32(&x)[1 * CH * SIDE + 3], 93.0f / 255.0f, 1e-6f);
    ck_assert_float_eq(lps_tensor_f32(&x)[BATCH * CH * SIDE - 1], 0.0f);
    ck_assert_int_eq(lps_batch_next(&it, &pp, &x, labels, &count, &err), LPS_OK);
    ck_assert_int_eq(count, 0);

    /* A batch tensor for another sample size is refused. */
    int64_t wrong[] = {BATCH, 5};
    ck_assert_int_eq(lps_tensor_alloc(&x, LPS_DT_FLOAT, 2, wrong, &err), LPS_OK);
    lps_batch_iter_start_epoch(&it, 0);
    ck_assert_int_eq(lps_batch_next(&it, &pp, &x, labels, &count, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "[4, 5]");
    lps_batch_iter_release(&it);
    ck_assert_int_eq(lps_batch_iter_init(&it, &ds, 0, false, 0, &err), LPS_ERR_INVALID);
    lps_tensor_release(&x);
    lps_preprocess_release(&pp);
    lps_batch_iter_release(&it);
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(from_tensors_validates)
{
    lps_tensor samples = {0};
    lps_tensor labels = {0};
    lps_dataset ds;
    lps_error err = {0};
    int64_t dims[] = {2, 2};
    int64_t two = 2, three = 3;
    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_FLOAT, 2, dims, &err), LPS_OK);
    lps_tensor_f32(&samples)[3] = INFINITY;
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "inf.bin", &samples, NULL, NULL, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "inf.bin: sample 1 holds Inf at element 1");
    ck_assert_ptr_null(samples.data);

    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_INT32, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "i32.bin", &samples, NULL, NULL, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "int32");

    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_UINT8, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&labels, LPS_DT_INT64, 1, &three, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "x.bin", &samples, "y.bin", &labels, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "y.bin");

    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_UINT8, 2, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_tensor_alloc(&labels, LPS_DT_INT64, 1, &two, &err), LPS_OK);
    lps_tensor_i64(&labels)[1] = LPS_DATA_MAX_CLASSES;
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "x.bin", &samples, "y.bin", &labels, &err),
                     LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "y.bin: label 1048576 of sample 1");
    lps_dataset_release(NULL);
}
END_TEST

START_TEST(shape_check_allows_squeeze_and_flatten_only)
{
    lps_tensor samples = {0};
    lps_dataset ds;
    lps_error err = {0};
    int64_t dims[] = {1, 3, 4, 2};
    ck_assert_int_eq(lps_tensor_alloc(&samples, LPS_DT_UINT8, 4, dims, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_from_tensors(&ds, "chw", &samples, NULL, NULL, &err), LPS_OK);
    int64_t same[] = {3, 4, 2};
    int64_t batched_one[] = {1, 3, 1, 4, 2};
    int64_t flat[] = {24};
    int64_t permuted[] = {4, 2, 3};
    int64_t bigger[] = {3, 4, 3};
    int64_t not_image[] = {5, 4, 2};
    int64_t dynamic[] = {3, -1, 2};
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 3, same, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 5, batched_one, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 1, flat, &err), LPS_OK);
    /* An RGB image feeds an NHWC input and another size by adaptation. */
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 3, permuted, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 3, bigger, &err), LPS_OK);
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 3, not_image, &err), LPS_ERR_INVALID);
    ck_assert_error(err, LPS_ERR_INVALID, "chw: sample shape [3, 4, 2]");
    ck_assert_error(err, LPS_ERR_INVALID, "[5, 4, 2]");
    ck_assert_int_eq(lps_dataset_check_shape(&ds, 3, dynamic, &err), LPS_ERR_INVALID);
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(rng_below_stays_in_range)
{
    lps_rng rng;
    lps_rng_seed(&rng, 0);
    int hits[3] = {0};
    for (int i = 0; i < 3000; i++) {
        uint64_t v = lps_rng_below(&rng, 3);
        ck_assert_uint_lt(v, 3);
        hits[v]++;
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_gt(hits[i], 800);
    ck_assert_uint_eq(lps_rng_below(&rng, 1), 0);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"batch", preprocess_per_channel_math, 1},
        {"batch", value_lists_parse_and_reject, 1},
        {"batch", shuffle_is_deterministic_and_a_permutation, 1},
        {"batch", uint8_samples_convert_exactly, 1},
        {"batch", partial_last_batch_is_kept, 1},
        {"batch", shards_split_every_global_batch, 1},
        {"batch", from_tensors_validates, 1},
        {"batch", shape_check_allows_squeeze_and_flatten_only, 1},
        {"batch", rng_below_stays_in_range, 1},
    };
    return test_run_table("data_batch", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
