#include "core/ckpt_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/atomic_file.h"

#define CKPT_MAGIC "LPSCKPT"          /* 8 bytes with its NUL */
#define CKPT_TRAILER_MAGIC "LPSCKEND" /* 8 bytes, no NUL */
#define CKPT_MAGIC_LEN 8
#define CKPT_VERSION 1u
#define CKPT_BYTE_ORDER 0x01020304u
#define CKPT_HEADER_LEN (CKPT_MAGIC_LEN + 2 * sizeof(uint32_t))
#define CKPT_TRAILER_LEN (CKPT_MAGIC_LEN + sizeof(uint64_t) + sizeof(uint32_t))
/* Longest record name accepted when reading (names are short identifiers). */
#define CKPT_NAME_MAX 256
/* Chunk of the CRC pass over the file. */
#define CKPT_READ_CHUNK (1u << 16)

struct lps_ckpt {
    bool reading;
    char *path;
    lps_status failed;       /* LPS_OK until a transfer fails */
    lps_atomic_writer out;   /* writing */
    uLong crc;               /* writing: over everything written */
    uint64_t written;
    FILE *in;                /* reading */
    uint64_t body_end;       /* reading: offset of the trailer */
};

bool lps_ckpt_reading(const lps_ckpt *c) { return c->reading; }

const char *lps_ckpt_path(const lps_ckpt *c) { return c->path; }

void lps_ckpt_free(lps_ckpt *c)
{
    if (!c)
        return;
    if (c->in)
        fclose(c->in);
    if (!c->reading)
        lps_atomic_writer_abort(&c->out);
    free(c->path);
    free(c);
}

