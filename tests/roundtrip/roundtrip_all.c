/* Loads every .onnx under a folder and saves it back in memory.
 *
 * Usage: roundtrip_all [--rewrite] DIR MIN_FILES
 *   default    nothing is modified: the bytes must equal the file's.
 *   --rewrite  every initializer with fixed-size elements is marked modified
 *              (so the splice replaces it) and saved with auto storage; the
 *              result must load again with identical tensors and graph, and
 *              serialize unchanged to itself.
 * Fails when any file fails or fewer than MIN_FILES were found, so a
 * missing or shrunken test-data folder cannot pass silently. */
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpsparsify/model.h"

#define ONNX_SUFFIX ".onnx"

typedef struct tally {
    long passed;
    long failed;
    long rewritten;  /* initializers replaced in --rewrite mode */
    bool rewrite;
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

/* Whether the reloaded model r has the graph and initializer values of m. */
static const char *same_model(const lps_model *m, const lps_model *r)
{
    if (r->graph.n_nodes != m->graph.n_nodes || r->graph.n_inputs != m->graph.n_inputs ||
        r->graph.n_outputs != m->graph.n_outputs ||
        r->graph.n_initializers != m->graph.n_initializers)
        return "reloaded graph differs in size";
    for (size_t i = 0; i < m->graph.n_initializers; i++) {
        const lps_tensor *a = &m->graph.initializers[i].tensor;
        const lps_initializer *b = lps_graph_find_initializer(&r->graph, m->graph.initializers[i].name);
        if (!b || b->tensor.dtype != a->dtype || b->tensor.rank != a->rank ||
            memcmp(b->tensor.dims, a->dims, sizeof a->dims) != 0 ||
            b->tensor.nbytes != a->nbytes ||
            (a->nbytes && memcmp(b->tensor.data, a->data, a->nbytes) != 0))
            return "an initializer changed on the way through a save";
    }
    return NULL;
}

/* Rewrites every initializer that has data; returns why it failed or NULL. */
static const char *rewrite_check(lps_model *m, tally *t, lps_error *err)
{
    unsigned char *saved = NULL, *again = NULL;
    size_t saved_len = 0, again_len = 0;
    const char *why = NULL;
    for (size_t i = 0; i < m->graph.n_initializers; i++) {
        lps_initializer *init = &m->graph.initializers[i];
        init->modified = lps_dtype_size(init->tensor.dtype) > 0;
        t->rewritten += init->modified;
    }
    lps_model *r = NULL;
    if (lps_model_serialize(m, LPS_STORAGE_AUTO, &saved, &saved_len, err) != LPS_OK)
        why = err->msg;
    else if (!(r = lps_model_load_buffer(saved, saved_len, m->path, m->dir, err)))
        why = err->msg;
    else if (!(why = same_model(m, r)) &&
             lps_model_serialize(r, LPS_STORAGE_DENSE, &again, &again_len, err) != LPS_OK)
        why = err->msg;
    else if (!why && (again_len != saved_len || memcmp(again, saved, saved_len) != 0))
        why = "the rewritten model does not serialize to itself";
    lps_model_free(r);
    free(saved);
    free(again);
    return why;
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
    else if (t->rewrite)
        why = rewrite_check(m, t, &err);
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
    tally t = {0, 0, 0, false};
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--rewrite") == 0) {
        t.rewrite = true;
        first = 2;
    }
    if (argc - first != 2) {
        fprintf(stderr, "usage: %s [--rewrite] DIR MIN_FILES\n", argv[0]);
        return EXIT_FAILURE;
    }
    long min_files = strtol(argv[first + 1], NULL, 10);
    if (walk(argv[first], &t) != 0)
        return EXIT_FAILURE;
    printf("%ld passed, %ld failed", t.passed, t.failed);
    if (t.rewrite)
        printf(" (%ld initializers rewritten)", t.rewritten);
    printf("\n");
    if (t.passed + t.failed < min_files) {
        printf("FAIL: found %ld .onnx files, expected at least %ld\n", t.passed + t.failed,
               min_files);
        return EXIT_FAILURE;
    }
    return t.failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
