#include "cli/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_INTERVAL 0.1 /* seconds between bar redraws */
#define PERCENT 100.0
#define SECONDS_PER_MINUTE 60

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *lps_install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_requested;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lps_progress_init(lps_progress_display *d, bool quiet)
{
    memset(d, 0, sizeof *d);
    d->quiet = quiet;
    d->tty = !quiet && isatty(STDERR_FILENO);
}

void lps_progress_step(void *user, const lps_progress *p)
{
    lps_progress_display *d = user;
    if (!d->tty)
        return;
    double now = monotonic();
    if (d->bar_drawn && now - d->last_draw < REDRAW_INTERVAL && p->step != p->steps_per_epoch)
        return;
    d->last_draw = now;
    d->bar_drawn = true;
    char bar[BAR_WIDTH + 1];
    int filled = (int)((double)BAR_WIDTH * (double)p->step / (double)p->steps_per_epoch);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[BAR_WIDTH] = '\0';
    long eta = isfinite(p->eta_seconds) ? (long)p->eta_seconds : 0;
    fprintf(stderr, "\repoch %lld/%lld [%s] %lld/%lld loss %.4f acc %5.2f%% %6.0f samples/s ETA %ld:%02ld ",
            (long long)p->epoch, (long long)p->epochs, bar, (long long)p->step,
            (long long)p->steps_per_epoch, p->loss, p->accuracy * PERCENT, p->samples_per_second,
            eta / SECONDS_PER_MINUTE, eta % SECONDS_PER_MINUTE);
    fflush(stderr);
}

/* Ends a live bar so that a full line follows; false when quiet. */
static bool line_start(lps_progress_display *d)
{
    if (d->quiet)
        return false;
    if (d->bar_drawn)
        fputc('\n', stderr);
    d->bar_drawn = false;
    return true;
}

void lps_progress_backoff(void *user, const lps_backoff *b)
{
    lps_progress_display *d = user;
    if (!line_start(d))
        return;
    fprintf(stderr, "step %lld diverged (%s; '%s' moved most): restored the state of step %lld, "
            "step size now x%g\n", (long long)b->step + 1, b->what, b->layer,
            (long long)b->restored_step + 1, b->lr_scale);
}

void lps_progress_note(void *user, const char *line)
{
    lps_progress_display *d = user;
    if (line_start(d))
        fprintf(stderr, "%s\n", line);
}

void lps_progress_epoch(void *user, const lps_epoch_stats *s)
{
    lps_progress_display *d = user;
    if (!line_start(d))
        return;
    fprintf(stderr, "epoch %lld: train loss %.4f  eval loss %.4f  eval acc %.2f%%  lr %.3g  %.1fs",
            (long long)s->epoch, s->train_loss, s->loss, s->accuracy * PERCENT, s->lr, s->seconds);
    if (isfinite(s->sparsity))
        fprintf(stderr, "  sparsity %.2f%%  hoyer %.3f", s->sparsity * PERCENT, s->hoyer);
    if (s->backoffs > 0)
        fprintf(stderr, "  back-offs %lld (step x%g)", (long long)s->backoffs, s->lr_scale);
    fputc('\n', stderr);
}

void lps_progress_hooks(lps_progress_display *d, volatile sig_atomic_t *stop,
                        lps_train_hooks *hooks)
{
    hooks->progress = lps_progress_step;
    hooks->epoch_done = lps_progress_epoch;
    hooks->backoff = lps_progress_backoff;
    hooks->note = lps_progress_note;
    hooks->stop = stop;
    hooks->display_user = d;
}
