#include "train/trainer.h"
#include "train/trainer_internal.h"

#include "train/dist.h"
#include "train/feeder.h"
#include "train/guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults for dense fine-tuning; see docs/cli.md. */
#define DEFAULT_EPOCHS 10
#define DEFAULT_BATCH 128
#define DEFAULT_LR 0.01
#define DEFAULT_MOMENTUM 0.9f
#define DEFAULT_DISTILL_T 2.0
/* Dropout masks draw from a stream derived from the seed, apart from shuffling. */
#define DROPOUT_SEED_SALT 0xD00DULL
/* Steps between checks that every rank holds the same weights and masks
 * (also at every epoch's end); docs/distributed.md. */
#define DIST_CHECK_EVERY 500
/* All exponent bits set: infinity or NaN. */
#define FLOAT_EXPONENT_BITS 0x7f800000u

void lps_train_options_default(lps_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = DEFAULT_EPOCHS;
    o->batch_size = DEFAULT_BATCH;
    o->sgd.momentum = DEFAULT_MOMENTUM;
    o->sgd.nesterov = 1;
    o->lr.kind = LPS_LR_COSINE;
    o->lr.base_lr = DEFAULT_LR;
    o->lr.final_lr = 0.0;
    o->distill_cfg.temperature = DEFAULT_DISTILL_T;
    o->bn_batch_stats = true;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static lps_status logits_of(const lps_plan *plan, int id, int64_t count, const float **logits,
                            int64_t *classes, lps_error *err)
{
    const lps_tensor *t = lps_plan_value(plan, id);
    char shape[128];
    if (!t || t->dtype != LPS_DT_FLOAT || t->rank != 2 || t->dims[0] != count)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "the model output must be float logits [batch, classes], got %s",
                        t ? lps_shape_str(t->rank, t->dims, shape, sizeof shape) : "nothing");
    *logits = lps_tensor_f32(t);
    *classes = t->dims[1];
    return LPS_OK;
}

static lps_status evaluate_plan(lps_plan *plan, int logits_id, const lps_dataset *ds,
                                const lps_preprocess_opts *ppo, int64_t batch,
                                lps_eval_result *res, lps_error *err)
{
    lps_feeder f;
    lps_exec_ctx *ctx = lps_exec_ctx_new(NULL, err);
    int64_t count, correct = 0, seen = 0, classes = 0;
    double loss_sum = 0.0, loss;
    const float *logits = NULL;
    double start = now_seconds();
    if (!ctx)
        return LPS_ERR_NOMEM;
    lps_status st = lps_feeder_init(&f, plan, ds, ppo, batch, false, 0, err);
    if (st != LPS_OK) {
        lps_exec_ctx_free(ctx);
        return st;
    }
    /* Each rank evaluates its shard; the counts are summed below. */
    lps_batch_iter_set_shard(&f.it, lps_dist_rank(), lps_dist_size());
    lps_batch_iter_start_epoch(&f.it, 0);
    while ((st = lps_feeder_next(&f, &count, err)) == LPS_OK && count > 0) {
        if ((st = lps_feeder_bind(&f, plan, err)) != LPS_OK ||
            (st = lps_plan_forward(plan, ctx, err)) != LPS_OK ||
            (st = logits_of(plan, logits_id, count, &logits, &classes, err)) != LPS_OK)
            break;
        if (ds->labels) {
            if ((seen == 0 && (st = lps_dataset_check_labels(ds, classes, err)) != LPS_OK) ||
                (st = lps_softmax_cross_entropy(count, classes, logits, f.labels, 0.0f, &loss,
                                                NULL, err)) != LPS_OK)
                break;
            loss_sum += loss * (double)count;
            correct += lps_top1_correct(count, classes, logits, f.labels);
        }
        seen += count;
    }
    if (st == LPS_OK && lps_dist_size() > 1) {
        double sums[3] = {(double)correct, loss_sum, (double)seen};
        st = lps_dist_sum_doubles(sums, 3, err);
        correct = (int64_t)sums[0];
        loss_sum = sums[1];
        seen = (int64_t)sums[2];
    }
    if (st == LPS_OK) {
        double elapsed = now_seconds() - start;
        res->samples = seen;
        res->accuracy = ds->labels && seen ? (double)correct / (double)seen : NAN;
        res->loss = ds->labels && seen ? loss_sum / (double)seen : NAN;
        res->samples_per_second = elapsed > 0 ? (double)seen / elapsed : NAN;
    }
    lps_feeder_release(&f);
    lps_exec_ctx_free(ctx);
    return st;
}

