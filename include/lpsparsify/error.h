/* Error reporting shared by every layer of lpsparsify.
 *
 * Library functions never print and never exit. A function that can fail
 * returns an lps_status and, when it fails, fills the caller's lps_error with
 * one line of text ("FILE: what is wrong", "node 'conv1' (Conv): ...").
 * The CLI maps the status to an exit code with lps_status_exit_code(). */
#ifndef LPSPARSIFY_ERROR_H
#define LPSPARSIFY_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lps_status {
    LPS_OK = 0,
    LPS_ERR_INVALID,      /* malformed input: model, dataset, option value (exit 2) */
    LPS_ERR_UNSUPPORTED,  /* well-formed but outside what we implement (exit 2) */
    LPS_ERR_IO,           /* reading or writing a file failed (exit 1) */
    LPS_ERR_NOMEM,        /* allocation failed or a size exceeds the budget (exit 1) */
    LPS_ERR_RUNTIME,      /* numerical or internal failure while running (exit 1) */
    LPS_ERR_ACCURACY,     /* the --max-drop accuracy guard tripped (exit 3) */
    LPS_ERR_INTERRUPTED   /* SIGINT or SIGTERM asked us to stop (exit 130) */
} lps_status;

#define LPS_ERROR_MSG_MAX 512

typedef struct lps_error {
    lps_status status;
    char msg[LPS_ERROR_MSG_MAX];
} lps_error;

/* Records status and a printf-style one-line message in err (err may be NULL);
 * control characters (newlines, escapes from names in untrusted files) are
 * replaced by '?'. If err already holds a message it is replaced. Returns status, so callers
 * can write `return lps_fail(err, LPS_ERR_INVALID, "...")`. */
lps_status lps_fail(lps_error *err, lps_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: " (for adding a file or
 * node name on the way up; control characters replaced as in lps_fail). Returns err->status. err may be NULL. */
lps_status lps_error_prefix(lps_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err to LPS_OK with an empty message. err may be NULL. */
void lps_error_clear(lps_error *err);

/* The documented process exit code for a status: 0, 1, 2, 3 or 130. */
int lps_status_exit_code(lps_status status);

/* A short stable name for a status ("invalid", "io", ...). */
const char *lps_status_name(lps_status status);

#ifdef __cplusplus
}
#endif
#endif
