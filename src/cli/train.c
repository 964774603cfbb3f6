/* lpsparsify train MODEL -o OUT.onnx [options]: dense training or fine-tuning. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/checkpoint_cli.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "train/dist.h"
#include "train/trainer.h"

#define PERCENT 100.0
/* train runs at least one epoch (lps_trainer_create refuses 0). */
#define TRAIN_MIN_EPOCHS 1

void lps_cmd_train_help(FILE *out)
{
    fprintf(out,
            "Usage: %s train MODEL -o OUT.onnx [options]\n\n"
            "Trains every float weight of MODEL (dense, no pruning) on the train split of\n"
            "--data, evaluates the test split after each epoch and writes OUT.onnx with\n"
            "only the trained initializers replaced. OUT is written atomically and may\n"
            "not be MODEL.\n\n"
            "  -o, --output FILE      the trained model (required)\n"
            "  -q, --quiet            no progress output\n"
            "  -h, --help             show this help\n\n%s\n%s",
            LPS_PROGRAM, LPS_CLI_DATA_HELP, LPS_CLI_TRAIN_HELP);
}

/* What train's command line sets. */
typedef struct train_args {
    lps_cli_data data;
    lps_train_options opt;
    lps_cli_checkpoint ck;
    const char *output;
    const char *model;
    bool quiet;
} train_args;

static const struct option TRAIN_OPTIONS[] = {
    LPS_CLI_DATA_OPTIONS,
    LPS_CLI_TRAIN_OPTIONS,
    {"output", required_argument, NULL, 'o'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
#define TRAIN_SHORT_OPTIONS ":ho:q"

/* Parses the command line into a (defaults first); --batch sets the
 * training batch too. Returns -1 to go on, or the exit code (help printed,
 * or the message of a bad option or usage). */
static int parse_train_args(int argc, char **argv, train_args *a)
{
    lps_error err = {0};
    bool handled, batch_given = false;
    int c;
    memset(a, 0, sizeof *a);
    lps_cli_data_default(&a->data);
    lps_train_options_default(&a->opt);
    opterr = 0;
    while ((c = getopt_long(argc, argv, TRAIN_SHORT_OPTIONS, TRAIN_OPTIONS, NULL)) != -1) {
        if (c == 'h') {
            lps_cmd_train_help(stdout);
            return 0;
        } else if (c == 'o') {
            a->output = optarg;
        } else if (c == 'q') {
            a->quiet = true;
        } else if (c == '?' || c == ':') {
            return lps_cli_option_error(argv[0], c, argv);
        } else {
            batch_given = batch_given || c == LPS_OPT_BATCH;
            if (lps_cli_data_option(&a->data, c, optarg, &handled, &err) != LPS_OK ||
                (!handled && lps_cli_train_option(&a->opt, TRAIN_MIN_EPOCHS, c, optarg, &handled,
                                                  &err) != LPS_OK) ||
                (!handled && lps_cli_checkpoint_option(&a->ck, c, optarg, &handled, &err) != LPS_OK))
                return lps_cli_report(&err);
        }
    }
    if (optind + 1 != argc)
        return lps_cli_usage_error(argv[0], optind >= argc ? "no MODEL given"
                                                           : "exactly one MODEL is expected");
    if (!a->output)
        return lps_cli_usage_error(argv[0], "-o OUT.onnx is required");
    a->model = argv[optind];
    if (batch_given)
        a->opt.batch_size = a->data.batch;
    a->opt.preprocess = a->data.preprocess;
    return -1;
}

int lps_cmd_train(int argc, char **argv)
{
    train_args a;
    lps_error err = {0};
    lps_cli_splits splits = {0};
    lps_model *m = NULL;
    lps_trainer *t = NULL;
    lps_progress_display display;
    int code = parse_train_args(argc, argv, &a);
    if (code >= 0) {
        lps_cli_checkpoint_release(&a.ck);
        return code;
    }
    a.quiet = a.quiet || lps_dist_rank() != 0; /* one progress display: rank 0's */
    /* Signals before training only set the flag; the trainer stops at its
     * first step (exit 130). */
    volatile sig_atomic_t *stop = lps_install_stop_handlers();
    /* After the parse: the scan resets getopt, and train edits no argument. */
    if (lps_cli_checkpoint_identity(&a.ck, argc, argv, TRAIN_OPTIONS, TRAIN_SHORT_OPTIONS, &err) !=
            LPS_OK ||
        lps_cli_check_input_file(a.model, &err) != LPS_OK || !(m = lps_model_load(a.model, &err)) ||
        lps_cli_open_splits(&a.data, m, a.opt.seed, &splits, &err) != LPS_OK)
        goto failed;
    lps_cli_print_adaptation(&splits, m, a.quiet);
    if (!splits.train.labels)
        a.opt.distill = true;
    if (!(t = lps_trainer_create(m, &splits.train, splits.eval, &a.opt, &err)))
        goto failed;
    lps_progress_init(&display, a.quiet);
    lps_train_hooks hooks = {0};
    lps_progress_hooks(&display, stop, &hooks);
    lps_eval_result final;
    if (lps_cli_checkpoint_start(&a.ck, a.model, t, &hooks, &err) != LPS_OK ||
        lps_trainer_run(t, &hooks, NULL, &err) != LPS_OK ||
        lps_trainer_evaluate(t, &splits.test, &final, &err) != LPS_OK ||
        lps_trainer_write(t, &err) != LPS_OK ||
        (lps_dist_rank() == 0 && /* rank 0 alone writes (docs/distributed.md) */
         lps_model_save(m, a.output, LPS_STORAGE_DENSE, &err) != LPS_OK))
        goto failed;
    if (!a.quiet)
        printf("%s: test accuracy %.2f%%, loss %.4f\n", a.output, final.accuracy * PERCENT,
               final.loss);
    code = 0;
    goto cleanup;
failed:
    lps_cli_checkpoint_note(&a.ck, &err);
    code = lps_cli_report(&err);
cleanup:
    lps_cli_checkpoint_release(&a.ck);
    lps_trainer_free(t);
    lps_cli_splits_release(&splits);
    lps_model_free(m);
    return code;
}
