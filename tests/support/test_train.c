#include "test_train.h"

#include <check.h>

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
