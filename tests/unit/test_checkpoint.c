/* Checkpoint and resume of a training run (train/checkpoint.h): a run
 * stopped between two steps and resumed from its checkpoint ends with the
 * same parameters and epoch statistics, bit for bit, as an uninterrupted
 * one: dense training through BatchNorm (running statistics) and Dropout
 * (the generator), every sparsification method, a periodic checkpoint, and
 * a divergence back-off after the resumption that restores the guard's
 * snapshot taken before it. A checkpoint of another identity is refused
 * naming each difference. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/sparsify.h"
#include "test_fs.h"
#include "test_blobs.h"
#include "test_node.h"
#include "test_suite.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

#define N_FEATURES 4
#define N_HIDDEN 16
#define N_CLASSES 3
#define N_SAMPLES 300
#define N_EPOCHS 3
#define BLOB_SPREAD 0.35f
#define TARGET 0.7
#define NO_METHOD (-1)        /* dense training (the trainer's SGD) */
#define POISON_METHOD (-2)    /* dense SGD hook that diverges once */
#define POISON_LPSS (-3)      /* the LpSS session's hooks, diverging once */
#define POISON_STEP 25
#define MIN_VARIANCE 0.5f

/* x [N, 4] -> Gemm -> BatchNormalization -> Relu -> Dropout -> Gemm -> logits [N, 3] */
static lps_model *mlp(void)
{
    lps_model *m = test_model_new(13, "x", N_FEATURES, "logits");
    lps_node *fc1 = test_node_with_io("Gemm", "fc1", 3, (const char *[]){"x", "w1", "b1"}, "h");
    lps_node *bn = test_node_with_io("BatchNormalization", "bn", 5,
                                     (const char *[]){"h", "gamma", "beta", "mean", "var"}, "hb");
    lps_node *relu = test_node_with_io("Relu", "relu", 1, (const char *[]){"hb"}, "hr");
    lps_node *drop = test_node_with_io("Dropout", "drop", 1, (const char *[]){"hr"}, "hd");
    lps_node *fc2 = test_node_with_io("Gemm", "fc2", 3,
                                      (const char *[]){"hd", "w2", "b2"}, "logits");
    test_node_attr_int(fc1, "transB", 1);
    test_node_attr_int(fc2, "transB", 1);
    test_model_add_node(m, fc1);
    test_model_add_node(m, bn);
    test_model_add_node(m, relu);
    test_model_add_node(m, drop);
    test_model_add_node(m, fc2);
    test_model_add_random_init(m, "w1", 2, (int64_t[]){N_HIDDEN, N_FEATURES}, 1);
    test_model_add_random_init(m, "b1", 1, (int64_t[]){N_HIDDEN}, 2);
    test_model_add_random_init(m, "gamma", 1, (int64_t[]){N_HIDDEN}, 5);
    test_model_add_random_init(m, "beta", 1, (int64_t[]){N_HIDDEN}, 6);
    test_model_add_random_init(m, "mean", 1, (int64_t[]){N_HIDDEN}, 7);
    test_model_add_random_init(m, "var", 1, (int64_t[]){N_HIDDEN}, 8);
    float *var = lps_tensor_f32(&m->graph.initializers[5].tensor);
    for (int i = 0; i < N_HIDDEN; i++)
        var[i] = fabsf(var[i]) + MIN_VARIANCE;
    test_model_add_random_init(m, "w2", 2, (int64_t[]){N_CLASSES, N_HIDDEN}, 3);
    test_model_add_random_init(m, "b2", 1, (int64_t[]){N_CLASSES}, 4);
    return m;
}

static void blobs(lps_dataset *ds)
{
    test_blobs(ds, N_SAMPLES, N_FEATURES, N_CLASSES, BLOB_SPREAD, 7);
}

/* A dense SGD update hook that writes NaN into a weight once (the guard
 * backs off), with its momentum as checkpointed state. */
typedef struct poison_hook {
    lps_sgd_config sgd;
    float *momentum;
    size_t n;
    bool poisoned;
} poison_hook;

static lps_status poison_update(void *user, lps_plan *plan, int64_t step, int64_t total,
                                double lr, lps_error *err)
{
    poison_hook *h = user;
    (void)total;
    (void)err;
    float *w = lps_plan_param_data(plan, NULL);
    lps_sgd_step(&h->sgd, (float)lr, (int64_t)h->n, w, lps_plan_grad_data(plan, NULL), h->momentum);
    if (step == POISON_STEP && !h->poisoned) {
        w[0] = NAN;
        h->poisoned = true;
    }
    return LPS_OK;
}

