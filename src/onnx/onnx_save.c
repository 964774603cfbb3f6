/* lps_model -> ONNX bytes and files.
 *
 * A save copies the model exactly as it was read and splices in, at the
 * wire level, only the initializers marked modified: everything else (doc
 * strings, metadata, functions, training info, unknown fields, and the
 * encoding choices of whoever wrote the file) is carried over byte for byte.
 * See docs/architecture.md, "ONNX I/O". */
#include "onnx/onnx_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Sparse initializers exist since IR version 6. */
#define ONNX_IR_SPARSE_INITIALIZER 6
#define SAVE_FILE_MODE (S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH)
#define TEMP_SUFFIX ".XXXXXX"

/* How one initializer is written. */
typedef struct init_plan {
    bool replace;       /* false: its original bytes are copied */
    bool as_sparse;     /* written to graph.sparse_initializer */
    uint8_t *bytes;     /* serialized TensorProto or SparseTensorProto */
    size_t len;
} init_plan;

typedef struct splice {
    const lps_model *m;
    init_plan *plans;
    size_t n_plans;
    size_t n_dense;         /* graph.initializer entries in the original */
    size_t dense_seen;      /* initializer entries walked so far */
    size_t sparse_seen;
    bool moved_flushed[2];  /* relocated entries written, per target field */
} splice;

static void release_plans(init_plan *plans, size_t n)
{
    for (size_t i = 0; plans && i < n; i++)
        free(plans[i].bytes);
    free(plans);
}

/* Templates for the non-data fields of initializer i. */
static void templates_for(const lps_onnx_handle *h, size_t i, const Onnx__TensorProto **tensor,
                          const Onnx__SparseTensorProto **sparse)
{
    const Onnx__GraphProto *gp = h->proto->graph;
    if (i < h->n_dense) {
        *tensor = gp->initializer[i];
        *sparse = NULL;
    } else {
        *sparse = gp->sparse_initializer[i - h->n_dense];
        *tensor = (*sparse)->values;
    }
}

static bool tensor_is_external(const Onnx__TensorProto *tp)
{
    return tp && tp->has_data_location &&
           tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static bool sparse_is_external(const Onnx__SparseTensorProto *sp)
{
    return sp && (tensor_is_external(sp->values) || tensor_is_external(sp->indices));
}

static const Onnx__TensorProto *external_in_graph(const Onnx__GraphProto *g, bool with_initializers);

/* First externally stored tensor held by a node's attributes (subgraphs
 * included), or NULL. */
static const Onnx__TensorProto *external_in_nodes(Onnx__NodeProto *const *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < nodes[i]->n_attribute; k++) {
            const Onnx__AttributeProto *a = nodes[i]->attribute[k];
            const Onnx__TensorProto *found = NULL;
            if (tensor_is_external(a->t))
                return a->t;
            if (sparse_is_external(a->sparse_tensor))
                return a->sparse_tensor->values;
            for (size_t j = 0; j < a->n_tensors; j++)
                if (tensor_is_external(a->tensors[j]))
                    return a->tensors[j];
            for (size_t j = 0; j < a->n_sparse_tensors; j++)
                if (sparse_is_external(a->sparse_tensors[j]))
                    return a->sparse_tensors[j]->values;
            if (a->g && (found = external_in_graph(a->g, true)))
                return found;
            for (size_t j = 0; j < a->n_graphs; j++)
                if ((found = external_in_graph(a->graphs[j], true)))
                    return found;
        }
    }
    return NULL;
}

static const Onnx__TensorProto *external_in_graph(const Onnx__GraphProto *g, bool with_initializers)
{
    if (!g)
        return NULL;
    for (size_t i = 0; with_initializers && i < g->n_initializer; i++)
        if (tensor_is_external(g->initializer[i]))
            return g->initializer[i];
    for (size_t i = 0; with_initializers && i < g->n_sparse_initializer; i++)
        if (sparse_is_external(g->sparse_initializer[i]))
            return g->sparse_initializer[i]->values;
    return external_in_nodes(g->node, g->n_node);
}

/* An externally stored tensor the splice cannot rewrite (anything but the
 * main graph's initializers), or NULL. */
static const Onnx__TensorProto *external_outside_initializers(const Onnx__ModelProto *mp)
{
    const Onnx__TensorProto *found = external_in_graph(mp->graph, false);
    for (size_t i = 0; !found && i < mp->n_training_info; i++) {
        found = external_in_graph(mp->training_info[i]->initialization, true);
        if (!found)
            found = external_in_graph(mp->training_info[i]->algorithm, true);
    }
    for (size_t i = 0; !found && i < mp->n_functions; i++)
        found = external_in_nodes(mp->functions[i]->node, mp->functions[i]->n_node);
    return found;
}

