/* Scratch folders and whole-file reads for tests that write files. Each
 * function aborts the test (ck_abort) on failure, so callers need no checks. */
#ifndef LPS_TEST_FS_H
#define LPS_TEST_FS_H

#include <stddef.h>
#include <stdint.h>

/* A new empty folder under $TMPDIR (or /tmp); malloc'd path. */
char *test_tmpdir_new(void);
/* Removes the folder and everything in it (links are removed, not
 * followed), then frees the path. NULL is accepted. */
void test_tmpdir_free(char *dir);
/* "dir/name" in a malloc'd string. */
char *test_path(const char *dir, const char *name);
/* The whole file, malloc'd (at least 1 byte allocated); *len its size. */
uint8_t *test_read_file(const char *path, size_t *len);
/* Number of entries in a folder, "." and ".." excluded. */
int test_dir_entries(const char *dir);

#endif
