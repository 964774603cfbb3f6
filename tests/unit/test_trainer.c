/* The training loop end to end on a hand-built MLP and synthetic blobs:
 * it learns, it is deterministic for a seed, and it writes params back. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_blobs.h"
#include "test_node.h"
#include "test_suite.h"
#include "train/trainer.h"

#define N_FEATURES 4
#define N_HIDDEN 16
#define N_CLASSES 3
#define N_SAMPLES 600
#define BLOB_SPREAD 0.35f

/* x [N, 4] -> Gemm(transB=1) -> Relu -> Gemm(transB=1) -> logits [N, 3] */
static lps_model *mlp(void)
{
    lps_model *m = test_model_new(13, "x", N_FEATURES, "logits");
    lps_node *fc1 = test_node_with_io("Gemm", "fc1", 3, (const char *[]){"x", "w1", "b1"}, "h");
    lps_node *relu = test_node_with_io("Relu", "relu", 1, (const char *[]){"h"}, "hr");
    lps_node *fc2 = test_node_with_io("Gemm", "fc2", 3,
                                      (const char *[]){"hr", "w2", "b2"}, "logits");
    test_node_attr_int(fc1, "transB", 1);
    test_node_attr_int(fc2, "transB", 1);
    test_model_add_node(m, fc1);
    test_model_add_node(m, relu);
    test_model_add_node(m, fc2);
    test_model_add_random_init(m, "w1", 2, (int64_t[]){N_HIDDEN, N_FEATURES}, 1);
    test_model_add_random_init(m, "b1", 1, (int64_t[]){N_HIDDEN}, 2);
    test_model_add_random_init(m, "w2", 2, (int64_t[]){N_CLASSES, N_HIDDEN}, 3);
    test_model_add_random_init(m, "b2", 1, (int64_t[]){N_CLASSES}, 4);
    return m;
}

/* Three well separated blobs, label = blob. */
static void blobs(lps_dataset *ds)
{
    test_blobs(ds, N_SAMPLES, N_FEATURES, N_CLASSES, BLOB_SPREAD, 7);
}

static void options(lps_train_options *o)
{
    lps_train_options_default(o);
    o->epochs = 4;
    o->batch_size = 32;
    o->seed = 42;
    o->lr.base_lr = 0.1;
    o->preprocess.has_scale = true;
    o->preprocess.scale = 1.0;
}

START_TEST(learns_blobs)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    lps_eval_result before, after;
    lps_epoch_stats stats[4];
    blobs(&ds);
    options(&o);
    lps_model *m = mlp();
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &before, &err), LPS_OK);
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_msg(lps_trainer_run(t, NULL, stats, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
    ck_assert(m->graph.initializers[0].modified);
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &after, &err), LPS_OK);
    ck_assert_msg(after.accuracy > 0.95, "accuracy %f (before %f)", after.accuracy, before.accuracy);
    ck_assert(stats[3].train_loss < stats[0].train_loss);
    ck_assert_double_eq_tol(stats[3].accuracy, after.accuracy, 1e-9);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(non_finite_weights_are_refused)
{
    static const float bad_values[] = {NAN, INFINITY, -INFINITY};
    lps_dataset ds;
    lps_train_options o;
    blobs(&ds);
    options(&o);
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        lps_error err = {0};
        lps_model *m = mlp();
        m->path = strdup("mlp.onnx");
        lps_tensor_f32(&m->graph.initializers[2].tensor)[5] = bad_values[i];
        ck_assert_ptr_null(lps_trainer_create(m, &ds, &ds, &o, &err));
        ck_assert_int_eq(err.status, LPS_ERR_INVALID);
        ck_assert_msg(strncmp(err.msg, "mlp.onnx: initializer 'w2' holds ", 33) == 0, "%s",
                      err.msg);
        ck_assert_msg(strstr(err.msg, "at element 5") != NULL, "%s", err.msg);
        lps_model_free(m);
    }
    lps_dataset_release(&ds);
}
END_TEST

START_TEST(same_seed_same_weights)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    float *w[2];
    size_t n = 0;
    blobs(&ds);
    options(&o);
    o.epochs = 2;
    for (int run = 0; run < 2; run++) {
        lps_model *m = mlp();
        lps_trainer *t = lps_trainer_create(m, &ds, NULL, &o, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        ck_assert_int_eq(lps_trainer_run(t, NULL, NULL, &err), LPS_OK);
        const float *p = lps_plan_param_data(lps_trainer_plan(t), &n);
        w[run] = malloc(n * sizeof(float));
        memcpy(w[run], p, n * sizeof(float));
        lps_trainer_free(t);
        lps_model_free(m);
    }
    ck_assert_int_eq(memcmp(w[0], w[1], n * sizeof(float)), 0);
    free(w[0]);
    free(w[1]);
    lps_dataset_release(&ds);
}
END_TEST

/* A trailing Softmax: training and inference-mode evaluation both work on
 * its input (the logits), which must survive buffer recycling. */
