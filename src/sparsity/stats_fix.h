/* Output-statistics correction for graphs without normalisation (BN-folded
 * exports; docs/method.md, "BN-folded graphs"): while the masks change, each
 * corrected layer's per-channel output mean and standard deviation are pulled
 * back toward the values they had during the dense steps before the pruning
 * window, through the unit's gain (scale) and bias (shift). This is what a
 * BatchNorm after the layer does on batch statistics, without changing the
 * graph. */
#ifndef LPS_SPARSITY_STATS_FIX_H
#define LPS_SPARSITY_STATS_FIX_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ckpt_stream.h"
#include "lpsparsify/engine.h"
#include "lpsparsify/error.h"

/* Fraction of the log-ratio of standard deviations (and of the mean gap)
 * corrected per step: half, so batch noise averages out over a few steps
 * and the correction cannot overshoot. */
#define LPS_STATS_FIX_DAMPING 0.5

/* One corrected layer: its output in the plan and its channel statistics. */
typedef struct lps_stats_layer {
    int value_id;          /* the layer's output value (kept by the plan) */
    int64_t channels;      /* = the weight's rows (output units) */
    double *ref_mean, *ref_std; /* [channels] dense reference */
    double *mean, *std;    /* [channels] the last batch */
    int64_t ref_batches;   /* batches averaged into the reference */
    bool measured;         /* mean/std hold the last forward's values */
} lps_stats_layer;

/* Prepares layer L for output value `value_id` with `channels` units and
 * asks the plan to keep the value. LPS_ERR_NOMEM leaves L releasable. */
lps_status lps_stats_layer_init(lps_stats_layer *L, lps_plan *plan, int value_id,
                                int64_t channels, lps_error *err);

/* Transfers the reference and last measurement of L to or from checkpoint
 * c (same channels). */
lps_status lps_stats_layer_transfer(lps_stats_layer *L, lps_ckpt *c, lps_error *err);

/* Frees L's arrays (L itself is the caller's); L may be NULL. */
void lps_stats_layer_release(lps_stats_layer *L);

/* Reads the per-channel mean and standard deviation of the layer's output
 * from the last forward. The channel axis is axis 1 when its size is the
 * unit count (NCHW, [N, C]), else the last axis ([N, T, C]). Returns false
 * (and measures nothing) when neither axis has the unit count. With
 * into_reference, also averages them into the dense reference. */
bool lps_stats_layer_measure(lps_stats_layer *L, const lps_plan *plan, bool into_reference);

/* The correction for channel c from the last measurement: the output
 * y = s + b (s the weight's part, b the bias, NULL for none) becomes
 * a s + b' with a = (ref_std / std)^DAMPING and b' moving the mean
 * DAMPING of the way to ref_mean. Writes a to *scale and, with a bias,
 * the new bias to *bias. Channels with a zero std on either side keep
 * a = 1. */
void lps_stats_layer_correction(const lps_stats_layer *L, int64_t c, float *scale, float *bias);

#endif
