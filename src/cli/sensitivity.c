/* lpsparsify sensitivity MODEL [options]: per-layer one-shot pruning
 * sensitivity and suggested per-layer targets (docs/cli.md, "sensitivity";
 * docs/method.md, "Sensitivity and suggested targets"). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/recipe.h"
#include "cli/sensitivity.h"
#include "report/report.h"
#include "sparsity/allocate.h"
#include "sparsity/prunable.h"
#include "sparsity/prune.h"
#include "train/trainer.h"

#define PERCENT 100.0
#define DEFAULT_SAMPLES 1000
#define MAX_SAMPLES 100000000

enum sensitivity_option_code {
    OPT_GRID = LPS_OPT_FIRST_COMMAND_SPECIFIC,
    OPT_SAMPLES,
    OPT_METHOD,
    OPT_SUGGEST,
    OPT_RECIPE_OUT,
    OPT_CALIBRATION,
    OPT_WANDA_GROUP
};

static const double DEFAULT_GRID[] = {0.5, 0.7, 0.8, 0.9, 0.95};

void lps_cmd_sensitivity_help(FILE *out)
{
    fprintf(out,
            "Usage: %s sensitivity MODEL [options]\n\n"
            "Prunes each prunable layer alone, one-shot, to each target of a grid and\n"
            "measures the accuracy drop on a seeded subset of the evaluation split (the\n"
            "--val-split part of train, else test). Prints a table; --suggest proposes\n"
            "per-layer targets reaching a global target at the least measured loss.\n\n"
            "  --grid S,S,...         targets, increasing in (0, 1) (default 0.5,0.7,0.8,0.9,0.95)\n"
            "  --samples N            evaluation samples (default %d; all when fewer)\n"
            "  --method M             magnitude (default), wanda or sparsegpt: how each layer\n"
            "                         is pruned one-shot\n"
            "  --calibration N        wanda, sparsegpt: training samples to calibrate on\n"
            "                         (default %d)\n"
            "  --wanda-group G        wanda: row (default) or layer\n"
            "  --seed N               seed of the sample subset (default 0)\n"
            "  --json FILE|-          write the measurements as JSON (atomically)\n"
            "  --suggest S            per-layer targets for global target S (by parameters)\n"
            "  --recipe-out FILE      write the suggestion as a recipe (docs/recipe.md)\n"
            "  -q, --quiet            no table on stdout\n"
            "  -h, --help             show this help\n\n%s",
            LPS_PROGRAM, DEFAULT_SAMPLES, LPS_CALIBRATION_DEFAULT_SAMPLES, LPS_CLI_DATA_HELP);
}

static lps_status parse_method(const char *arg, lps_sparsify_method *out, lps_error *err)
{
    static const lps_sparsify_method methods[] = {LPS_METHOD_MAGNITUDE, LPS_METHOD_WANDA,
                                                  LPS_METHOD_SPARSEGPT};
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
        if (strcmp(arg, lps_sparsify_method_name(methods[k])) == 0) {
            *out = methods[k];
            return LPS_OK;
        }
    return lps_fail(err, LPS_ERR_INVALID, "--method: '%s' is not magnitude, wanda or sparsegpt "
                    "(the one-shot methods)", arg);
}

/* Parses the command line into a; returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, lps_sensitivity_args *a)
{
    static const struct option options[] = {
        LPS_CLI_DATA_OPTIONS,
        {"grid", required_argument, NULL, OPT_GRID},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"method", required_argument, NULL, OPT_METHOD},
        {"seed", required_argument, NULL, LPS_OPT_SEED},
        {"json", required_argument, NULL, LPS_OPT_JSON},
        {"suggest", required_argument, NULL, OPT_SUGGEST},
        {"recipe-out", required_argument, NULL, OPT_RECIPE_OUT},
        {"calibration", required_argument, NULL, OPT_CALIBRATION},
        {"wanda-group", required_argument, NULL, OPT_WANDA_GROUP},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    lps_error err = {0};
    bool handled;
    int64_t v;
    int c, k = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", options, NULL)) != -1) {
        lps_status st = LPS_OK;
        switch (c) {
        case 'h':
            lps_cmd_sensitivity_help(stdout);
            return 0;
        case 'q':
            a->quiet = true;
            break;
        case '?':
        case ':':
            return lps_cli_option_error(argv[0], c, argv);
        case OPT_GRID:
            st = lps_sensitivity_parse_grid(optarg, a->grid, &a->n_grid, &err);
            break;
        case OPT_SAMPLES:
            st = lps_cli_parse_int("--samples", optarg, 1, MAX_SAMPLES, &a->samples, &err);
            break;
        case OPT_METHOD:
            st = parse_method(optarg, &a->method, &err);
            break;
        case OPT_CALIBRATION:
            st = lps_cli_parse_int("--calibration", optarg, 1, MAX_SAMPLES, &a->calibration, &err);
            break;
        case OPT_WANDA_GROUP:
            if ((st = lps_cli_parse_choice("--wanda-group", optarg, LPS_CLI_WANDA_GROUPS, &k,
                                           &err)) == LPS_OK)
                a->wanda_per_layer = k == 1;
            break;
        case LPS_OPT_SEED:
            st = lps_cli_parse_int("--seed", optarg, 0, INT64_MAX, &v, &err);
            a->seed = (uint64_t)v;
            break;
        case LPS_OPT_JSON:
            a->json = optarg;
            break;
        case OPT_SUGGEST:
            st = lps_cli_parse_double("--suggest", optarg, 0, true, 1, true, &a->suggest, &err);
            break;
        case OPT_RECIPE_OUT:
            a->recipe_out = optarg;
            break;
        default:
            st = lps_cli_data_option(&a->data, c, optarg, &handled, &err);
        }
        if (st != LPS_OK)
            return lps_cli_report(&err);
    }
    if (optind + 1 != argc)
        return lps_cli_usage_error(argv[0], optind >= argc ? "no MODEL given"
                                                           : "exactly one MODEL is expected");
    if (a->recipe_out && !(a->suggest > 0))
        return lps_cli_usage_error(argv[0], "--recipe-out needs --suggest S");
    a->model = argv[optind];
    return -1;
}

lps_status lps_sensitivity_parse_grid(const char *text, double *grid, int *n, lps_error *err)
{
    double v[LPS_SENSITIVITY_MAX_GRID];
    int count = 0;
    lps_status st = lps_parse_value_list(text, "--grid", v, LPS_SENSITIVITY_MAX_GRID, &count, err);
    if (st != LPS_OK)
        return st;
    for (int k = 0; k < count; k++)
        if (!(v[k] > 0.0 && v[k] < 1.0) || (k > 0 && !(v[k] > v[k - 1])))
            return lps_fail(err, LPS_ERR_INVALID,
                            "--grid: targets must increase inside (0, 1); '%s' does not", text);
    memcpy(grid, v, (size_t)count * sizeof *v);
    *n = count;
    return LPS_OK;
}

/* Prints the measurements: a row per layer, a column per grid target. */
static void print_table(const lps_sensitivity *s)
{
    printf("dense: accuracy %.2f%%, loss %.4f on %lld samples\n", s->dense.accuracy * PERCENT,
           s->dense.loss, (long long)s->dense.samples);
    printf("%-32s %10s", "layer (accuracy drop, points)", "params");
    for (int k = 0; k < s->n_grid; k++)
        printf(" %7.0f%%", s->grid[k] * PERCENT);
    printf("\n");
    for (size_t i = 0; i < s->n_layers; i++) {
        const lps_sensitivity_layer *L = &s->layers[i];
        printf("%-32s %10lld", L->weight->initializer, (long long)L->params);
        for (int k = 0; k < s->n_grid; k++)
            printf(" %8.2f", (s->dense.accuracy - L->results[k].accuracy) * PERCENT);
        printf("\n");
    }
    if (s->suggested) {
        printf("suggested for %.2f%% overall:", s->suggest * PERCENT);
        for (size_t i = 0; i < s->n_layers; i++)
            printf(" %s=%.4f", s->layers[i].weight->initializer, s->layers[i].suggested);
        printf("\n");
    }
}