lps_status lps_evaluate_model(const lps_model *m, const lps_dataset *ds,
                              const lps_preprocess_opts *pp, int64_t batch_size,
                              lps_eval_result *res, lps_error *err)
{
    lps_plan *plan = lps_plan_compile(m, NULL, err);
    if (!plan)
        return err ? err->status : LPS_ERR_RUNTIME;
    lps_status st = evaluate_plan(plan, lps_plan_logits_value(plan, 0), ds, pp, batch_size, res, err);
    lps_plan_free(plan);
    return st;
}

/* Training from NaN or infinite weights can only produce garbage (and the
 * sparsity projection refuses them mid-run): refuse them up front, naming
 * the file and the initializer. */
static lps_status check_finite_params(const lps_plan *p, const lps_model *m, lps_error *err)
{
    for (size_t i = 0; i < lps_plan_n_params(p); i++) {
        const lps_param *q = lps_plan_param(p, i);
        const float *w = lps_tensor_f32(q->value);
        for (size_t k = 0; k < q->numel; k++)
            if (!isfinite(w[k]))
                return lps_fail(err, LPS_ERR_INVALID, "%s: initializer '%s' holds %s at element %zu",
                                m->path ? m->path : "model", q->name,
                                isnan(w[k]) ? "NaN" : "an infinite value", k);
    }
    return LPS_OK;
}

lps_trainer *lps_trainer_create(lps_model *m, const lps_dataset *train, const lps_dataset *eval,
                                const lps_train_options *opt, lps_error *err)
{
    lps_plan_options popt = {.training = true};
    lps_trainer *t = calloc(1, sizeof *t);
    lps_status st = LPS_OK;
    if (!t) {
        lps_fail(err, LPS_ERR_NOMEM, "out of memory for a trainer");
        return NULL;
    }
    t->model = m;
    t->train = train;
    t->eval = eval;
    t->opt = *opt;
    /* Ranks draw different Dropout masks for their different samples. */
    lps_run_options run = {.training = true, .bn_batch_stats = opt->bn_batch_stats,
                           .seed = (opt->seed ^ DROPOUT_SEED_SALT) + (uint64_t)lps_dist_rank()};
    if (!(t->ctx = lps_exec_ctx_new(&run, err)) || !(t->teacher_ctx = lps_exec_ctx_new(NULL, err))) {
        st = LPS_ERR_NOMEM;
        goto done;
    }
    if (opt->epochs < 1 || opt->batch_size < 1) {
        st = lps_fail(err, LPS_ERR_INVALID, "epochs and batch size must be at least 1");
        goto done;
    }
    if ((st = lps_sgd_config_check(&opt->sgd, err)) != LPS_OK ||
        (st = lps_lr_schedule_check(&opt->lr, err)) != LPS_OK)
        goto done;
    if (!opt->distill && !train->labels) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: the training data has no labels; use distillation",
                      train->name);
        goto done;
    }
    t->plan = lps_plan_compile(m, &popt, err);
    if (!t->plan) {
        st = err ? err->status : LPS_ERR_RUNTIME;
        goto done;
    }
    if ((st = check_finite_params(t->plan, m, err)) != LPS_OK)
        goto done;
    t->logits_id = lps_plan_logits_value(t->plan, 0);
    if (opt->distill) {
        t->teacher = lps_plan_compile(m, NULL, err);
        if (!t->teacher) {
            st = err ? err->status : LPS_ERR_RUNTIME;
            goto done;
        }
        t->teacher_logits_id = lps_plan_logits_value(t->teacher, 0);
    }
    size_t n;
    lps_plan_param_data(t->plan, &n);
    t->momentum = calloc(n + 1, sizeof *t->momentum);
    t->stats = calloc((size_t)opt->epochs, sizeof *t->stats);
    if (!t->momentum || !t->stats) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory for momentum buffers");
        goto done;
    }
    if ((st = lps_train_guard_init(&t->guard, n, err)) != LPS_OK)
        goto done;
    st = lps_feeder_init(&t->feed, t->plan, train, &opt->preprocess, opt->batch_size, true,
                         opt->seed, err);
    if (st == LPS_OK) /* --batch is per rank: the global batch is ranks times it */
        lps_batch_iter_set_shard(&t->feed.it, lps_dist_rank(), lps_dist_size());
