/* A checkpoint stream: named binary records written to a file atomically
 * and read back in the same order (docs/cli.md, "Checkpoint and resume").
 *
 * Each component transfers its own state with one function for both
 * directions: lps_ckpt_floats(c, "u", st->u, n, err) writes the record when
 * c writes and fills st->u when c reads, so the save and load paths cannot
 * drift apart. Reading checks every record's name and size against what the
 * caller expects; a mismatch is LPS_ERR_INVALID "PATH: corrupt or from
 * another version: ...".
 *
 * File: "LPSCKPT" NUL, u32 format version, u32 byte-order mark, records
 * (u32 name length, name, u64 data length, data), then a trailer of
 * "LPSCKEND", u64 length of everything before it and the CRC-32 (zlib) of
 * those bytes. Numbers are in the machine's byte order; the mark refuses a
 * file from a machine of the other one. Opening for reading verifies the
 * length and the CRC before any record is handed out, so a truncated or
 * damaged file is refused before any state changes. */
#ifndef LPS_CORE_CKPT_STREAM_H
#define LPS_CORE_CKPT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lpsparsify/error.h"

typedef struct lps_ckpt lps_ckpt;

/* Starts writing path (a temporary file beside it until commit). NULL and
 * err set (LPS_ERR_IO naming the file, LPS_ERR_NOMEM) on failure. */
lps_ckpt *lps_ckpt_create(const char *path, lps_error *err);

/* Writes the trailer and puts the file in place (lps_atomic_writer_commit).
 * Frees c whatever the outcome; a failed stream (an earlier transfer
 * failed) is not committed and returns that status again. */
lps_status lps_ckpt_commit(lps_ckpt *c, lps_error *err);

/* Opens path for reading after checking its header, length and CRC.
 * NULL and err set: LPS_ERR_IO when it cannot be read, LPS_ERR_INVALID
 * "PATH: not a checkpoint / truncated / damaged (CRC mismatch)". */
lps_ckpt *lps_ckpt_open(const char *path, lps_error *err);

/* Reading: LPS_ERR_INVALID unless every record has been read. */
lps_status lps_ckpt_finish_read(lps_ckpt *c, lps_error *err);

/* Frees c; an uncommitted writer removes its temporary file. NULL accepted. */
void lps_ckpt_free(lps_ckpt *c);

bool lps_ckpt_reading(const lps_ckpt *c);
/* The file, for messages. */
const char *lps_ckpt_path(const lps_ckpt *c);

/* Transfers len bytes at data as record `name` (see above). After a
 * failure every later transfer fails with the same status. */
lps_status lps_ckpt_bytes(lps_ckpt *c, const char *name, void *data, size_t len,
                          lps_error *err);

/* Typed arrays and scalars over lps_ckpt_bytes. */
lps_status lps_ckpt_floats(lps_ckpt *c, const char *name, float *x, size_t n, lps_error *err);
lps_status lps_ckpt_doubles(lps_ckpt *c, const char *name, double *x, size_t n, lps_error *err);
lps_status lps_ckpt_i64(lps_ckpt *c, const char *name, int64_t *x, lps_error *err);
lps_status lps_ckpt_u64(lps_ckpt *c, const char *name, uint64_t *x, lps_error *err);
lps_status lps_ckpt_f64(lps_ckpt *c, const char *name, double *x, lps_error *err);
lps_status lps_ckpt_int(lps_ckpt *c, const char *name, int *x, lps_error *err);
/* A bool as one byte; reading refuses anything but 0 and 1. */
lps_status lps_ckpt_bool(lps_ckpt *c, const char *name, bool *x, lps_error *err);

/* A NUL-free string of any length. Writing sends *s; reading replaces *s
 * with a malloc'd copy the caller frees (*s must be NULL or owned). */
lps_status lps_ckpt_string(lps_ckpt *c, const char *name, char **s, lps_error *err);

#endif
