/* Option parsing shared by the commands that read data or train: strict
 * number parsing (the whole text must be a number in range; the message
 * names the option) and the common data / training options. */
#ifndef LPS_CLI_OPTIONS_H
#define LPS_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "lpsparsify/data.h"
#include "lpsparsify/error.h"
#include "train/trainer.h"

/* Parses text as a base-10 integer in [min, max]. LPS_ERR_INVALID naming
 * `option` otherwise. */
lps_status lps_cli_parse_int(const char *option, const char *text, int64_t min, int64_t max,
                             int64_t *out, lps_error *err);

/* Parses text as a finite number; min_open/max_open make a bound exclusive. */
lps_status lps_cli_parse_double(const char *option, const char *text, double min, bool min_open,
                                double max, bool max_open, double *out, lps_error *err);

/* Finds arg among names (a NULL-terminated list of an option's keywords)
 * and stores its position in *index: LPS_OK. Otherwise LPS_ERR_INVALID
 * with "OPTION: 'ARG' is not a, b or c" and *index untouched. */
lps_status lps_cli_parse_choice(const char *option, const char *arg, const char *const *names,
                                int *index, lps_error *err);

/* --wanda-group's keywords, for lps_cli_parse_choice: "row" (position 0,
 * per output row) or "layer" (1, one threshold per layer). */
extern const char *const LPS_CLI_WANDA_GROUPS[];

/* Long-option codes above the ASCII range, shared by every command. */
enum lps_cli_option_code {
    LPS_OPT_DATA = 256,
    LPS_OPT_BATCH,
    LPS_OPT_SCALE,
    LPS_OPT_MEAN,
    LPS_OPT_STD,
    LPS_OPT_CSV_LABEL_COLUMN,
    LPS_OPT_CSV_HEADER,
    LPS_OPT_MEMORY_BUDGET,
    LPS_OPT_RESIZE,
    LPS_OPT_CROP,
    LPS_OPT_AUGMENT,
    LPS_OPT_NORMALIZE,
    LPS_OPT_VAL_SPLIT,
    LPS_OPT_SKIP_BAD,
    LPS_OPT_EPOCHS,
    LPS_OPT_LR,
    LPS_OPT_LR_SCHEDULE,
    LPS_OPT_MOMENTUM,
    LPS_OPT_NO_NESTEROV,
    LPS_OPT_WEIGHT_DECAY,
    LPS_OPT_CLIP,
    LPS_OPT_LABEL_SMOOTHING,
    LPS_OPT_SEED,
    LPS_OPT_DISTILL,
    LPS_OPT_TEMPERATURE,
    LPS_OPT_BN_FROZEN,
    LPS_OPT_JSON,
    LPS_OPT_CHECKPOINT,
    LPS_OPT_CHECKPOINT_EVERY,
    LPS_OPT_RESUME,
    LPS_OPT_FIRST_COMMAND_SPECIFIC
};

#define LPS_CLI_DATA_OPTIONS                                                                       \
    {"data", required_argument, NULL, LPS_OPT_DATA},                                               \
        {"batch", required_argument, NULL, LPS_OPT_BATCH},                                         \
        {"scale", required_argument, NULL, LPS_OPT_SCALE},                                         \
        {"mean", required_argument, NULL, LPS_OPT_MEAN},                                           \
        {"std", required_argument, NULL, LPS_OPT_STD},                                             \
        {"label-column", required_argument, NULL, LPS_OPT_CSV_LABEL_COLUMN},                       \
        {"csv-header", required_argument, NULL, LPS_OPT_CSV_HEADER},                               \
        {"memory-budget", required_argument, NULL, LPS_OPT_MEMORY_BUDGET},                         \
        {"resize", required_argument, NULL, LPS_OPT_RESIZE},                                       \
        {"crop", required_argument, NULL, LPS_OPT_CROP},                                           \
        {"augment", required_argument, NULL, LPS_OPT_AUGMENT},                                     \
        {"normalize", required_argument, NULL, LPS_OPT_NORMALIZE},                                 \
        {"val-split", required_argument, NULL, LPS_OPT_VAL_SPLIT},                                 \
        {"skip-bad", no_argument, NULL, LPS_OPT_SKIP_BAD}

