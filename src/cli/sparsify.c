/* lpsparsify MODEL --target S [options]: the main job. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/checkpoint_cli.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/lpsgd_step_cli.h"
#include "cli/options.h"
#include "cli/pattern_cli.h"
#include "cli/progress.h"
#include "cli/recipe.h"
#include "cli/unused_options.h"
#include "report/html.h"
#include "report/report.h"
#include "sparsity/hoyer.h"
#include "sparsity/sparsify.h"
#include "sparsity/train_bn.h"
#include "train/dist.h"

#define PERCENT 100.0
#define SPARSE_SUFFIX "-sparse.onnx"
#define ONNX_SUFFIX ".onnx"
#define MAX_COMMAND_LINE 4096
/* Sparsification fine-tunes a trained model: a smaller base lr than dense
 * training suits the biases and gains it trains with SGD. */
#define SPARSIFY_DEFAULT_LR 0.005
/* docs/benchmarks.md: on LeNet-300-100 five epochs keep the dense accuracy
 * at 90% within about 0.2 points in half a minute of CPU; more epochs help
 * at higher targets (--epochs). */
#define SPARSIFY_DEFAULT_EPOCHS 5
/* --epochs 0: the one-shot result, untrained (refused later for the
 * methods that prune while training). */
#define SPARSIFY_MIN_EPOCHS 0

enum sparsify_option_code {
    OPT_TARGET = LPS_OPT_FIRST_COMMAND_SPECIFIC,
    OPT_REPORT,
    OPT_HTML,
    OPT_P,
    OPT_P_LAYER,
    OPT_LAYER_TARGET,
    OPT_EXCLUDE,
    OPT_METHOD,
    OPT_STORAGE,
    OPT_MAX_DROP,
    OPT_ALLOCATION,
    OPT_LPSGD_LR,
    OPT_FREEZE_GAIN,
    OPT_PRUNE_EVERY,
    OPT_STATS_FIX,
    OPT_TRAIN_BN,
    OPT_PRUNE_EMBEDDINGS,
    OPT_PATTERN,
    OPT_CALIBRATION,
    OPT_SPARSEGPT_BLOCK,
    OPT_SPARSEGPT_DAMP,
    OPT_WANDA_GROUP,
    OPT_RECIPE,
    OPT_FINETUNE
};

/* Upper bound of --calibration and --sparsegpt-block. */
#define CALIBRATION_MAX 100000000

/* Upper bound of --prune-every: any run shorter than this many steps can
 * ask for a single update. */
#define PRUNE_EVERY_MAX 1000000000

void lps_cmd_sparsify_help(FILE *out)
{
    fprintf(out,
            "Usage: %s MODEL --target S [options]\n"
            "       %s sparsify MODEL --target S [options]\n\n"
            "Fine-tunes MODEL on --data while pruning its layer weights (Conv, Gemm, MatMul,\n"
            "... as each operator declares them) to the target sparsity, and writes the\n"
            "sparse model and a JSON report. Embedding tables are trained, not pruned.\n\n"
            "  --target S             fraction of prunable weights set to zero, in (0, 1)\n"
            "  -o, --output FILE      the sparse model (default MODEL-sparse.onnx)\n"
            "  --report FILE|-        the JSON report (docs/report.md)\n"
            "  --html FILE            the same report as a self-contained HTML page\n"
            "  --method M             lpss (default), gmp, magnitude, wanda or sparsegpt\n"
            "  --pattern N:M          at most N non-zero in every M consecutive input channels\n"
            "                         (2:4 for TensorRT); sets the target to 1 - N/M\n"
            "  --calibration N        wanda, sparsegpt: training samples to calibrate on\n"
            "                         (default 128)\n"
            "  --wanda-group G        wanda: prune the lowest scores of each row (default)\n"
            "                         or of the whole layer (layer)\n"
            "  --sparsegpt-block N    sparsegpt: columns per lazy update (default 128)\n"
            "  --sparsegpt-damp F     sparsegpt: dampening, fraction of mean diag (default 0.01)\n"
            "  --finetune F           after magnitude, wanda, sparsegpt: frozen (default: the\n"
            "                         one-shot mask kept) or lpss (semi-pruning from it)\n"
            "  --recipe FILE.json     options and per-layer rules from a file (docs/recipe.md);\n"
            "                         options on the command line override it\n"
            "  --p P                  LpSS exponent in (1, 2] for every layer (default: from S)\n"
            "  --p-layer NAME=P       exponent for one layer (initializer or node name)\n"
            "  --layer-target NAME=S  own target for one layer\n"
            "  --exclude REGEX        never prune layers whose name matches\n"
            "  --prune-embeddings     prune embedding tables (Gather over a constant) too\n"
            "  --allocation A         global (default) or per-layer\n"
            "  --lpsgd-lr SCALE|auto  LpSGD step = SCALE * (p - 1) (default auto: a probe\n"
            "                         before the first step picks SCALE; method.md)\n"
            "  --freeze-gain          keep each unit's gain ||w||_p fixed\n"
            "  --prune-every N        steps between mask updates (default 0: automatic, every\n"
            "                         step on short runs, 100 to 200 updates otherwise)\n"
            "  --stats-fix on|off     pull layer output statistics back to the dense ones\n"
            "                         while pruning (default off; method.md, BN-folded graphs)\n"
            "  --train-bn on|off      a BatchNorm after each biased layer while training, folded\n"
            "                         back on write (default on; method.md, BN-folded graphs)\n"
            "  --storage M            auto (default), dense or sparse initializers\n"
            "  --max-drop PTS         exit 3 without writing the model if accuracy falls by more\n"
            "                         than PTS percentage points\n"
            "  -q, --quiet            no progress output\n"
            "  -h, --help             show this help\n\n%s\n%s\n"
            "Sparsify's own training defaults: --epochs %d, --lr %g (biases and gains;\n"
            "LpSGD follows the same schedule). Unlabeled data selects --distill.\n"
            "--epochs 0 (magnitude, wanda, sparsegpt) writes the one-shot result untrained;\n"
            "more epochs fine-tune it (--finetune).\n\n"
            "Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input, 3 accuracy guard,\n"
            "130 interrupted.\n",
            LPS_PROGRAM, LPS_PROGRAM, LPS_CLI_DATA_HELP, LPS_CLI_TRAIN_HELP,
            SPARSIFY_DEFAULT_EPOCHS, SPARSIFY_DEFAULT_LR);
}

