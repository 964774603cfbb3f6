/* The sensitivity command's parts (docs/cli.md, "sensitivity"): measuring
 * each layer alone at each grid target, the suggestion, and its JSON and
 * recipe outputs. */
#ifndef LPS_CLI_SENSITIVITY_H
#define LPS_CLI_SENSITIVITY_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "cli/options.h"
#include "lpsparsify/data.h"
#include "lpsparsify/model.h"
#include "sparsity/prunable.h"
#include "sparsity/sparsify.h"
#include "train/trainer.h"

#define LPS_SENSITIVITY_MAX_GRID 32
#define LPS_SENSITIVITY_SCHEMA "lpsparsify.sensitivity/1"

typedef struct lps_sensitivity_args {
    const char *model;
    const char *json;        /* --json FILE|- or NULL */
    const char *recipe_out;  /* --recipe-out FILE or NULL */
    bool quiet;
    int64_t samples;         /* --samples */
    uint64_t seed;           /* --seed: the subset */
    double suggest;          /* --suggest S; 0: none */
    lps_sparsify_method method; /* --method: magnitude, wanda or sparsegpt */
    int64_t calibration;     /* --calibration: wanda, sparsegpt */
    bool wanda_per_layer;    /* --wanda-group layer */
    int n_grid;
    double grid[LPS_SENSITIVITY_MAX_GRID];
    lps_cli_data data;
} lps_sensitivity_args;

typedef struct lps_sensitivity_layer {
    const lps_prunable *weight;
    int64_t params;
    lps_eval_result results[LPS_SENSITIVITY_MAX_GRID]; /* at each grid target */
    double suggested;        /* with a suggestion: the layer's target */
} lps_sensitivity_layer;

typedef struct lps_sensitivity {
    lps_prunable_list weights;
    size_t n_layers;                 /* counted layers (embeddings are not) */
    lps_sensitivity_layer *layers;
    lps_eval_result dense;
    int n_grid;
    double grid[LPS_SENSITIVITY_MAX_GRID];
    lps_dataset subset;              /* the --samples part, when smaller than the split */
    int64_t calibration_samples;     /* wanda, sparsegpt: samples each layer calibrated on */
    double suggest;
    bool suggested;
} lps_sensitivity;

/* Parses --grid: 1 to LPS_SENSITIVITY_MAX_GRID targets, increasing inside
 * (0, 1). LPS_ERR_INVALID naming --grid. */
lps_status lps_sensitivity_parse_grid(const char *text, double *grid, int *n, lps_error *err);

/* Measures m (its weights are restored afterwards) on a seeded subset of
 * eval with each counted layer pruned alone to each grid target by
 * a->method: magnitude, or Wanda / SparseGPT calibrated once per layer on
 * a->calibration samples of train through the dense model (docs/method.md,
 * "Sensitivity and suggested targets"). eval must have labels
 * (LPS_ERR_INVALID otherwise) and may lose samples to the subset; errors of
 * the calibration name the layer. Release s with lps_sensitivity_release. */
lps_status lps_sensitivity_measure(lps_model *m, const lps_dataset *train, lps_dataset *eval,
                                   const lps_sensitivity_args *a, lps_sensitivity *s,
                                   lps_error *err);

/* Per-layer targets for global target S (lps_allocate_targets over the
 * measured costs: the accuracy drop, ties broken by the loss increase). */
lps_status lps_sensitivity_suggest(lps_sensitivity *s, double global, lps_error *err);

/* The measurements (and the suggestion) as JSON (docs/cli.md); NULL with
 * LPS_ERR_NOMEM. */
cJSON *lps_sensitivity_json(const lps_sensitivity *s, const lps_sensitivity_args *a,
                            lps_error *err);

/* The suggestion as a recipe (docs/recipe.md): the global target and one
 * anchored rule per layer; NULL with LPS_ERR_NOMEM. */
cJSON *lps_sensitivity_recipe(const lps_sensitivity *s, lps_error *err);

/* Frees what s holds; s may be NULL. */
void lps_sensitivity_release(lps_sensitivity *s);

#endif
