/* ModelProto -> lps_model. The parsed protobuf and the original bytes stay
 * in the model's lps_onnx_handle so that a save can reproduce everything the
 * engine does not interpret. */
#include "onnx/onnx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHAT_MAX 192
#define ATTR_WHAT_MAX (2 * WHAT_MAX)

/* The model's source_free for the handles this module attaches. */
static void onnx_handle_free(void *source)
{
    lps_onnx_handle *h = source;
    if (!h)
        return;
    onnx__model_proto__free_unpacked(h->proto, NULL);
    free(h->bytes);
    free(h);
}

const lps_onnx_handle *onnx_handle_of(const lps_model *m)
{
    return m->source_free == onnx_handle_free ? m->source : NULL;
}

lps_status onnx_read_file(const char *path, uint8_t **out, size_t *len, lps_error *err)
{
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO must be refused below, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        /* A path that names nothing is bad input, not a failing device. */
        bool bad_path = errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG;
        return lps_fail(err, bad_path ? LPS_ERR_INVALID : LPS_ERR_IO, "%s: cannot open: %s", path,
                        strerror(errno));
    }
    lps_status st = LPS_OK;
    uint8_t *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = lps_fail(err, LPS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = lps_fail(err, LPS_ERR_INVALID, "%s: not a regular file", path);
        goto cleanup;
    }
    size_t size = (size_t)sb.st_size;
    if (size) {
        buf = malloc(size);
        if (!buf) {
            st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
            goto cleanup;
        }
    }
    size_t done = 0;
    while (done < size) {
        ssize_t got = read(fd, buf + done, size - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            st = lps_fail(err, LPS_ERR_IO, "%s: read failed: %s", path,
                          got < 0 ? strerror(errno) : "file shrank while reading");
            goto cleanup;
        }
        done += (size_t)got;
    }
    *out = buf;
    *len = size;
    buf = NULL;
cleanup:
    free(buf);
    close(fd);
    return st;
}

char *onnx_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Conversion state: where the model came from, and a sticky out-of-memory
 * flag so the many small copies need not each be checked on the spot. */
typedef struct load_ctx {
    onnx_source src;
    bool oom;
} load_ctx;

static char *dup_str(load_ctx *c, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        c->oom = true;
    return d;
}

static void *alloc_array(load_ctx *c, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p)
        c->oom = true;
    return p;
}

static char **dup_str_array(load_ctx *c, char **src, size_t n, size_t *n_out)
{
    char **dst = alloc_array(c, n, sizeof *dst);
    *n_out = dst ? n : 0;
    for (size_t i = 0; dst && i < n; i++)
        dst[i] = dup_str(c, src[i]);
    return dst;
}

/* IR version 1 had no attribute type; the spec says to infer it from the
 * field that is set. */
static lps_attr_type attr_type_of(const Onnx__AttributeProto *ap)
{
    if (ap->has_type)
        return (lps_attr_type)ap->type;
    if (ap->has_f) return LPS_ATTR_FLOAT;
    if (ap->has_i) return LPS_ATTR_INT;
    if (ap->has_s) return LPS_ATTR_STRING;
    if (ap->t) return LPS_ATTR_TENSOR;
    if (ap->g) return LPS_ATTR_GRAPH;
    if (ap->sparse_tensor) return LPS_ATTR_SPARSE_TENSOR;
    if (ap->tp) return LPS_ATTR_TYPE_PROTO;
    if (ap->n_floats) return LPS_ATTR_FLOATS;
    if (ap->n_ints) return LPS_ATTR_INTS;
    if (ap->n_strings) return LPS_ATTR_STRINGS;
    if (ap->n_tensors) return LPS_ATTR_TENSORS;
    if (ap->n_graphs) return LPS_ATTR_GRAPHS;
    if (ap->n_sparse_tensors) return LPS_ATTR_SPARSE_TENSORS;
    if (ap->n_type_protos) return LPS_ATTR_TYPE_PROTOS;
    return LPS_ATTR_UNDEFINED;
}