/* Whether initializer i's data lives in an external file. */
static bool initializer_is_external(const lps_onnx_handle *h, size_t i)
{
    const Onnx__GraphProto *gp = h->proto->graph;
    return i < h->n_dense ? tensor_is_external(gp->initializer[i])
                          : sparse_is_external(gp->sparse_initializer[i - h->n_dense]);
}

/* Encodes one modified initializer in the storage asked for. */
static lps_status plan_initializer(const lps_model *m, size_t i, lps_storage storage,
                                   init_plan *plan, lps_error *err)
{
    lps_initializer *init = &m->graph.initializers[i];
    const Onnx__TensorProto *tmpl;
    const Onnx__SparseTensorProto *tmpl_sparse;
    templates_for(onnx_handle_of(m), i, &tmpl, &tmpl_sparse);
    bool sparse_allowed = m->ir_version >= ONNX_IR_SPARSE_INITIALIZER;
    if (storage == LPS_STORAGE_SPARSE && !sparse_allowed)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "%s: sparse initializers need IR version %d, the model has %lld", m->path,
                        ONNX_IR_SPARSE_INITIALIZER, (long long)m->ir_version);
    uint8_t *dense = NULL, *sparse = NULL;
    size_t dense_len = 0, sparse_len = 0;
    lps_status st = LPS_OK;
    if (storage != LPS_STORAGE_SPARSE)
        st = onnx_encode_dense(&init->tensor, init->name, tmpl, &dense, &dense_len, err);
    if (st == LPS_OK && storage != LPS_STORAGE_DENSE && sparse_allowed)
        st = onnx_encode_sparse(&init->tensor, init->name, tmpl_sparse, tmpl, &sparse, &sparse_len,
                                err);
    if (st != LPS_OK) {
        free(dense);
        free(sparse);
        return st;
    }
    plan->replace = true;
    plan->as_sparse = sparse && (!dense || sparse_len < dense_len);
    plan->bytes = plan->as_sparse ? sparse : dense;
    plan->len = plan->as_sparse ? sparse_len : dense_len;
    free(plan->as_sparse ? dense : sparse);
    return LPS_OK;
}

static bool put_field_copy(wire_buf *out, const uint8_t *buf, const wire_field *f)
{
    return wire_put_bytes(out, buf + f->start, f->end - f->start);
}

/* Writes the initializers that change field (dense <-> sparse) into the
 * field they now belong to; `to_sparse` selects which group. */
static bool flush_moved(splice *s, wire_buf *out, bool to_sparse)
{
    if (s->moved_flushed[to_sparse])
        return true;
    s->moved_flushed[to_sparse] = true;
    for (size_t i = 0; i < s->n_plans; i++) {
        const init_plan *p = &s->plans[i];
        bool was_sparse = i >= s->n_dense;
        if (!p->replace || p->as_sparse != to_sparse || was_sparse == to_sparse)
            continue;
        uint32_t field = to_sparse ? ONNX_FIELD_GRAPH_SPARSE_INITIALIZER : ONNX_FIELD_GRAPH_INITIALIZER;
        if (!wire_put_len_field(out, field, p->bytes, p->len))
            return false;
    }
    return true;
}

/* Rewrites one occurrence of ModelProto.graph. Relocated initializers go
 * just before the first field numbered above their new field, which keeps
 * a canonically ordered file canonical. */
