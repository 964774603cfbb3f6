/* The operator registry: lps_op_kind -> lps_op_def, and the generic glue
 * (lookup, attribute helpers, forward driver) every op shares. */
#include "ops/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generated from the same list as lps_op_kind, so every kind has exactly
 * one entry in enum order. What the compiler cannot see (a def missing from
 * the list, names with overlapping opsets, a def without a test entry) is
 * checked by tests/unit/test_registry.c. */
static const lps_op_def *const op_table[LPS_OP_COUNT] = {
#define LPS_OP(KIND, def) [LPS_OP_##KIND] = &lps_op_def_##def,
#include "ops/op_list.h"
#undef LPS_OP
};

const lps_op_def *lps_op_get(lps_op_kind kind)
{
    if ((int)kind < 0 || kind >= LPS_OP_COUNT)
        return NULL;
    return op_table[kind];
}

static bool is_default_domain(const char *domain)
{
    return domain == NULL || domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
}

static void make_label(lps_op_node *op, const lps_node *node, size_t index)
{
    if (node->name && node->name[0])
        snprintf(op->label, sizeof op->label, "node '%s' (%s)", node->name, node->op_type);
    else
        snprintf(op->label, sizeof op->label, "node #%zu (%s)", index, node->op_type);
}

/* The kind implementing op_type at opset, or LPS_OP_COUNT; *name_known
 * says whether some opset has it. */
static lps_op_kind find_kind(const char *op_type, int64_t opset, bool *name_known)
{
    *name_known = false;
    for (int k = 0; k < LPS_OP_COUNT; k++) {
        const lps_op_def *d = op_table[k];
        if (strcmp(d->name, op_type) != 0)
            continue;
        *name_known = true;
        if (opset >= d->min_opset && opset <= d->max_opset)
            return (lps_op_kind)k;
    }
    return LPS_OP_COUNT;
}

const lps_op_def *lps_op_find(const char *domain, const char *op_type, int64_t opset)
{
    bool name_known;
    if (!is_default_domain(domain) || !op_type)
        return NULL;
    return lps_op_get(find_kind(op_type, opset, &name_known));
}

lps_status lps_op_node_init(lps_op_node *op, const lps_node *node, size_t index, int64_t opset,
                            lps_error *err)
{
    memset(op, 0, sizeof *op);
    op->node = node;
    op->opset = opset;
    op->n_inputs = node->n_inputs;
    op->n_outputs = node->n_outputs;
    make_label(op, node, index);
    if (!is_default_domain(node->domain))
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "operator domain '%s' is not supported",
                           node->domain);
    bool name_known;
    op->kind = find_kind(node->op_type, opset, &name_known);
    const lps_op_def *def = lps_op_get(op->kind);
    if (!def) {
        if (name_known)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "operator is not supported at opset %lld", (long long)opset);
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "operator is not supported");
    }
    if ((int)node->n_inputs < def->min_inputs || (int)node->n_inputs > def->max_inputs)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "has %zu inputs, expected %d to %d",
                           node->n_inputs, def->min_inputs, def->max_inputs);
    if ((int)node->n_outputs < def->min_outputs || (int)node->n_outputs > def->max_outputs)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "has %zu outputs, expected %d to %d",
                           node->n_outputs, def->min_outputs, def->max_outputs);
    for (size_t i = 0; i < node->n_attrs; i++)
        if (node->attrs[i].ref_attr_name)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                               "attribute '%s' refers to a function attribute",
                               node->attrs[i].name);
    return def->prepare ? def->prepare(op, err) : LPS_OK;
}

void lps_op_node_release(lps_op_node *op)
{
    if (!op)
        return;
    free(op->params);
    op->params = NULL;
    for (int i = 0; i < LPS_OP_MAX_SAVED; i++)
        lps_tensor_release(&op->saved[i]);
    free(op->cache.data);
    op->cache = (lps_op_cache){0};
}

lps_status lps_op_run_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                              lps_tensor *const *out, lps_error *err)
{
    const lps_op_def *def = op_table[op->kind];
    lps_shape shapes[LPS_OP_MAX_IO];
    lps_tensor scratch[LPS_OP_MAX_IO];
    lps_tensor *outs[LPS_OP_MAX_IO];
    lps_status st = LPS_OK;
    if (op->n_outputs > LPS_OP_MAX_IO)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "has too many outputs");
    memset(shapes, 0, sizeof shapes);
    memset(scratch, 0, sizeof scratch);
    st = def->shape(op, in, shapes, err);
    if (st != LPS_OK)
        goto cleanup;
    for (size_t j = 0; j < op->n_outputs; j++) {
        outs[j] = out[j] ? out[j] : &scratch[j];
        st = lps_tensor_alloc(outs[j], shapes[j].dtype, shapes[j].rank, shapes[j].dims, err);
        if (st != LPS_OK) {
            lps_error_prefix(err, "%s: output %zu", op->label, j);
            goto cleanup;
        }
    }
    st = def->forward(op, ctx, in, outs, err);
cleanup:
    for (size_t j = 0; j < op->n_outputs && j < LPS_OP_MAX_IO; j++)
        lps_tensor_release(&scratch[j]);
    return st;
}