#define LPS_CLI_TRAIN_OPTIONS                                                                      \
    {"epochs", required_argument, NULL, LPS_OPT_EPOCHS},                                           \
        {"lr", required_argument, NULL, LPS_OPT_LR},                                               \
        {"lr-schedule", required_argument, NULL, LPS_OPT_LR_SCHEDULE},                             \
        {"momentum", required_argument, NULL, LPS_OPT_MOMENTUM},                                   \
        {"no-nesterov", no_argument, NULL, LPS_OPT_NO_NESTEROV},                                   \
        {"weight-decay", required_argument, NULL, LPS_OPT_WEIGHT_DECAY},                           \
        {"clip", required_argument, NULL, LPS_OPT_CLIP},                                           \
        {"label-smoothing", required_argument, NULL, LPS_OPT_LABEL_SMOOTHING},                     \
        {"seed", required_argument, NULL, LPS_OPT_SEED},                                           \
        {"distill", no_argument, NULL, LPS_OPT_DISTILL},                                           \
        {"temperature", required_argument, NULL, LPS_OPT_TEMPERATURE},                             \
        {"bn-frozen", no_argument, NULL, LPS_OPT_BN_FROZEN},                                       \
        {"checkpoint", required_argument, NULL, LPS_OPT_CHECKPOINT},                               \
        {"checkpoint-every", required_argument, NULL, LPS_OPT_CHECKPOINT_EVERY},                   \
        {"resume", required_argument, NULL, LPS_OPT_RESUME}

/* What the data options select. */
typedef struct lps_cli_data {
    const char *spec;              /* --data, default "fashion-mnist" */
    int64_t batch;                 /* --batch */
    lps_data_options load;
    lps_preprocess_opts preprocess;
    double val_split;              /* --val-split fraction held out of train; 0 = none */
} lps_cli_data;

void lps_cli_data_default(lps_cli_data *d);

/* Applies option code c (with optarg) when it is a data option. Returns
 * LPS_OK and sets *handled; LPS_ERR_INVALID naming the option on a bad value. */
lps_status lps_cli_data_option(lps_cli_data *d, int c, const char *arg, bool *handled,
                               lps_error *err);

/* Same for the training options, into o; --epochs below min_epochs is
 * refused (train needs 1; sparsify's one-shot methods accept 0). */
lps_status lps_cli_train_option(lps_train_options *o, int64_t min_epochs, int c, const char *arg,
                                bool *handled, lps_error *err);

/* Loads a split of d->spec for model m (whose input names select the
 * files of a multi-input dataset). Errors name the files. */
lps_status lps_cli_open_split(const lps_cli_data *d, const lps_model *m, lps_data_split split,
                              lps_dataset *ds, lps_error *err);

/* The splits a training command works on: train; eval, on which every
 * per-epoch evaluation and decision is taken (the --val-split hold-out of
 * train, or test without one); and test. With --val-split, eval is val and
 * test is measured once before and once after; without, eval and test are
 * the same dataset (test). Checks that the class folders of the splits
 * agree. Release with lps_cli_splits_release(). */
typedef struct lps_cli_splits {
    lps_dataset train;
    lps_dataset val;      /* empty without --val-split */
    lps_dataset test;
    lps_dataset *eval;    /* &val or &test */
} lps_cli_splits;

lps_status lps_cli_open_splits(const lps_cli_data *d, const lps_model *m, uint64_t seed,
                               lps_cli_splits *s, lps_error *err);

/* Frees the three datasets. s may be NULL. */
void lps_cli_splits_release(lps_cli_splits *s);

/* Adds the data keys of a training command's report (docs/report.md):
 * evaluation_split ("val" or "test"), with a held-out validation split
 * `test` {accuracy, loss} {dense, sparse} from dense_test/sparse_test,
 * and from an image folder `classes` (names in label order) and
 * `skipped` (files --skip-bad left out, of every split). */
void lps_cli_report_data(cJSON *report, const lps_cli_splits *s,
                         const lps_eval_result *dense_test, const lps_eval_result *sparse_test);

/* Prints "lpsparsify: data: SPLIT: <adaptation>" on stderr when ds's
 * samples are adapted to the model's input (unless quiet). */
void lps_cli_print_dataset_adaptation(const char *split, const lps_dataset *ds,
                                      const lps_model *m, bool quiet);

/* The same for each split of s. */
void lps_cli_print_adaptation(const lps_cli_splits *s, const lps_model *m, bool quiet);

/* Help text lines for the shared options. */
extern const char LPS_CLI_DATA_HELP[];
extern const char LPS_CLI_TRAIN_HELP[];

#endif
