/* The training loop: batches from a dataset through a training plan, a loss
 * on the logits, backward, and an update of the flat parameters.
 *
 * The update is a hook so that one loop serves dense fine-tuning (plain SGD
 * over every parameter, the default) and sparsification (LpSGD on prunable
 * rows, masks, schedules). Evaluation runs the same plan in inference mode
 * (BatchNorm on running statistics, Dropout off). */
#ifndef LPS_TRAIN_TRAINER_H
#define LPS_TRAIN_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/ckpt_stream.h"
#include "lpsparsify/data.h"
#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"
#include "train/loss.h"
#include "train/optim.h"

typedef struct lps_train_options {
    int64_t epochs;
    int64_t batch_size;
    uint64_t seed;             /* batch order and dropout masks */
    lps_sgd_config sgd;
    lps_lr_schedule lr;
    double clip_norm;          /* 0 disables clipping */
    float label_smoothing;
    bool distill;              /* teacher = the unmodified input model */
    lps_distill_config distill_cfg;
    bool bn_batch_stats;       /* BatchNorm on batch statistics while training */
    lps_preprocess_opts preprocess;
} lps_train_options;

/* Defaults documented in docs/cli.md: 10 epochs, batch 128, SGD momentum 0.9
 * Nesterov, cosine lr from 0.01 to 0, no clipping, batch statistics. */
void lps_train_options_default(lps_train_options *o);

typedef struct lps_eval_result {
    int64_t samples;
    double accuracy;           /* top-1 in [0, 1]; NAN when the data has no labels */
    double loss;               /* mean cross-entropy; NAN when unlabeled */
    double samples_per_second;
} lps_eval_result;

typedef struct lps_epoch_stats {
    int64_t epoch;             /* 1-based */
    double train_loss;
    double loss;               /* evaluation split */
    double accuracy;           /* evaluation split */
    double lr;                 /* at the end of the epoch */
    double seconds;
    double samples_per_second;
    double sparsity;           /* filled by the update hook; NAN otherwise */
    double hoyer;
    int64_t backoffs;          /* divergence back-offs so far in the run */
    double lr_scale;           /* step-size factor left by them (1: none) */
} lps_epoch_stats;

/* One divergence back-off, for display: at `step` (0-based, of the run)
 * `what` was not finite; the state saved at restored_step was put back and
 * the step size is now lr_scale times the schedule's. */
typedef struct lps_backoff {
    int64_t step, restored_step;
    const char *what;
    const char *layer;         /* the parameter that moved most since the snapshot */
    double lr_scale;
} lps_backoff;

typedef struct lps_progress {
    int64_t epoch, epochs;
    int64_t step, steps_per_epoch;
    double loss;               /* running mean over the epoch */
    double accuracy;           /* running training accuracy over the epoch */
    double samples_per_second;
    double eta_seconds;
} lps_progress;

typedef struct lps_trainer lps_trainer;

typedef struct lps_train_hooks {
    void *user;
    /* Before the first step: may adjust parameters (masks, projections). */
    lps_status (*begin)(void *user, lps_plan *plan, int64_t total_steps, lps_error *err);
    /* Replaces the default SGD update. Gradients are in the flat buffer. */
    lps_status (*update)(void *user, lps_plan *plan, int64_t step, int64_t total_steps, double lr,
                         lps_error *err);
    /* After each epoch's training steps, before evaluation. */
    lps_status (*end_epoch)(void *user, lps_plan *plan, lps_epoch_stats *stats, lps_error *err);
    /* Divergence guard: save copies the hook's own state (with the plan's
     * parameters, at the start of a step whose loss was finite); restore
     * puts the last saved copy back. Both or neither. */
    lps_status (*save)(void *user, lps_error *err);
    void (*restore)(void *user);
    /* After begin, before the first step (not on a resumed run): may try
     * settings with lps_trainer_trial on t, passing hooks on. May be NULL. */
    lps_status (*probe)(void *user, lps_trainer *t, const struct lps_train_hooks *hooks,
                        int64_t total_steps, lps_error *err);
    /* Data-parallel runs: a hash of the hook's state that must agree
     * across ranks (the sparsifier's masks), checked with the weights
     * every few hundred steps and at each epoch's end. May be NULL. */
    uint64_t (*state_hash)(void *user);
    /* Display callbacks, called with display_user (not user). */
    void *display_user;
    void (*progress)(void *display_user, const lps_progress *p);
    void (*epoch_done)(void *display_user, const lps_epoch_stats *s);
    void (*backoff)(void *display_user, const lps_backoff *b);
    void (*note)(void *display_user, const char *line); /* a line about the run (a probe) */
    volatile sig_atomic_t *stop;   /* set asynchronously to interrupt */
    /* Checkpoint and resume (train/checkpoint.h). transfer moves the
     * hook's own state to or from a checkpoint stream (NULL: it has none
     * beyond the plan's parameters). checkpoint (NULL: none) writes one,
     * with checkpoint_user: between steps every checkpoint_every steps (0:
     * after each epoch's evaluation) and when *stop is set, before the run
     * returns LPS_ERR_INTERRUPTED. */
    lps_status (*transfer)(void *user, lps_ckpt *c, lps_error *err);
    lps_status (*checkpoint)(void *checkpoint_user, lps_trainer *t, lps_error *err);
    void *checkpoint_user;
    int64_t checkpoint_every;
} lps_train_hooks;

