/* Atomic file replacement: readers of the destination see either the old
 * file or the complete new one, never a partial write. */
#ifndef LPS_CORE_ATOMIC_FILE_H
#define LPS_CORE_ATOMIC_FILE_H

#include <stddef.h>

#include "lpsparsify/error.h"

/* Writes len bytes of data to path: a new temporary file in the same folder
 * (created with mode 0666 minus the umask), write, fsync, rename over path,
 * then fsync of the folder. On failure returns LPS_ERR_IO (LPS_ERR_INVALID
 * for an empty path or NULL data with len > 0, LPS_ERR_NOMEM) with a
 * "PATH: reason" message, removes the temporary file and leaves path as it
 * was. */
lps_status lps_write_file_atomic(const char *path, const void *data, size_t len,
                                 lps_error *err);

/* The same as a stream, for content too large to assemble in memory: open
 * creates the temporary file, write appends, commit does the fsync, rename
 * and folder fsync. Every failure (open, write, commit) returns LPS_ERR_IO
 * with a "PATH: reason" message and removes the temporary file, as abort
 * does; w then holds nothing. Commit and abort release w; abort accepts a
 * released or NULL w. */
typedef struct lps_atomic_writer {
    int fd;      /* -1 once released */
    char *tmp;   /* the temporary file, NULL once renamed */
    char *dir;
    char *path;
} lps_atomic_writer;

lps_status lps_atomic_writer_open(lps_atomic_writer *w, const char *path, lps_error *err);
lps_status lps_atomic_writer_write(lps_atomic_writer *w, const void *data, size_t len,
                                   lps_error *err);
lps_status lps_atomic_writer_commit(lps_atomic_writer *w, lps_error *err);
void lps_atomic_writer_abort(lps_atomic_writer *w);

#endif