static lps_status poison_transfer(void *user, lps_ckpt *c, lps_error *err)
{
    poison_hook *h = user;
    lps_status st = lps_ckpt_floats(c, "poison.momentum", h->momentum, h->n, err);
    return st == LPS_OK ? lps_ckpt_bool(c, "poison.poisoned", &h->poisoned, err) : st;
}

/* The sparsifier's hooks with a NaN written into a pruned weight after
 * the update of POISON_STEP: the back-off restores the session's own copy
 * (LpSGD state, momentum, grow fractions) from the guard's last save. */
typedef struct poisoned_session {
    lps_train_hooks inner;
    bool poisoned;
} poisoned_session;

static lps_status session_update(void *user, lps_plan *plan, int64_t step, int64_t total,
                                 double lr, lps_error *err)
{
    poisoned_session *p = user;
    lps_status st = p->inner.update(p->inner.user, plan, step, total, lr, err);
    if (st == LPS_OK && step == POISON_STEP && !p->poisoned) {
        lps_plan_param_data(plan, NULL)[0] = NAN;
        p->poisoned = true;
    }
    return st;
}

static lps_status session_save(void *user, lps_error *err)
{
    poisoned_session *p = user;
    return p->inner.save(p->inner.user, err);
}

static void session_restore(void *user)
{
    poisoned_session *p = user;
    p->inner.restore(p->inner.user);
}

static lps_status session_transfer(void *user, lps_ckpt *c, lps_error *err)
{
    poisoned_session *p = user;
    lps_status st = p->inner.transfer(p->inner.user, c, err);
    return st == LPS_OK ? lps_ckpt_bool(c, "poison.poisoned", &p->poisoned, err) : st;
}

/* The hooks session_* do not change run on the sparsifier itself. */
static lps_status session_begin(void *user, lps_plan *plan, int64_t total, lps_error *err)
{
    poisoned_session *p = user;
    return p->inner.begin(p->inner.user, plan, total, err);
}

static lps_status session_end_epoch(void *user, lps_plan *plan, lps_epoch_stats *stats,
                                    lps_error *err)
{
    poisoned_session *p = user;
    return p->inner.end_epoch(p->inner.user, plan, stats, err);
}

static uint64_t session_state_hash(void *user)
{
    poisoned_session *p = user;
    return p->inner.state_hash(p->inner.user);
}

typedef struct stop_at {
    volatile sig_atomic_t flag;
    int64_t after;            /* steps; 0: never */
} stop_at;

static void stop_progress(void *user, const lps_progress *p)
{
    stop_at *s = user;
    if (s->after && (p->epoch - 1) * p->steps_per_epoch + p->step == s->after)
        s->flag = 1;
}

typedef struct run_setup {
    int method;               /* lps_sparsify_method, NO_METHOD or POISON_METHOD */
    int64_t stop_after;       /* 0: run to the end */
    const char *dir;          /* checkpoints go there (NULL: none) */
    int64_t every;
    bool resume;              /* from dir */
    const char *target_text;  /* the identity's --target */
} run_setup;

typedef struct run_result {
    lps_status status;
    float *params;
    size_t n;
    lps_epoch_stats stats[N_EPOCHS];
    float running[2 * N_HIDDEN];   /* BatchNorm mean and variance */
    char msg[LPS_ERROR_MSG_MAX];
} run_result;

