#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ckpt_stream.h"
#include "train/dist.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define HASH_CHUNK (1u << 16)
#define HASH_TEXT 64
/* Mode of a new checkpoint folder before the umask, as mkdir(1) uses. */
#define NEW_DIR_MODE 0777
/* Room for the differences listed in one refusal. */
#define DIFF_TEXT 2048

static lps_status identity_grow(lps_run_identity *id, lps_error *err)
{
    size_t cap = id->cap ? 2 * id->cap : 16;
    char **keys = realloc(id->keys, cap * sizeof *keys);
    if (keys)
        id->keys = keys;
    char **values = keys ? realloc(id->values, cap * sizeof *values) : NULL;
    if (!values)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the run's identity");
    id->values = values;
    id->cap = cap;
    return LPS_OK;
}

lps_status lps_run_identity_add(lps_run_identity *id, const char *key, const char *value,
                                lps_error *err)
{
    for (size_t i = 0; i < id->n; i++) {
        if (strcmp(id->keys[i], key) != 0)
            continue;
        size_t old = strlen(id->values[i]);
        char *v = realloc(id->values[i], old + strlen(value) + 2);
        if (!v)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the run's identity");
        v[old] = ' ';
        strcpy(v + old + 1, value);
        id->values[i] = v;
        return LPS_OK;
    }
    if (id->n == id->cap && identity_grow(id, err) != LPS_OK)
        return LPS_ERR_NOMEM;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for the run's identity");
    }
    id->keys[id->n] = k;
    id->values[id->n++] = v;
    return LPS_OK;
}

