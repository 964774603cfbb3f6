/* Helpers shared by the op families (see op_util.h). */
#include "ops/op_util.h"

#include <stdlib.h>
#include <string.h>

#include "core/par.h"

lps_status lps_op_store_params(lps_op_node *op, const void *p, size_t size, lps_error *err)
{
    op->params = malloc(size);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, p, size);
    return LPS_OK;
}

lps_status lps_op_prepare_axis(lps_op_node *op, int64_t default_axis, lps_error *err)
{
    static const char *const known[] = {"axis", NULL};
    int64_t axis = default_axis;
    lps_status st = lps_op_check_attrs(op, known, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "axis", default_axis, &axis, err);
    if (st == LPS_OK)
        st = lps_op_store_params(op, &axis, sizeof axis, err);
    return st;
}

lps_status lps_op_normalize_axis(const lps_op_node *op, int64_t axis, int rank, bool allow_end,
                                 int *out, lps_error *err)
{
    int hi = allow_end ? rank : rank - 1;
    if (axis < -rank || axis > hi)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                           (long long)axis, -rank, hi);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return LPS_OK;
}

lps_status lps_op_read_ints(const lps_op_node *op, const lps_tensor *t, int index, int64_t *out,
                            int max, int *n, lps_error *err)
{
    if (!t)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d is missing", index);
    if (t->dtype != LPS_DT_INT64 && t->dtype != LPS_DT_INT32)
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "input %d has type %s, expected int64 "
                           "or int32", index, lps_dtype_name(t->dtype));
    int64_t count = lps_tensor_numel(t);
    if (t->rank > 1 || count > max)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "input %d must be 1-D with at most %d values", index, max);
    for (int64_t i = 0; i < count; i++)
        out[i] = t->dtype == LPS_DT_INT64 ? lps_tensor_i64(t)[i]
                                          : (int64_t)((const int32_t *)t->data)[i];
    *n = (int)count;
    return LPS_OK;
}

void lps_op_transpose_f32(const float *src, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}

int64_t lps_op_index_at(const lps_tensor *t, int64_t i)
{
    return t->dtype == LPS_DT_INT64 ? lps_tensor_i64(t)[i]
                                    : (int64_t)((const int32_t *)t->data)[i];
}

lps_status lps_op_resolve_index(const lps_op_node *op, int64_t v, int64_t dim, int axis,
                                int64_t *out, lps_error *err)
{
    if (v < -dim || v >= dim)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "index %lld is outside [%lld, %lld] for axis %d",
                           (long long)v, (long long)-dim, (long long)(dim - 1), axis);
    *out = v < 0 ? v + dim : v;
    return LPS_OK;
}

lps_status lps_op_resolve_indices(const lps_op_node *op, const lps_tensor *idx, int64_t dim,
                                  int axis, int64_t **out, lps_error *err)
{
    int64_t n = lps_tensor_numel(idx);
    *out = NULL;
    int64_t *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (!r)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for %lld indices",
                           (long long)n);
    for (int64_t i = 0; i < n; i++) {
        lps_status st = lps_op_resolve_index(op, lps_op_index_at(idx, i), dim, axis, &r[i], err);
        if (st != LPS_OK) {
            free(r);
            return st;
        }
    }
    *out = r;
    return LPS_OK;
}

void lps_op_gather_blocks(const lps_op_block_map *m, void *dst, const void *src,
                          size_t elem_size)
{
    size_t bytes = (size_t)m->block * elem_size;
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (int64_t o = 0; o < m->outer && bytes > 0; o++)
        for (int64_t j = 0; j < m->n; j++, d += bytes)
            memcpy(d, s + (size_t)(o * m->stride + m->at[j]) * bytes, bytes);
}

void lps_op_scatter_add_blocks(const lps_op_block_map *m, float *dx, const float *dy)
{
    for (int64_t o = 0; o < m->outer; o++)
        for (int64_t j = 0; j < m->n; j++, dy += m->block) {
            float *row = dx + (o * m->stride + m->at[j]) * m->block;
            for (int64_t k = 0; k < m->block; k++)
                row[k] += dy[k];
        }
}

