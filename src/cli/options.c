#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_EVAL_BATCH 256
#define MAX_BATCH (1 << 20)
#define MAX_EPOCHS 100000
#define MAX_CSV_COLUMN (1 << 20)
#define MIB ((int64_t)1 << 20)
/* --memory-budget is in MiB, up to 1 PiB (far above any real machine, far
 * below a size_t overflow). */
#define MAX_MEMORY_BUDGET_MIB ((int64_t)1 << 30)
/* --resize / --crop bound (the decoder's pixel limit is far below its square). */
#define MAX_IMAGE_SIDE (1 << 16)
/* Room for the keyword list of an unknown choice ("a, b or c"). */
#define CHOICE_LIST_CAP 256

const char LPS_CLI_DATA_HELP[] =
    "Data options:\n"
    "  --data SPEC            'fashion-mnist' (default), a folder, a file, or\n"
    "                         NAME=FILE,... one NPY per model input (docs/data.md)\n"
    "  --batch N              batch size\n"
    "  --scale S              multiply raw values by S (default 1/255 for uint8 data)\n"
    "  --mean M[,M...]        subtract per-channel means after scaling\n"
    "  --std S[,S...]         divide by per-channel standard deviations\n"
    "  --label-column K       CSV: column K (0-based, negative from the end) is the label\n"
    "  --csv-header H         CSV: auto (default), yes or no\n"
    "  --memory-budget MIB    refuse datasets needing more than MIB MiB (default 8192)\n"
    "  --resize N             images: shorter side before the centre crop (default crop/0.875)\n"
    "  --crop N               images: centre crop side (default the model's input size)\n"
    "  --augment A            training images: none (default), light or standard\n"
    "  --normalize N          imagenet (ImageNet mean/std after /255) or none (default)\n"
    "  --val-split F          hold out a seeded fraction F of train for per-epoch evaluation\n"
    "  --skip-bad             image folders: leave out unreadable files, listed in the report\n";

const char LPS_CLI_TRAIN_HELP[] =
    "Training options:\n"
    "  --epochs N             epochs (default 10)\n"
    "  --lr LR                base learning rate (default 0.01)\n"
    "  --lr-schedule S        cosine (default), constant, linear, or points F:M,F:M,...\n"
    "  --momentum M           SGD momentum (default 0.9)\n"
    "  --no-nesterov          plain momentum instead of Nesterov\n"
    "  --weight-decay W       L2 weight decay (default 0)\n"
    "  --clip NORM            clip the global gradient norm (default off)\n"
    "  --label-smoothing E    cross-entropy label smoothing (default 0)\n"
    "  --seed N               shuffling and dropout seed (default 0)\n"
    "  --distill              train against the input model's outputs (T^2 KL)\n"
    "  --temperature T        distillation temperature (default 2)\n"
    "  --bn-frozen            keep BatchNorm on its running statistics while training\n"
    "  --checkpoint DIR       keep a checkpoint of the run in DIR (written atomically)\n"
    "  --checkpoint-every N   steps between checkpoints (default 0: after each epoch;\n"
    "                         SIGINT/SIGTERM also write one before exit 130)\n"
    "  --resume DIR           continue the run checkpointed in DIR (same model, same\n"
    "                         options; the result equals an uninterrupted run's)\n";

lps_status lps_cli_parse_int(const char *option, const char *text, int64_t min, int64_t max,
                             int64_t *out, lps_error *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0')
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not an integer", option, text);
    if (v < min || v > max)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %lld is outside %lld..%lld", option, v,
                        (long long)min, (long long)max);
    *out = v;
    return LPS_OK;
}

lps_status lps_cli_parse_double(const char *option, const char *text, double min, bool min_open,
                                double max, bool max_open, double *out, lps_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !isfinite(v))
        return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not a finite number", option, text);
    if ((min_open ? v <= min : v < min) || (max_open ? v >= max : v > max))
        return lps_fail(err, LPS_ERR_INVALID, "%s: %g is outside %s%g, %g%s", option, v,
                        min_open ? "(" : "[", min, max, max_open ? ")" : "]");
    *out = v;
    return LPS_OK;
}

const char *const LPS_CLI_WANDA_GROUPS[] = {"row", "layer", NULL};

