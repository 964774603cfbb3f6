/* Sparsification as trainer hooks: LpSS (LpSGD on prunable rows with
 * semi-pruning and projection to the exact target), GMP and one-shot
 * magnitude pruning, all on the same data pipeline and schedule
 * (docs/method.md sections 2-4 and 7). Every other parameter (biases, BatchNorm, ...) is
 * trained by the trainer's SGD settings. */
#ifndef LPS_SPARSITY_SPARSIFY_H
#define LPS_SPARSITY_SPARSIFY_H

#include <stdbool.h>

#include "lpsparsify/engine.h"
#include "lpsparsify/model.h"
#include "sparsity/lr_probe.h"
#include "sparsity/oneshot.h"
#include "sparsity/prunable.h"
#include "sparsity/prune.h"
#include "train/trainer.h"

/* The fixed LpSGD step scale (docs/method.md section 3). */
#define LPS_SPARSIFY_DEFAULT_LPSGD_LR_SCALE 0.015

typedef enum lps_sparsify_method {
    LPS_METHOD_LPSS = 0,
    LPS_METHOD_GMP,
    LPS_METHOD_MAGNITUDE,
    LPS_METHOD_WANDA,       /* one-shot from calibration (sparsity/oneshot.h) */
    LPS_METHOD_SPARSEGPT
} lps_sparsify_method;

/* Whether the method prunes once before training (then fine-tunes, see
 * lps_finetune) rather than while training. */
bool lps_sparsify_method_is_oneshot(lps_sparsify_method m);

/* How the epochs after a one-shot method's pruning train the surviving
 * weights (docs/method.md, "One-shot pruning from calibration"). */
typedef enum lps_finetune {
    LPS_FINETUNE_FROZEN = 0, /* momentum SGD, the one-shot mask kept */
    LPS_FINETUNE_LPSS        /* LpSGD with semi-pruning from the one-shot mask, projected to
                              * the targets at the window's end, as LpSS does */
} lps_finetune;

const char *lps_finetune_name(lps_finetune f);

/* A per-layer value given on the command line as NAME=VALUE; NAME matches
 * the initializer name or the node name. */
typedef struct lps_layer_value {
    const char *name;
    double value;
} lps_layer_value;

#define LPS_SPARSIFY_MAX_OVERRIDES 64

/* A per-layer rule (a recipe's layers[i], docs/recipe.md): the layers whose
 * initializer or node name matches the regex take its values. Rules apply
 * in order (a later rule wins), before the by-name overrides. */
typedef struct lps_layer_rule {
    const char *file;    /* names the rule in messages: "FILE: layers[index]" */
    int index;
    const char *match;   /* POSIX extended regex */
    double target;       /* own target in [0, 1], or NAN: unchanged */
    double p;            /* LpSS exponent in (1, 2], or NAN: unchanged */
    bool exclude;        /* never prune nor count */
} lps_layer_rule;

typedef struct lps_sparsify_options {
    lps_sparsify_method method;
    double target;                     /* global target sparsity in (0, 1) */
    double p;                          /* 0: the default for the target (lps_default_p) */
    int n_p_layer;
    lps_layer_value p_layer[LPS_SPARSIFY_MAX_OVERRIDES];
    int n_layer_target;
    lps_layer_value layer_target[LPS_SPARSIFY_MAX_OVERRIDES];
    int n_exclude;
    const char *exclude[LPS_SPARSIFY_MAX_OVERRIDES]; /* POSIX extended regexes */
    int n_rules;
    lps_layer_rule rules[LPS_SPARSIFY_MAX_OVERRIDES];
    lps_prune_allocation allocation;
    double lpsgd_lr_scale;             /* LpSGD lr = scale * (p - 1) * schedule factor */
    bool lpsgd_lr_auto;                /* the scale is chosen by a probe before the first
                                        * step (sparsity/lr_probe.h); lpsgd_lr_scale is
                                        * then the fallback */
    bool freeze_gain;
    lps_semiprune_config semi;
    bool prune_embeddings;             /* prune embedding tables too (default: only train
                                        * them; docs/method.md section 1) */
    bool progressive_floor;            /* LpSS: masks follow at least the cubic GMP ramp
                                        * over the semi-pruning window (default on) */
    bool stats_fix;                    /* LpSS and GMP: pull each biased layer's output
                                        * statistics back to the dense ones while pruning
                                        * (sparsity/stats_fix.h; default off) */
    lps_gmp_config gmp;
    /* N:M pattern for every counted layer whose rows split into groups
     * (m == 0: unstructured). target must then be lps_pattern_sparsity;
     * a layer that does not split is left dense and not counted unless it
     * has its own --layer-target (pruned unstructured); an own target on a
     * layer that splits is an error (docs/method.md, "N:M patterns"). */
    lps_pattern pattern;
    /* Wanda and SparseGPT: the samples they calibrate on (calibration.data
     * is the caller's training split) and SparseGPT's settings. Every
     * layer is pruned to its own target (allocation is per layer). */
    lps_calibration calibration;
    lps_sparsegpt_config sparsegpt;
    bool wanda_per_layer;              /* --wanda-group layer */
    lps_finetune finetune;             /* one-shot methods; LPSS needs epochs > 0 */
} lps_sparsify_options;