static lps_status convert_attr_tensor(load_ctx *c, const Onnx__AttributeProto *ap, const char *what,
                                      lps_attr *a, lps_error *err)
{
    bool sparse = a->type == LPS_ATTR_SPARSE_TENSOR;
    if (sparse ? !ap->sparse_tensor : !ap->t)
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s: has type %s but no value", c->src.name, what,
                        sparse ? "SPARSE_TENSOR" : "TENSOR");
    a->t = lps_tensor_new();
    if (!a->t) {
        c->oom = true;
        return LPS_OK;
    }
    return sparse ? onnx_densify_sparse(ap->sparse_tensor, &c->src, what, a->t, err)
                  : onnx_decode_tensor(ap->t, &c->src, what, a->t, err);
}

static lps_status convert_attr(load_ctx *c, const Onnx__AttributeProto *ap, const char *node_what,
                               lps_attr *a, lps_error *err)
{
    char what[ATTR_WHAT_MAX];
    a->name = dup_str(c, ap->name);
    a->type = attr_type_of(ap);
    if (ap->ref_attr_name)
        a->ref_attr_name = dup_str(c, ap->ref_attr_name);
    snprintf(what, sizeof what, "%s attribute '%s'", node_what, ap->name ? ap->name : "");
    switch (a->type) {
    case LPS_ATTR_FLOAT: a->f = ap->f; break;
    case LPS_ATTR_INT: a->i = ap->i; break;
    case LPS_ATTR_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s) {
            c->oom = true;
            break;
        }
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = '\0';
        a->s_len = ap->s.len;
        break;
    case LPS_ATTR_TENSOR:
    case LPS_ATTR_SPARSE_TENSOR:
        return convert_attr_tensor(c, ap, what, a, err);
    case LPS_ATTR_FLOATS:
        a->floats = alloc_array(c, ap->n_floats, sizeof *a->floats);
        if (a->floats) {
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
            a->n_floats = ap->n_floats;
        }
        break;
    case LPS_ATTR_INTS:
        a->ints = alloc_array(c, ap->n_ints, sizeof *a->ints);
        if (a->ints) {
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
            a->n_ints = ap->n_ints;
        }
        break;
    case LPS_ATTR_STRINGS:
        a->strings = alloc_array(c, ap->n_strings, sizeof *a->strings);
        a->n_strings = a->strings ? ap->n_strings : 0;
        for (size_t i = 0; i < a->n_strings; i++) {
            /* An empty bytes field may have no buffer at all. */
            a->strings[i] = ap->strings[i].data
                                ? strndup((const char *)ap->strings[i].data, ap->strings[i].len)
                                : strdup("");
            if (!a->strings[i])
                c->oom = true;
        }
        break;
    default:
        /* GRAPH(S), TENSORS, SPARSE_TENSORS, TYPE_PROTO(S): kept only in the
         * protobuf; the engine rejects a node that needs them. */
        break;
    }
    return LPS_OK;
}

static lps_status convert_node(load_ctx *c, const Onnx__NodeProto *np, size_t index, lps_node *n,
                               lps_error *err)
{
    char what[WHAT_MAX];
    const char *op = np->op_type ? np->op_type : "";
    if (np->name && np->name[0])
        snprintf(what, sizeof what, "node '%s' (%s)", np->name, op);
    else
        snprintf(what, sizeof what, "node #%zu (%s)", index, op);
    if (!op[0])
        return lps_fail(err, LPS_ERR_INVALID, "%s: %s has no op_type", c->src.name, what);
    n->name = dup_str(c, np->name);
    n->op_type = dup_str(c, np->op_type);
    n->domain = dup_str(c, np->domain);
    n->inputs = dup_str_array(c, np->input, np->n_input, &n->n_inputs);
    n->outputs = dup_str_array(c, np->output, np->n_output, &n->n_outputs);
    n->attrs = alloc_array(c, np->n_attribute, sizeof *n->attrs);
    n->n_attrs = n->attrs ? np->n_attribute : 0;
    for (size_t i = 0; i < n->n_attrs; i++) {
        lps_status st = convert_attr(c, np->attribute[i], what, &n->attrs[i], err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

static lps_status convert_value_info(load_ctx *c, const Onnx__ValueInfoProto *vp, const char *kind,
                                     lps_value_info *v, lps_error *err)
{
    const char *name = vp->name ? vp->name : "";
    v->name = dup_str(c, vp->name);
    v->dtype = LPS_DT_UNDEFINED;
    v->rank = -1;
    for (int d = 0; d < LPS_MAX_RANK; d++)
        v->dims[d].value = -1;
    if (!vp->type || vp->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return LPS_OK; /* sequence, map, optional, sparse: not a dense tensor */
    const Onnx__TypeProto__Tensor *tt = vp->type->tensor_type;
    if (tt->has_elem_type) {
        if (tt->elem_type < LPS_DT_UNDEFINED || tt->elem_type > LPS_DT_BFLOAT16)
            return lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: %s '%s': element type %d is not supported",
                            c->src.name, kind, name, (int)tt->elem_type);
        v->dtype = (lps_dtype)tt->elem_type;
    }
    if (!tt->shape)
        return LPS_OK;
    if (tt->shape->n_dim > LPS_MAX_RANK)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "%s: %s '%s': rank %zu exceeds the supported %d",
                        c->src.name, kind, name, tt->shape->n_dim, LPS_MAX_RANK);
    v->rank = (int)tt->shape->n_dim;
    for (int d = 0; d < v->rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0)
                return lps_fail(err, LPS_ERR_INVALID, "%s: %s '%s': dim %d is negative (%lld)",
                                c->src.name, kind, name, d, (long long)dim->dim_value);
            v->dims[d].value = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param && dim->dim_param[0]) {
            v->dims[d].symbol = dup_str(c, dim->dim_param);
        }
    }
    return LPS_OK;
}