done:
    if (st != LPS_OK) {
        lps_trainer_free(t);
        return NULL;
    }
    return t;
}

static lps_status teacher_logits(lps_trainer *t, int64_t count, int64_t classes, lps_error *err)
{
    const float *logits = NULL;
    int64_t tclasses = 0;
    lps_status st = lps_feeder_bind(&t->feed, t->teacher, err);
    if (st == LPS_OK)
        st = lps_plan_forward(t->teacher, t->teacher_ctx, err);
    if (st == LPS_OK)
        st = logits_of(t->teacher, t->teacher_logits_id, count, &logits, &tclasses, err);
    if (st != LPS_OK)
        return st;
    if (tclasses != classes)
        return lps_fail(err, LPS_ERR_RUNTIME, "teacher and student disagree on the class count");
    t->teacher_logits = (float *)logits;
    return LPS_OK;
}

/* An exponent test on the bits, which vectorises, unlike isfinite in a loop. */
bool lps_trainer_all_finite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        bad |= (bits & FLOAT_EXPONENT_BITS) == FLOAT_EXPONENT_BITS;
    }
    return bad == 0;
}

/* The batch's loss into *loss and its gradient into t->dlogits. */
static lps_status batch_loss(lps_trainer *t, int64_t step, int64_t count, const float *logits,
                             int64_t classes, double *loss, lps_error *err)
{
    int64_t dims[2] = {count, classes};
    lps_status st = lps_tensor_alloc(&t->dlogits, LPS_DT_FLOAT, 2, dims, err);
    if (st != LPS_OK)
        return st;
    const int64_t *labels = t->train->labels ? t->feed.labels : NULL;
    if (labels && step == 0 && (st = lps_dataset_check_labels(t->train, classes, err)) != LPS_OK)
        return st;
    if (!t->opt.distill)
        return lps_softmax_cross_entropy(count, classes, logits, labels, t->opt.label_smoothing,
                                         loss, lps_tensor_f32(&t->dlogits), err);
    lps_distill_config cfg = t->opt.distill_cfg;
    if (!labels)
        cfg.ce_weight = 0.0;
    st = teacher_logits(t, count, classes, err);
    if (st == LPS_OK)
        st = lps_distill_loss(count, classes, logits, t->teacher_logits, labels, &cfg, loss,
                              lps_tensor_f32(&t->dlogits), err);
    return st;
}

/* Marks a numerical failure of the step as a divergence (the guard backs off). */
static lps_status diverged(step_outcome *out, const char *what, lps_status st, lps_error *err)
{
    out->diverged = what;
    snprintf(out->cause, sizeof out->cause, "%s", err ? err->msg : what);
    return st;
}

lps_status lps_trainer_local_step(lps_trainer *t, int64_t step, int64_t count, step_kind kind,
                                  lps_dist_step *mine, step_outcome *out, lps_error *err)
{
    const float *logits = NULL;
    int64_t classes = 0;
    double loss = NAN;
    if (!t->grads_clear)
        lps_plan_zero_grads(t->plan);
    t->grads_clear = false;
    if (count == 0)
        return LPS_OK;
    lps_status st = lps_feeder_bind(&t->feed, t->plan, err);
    if (st == LPS_OK)
        st = lps_plan_forward(t->plan, t->ctx, err);
    if (st == LPS_OK)
        st = logits_of(t->plan, t->logits_id, count, &logits, &classes, err);
    if (st != LPS_OK)
        return st;
    st = batch_loss(t, step, count, logits, classes, &loss, err);
    if (st == LPS_ERR_RUNTIME || (st == LPS_OK && !isfinite(loss)))
        return diverged(out, "loss", st == LPS_OK ? lps_fail(err, LPS_ERR_RUNTIME,
                                                             "the loss is %g", loss) : st, err);
    /* Running statistics only from a forward that gave finite logits. */
    if (st == LPS_OK && t->opt.bn_batch_stats && kind == STEP_TRAIN)
        st = lps_plan_update_state(t->plan, t->model, err);
    if (st != LPS_OK)
        return st;
    if (t->train->labels)
        mine->correct = (double)lps_top1_correct(count, classes, logits, t->feed.labels);
    mine->loss_sum = loss * (double)count;
    mine->samples = (double)count;
    if (kind == STEP_TRIAL_FORWARD)
        return LPS_OK;
    return lps_plan_backward(t->plan, t->ctx, t->logits_id, &t->dlogits, err);
}

