/* Constant (opsets 7..21): the node's one value attribute as its output.
 *
 * value (a tensor of any fixed-size type) throughout; sparse_value from
 * opset 11 (the loader densifies it); value_float(s) and value_int(s) from
 * opset 12 (float / int64 scalars and 1-D tensors). value_string(s) and
 * string tensors are unsupported: no operator here consumes strings. */
#include "ops/op.h"

#include <string.h>

#define CONSTANT_SPARSE_OPSET 11
#define CONSTANT_TYPED_OPSET 12

/* The constant's type, shape and bytes, pointing into the node. */
typedef struct constant_value {
    lps_dtype dtype;
    int rank;
    int64_t dims[LPS_MAX_RANK];
    const void *data;
    size_t nbytes;
} constant_value;

/* Finds the node's value attribute and describes it; fails naming the node
 * when there is not exactly one or it is of an unsupported kind. */
static lps_status constant_value_of(const lps_op_node *op, constant_value *v, lps_error *err)
{
    const lps_node *n = op->node;
    if (n->n_attrs != 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "needs exactly one value attribute, has %zu",
                           n->n_attrs);
    const lps_attr *a = &n->attrs[0];
    memset(v, 0, sizeof *v);
    switch (a->type) {
    case LPS_ATTR_TENSOR:
    case LPS_ATTR_SPARSE_TENSOR:
        if (!a->t)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute '%s' holds no tensor",
                               a->name);
        if (lps_dtype_size(a->t->dtype) == 0)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "attribute '%s' has type %s",
                               a->name, lps_dtype_name(a->t->dtype));
        v->dtype = a->t->dtype;
        v->rank = a->t->rank;
        memcpy(v->dims, a->t->dims, sizeof v->dims);
        v->data = a->t->data;
        break;
    case LPS_ATTR_FLOAT:
        v->dtype = LPS_DT_FLOAT;
        v->data = &a->f;
        break;
    case LPS_ATTR_INT:
        v->dtype = LPS_DT_INT64;
        v->data = &a->i;
        break;
    case LPS_ATTR_FLOATS:
        v->dtype = LPS_DT_FLOAT;
        v->rank = 1;
        v->dims[0] = (int64_t)a->n_floats;
        v->data = a->floats;
        break;
    case LPS_ATTR_INTS:
        v->dtype = LPS_DT_INT64;
        v->rank = 1;
        v->dims[0] = (int64_t)a->n_ints;
        v->data = a->ints;
        break;
    default:
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "attribute '%s' is not supported",
                           a->name);
    }
    v->nbytes = (size_t)lps_numel_of(v->rank, v->dims) * lps_dtype_size(v->dtype);
    return LPS_OK;
}

static lps_status constant_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known_old[] = {"value", NULL};
    static const char *const known_11[] = {"value", "sparse_value", NULL};
    static const char *const known_12[] = {"value",       "sparse_value", "value_float",
                                           "value_floats", "value_int",   "value_ints", NULL};
    const char *const *known = op->opset < CONSTANT_SPARSE_OPSET  ? known_old
                               : op->opset < CONSTANT_TYPED_OPSET ? known_11
                                                                  : known_12;
    constant_value v;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = constant_value_of(op, &v, err);
    if (st != LPS_OK)
        return st;
    /* The name decides the kind; a mismatched attribute type is malformed. */
    static const struct {
        const char *name;
        lps_attr_type type;
    } kinds[] = {{"value", LPS_ATTR_TENSOR},          {"sparse_value", LPS_ATTR_SPARSE_TENSOR},
                 {"value_float", LPS_ATTR_FLOAT},     {"value_floats", LPS_ATTR_FLOATS},
                 {"value_int", LPS_ATTR_INT},         {"value_ints", LPS_ATTR_INTS}};
    const lps_attr *a = &op->node->attrs[0];
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(a->name, kinds[k].name) == 0 && a->type != kinds[k].type)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute '%s' has type %d", a->name,
                               (int)a->type);
    return LPS_OK;
}

static lps_status constant_shape(const lps_op_node *op, const lps_tensor *const *in,
                                 lps_shape *out, lps_error *err)
{
    (void)in;
    constant_value v;
    lps_status st = constant_value_of(op, &v, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = v.dtype;
    out[0].rank = v.rank;
    memcpy(out[0].dims, v.dims, sizeof v.dims);
    return LPS_OK;
}

static lps_status constant_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                   const lps_tensor *const *in, lps_tensor *const *out,
                                   lps_error *err)
{
    (void)ctx;
    (void)in;
    constant_value v;
    lps_status st = constant_value_of(op, &v, err);
    if (st == LPS_OK && v.nbytes > 0)
        memcpy(out[0]->data, v.data, v.nbytes);
    return st;
}

const lps_op_def lps_op_def_constant = {
    .name = "Constant",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 0,
    .max_inputs = 0,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 0,
    .prepare = constant_prepare,
    .shape = constant_shape,
    .forward = constant_forward,
    .backward = NULL,
};
