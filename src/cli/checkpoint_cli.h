/* --checkpoint DIR, --checkpoint-every N and --resume DIR for the commands
 * that train (docs/cli.md, "Checkpoint and resume"). The run's identity is
 * the command, the input model's bytes and every option given except those
 * that only choose outputs (-o, --report, --html, -q and these three). */
#ifndef LPS_CLI_CHECKPOINT_CLI_H
#define LPS_CLI_CHECKPOINT_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "lpsparsify/error.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

/* Test-only (tests/e2e_checkpoint): when set to N, the command raises
 * SIGINT on itself after the N-th step of the run, so a test interrupts a
 * run at a known step. Not for users: documented as test-only. */
#define LPS_TEST_SIGINT_ENV "LPS_TEST_SIGINT_AFTER_STEP"

typedef struct lps_cli_checkpoint {
    const char *dir;          /* --checkpoint; NULL: none */
    int64_t every;            /* --checkpoint-every; 0: after each epoch */
    const char *resume;       /* --resume; NULL: start afresh */
    lps_run_identity id;
    lps_checkpointer writer;
    int64_t sigint_after;     /* LPS_TEST_SIGINT_ENV; 0: off */
    lps_train_hooks display;  /* the wrapped display callbacks */
} lps_cli_checkpoint;

/* Applies option code c when it is one of the three. */
lps_status lps_cli_checkpoint_option(lps_cli_checkpoint *ck, int c, const char *arg,
                                     bool *handled, lps_error *err);

/* Records the identity of the command line argv (scanned with options and
 * shortopts as the command does, before it parses: parsing may edit the
 * arguments) into ck->id. Resets getopt (optind = 0) before and after. */
lps_status lps_cli_checkpoint_identity(lps_cli_checkpoint *ck, int argc, char **argv,
                                       const struct option *options, const char *shortopts,
                                       lps_error *err);

/* After the hooks are complete and before lps_trainer_run: adds the model's
 * hash to the identity, loads --resume into t and hooks, and sets hooks to
 * write --checkpoint. ck and hooks must outlive the run. */
lps_status lps_cli_checkpoint_start(lps_cli_checkpoint *ck, const char *model_path,
                                    lps_trainer *t, lps_train_hooks *hooks, lps_error *err);

/* How many arguments at argv[i] are one of the three options with its
 * value (0, 1 or 2): the report's command line leaves them out, so that a
 * resumed run's report equals the uninterrupted run's. */
int lps_cli_checkpoint_arg_span(int argc, char **argv, int i);

/* Appends "; checkpoint in DIR" to an interruption's message when a
 * checkpoint was written. */
void lps_cli_checkpoint_note(const lps_cli_checkpoint *ck, lps_error *err);

/* Frees the identity; ck may be NULL. */
void lps_cli_checkpoint_release(lps_cli_checkpoint *ck);

#endif
