#include "data/source.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lpsparsify/data.h"

/* zlib's internal buffer; larger than its 8 KiB default so that a 45 MiB
 * dataset is not read in thousands of small system calls. */
#define GZ_BUFFER_BYTES (256u * 1024u)

/* gzread takes an unsigned count and returns an int: read in slices. */
#define GZ_MAX_SLICE ((size_t)1 << 30)

/* First allocation when reading a whole source of unknown size. */
#define READ_ALL_INITIAL_BYTES ((size_t)64 * 1024)

lps_status lps_source_open_file(lps_source *src, const char *path, lps_error *err)
{
    memset(src, 0, sizeof *src);
    src->name = path;
    /* O_NONBLOCK: a FIFO named as a dataset must be refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return lps_fail(err, LPS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lps_fail(err, LPS_ERR_INVALID, "%s: not a regular file", path);
    }
    errno = 0;
    src->gz = gzdopen(fd, "rb");
    if (!src->gz) {
        int saved = errno;
        close(fd);
        return lps_fail(err, LPS_ERR_IO, "%s: cannot open: %s", path,
                        saved ? strerror(saved) : "out of memory");
    }
    gzbuffer(src->gz, GZ_BUFFER_BYTES);
    return LPS_OK;
}

void lps_source_open_memory(lps_source *src, const void *buf, size_t len, const char *name)
{
    memset(src, 0, sizeof *src);
    src->name = name;
    src->mem = buf;
    src->mem_len = len;
}

static lps_status gz_read_failure(lps_source *src, lps_error *err)
{
    int code = Z_OK;
    const char *what = gzerror(src->gz, &code);
    if (code == Z_ERRNO)
        return lps_fail(err, LPS_ERR_IO, "%s: read failed: %s", src->name, strerror(errno));
    if (code == Z_MEM_ERROR)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory while decompressing", src->name);
    return lps_fail(err, LPS_ERR_INVALID, "%s: corrupt gzip data: %s", src->name, what);
}

lps_status lps_source_read(lps_source *src, void *dst, size_t n, size_t *got, lps_error *err)
{
    *got = 0;
    if (!src->gz) {
        size_t avail = src->mem_len - src->mem_pos;
        size_t take = n < avail ? n : avail;
        if (take)
            memcpy(dst, src->mem + src->mem_pos, take);
        src->mem_pos += take;
        *got = take;
        return LPS_OK;
    }
    unsigned char *out = dst;
    while (*got < n) {
        size_t want = n - *got;
        if (want > GZ_MAX_SLICE)
            want = GZ_MAX_SLICE;
        int r = gzread(src->gz, out + *got, (unsigned)want);
        if (r < 0)
            return gz_read_failure(src, err);
        if (r == 0) {
            /* zlib reports a truncated gzip member only through gzerror. */
            int code = Z_OK;
            gzerror(src->gz, &code);
            if (code != Z_OK)
                return gz_read_failure(src, err);
            break;
        }
        *got += (size_t)r;
    }
    return LPS_OK;
}

lps_status lps_source_read_exact(lps_source *src, void *dst, size_t n, const char *what,
                                 lps_error *err)
{
    size_t got = 0;
    lps_status st = lps_source_read(src, dst, n, &got, err);
    if (st != LPS_OK)
        return st;
    if (got != n)
        return lps_fail(err, LPS_ERR_INVALID, "%s: short %s: expected %zu bytes, got %zu",
                        src->name, what, n, got);
    return LPS_OK;
}

lps_status lps_source_expect_end(lps_source *src, lps_error *err)
{
    unsigned char probe;
    size_t got = 0;
    lps_status st = lps_source_read(src, &probe, 1, &got, err);
    if (st != LPS_OK)
        return st;
    if (got)
        return lps_fail(err, LPS_ERR_INVALID, "%s: unexpected bytes after the payload", src->name);
    return LPS_OK;
}

lps_status lps_source_read_all(lps_source *src, size_t budget, unsigned char **out, size_t *len,
                               lps_error *err)
{
    *out = NULL;
    *len = 0;
    size_t cap = READ_ALL_INITIAL_BYTES;
    size_t used = 0;
    unsigned char *buf = NULL;
    lps_status st = LPS_OK;
    for (;;) {
        if (cap > budget)
            cap = budget;
        unsigned char *grown = realloc(buf, cap + 1);
        if (!grown) {
            st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory reading %zu bytes",
                          src->name, cap);
            goto cleanup;
        }
        buf = grown;
        size_t got = 0;
        st = lps_source_read(src, buf + used, cap - used, &got, err);
        if (st != LPS_OK)
            goto cleanup;
        used += got;
        if (used < cap)
            break;
        if (cap == budget) {
            /* Full at the budget: one more byte means the file is over it. */
            unsigned char probe;
            size_t extra = 0;
            st = lps_source_read(src, &probe, 1, &extra, err);
            if (st != LPS_OK)
                goto cleanup;
            if (extra) {
                st = lps_fail(err, LPS_ERR_NOMEM, "%s: file exceeds the memory budget of %zu bytes",
                              src->name, budget);
                goto cleanup;
            }
            break;
        }
        cap = cap > budget / 2 ? budget : cap * 2;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    buf = NULL;
cleanup:
    free(buf);
    return st;
}

void lps_source_close(lps_source *src)
{
    if (src && src->gz) {
        gzclose(src->gz);
        src->gz = NULL;
    }
}

bool lps_size_mul(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return false;
    *out = a * b;
    return true;
}

bool lps_size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return false;
    *out = a + b;
    return true;
}

size_t lps_data_budget(size_t budget)
{
    return budget ? budget : LPS_DATA_DEFAULT_BUDGET;
}

lps_status lps_data_alloc(lps_tensor *t, const char *name, lps_dtype dtype, int rank,
                          const int64_t *dims, size_t *remaining, lps_error *err)
{
    char shape[128];
    int64_t numel = lps_numel_of(rank, dims);
    size_t bytes = 0;
    if (numel < 0 || (uint64_t)numel > SIZE_MAX
        || !lps_size_mul((size_t)numel, lps_dtype_size(dtype), &bytes))
        return lps_fail(err, LPS_ERR_INVALID, "%s: shape %s is too large", name,
                        lps_shape_str(rank, dims, shape, sizeof shape));
    if (bytes > *remaining)
        return lps_fail(err, LPS_ERR_NOMEM,
                        "%s: shape %s needs %zu bytes, over the remaining memory budget of %zu",
                        name, lps_shape_str(rank, dims, shape, sizeof shape), bytes, *remaining);
    lps_status st = lps_tensor_alloc(t, dtype, rank, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s", name);
    *remaining -= bytes;
    return LPS_OK;
}

char *lps_excerpt(char *dst, size_t size, const char *src, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c >= ' ' && c < 0x7f ? (char)c : '?';
    }
    dst[n] = '\0';
    return dst;
}

static bool host_is_big_endian(void)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 0;
}

void lps_bytes_to_host(void *data, size_t n, size_t esize, bool source_big_endian)
{
    if (esize < 2 || source_big_endian == host_is_big_endian())
        return;
    unsigned char *p = data;
    for (size_t i = 0; i < n; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            unsigned char tmp = p[a];
            p[a] = p[b];
            p[b] = tmp;
        }
}
