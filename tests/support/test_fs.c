#include "test_fs.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_FS_MAX_OPEN_DIRS 8
#define TEST_FS_TEMPLATE "lps_test_XXXXXX"

char *test_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = test_path(base && base[0] ? base : "/tmp", TEST_FS_TEMPLATE);
    if (!mkdtemp(dir))
        ck_abort_msg("mkdtemp %s failed", dir);
    return dir;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

void test_tmpdir_free(char *dir)
{
    if (!dir)
        return;
    nftw(dir, remove_entry, TEST_FS_MAX_OPEN_DIRS, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        ck_abort_msg("out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        ck_abort_msg("cannot open %s", path);
    uint8_t *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (used == cap) {
            cap = cap ? cap * 2 : BUFSIZ;
            uint8_t *p = realloc(buf, cap);
            if (!p)
                ck_abort_msg("out of memory");
            buf = p;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed)
        ck_abort_msg("cannot read %s", path);
    *len = used;
    return buf;
}

int test_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        ck_abort_msg("cannot open folder %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}
