/* Index-addressed element moves: GatherElements (opsets 11..21) and
 * ScatterND (11..21, reduction add/mul from 16, max/min from 18).
 *
 * Both first resolve their indices into source/destination element offsets
 * (negative indices count from the end, anything outside is an error naming
 * the node), then move bytes of the element size, so int64 and bool tensors
 * take the float path. ScatterND's reductions combine elements through the
 * dtype list of ops/elementwise.h. Backward (float): GatherElements
 * scatter-adds dy into the gathered positions; ScatterND routes dy to data
 * where it survives and to each update as its reduction's derivative. */
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise.h"
#include "ops/op.h"
#include "ops/op_util.h"

#define INDEX_OPS_MIN_OPSET 11
#define SCATTER_REDUCTION_OPSET 16
#define SCATTER_EXTREMA_OPSET 18

static lps_status expect_indices(const lps_op_node *op, const lps_tensor *t, int index,
                                 lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (t->dtype != LPS_DT_INT64 && t->dtype != LPS_DT_INT32)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "indices have type %s, expected int64 or int32",
                           lps_dtype_name(t->dtype));
    return LPS_OK;
}

/* ---- GatherElements ---------------------------------------------------- */

enum { GE_DATA, GE_INDICES, GE_INPUTS };

static lps_status gather_elements_prepare(lps_op_node *op, lps_error *err)
{
    return lps_op_prepare_axis(op, 0, err);
}

static lps_status gather_elements_shape(const lps_op_node *op, const lps_tensor *const *in,
                                        lps_shape *out, lps_error *err)
{
    const lps_tensor *data = in[GE_DATA], *idx = in[GE_INDICES];
    int axis = 0;
    lps_status st = lps_op_expect_sized(op, data, GE_DATA, err);
    if (st == LPS_OK)
        st = expect_indices(op, idx, GE_INDICES, err);
    if (st == LPS_OK)
        st = lps_op_normalize_axis(op, *(const int64_t *)op->params, data->rank, false, &axis,
                                   err);
    if (st != LPS_OK)
        return st;
    if (idx->rank != data->rank)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "indices have rank %d, data rank %d",
                           idx->rank, data->rank);
    for (int d = 0; d < data->rank; d++)
        if (d != axis && idx->dims[d] > data->dims[d])
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "indices dim %d (%lld) exceeds the data's (%lld)", d,
                               (long long)idx->dims[d], (long long)data->dims[d]);
    out[0].dtype = data->dtype;
    out[0].rank = idx->rank;
    memcpy(out[0].dims, idx->dims, sizeof idx->dims);
    return LPS_OK;
}

/* The data element offset of every index element (malloc'd into *offs,
 * freed by the caller; NULL on failure): each index resolved along the
 * axis, at the index element's own position on the other axes. */
static lps_status gather_elements_offsets(const lps_op_node *op, const lps_tensor *data,
                                          const lps_tensor *idx, int64_t **offs, lps_error *err)
{
    int axis = 0;
    int64_t stride[LPS_MAX_RANK], pos[LPS_MAX_RANK] = {0};
    int64_t n = lps_tensor_numel(idx);
    *offs = NULL;
    lps_status st = lps_op_normalize_axis(op, *(const int64_t *)op->params, data->rank, false,
                                          &axis, err);
    if (st == LPS_OK)
        st = lps_op_resolve_indices(op, idx, data->dims[axis], axis, offs, err);
    if (st != LPS_OK)
        return st;
    int64_t s = 1;
    for (int d = data->rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= data->dims[d];
    }
    int64_t *o = *offs;
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < data->rank; d++)
            off += (d == axis ? o[i] : pos[d]) * stride[d];
        o[i] = off;
        for (int d = idx->rank - 1; d >= 0 && ++pos[d] == idx->dims[d]; d--)
            pos[d] = 0;
    }
    return LPS_OK;
}

static lps_status gather_elements_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                          const lps_tensor *const *in, lps_tensor *const *out,
                                          lps_error *err)
{
    (void)ctx;
    int64_t *offs = NULL;
    const lps_tensor *data = in[GE_DATA];
    lps_status st = gather_elements_offsets(op, data, in[GE_INDICES], &offs, err);
    if (st != LPS_OK)
        return st;
    lps_op_block_map map = {1, lps_tensor_numel(out[0]), 0, 1, offs};
    lps_op_gather_blocks(&map, out[0]->data, data->data, lps_dtype_size(data->dtype));
    free(offs);
    return LPS_OK;
}

