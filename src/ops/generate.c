/* Tensors made from scalars: ConstantOfShape (opsets 9..21) and Range
 * (11..21). Neither has a gradient: their outputs depend on shapes and
 * scalars only, which is what lets the engine fold them per batch shape.
 *
 * ConstantOfShape repeats the bytes of its one-element `value` tensor, so
 * every fixed-size type is one path. Range computes start + i * delta in
 * integer arithmetic for integer types and in double for float types, the
 * count being ceil((limit - start) / delta) as the ONNX function body. */
#include <math.h>
#include <string.h>

#include "ops/op.h"
#include "ops/op_util.h"

#define CONSTANT_OF_SHAPE_MIN_OPSET 9
#define RANGE_MIN_OPSET 11
enum { RANGE_START, RANGE_LIMIT, RANGE_DELTA, RANGE_INPUTS };

/* ---- ConstantOfShape --------------------------------------------------- */

/* The fill element: its dtype and bytes (float 0 without `value`). */
typedef struct fill_params {
    lps_dtype dtype;
    unsigned char bytes[sizeof(double) * 2];
} fill_params;

static lps_status constant_of_shape_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {"value", NULL};
    fill_params p = {.dtype = LPS_DT_FLOAT};
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st != LPS_OK)
        return st;
    const lps_attr *a = lps_node_attr(op->node, "value");
    if (a) {
        if (a->type != LPS_ATTR_TENSOR || !a->t)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "attribute 'value' is not a tensor");
        size_t es = lps_dtype_size(a->t->dtype);
        if (es == 0 || es > sizeof p.bytes)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "value of type %s is not supported",
                               lps_dtype_name(a->t->dtype));
        if (lps_tensor_numel(a->t) != 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "value must hold one element, not %lld",
                               (long long)lps_tensor_numel(a->t));
        p.dtype = a->t->dtype;
        memcpy(p.bytes, a->t->data, es);
    }
    return lps_op_store_params(op, &p, sizeof p, err);
}

static lps_status constant_of_shape_shape(const lps_op_node *op, const lps_tensor *const *in,
                                          lps_shape *out, lps_error *err)
{
    const fill_params *p = op->params;
    int n = 0;
    lps_status st = lps_op_expect_dtype(op, in[0], 0, LPS_DT_INT64, err);
    if (st == LPS_OK)
        st = lps_op_read_ints(op, in[0], 0, out[0].dims, LPS_MAX_RANK, &n, err);
    if (st != LPS_OK)
        return st;
    for (int d = 0; d < n; d++)
        if (out[0].dims[d] < 0)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "shape value %lld is negative",
                               (long long)out[0].dims[d]);
    out[0].dtype = p->dtype;
    out[0].rank = n;
    return LPS_OK;
}

static lps_status constant_of_shape_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                            const lps_tensor *const *in, lps_tensor *const *out,
                                            lps_error *err)
{
    (void)ctx, (void)in, (void)err;
    const fill_params *p = op->params;
    size_t es = lps_dtype_size(p->dtype);
    int64_t n = lps_tensor_numel(out[0]);
    unsigned char *y = out[0]->data;
    for (int64_t i = 0; i < n; i++)
        memcpy(y + (size_t)i * es, p->bytes, es);
    return LPS_OK;
}

const lps_op_def lps_op_def_constant_of_shape = {
    .name = "ConstantOfShape",
    .min_opset = CONSTANT_OF_SHAPE_MIN_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 0u,
    .prepare = constant_of_shape_prepare,
    .shape = constant_of_shape_shape,
    .forward = constant_of_shape_forward,
    .backward = NULL,
};

/* ---- Range ------------------------------------------------------------- */

static lps_status range_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const known[] = {NULL};
    return lps_op_check_attrs(op, known, err);
}

static bool is_integer_type(lps_dtype t)
{
    return t == LPS_DT_INT16 || t == LPS_DT_INT32 || t == LPS_DT_INT64;
}