static lps_status splice_graph(splice *s, const uint8_t *buf, const wire_field *gf, wire_buf *out,
                               lps_error *err)
{
    const uint8_t *g = buf + gf->value_start;
    size_t glen = gf->end - gf->value_start;
    wire_buf body = {0};
    lps_status st = LPS_OK;
    bool ok = true;
    size_t pos = 0;
    wire_field f;
    while (ok && pos < glen) {
        if (!wire_next_field(g, glen, &pos, &f)) {
            st = lps_fail(err, LPS_ERR_RUNTIME, "%s: graph bytes no longer parse", s->m->path);
            goto cleanup;
        }
        if (f.number > ONNX_FIELD_GRAPH_INITIALIZER)
            ok = flush_moved(s, &body, false);
        if (ok && f.number > ONNX_FIELD_GRAPH_SPARSE_INITIALIZER)
            ok = flush_moved(s, &body, true);
        bool is_dense = f.number == ONNX_FIELD_GRAPH_INITIALIZER && f.wire_type == WIRE_LEN;
        bool is_sparse = f.number == ONNX_FIELD_GRAPH_SPARSE_INITIALIZER && f.wire_type == WIRE_LEN;
        const init_plan *p = NULL;
        if (is_dense || is_sparse) {
            size_t index = is_dense ? s->dense_seen++ : s->n_dense + s->sparse_seen++;
            if (index >= (is_dense ? s->n_dense : s->n_plans)) {
                st = lps_fail(err, LPS_ERR_RUNTIME,
                              "%s: more initializers in the bytes than were parsed", s->m->path);
                goto cleanup;
            }
            p = &s->plans[index];
        }
        if (!ok || !p || !p->replace)
            ok = ok && put_field_copy(&body, g, &f);
        else if (p->as_sparse == is_sparse)
            ok = wire_put_len_field(&body, f.number, p->bytes, p->len);
        /* else: it moves to the other field and is written by flush_moved. */
    }
    ok = ok && flush_moved(s, &body, false) && flush_moved(s, &body, true) &&
         wire_put_len_field(out, ONNX_FIELD_MODEL_GRAPH, body.data, body.len);
    if (!ok)
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory serializing the graph", s->m->path);
cleanup:
    wire_buf_release(&body);
    return st;
}

static lps_status splice_model(splice *s, wire_buf *out, lps_error *err)
{
    const lps_onnx_handle *h = onnx_handle_of(s->m);
    bool any_replaced = false;
    for (size_t i = 0; i < s->n_plans; i++)
        any_replaced = any_replaced || s->plans[i].replace;
    size_t pos = 0;
    wire_field f;
    while (pos < h->len) {
        if (!wire_next_field(h->bytes, h->len, &pos, &f))
            return lps_fail(err, LPS_ERR_RUNTIME, "%s: model bytes no longer parse", s->m->path);
        bool graph = f.number == ONNX_FIELD_MODEL_GRAPH && f.wire_type == WIRE_LEN;
        if (graph && any_replaced) {
            lps_status st = splice_graph(s, h->bytes, &f, out, err);
            if (st != LPS_OK)
                return st;
        } else if (!put_field_copy(out, h->bytes, &f)) {
            return lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory serializing", s->m->path);
        }
    }
    size_t n_sparse = s->n_plans - s->n_dense;
    if (any_replaced && (s->dense_seen != s->n_dense || s->sparse_seen != n_sparse))
        return lps_fail(err, LPS_ERR_RUNTIME,
                        "%s: found %zu+%zu initializers in the bytes, parsed %zu+%zu", s->m->path,
                        s->dense_seen, s->sparse_seen, s->n_dense, n_sparse);
    if (out->len > ONNX_MAX_MESSAGE_BYTES)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "%s: the saved model would be %zu bytes, over protobuf's 2 GiB limit",
                        s->m->path, out->len);
    return LPS_OK;
}

/* lps_model_serialize, optionally also rewriting the initializers kept in
 * external files so that the result does not refer to them (for a save
 * into another folder, where their relative paths would not resolve). */
static lps_status serialize(const lps_model *m, lps_storage storage, bool embed_external,
                            uint8_t **out, size_t *out_len, lps_error *err)
{
    const lps_onnx_handle *h = onnx_handle_of(m);
    if (!h || !h->proto)
        return lps_fail(err, LPS_ERR_RUNTIME, "%s: model has no ONNX source to save from",
                        m->path ? m->path : "model");
    size_t n = m->graph.n_initializers;
    if (n != h->n_dense + h->proto->graph->n_sparse_initializer)
        return lps_fail(err, LPS_ERR_RUNTIME,
                        "%s: the graph has %zu initializers, the ONNX source %zu", m->path, n,
                        h->n_dense + h->proto->graph->n_sparse_initializer);
    splice s = {.m = m, .n_plans = n, .n_dense = h->n_dense};
    wire_buf buf = {0};
    lps_status st = LPS_OK;
    s.plans = calloc(n ? n : 1, sizeof *s.plans);
    if (!s.plans) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", m->path);
        goto cleanup;
    }
    for (size_t i = 0; st == LPS_OK && i < n; i++) {
        const lps_initializer *init = &m->graph.initializers[i];
        if (init->modified)
            st = plan_initializer(m, i, storage, &s.plans[i], err);
        else if (embed_external && initializer_is_external(h, i))
            st = plan_initializer(m, i, init->was_sparse ? LPS_STORAGE_SPARSE : LPS_STORAGE_DENSE,
                                  &s.plans[i], err);
    }
    if (st == LPS_OK)
        st = splice_model(&s, &buf, err);
    if (st != LPS_OK)
        goto cleanup;
    /* An empty model would be an empty buffer; callers still get one. */
    if (!buf.data && !wire_put_bytes(&buf, "", 1)) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", m->path);
        goto cleanup;
    }
    *out = buf.data;
    *out_len = buf.len;
    buf = (wire_buf){0};
