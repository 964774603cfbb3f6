/* Training progress on stderr: a live bar on a terminal, one plain line per
 * epoch otherwise, nothing with --quiet. */
#ifndef LPS_CLI_PROGRESS_H
#define LPS_CLI_PROGRESS_H

#include <signal.h>
#include <stdbool.h>

#include "train/trainer.h"

typedef struct lps_progress_display {
    bool quiet;
    bool tty;
    double last_draw;     /* monotonic seconds of the last bar redraw */
    bool bar_drawn;
} lps_progress_display;

/* Decides tty from stderr unless quiet. */
void lps_progress_init(lps_progress_display *d, bool quiet);

/* Hook functions for lps_train_hooks (user = the display). */
void lps_progress_step(void *user, const lps_progress *p);
void lps_progress_epoch(void *user, const lps_epoch_stats *s);
/* One line per divergence back-off (even off a terminal; not with --quiet). */
void lps_progress_backoff(void *user, const lps_backoff *b);
/* A line about the run (lps_train_hooks.note), unless quiet. */
void lps_progress_note(void *user, const char *line);
/* Points hooks' display fields (progress, epoch_done, backoff, note,
 * display_user) at d and its stop flag at stop; leaves every other field
 * as the caller set it. The one place `train` and `sparsify` wire the
 * display, so both show the same lines. */
void lps_progress_hooks(lps_progress_display *d, volatile sig_atomic_t *stop,
                        lps_train_hooks *hooks);

/* Installs SIGINT/SIGTERM handlers that set the returned flag, which the
 * trainer polls between steps. The flag is the one process-wide variable:
 * a signal handler can reach nothing else. */
volatile sig_atomic_t *lps_install_stop_handlers(void);

#endif
