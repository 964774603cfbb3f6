/* Loads every .onnx under a folder, serializes it with nothing modified and
 * compares the bytes with the file. Usage: roundtrip_all DIR MIN_FILES.
 * Fails when any file fails or fewer than MIN_FILES were found, so a
 * missing or shrunken test-data folder cannot pass silently. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/model.h"

#define ONNX_SUFFIX ".onnx"

typedef struct tally {
    long passed;
    long failed;
} tally;

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int read_all(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int rc = -1;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            *out = malloc((size_t)n + 1);
            if (*out && fread(*out, 1, (size_t)n, f) == (size_t)n) {
                *len = (size_t)n;
                rc = 0;
            }
        }
    }
    fclose(f);
    return rc;
}

static void check_file(const char *path, tally *t)
{
    lps_error err = {0};
    unsigned char *orig = NULL, *saved = NULL;
    size_t orig_len = 0, saved_len = 0;
    const char *why = NULL;
    lps_model *m = lps_model_load(path, &err);
    if (!m)
        why = err.msg;
    else if (lps_model_serialize(m, LPS_STORAGE_DENSE, &saved, &saved_len, &err) != LPS_OK)
        why = err.msg;
    else if (read_all(path, &orig, &orig_len) != 0)
        why = "cannot re-read the file";
    else if (orig_len != saved_len || memcmp(orig, saved, orig_len) != 0)
        why = "serialized bytes differ from the file";
    if (why) {
        printf("FAIL %s: %s\n", path, why);
        t->failed++;
    } else {
        t->passed++;
    }
    free(orig);
    free(saved);
    lps_model_free(m);
}

/* Visits dir recursively in name order (stable output); returns -1 when a
 * folder cannot be read. */
static int walk(const char *dir, tally *t)
{
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        char path[PATH_MAX];
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
            snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path) {
            if (entries[i]->d_type == DT_DIR)
                rc |= walk(path, t);
            else if (entries[i]->d_type == DT_REG && has_suffix(name, ONNX_SUFFIX))
                check_file(path, t);
        }
        free(entries[i]);
    }
    free(entries);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR MIN_FILES\n", argv[0]);
        return EXIT_FAILURE;
    }
    long min_files = strtol(argv[2], NULL, 10);
    tally t = {0, 0};
    if (walk(argv[1], &t) != 0)
        return EXIT_FAILURE;
    printf("%ld passed, %ld failed\n", t.passed, t.failed);
    if (t.passed + t.failed < min_files) {
        printf("FAIL: found %ld .onnx files, expected at least %ld\n", t.passed + t.failed,
               min_files);
        return EXIT_FAILURE;
    }
    return t.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