static void run(const run_setup *r, run_result *out)
{
    lps_dataset ds;
    lps_error err = {0};
    lps_train_options o;
    lps_sparsify *s = NULL;
    lps_sparsify_options so;
    poison_hook poison = {0};
    poisoned_session session = {0};
    stop_at stop = {0, r->stop_after};
    lps_run_identity id = {0};
    blobs(&ds);
    lps_train_options_default(&o);
    o.epochs = N_EPOCHS;
    o.batch_size = 32;
    o.seed = 42;
    o.lr.base_lr = 0.1;
    o.preprocess.has_scale = true;
    o.preprocess.scale = 1.0;
    lps_model *m = mlp();
    lps_trainer *t = lps_trainer_create(m, &ds, &ds, &o, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    lps_train_hooks hooks = {0};
    if (r->method >= 0 || r->method == POISON_LPSS) {
        lps_sparsify_options_default(&so);
        so.method = r->method >= 0 ? (lps_sparsify_method)r->method : LPS_METHOD_LPSS;
        so.target = TARGET;
        s = lps_sparsify_create(m, lps_trainer_plan(t), &so, &o, &err);
        ck_assert_msg(s != NULL, "%s", err.msg);
        lps_sparsify_hooks(s, &hooks);
        if (r->method == POISON_LPSS) {
            session.inner = hooks;
            hooks.user = &session;
            hooks.update = session_update;
            hooks.save = session_save;
            hooks.restore = session_restore;
            hooks.transfer = session_transfer;
            hooks.begin = session_begin;
            hooks.end_epoch = session_end_epoch;
            hooks.state_hash = session_state_hash;
        }
    } else if (r->method == POISON_METHOD) {
        lps_plan_param_data(lps_trainer_plan(t), &poison.n);
        poison.sgd = o.sgd;
        poison.momentum = calloc(poison.n, sizeof *poison.momentum);
        hooks = (lps_train_hooks){.user = &poison, .update = poison_update,
                                  .transfer = poison_transfer};
    }
    hooks.progress = stop_progress;
    hooks.display_user = &stop;
    hooks.stop = &stop.flag;
    ck_assert_int_eq(lps_run_identity_add(&id, "--target", r->target_text ? r->target_text : "0.7",
                                          &err), LPS_OK);
    lps_checkpointer writer = {r->dir, &id, &hooks};
    if (r->dir) {
        hooks.checkpoint = lps_checkpoint_write;
        hooks.checkpoint_user = &writer;
        hooks.checkpoint_every = r->every;
    }
    out->status = r->resume ? lps_checkpoint_resume(r->dir, &id, t, &hooks, &err) : LPS_OK;
    if (out->status == LPS_OK)
        out->status = lps_trainer_run(t, &hooks, out->stats, &err);
    if (out->status == LPS_OK && s)
        ck_assert_int_eq(lps_sparsify_finish(s, &err), LPS_OK);
    const float *w = lps_plan_param_data(lps_trainer_plan(t), &out->n);
    out->params = malloc(out->n * sizeof *out->params);
    memcpy(out->params, w, out->n * sizeof *w);
    memcpy(out->running, lps_tensor_f32(&m->graph.initializers[4].tensor), sizeof(float) * N_HIDDEN);
    memcpy(out->running + N_HIDDEN, lps_tensor_f32(&m->graph.initializers[5].tensor),
           sizeof(float) * N_HIDDEN);
    snprintf(out->msg, sizeof out->msg, "%s", err.msg);
    free(poison.momentum);
    lps_run_identity_release(&id);
    lps_sparsify_free(s);
    lps_trainer_free(t);
    lps_model_free(m);
    lps_dataset_release(&ds);
}

/* Same parameters, running statistics and epoch statistics (all but the
 * wall-clock fields), bit for bit. */
static void expect_same(const run_result *a, const run_result *b)
{
    ck_assert_int_eq(a->n, b->n);
    ck_assert_msg(memcmp(a->params, b->params, a->n * sizeof *a->params) == 0,
                  "the resumed run's parameters differ");
    ck_assert_msg(memcmp(a->running, b->running, sizeof a->running) == 0,
                  "the resumed run's running statistics differ");
    for (int e = 0; e < N_EPOCHS; e++) {
        lps_epoch_stats x = a->stats[e], y = b->stats[e];
        x.seconds = y.seconds = x.samples_per_second = y.samples_per_second = 0;
        ck_assert_msg(memcmp(&x, &y, sizeof x) == 0, "epoch %d statistics differ", e + 1);
    }
}

static void release(run_result *r)
{
    free(r->params);
    r->params = NULL;
}

/* Uninterrupted, then stopped after `stop` steps and resumed. */
static void check_resume(int method, int64_t stop)
{
    char *dir = test_tmpdir_new();
    run_result whole, part, resumed;
    run(&(run_setup){.method = method}, &whole);
    ck_assert_msg(whole.status == LPS_OK, "%s", whole.msg);
    run(&(run_setup){.method = method, .stop_after = stop, .dir = dir}, &part);
    ck_assert_int_eq(part.status, LPS_ERR_INTERRUPTED);
    ck_assert_msg(memcmp(part.params, whole.params, part.n * sizeof(float)) != 0,
                  "the interrupted run already had the final parameters");
    run(&(run_setup){.method = method, .dir = dir, .resume = true}, &resumed);
    ck_assert_msg(resumed.status == LPS_OK, "%s", resumed.msg);
    expect_same(&whole, &resumed);
    release(&whole);
    release(&part);
    release(&resumed);
    test_tmpdir_free(dir);
}

START_TEST(dense_resume_is_exact)
{
    check_resume(NO_METHOD, 13);   /* mid-epoch 2 (10 steps per epoch) */
}
END_TEST

START_TEST(sparsify_resume_is_exact)
{
    static const int methods[] = {LPS_METHOD_LPSS, LPS_METHOD_GMP, LPS_METHOD_MAGNITUDE};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        check_resume(methods[i], 17);
}
END_TEST

/* The guard saved at step 20; the back-off at POISON_STEP after resuming
 * at 23 restores that snapshot, which only the checkpoint holds. */
static void check_back_off(int method)
{
    char *dir = test_tmpdir_new();
    run_result whole, part, resumed;
    run(&(run_setup){.method = method}, &whole);
    ck_assert_msg(whole.status == LPS_OK, "%s", whole.msg);
    ck_assert_int_eq(whole.stats[N_EPOCHS - 1].backoffs, 1);
    run(&(run_setup){.method = method, .stop_after = 23, .dir = dir}, &part);
    ck_assert_int_eq(part.status, LPS_ERR_INTERRUPTED);
    run(&(run_setup){.method = method, .dir = dir, .resume = true}, &resumed);
    ck_assert_msg(resumed.status == LPS_OK, "%s", resumed.msg);
    expect_same(&whole, &resumed);
    release(&whole);
    release(&part);
    release(&resumed);
    test_tmpdir_free(dir);
}

START_TEST(back_off_after_resume_is_exact)
{
    check_back_off(POISON_METHOD);
}
END_TEST

START_TEST(sparsify_back_off_after_resume_is_exact)
{
    check_back_off(POISON_LPSS);
}
END_TEST

/* Checkpoints every 7 steps: the last one (step 28 of 30) resumes to the same end. */
START_TEST(periodic_checkpoint_resumes)
{
    char *dir = test_tmpdir_new();
    run_result whole, resumed;
    run(&(run_setup){.method = LPS_METHOD_LPSS, .dir = dir, .every = 7}, &whole);
    ck_assert_msg(whole.status == LPS_OK, "%s", whole.msg);
    ck_assert_int_eq(test_dir_entries(dir), 1);
    run(&(run_setup){.method = LPS_METHOD_LPSS, .dir = dir, .resume = true}, &resumed);
    ck_assert_msg(resumed.status == LPS_OK, "%s", resumed.msg);
    expect_same(&whole, &resumed);
    release(&whole);
    release(&resumed);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(other_identity_is_refused)
{
    char *dir = test_tmpdir_new(), want[512];
    run_result part, r;
    run(&(run_setup){.method = NO_METHOD, .stop_after = 5, .dir = dir}, &part);
    ck_assert_int_eq(part.status, LPS_ERR_INTERRUPTED);
    run(&(run_setup){.method = NO_METHOD, .dir = dir, .resume = true, .target_text = "0.8"}, &r);
    ck_assert_int_eq(r.status, LPS_ERR_INVALID);
    snprintf(want, sizeof want, "checkpoint %s: --target differs (0.7 in the checkpoint, 0.8 now)",
             dir);
    ck_assert_str_eq(r.msg, want);
    release(&r);
    /* the same number written differently is the same option */
    run(&(run_setup){.method = NO_METHOD, .dir = dir, .resume = true, .target_text = "0.70"}, &r);
    ck_assert_msg(r.status == LPS_OK, "%s", r.msg);
    release(&r);
    release(&part);
    test_tmpdir_free(dir);
}
END_TEST

START_TEST(missing_checkpoint_is_named)
{
    char *dir = test_tmpdir_new();
    run_result r;
    run(&(run_setup){.method = NO_METHOD, .dir = dir, .resume = true}, &r);
    ck_assert_int_eq(r.status, LPS_ERR_INVALID);
    ck_assert_msg(strstr(r.msg, dir) && strstr(r.msg, "checkpoint.lpsck: No such file"), "%s",
                  r.msg);
    release(&r);
    test_tmpdir_free(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"resume", dense_resume_is_exact, 1},
        {"resume", sparsify_resume_is_exact, 1},
        {"resume", back_off_after_resume_is_exact, 1},
        {"resume", sparsify_back_off_after_resume_is_exact, 1},
        {"resume", periodic_checkpoint_resumes, 1},
        {"resume", other_identity_is_refused, 1},
        {"resume", missing_checkpoint_is_named, 1},
    };
    return test_run_table("checkpoint", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