lps_status lps_op_copy_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                               lps_tensor *const *out, lps_error *err)
{
    (void)op, (void)ctx, (void)err;
    if (in[0]->nbytes > 0)
        memcpy(out[0]->data, in[0]->data, in[0]->nbytes);
    return LPS_OK;
}

/* One lps_op_accumulate: dst += src. */
typedef struct accumulate_job {
    float *dst;
    const float *src;
} accumulate_job;

static void accumulate_piece(void *arg, int64_t begin, int64_t end)
{
    const accumulate_job *j = arg;
    float *restrict d = j->dst;
    const float *restrict s = j->src;
    for (int64_t i = begin; i < end; i++)
        d[i] += s[i];
}

/* Contract in op_util.h. */
void lps_op_accumulate(float *dst, const float *src, int64_t n)
{
    accumulate_job job = {dst, src};
    /* src and dst read, dst written */
    lps_par_elements(n, 3.0, accumulate_piece, &job);
}

lps_status lps_op_copy_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                const lps_tensor *const *out, const lps_tensor *const *dout,
                                lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)in, (void)out;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = lps_op_expect_float_grad(op, din[0], err);
    if (st != LPS_OK)
        return st;
    lps_op_accumulate(lps_tensor_f32(din[0]), lps_tensor_f32(dout[0]), lps_tensor_numel(din[0]));
    return LPS_OK;
}

/* Contract in op_util.h. */
const float *lps_op_cache_find(const lps_op_node *op, const int64_t *key, size_t n_key)
{
    const lps_op_cache *c = &op->cache;
    if (!c->data || c->n_key != n_key || memcmp(c->key, key, n_key * sizeof *key) != 0)
        return NULL;
    return c->data;
}

/* Contract in op_util.h. */
float *lps_op_cache_make(lps_op_node *op, const int64_t *key, size_t n_key, size_t n,
                         lps_error *err)
{
    lps_op_cache *c = &op->cache;
    free(c->data);
    *c = (lps_op_cache){0};
    if (n_key > LPS_OP_CACHE_KEY_MAX) {
        lps_op_fail(op, err, LPS_ERR_RUNTIME, "cache key of %zu values", n_key);
        return NULL;
    }
    if (!(c->data = malloc((n ? n : 1) * sizeof *c->data))) {
        lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for %zu cached floats", n);
        return NULL;
    }
    c->n = n;
    c->n_key = n_key;
    memcpy(c->key, key, n_key * sizeof *key);
    return c->data;
}

/* One lps_op_epilogue_grad_tensor pass: g = dy through op's activation. */
typedef struct epilogue_grad_job {
    const lps_op_node *op;
    const float *y, *dy;
    float *g;
} epilogue_grad_job;

static void epilogue_grad_piece(void *arg, int64_t begin, int64_t end)
{
    const epilogue_grad_job *j = arg;
    lps_op_epilogue_grad(j->op, j->y + begin, j->dy + begin, j->g + begin, end - begin);
}

/* Contract in op_util.h. */
const lps_tensor *lps_op_epilogue_grad_tensor(lps_op_node *op, int slot, const lps_tensor *y,
                                              const lps_tensor *dy, lps_error *err)
{
    if (!op->epilogue)
        return dy;
    lps_tensor *g = &op->saved[slot];
    /* every element is written below */
    if (lps_tensor_alloc_uninit(g, LPS_DT_FLOAT, dy->rank, dy->dims, err) != LPS_OK) {
        lps_error_prefix(err, "%s", op->label);
        return NULL;
    }
    epilogue_grad_job job = {op, lps_tensor_f32(y), lps_tensor_f32(dy), lps_tensor_f32(g)};
    /* y and dy read, g written */
    lps_par_elements(lps_tensor_numel(dy), 3.0, epilogue_grad_piece, &job);
    return g;
}
