/* Image folders: the file index of a split (DIR/<class>/...), checked
 * once by decoding every file, and the splits' shared operations (class
 * comparison, validation hold-out). docs/data.md, "Image folders". */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/image.h"
#include "data/rng.h"

/* Nested folders below a class are walked this deep at most. */
#define MAX_DEPTH 16
static const char *const IMAGE_SUFFIXES[] = {".png", ".jpg", ".jpeg"};

/* A growable list of strings. */
typedef struct name_list {
    char **items;
    int64_t n, cap;
} name_list;

static bool list_push(name_list *l, const char *text)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown)
            return false;
        l->items = grown;
        l->cap = cap;
    }
    char *copy = strdup(text);
    if (!copy)
        return false;
    l->items[l->n++] = copy;
    return true;
}

static void list_release(name_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Visible entries of dir, sorted by name (so the index is the same on
 * every file system). Errors name dir. */
static lps_status read_entries(const char *dir, name_list *out, lps_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    lps_status st = LPS_OK;
    while (st == LPS_OK && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && !list_push(out, e->d_name))
            st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", dir);
    closedir(d);
    if (st == LPS_OK && out->n > 1)
        qsort(out->items, (size_t)out->n, sizeof *out->items, compare_names);
    return st;
}

static bool has_image_suffix(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof IMAGE_SUFFIXES / sizeof IMAGE_SUFFIXES[0]; i++) {
        size_t sl = strlen(IMAGE_SUFFIXES[i]);
        if (len > sl && strcasecmp(name + len - sl, IMAGE_SUFFIXES[i]) == 0)
            return true;
    }
    return false;
}

/* The folders being walked, to tell a symlink loop from a deep tree. */
typedef struct walk {
    dev_t dev[MAX_DEPTH];
    ino_t ino[MAX_DEPTH];
    int depth;
    const lps_data_options *opt;
    name_list *files;
    name_list *skipped;
} walk;

static lps_status walk_folder(walk *w, const char *dir, lps_error *err);

/* Adds path (an entry of a class folder) to the walk: a file to the list
 * (or to the skipped list), a folder walked. */
static lps_status walk_entry(walk *w, const char *path, lps_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return walk_folder(w, path, err);
    char reason[PATH_MAX + 64];
    if (!S_ISREG(st.st_mode))
        snprintf(reason, sizeof reason, "%s: not a regular file", path);
    else if (!has_image_suffix(path))
        snprintf(reason, sizeof reason, "%s: not an image file (expected .png, .jpg or .jpeg)",
                 path);
    else
        return list_push(w->files, path) ? LPS_OK : lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    if (!w->opt->skip_bad)
        return lps_fail(err, LPS_ERR_INVALID, "%s (--skip-bad leaves such files out)", reason);
    return list_push(w->skipped, reason) ? LPS_OK : lps_fail(err, LPS_ERR_NOMEM, "out of memory");
}

static lps_status walk_folder(walk *w, const char *dir, lps_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s", dir, strerror(errno));
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == st.st_dev && w->ino[i] == st.st_ino)
            return lps_fail(err, LPS_ERR_INVALID, "%s: symlink loop (the folder contains itself)",
                            dir);
    if (w->depth == MAX_DEPTH)
        return lps_fail(err, LPS_ERR_INVALID, "%s: folders nested deeper than %d", dir, MAX_DEPTH);
    w->dev[w->depth] = st.st_dev;
    w->ino[w->depth] = st.st_ino;
    w->depth++;
    name_list entries = {0};
    lps_status s = read_entries(dir, &entries, err);
    for (int64_t i = 0; s == LPS_OK && i < entries.n; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, entries.items[i]) >= (int)sizeof path)
            s = lps_fail(err, LPS_ERR_INVALID, "%s/%s: path too long", dir, entries.items[i]);
        else
            s = walk_entry(w, path, err);
    }
    list_release(&entries);
    w->depth--;
    return s;
}