/* Scalar element 0 of t (a Range dtype) as double and as int64. */
static void read_scalar(const lps_tensor *t, double *d, int64_t *i)
{
    switch (t->dtype) {
    case LPS_DT_INT16: *i = *(const int16_t *)t->data; break;
    case LPS_DT_INT32: *i = *(const int32_t *)t->data; break;
    case LPS_DT_INT64: *i = *(const int64_t *)t->data; break;
    case LPS_DT_DOUBLE: *d = *(const double *)t->data; break;
    default: *d = *(const float *)t->data; break;
    }
    if (is_integer_type(t->dtype))
        *d = (double)*i;
    else
        *i = 0;
}

/* The three scalars, checked for one supported dtype and a nonzero delta. */
typedef struct range_args {
    lps_dtype dtype;
    double start, delta;
    int64_t istart, idelta;
    int64_t count;
} range_args;

static lps_status range_read(const lps_op_node *op, const lps_tensor *const *in, range_args *r,
                             lps_error *err)
{
    double v[RANGE_INPUTS];
    int64_t iv[RANGE_INPUTS];
    for (int k = 0; k < RANGE_INPUTS; k++) {
        const lps_tensor *t = in[k];
        if (!t)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", k);
        if (t->dtype != in[0]->dtype || lps_tensor_numel(t) != 1)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "input %d must be a scalar of the type of input 0", k);
        if (!is_integer_type(t->dtype) && t->dtype != LPS_DT_FLOAT && t->dtype != LPS_DT_DOUBLE)
            return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has unsupported type %s",
                               k, lps_dtype_name(t->dtype));
        read_scalar(t, &v[k], &iv[k]);
    }
    r->dtype = in[0]->dtype;
    r->start = v[RANGE_START];
    r->delta = v[RANGE_DELTA];
    r->istart = iv[RANGE_START];
    r->idelta = iv[RANGE_DELTA];
    if (r->delta == 0.0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "delta is 0");
    double count = ceil((v[RANGE_LIMIT] - v[RANGE_START]) / v[RANGE_DELTA]);
    if (is_integer_type(r->dtype)) {
        int64_t span = iv[RANGE_LIMIT] - iv[RANGE_START], d = iv[RANGE_DELTA];
        /* exact ceil of span / d for either sign */
        int64_t q = span / d;
        count = (double)(q + ((span % d != 0) && ((span > 0) == (d > 0))));
    }
    if (!(count <= (double)LPS_MAX_NUMEL))
        return lps_op_fail(op, err, LPS_ERR_INVALID, "the range has too many elements");
    r->count = count > 0 ? (int64_t)count : 0;
    return LPS_OK;
}

static lps_status range_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                              lps_error *err)
{
    range_args r;
    lps_status st = range_read(op, in, &r, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = r.dtype;
    out[0].rank = 1;
    out[0].dims[0] = r.count;
    return LPS_OK;
}

static lps_status range_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    range_args r;
    lps_status st = range_read(op, in, &r, err);
    if (st != LPS_OK)
        return st;
    void *y = out[0]->data;
    for (int64_t i = 0; i < r.count; i++) {
        int64_t iv = r.istart + i * r.idelta;
        double v = r.start + (double)i * r.delta;
        switch (r.dtype) {
        case LPS_DT_INT16: ((int16_t *)y)[i] = (int16_t)iv; break;
        case LPS_DT_INT32: ((int32_t *)y)[i] = (int32_t)iv; break;
        case LPS_DT_INT64: ((int64_t *)y)[i] = iv; break;
        case LPS_DT_DOUBLE: ((double *)y)[i] = v; break;
        default: ((float *)y)[i] = (float)v; break;
        }
    }
    return LPS_OK;
}

const lps_op_def lps_op_def_range = {
    .name = "Range",
    .min_opset = RANGE_MIN_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = RANGE_INPUTS,
    .max_inputs = RANGE_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 0u,
    .prepare = range_prepare,
    .shape = range_shape,
    .forward = range_forward,
    .backward = NULL,
};