/* One optimizer step on the current batch, of which this rank holds count
 * of the global samples (docs/distributed.md); adds the sums over every
 * rank to *sums when it succeeds. A numerical failure on any rank sets
 * out->diverged on all of them. */
static lps_status train_step(lps_trainer *t, const lps_train_hooks *hooks, int64_t step,
                             int64_t total, int64_t count, int64_t global, lps_dist_step *sums,
                             step_outcome *out, lps_error *err)
{
    lps_dist_step mine = {0};
    lps_status st = lps_trainer_local_step(t, step, count, STEP_TRAIN, &mine, out, err);
    if (st != LPS_OK && !out->diverged)
        return st;
    size_t n;
    float *g = lps_plan_grad_data(t->plan, &n);
    float *w = lps_plan_param_data(t->plan, NULL);
    if (lps_dist_size() > 1) {
        mine.diverged = out->diverged ? 1.0 : 0.0;
        mine.stop = hooks && hooks->stop && *hooks->stop;
        lps_status reduced = lps_dist_reduce_step(g, n, count, global, &mine, err);
        if (reduced != LPS_OK)
            return reduced;
        t->stop_agreed = mine.stop > 0;
        if (mine.diverged > 0 && !out->diverged)
            st = diverged(out, "loss", lps_fail(err, LPS_ERR_RUNTIME,
                                                "the loss is not finite on another rank"), err);
    }
    if (out->diverged)
        return st;
    if (lps_train_guard_due(&t->guard, step)) {
        lps_train_guard_save(&t->guard, w, t->momentum, step);
        if (hooks && hooks->save && (st = hooks->save(hooks->user, err)) != LPS_OK)
            return st;
    }
    if (t->opt.clip_norm > 0) {
        int64_t len = (int64_t)n;
        lps_clip_grad_global_norm(1, &g, &len, t->opt.clip_norm);
    }
    double lr = lps_lr_at(&t->opt.lr, step, total) * t->guard.lr_scale;
    bool finite;
    if (hooks && hooks->update) {
        st = hooks->update(hooks->user, t->plan, step, total, lr, err);
        if (st == LPS_ERR_RUNTIME)
            return diverged(out, "update", st, err);
        /* A NaN weight can hide behind a Relu (NaN > 0 is false): check them
         * all, and clear the gradient the hook has used in the same pass. */
        finite = st != LPS_OK || lps_finite_clear(w, g, (int64_t)n);
        t->grads_clear = st == LPS_OK;
    } else {
        /* the same check, and the clearing of g, in the update's own pass */
        finite = lps_sgd_step_clear(&t->opt.sgd, (float)lr, (int64_t)n, w, g, t->momentum);
        t->grads_clear = true;
    }
    if (st == LPS_OK && !finite)
        return diverged(out, "update",
                        lps_fail(err, LPS_ERR_RUNTIME, "a weight is not finite after the update"),
                        err);
    if (st == LPS_OK) {
        sums->loss_sum += mine.loss_sum;
        sums->correct += mine.correct;
        sums->samples += mine.samples;
    }
    return st;
}

/* Whether every rank holds the same weights and hook state (masks). */
static lps_status check_ranks(lps_trainer *t, const lps_train_hooks *hooks, int64_t step,
                              lps_error *err)
{
    uint64_t extra = hooks && hooks->state_hash ? hooks->state_hash(hooks->user) : 0;
    return lps_dist_check_params(t->plan, extra, step, err);
}