typedef struct sparsify_args {
    const char *model;
    const char *output;
    const char *report;
    const char *html;         /* NULL: no page */
    bool quiet;
    lps_cli_given given;      /* set on the command line or in the --recipe */
    double max_drop;          /* percentage points; NAN = no guard */
    lps_storage storage;
    lps_cli_data data;
    lps_train_options train;
    lps_sparsify_options sparse;
    lps_cli_checkpoint checkpoint;
    /* Training-only BatchNorms (sparsity/train_bn.h): on by default in one
     * process; with several MPI ranks each would normalise with its own
     * shard's batch statistics (no synchronised BatchNorm), so off there. */
    bool train_bn;
    cJSON *recipe;            /* --recipe's tree: option strings point into it */
    char command[MAX_COMMAND_LINE];
} sparsify_args;

static lps_status parse_layer_value(const char *option, const char *arg, double lo, bool lo_open,
                                    double hi, lps_layer_value *out, int *count, lps_error *err)
{
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg)
        return lps_fail(err, LPS_ERR_INVALID, "%s: expected NAME=VALUE, got '%s'", option, arg);
    if (*count >= LPS_SPARSIFY_MAX_OVERRIDES)
        return lps_fail(err, LPS_ERR_INVALID, "%s: at most %d overrides", option,
                        LPS_SPARSIFY_MAX_OVERRIDES);
    lps_layer_value *v = &out[*count];
    lps_status st = lps_cli_parse_double(option, eq + 1, lo, lo_open, hi, false, &v->value, err);
    if (st != LPS_OK)
        return st;
    /* The name points into argv, which lives as long as the process. */
    ((char *)arg)[eq - arg] = '\0';
    v->name = arg;
    (*count)++;
    return LPS_OK;
}

static lps_status parse_on_off(const char *option, const char *arg, bool *out, lps_error *err)
{
    static const char *const NAMES[] = {"on", "off", NULL};
    int k = 0;
    lps_status st = lps_cli_parse_choice(option, arg, NAMES, &k, err);
    if (st == LPS_OK)
        *out = k == 0;
    return st;
}

/* The keyword options of sparsify: each keyword and the value it sets. */
static const char *const METHOD_NAMES[] = {"lpss", "gmp", "magnitude", "wanda", "sparsegpt", NULL};
static const lps_sparsify_method METHODS[] = {LPS_METHOD_LPSS, LPS_METHOD_GMP,
                                              LPS_METHOD_MAGNITUDE, LPS_METHOD_WANDA,
                                              LPS_METHOD_SPARSEGPT};
static const char *const STORAGE_NAMES[] = {"auto", "dense", "sparse", NULL};
static const lps_storage STORAGES[] = {LPS_STORAGE_AUTO, LPS_STORAGE_DENSE, LPS_STORAGE_SPARSE};
static const char *const ALLOCATION_NAMES[] = {"global", "per-layer", NULL};
static const lps_prune_allocation ALLOCATIONS[] = {LPS_ALLOC_GLOBAL, LPS_ALLOC_PER_LAYER};
static const char *const FINETUNE_NAMES[] = {"frozen", "lpss", NULL};
static const lps_finetune FINETUNES[] = {LPS_FINETUNE_FROZEN, LPS_FINETUNE_LPSS};