lps_status lps_cli_parse_choice(const char *option, const char *arg, const char *const *names,
                                int *index, lps_error *err)
{
    char list[CHOICE_LIST_CAP] = "";
    size_t used = 0;
    int n = 0;
    for (; names[n]; n++)
        if (strcmp(arg, names[n]) == 0) {
            *index = n;
            return LPS_OK;
        }
    for (int i = 0; i < n && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s",
                         i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    return lps_fail(err, LPS_ERR_INVALID, "%s: '%s' is not %s", option, arg, list);
}

void lps_cli_data_default(lps_cli_data *d)
{
    memset(d, 0, sizeof *d);
    d->spec = LPS_FASHION_MNIST_SPEC;
    d->batch = DEFAULT_EVAL_BATCH;
    d->load.csv_header = LPS_CSV_HEADER_AUTO;
}

lps_status lps_cli_data_option(lps_cli_data *d, int c, const char *arg, bool *handled,
                               lps_error *err)
{
    static const char *const AUGMENT_NAMES[] = {"none", "light", "standard", NULL};
    static const lps_augment AUGMENTS[] = {LPS_AUGMENT_NONE, LPS_AUGMENT_LIGHT,
                                           LPS_AUGMENT_STANDARD};
    static const char *const NORMALIZE_NAMES[] = {"imagenet", "none", NULL};
    static const char *const CSV_HEADER_NAMES[] = {"auto", "yes", "no", NULL};
    static const lps_csv_header CSV_HEADERS[] = {LPS_CSV_HEADER_AUTO, LPS_CSV_HEADER_PRESENT,
                                                 LPS_CSV_HEADER_ABSENT};
    int64_t iv = 0;
    int k = 0;
    lps_status st = LPS_OK;
    *handled = true;
    switch (c) {
    case LPS_OPT_DATA:
        d->spec = arg;
        break;
    case LPS_OPT_BATCH:
        st = lps_cli_parse_int("--batch", arg, 1, MAX_BATCH, &d->batch, err);
        break;
    case LPS_OPT_SCALE:
        d->preprocess.has_scale = true;
        st = lps_cli_parse_double("--scale", arg, 0, true, HUGE_VAL, false, &d->preprocess.scale,
                                  err);
        break;
    case LPS_OPT_MEAN:
        st = lps_parse_value_list(arg, "--mean", d->preprocess.mean, LPS_PREPROCESS_MAX_VALUES,
                                  &d->preprocess.n_mean, err);
        break;
    case LPS_OPT_STD:
        st = lps_parse_value_list(arg, "--std", d->preprocess.std, LPS_PREPROCESS_MAX_VALUES,
                                  &d->preprocess.n_std, err);
        break;
    case LPS_OPT_CSV_LABEL_COLUMN:
        d->load.csv_has_labels = true;
        st = lps_cli_parse_int("--label-column", arg, -MAX_CSV_COLUMN, MAX_CSV_COLUMN, &iv, err);
        d->load.csv_label_column = (int)iv;
        break;
    case LPS_OPT_MEMORY_BUDGET:
        st = lps_cli_parse_int("--memory-budget", arg, 1, MAX_MEMORY_BUDGET_MIB, &iv, err);
        d->load.memory_budget = (size_t)(iv * MIB);
        break;
    case LPS_OPT_RESIZE:
        st = lps_cli_parse_int("--resize", arg, 1, MAX_IMAGE_SIDE, &d->load.adapt.resize, err);
        break;
    case LPS_OPT_CROP:
        st = lps_cli_parse_int("--crop", arg, 1, MAX_IMAGE_SIDE, &d->load.adapt.crop, err);
        break;
    case LPS_OPT_AUGMENT:
        if ((st = lps_cli_parse_choice("--augment", arg, AUGMENT_NAMES, &k, err)) == LPS_OK)
            d->load.adapt.augment = AUGMENTS[k];
        break;
    case LPS_OPT_NORMALIZE:
        if ((st = lps_cli_parse_choice("--normalize", arg, NORMALIZE_NAMES, &k, err)) == LPS_OK)
            d->preprocess.imagenet = k == 0;
        break;
    case LPS_OPT_VAL_SPLIT:
        st = lps_cli_parse_double("--val-split", arg, 0, true, 1, true, &d->val_split, err);
        break;
    case LPS_OPT_SKIP_BAD:
        d->load.skip_bad = true;
        break;
    case LPS_OPT_CSV_HEADER:
        if ((st = lps_cli_parse_choice("--csv-header", arg, CSV_HEADER_NAMES, &k, err)) == LPS_OK)
            d->load.csv_header = CSV_HEADERS[k];
        break;
    default:
        *handled = false;
    }
    return st;
}

static lps_status parse_schedule(lps_train_options *o, const char *arg, lps_error *err)
{
    if (strcmp(arg, "cosine") == 0)
        o->lr.kind = LPS_LR_COSINE;
    else if (strcmp(arg, "constant") == 0)
        o->lr.kind = LPS_LR_CONSTANT;
    else if (strcmp(arg, "linear") == 0)
        o->lr.kind = LPS_LR_LINEAR;
    else if (lps_lr_points_parse(&o->lr, arg, err) != LPS_OK)
        return lps_error_prefix(err, "--lr-schedule");
    return LPS_OK;
}

lps_status lps_cli_train_option(lps_train_options *o, int64_t min_epochs, int c, const char *arg,
                                bool *handled, lps_error *err)
{
    /* Zero, not indeterminate, when a parse fails before storing. */
    double v = 0;
    int64_t iv = 0;
    lps_status st = LPS_OK;
    *handled = true;
    switch (c) {
    case LPS_OPT_EPOCHS:
        st = lps_cli_parse_int("--epochs", arg, min_epochs, MAX_EPOCHS, &o->epochs, err);
        break;
    case LPS_OPT_LR:
        st = lps_cli_parse_double("--lr", arg, 0, true, HUGE_VAL, false, &o->lr.base_lr, err);
        break;
    case LPS_OPT_LR_SCHEDULE:
        st = parse_schedule(o, arg, err);
        break;
    case LPS_OPT_MOMENTUM:
        st = lps_cli_parse_double("--momentum", arg, 0, false, 1, true, &v, err);
        o->sgd.momentum = (float)v;
        if (o->sgd.momentum == 0.0f)
            o->sgd.nesterov = 0;
        break;
    case LPS_OPT_NO_NESTEROV:
        o->sgd.nesterov = 0;
        break;
    case LPS_OPT_WEIGHT_DECAY:
        st = lps_cli_parse_double("--weight-decay", arg, 0, false, 1, true, &v, err);
        o->sgd.weight_decay = (float)v;
        break;
    case LPS_OPT_CLIP:
        st = lps_cli_parse_double("--clip", arg, 0, true, HUGE_VAL, false, &o->clip_norm, err);
        break;
    case LPS_OPT_LABEL_SMOOTHING:
        st = lps_cli_parse_double("--label-smoothing", arg, 0, false, 1, true, &v, err);
        o->label_smoothing = (float)v;
        break;
    case LPS_OPT_SEED:
        st = lps_cli_parse_int("--seed", arg, 0, INT64_MAX, &iv, err);
        o->seed = (uint64_t)iv;
        break;
    case LPS_OPT_DISTILL:
        o->distill = true;
        break;
    case LPS_OPT_TEMPERATURE:
        st = lps_cli_parse_double("--temperature", arg, 0, true, HUGE_VAL, false,
                                  &o->distill_cfg.temperature, err);
        break;
    case LPS_OPT_BN_FROZEN:
        o->bn_batch_stats = false;
        break;
    default:
        *handled = false;
    }
    return st;
}

lps_status lps_cli_open_split(const lps_cli_data *d, const lps_model *m, lps_data_split split,
                              lps_dataset *ds, lps_error *err)
{
    const lps_graph *g = &m->graph;
    lps_data_options load = d->load;
    const char **names = calloc(g->n_inputs ? g->n_inputs : 1, sizeof *names);
    if (!names)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    load.n_input_names = 0;
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!lps_graph_find_initializer(g, g->inputs[i].name))
            names[load.n_input_names++] = g->inputs[i].name;
    load.input_names = names;
    lps_status st = lps_dataset_open(ds, d->spec, split, &load, err);
    free(names);
    return st;
}

