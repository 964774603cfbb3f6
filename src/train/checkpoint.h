/* Checkpoint and resume of a training run (docs/cli.md, "Checkpoint and
 * resume"). A checkpoint is one file, DIR/checkpoint.lpsck, replaced
 * atomically (temporary file, fsync, rename, fsync of DIR): a reader sees
 * the previous checkpoint or the new one, never a mix. It holds the run's
 * identity (what must not change between the run and its resumption), the
 * trainer's state (lps_trainer_transfer) and the update hook's
 * (lps_train_hooks.transfer), each component transferring its own. */
#ifndef LPS_TRAIN_CHECKPOINT_H
#define LPS_TRAIN_CHECKPOINT_H

#include <stddef.h>

#include "lpsparsify/error.h"
#include "train/trainer.h"

#define LPS_CHECKPOINT_FILE "checkpoint.lpsck"

/* What a checkpoint must agree on, as (key, value) text pairs in the order
 * added: "--target" = "0.9", "model" = a hash of its bytes. A key added
 * again gets the value appended after a space (repeated options). */
typedef struct lps_run_identity {
    size_t n, cap;
    char **keys;
    char **values;
} lps_run_identity;

/* Appends (or extends) key. LPS_ERR_NOMEM. */
lps_status lps_run_identity_add(lps_run_identity *id, const char *key, const char *value,
                                lps_error *err);

/* Adds key = the size and 64-bit FNV-1a hash of the file's bytes.
 * LPS_ERR_IO naming the file when it cannot be read. */
lps_status lps_run_identity_add_file(lps_run_identity *id, const char *key, const char *path,
                                     lps_error *err);

/* Frees the pairs and zeroes id; id may be NULL. */
void lps_run_identity_release(lps_run_identity *id);

/* Where and what a run's checkpoints write. */
typedef struct lps_checkpointer {
    const char *dir;
    const lps_run_identity *id;
    const lps_train_hooks *hooks;   /* whose transfer writes the hook's state */
} lps_checkpointer;

/* Writes a checkpoint of t and the hooks' state into the checkpointer's
 * dir (created when missing): the lps_train_hooks.checkpoint callback,
 * with checkpointer a lps_checkpointer. LPS_ERR_IO naming the file; the
 * previous checkpoint stays in place on failure. */
lps_status lps_checkpoint_write(void *checkpointer, lps_trainer *t, lps_error *err);

/* Loads DIR's checkpoint into t and hooks (before lps_trainer_run).
 * LPS_ERR_INVALID: "checkpoint DIR: KEY differs (A in the checkpoint, B
 * now)" for every identity pair that differs, in one message (numbers
 * compare by value); a missing, truncated or damaged file, named. */
lps_status lps_checkpoint_resume(const char *dir, const lps_run_identity *id, lps_trainer *t,
                                 const lps_train_hooks *hooks, lps_error *err);

#endif