cleanup:
    release_plans(s.plans, n);
    wire_buf_release(&buf);
    return st;
}

lps_status lps_model_serialize(const lps_model *m, lps_storage storage, uint8_t **out,
                               size_t *out_len, lps_error *err)
{
    return serialize(m, storage, false, out, out_len, err);
}

/* Decides whether a save to folder `dest_dir` must pull external data into
 * the model: its relative locations only resolve from the model's own
 * folder. Fails (LPS_ERR_UNSUPPORTED) when some external tensor is not an
 * initializer the splice can rewrite. */
static lps_status external_policy(const lps_model *m, const char *dest_dir, bool *embed,
                                  lps_error *err)
{
    char a[PATH_MAX], b[PATH_MAX];
    *embed = false;
    if (!m->dir || !realpath(m->dir, a) || !realpath(dest_dir, b) || strcmp(a, b) == 0)
        return LPS_OK; /* same folder, or nothing external was loadable */
    const lps_onnx_handle *h = onnx_handle_of(m);
    for (size_t i = 0; i < m->graph.n_initializers && !*embed; i++)
        *embed = initializer_is_external(h, i);
    const Onnx__TensorProto *other = external_outside_initializers(h->proto);
    if (other)
        return lps_fail(err, LPS_ERR_UNSUPPORTED,
                        "%s: tensor '%s' (not an initializer) uses external data; save into the "
                        "model's folder %s so its location stays valid",
                        m->path, other->name ? other->name : "", m->dir);
    return LPS_OK;
}

/* Refuses a destination that is the loaded file itself (also through a
 * link), so a failed run can never destroy its input. */
static lps_status check_not_input(const lps_model *m, const char *path, lps_error *err)
{
    struct stat in, dst;
    if (!m->path || stat(path, &dst) != 0 || stat(m->path, &in) != 0)
        return LPS_OK;
    if (in.st_dev == dst.st_dev && in.st_ino == dst.st_ino)
        return lps_fail(err, LPS_ERR_INVALID, "%s: refusing to overwrite the input model %s", path,
                        m->path);
    return LPS_OK;
}

static lps_status write_all(int fd, const uint8_t *data, size_t len, const char *path,
                            lps_error *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lps_fail(err, LPS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        done += (size_t)n;
    }
    return LPS_OK;
}

lps_status lps_model_save(const lps_model *m, const char *path, lps_storage storage,
                          lps_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    char *dir = NULL, *tmp = NULL;
    int fd = -1;
    bool embed = false;
    lps_status st = check_not_input(m, path, err);
    if (st != LPS_OK)
        return st;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    dir = onnx_dirname(path);
    size_t tmp_len = (dir ? strlen(dir) : 0) + strlen(base) + sizeof "/." TEMP_SUFFIX;
    tmp = dir ? malloc(tmp_len) : NULL;
    if (!tmp) {
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    st = external_policy(m, dir, &embed, err);
    if (st == LPS_OK)
        st = serialize(m, storage, embed, &bytes, &len, err);
    if (st != LPS_OK)
        goto cleanup;
    /* The temporary lives next to the destination so rename() is atomic. */
    snprintf(tmp, tmp_len, "%s/.%s" TEMP_SUFFIX, dir, base);
    fd = mkstemp(tmp);
    if (fd < 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: cannot create a temporary file in %s: %s", path, dir,
                      strerror(errno));
        free(tmp);
        tmp = NULL;
        goto cleanup;
    }
    st = write_all(fd, bytes, len, path, err);
    if (st == LPS_OK && fchmod(fd, SAVE_FILE_MODE) != 0)
        st = lps_fail(err, LPS_ERR_IO, "%s: chmod failed: %s", path, strerror(errno));
    if (st == LPS_OK && fsync(fd) != 0)
        st = lps_fail(err, LPS_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    int closed = close(fd);
    fd = -1;
    if (st == LPS_OK && closed != 0)
        st = lps_fail(err, LPS_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st == LPS_OK && rename(tmp, path) != 0)
        st = lps_fail(err, LPS_ERR_IO, "%s: cannot rename the temporary file into place: %s", path,
                      strerror(errno));
    if (st != LPS_OK)
        unlink(tmp);
cleanup:
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(dir);
    free(bytes);
    return st;
}
