#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "test_suite.h"

#define PATH_BUF 512

/* A fresh private folder under TMPDIR (or /tmp); the caller removes it. */
static void make_dir(char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/lps_atomic_XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void read_back(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

START_TEST(writes_and_replaces_without_leftovers)
{
    char dir[PATH_BUF], path[PATH_BUF + 16], got[64];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.json", dir);
    lps_error err;
    ck_assert_int_eq(lps_write_file_atomic(path, "first", 5, &err), LPS_OK);
    read_back(path, got, sizeof got);
    ck_assert_str_eq(got, "first");
    ck_assert_int_eq(lps_write_file_atomic(path, "second!", 7, &err), LPS_OK);
    read_back(path, got, sizeof got);
    ck_assert_str_eq(got, "second!");
    ck_assert_int_eq(count_entries(dir), 1);
    /* The new file gets the usual 0666-minus-umask mode, not mkstemp's 0600. */
    mode_t mask = umask(0);
    umask(mask);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0666 & ~mask);
    ck_assert_int_eq(lps_write_file_atomic(path, NULL, 0, &err), LPS_OK);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(failures_name_the_file_and_leave_nothing)
{
    char dir[PATH_BUF], path[PATH_BUF + 32];
    make_dir(dir, sizeof dir);
    lps_error err;
    snprintf(path, sizeof path, "%s/missing/out.json", dir);
    ck_assert_int_eq(lps_write_file_atomic(path, "x", 1, &err), LPS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    /* Replacing a folder fails at the rename; the temporary must go. */
    snprintf(path, sizeof path, "%s/sub", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(lps_write_file_atomic(path, "x", 1, &err), LPS_ERR_IO);
    ck_assert_int_eq(count_entries(dir), 1);
    ck_assert_int_eq(lps_write_file_atomic("", "x", 1, &err), LPS_ERR_INVALID);
    snprintf(path, sizeof path, "%s/", dir);
    ck_assert_int_eq(lps_write_file_atomic(path, "x", 1, &err), LPS_ERR_INVALID);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", writes_and_replaces_without_leftovers, 1},
        {"core", failures_name_the_file_and_leave_nothing, 1},
    };
    return test_run_table("atomic_file", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