static lps_status convert_value_infos(load_ctx *c, Onnx__ValueInfoProto **src, size_t n,
                                      const char *kind, lps_value_info **out, size_t *n_out,
                                      lps_error *err)
{
    *out = alloc_array(c, n, sizeof **out);
    *n_out = *out ? n : 0;
    for (size_t i = 0; i < *n_out; i++) {
        lps_status st = convert_value_info(c, src[i], kind, &(*out)[i], err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

/* Decodes every initializer, dense then sparse, and drops its payload from
 * the protobuf once it lives in the lps_tensor. */
static lps_status convert_initializers(load_ctx *c, Onnx__GraphProto *gp, lps_graph *g,
                                       lps_error *err)
{
    char what[WHAT_MAX];
    size_t n = gp->n_initializer + gp->n_sparse_initializer;
    g->initializers = alloc_array(c, n, sizeof *g->initializers);
    g->n_initializers = g->initializers ? n : 0;
    for (size_t i = 0; i < g->n_initializers; i++) {
        lps_initializer *init = &g->initializers[i];
        bool sparse = i >= gp->n_initializer;
        Onnx__SparseTensorProto *sp = sparse ? gp->sparse_initializer[i - gp->n_initializer] : NULL;
        Onnx__TensorProto *tp = sparse ? sp->values : gp->initializer[i];
        const char *name = tp && tp->name ? tp->name : "";
        if (!name[0])
            return lps_fail(err, LPS_ERR_INVALID, "%s: %s #%zu has no name", c->src.name,
                            sparse ? "sparse_initializer" : "initializer",
                            sparse ? i - gp->n_initializer : i);
        init->name = dup_str(c, name);
        init->was_sparse = sparse;
        snprintf(what, sizeof what, "initializer '%s'", name);
        lps_status st = sparse ? onnx_densify_sparse(sp, &c->src, what, &init->tensor, err)
                               : onnx_decode_tensor(tp, &c->src, what, &init->tensor, err);
        if (st != LPS_OK)
            return st;
        onnx_release_tensor_payload(tp);
        if (sparse)
            onnx_release_tensor_payload(sp->indices);
    }
    return LPS_OK;
}

static lps_status convert_graph(load_ctx *c, Onnx__GraphProto *gp, lps_graph *g, lps_error *err)
{
    g->name = dup_str(c, gp->name);
    g->nodes = alloc_array(c, gp->n_node, sizeof *g->nodes);
    g->n_nodes = g->nodes ? gp->n_node : 0;
    lps_status st = LPS_OK;
    for (size_t i = 0; st == LPS_OK && i < g->n_nodes; i++)
        st = convert_node(c, gp->node[i], i, &g->nodes[i], err);
    if (st == LPS_OK)
        st = convert_initializers(c, gp, g, err);
    if (st == LPS_OK)
        st = convert_value_infos(c, gp->input, gp->n_input, "graph input", &g->inputs,
                                 &g->n_inputs, err);
    if (st == LPS_OK)
        st = convert_value_infos(c, gp->output, gp->n_output, "graph output", &g->outputs,
                                 &g->n_outputs, err);
    if (st == LPS_OK)
        st = convert_value_infos(c, gp->value_info, gp->n_value_info, "value_info",
                                 &g->value_infos, &g->n_value_infos, err);
    return st;
}

static lps_status convert_model(load_ctx *c, Onnx__ModelProto *mp, lps_model *m, lps_error *err)
{
    /* Many non-model .pb files (a TensorProto, for one) parse as a
     * ModelProto without error; a model must at least say its IR version
     * and carry a graph. */
    if (!mp->has_ir_version || mp->ir_version < 1)
        return lps_fail(err, LPS_ERR_INVALID,
                        "%s: not an ONNX model: ir_version is missing (a TensorProto or other .pb?)",
                        c->src.name);
    if (!mp->graph)
        return lps_fail(err, LPS_ERR_INVALID,
                        "%s: not an ONNX model: it has no graph (a TensorProto or other .pb?)",
                        c->src.name);
    m->ir_version = mp->ir_version;
    m->producer_name = dup_str(c, mp->producer_name);
    m->producer_version = dup_str(c, mp->producer_version);
    m->opsets = alloc_array(c, mp->n_opset_import, sizeof *m->opsets);
    m->n_opsets = m->opsets ? mp->n_opset_import : 0;
    for (size_t i = 0; i < m->n_opsets; i++) {
        m->opsets[i].domain = dup_str(c, mp->opset_import[i]->domain);
        m->opsets[i].version = mp->opset_import[i]->version;
    }
    return convert_graph(c, mp->graph, &m->graph, err);
}

/* Builds a model from bytes, taking ownership of them (freed on failure). */
static lps_model *load_owned_bytes(uint8_t *bytes, size_t len, const char *name, const char *dir,
                                   lps_error *err)
{
    lps_model *m = calloc(1, sizeof *m);
    lps_onnx_handle *h = calloc(1, sizeof *h);
    load_ctx c = {{name, dir}, false};
    lps_status st = LPS_OK;
    if (!m || !h) {
        lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    m->source = h;
    m->source_free = onnx_handle_free;
    h->bytes = bytes;
    h->len = len;
    bytes = NULL;
    m->file_bytes = len;
    m->path = dup_str(&c, name);
    m->dir = dir ? dup_str(&c, dir) : NULL;
    if (len == 0) {
        lps_fail(err, LPS_ERR_INVALID, "%s: empty file, not an ONNX model", name);
        goto fail;
    }
    if (len > ONNX_MAX_MESSAGE_BYTES) {
        lps_fail(err, LPS_ERR_INVALID,
                 "%s: %zu bytes is over protobuf's 2 GiB limit for one model; large weights belong "
                 "in external data", name, len);
        goto fail;
    }
    h->proto = onnx__model_proto__unpack(NULL, len, h->bytes);
    if (!h->proto) {
        lps_fail(err, LPS_ERR_INVALID,
                 "%s: not an ONNX model: protobuf parse failed (truncated or corrupt file?)", name);
        goto fail;
    }
    c.src.dir = m->dir;
    st = convert_model(&c, h->proto, m, err);
    if (st == LPS_OK && c.oom)
        st = lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory while loading", name);
    if (st != LPS_OK)
        goto fail;
    h->n_dense = h->proto->graph->n_initializer;
    return m;
fail:
    free(bytes);
    if (m)
        lps_model_free(m);
    else
        free(h);
    return NULL;
}

lps_model *lps_model_load(const char *path, lps_error *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (onnx_read_file(path, &bytes, &len, err) != LPS_OK)
        return NULL;
    char *dir = onnx_dirname(path);
    if (!dir) {
        free(bytes);
        lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    lps_model *m = load_owned_bytes(bytes, len, path, dir, err);
    free(dir);
    return m;
}

lps_model *lps_model_load_buffer(const void *data, size_t len, const char *name, const char *dir,
                                 lps_error *err)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy) {
        lps_fail(err, LPS_ERR_NOMEM, "%s: out of memory copying %zu bytes", name, len);
        return NULL;
    }
    if (len)
        memcpy(copy, data, len);
    return load_owned_bytes(copy, len, name, dir, err);
}
