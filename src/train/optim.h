/* Optimizers over flat float buffers, gradient clipping and learning-rate
 * schedules (docs/method.md sections 1 and 4: everything that is not an
 * Lp-constrained weight row is trained by this SGD).
 *
 * All functions are pure over caller-owned buffers: the trainer owns one
 * momentum buffer per parameter tensor and passes it on every step. */
#ifndef LPS_TRAIN_OPTIM_H
#define LPS_TRAIN_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "lpsparsify/error.h"

/* Coupled L2 adds weight_decay * w to the gradient before momentum (what
 * PyTorch's torch.optim.SGD does, so a model trained there sees the same
 * regulariser when fine-tuned here); decoupled shrinks w by
 * lr * weight_decay after the step, outside the momentum. */
typedef enum lps_weight_decay_mode {
    LPS_WD_COUPLED_L2 = 0,
    LPS_WD_DECOUPLED
} lps_weight_decay_mode;

typedef struct lps_sgd_config {
    float momentum;      /* 0 disables momentum; must be in [0, 1) */
    int nesterov;        /* nonzero: Nesterov look-ahead (requires momentum > 0) */
    float weight_decay;  /* >= 0 */
    lps_weight_decay_mode wd_mode;
} lps_sgd_config;

/* Checks the ranges documented on lps_sgd_config. Returns LPS_ERR_INVALID
 * naming the field on violation. */
lps_status lps_sgd_config_check(const lps_sgd_config *cfg, lps_error *err);

/* One SGD step on n parameters w with gradient g (PyTorch semantics,
 * dampening 0): buf = momentum * buf + g'; step = nesterov ? g' + momentum *
 * buf : buf; w -= lr * step, where g' includes the coupled L2 term.
 * momentum_buf (n floats, zero before the first step) may be NULL only when
 * cfg->momentum == 0. g is not modified. The config must have passed
 * lps_sgd_config_check. */
void lps_sgd_step(const lps_sgd_config *cfg, float lr, int64_t n, float *w, const float *g,
                  float *momentum_buf);

/* lps_sgd_step (the same bytes of w and momentum_buf), then g zeroed, in
 * one pass: the next backward accumulates onto a clear gradient without a
 * pass of its own. Returns whether every updated w is finite (what the
 * trainer checks after each step), found in the same pass. */
bool lps_sgd_step_clear(const lps_sgd_config *cfg, float lr, int64_t n, float *w, float *g,
                        float *momentum_buf);

/* Whether every w[0..n) is finite, with g[0..n) zeroed in the same pass
 * (cut over the threads): the trainer's check after an update hook's step,
 * which leaves the gradient for the next backward to accumulate onto. */
bool lps_finite_clear(const float *w, float *g, int64_t n);

/* Euclidean norm, accumulated in double, of the concatenation of n_bufs
 * gradient buffers (bufs[i] holds lens[i] floats). Non-finite entries make
 * the result non-finite. */
double lps_grad_global_norm(int n_bufs, float *const *bufs, const int64_t *lens);

/* Scales all buffers by max_norm / norm when their global norm exceeds
 * max_norm (> 0). Returns the norm before clipping, so the caller can log it
 * and detect divergence (a non-finite return leaves the buffers untouched). */
double lps_clip_grad_global_norm(int n_bufs, float *const *bufs, const int64_t *lens,
                                 double max_norm);

typedef enum lps_lr_kind {
    LPS_LR_CONSTANT = 0, /* base_lr throughout */
    LPS_LR_COSINE,       /* base_lr to final_lr along half a cosine */
    LPS_LR_LINEAR,       /* base_lr to final_lr in a straight line */
    LPS_LR_PIECEWISE     /* base_lr * piecewise-linear multiplier through points */
} lps_lr_kind;

/* Enough for any warmup / plateau / decay recipe while keeping the struct
 * flat and copyable. */
#define LPS_LR_MAX_POINTS 16

typedef struct lps_lr_point {
    double fraction;   /* of the run, in [0, 1], strictly increasing along the list */
    double multiplier; /* of base_lr, >= 0 */
} lps_lr_point;

typedef struct lps_lr_schedule {
    lps_lr_kind kind;
    double base_lr;
    double final_lr; /* cosine and linear only */
    int n_points;    /* piecewise only, 1..LPS_LR_MAX_POINTS */
    lps_lr_point points[LPS_LR_MAX_POINTS];
} lps_lr_schedule;

/* Checks base_lr > 0, final_lr >= 0 and, for piecewise, the point list.
 * Returns LPS_ERR_INVALID with a one-line message naming the field. */
lps_status lps_lr_schedule_check(const lps_lr_schedule *s, lps_error *err);

/* Parses "f0:m0,f1:m1,..." (e.g. "0:0,0.05:1,1:0" = 5% linear warmup then
 * linear decay to 0) into s->points / s->n_points and sets s->kind to
 * piecewise; base_lr is left alone. Returns LPS_ERR_INVALID quoting the
 * offending text on malformed input, leaving s unchanged. */
lps_status lps_lr_points_parse(lps_lr_schedule *s, const char *text, lps_error *err);

/* Learning rate at optimizer step `step` of a run of total_steps (> 0):
 * evaluated at fraction t = step / total_steps clamped to [0, 1], so the
 * last step (total_steps - 1) sits just before the end value. Piecewise
 * holds the first multiplier before the first point and the last after the
 * last point. The schedule must have passed lps_lr_schedule_check. */
double lps_lr_at(const lps_lr_schedule *s, int64_t step, int64_t total_steps);

#endif