static lps_status gather_elements_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                           const lps_tensor *const *in,
                                           const lps_tensor *const *out,
                                           const lps_tensor *const *dout, lps_tensor *const *din,
                                           lps_error *err)
{
    (void)ctx, (void)out;
    int64_t *offs = NULL;
    if (!din[GE_DATA] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[GE_DATA], err);
    if (st == LPS_OK)
        st = gather_elements_offsets(op, in[GE_DATA], in[GE_INDICES], &offs, err);
    if (st != LPS_OK)
        return st;
    lps_op_block_map map = {1, lps_tensor_numel(dout[0]), 0, 1, offs};
    lps_op_scatter_add_blocks(&map, lps_tensor_f32(din[GE_DATA]), lps_tensor_f32(dout[0]));
    free(offs);
    return LPS_OK;
}

const lps_op_def lps_op_def_gather_elements = {
    .name = "GatherElements",
    .min_opset = INDEX_OPS_MIN_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = GE_INPUTS,
    .max_inputs = GE_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << GE_DATA,
    .prepare = gather_elements_prepare,
    .shape = gather_elements_shape,
    .forward = gather_elements_forward,
    .backward = gather_elements_backward,
};

/* ---- ScatterND --------------------------------------------------------- */

enum { SND_DATA, SND_INDICES, SND_UPDATES, SND_INPUTS };
typedef enum scatter_reduction { SR_NONE, SR_ADD, SR_MUL, SR_MAX, SR_MIN } scatter_reduction;

static lps_status scatter_nd_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const plain[] = {NULL};
    static const char *const reducing[] = {"reduction", NULL};
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *r = "none";
    int64_t red = SR_NONE;
    lps_status st = lps_op_check_attrs(op, op->opset >= SCATTER_REDUCTION_OPSET ? reducing : plain,
                                       err);
    if (st == LPS_OK)
        st = lps_op_attr_string(op, "reduction", "none", &r, err);
    if (st != LPS_OK)
        return st;
    int allowed = op->opset >= SCATTER_EXTREMA_OPSET ? SR_MIN + 1 : SR_MUL + 1;
    for (red = 0; red < allowed && strcmp(r, names[red]) != 0; red++)
        ;
    if (red == allowed)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED,
                           "reduction '%s' is not supported at opset %lld", r,
                           (long long)op->opset);
    return lps_op_store_params(op, &red, sizeof red, err);
}

/* Where the updates go: n tuples, each a slice of slice elements at
 * element offset off[j] of data. */
typedef struct scatter_plan {
    int64_t n;
    int64_t slice;
    int64_t *off;   /* malloc'd, freed by the caller */
} scatter_plan;

static lps_status scatter_nd_check(const lps_op_node *op, const lps_tensor *const *in,
                                   lps_error *err)
{
    const lps_tensor *data = in[SND_DATA], *idx = in[SND_INDICES], *upd = in[SND_UPDATES];
    lps_status st = lps_op_expect_sized(op, data, SND_DATA, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, idx, SND_INDICES, LPS_DT_INT64, err);
    if (st == LPS_OK)
        st = lps_op_expect_sized(op, upd, SND_UPDATES, err);
    if (st != LPS_OK)
        return st;
    int k = idx->rank > 0 ? (int)idx->dims[idx->rank - 1] : -1;
    bool ok = upd->dtype == data->dtype && k >= 1 && k <= data->rank &&
              upd->rank == idx->rank - 1 + data->rank - k;
    for (int d = 0; ok && d < upd->rank; d++)
        ok = upd->dims[d] == (d < idx->rank - 1 ? idx->dims[d] : data->dims[d - idx->rank + 1 + k]);
    if (!ok) {
        char sd[128], si[128], su[128];
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "data %s, indices %s and updates %s (%s) do not fit",
                           lps_shape_str(data->rank, data->dims, sd, sizeof sd),
                           lps_shape_str(idx->rank, idx->dims, si, sizeof si),
                           lps_shape_str(upd->rank, upd->dims, su, sizeof su),
                           lps_dtype_name(upd->dtype));
    }
    return LPS_OK;
}

