#include "test_train.h"

#include <check.h>
#include <stdlib.h>

#include "test_node.h"

void test_train_options(lps_train_options *o, int64_t epochs, int64_t batch)
{
    lps_train_options_default(o);
    o->epochs = epochs;
    o->batch_size = batch;
    o->seed = 3;
    o->lr.base_lr = 0.05;
    o->preprocess.has_scale = true;
    o->preprocess.scale = 1.0;
}

void test_sign_dataset(lps_dataset *ds, int64_t n, int64_t features, uint64_t seed, int64_t a,
                       int64_t b)
{
    lps_tensor *x = test_tensor_random(2, (int64_t[]){n, features}, -1.0f, 1.0f, seed);
    int64_t *lab = malloc((size_t)n * sizeof *lab);
    ck_assert_ptr_nonnull(lab);
    const float *xf = lps_tensor_f32(x);
    for (int64_t i = 0; i < n; i++)
        lab[i] = (xf[i * features + a] > 0) * 2 + (xf[i * features + b] > 0);
    lps_tensor *labels = test_tensor_from(LPS_DT_INT64, 1, (int64_t[]){n}, lab);
    lps_error err;
    ck_assert_int_eq(lps_dataset_from_tensors(ds, "signs", x, "signs-labels", labels, &err),
                     LPS_OK);
    free(lab);
    lps_tensor_free(x);
    lps_tensor_free(labels);
}

float *test_logits_of(const lps_model *m, const lps_dataset *ds)
{
    return test_model_output(m, &ds->samples, ds->samples.dims[0] * ds->n_classes);
}

void test_sparsify_session(lps_model *m, const lps_dataset *ds, const lps_train_options *to,
                           const lps_sparsify_options *so, lps_trainer **t, lps_sparsify **s)
{
    lps_error err = {0};
    *t = lps_trainer_create(m, ds, NULL, to, &err);
    ck_assert_msg(*t != NULL, "%s", err.msg);
    *s = lps_sparsify_create(m, lps_trainer_plan(*t), so, to, &err);
    ck_assert_msg(*s != NULL, "%s", err.msg);
}

void test_sparsify_train(lps_trainer *t, lps_sparsify *s, const lps_train_hooks *hooks,
                         lps_epoch_stats *stats)
{
    lps_error err = {0};
    lps_train_hooks own = {0};
    if (!hooks) {
        lps_sparsify_hooks(s, &own);
        hooks = &own;
    }
    ck_assert_msg(lps_trainer_run(t, hooks, stats, &err) == LPS_OK, "%s", err.msg);
    ck_assert_msg(lps_sparsify_finish(s, &err) == LPS_OK, "%s", err.msg);
}