START_TEST(trailing_softmax)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    lps_eval_result before, after;
    blobs(&ds);
    options(&o);
    lps_model *m = mlp();
    lps_node *sm = test_node_with_io("Softmax", "softmax", 1, (const char *[]){"logits"}, "prob");
    test_model_add_node(m, sm);
    free(m->graph.outputs[0].name);
    m->graph.outputs[0].name = strdup("prob");
    ck_assert_msg(lps_evaluate_model(m, &ds, &o.preprocess, 64, &before, &err) == LPS_OK, "%s",
                  err.msg);
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_msg(lps_trainer_run(t, NULL, NULL, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(lps_trainer_write(t, &err), LPS_OK);
    ck_assert_int_eq(lps_evaluate_model(m, &ds, &o.preprocess, 64, &after, &err), LPS_OK);
    ck_assert_msg(after.accuracy > 0.95, "accuracy %f", after.accuracy);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}
END_TEST

/* An update hook doing plain SGD that writes NaN into the weights at the
 * steps from `poison_from` (to `poison_to`, inclusive), so the next forward
 * gives non-finite logits. */
typedef struct poison_hook {
    lps_sgd_config sgd;
    float *momentum;
    int64_t poison_from, poison_to;
    double last_lr, base_lr_seen;
    int saves, restores;
} poison_hook;

static lps_status poison_update(void *user, lps_plan *plan, int64_t step, int64_t total,
                                double lr, lps_error *err)
{
    poison_hook *h = user;
    size_t n;
    (void)total;
    (void)err;
    float *w = lps_plan_param_data(plan, &n);
    if (step == 0)
        h->base_lr_seen = lr;
    h->last_lr = lr;
    lps_sgd_step(&h->sgd, (float)lr, (int64_t)n, w, lps_plan_grad_data(plan, NULL), h->momentum);
    if (step >= h->poison_from && step <= h->poison_to)
        w[0] = NAN;
    return LPS_OK;
}

static lps_status poison_save(void *user, lps_error *err)
{
    (void)err;
    ((poison_hook *)user)->saves++;
    return LPS_OK;
}

static void poison_restore(void *user)
{
    ((poison_hook *)user)->restores++;
}

static lps_status run_poisoned(poison_hook *h, lps_epoch_stats *stats, lps_error *err)
{
    lps_dataset ds;
    lps_train_options o;
    blobs(&ds);
    options(&o);
    o.lr.kind = LPS_LR_CONSTANT;
    lps_model *m = mlp();
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, err);
    ck_assert_msg(t != NULL, "%s", err->msg);
    h->sgd = o.sgd;
    h->momentum = calloc(1024, sizeof *h->momentum);
    lps_train_hooks hooks = {.user = h, .update = poison_update, .save = poison_save,
                             .restore = poison_restore};
    lps_status st = lps_trainer_run(t, &hooks, stats, err);
    if (st == LPS_OK) {
        const float *w = lps_plan_param_data(lps_trainer_plan(t), NULL);
        ck_assert(isfinite(w[0]));
        ck_assert_msg(stats[3].accuracy > 0.9, "accuracy %f after a back-off", stats[3].accuracy);
    }
    free(h->momentum);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
    return st;
}

START_TEST(divergence_backs_off_and_recovers)
{
    lps_error err = {0};
    lps_epoch_stats stats[4];
    poison_hook h = {.poison_from = 25, .poison_to = 25};
    ck_assert_msg(run_poisoned(&h, stats, &err) == LPS_OK, "%s", err.msg);
    ck_assert_int_eq(h.restores, 1);
    ck_assert_int_gt(h.saves, 1);
    ck_assert_int_eq(stats[3].backoffs, 1);
    ck_assert_double_eq_tol(stats[3].lr_scale, 0.5, 1e-12);
    ck_assert_double_eq_tol(h.last_lr, 0.5 * h.base_lr_seen, 1e-12);
}
END_TEST

START_TEST(divergence_that_persists_names_step_and_layer)
{
    lps_error err = {0};
    lps_epoch_stats stats[4];
    poison_hook h = {.poison_from = 25, .poison_to = 1000};
    ck_assert_int_eq(run_poisoned(&h, stats, &err), LPS_ERR_RUNTIME);
    ck_assert_int_eq(h.restores, 10);
    ck_assert_msg(strstr(err.msg, "training diverged at step 36") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "halving the step did not recover") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "'w1'") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "--lr") != NULL, "%s", err.msg);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"loop", learns_blobs, 1},
        {"loop", same_seed_same_weights, 1},
        {"loop", trailing_softmax, 1},
        {"loop", non_finite_weights_are_refused, 1},
        {"loop", divergence_backs_off_and_recovers, 1},
        {"loop", divergence_that_persists_names_step_and_layer, 1},
    };
    return test_run_table("trainer", tests, TEST_COUNT(tests), 60);
}