static lps_status scatter_nd_plan(const lps_op_node *op, const lps_tensor *const *in,
                                  scatter_plan *p, lps_error *err)
{
    const lps_tensor *data = in[SND_DATA], *idx = in[SND_INDICES];
    memset(p, 0, sizeof *p);
    lps_status st = scatter_nd_check(op, in, err);
    if (st != LPS_OK)
        return st;
    int k = (int)idx->dims[idx->rank - 1];
    int64_t stride[LPS_MAX_RANK], s = 1;
    for (int d = data->rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= data->dims[d];
    }
    p->n = lps_numel_of(idx->rank - 1, idx->dims);
    p->slice = lps_numel_of(data->rank - k, data->dims + k);
    p->off = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *p->off);
    if (!p->off)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for %lld indices",
                           (long long)p->n);
    const int64_t *iv = lps_tensor_i64(idx);
    for (int64_t j = 0; j < p->n; j++) {
        int64_t off = 0;
        for (int d = 0; d < k && st == LPS_OK; d++) {
            int64_t a = 0;
            st = lps_op_resolve_index(op, iv[j * k + d], data->dims[d], d, &a, err);
            off += a * stride[d];
        }
        if (st != LPS_OK) {
            free(p->off);
            p->off = NULL;
            return st;
        }
        p->off[j] = off;
    }
    return LPS_OK;
}

static lps_status scatter_nd_shape(const lps_op_node *op, const lps_tensor *const *in,
                                   lps_shape *out, lps_error *err)
{
    lps_status st = scatter_nd_check(op, in, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = in[SND_DATA]->dtype;
    out[0].rank = in[SND_DATA]->rank;
    memcpy(out[0].dims, in[SND_DATA]->dims, sizeof in[SND_DATA]->dims);
    return LPS_OK;
}

/* dst[i] = dst[i] (reduction) src[i] for n elements of one numeric dtype. */
#define SCATTER_COMBINE(dtype, tag, storage, compute, load, store)                               \
    static void combine_##tag(scatter_reduction r, void *dstv, const void *srcv, int64_t n)      \
    {                                                                                            \
        storage *dst = dstv;                                                                     \
        const storage *src = srcv;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                        \
            compute a = load(dst[i]), b = load(src[i]);                                          \
            compute v = r == SR_ADD ? (compute)(a + b)                                           \
                        : r == SR_MUL ? (compute)(a * b)                                         \
                        : r == SR_MAX ? (a > b ? a : b)                                          \
                                      : (a < b ? a : b);                                         \
            dst[i] = store(v);                                                                   \
        }                                                                                        \
    }
LPS_ELEM_NUMERIC_TYPES(SCATTER_COMBINE)

static lps_status combine(const lps_op_node *op, scatter_reduction r, lps_dtype dtype, void *dst,
                          const void *src, int64_t n, lps_error *err)
{
    switch (dtype) {
#define SCATTER_CASE(dt, tag, storage, compute, load, store)                                     \
    case dt: combine_##tag(r, dst, src, n); return LPS_OK;
        LPS_ELEM_NUMERIC_TYPES(SCATTER_CASE)
#undef SCATTER_CASE
    default:
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "reduction over type %s",
                           lps_dtype_name(dtype));
    }
}

static lps_status scatter_nd_forward(lps_op_node *op, lps_exec_ctx *ctx,
                                     const lps_tensor *const *in, lps_tensor *const *out,
                                     lps_error *err)
{
    (void)ctx;
    scatter_reduction r = (scatter_reduction) * (const int64_t *)op->params;
    scatter_plan p;
    lps_status st = scatter_nd_plan(op, in, &p, err);
    if (st != LPS_OK)
        return st;
    const lps_tensor *data = in[SND_DATA], *upd = in[SND_UPDATES];
    size_t es = lps_dtype_size(data->dtype), block = (size_t)p.slice * es;
    if (data->nbytes)
        memcpy(out[0]->data, data->data, data->nbytes);
    char *y = out[0]->data;
    const char *u = upd->data;
    for (int64_t j = 0; j < p.n && st == LPS_OK && block > 0; j++) {
        char *dst = y + (size_t)p.off[j] * es;
        if (r == SR_NONE)
            memcpy(dst, u + (size_t)j * block, block);
        else
            st = combine(op, r, data->dtype, dst, u + (size_t)j * block, p.slice, err);
    }
    free(p.off);
    return st;
}

/* The float views backward works on. */
typedef struct scatter_grads {
    const float *x, *u, *y, *dy;
    float *dx, *du;   /* NULL when no gradient is wanted */
    int64_t numel;    /* data elements */
} scatter_grads;

/* none/add: the update gradient is dy at its slice; data keeps dy where no
 * update overwrote it (none) or everywhere (add). */
static lps_status grad_assign_add(const scatter_plan *p, const scatter_grads *g, bool add,
                                  lps_error *err)
{
    unsigned char *hit = calloc((size_t)(g->numel > 0 ? g->numel : 1), 1);
    if (!hit)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for a scatter mask");
    for (int64_t j = 0; j < p->n; j++)
        for (int64_t e = 0; e < p->slice; e++) {
            hit[p->off[j] + e] = 1;
            if (g->du)
                g->du[j * p->slice + e] += g->dy[p->off[j] + e];
        }
    for (int64_t i = 0; g->dx && i < g->numel; i++)
        if (add || !hit[i])
            g->dx[i] += g->dy[i];
    free(hit);
    return LPS_OK;
}