static lps_ckpt *ckpt_new(const char *path, bool reading, lps_error *err)
{
    lps_ckpt *c = calloc(1, sizeof *c);
    if (c)
        c->path = strdup(path);
    if (!c || !c->path) {
        free(c);
        lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    c->reading = reading;
    c->out.fd = -1;
    return c;
}

static lps_status put(lps_ckpt *c, const void *data, size_t len, lps_error *err)
{
    lps_status st = lps_atomic_writer_write(&c->out, data, len, err);
    if (st == LPS_OK) {
        /* crc32 takes uInt lengths: feed large buffers in pieces. */
        const unsigned char *p = data;
        for (size_t done = 0; done < len;) {
            size_t n = len - done > CKPT_READ_CHUNK ? CKPT_READ_CHUNK : len - done;
            c->crc = crc32(c->crc, p + done, (uInt)n);
            done += n;
        }
        c->written += len;
    }
    return st;
}

lps_ckpt *lps_ckpt_create(const char *path, lps_error *err)
{
    lps_ckpt *c = ckpt_new(path, false, err);
    if (!c)
        return NULL;
    c->crc = crc32(0L, Z_NULL, 0);
    uint32_t head[2] = {CKPT_VERSION, CKPT_BYTE_ORDER};
    if (lps_atomic_writer_open(&c->out, path, err) != LPS_OK ||
        put(c, CKPT_MAGIC, CKPT_MAGIC_LEN, err) != LPS_OK || put(c, head, sizeof head, err) != LPS_OK) {
        lps_ckpt_free(c);
        return NULL;
    }
    return c;
}

lps_status lps_ckpt_commit(lps_ckpt *c, lps_error *err)
{
    lps_status st = c->failed;
    if (st == LPS_OK) {
        uint64_t len = c->written;
        uint32_t crc = (uint32_t)c->crc;
        unsigned char trailer[CKPT_TRAILER_LEN];
        memcpy(trailer, CKPT_TRAILER_MAGIC, CKPT_MAGIC_LEN);
        memcpy(trailer + CKPT_MAGIC_LEN, &len, sizeof len);
        memcpy(trailer + CKPT_MAGIC_LEN + sizeof len, &crc, sizeof crc);
        st = lps_atomic_writer_write(&c->out, trailer, sizeof trailer, err);
        if (st == LPS_OK)
            st = lps_atomic_writer_commit(&c->out, err);
    }
    lps_ckpt_free(c);
    return st;
}

static lps_status damaged(lps_ckpt *c, const char *why, lps_error *err)
{
    return lps_fail(err, LPS_ERR_INVALID, "%s: %s", c->path, why);
}

/* The CRC of the first n bytes of c->in, from the start. */
static lps_status crc_of_body(lps_ckpt *c, uint64_t n, uint32_t *out, lps_error *err)
{
    unsigned char *buf = malloc(CKPT_READ_CHUNK);
    uLong crc = crc32(0L, Z_NULL, 0);
    if (!buf)
        return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", c->path);
    rewind(c->in);
    for (uint64_t done = 0; done < n;) {
        size_t want = n - done > CKPT_READ_CHUNK ? CKPT_READ_CHUNK : (size_t)(n - done);
        if (fread(buf, 1, want, c->in) != want) {
            free(buf);
            return lps_fail(err, LPS_ERR_IO, "%s: read failed", c->path);
        }
        crc = crc32(crc, buf, (uInt)want);
        done += want;
    }
    free(buf);
    *out = (uint32_t)crc;
    return LPS_OK;
}

static lps_status check_file(lps_ckpt *c, lps_error *err)
{
    struct stat sb;
    unsigned char head[CKPT_HEADER_LEN], trailer[CKPT_TRAILER_LEN];
    uint32_t version, order, crc_stored, crc = 0;
    uint64_t body;
    if (fstat(fileno(c->in), &sb) != 0)
        return lps_fail(err, LPS_ERR_IO, "%s: %s", c->path, strerror(errno));
    uint64_t size = (uint64_t)sb.st_size;
    if (size < CKPT_HEADER_LEN || fread(head, 1, sizeof head, c->in) != sizeof head ||
        memcmp(head, CKPT_MAGIC, CKPT_MAGIC_LEN) != 0)
        return damaged(c, "not an lpsparsify checkpoint", err);
    memcpy(&version, head + CKPT_MAGIC_LEN, sizeof version);
    memcpy(&order, head + CKPT_MAGIC_LEN + sizeof version, sizeof order);
    if (order != CKPT_BYTE_ORDER)
        return damaged(c, "written on a machine of the other byte order", err);
    if (version != CKPT_VERSION)
        return lps_fail(err, LPS_ERR_INVALID, "%s: checkpoint format %u, this build reads %u",
                        c->path, version, CKPT_VERSION);
    if (size < CKPT_HEADER_LEN + CKPT_TRAILER_LEN || fseek(c->in, -(long)CKPT_TRAILER_LEN, SEEK_END) != 0 ||
        fread(trailer, 1, sizeof trailer, c->in) != sizeof trailer ||
        memcmp(trailer, CKPT_TRAILER_MAGIC, CKPT_MAGIC_LEN) != 0)
        return damaged(c, "truncated (no end marker)", err);
    memcpy(&body, trailer + CKPT_MAGIC_LEN, sizeof body);
    memcpy(&crc_stored, trailer + CKPT_MAGIC_LEN + sizeof body, sizeof crc_stored);
    if (body != size - CKPT_TRAILER_LEN)
        return damaged(c, "truncated or extended (length mismatch)", err);
    lps_status st = crc_of_body(c, body, &crc, err);
    if (st != LPS_OK)
        return st;
    if (crc != crc_stored)
        return damaged(c, "damaged (CRC mismatch)", err);
    c->body_end = body;
    return fseek(c->in, (long)CKPT_HEADER_LEN, SEEK_SET) == 0
               ? LPS_OK
               : lps_fail(err, LPS_ERR_IO, "%s: seek failed", c->path);
}

lps_ckpt *lps_ckpt_open(const char *path, lps_error *err)
{
    lps_ckpt *c = ckpt_new(path, true, err);
    if (!c)
        return NULL;
    c->in = fopen(path, "rb");
    if (!c->in) {
        lps_fail(err, errno == ENOENT ? LPS_ERR_INVALID : LPS_ERR_IO, "%s: %s", path,
                 strerror(errno));
        lps_ckpt_free(c);
        return NULL;
    }
    if (check_file(c, err) != LPS_OK) {
        lps_ckpt_free(c);
        return NULL;
    }
    return c;
}

lps_status lps_ckpt_finish_read(lps_ckpt *c, lps_error *err)
{
    if (c->failed != LPS_OK)
        return c->failed;
    long pos = ftell(c->in);
    if (pos < 0 || (uint64_t)pos != c->body_end)
        return damaged(c, "corrupt or from another version: records left over", err);
    return LPS_OK;
}

/* Reads the next record header; *len receives its data length. */
static lps_status next_record(lps_ckpt *c, const char *name, uint64_t *len, lps_error *err)
{
    uint32_t name_len;
    char got[CKPT_NAME_MAX + 1];
    long pos = ftell(c->in);
    if (pos < 0 || (uint64_t)pos + sizeof name_len > c->body_end ||
        fread(&name_len, sizeof name_len, 1, c->in) != 1 || name_len > CKPT_NAME_MAX ||
        (uint64_t)pos + sizeof name_len + name_len + sizeof *len > c->body_end ||
        fread(got, 1, name_len, c->in) != name_len || fread(len, sizeof *len, 1, c->in) != 1)
        return lps_fail(err, LPS_ERR_INVALID,
                        "%s: corrupt or from another version: record '%s' is missing", c->path,
                        name);
    got[name_len] = '\0';
    if (strcmp(got, name) != 0)
        return lps_fail(err, LPS_ERR_INVALID,
                        "%s: corrupt or from another version: record '%s' where '%s' belongs",
                        c->path, got, name);
    pos = ftell(c->in);
    if (pos < 0 || *len > c->body_end - (uint64_t)pos)
        return damaged(c, "corrupt: a record runs past the end", err);
    return LPS_OK;
}

lps_status lps_ckpt_bytes(lps_ckpt *c, const char *name, void *data, size_t len, lps_error *err)
{
    if (c->failed != LPS_OK)
        return c->failed;
    lps_status st;
    if (!c->reading) {
        uint32_t name_len = (uint32_t)strlen(name);
        uint64_t n = len;
        st = put(c, &name_len, sizeof name_len, err);
        if (st == LPS_OK)
            st = put(c, name, name_len, err);
        if (st == LPS_OK)
            st = put(c, &n, sizeof n, err);
        if (st == LPS_OK && len)
            st = put(c, data, len, err);
    } else {
        uint64_t got = 0;
        st = next_record(c, name, &got, err);
        if (st == LPS_OK && got != len)
            st = lps_fail(err, LPS_ERR_INVALID,
                          "%s: corrupt or from another version: record '%s' holds %llu bytes, "
                          "%zu expected", c->path, name, (unsigned long long)got, len);
        if (st == LPS_OK && len && fread(data, 1, len, c->in) != len)
            st = lps_fail(err, LPS_ERR_IO, "%s: read failed", c->path);
    }
    c->failed = st;
    return st;
}

lps_status lps_ckpt_floats(lps_ckpt *c, const char *name, float *x, size_t n, lps_error *err)
{
    return lps_ckpt_bytes(c, name, x, n * sizeof *x, err);
}

lps_status lps_ckpt_doubles(lps_ckpt *c, const char *name, double *x, size_t n, lps_error *err)
{
    return lps_ckpt_bytes(c, name, x, n * sizeof *x, err);
}

lps_status lps_ckpt_i64(lps_ckpt *c, const char *name, int64_t *x, lps_error *err)
{
    return lps_ckpt_bytes(c, name, x, sizeof *x, err);
}

lps_status lps_ckpt_u64(lps_ckpt *c, const char *name, uint64_t *x, lps_error *err)
{
    return lps_ckpt_bytes(c, name, x, sizeof *x, err);
}

lps_status lps_ckpt_f64(lps_ckpt *c, const char *name, double *x, lps_error *err)
{
    return lps_ckpt_bytes(c, name, x, sizeof *x, err);
}

lps_status lps_ckpt_int(lps_ckpt *c, const char *name, int *x, lps_error *err)
{
    int64_t v = *x;
    lps_status st = lps_ckpt_i64(c, name, &v, err);
    if (st == LPS_OK && c->reading) {
        if (v < INT32_MIN || v > INT32_MAX)
            return c->failed = damaged(c, "corrupt: an integer is out of range", err);
        *x = (int)v;
    }
    return st;
}

lps_status lps_ckpt_bool(lps_ckpt *c, const char *name, bool *x, lps_error *err)
{
    uint8_t v = *x ? 1 : 0;
    lps_status st = lps_ckpt_bytes(c, name, &v, 1, err);
    if (st == LPS_OK && c->reading) {
        if (v > 1)
            return c->failed = damaged(c, "corrupt: a flag is neither 0 nor 1", err);
        *x = v == 1;
    }
    return st;
}

lps_status lps_ckpt_string(lps_ckpt *c, const char *name, char **s, lps_error *err)
{
    if (!c->reading)
        return lps_ckpt_bytes(c, name, *s, strlen(*s), err);
    if (c->failed != LPS_OK)
        return c->failed;
    uint64_t len = 0;
    lps_status st = next_record(c, name, &len, err);
    char *buf = st == LPS_OK ? malloc((size_t)len + 1) : NULL;
    if (st == LPS_OK && !buf)
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", c->path);
    if (st == LPS_OK && len && fread(buf, 1, (size_t)len, c->in) != len)
        st = lps_fail(err, LPS_ERR_IO, "%s: read failed", c->path);
    if (st == LPS_OK && memchr(buf, '\0', (size_t)len))
        st = damaged(c, "corrupt: a text record holds a NUL", err);
    if (st != LPS_OK) {
        free(buf);
        return c->failed = st;
    }
    buf[len] = '\0';
    free(*s);
    *s = buf;
    return LPS_OK;
}
