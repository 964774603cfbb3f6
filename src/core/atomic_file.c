#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Distinct temporary names tried before giving up (O_EXCL collisions only
 * happen when another writer targets the same file at the same moment). */
#define TEMP_NAME_ATTEMPTS 100
/* Room for "/." and ".tmp-<pid>-<attempt>" around dir and base. */
#define TEMP_NAME_EXTRA 64
/* Mode of a new file before the umask, as open(2) and fopen(3) use. */
#define NEW_FILE_MODE 0666

/* Splits path into a malloc'd folder ("." when path has none) and returns
 * the base name (pointing into path). NULL on allocation failure. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        return strdup(".");
    }
    *base = slash + 1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    return strndup(path, n);
}

/* Creates a fresh "<dir>/.<base>.tmp-<pid>-<attempt>" exclusively. On
 * success returns the fd and stores the malloc'd name in *tmp_out. */
static int create_temp(const char *dir, const char *base, char **tmp_out)
{
    size_t size = strlen(dir) + strlen(base) + TEMP_NAME_EXTRA;
    char *tmp = malloc(size);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < TEMP_NAME_ATTEMPTS; attempt++) {
        snprintf(tmp, size, "%s/.%s.tmp-%ld-%d", dir, base, (long)getpid(), attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, NEW_FILE_MODE);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    int saved = errno;
    free(tmp);
    errno = saved;
    return -1;
}

/* Writes all of data, retrying short writes and EINTR. false with errno set. */
static bool write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Makes the rename itself durable. Some file systems cannot fsync a folder
 * (EINVAL); the data is already safe then, so that is not an error. */
static bool sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0 || errno == EINVAL;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

void lps_atomic_writer_abort(lps_atomic_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp) {
        unlink(w->tmp);
        free(w->tmp);
    }
    free(w->dir);
    free(w->path);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

lps_status lps_atomic_writer_open(lps_atomic_writer *w, const char *path, lps_error *err)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    if (!path || !path[0])
        return lps_fail(err, LPS_ERR_INVALID, "(null): no file name to write");
    const char *base;
    w->path = strdup(path);
    w->dir = dir_of(path, &base);
    if (!w->path || !w->dir) {
        lps_atomic_writer_abort(w);
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!base[0]) {
        lps_atomic_writer_abort(w);
        return lps_fail(err, LPS_ERR_INVALID, "%s: is a folder name, not a file name", path);
    }
    w->fd = create_temp(w->dir, base, &w->tmp);
    if (w->fd < 0) {
        lps_status st = lps_fail(err, LPS_ERR_IO, "%s: cannot create a file in '%s': %s", path,
                                 w->dir, strerror(errno));
        lps_atomic_writer_abort(w);
        return st;
    }
    return LPS_OK;
}

lps_status lps_atomic_writer_write(lps_atomic_writer *w, const void *data, size_t len,
                                   lps_error *err)
{
    if (w->fd < 0)
        return lps_fail(err, LPS_ERR_IO, "%s: write after a failure", w->path ? w->path : "?");
    if (!write_all(w->fd, data, len)) {
        lps_status st = lps_fail(err, LPS_ERR_IO, "%s: write failed: %s", w->path,
                                 strerror(errno));
        lps_atomic_writer_abort(w);
        return st;
    }
    return LPS_OK;
}

lps_status lps_atomic_writer_commit(lps_atomic_writer *w, lps_error *err)
{
    lps_status st = LPS_OK;
    if (w->fd < 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: commit after a failure", w->path ? w->path : "?");
        goto cleanup;
    }
    if (fsync(w->fd) != 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
        goto cleanup;
    }
    int closed = close(w->fd);
    w->fd = -1;
    if (closed != 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
        goto cleanup;
    }
    if (rename(w->tmp, w->path) != 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: cannot replace: %s", w->path, strerror(errno));
        goto cleanup;
    }
    free(w->tmp);
    w->tmp = NULL;  /* renamed: nothing left to remove */
    if (!sync_dir(w->dir))
        st = lps_fail(err, LPS_ERR_IO, "%s: cannot sync folder '%s': %s", w->path, w->dir,
                      strerror(errno));
cleanup:
    lps_atomic_writer_abort(w);
    return st;
}

lps_status lps_write_file_atomic(const char *path, const void *data, size_t len,
                                 lps_error *err)
{
    if (!path || !path[0] || (!data && len > 0))
        return lps_fail(err, LPS_ERR_INVALID, "%s: no file name or data to write", path ? path : "(null)");
    lps_atomic_writer w;
    lps_status st = lps_atomic_writer_open(&w, path, err);
    if (st == LPS_OK)
        st = lps_atomic_writer_write(&w, data, len, err);
    if (st == LPS_OK)
        st = lps_atomic_writer_commit(&w, err);
    return st;
}