/* Decodes every file once (in parallel); bad ones fail the load, or with
 * skip_bad move to skipped. keep[i] tells which files stay. */
static lps_status check_files(const name_list *files, const lps_data_options *opt, bool *keep,
                              name_list *skipped, int64_t size[2], lps_error *err)
{
    lps_error *errors = calloc((size_t)(files->n ? files->n : 1), sizeof *errors);
    int64_t *sizes = calloc((size_t)(files->n ? files->n : 1) * 2, sizeof *sizes);
    if (!errors || !sizes) {
        free(errors);
        free(sizes);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory checking %lld images",
                        (long long)files->n);
    }
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < files->n; i++) {
        lps_image img;
        keep[i] = lps_image_load(files->items[i], &img, &errors[i]) == LPS_OK;
        sizes[2 * i] = img.height;
        sizes[2 * i + 1] = img.width;
        lps_image_release(&img);
    }
    /* The common size of the kept files, 0 x 0 when they differ. */
    size[0] = size[1] = -1;
    for (int64_t i = 0; i < files->n; i++)
        if (keep[i] && size[0] == -1) {
            size[0] = sizes[2 * i];
            size[1] = sizes[2 * i + 1];
        } else if (keep[i] && (size[0] != sizes[2 * i] || size[1] != sizes[2 * i + 1])) {
            size[0] = size[1] = 0;
        }
    free(sizes);
    lps_status st = LPS_OK;
    for (int64_t i = 0; st == LPS_OK && i < files->n; i++) {
        if (keep[i])
            continue;
        if (!opt->skip_bad || errors[i].status == LPS_ERR_NOMEM) {
            *err = errors[i];
            st = err->status;
        } else if (!list_push(skipped, errors[i].msg)) {
            st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
        }
    }
    free(errors);
    return st;
}

/* The class folders of dir (sorted), refusing files beside them. */
static lps_status find_classes(const char *dir, name_list *classes, lps_error *err)
{
    name_list entries = {0};
    lps_status st = read_entries(dir, &entries, err);
    for (int64_t i = 0; st == LPS_OK && i < entries.n; i++) {
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, entries.items[i]);
        if (stat(path, &sb) != 0)
            st = lps_fail(err, LPS_ERR_INVALID, "%s: %s", path, strerror(errno));
        else if (!S_ISDIR(sb.st_mode))
            st = lps_fail(err, LPS_ERR_INVALID, "%s: not a class folder (images go in %s/<class>/)",
                          path, dir);
        else if (!list_push(classes, entries.items[i]))
            st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    }
    list_release(&entries);
    if (st == LPS_OK && classes->n == 0)
        st = lps_fail(err, LPS_ERR_INVALID, "%s: no class folders (expected %s/<class>/*.png)", dir,
                      dir);
    return st;
}

/* Walks every class into files/labels; an empty class is an error. */
static lps_status index_classes(const char *dir, const name_list *classes,
                                const lps_data_options *opt, name_list *files, int64_t **labels,
                                name_list *skipped, lps_error *err)
{
    int64_t cap = 0;
    lps_status st = LPS_OK;
    for (int64_t c = 0; st == LPS_OK && c < classes->n; c++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, classes->items[c]);
        int64_t before = files->n;
        walk w = {.opt = opt, .files = files, .skipped = skipped};
        st = walk_folder(&w, path, err);
        if (st == LPS_OK && files->n == before)
            st = lps_fail(err, LPS_ERR_INVALID, "%s: empty class folder", path);
        if (st == LPS_OK && files->n > cap) {
            cap = files->cap;
            int64_t *grown = realloc(*labels, (size_t)cap * sizeof *grown);
            if (!grown)
                return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
            *labels = grown;
        }
        for (int64_t i = before; st == LPS_OK && i < files->n; i++)
            (*labels)[i] = c;
    }
    return st;
}

