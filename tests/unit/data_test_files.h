/* Helpers for the dataset tests: a private temp directory and small files
 * written into it (raw or gzip). Header-only because every tests/unit/
 * test_*.c becomes its own executable. */
#ifndef LPS_TEST_DATA_TEST_FILES_H
#define LPS_TEST_DATA_TEST_FILES_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define TEST_PATH_MAX 512

/* Creates a fresh directory under TMPDIR (or /tmp) into dir. */
static inline void test_make_dir(char *dir, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/lps_data_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Writes len bytes to dir/name (gzip-compressed when gz) and returns the
 * path in out. */
static inline const char *test_write(char *out, const char *dir, const char *name,
                                     const void *bytes, size_t len, int gz)
{
    int used = snprintf(out, TEST_PATH_MAX, "%s/%s", dir, name);
    ck_assert(used > 0 && used < TEST_PATH_MAX);
    if (gz) {
        gzFile f = gzopen(out, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, bytes, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(out, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
    return out;
}

static inline const char *test_write_text(char *out, const char *dir, const char *name,
                                          const char *text)
{
    return test_write(out, dir, name, text, strlen(text), 0);
}

static inline int test_remove_entry(const char *path, const struct stat *sb, int flag,
                                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything in it. */
static inline void test_remove_dir(const char *dir)
{
    ck_assert_int_eq(nftw(dir, test_remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* Asserts that err carries status and mentions needle (usually a path). */
#define ck_assert_error(err, want_status, needle)                                      \
    do {                                                                                \
        ck_assert_msg((err).status == (want_status), "status %d, expected %d: %s",      \
                      (int)(err).status, (int)(want_status), (err).msg);                \
        ck_assert_msg(strstr((err).msg, (needle)) != NULL, "'%s' not in message '%s'",  \
                      (needle), (err).msg);                                             \
        ck_assert_msg(strchr((err).msg, '\n') == NULL, "multi-line message '%s'",       \
                      (err).msg);                                                       \
    } while (0)

#endif