static lps_status parse_sparsify_option(sparsify_args *a, int c, char *arg, lps_error *err)
{
    lps_sparsify_options *o = &a->sparse;
    lps_status st;
    int64_t every = 0;
    int k = 0;
    switch (c) {
    case OPT_TARGET:
        return lps_cli_parse_double("--target", arg, 0, true, 1, true, &o->target, err);
    case OPT_REPORT:
        a->report = arg;
        return LPS_OK;
    case OPT_HTML:
        if (!arg[0])
            return lps_fail(err, LPS_ERR_INVALID, "--html: needs a file name");
        a->html = arg;
        return LPS_OK;
    case OPT_P:
        return lps_cli_parse_double("--p", arg, 1, true, 2, false, &o->p, err);
    case OPT_P_LAYER:
        return parse_layer_value("--p-layer", arg, 1, true, 2, o->p_layer, &o->n_p_layer, err);
    case OPT_LAYER_TARGET:
        return parse_layer_value("--layer-target", arg, 0, false, 1, o->layer_target,
                                 &o->n_layer_target, err);
    case OPT_EXCLUDE:
        if (o->n_exclude >= LPS_SPARSIFY_MAX_OVERRIDES)
            return lps_fail(err, LPS_ERR_INVALID, "--exclude: at most %d patterns",
                            LPS_SPARSIFY_MAX_OVERRIDES);
        o->exclude[o->n_exclude++] = arg;
        return LPS_OK;
    case OPT_METHOD:
        if ((st = lps_cli_parse_choice("--method", arg, METHOD_NAMES, &k, err)) == LPS_OK)
            o->method = METHODS[k];
        return st;
    case OPT_STORAGE:
        if ((st = lps_cli_parse_choice("--storage", arg, STORAGE_NAMES, &k, err)) == LPS_OK)
            a->storage = STORAGES[k];
        return st;
    case OPT_MAX_DROP:
        return lps_cli_parse_double("--max-drop", arg, 0, false, PERCENT, false, &a->max_drop, err);
    case OPT_ALLOCATION:
        if ((st = lps_cli_parse_choice("--allocation", arg, ALLOCATION_NAMES, &k, err)) == LPS_OK)
            o->allocation = ALLOCATIONS[k];
        return st;
    case OPT_LPSGD_LR:
        o->lpsgd_lr_auto = strcmp(arg, "auto") == 0;
        return o->lpsgd_lr_auto ? LPS_OK
                                : lps_cli_parse_double("--lpsgd-lr", arg, 0, true, 1, false,
                                                       &o->lpsgd_lr_scale, err);
    case OPT_FREEZE_GAIN:
        o->freeze_gain = true;
        return LPS_OK;
    case OPT_STATS_FIX:
        return parse_on_off("--stats-fix", arg, &o->stats_fix, err);
    case OPT_TRAIN_BN:
        return parse_on_off("--train-bn", arg, &a->train_bn, err);
    case OPT_PRUNE_EVERY:
        st = lps_cli_parse_int("--prune-every", arg, 0, PRUNE_EVERY_MAX, &every, err);
        o->semi.frequency = every;
        o->gmp.frequency = every;
        return st;
    case OPT_PRUNE_EMBEDDINGS:
        o->prune_embeddings = true;
        return LPS_OK;
    case OPT_PATTERN:
        if (lps_pattern_parse(arg, &o->pattern, err) != LPS_OK)
            return lps_error_prefix(err, "--pattern");
        return LPS_OK;
    case OPT_CALIBRATION:
        return lps_cli_parse_int("--calibration", arg, 1, CALIBRATION_MAX, &o->calibration.samples,
                                 err);
    case OPT_WANDA_GROUP:
        if ((st = lps_cli_parse_choice("--wanda-group", arg, LPS_CLI_WANDA_GROUPS, &k, err)) == LPS_OK)
            o->wanda_per_layer = k == 1;
        return st;
    case OPT_SPARSEGPT_BLOCK:
        return lps_cli_parse_int("--sparsegpt-block", arg, 1, CALIBRATION_MAX, &o->sparsegpt.block,
                                 err);
    case OPT_FINETUNE:
        if ((st = lps_cli_parse_choice("--finetune", arg, FINETUNE_NAMES, &k, err)) == LPS_OK)
            o->finetune = FINETUNES[k];
        return st;
    case OPT_SPARSEGPT_DAMP:
        return lps_cli_parse_double("--sparsegpt-damp", arg, 0, true, 1, false, &o->sparsegpt.damp,
                                    err);
    }
    return lps_fail(err, LPS_ERR_INVALID, "unknown option");
}