int lps_cmd_sensitivity(int argc, char **argv)
{
    lps_sensitivity_args a;
    lps_sensitivity s;
    lps_error err = {0};
    lps_model *m = NULL;
    lps_cli_splits splits = {0};
    cJSON *json = NULL, *recipe = NULL;
    int code;
    memset(&a, 0, sizeof a);
    memset(&s, 0, sizeof s);
    lps_cli_data_default(&a.data);
    a.samples = DEFAULT_SAMPLES;
    a.method = LPS_METHOD_MAGNITUDE;
    a.calibration = LPS_CALIBRATION_DEFAULT_SAMPLES;
    a.n_grid = (int)(sizeof DEFAULT_GRID / sizeof DEFAULT_GRID[0]);
    memcpy(a.grid, DEFAULT_GRID, sizeof DEFAULT_GRID);
    code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    const char *outputs[] = {a.json, a.recipe_out};
    for (size_t k = 0; k < sizeof outputs / sizeof outputs[0]; k++)
        if (outputs[k] && strcmp(outputs[k], "-") != 0 &&
            (lps_cli_check_not_input(outputs[k], a.model, &err) != LPS_OK ||
             lps_cli_check_not_input(outputs[k], a.data.spec, &err) != LPS_OK))
            goto failed;
    if (a.json && a.recipe_out && strcmp(a.json, a.recipe_out) == 0) {
        lps_fail(&err, LPS_ERR_INVALID, "%s: --json and --recipe-out name the same file", a.json);
        goto failed;
    }
    if (lps_cli_check_input_file(a.model, &err) != LPS_OK ||
        !(m = lps_model_load(a.model, &err)) ||
        lps_cli_open_splits(&a.data, m, a.seed, &splits, &err) != LPS_OK)
        goto failed;
    lps_cli_print_dataset_adaptation("eval", splits.eval, m, a.quiet);
    if (lps_sensitivity_measure(m, &splits.train, splits.eval, &a, &s, &err) != LPS_OK ||
        (a.suggest > 0 && lps_sensitivity_suggest(&s, a.suggest, &err) != LPS_OK) ||
        !(json = lps_sensitivity_json(&s, &a, &err)) ||
        (a.recipe_out && !(recipe = lps_sensitivity_recipe(&s, &err))))
        goto failed;
    if (a.json && lps_report_write(json, a.json, &err) != LPS_OK)
        goto failed;
    if (recipe && lps_report_write(recipe, a.recipe_out, &err) != LPS_OK)
        goto failed;
    if (!a.quiet && !(a.json && strcmp(a.json, "-") == 0))
        print_table(&s);
    code = 0;
    goto cleanup;
failed:
    code = lps_cli_report(&err);
cleanup:
    cJSON_Delete(json);
    cJSON_Delete(recipe);
    lps_sensitivity_release(&s);
    lps_cli_splits_release(&splits);
    lps_model_free(m);
    return code;
}
