#include "cli/checkpoint_cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "train/dist.h"

/* Upper bound of --checkpoint-every and of the test step. */
#define CHECKPOINT_EVERY_MAX 1000000000

/* Options that choose where results go, not what they are. */
static const char *const OUTPUT_ONLY[] = {"output", "report", "html", "quiet", "help",
                                          "checkpoint", "checkpoint-every", "resume", NULL};

lps_status lps_cli_checkpoint_option(lps_cli_checkpoint *ck, int c, const char *arg,
                                     bool *handled, lps_error *err)
{
    *handled = true;
    switch (c) {
    case LPS_OPT_CHECKPOINT:
    case LPS_OPT_RESUME:
        if (!arg[0])
            return lps_fail(err, LPS_ERR_INVALID, "%s: needs a folder name",
                            c == LPS_OPT_RESUME ? "--resume" : "--checkpoint");
        *(c == LPS_OPT_RESUME ? &ck->resume : &ck->dir) = arg;
        return LPS_OK;
    case LPS_OPT_CHECKPOINT_EVERY:
        return lps_cli_parse_int("--checkpoint-every", arg, 0, CHECKPOINT_EVERY_MAX, &ck->every,
                                 err);
    }
    *handled = false;
    return LPS_OK;
}

static bool output_only(const char *name)
{
    for (size_t i = 0; OUTPUT_ONLY[i]; i++)
        if (strcmp(OUTPUT_ONLY[i], name) == 0)
            return true;
    return false;
}

/* The long name of option code c (long options and their short aliases). */
static const char *option_name(const struct option *options, int c, int index)
{
    if (index >= 0)
        return options[index].name;
    for (size_t i = 0; options[i].name; i++)
        if (!options[i].flag && options[i].val == c)
            return options[i].name;
    return NULL;
}

lps_status lps_cli_checkpoint_identity(lps_cli_checkpoint *ck, int argc, char **argv,
                                       const struct option *options, const char *shortopts,
                                       lps_error *err)
{
    char **copy = malloc((size_t)(argc + 1) * sizeof *copy);
    char key[128];
    lps_status st = LPS_OK;
    int c, index = -1;
    if (!copy)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    memcpy(copy, argv, (size_t)argc * sizeof *copy);
    copy[argc] = NULL;
    st = lps_run_identity_add(&ck->id, "command", argv[0], err);
    /* Each rank's data position is within its shard: resume on as many. */
    snprintf(key, sizeof key, "%d", lps_dist_size());
    if (st == LPS_OK)
        st = lps_run_identity_add(&ck->id, "ranks", key, err);
    optind = 0;
    opterr = 0;
    while (st == LPS_OK && (c = getopt_long(argc, copy, shortopts, options, &index)) != -1) {
        const char *name = option_name(options, c, index);
        index = -1;
        if (!name || output_only(name))
            continue;   /* errors are the command's own parse's to report */
        snprintf(key, sizeof key, "--%s", name);
        st = lps_run_identity_add(&ck->id, key, optarg ? optarg : "(set)", err);
    }
    optind = 0;
    free(copy);
    return st;
}

/* Test-only: the display callbacks as they were, and SIGINT after step
 * sigint_after. */
static void progress_then_sigint(void *user, const lps_progress *p)
{
    lps_cli_checkpoint *ck = user;
    if (ck->display.progress)
        ck->display.progress(ck->display.display_user, p);
    if ((p->epoch - 1) * p->steps_per_epoch + p->step == ck->sigint_after)
        raise(SIGINT);
}

static void forward_epoch_done(void *user, const lps_epoch_stats *s)
{
    lps_cli_checkpoint *ck = user;
    if (ck->display.epoch_done)
        ck->display.epoch_done(ck->display.display_user, s);
}

static void forward_backoff(void *user, const lps_backoff *b)
{
    lps_cli_checkpoint *ck = user;
    if (ck->display.backoff)
        ck->display.backoff(ck->display.display_user, b);
}

static void forward_note(void *user, const char *line)
{
    lps_cli_checkpoint *ck = user;
    if (ck->display.note)
        ck->display.note(ck->display.display_user, line);
}

lps_status lps_cli_checkpoint_start(lps_cli_checkpoint *ck, const char *model_path,
                                    lps_trainer *t, lps_train_hooks *hooks, lps_error *err)
{
    const char *test_step = getenv(LPS_TEST_SIGINT_ENV);
    lps_status st = LPS_OK;
    if (test_step && test_step[0] &&
        (st = lps_cli_parse_int(LPS_TEST_SIGINT_ENV, test_step, 1, CHECKPOINT_EVERY_MAX,
                                &ck->sigint_after, err)) != LPS_OK)
        return st;
    if (ck->sigint_after > 0) {
        ck->display = *hooks;
        hooks->progress = progress_then_sigint;
        hooks->epoch_done = forward_epoch_done;
        hooks->backoff = forward_backoff;
        hooks->note = forward_note;
        hooks->display_user = ck;
    }
    if (!ck->dir && !ck->resume)
        return LPS_OK;
    if ((st = lps_run_identity_add_file(&ck->id, "model", model_path, err)) != LPS_OK)
        return st;
    if (ck->resume && (st = lps_checkpoint_resume(ck->resume, &ck->id, t, hooks, err)) != LPS_OK)
        return st;
    if (ck->dir) {
        ck->writer = (lps_checkpointer){ck->dir, &ck->id, hooks};
        hooks->checkpoint = lps_checkpoint_write;
        hooks->checkpoint_user = &ck->writer;
        hooks->checkpoint_every = ck->every;
    }
    return LPS_OK;
}

int lps_cli_checkpoint_arg_span(int argc, char **argv, int i)
{
    static const char *const names[] = {"--checkpoint", "--checkpoint-every", "--resume", NULL};
    for (size_t k = 0; names[k]; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(argv[i], names[k], n) != 0)
            continue;
        if (argv[i][n] == '=')
            return 1;
        if (argv[i][n] == '\0')
            return i + 1 < argc ? 2 : 1;
    }
    return 0;
}

void lps_cli_checkpoint_note(const lps_cli_checkpoint *ck, lps_error *err)
{
    size_t used = strlen(err->msg);
    if (ck->dir && err->status == LPS_ERR_INTERRUPTED)
        snprintf(err->msg + used, sizeof err->msg - used, "; checkpoint in %s (--resume %s)",
                 ck->dir, ck->dir);
}

void lps_cli_checkpoint_release(lps_cli_checkpoint *ck)
{
    if (ck)
        lps_run_identity_release(&ck->id);
}