static const struct option SPARSIFY_OPTIONS[] = {
    LPS_CLI_DATA_OPTIONS,
    LPS_CLI_TRAIN_OPTIONS,
    {"target", required_argument, NULL, OPT_TARGET},
    {"report", required_argument, NULL, OPT_REPORT},
    {"html", required_argument, NULL, OPT_HTML},
    {"p", required_argument, NULL, OPT_P},
    {"p-layer", required_argument, NULL, OPT_P_LAYER},
    {"layer-target", required_argument, NULL, OPT_LAYER_TARGET},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"method", required_argument, NULL, OPT_METHOD},
    {"storage", required_argument, NULL, OPT_STORAGE},
    {"max-drop", required_argument, NULL, OPT_MAX_DROP},
    {"allocation", required_argument, NULL, OPT_ALLOCATION},
    {"lpsgd-lr", required_argument, NULL, OPT_LPSGD_LR},
    {"freeze-gain", no_argument, NULL, OPT_FREEZE_GAIN},
    {"prune-every", required_argument, NULL, OPT_PRUNE_EVERY},
    {"stats-fix", required_argument, NULL, OPT_STATS_FIX},
    {"prune-embeddings", no_argument, NULL, OPT_PRUNE_EMBEDDINGS},
    {"train-bn", required_argument, NULL, OPT_TRAIN_BN},
    {"pattern", required_argument, NULL, OPT_PATTERN},
    {"calibration", required_argument, NULL, OPT_CALIBRATION},
    {"wanda-group", required_argument, NULL, OPT_WANDA_GROUP},
    {"sparsegpt-block", required_argument, NULL, OPT_SPARSEGPT_BLOCK},
    {"sparsegpt-damp", required_argument, NULL, OPT_SPARSEGPT_DAMP},
    {"finetune", required_argument, NULL, OPT_FINETUNE},
    {"recipe", required_argument, NULL, OPT_RECIPE},
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option, from the command line or a recipe (lps_recipe_option_fn). */
static lps_status apply_option(void *user, int c, char *arg, lps_error *err)
{
    sparsify_args *a = user;
    bool handled;
    lps_cli_given_mark(&a->given, c);
    lps_status st = lps_cli_data_option(&a->data, c, arg, &handled, err);
    if (st == LPS_OK && !handled)
        st = lps_cli_train_option(&a->train, SPARSIFY_MIN_EPOCHS, c, arg, &handled, err);
    if (st == LPS_OK && !handled)
        st = lps_cli_checkpoint_option(&a->checkpoint, c, arg, &handled, err);
    if (st == LPS_OK && !handled)
        st = parse_sparsify_option(a, c, arg, err);
    return st;
}

/* First pass over argv: the --recipe file, applied before the command
 * line so that every option given there overrides it (docs/recipe.md). */
static lps_status load_recipe(int argc, char **argv, sparsify_args *a, lps_error *err)
{
    const char *path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:q", SPARSIFY_OPTIONS, NULL)) != -1)
        if (c == OPT_RECIPE) {
            if (path)
                return lps_fail(err, LPS_ERR_INVALID, "--recipe: given twice");
            path = optarg;
        }
    optind = 0; /* glibc: a full re-initialisation for the second pass */
    if (!path)
        return LPS_OK;
    lps_cli_given_begin_recipe(&a->given, path);
    lps_status st = lps_recipe_load(path, SPARSIFY_OPTIONS, apply_option, a, &a->sparse,
                                    &a->recipe, err);
    lps_cli_given_end_recipe(&a->given);
    return st;
}

static void record_command(sparsify_args *a, int argc, char **argv)
{
    size_t used = (size_t)snprintf(a->command, sizeof a->command, "%s", LPS_PROGRAM);
    for (int i = 0; i < argc && used < sizeof a->command; i++) {
        int skip = lps_cli_checkpoint_arg_span(argc, argv, i);
        if (skip)
            i += skip - 1;
        else
            used += (size_t)snprintf(a->command + used, sizeof a->command - used, " %s", argv[i]);
    }
}

/* Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, sparsify_args *a)
{
    lps_error err = {0};
    int c;
    record_command(a, argc, argv);
    /* Before the parse, which cuts NAME=VALUE arguments in two. */
    if (lps_cli_checkpoint_identity(&a->checkpoint, argc, argv, SPARSIFY_OPTIONS, ":ho:q",
                                    &err) != LPS_OK)
        return lps_cli_report(&err);
    opterr = 0;
    if (load_recipe(argc, argv, a, &err) != LPS_OK)
        return lps_cli_report(&err);
    while ((c = getopt_long(argc, argv, ":ho:q", SPARSIFY_OPTIONS, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_sparsify_help(stdout);
            return 0;
        } else if (c == 'o') {
            a->output = optarg;
        } else if (c == 'q') {
            a->quiet = true;
        } else if (c == '?' || c == ':') {
            return lps_cli_option_error(argv[0], c, argv);
        } else if (c != OPT_RECIPE && apply_option(a, c, optarg, &err) != LPS_OK) {
            return lps_cli_report(&err);
        }
    }
    if (optind + 1 != argc)
        return lps_cli_usage_error(argv[0], optind >= argc ? "no MODEL given"
                                                           : "exactly one MODEL is expected");
    if (lps_cli_pattern_target(&a->sparse, &err) != LPS_OK)
        return lps_cli_report(&err);
    if (a->sparse.target == 0.0)
        return lps_cli_usage_error(argv[0], "--target S is required (or --pattern N:M)");
    if ((a->sparse.method == LPS_METHOD_WANDA || a->sparse.method == LPS_METHOD_SPARSEGPT) &&
        !lps_cli_given_has(&a->given, OPT_ALLOCATION))
        a->sparse.allocation = LPS_ALLOC_PER_LAYER;
    if (a->train.epochs == 0 && !lps_sparsify_method_is_oneshot(a->sparse.method)) {
        lps_fail(&err, LPS_ERR_INVALID, "--epochs: 0 needs a one-shot --method (magnitude, wanda "
                 "or sparsegpt)");
        return lps_cli_report(&err);
    }
    if (lps_sparsify_check_method_options(&a->sparse, &a->train, &err) != LPS_OK ||
        lps_cli_check_unused_options(&a->given, SPARSIFY_OPTIONS, &a->sparse, &a->train, &err) !=
            LPS_OK)
        return lps_cli_report(&err);
    if (lps_cli_given_has(&a->given, LPS_OPT_BATCH))
        a->train.batch_size = a->data.batch;
    a->train.preprocess = a->data.preprocess;
    a->model = argv[optind];
    return -1;
}

/* MODEL-sparse.onnx beside MODEL (".onnx" replaced when present). */
static char *default_output(const char *model)
{
    size_t n = strlen(model), sl = strlen(ONNX_SUFFIX);
    size_t stem = (n > sl && strcmp(model + n - sl, ONNX_SUFFIX) == 0) ? n - sl : n;
    char *out = malloc(stem + strlen(SPARSE_SUFFIX) + 1);
    if (out) {
        memcpy(out, model, stem);
        strcpy(out + stem, SPARSE_SUFFIX);
    }
    return out;
}

static cJSON *epochs_json(const lps_epoch_stats *stats, int64_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int64_t e = 0; arr && e < n; e++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "epoch", (double)stats[e].epoch);
        lps_json_add_number(o, "loss", stats[e].loss);
        lps_json_add_number(o, "accuracy", stats[e].accuracy);
        lps_json_add_number(o, "sparsity", stats[e].sparsity);
        lps_json_add_number(o, "hoyer", stats[e].hoyer);
        lps_json_add_number(o, "lr", stats[e].lr);
        lps_json_add_number(o, "seconds", stats[e].seconds);
        lps_json_add_number(o, "train_loss", stats[e].train_loss);
        cJSON_AddNumberToObject(o, "backoffs", (double)stats[e].backoffs);
        lps_json_add_number(o, "lr_scale", stats[e].lr_scale);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *pair_json(const char *k1, double v1, const char *k2, double v2)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        lps_json_add_number(o, k1, v1);
        lps_json_add_number(o, k2, v2);
    }
    return o;
}

typedef struct sparsify_outcome {
    lps_eval_result dense;          /* on the evaluation split (val or test) */
    lps_eval_result sparse;
    lps_eval_result dense_test;     /* --val-split: the test split, before and after */
    lps_eval_result sparse_test;
    const lps_cli_splits *splits;
    double achieved;
    size_t input_bytes;
    size_t output_bytes;      /* 0 when the model was not written */
    lps_epoch_stats *epochs;
    int64_t n_epochs;
    int64_t global_batch;        /* samples per step over every rank */
} sparsify_outcome;