/* Puts the last good state back and halves the step after a divergence at
 * `step`; LPS_ERR_RUNTIME naming the step, the parameter and the options
 * when the guard has nothing left to try. */
static lps_status back_off(lps_trainer *t, const lps_train_hooks *hooks, int64_t step,
                           const step_outcome *out, lps_error *err)
{
    const char *layer = lps_train_guard_culprit(&t->guard, t->plan);
    int64_t restored = t->guard.saved_step;
    if (!lps_train_guard_restore(&t->guard, lps_plan_param_data(t->plan, NULL), t->momentum))
        return lps_fail(err, LPS_ERR_RUNTIME,
                        "training diverged at step %lld (%s) and %s; parameter '%s' moved most: "
                        "lower --lr (and --lpsgd-lr) or set --clip",
                        (long long)step + 1, out->cause,
                        restored < 0 ? "no earlier state was finite"
                                     : "halving the step did not recover",
                        layer);
    if (hooks && hooks->restore)
        hooks->restore(hooks->user);
    t->backoffs++;
    if (hooks && hooks->backoff) {
        lps_backoff b = {step, restored, out->cause, layer, t->guard.lr_scale};
        hooks->backoff(hooks->display_user, &b);
    }
    return LPS_OK;
}

/* Whether to stop before the next step. Data-parallel ranks stop together:
 * after the step at which any of them had the flag set (the step's sums
 * carry it), so that they all checkpoint the same step. */
static bool stop_requested(const lps_trainer *t, const lps_train_hooks *hooks)
{
    if (lps_dist_size() > 1)
        return t->stop_agreed;
    return hooks && hooks->stop && *hooks->stop;
}

static lps_status checkpoint(lps_trainer *t, const lps_train_hooks *hooks, lps_error *err)
{
    return hooks && hooks->checkpoint ? hooks->checkpoint(hooks->checkpoint_user, t, err) : LPS_OK;
}

/* The training steps of epoch t->at.epoch from t->at onwards, one per
 * global batch (its share of which this rank holds, docs/distributed.md). */
static lps_status run_epoch(lps_trainer *t, const lps_train_hooks *hooks, int64_t total,
                            int64_t steps_per_epoch, double run_start, int64_t run_first_step,
                            lps_error *err)
{
    run_position *at = &t->at;
    double start = now_seconds();
    int64_t count;
    lps_status st = LPS_OK;
    lps_batch_iter_start_epoch(&t->feed.it, (uint64_t)at->epoch);
    t->feed.it.pos = at->order_pos;
    while (at->in_epoch < steps_per_epoch) {
        if (stop_requested(t, hooks)) {
            if ((st = checkpoint(t, hooks, err)) != LPS_OK)
                return st;
            return lps_fail(err, LPS_ERR_INTERRUPTED, "interrupted at epoch %lld step %lld",
                            (long long)at->epoch + 1, (long long)at->in_epoch);
        }
        if ((st = lps_feeder_next(&t->feed, &count, err)) != LPS_OK)
            return st;
        step_outcome out = {NULL, ""};
        int64_t global = lps_batch_iter_global_count(&t->feed.it, at->in_epoch);
        lps_dist_step sums = {0};
        st = train_step(t, hooks, at->step, total, count, global, &sums, &out, err);
        if (st != LPS_OK && out.diverged)
            st = back_off(t, hooks, at->step, &out, err);
        if (st != LPS_OK)
            return st;
        at->loss_sum += sums.loss_sum;
        at->correct += (int64_t)sums.correct;
        at->seen += (int64_t)sums.samples;
        at->step++;
        at->in_epoch++;
        at->order_pos = t->feed.it.pos;
        if (at->step % DIST_CHECK_EVERY == 0 && (st = check_ranks(t, hooks, at->step, err)) != LPS_OK)
            return st;
        if (hooks && hooks->progress) {
            double elapsed = now_seconds() - run_start;
            lps_progress p = {at->epoch + 1, t->opt.epochs, at->in_epoch, steps_per_epoch,
                              at->seen ? at->loss_sum / (double)at->seen : NAN,
                              t->train->labels && at->seen ? (double)at->correct / (double)at->seen
                                                           : NAN,
                              (double)at->seen / (now_seconds() - start),
                              elapsed / (double)(at->step - run_first_step) * (double)(total - at->step)};
            hooks->progress(hooks->display_user, &p);
        }
        if (hooks && hooks->checkpoint_every > 0 && at->step % hooks->checkpoint_every == 0 &&
            (st = checkpoint(t, hooks, err)) != LPS_OK)
            return st;
    }
    return LPS_OK;
}

