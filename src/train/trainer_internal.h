/* The trainer's state and the step pieces train/trial.c shares with
 * train/trainer.c (train/ only). */
#ifndef LPS_TRAIN_TRAINER_INTERNAL_H
#define LPS_TRAIN_TRAINER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "train/dist.h"
#include "train/feeder.h"
#include "train/guard.h"
#include "train/trainer.h"

/* Where a run is between two steps: everything lps_trainer_run keeps
 * across steps, so that a checkpoint can stop and restart it there. */
typedef struct run_position {
    int64_t epoch;             /* 0-based, the epoch in progress */
    int64_t step;              /* steps done in the run */
    int64_t in_epoch;          /* steps done in this epoch */
    int64_t order_pos;         /* next position in this epoch's data order */
    int64_t seen, correct;     /* this epoch's running sums */
    double loss_sum;
    bool resumed;              /* set by a checkpoint read: skip hooks->begin */
} run_position;

struct lps_trainer {
    lps_model *model;
    const lps_dataset *train;
    const lps_dataset *eval;
    lps_train_options opt;
    lps_plan *plan;
    lps_plan *teacher;
    int logits_id;
    int teacher_logits_id;
    float *momentum;
    lps_tensor dlogits;
    float *teacher_logits;
    size_t teacher_cap;
    lps_exec_ctx *ctx;         /* training runs of plan */
    lps_exec_ctx *teacher_ctx; /* inference runs of teacher */
    lps_feeder feed;
    lps_train_guard guard;
    int64_t backoffs;
    lps_epoch_stats *stats;    /* [epochs]: the finished epochs */
    bool stop_agreed;          /* data-parallel: some rank asked to stop at the last step */
    bool grads_clear;          /* the last update zeroed the gradients (lps_sgd_step_clear):
                                  the next step need not */
    run_position at;           /* where the run is (or resumes) */
};

/* What a failed step diverged on (NULL: the failure is not numerical). */
typedef struct step_outcome {
    const char *diverged;
    char cause[LPS_ERROR_MSG_MAX];
} step_outcome;

/* What a step of this rank runs: a training step, or one of a trial
 * (lps_trainer_trial), which leaves the running statistics alone, with or
 * without the backward. */
typedef enum step_kind { STEP_TRAIN, STEP_TRIAL, STEP_TRIAL_FORWARD } step_kind;

/* Forward, loss and backward of this rank's part of the batch (nothing but
 * zeroed gradients when the part is empty); *mine gets its sums. A
 * non-finite loss sets out->diverged and skips the backward. A trial's
 * kinds leave the running statistics alone; STEP_TRIAL_FORWARD also skips
 * the backward. */
lps_status lps_trainer_local_step(lps_trainer *t, int64_t step, int64_t count, step_kind kind,
                                  lps_dist_step *mine, step_outcome *out, lps_error *err);

/* Whether no float of x is NaN or infinite. */
bool lps_trainer_all_finite(const float *x, size_t n);

#endif
