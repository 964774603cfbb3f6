/* LpSGD on one prunable weight tensor (docs/method.md sections 2 and 3).
 *
 * Each row (output unit) of the weight is written w = g * u with a gain
 * g = ||w||_p taken from the input model and a direction u on the unit Lp
 * sphere. u is driven by a latent v = sign(u) |u|^(p-1) on the unit Lq
 * sphere (q = p / (p - 1)); the gain is trained by plain SGD or frozen.
 *
 * Storage: u, v, the momentum and the mask are kept in ROW ORDER (row j,
 * position i at j * row_len + i), whatever the tensor's own layout, so every
 * per-row loop is contiguous. The tensor layout is used only at the edges:
 * the gradient is read and the weight written through lps_row_layout.
 * lps_lpsgd_packed_layout describes the row-order buffers for the pruning
 * routines, which then see mask, latent weight and packed gradient alike.
 *
 * Normalisation covers the whole row, masked positions included: a masked
 * position gets no gradient, so its v shrinks by (1 - lr) before the row is
 * renormalised; it keeps a latent value and can be regrown. The trainer owns
 * one lps_lpsgd_state per prunable tensor. */
#ifndef LPS_SPARSITY_LPSGD_H
#define LPS_SPARSITY_LPSGD_H

#include <stdint.h>

#include "core/ckpt_stream.h"
#include "lpsparsify/error.h"
#include "sparsity/rows.h"
#include "train/optim.h"

/* Smallest accepted p: q = 101, beyond which float rows collapse to their
 * maximum entry and the step-size rule lr ~ (p - 1) vanishes. */
#define LPS_LPSGD_P_MIN 1.01
#define LPS_LPSGD_P_MAX 2.0
/* The relaxed fixed-point iteration needs lr < 1/2 (docs/method.md section 3). */
#define LPS_LPSGD_LR_LIMIT 0.5

typedef struct lps_lpsgd_state {
    lps_row_layout layout; /* of the tensor the gradient and weight use */
    int64_t numel;         /* n_rows * row_len */
    double p;
    double q;              /* p / (p - 1) */
    float *gain;           /* [n_rows] */
    float *gain_momentum;  /* [n_rows] */
    float *u;              /* [numel], row order, ||row||_p = 1 (or the row is all zero) */
    float *v;              /* [numel], row order, ||row||_q = 1 (or the row is all zero) */
    float *momentum;       /* [numel], row order, momentum of d(loss)/du */
    uint8_t *mask;         /* [numel], row order, 1 = active; all 1 after init */
    float *work;           /* [numel] scratch for one step */
    float *dgain;          /* [n_rows] scratch: d(loss)/dg */
} lps_lpsgd_state;

typedef struct lps_lpsgd_hparams {
    float lr;        /* LpSGD step in [0, LPS_LPSGD_LR_LIMIT); 0 leaves u unchanged */
    float momentum;  /* on the raw gradient w.r.t. u, in [0, 1) */
    int nesterov;    /* Nesterov look-ahead; needs momentum > 0 */
    int freeze_gain; /* nonzero: gains keep their input-model values */
    float gain_lr;   /* plain SGD step of the gains (ignored when frozen) */
    lps_sgd_config gain_sgd; /* momentum / weight decay of the gains */
} lps_lpsgd_hparams;

/* Initialises st from the dense weight w (tensor layout described by
 * layout; numel must equal n_rows * row_len and the layout must address
 * each element once: rows contiguous or columns contiguous) at exponent p in
 * [LPS_LPSGD_P_MIN, LPS_LPSGD_P_MAX]. Gains and u come from a per-row p-norm
 * computed in double with the row max factored out, so that g * u
 * reproduces w to within float rounding (about 1e-7 relative); all-zero
 * rows get g = 0 and u = v = 0 and stay so. The mask starts all active.
 * Returns LPS_ERR_INVALID (bad p, layout or a non-finite weight) or
 * LPS_ERR_NOMEM; on failure st holds no memory. Free with lps_lpsgd_free. */
lps_status lps_lpsgd_init(lps_lpsgd_state *st, const float *w, lps_row_layout layout,
                          int64_t numel, double p, lps_error *err);

/* Releases the buffers of st (st itself is the caller's) and zeroes it.
 * st may be NULL. */
void lps_lpsgd_free(lps_lpsgd_state *st);

/* Checks the ranges documented on lps_lpsgd_hparams; LPS_ERR_INVALID names
 * the field. */
lps_status lps_lpsgd_hparams_check(const lps_lpsgd_hparams *hp, lps_error *err);

/* One LpSGD step given grad_w = d(loss)/dw in the tensor layout (w being the
 * exported, masked weight). Per row: d_raw = g * grad_w at active positions
 * (0 at masked ones, whose momentum is cleared); momentum / Nesterov give d;
 * v <- normalise_q((1 - lr) v - lr d / ||d||_q); u <- sign(v) |v|^(q-1).
 * The gains then take a plain SGD step on d(loss)/dg = sum_i mask_i u_i
 * grad_w_i (computed with the u before the step) unless frozen. Powers use
 * unitpow.h (relative error < 3e-6); norms are accumulated in
 * double with the row max factored out. Returns LPS_ERR_INVALID for bad
 * hparams and LPS_ERR_RUNTIME when grad_w holds a non-finite value (naming
 * the row); st is unchanged on failure. */
