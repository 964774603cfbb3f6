#include "lpsparsify/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Stands in for a control character in a message. */
#define LPS_ERROR_CONTROL_STANDIN '?'
#define ASCII_DEL 0x7f

/* Names in messages come from untrusted files (node names, op types,
 * tensor names) and may hold newlines or terminal escapes; a message must
 * stay one printable line whatever they contain. */
static void keep_one_line(char *msg)
{
    for (unsigned char *c = (unsigned char *)msg; *c; c++)
        if (*c < ' ' || *c == ASCII_DEL)
            *c = LPS_ERROR_CONTROL_STANDIN;
}

lps_status lps_fail(lps_error *err, lps_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        keep_one_line(err->msg);
        err->status = status;
    }
    return status;
}

lps_status lps_error_prefix(lps_error *err, const char *fmt, ...)
{
    if (!err)
        return LPS_ERR_RUNTIME;
    char prefix[LPS_ERROR_MSG_MAX];
    char old[LPS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    keep_one_line(prefix);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: the message stays one NUL-terminated line. */
    size_t n = strnlen(prefix, sizeof prefix - 1);
    memcpy(err->msg, prefix, n);
    size_t room = sizeof err->msg - n;
    if (room > 2) {
        err->msg[n] = ':';
        err->msg[n + 1] = ' ';
        size_t rest = strnlen(old, room - 3);
        memcpy(err->msg + n + 2, old, rest);
        err->msg[n + 2 + rest] = '\0';
    } else {
        err->msg[sizeof err->msg - 1] = '\0';
    }
    return err->status;
}

void lps_error_clear(lps_error *err)
{
    if (err) {
        err->status = LPS_OK;
        err->msg[0] = '\0';
    }
}

int lps_status_exit_code(lps_status status)
{
    switch (status) {
    case LPS_OK: return 0;
    case LPS_ERR_INVALID:
    case LPS_ERR_UNSUPPORTED: return 2;
    case LPS_ERR_ACCURACY: return 3;
    case LPS_ERR_INTERRUPTED: return 130;
    case LPS_ERR_IO:
    case LPS_ERR_NOMEM:
    case LPS_ERR_RUNTIME: return 1;
    }
    return 1;
}

const char *lps_status_name(lps_status status)
{
    switch (status) {
    case LPS_OK: return "ok";
    case LPS_ERR_INVALID: return "invalid";
    case LPS_ERR_UNSUPPORTED: return "unsupported";
    case LPS_ERR_IO: return "io";
    case LPS_ERR_NOMEM: return "nomem";
    case LPS_ERR_RUNTIME: return "runtime";
    case LPS_ERR_ACCURACY: return "accuracy";
    case LPS_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown";
}