lps_status lps_cli_open_splits(const lps_cli_data *d, const lps_model *m, uint64_t seed,
                               lps_cli_splits *s, lps_error *err)
{
    memset(s, 0, sizeof *s);
    lps_status st = lps_cli_open_split(d, m, LPS_SPLIT_TRAIN, &s->train, err);
    if (st == LPS_OK)
        st = lps_cli_open_split(d, m, LPS_SPLIT_TEST, &s->test, err);
    if (st == LPS_OK)
        st = lps_dataset_check_same_classes(&s->train, &s->test, err);
    if (st == LPS_OK && d->val_split > 0)
        st = lps_dataset_split_validation(&s->train, d->val_split, seed, &s->val, err);
    s->eval = d->val_split > 0 ? &s->val : &s->test;
    if (st != LPS_OK)
        lps_cli_splits_release(s);
    return st;
}

void lps_cli_splits_release(lps_cli_splits *s)
{
    if (!s)
        return;
    lps_dataset_release(&s->train);
    lps_dataset_release(&s->val);
    lps_dataset_release(&s->test);
    s->eval = NULL;
}

/* The per-sample dims of the model's first real input (not an
 * initializer), when they are all fixed. */
static bool model_sample_dims(const lps_model *m, int64_t *dims, int *rank)
{
    const lps_graph *g = &m->graph;
    for (size_t i = 0; i < g->n_inputs; i++) {
        const lps_value_info *vi = &g->inputs[i];
        if (lps_graph_find_initializer(g, vi->name))
            continue;
        if (vi->rank < 2)
            return false;
        for (int d = 1; d < vi->rank; d++) {
            if (vi->dims[d].symbol || vi->dims[d].value <= 0)
                return false;
            dims[d - 1] = vi->dims[d].value;
        }
        *rank = vi->rank - 1;
        return true;
    }
    return false;
}

void lps_cli_print_dataset_adaptation(const char *split, const lps_dataset *ds,
                                      const lps_model *m, bool quiet)
{
    int64_t dims[LPS_MAX_RANK];
    int rank = 0;
    char line[LPS_ERROR_MSG_MAX];
    if (quiet || !ds->name || !model_sample_dims(m, dims, &rank))
        return;
    lps_dataset_describe_adaptation(ds, rank, dims, line, sizeof line);
    if (line[0])
        fprintf(stderr, "lpsparsify: data: %s: %s\n", split, line);
}

void lps_cli_print_adaptation(const lps_cli_splits *s, const lps_model *m, bool quiet)
{
    lps_cli_print_dataset_adaptation("train", &s->train, m, quiet);
    lps_cli_print_dataset_adaptation("val", &s->val, m, quiet);
    lps_cli_print_dataset_adaptation("test", &s->test, m, quiet);
}