/* Moves the kept files and their labels into ds. */
static lps_status fill_dataset(lps_dataset *ds, const char *dir, name_list *files,
                               const int64_t *labels, const bool *keep, name_list *classes,
                               name_list *skipped, const lps_data_options *opt, lps_error *err)
{
    int64_t n = 0;
    for (int64_t i = 0; i < files->n; i++)
        n += keep[i];
    if (n == 0)
        return lps_fail(err, LPS_ERR_INVALID, "%s: no readable image", dir);
    ds->files = calloc(1, sizeof *ds->files);
    ds->labels = malloc((size_t)n * sizeof *ds->labels);
    ds->name = strdup(dir);
    ds->labels_name = strdup(dir);
    if (!ds->files || !ds->labels || !ds->name || !ds->labels_name)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    ds->files->paths = files->items;
    for (int64_t i = 0, k = 0; i < files->n; i++) {
        if (keep[i]) {
            files->items[k] = files->items[i];
            ds->labels[k++] = labels[i];
        } else {
            free(files->items[i]);
        }
    }
    ds->files->n = n;
    memset(files, 0, sizeof *files);
    ds->samples = (lps_tensor){.dtype = LPS_DT_UINT8, .rank = 1, .dims = {n}};
    ds->n_classes = classes->n;
    ds->class_names = classes->items;
    memset(classes, 0, sizeof *classes);
    ds->n_skipped = skipped->n;
    ds->skipped = skipped->items;
    memset(skipped, 0, sizeof *skipped);
    ds->adapt = opt->adapt;
    return LPS_OK;
}

lps_status lps_dataset_open_image_folder(lps_dataset *ds, const char *dir,
                                         const lps_data_options *opt, lps_error *err)
{
    static const lps_data_options defaults = {0};
    opt = opt ? opt : &defaults;
    memset(ds, 0, sizeof *ds);
    name_list classes = {0}, files = {0}, skipped = {0};
    int64_t *labels = NULL;
    bool *keep = NULL;
    lps_status st = find_classes(dir, &classes, err);
    if (st == LPS_OK)
        st = index_classes(dir, &classes, opt, &files, &labels, &skipped, err);
    if (st == LPS_OK && classes.n > LPS_DATA_MAX_CLASSES)
        st = lps_fail(err, LPS_ERR_INVALID, "%s: %lld classes, at most %lld", dir,
                      (long long)classes.n, (long long)LPS_DATA_MAX_CLASSES);
    if (st == LPS_OK && !(keep = malloc((size_t)files.n * sizeof *keep)))
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory");
    int64_t size[2] = {0, 0};
    if (st == LPS_OK)
        st = check_files(&files, opt, keep, &skipped, size, err);
    if (st == LPS_OK)
        st = fill_dataset(ds, dir, &files, labels, keep, &classes, &skipped, opt, err);
    if (st == LPS_OK) {
        ds->files->height = size[0];
        ds->files->width = size[1];
    }
    if (st != LPS_OK)
        lps_dataset_release(ds);
    list_release(&classes);
    list_release(&files);
    list_release(&skipped);
    free(labels);
    free(keep);
    return st;
}

void lps_image_files_free(lps_image_files *f)
{
    if (!f)
        return;
    for (int64_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f);
}

lps_status lps_dataset_check_same_classes(const lps_dataset *a, const lps_dataset *b,
                                          lps_error *err)
{
    if (!a->class_names || !b->class_names)
        return LPS_OK;
    for (int64_t i = 0; i < a->n_classes || i < b->n_classes; i++) {
        const char *x = i < a->n_classes ? a->class_names[i] : "(none)";
        const char *y = i < b->n_classes ? b->class_names[i] : "(none)";
        if (strcmp(x, y) != 0)
            return lps_fail(err, LPS_ERR_INVALID, "%s and %s have different classes: class %lld is "
                            "'%s' in one and '%s' in the other", a->name, b->name, (long long)i,
                            x, y);
    }
    return LPS_OK;
}