/* Defaults (docs/method.md): LpSS, global allocation, p from the target,
 * LpSGD lr SCALE (p - 1) with SCALE chosen by the probe (lpsgd_lr_auto;
 * 0.015 when it cannot run), trainable gains, section 4's semi-pruning and
 * a GMP ramp over the same 20%..80% window. */
void lps_sparsify_options_default(lps_sparsify_options *o);

/* LpSS, or a one-shot method then --finetune lpss: the session trains
 * LpSGD states (from the start, or from the one-shot pass on), and reads
 * the exponents and LpSGD's options. */
bool lps_sparsify_trains_lpsgd(const lps_sparsify_options *o);

typedef struct lps_sparsify_layer {
    const lps_prunable *weight;
    size_t param;          /* index in the plan's parameters */
    double p;              /* LpSS exponent (0 for other methods) */
    double target;         /* own target or LPS_PRUNE_GLOBAL_TARGET */
    bool excluded;
    bool patterned;        /* its mask follows the options' N:M pattern */
    bool pattern_misfit;   /* --pattern given, its rows do not split into groups */
    double recon_error;    /* Wanda, SparseGPT: ||W X - W' X|| / ||W X||; NAN otherwise */
} lps_sparsify_layer;

typedef struct lps_sparsify lps_sparsify;

/* The method-dependent options that cannot be combined, checked before any
 * model is loaded: LPS_ERR_INVALID naming --stats-fix when it is on with a
 * one-shot method (it corrects statistics during LpSS and GMP only), and
 * naming --finetune when lpss is asked without a one-shot method or with no
 * epoch to fine-tune. lps_sparsify_create checks the same. */
lps_status lps_sparsify_check_method_options(const lps_sparsify_options *opt,
                                             const lps_train_options *train_opt, lps_error *err);

/* Prepares a session for the prunable weights of m as the trainer's plan
 * holds them. train_opt supplies the SGD settings and base lr of the other
 * parameters. Errors: LPS_ERR_INVALID for a bad option, an override,
 * --exclude or rule naming no layer, or the option combinations of
 * lps_sparsify_check_method_options; LPS_ERR_UNSUPPORTED when the model has no
 * prunable weight. */
lps_sparsify *lps_sparsify_create(const lps_model *m, lps_plan *plan,
                                  const lps_sparsify_options *opt,
                                  const lps_train_options *train_opt, lps_error *err);

/* Fills hooks (begin, update, end_epoch) for lps_trainer_run. */
void lps_sparsify_hooks(lps_sparsify *s, lps_train_hooks *hooks);

/* Writes the session's weights into the plan's parameters: the final masks
 * (one-shot magnitude pruning with no update step relies on it) and, for
 * LpSS, g * u with pruned positions 0 (before any step: the input model's
 * weights to float rounding). Errors as lps_magnitude_prune. */
lps_status lps_sparsify_finish(lps_sparsify *s, lps_error *err);

/* Zeros / total over the counted (not excluded) prunable weights, as the
 * plan holds them now. */
double lps_sparsify_achieved(const lps_sparsify *s);

/* Per-layer information for the report, in lps_prunable order. */
size_t lps_sparsify_n_layers(const lps_sparsify *s);
const lps_sparsify_layer *lps_sparsify_layer_info(const lps_sparsify *s, size_t i);

const char *lps_sparsify_method_name(lps_sparsify_method m);

/* Wanda, SparseGPT: the one-shot pass's calibration samples and time, once
 * it ran (false before, and for the other methods). */
bool lps_sparsify_oneshot_stats(const lps_sparsify *s, lps_oneshot_stats *stats);

/* The LpSGD step probe's record once it ran (lpsgd_lr_auto, LpSGD
 * training, more than one batch per epoch); NULL otherwise. */
const lps_lr_probe *lps_sparsify_lr_probe(const lps_sparsify *s);

/* The LpSGD step scale the session trains with (the probe's choice once
 * it ran). */
double lps_sparsify_lpsgd_lr_scale(const lps_sparsify *s);

/* Frees the session. NULL is accepted. */
void lps_sparsify_free(lps_sparsify *s);

#endif