/* mul: y = x * prod(u_j) over the updates at a position. */
static lps_status grad_mul(const scatter_plan *p, const scatter_grads *g, lps_error *err)
{
    float *factor = malloc((size_t)(g->numel > 0 ? g->numel : 1) * sizeof *factor);
    if (!factor)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for scatter factors");
    for (int64_t i = 0; i < g->numel; i++)
        factor[i] = 1.0f;
    for (int64_t j = 0; j < p->n; j++)
        for (int64_t e = 0; e < p->slice; e++)
            factor[p->off[j] + e] *= g->u[j * p->slice + e];
    for (int64_t i = 0; g->dx && i < g->numel; i++)
        g->dx[i] += g->dy[i] * factor[i];
    for (int64_t j = 0; g->du && j < p->n; j++)
        for (int64_t e = 0; e < p->slice; e++) {
            int64_t at = p->off[j] + e;
            float others = g->x[at];
            for (int64_t k = 0; k < p->n; k++)
                if (k != j && p->off[k] == p->off[j])
                    others *= g->u[k * p->slice + e];
            g->du[j * p->slice + e] += g->dy[at] * others;
        }
    free(factor);
    return LPS_OK;
}

/* max/min: dy is split evenly among the candidates equal to the result. */
static lps_status grad_extremum(const scatter_plan *p, const scatter_grads *g, lps_error *err)
{
    float *ties = malloc((size_t)(g->numel > 0 ? g->numel : 1) * sizeof *ties);
    if (!ties)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory for scatter ties");
    for (int64_t i = 0; i < g->numel; i++)
        ties[i] = g->x[i] == g->y[i];
    for (int64_t j = 0; j < p->n; j++)
        for (int64_t e = 0; e < p->slice; e++)
            ties[p->off[j] + e] += g->u[j * p->slice + e] == g->y[p->off[j] + e];
    for (int64_t i = 0; g->dx && i < g->numel; i++)
        if (g->x[i] == g->y[i])
            g->dx[i] += g->dy[i] / ties[i];
    for (int64_t j = 0; g->du && j < p->n; j++)
        for (int64_t e = 0; e < p->slice; e++) {
            int64_t at = p->off[j] + e;
            if (g->u[j * p->slice + e] == g->y[at])
                g->du[j * p->slice + e] += g->dy[at] / ties[at];
        }
    free(ties);
    return LPS_OK;
}

static lps_status scatter_nd_backward(lps_op_node *op, lps_exec_ctx *ctx,
                                      const lps_tensor *const *in, const lps_tensor *const *out,
                                      const lps_tensor *const *dout, lps_tensor *const *din,
                                      lps_error *err)
{
    (void)ctx;
    scatter_reduction r = (scatter_reduction) * (const int64_t *)op->params;
    scatter_plan p;
    if (!dout[0] || (!din[SND_DATA] && !din[SND_UPDATES]))
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, dout[0], err);
    if (st == LPS_OK)
        st = scatter_nd_plan(op, in, &p, err);
    if (st != LPS_OK)
        return st;
    scatter_grads g = {lps_tensor_f32(in[SND_DATA]), lps_tensor_f32(in[SND_UPDATES]),
                       lps_tensor_f32(out[0]), lps_tensor_f32(dout[0]),
                       din[SND_DATA] ? lps_tensor_f32(din[SND_DATA]) : NULL,
                       din[SND_UPDATES] ? lps_tensor_f32(din[SND_UPDATES]) : NULL,
                       lps_tensor_numel(in[SND_DATA])};
    if (r == SR_NONE || r == SR_ADD)
        st = grad_assign_add(&p, &g, r == SR_ADD, err);
    else if (r == SR_MUL)
        st = grad_mul(&p, &g, err);
    else
        st = grad_extremum(&p, &g, err);
    free(p.off);
    return st == LPS_OK ? st : lps_error_prefix(err, "%s", op->label);
}

const lps_op_def lps_op_def_scatter_nd = {
    .name = "ScatterND",
    .min_opset = INDEX_OPS_MIN_OPSET,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = SND_INPUTS,
    .max_inputs = SND_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << SND_DATA | 1u << SND_UPDATES,
    .prepare = scatter_nd_prepare,
    .shape = scatter_nd_shape,
    .forward = scatter_nd_forward,
    .backward = scatter_nd_backward,
};