/* The end of epoch t->at.epoch: the hook, the evaluation, the statistics;
 * then t->at moves to the start of the next epoch. */
static lps_status finish_epoch(lps_trainer *t, const lps_train_hooks *hooks, int64_t total,
                               double start, lps_error *err)
{
    run_position *at = &t->at;
    lps_status st;
    lps_epoch_stats s = {at->epoch + 1, at->seen ? at->loss_sum / (double)at->seen : NAN, NAN, NAN,
                         lps_lr_at(&t->opt.lr, at->step - 1, total) * t->guard.lr_scale, 0, 0,
                         NAN, NAN, t->backoffs, t->guard.lr_scale};
    if (hooks && hooks->end_epoch && (st = hooks->end_epoch(hooks->user, t->plan, &s, err)) != LPS_OK)
        return st;
    /* Every rank evaluates (its shard) with the same weights and statistics. */
    if ((st = lps_dist_average_state(t->plan, t->model, err)) != LPS_OK ||
        (st = check_ranks(t, hooks, at->step, err)) != LPS_OK)
        return st;
    s.seconds = now_seconds() - start;
    s.samples_per_second = s.seconds > 0 ? (double)at->seen / s.seconds : NAN;
    if (t->eval) {
        lps_eval_result r;
        if ((st = lps_trainer_evaluate(t, t->eval, &r, err)) != LPS_OK)
            return st;
        s.loss = r.loss;
        s.accuracy = r.accuracy;
    }
    t->stats[at->epoch] = s;
    if (hooks && hooks->epoch_done)
        hooks->epoch_done(hooks->display_user, &s);
    *at = (run_position){.epoch = at->epoch + 1, .step = at->step, .resumed = at->resumed};
    return LPS_OK;
}

lps_status lps_trainer_run(lps_trainer *t, const lps_train_hooks *hooks, lps_epoch_stats *stats,
                           lps_error *err)
{
    int64_t steps_per_epoch = lps_batch_iter_global_batches(&t->feed.it);
    int64_t total = steps_per_epoch * t->opt.epochs;
    double run_start = now_seconds();
    int64_t first_step = t->at.step;
    lps_status st = LPS_OK;
    if (!t->at.resumed && hooks && hooks->begin &&
        (st = hooks->begin(hooks->user, t->plan, total, err)) != LPS_OK)
        return st;
    if (!t->at.resumed && hooks && hooks->probe &&
        (st = hooks->probe(hooks->user, t, hooks, total, err)) != LPS_OK)
        return st;
    while (t->at.epoch < t->opt.epochs) {
        double start = now_seconds();
        if ((st = run_epoch(t, hooks, total, steps_per_epoch, run_start, first_step, err)) != LPS_OK ||
            (st = finish_epoch(t, hooks, total, start, err)) != LPS_OK)
            return st;
        if (stats)
            stats[t->at.epoch - 1] = t->stats[t->at.epoch - 1];
        if (hooks && hooks->checkpoint_every == 0 && (st = checkpoint(t, hooks, err)) != LPS_OK)
            return st;
    }
    for (int64_t e = 0; stats && e < t->opt.epochs; e++)
        stats[e] = t->stats[e];
    return LPS_OK;
}

/* Model initializers training updates in place (running statistics):
 * their count, then each one's index and bytes. */
