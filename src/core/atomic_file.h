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

#endif