/* Compiles m for training with the train split's sample shape checked
 * against the model input. train and eval must outlive the trainer; eval may
 * be NULL. The model must outlive it as well and is not modified until
 * lps_trainer_write. Returns NULL and fills err on failure. */
lps_trainer *lps_trainer_create(lps_model *m, const lps_dataset *train, const lps_dataset *eval,
                                const lps_train_options *opt, lps_error *err);

/* Runs opt->epochs epochs. stats (may be NULL) receives one entry per epoch
 * and must hold opt->epochs entries. LPS_ERR_INTERRUPTED when *hooks->stop
 * was set. A step with a non-finite loss, gradient norm or update
 * (LPS_ERR_RUNTIME from the loss or the update hook) restores the last
 * good state and halves the step size (train/guard.h); LPS_ERR_RUNTIME
 * naming the step, the parameter and the options to change once
 * LPS_GUARD_MAX_HALVINGS back-offs did not help. */
lps_status lps_trainer_run(lps_trainer *t, const lps_train_hooks *hooks, lps_epoch_stats *stats,
                           lps_error *err);

/* Optimizer steps per epoch (global batches). */
int64_t lps_trainer_steps_per_epoch(const lps_trainer *t);

/* What lps_trainer_trial tries (docs/method.md, "The LpSGD step"). */
typedef struct lps_trial_spec {
    int64_t candidates;
    int64_t steps;             /* updates per candidate, in [1, steps per epoch) */
    /* With hooks->user, once the state is saved and before each candidate's
     * first forward: moves the trial's start elsewhere (the LpSGD probe
     * prunes there). Must give the same state each time. May be NULL. */
    lps_status (*prepare)(void *user, lps_plan *plan, lps_error *err);
    /* With hooks->user: the next updates are candidate c's. */
    void (*select)(void *user, int64_t c);
} lps_trial_spec;

/* Trials of hooks->update from the current state: for each candidate,
 * spec->steps updates on the first batches of epoch 0's order, as steps 0..
 * of a run of total_steps at the schedule's lr, without running statistics
 * updates or the divergence guard. scores[c] is the mean loss of batches
 * 1..steps, each measured before the update it feeds (after k updates),
 * INFINITY when a step diverged. Batch 0's forward and backward, the same
 * for every candidate, runs once. Afterwards the parameters, the momentum,
 * the dropout stream and the hook's state (hooks->save before,
 * hooks->restore between candidates and after) are as before.
 * LPS_ERR_INVALID for a bad spec or no update hook; LPS_ERR_NOMEM; other
 * errors of a step or of prepare (the state is restored all the same). */
lps_status lps_trainer_trial(lps_trainer *t, const lps_train_hooks *hooks,
                             const lps_trial_spec *spec, int64_t total_steps, double *scores,
                             lps_error *err);

/* Transfers the trainer's state to or from checkpoint c: the position in
 * the run (epoch, step, position in the epoch's data order, the epoch's
 * running sums), the finished epochs' statistics, the parameters, the
 * momentum, the divergence guard, the dropout generator, and the model
 * initializers training updated in place (BatchNorm running statistics).
 * After a read, lps_trainer_run continues from that point without calling
 * hooks->begin. Errors as lps_ckpt_bytes; LPS_ERR_INVALID names a record
 * that does not fit this trainer. */
lps_status lps_trainer_transfer(lps_trainer *t, lps_ckpt *c, lps_error *err);

/* Evaluates the current parameters on ds. */
lps_status lps_trainer_evaluate(lps_trainer *t, const lps_dataset *ds, lps_eval_result *res,
                                lps_error *err);

/* Samples per step on this rank (--batch, or the model's fixed batch dim);
 * the global batch is lps_dist_size() times it. */
int64_t lps_trainer_batch(const lps_trainer *t);

/* The training plan (for hooks that need parameter access). */
lps_plan *lps_trainer_plan(lps_trainer *t);

/* Copies the trained parameters into the model's initializers (marking them
 * modified), ready for lps_model_save. */
lps_status lps_trainer_write(lps_trainer *t, lps_error *err);

/* Frees the trainer. NULL is accepted. */
void lps_trainer_free(lps_trainer *t);

/* Evaluates a model as loaded (inference plan): accuracy, loss, samples/s. */
lps_status lps_evaluate_model(const lps_model *m, const lps_dataset *ds,
                              const lps_preprocess_opts *pp, int64_t batch_size,
                              lps_eval_result *res, lps_error *err);

#endif