static lps_status transfer_model_state(lps_trainer *t, lps_ckpt *c, lps_error *err)
{
    lps_graph *g = &t->model->graph;
    int64_t count = 0;
    for (size_t i = 0; i < g->n_initializers; i++)
        count += g->initializers[i].modified;
    lps_status st = lps_ckpt_i64(c, "trainer.state_initializers", &count, err);
    for (int64_t k = 0, i = -1; st == LPS_OK && k < count; k++) {
        if (!lps_ckpt_reading(c))
            while (!g->initializers[++i].modified)
                ;
        if ((st = lps_ckpt_i64(c, "trainer.state_index", &i, err)) != LPS_OK)
            break;
        if (i < 0 || (size_t)i >= g->n_initializers)
            return lps_fail(err, LPS_ERR_INVALID, "%s: initializer %lld is not in the model",
                            lps_ckpt_path(c), (long long)i);
        lps_tensor *v = &g->initializers[i].tensor;
        st = lps_ckpt_bytes(c, g->initializers[i].name, v->data, v->nbytes, err);
        g->initializers[i].modified = true;
    }
    return st;
}

lps_status lps_trainer_transfer(lps_trainer *t, lps_ckpt *c, lps_error *err)
{
    run_position *at = &t->at;
    size_t n;
    float *w = lps_plan_param_data(t->plan, &n);
    uint64_t rng = lps_exec_ctx_rng_state(t->ctx);
    lps_status st = lps_ckpt_i64(c, "trainer.epoch", &at->epoch, err);
    if (st == LPS_OK && (at->epoch < 0 || at->epoch > t->opt.epochs))
        return lps_fail(err, LPS_ERR_INVALID, "%s: corrupt: epoch %lld of %lld", lps_ckpt_path(c),
                        (long long)at->epoch, (long long)t->opt.epochs);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.step", &at->step, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.in_epoch", &at->in_epoch, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.order_pos", &at->order_pos, err);
    if (st == LPS_OK && (at->order_pos < 0 || at->order_pos > lps_dataset_size(t->train)))
        return lps_fail(err, LPS_ERR_INVALID, "%s: corrupt: data position %lld of %lld",
                        lps_ckpt_path(c), (long long)at->order_pos,
                        (long long)lps_dataset_size(t->train));
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.seen", &at->seen, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.correct", &at->correct, err);
    if (st == LPS_OK)
        st = lps_ckpt_f64(c, "trainer.loss_sum", &at->loss_sum, err);
    if (st == LPS_OK)
        st = lps_ckpt_i64(c, "trainer.backoffs", &t->backoffs, err);
    if (st == LPS_OK)
        st = lps_ckpt_bytes(c, "trainer.epoch_stats", t->stats,
                            (size_t)at->epoch * sizeof *t->stats, err);
    if (st == LPS_OK)
        st = lps_ckpt_floats(c, "trainer.params", w, n, err);
    if (st == LPS_OK)
        st = lps_ckpt_floats(c, "trainer.momentum", t->momentum, n, err);
    if (st == LPS_OK)
        st = lps_train_guard_transfer(&t->guard, c, err);
    if (st == LPS_OK)
        st = lps_ckpt_u64(c, "trainer.dropout_rng", &rng, err);
    if (st == LPS_OK)
        st = transfer_model_state(t, c, err);
    if (st == LPS_OK && lps_ckpt_reading(c)) {
        lps_exec_ctx_reseed(t->ctx, rng);
        at->resumed = true;
    }
    return st;
}

lps_status lps_trainer_evaluate(lps_trainer *t, const lps_dataset *ds, lps_eval_result *res,
                                lps_error *err)
{
    return evaluate_plan(t->plan, t->logits_id, ds, &t->opt.preprocess, t->opt.batch_size, res,
                         err);
}

int64_t lps_trainer_batch(const lps_trainer *t)
{
    return t->feed.batch;
}

lps_plan *lps_trainer_plan(lps_trainer *t)
{
    return t->plan;
}

lps_status lps_trainer_write(lps_trainer *t, lps_error *err)
{
    return lps_plan_write_params(t->plan, t->model, err);
}

void lps_trainer_free(lps_trainer *t)
{
    if (!t)
        return;
    lps_plan_free(t->plan);
    lps_plan_free(t->teacher);
    free(t->momentum);
    free(t->stats);
    lps_train_guard_release(&t->guard);
    lps_tensor_release(&t->dlogits);
    lps_exec_ctx_free(t->ctx);
    lps_exec_ctx_free(t->teacher_ctx);
    lps_feeder_release(&t->feed);
    free(t);
}