lps_status lps_op_fail(const lps_op_node *op, lps_error *err, lps_status status, const char *fmt,
                       ...)
{
    if (!err)
        return status;
    char msg[LPS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lps_fail(err, status, "%s: %s", op->label, msg);
}

lps_status lps_op_check_attrs(const lps_op_node *op, const char *const *known, lps_error *err)
{
    for (size_t i = 0; i < op->node->n_attrs; i++) {
        const char *name = op->node->attrs[i].name;
        bool ok = false;
        for (const char *const *k = known; k && *k; k++)
            if (strcmp(*k, name) == 0)
                ok = true;
        if (!ok)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "attribute '%s' is not supported",
                               name);
    }
    return LPS_OK;
}

static lps_status attr_of_type(const lps_op_node *op, const char *name, lps_attr_type type,
                               const lps_attr **out, lps_error *err)
{
    *out = lps_node_attr(op->node, name);
    if (*out && (*out)->type != type)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute '%s' has type %d, expected %d",
                           name, (int)(*out)->type, (int)type);
    return LPS_OK;
}

lps_status lps_op_attr_int(const lps_op_node *op, const char *name, int64_t def, int64_t *out,
                           lps_error *err)
{
    const lps_attr *a;
    lps_status st = attr_of_type(op, name, LPS_ATTR_INT, &a, err);
    if (st == LPS_OK)
        *out = a ? a->i : def;
    return st;
}

lps_status lps_op_attr_float(const lps_op_node *op, const char *name, float def, float *out,
                             lps_error *err)
{
    const lps_attr *a;
    lps_status st = attr_of_type(op, name, LPS_ATTR_FLOAT, &a, err);
    if (st == LPS_OK)
        *out = a ? a->f : def;
    return st;
}

lps_status lps_op_attr_string(const lps_op_node *op, const char *name, const char *def,
                              const char **out, lps_error *err)
{
    const lps_attr *a;
    lps_status st = attr_of_type(op, name, LPS_ATTR_STRING, &a, err);
    if (st == LPS_OK)
        *out = a ? a->s : def;
    return st;
}

lps_status lps_op_attr_ints(const lps_op_node *op, const char *name, int64_t *out, int max,
                            int *count, lps_error *err)
{
    const lps_attr *a;
    lps_status st = attr_of_type(op, name, LPS_ATTR_INTS, &a, err);
    if (st != LPS_OK)
        return st;
    if (!a) {
        *count = -1;
        return LPS_OK;
    }
    if (a->n_ints > (size_t)max)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "attribute '%s' has %zu values, at most %d",
                           name, a->n_ints, max);
    /* An empty list has no array to copy from (a->ints is NULL). */
    if (a->n_ints)
        memcpy(out, a->ints, a->n_ints * sizeof *out);
    *count = (int)a->n_ints;
    return LPS_OK;
}

lps_status lps_op_expect_dtype(const lps_op_node *op, const lps_tensor *t, int index,
                               lps_dtype dtype, lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (t->dtype != dtype)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has type %s, expected %s", index,
                           lps_dtype_name(t->dtype), lps_dtype_name(dtype));
    return LPS_OK;
}

lps_status lps_op_expect_sized(const lps_op_node *op, const lps_tensor *t, int index,
                               lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (lps_dtype_size(t->dtype) == 0)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has unsupported type %s", index,
                           lps_dtype_name(t->dtype));
    return LPS_OK;
}

lps_status lps_op_expect_float_grad(const lps_op_node *op, const lps_tensor *g, lps_error *err)
{
    if (g->dtype != LPS_DT_FLOAT)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "gradient of a %s tensor requested",
                           lps_dtype_name(g->dtype));
    return LPS_OK;
}

lps_status lps_op_read_axes(const lps_op_node *op, const lps_tensor *t, int index, int64_t *axes,
                            int *n, lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, t, index, LPS_DT_INT64, err);
    if (st != LPS_OK)
        return st;
    int64_t count = lps_tensor_numel(t);
    if (t->rank > 1 || count > LPS_MAX_RANK)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axes must be 1-D with at most %d entries",
                           LPS_MAX_RANK);
    if (count > 0)
        memcpy(axes, t->data, (size_t)count * sizeof *axes);
    *n = (int)count;
    return LPS_OK;
}

lps_status lps_broadcast_shape(const lps_op_node *op, int ra, const int64_t *da, int rb,
                               const int64_t *db, lps_shape *out, lps_error *err)
{
    int r = ra > rb ? ra : rb;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int64_t a = i < r - ra ? 1 : da[i - (r - ra)];
        int64_t b = i < r - rb ? 1 : db[i - (r - rb)];
        if (a != b && a != 1 && b != 1) {
            char sa[128], sb[128];
            return lps_op_fail(op, err, LPS_ERR_INVALID, "shapes %s and %s do not broadcast",
                               lps_shape_str(ra, da, sa, sizeof sa),
                               lps_shape_str(rb, db, sb, sizeof sb));
        }
        out->dims[i] = a == 1 ? b : a;
    }
    return LPS_OK;
}
