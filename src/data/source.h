/* Byte sources shared by the dataset readers: a file read through zlib
 * (gzip or raw, told apart by zlib) or a memory buffer (the fuzzers' and
 * tests' entry point), plus the size arithmetic every reader needs. */
#ifndef LPS_DATA_SOURCE_H
#define LPS_DATA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "lpsparsify/error.h"
#include "lpsparsify/tensor.h"

typedef struct lps_source {
    const char *name;           /* borrowed; prefixes every message */
    gzFile gz;                  /* NULL when reading memory */
    const unsigned char *mem;
    size_t mem_len;
    size_t mem_pos;
} lps_source;

/* Opens path for reading. LPS_ERR_INVALID when it is not a regular file
 * (a FIFO or device is refused without blocking), LPS_ERR_IO when it cannot
 * be opened; the message names the file and src is then closed. The name is
 * borrowed and must outlive src. */
lps_status lps_source_open_file(lps_source *src, const char *path, lps_error *err);

/* Wraps len bytes at buf (borrowed) as a source named name. Cannot fail. */
void lps_source_open_memory(lps_source *src, const void *buf, size_t len, const char *name);

/* Reads up to n bytes into dst; *got receives how many were read (fewer only
 * at the end of the data). LPS_ERR_IO for read errors, LPS_ERR_INVALID for a
 * corrupt or truncated gzip stream; messages name the source. */
lps_status lps_source_read(lps_source *src, void *dst, size_t n, size_t *got, lps_error *err);

/* Reads exactly n bytes of `what` ("header", "payload"); a short read is
 * LPS_ERR_INVALID "NAME: short WHAT: expected N bytes, got M". */
lps_status lps_source_read_exact(lps_source *src, void *dst, size_t n, const char *what,
                                 lps_error *err);

/* Fails with LPS_ERR_INVALID "NAME: unexpected bytes after the payload" unless
 * the source is exhausted. */
lps_status lps_source_expect_end(lps_source *src, lps_error *err);

/* Reads the rest of the source into a malloc'd buffer (*out, owned by the
 * caller, with one extra NUL byte not counted in *len). LPS_ERR_NOMEM when
 * the data exceeds budget bytes or allocation fails. */
lps_status lps_source_read_all(lps_source *src, size_t budget, unsigned char **out, size_t *len,
                               lps_error *err);

/* Closes a file source; memory sources need nothing. src may be NULL. */
void lps_source_close(lps_source *src);

/* a * b into *out; false when the product does not fit a size_t. */
bool lps_size_mul(size_t a, size_t b, size_t *out);

/* a + b into *out; false on overflow. */
bool lps_size_add(size_t a, size_t b, size_t *out);

/* The effective budget for a caller-supplied value (0 = default). */
size_t lps_data_budget(size_t budget);

/* Allocates t as dtype/rank/dims after checking that its byte size fits
 * `*remaining` (which it then decreases). Errors name the source `name`:
 * LPS_ERR_INVALID for impossible shapes, LPS_ERR_NOMEM over budget. */
lps_status lps_data_alloc(lps_tensor *t, const char *name, lps_dtype dtype, int rank,
                          const int64_t *dims, size_t *remaining, lps_error *err);

/* Longest excerpt of file content quoted in a message. */
#define LPS_EXCERPT_MAX 24

/* Copies up to len bytes of src into dst (size >= 1, always terminated)
 * with every byte that is not printable ASCII replaced by '?', so that file
 * content quoted in a message keeps it one line. Returns dst. */
char *lps_excerpt(char *dst, size_t size, const char *src, size_t len);

/* Converts n elements of esize bytes at data from the given byte order to
 * the host's, in place. */
void lps_bytes_to_host(void *data, size_t n, size_t esize, bool source_big_endian);

#endif