/* The inspect report of the sparse model plus the run's keys. */
static cJSON *build_report(const sparsify_args *a, const lps_model *m, const lps_sparsify *s,
                           const sparsify_outcome *r, lps_error *err)
{
    lps_prunable_list weights = {0, NULL};
    if (lps_prunable_find(m, &weights, err) != LPS_OK)
        return NULL;
    /* the session's choices: --exclude, --prune-embeddings */
    for (size_t i = 0; i < weights.count && i < lps_sparsify_n_layers(s); i++)
        weights.items[i].excluded = lps_sparsify_layer_info(s, i)->excluded;
    cJSON *rep = lps_report_build(m, &weights, err);
    lps_prunable_list_release(&weights);
    if (!rep)
        return NULL;
    cJSON_AddStringToObject(rep, "tool_version", LPS_VERSION);
    cJSON_AddStringToObject(rep, "command", a->command);
    cJSON_AddNumberToObject(rep, "seed", (double)a->train.seed);
    cJSON_AddNumberToObject(rep, "ranks", lps_dist_size());
    cJSON_AddNumberToObject(rep, "global_batch", (double)r->global_batch);
    cJSON_AddStringToObject(rep, "method", lps_sparsify_method_name(a->sparse.method));
    lps_oneshot_stats oneshot;
    bool calibrated = lps_sparsify_oneshot_stats(s, &oneshot);
    lps_json_add_number(rep, "calibration_samples", calibrated ? (double)oneshot.samples : NAN);
    lps_json_add_number(rep, "oneshot_seconds", calibrated ? oneshot.seconds : NAN);
    if (lps_sparsify_method_is_oneshot(a->sparse.method) && a->train.epochs > 0)
        cJSON_AddStringToObject(rep, "finetune", lps_finetune_name(a->sparse.finetune));
    else
        cJSON_AddNullToObject(rep, "finetune");
    cJSON_AddNumberToObject(rep, "target", a->sparse.target);
    lps_json_add_number(rep, "achieved", r->achieved);
    cJSON_AddItemToObject(rep, "accuracy",
                          pair_json("dense", r->dense.accuracy, "sparse", r->sparse.accuracy));
    cJSON_AddItemToObject(rep, "loss", pair_json("dense", r->dense.loss, "sparse", r->sparse.loss));
    lps_cli_report_data(rep, r->splits, &r->dense_test, &r->sparse_test);
    cJSON *bytes = cJSON_CreateObject();
    if (bytes) {
        cJSON_AddNumberToObject(bytes, "input", (double)r->input_bytes);
        if (r->output_bytes)
            cJSON_AddNumberToObject(bytes, "output", (double)r->output_bytes);
        else
            cJSON_AddNullToObject(bytes, "output");
    }
    cJSON_AddItemToObject(rep, "bytes", bytes);
    for (size_t i = 0; i < lps_sparsify_n_layers(s); i++) {
        const lps_sparsify_layer *L = lps_sparsify_layer_info(s, i);
        cJSON *layer = lps_report_layer(rep, i);
        if (!layer)
            continue;
        double p = L->p > 0 ? L->p : NAN;
        lps_json_add_number(layer, "p", p);
        lps_json_add_number(layer, "reconstruction_error", L->recon_error);
        lps_json_add_number(layer, "hoyer_expected_p",
                            isfinite(p) ? lps_hoyer_expected((double)L->weight->fan_in,
                                                             lps_gamma_k_from_p(p))
                                        : NAN);
    }
    lps_cli_report_pattern(rep, s, &a->sparse);
    lps_cli_report_lpsgd_step(rep, s, &a->sparse);
    cJSON_AddItemToObject(rep, "epochs", epochs_json(r->epochs, r->n_epochs));
    return rep;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static int finish(const sparsify_args *a, lps_model *m, lps_sparsify *s, sparsify_outcome *r,
                  const char *output, lps_error *err)
{
    bool guard_tripped = isfinite(a->max_drop) && isfinite(r->dense.accuracy) &&
                         (r->dense.accuracy - r->sparse.accuracy) * PERCENT > a->max_drop;
    /* Rank 0 alone writes (docs/distributed.md); it ends the job on failure. */
    if (lps_dist_rank() != 0)
        return guard_tripped ? lps_status_exit_code(LPS_ERR_ACCURACY) : 0;
    if (!guard_tripped) {
        if (lps_model_save(m, output, lps_cli_pattern_storage(&a->sparse, a->storage), err) !=
            LPS_OK)
            return lps_cli_report(err);
        r->output_bytes = file_size(output);
    }
    if (a->report || a->html) {
        cJSON *rep = build_report(a, m, s, r, err);
        lps_status st = rep ? LPS_OK : err->status;
        if (st == LPS_OK && a->report)
            st = lps_report_write(rep, a->report, err);
        if (st == LPS_OK && a->html)
            st = lps_report_html_write(&(lps_html_source){rep, lps_sparsify_method_name(a->sparse.method)},
                                       1, a->html, err);
        cJSON_Delete(rep);
        if (st != LPS_OK)
            return lps_cli_report(err);
    }
    if (guard_tripped) {
        lps_fail(err, LPS_ERR_ACCURACY,
                 "%s: accuracy fell from %.2f%% to %.2f%%, more than --max-drop %g points; "
                 "the model was not written", a->model, r->dense.accuracy * PERCENT,
                 r->sparse.accuracy * PERCENT, a->max_drop);
        return lps_cli_report(err);
    }
    if (!a->quiet)
        printf("%s: sparsity %.2f%% (target %.2f%%), accuracy %.2f%% -> %.2f%%, %zu -> %zu bytes\n",
               output, r->achieved * PERCENT, a->sparse.target * PERCENT,
               r->dense.accuracy * PERCENT, r->sparse.accuracy * PERCENT, r->input_bytes,
               r->output_bytes);
    return 0;
}

/* The command's defaults before parsing: sparsify's own lr and epochs over
 * the trainer's, no accuracy guard, training-only BatchNorm on one process. */
static void sparsify_args_default(sparsify_args *a)
{
    memset(a, 0, sizeof *a);
    a->max_drop = NAN;
    a->storage = LPS_STORAGE_AUTO;
    lps_cli_data_default(&a->data);
    lps_train_options_default(&a->train);
    a->train.lr.base_lr = SPARSIFY_DEFAULT_LR;
    a->train.epochs = SPARSIFY_DEFAULT_EPOCHS;
    lps_sparsify_options_default(&a->sparse);
    a->train_bn = lps_dist_size() == 1;
}

/* Refuses, before anything is loaded, every combination where one written
 * file would replace an input (the model, the data) or another output:
 * LPS_ERR_INVALID naming the file; LPS_OK otherwise. A report on stdout
 * ("-") replaces nothing. */
static lps_status check_outputs(const sparsify_args *a, const char *output, lps_error *err)
{
    bool report_file = a->report && strcmp(a->report, "-") != 0;
    if (lps_cli_same_file(output, a->model))
        return lps_fail(err, LPS_ERR_INVALID, "%s: the output would overwrite the input model",
                        output);
    if (report_file && (lps_cli_check_not_input(a->report, a->model, err) != LPS_OK ||
                        lps_cli_check_not_input(a->report, a->data.spec, err) != LPS_OK))
        return err->status;
    if (a->report && strcmp(a->report, output) == 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: the report would overwrite the output model",
                        a->report);
    if (a->html && (lps_cli_check_not_input(a->html, a->model, err) != LPS_OK ||
                    lps_cli_check_not_input(a->html, a->data.spec, err) != LPS_OK))
        return err->status;
    if (a->html && (strcmp(a->html, output) == 0 || (a->report && strcmp(a->html, a->report) == 0)))
        return lps_fail(err, LPS_ERR_INVALID, "%s: the HTML page would overwrite another output",
                        a->html);
    return LPS_OK;
}

/* parse_args, then the rules between options: with --epochs 0 nothing
 * trains, so the one-shot result is written as the method left it and
 * training-only BatchNorm is off unless asked for; asked for on several
 * ranks it is refused (each would normalise with its own statistics).
 * Returns -1 to go on, else the exit code (the message already printed). */
static int parse_and_settle(int argc, char **argv, sparsify_args *a)
{
    lps_error err = {0};
    int code = parse_args(argc, argv, a);
    if (code >= 0)
        return code;
    bool asked = lps_cli_given_has(&a->given, OPT_TRAIN_BN);
    if (!asked)
        a->train_bn = a->train_bn && a->train.epochs > 0;
    if (asked && a->train_bn && lps_dist_size() > 1) {
        lps_fail(&err, LPS_ERR_INVALID, "--train-bn on: each of the %d ranks would normalise "
                 "with its own batch statistics; use --train-bn off or one process",
                 lps_dist_size());
        return lps_cli_report(&err);
    }
    return -1;
}

/* The sparsifier's hooks with the progress display's and the stop flag. */
static void sparsify_run_hooks(lps_sparsify *s, lps_progress_display *display,
                               volatile sig_atomic_t *stop, lps_train_hooks *hooks)
{
    memset(hooks, 0, sizeof *hooks);
    lps_sparsify_hooks(s, hooks);
    lps_progress_hooks(display, stop, hooks);
}

/* Options that follow from the training split: without labels the run
 * distills from the dense model; calibration reads the same data. */
static void adopt_training_data(sparsify_args *a, lps_dataset *train)
{
    if (!train->labels)
        a->train.distill = true;
    a->sparse.calibration.data = train;
    a->sparse.calibration.preprocess = a->train.preprocess;
    a->sparse.calibration.batch = a->train.batch_size;
    a->sparse.calibration.seed = a->train.seed;
}

int lps_cmd_sparsify(int argc, char **argv)
{
    sparsify_args a;
    lps_error err = {0};
    lps_cli_splits splits = {0};
    lps_model *m = NULL;
    lps_trainer *t = NULL;
    lps_sparsify *s = NULL;
    lps_train_bn bn = {0};
    char *output = NULL;
    sparsify_outcome r;
    lps_progress_display display;
    int code;
    memset(&r, 0, sizeof r);
    sparsify_args_default(&a);
    code = parse_and_settle(argc, argv, &a);
    if (code >= 0) {
        lps_cli_checkpoint_release(&a.checkpoint);
        cJSON_Delete(a.recipe);
        return code;
    }
    a.quiet = a.quiet || lps_dist_rank() != 0; /* one progress display: rank 0's */
    /* From here on SIGINT/SIGTERM only set the flag: loading and the dense
     * evaluation finish, and the trainer stops at its first step (exit 130). */
    volatile sig_atomic_t *stop = lps_install_stop_handlers();
    output = a.output ? strdup(a.output) : default_output(a.model);
    if (!output) {
        lps_fail(&err, LPS_ERR_NOMEM, "out of memory");
        goto failed;
    }
    if (check_outputs(&a, output, &err) != LPS_OK)
        goto failed;
    if (lps_cli_check_input_file(a.model, &err) != LPS_OK ||
        !(m = lps_model_load(a.model, &err)) ||
        lps_cli_open_splits(&a.data, m, a.train.seed, &splits, &err) != LPS_OK ||
        (a.train_bn && lps_train_bn_insert(&bn, m, &splits.train, &a.train.preprocess,
                                           a.train.batch_size, &err) != LPS_OK))
        goto failed;
    lps_cli_print_adaptation(&splits, m, a.quiet);
    lps_dataset *train = &splits.train, *eval = splits.eval;
    bool held_out = eval != &splits.test;
    r.input_bytes = m->file_bytes;
    adopt_training_data(&a, train);
    /* --epochs 0 compiles the same training plan and runs no epoch */
    lps_train_options plan_opt = a.train;
    if (plan_opt.epochs == 0)
        plan_opt.epochs = 1;
    /* The trainer refuses NaN or infinite weights naming them, before the
     * dense evaluation would trip over their non-finite logits. */
    if (!(t = lps_trainer_create(m, train, eval, &plan_opt, &err)) ||
        lps_evaluate_model(m, eval, &a.train.preprocess, a.train.batch_size, &r.dense, &err) !=
            LPS_OK ||
        (held_out && lps_evaluate_model(m, &splits.test, &a.train.preprocess, a.train.batch_size,
                                        &r.dense_test, &err) != LPS_OK) ||
        !(s = lps_sparsify_create(m, lps_trainer_plan(t), &a.sparse, &a.train, &err)))
        goto failed;
    lps_cli_print_pattern_misfits(s, &a.sparse, a.quiet);
    r.n_epochs = a.train.epochs;
    r.global_batch = lps_trainer_batch(t) * lps_dist_size();
    r.epochs = calloc((size_t)r.n_epochs + 1, sizeof *r.epochs);
    if (!r.epochs) {
        lps_fail(&err, LPS_ERR_NOMEM, "out of memory");
        goto failed;
    }
    lps_progress_init(&display, a.quiet);
    lps_train_hooks hooks;
    sparsify_run_hooks(s, &display, stop, &hooks);
    /* After the dense evaluation: resuming changes the model's running statistics. */
    if (lps_cli_checkpoint_start(&a.checkpoint, a.model, t, &hooks, &err) != LPS_OK ||
        (r.n_epochs > 0 && lps_trainer_run(t, &hooks, r.epochs, &err) != LPS_OK) ||
        lps_sparsify_finish(s, &err) != LPS_OK ||
        lps_train_bn_recalibrate(&bn, m, lps_trainer_plan(t), train, &a.train.preprocess,
                                 a.train.batch_size, &err) != LPS_OK ||
        lps_trainer_evaluate(t, eval, &r.sparse, &err) != LPS_OK ||
        (held_out && lps_trainer_evaluate(t, &splits.test, &r.sparse_test, &err) != LPS_OK) ||
        lps_trainer_write(t, &err) != LPS_OK || lps_train_bn_fold(&bn, m, &err) != LPS_OK)
        goto failed;
    r.achieved = lps_sparsify_achieved(s);
    r.splits = &splits;
    code = finish(&a, m, s, &r, output, &err);
    goto cleanup;
failed:
    lps_cli_checkpoint_note(&a.checkpoint, &err);
    code = lps_cli_report(&err);
cleanup:
    lps_cli_checkpoint_release(&a.checkpoint);
    free(r.epochs);
    free(output);
    lps_sparsify_free(s);
    lps_trainer_free(t);
    lps_train_bn_release(&bn, m);
    lps_cli_splits_release(&splits);
    lps_model_free(m);
    cJSON_Delete(a.recipe);
    return code;
}