lps_status lps_run_identity_add_file(lps_run_identity *id, const char *key, const char *path,
                                     lps_error *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(HASH_CHUNK);
    uint64_t h = FNV_OFFSET, size = 0;
    size_t n;
    lps_status st = LPS_OK;
    if (!f || !buf) {
        st = !f ? lps_fail(err, LPS_ERR_IO, "%s: %s", path, strerror(errno))
                : lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    while ((n = fread(buf, 1, HASH_CHUNK, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * FNV_PRIME;
        size += n;
    }
    if (ferror(f)) {
        st = lps_fail(err, LPS_ERR_IO, "%s: read failed", path);
        goto cleanup;
    }
    char text[HASH_TEXT];
    snprintf(text, sizeof text, "%" PRIu64 " bytes, FNV-1a %016" PRIx64, size, h);
    st = lps_run_identity_add(id, key, text, err);
cleanup:
    if (f)
        fclose(f);
    free(buf);
    return st;
}

void lps_run_identity_release(lps_run_identity *id)
{
    if (!id)
        return;
    for (size_t i = 0; i < id->n; i++) {
        free(id->keys[i]);
        free(id->values[i]);
    }
    free(id->keys);
    free(id->values);
    memset(id, 0, sizeof *id);
}

/* "DIR/checkpoint.lpsck", malloc'd. */
static char *checkpoint_file(const char *dir)
{
    size_t n = strlen(dir) + strlen(LPS_CHECKPOINT_FILE) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, LPS_CHECKPOINT_FILE);
    return p;
}

static lps_status transfer_identity(lps_ckpt *c, lps_run_identity *id, lps_error *err)
{
    int64_t n = (int64_t)id->n;
    lps_status st = lps_ckpt_i64(c, "identity.count", &n, err);
    if (st != LPS_OK || !lps_ckpt_reading(c)) {
        for (size_t i = 0; i < id->n && st == LPS_OK; i++)
            if ((st = lps_ckpt_string(c, "identity.key", &id->keys[i], err)) == LPS_OK)
                st = lps_ckpt_string(c, "identity.value", &id->values[i], err);
        return st;
    }
    for (int64_t i = 0; i < n && st == LPS_OK; i++) {
        char *key = NULL, *value = NULL;
        if ((st = lps_ckpt_string(c, "identity.key", &key, err)) == LPS_OK &&
            (st = lps_ckpt_string(c, "identity.value", &value, err)) == LPS_OK)
            st = lps_run_identity_add(id, key, value, err);
        free(key);
        free(value);
    }
    return st;
}

static lps_status transfer_state(lps_ckpt *c, lps_trainer *t, const lps_train_hooks *hooks,
                                 lps_error *err)
{
    lps_status st = lps_trainer_transfer(t, c, err);
    if (st == LPS_OK && hooks && hooks->transfer)
        st = hooks->transfer(hooks->user, c, err);
    return st;
}

lps_status lps_checkpoint_write(void *checkpointer, lps_trainer *t, lps_error *err)
{
    const lps_checkpointer *w = checkpointer;
    /* Data-parallel runs: every rank holds the same state at a step's end
     * (docs/distributed.md); rank 0 alone writes it. */
    if (lps_dist_rank() != 0)
        return LPS_OK;
    char *path = checkpoint_file(w->dir);
    if (!path)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    lps_status st = LPS_OK;
    if (mkdir(w->dir, NEW_DIR_MODE) != 0 && errno != EEXIST)
        st = lps_fail(err, LPS_ERR_IO, "checkpoint %s: cannot create the folder: %s", w->dir,
                      strerror(errno));
    lps_ckpt *c = st == LPS_OK ? lps_ckpt_create(path, err) : NULL;
    free(path);
    if (!c)
        return st != LPS_OK ? st : err->status;
    st = transfer_identity(c, (lps_run_identity *)w->id, err);
    if (st == LPS_OK)
        st = transfer_state(c, t, w->hooks, err);
    if (st != LPS_OK) {
        lps_ckpt_free(c);
        return st;
    }
    return lps_ckpt_commit(c, err);
}

/* Whether two identity values agree: equal text, or both numbers of equal value. */
static bool same_value(const char *a, const char *b)
{
    char *ea, *eb;
    if (strcmp(a, b) == 0)
        return true;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    return ea != a && eb != b && !*ea && !*eb && x == y;
}

static const char *value_of(const lps_run_identity *id, const char *key)
{
    for (size_t i = 0; i < id->n; i++)
        if (strcmp(id->keys[i], key) == 0)
            return id->values[i];
    return NULL;
}

/* Appends one difference to text ("; " between them). */
static void add_difference(char *text, const char *key, const char *then, const char *now)
{
    size_t used = strlen(text);
    const char *sep = used ? "; " : "";
    const char *the = key[0] == '-' ? "" : "the ";
    if (then && now)
        snprintf(text + used, DIFF_TEXT - used, "%s%s%s differs (%s in the checkpoint, %s now)",
                 sep, the, key, then, now);
    else if (then)
        snprintf(text + used, DIFF_TEXT - used, "%s%s%s %s was given for the checkpoint, not now",
                 sep, the, key, then);
    else
        snprintf(text + used, DIFF_TEXT - used, "%s%s%s %s is given now, not for the checkpoint",
                 sep, the, key, now);
}

static lps_status compare_identity(const char *dir, const lps_run_identity *then,
                                   const lps_run_identity *now, lps_error *err)
{
    char text[DIFF_TEXT] = "";
    for (size_t i = 0; i < then->n; i++) {
        const char *v = value_of(now, then->keys[i]);
        if (!v || !same_value(then->values[i], v))
            add_difference(text, then->keys[i], then->values[i], v);
    }
    for (size_t i = 0; i < now->n; i++)
        if (!value_of(then, now->keys[i]))
            add_difference(text, now->keys[i], NULL, now->values[i]);
    return text[0] ? lps_fail(err, LPS_ERR_INVALID, "checkpoint %s: %s", dir, text) : LPS_OK;
}

lps_status lps_checkpoint_resume(const char *dir, const lps_run_identity *id, lps_trainer *t,
                                 const lps_train_hooks *hooks, lps_error *err)
{
    char *path = checkpoint_file(dir);
    lps_run_identity then = {0};
    if (!path)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    lps_ckpt *c = lps_ckpt_open(path, err);
    free(path);
    if (!c)
        return lps_error_prefix(err, "checkpoint %s", dir);
    lps_status st = transfer_identity(c, &then, err);
    if (st == LPS_OK)
        st = compare_identity(dir, &then, id, err);
    if (st == LPS_OK)
        st = transfer_state(c, t, hooks, err);
    if (st == LPS_OK)
        st = lps_ckpt_finish_read(c, err);
    lps_run_identity_release(&then);
    lps_ckpt_free(c);
    return st;
}