lps_status lps_lpsgd_step(lps_lpsgd_state *st, const float *grad_w, const lps_lpsgd_hparams *hp,
                          lps_error *err);

/* lps_lpsgd_step, then lps_lpsgd_export to w, in one pass: each row is
 * written as soon as it (and its gain) has stepped, on the step's threads
 * (the row still in cache). The same values as the two calls; the same
 * failures, on which w is unchanged. */
lps_status lps_lpsgd_step_export(lps_lpsgd_state *st, const float *grad_w,
                                 const lps_lpsgd_hparams *hp, float *w, lps_error *err);

/* One weight of lps_lpsgd_step_layers: its state, d(loss)/dw in the
 * tensor layout, the step's hyperparameters and, when w is not NULL, the
 * tensor the rows are exported to (as lps_lpsgd_step_export). */
typedef struct lps_lpsgd_layer_step {
    lps_lpsgd_state *st;
    const float *grad_w;
    lps_lpsgd_hparams hp;
    float *w;
} lps_lpsgd_layer_step;

/* Fills *step with layer `layer` (0 <= layer < the call's n) of an
 * lps_lpsgd_step_layers call; called several times per layer and step,
 * from the step's threads, always with the same result. */
typedef void (*lps_lpsgd_layer_fn)(void *user, int layer, lps_lpsgd_layer_step *step);

/* lps_lpsgd_step_export on each of n layers, in one parallel region: every
 * layer's gradient is checked before any state changes, then the rows of
 * every layer, each layer's cut over the threads, step (each row on its
 * own, so the bytes are those of n lps_lpsgd_step_export calls). On
 * failure (bad hparams, a non-finite gradient; errors as
 * lps_lpsgd_step_export) *failed is the first layer at fault and no
 * layer's state or w has changed. */
lps_status lps_lpsgd_step_layers(int n, lps_lpsgd_layer_fn layer, void *user, int *failed,
                                 lps_error *err);

/* Writes the forward-pass weight w = g * u (tensor layout), masked
 * positions exactly 0.0f. */
void lps_lpsgd_export(const lps_lpsgd_state *st, float *w);

/* Writes g * u for every position, masked ones included (row order): the
 * magnitudes the drop / restore decisions compare. */
void lps_lpsgd_latent_weight(const lps_lpsgd_state *st, float *out);

/* Copies a tensor-layout buffer (e.g. the full gradient for the grow step)
 * into row order. */
void lps_lpsgd_pack(const lps_lpsgd_state *st, const float *tensor_src, float *packed);

/* Copies the trainable state of src (gains, u, v, momenta, mask) into
 * copy, allocating copy's buffers on the first call (copy zeroed by the
 * caller before it). LPS_ERR_NOMEM leaves copy releasable with
 * lps_lpsgd_free. */
lps_status lps_lpsgd_snapshot(const lps_lpsgd_state *src, lps_lpsgd_state *copy, lps_error *err);

/* Puts a snapshot of st back into st (same tensor). */
void lps_lpsgd_restore(lps_lpsgd_state *st, const lps_lpsgd_state *copy);

/* Transfers the trainable state of st (gains, u, v, momenta, mask; the
 * same as a snapshot) to or from checkpoint c (core/ckpt_stream.h). st's
 * buffers must exist (lps_lpsgd_init, or lps_lpsgd_snapshot for a copy).
 * Errors as lps_ckpt_bytes; a read mask holding other values than 0 and 1
 * is LPS_ERR_INVALID. */
lps_status lps_lpsgd_transfer(lps_lpsgd_state *st, lps_ckpt *c, lps_error *err);

/* The layout of the row-order buffers: rows contiguous, row_len apart. */
lps_row_layout lps_lpsgd_packed_layout(const lps_lpsgd_state *st);

/* Default p for a target sparsity (docs/method.md section 4): piecewise-linear
 * through the published points 0.5 / 0.8 / 0.9 -> 1.3 / 1.15 / 1.07 (first,
 * small layers: 1.4 / 1.3 / 1.2), anchored at p = 2 (no sparsity pressure)
 * for target 0; beyond 0.9 the last segment's slope continues, floored at
 * LPS_LPSGD_DEFAULT_P_FLOOR. Targets outside [0, 1] are clamped.
 * Provisional until benchmarked (docs/method.md). */
double lps_lpsgd_default_p(double target, int first_layer);

/* Lowest default p: q = 21, the smallest p the reference runs used (at 98%). */
#define LPS_LPSGD_DEFAULT_P_FLOOR 1.05

/* Default LpSGD step 0.015 * (p - 1) (docs/method.md section 3). */
double lps_lpsgd_default_lr(double p);

#endif
