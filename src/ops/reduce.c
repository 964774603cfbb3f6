/* ReduceMean (opsets 7..21) over float data.
 *
 * The axes are an attribute before opset 18 and an optional input from 18,
 * where noop_with_empty_axes also appears. The mean is a broadcast sum: the
 * output with the reduced dims kept as size 1 broadcasts to the input, so
 * lps_bcast_sum_into computes it and lps_bcast_expand_into is its backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/op.h"

#define REDUCE_AXES_INPUT_OPSET 18
enum { REDUCE_IN_DATA = 0, REDUCE_IN_AXES = 1, REDUCE_MAX_INPUTS = 2 };

typedef struct reduce_params {
    bool keepdims;
    bool noop_with_empty_axes;
    int n_axes;                      /* attribute form; -1 when absent or an input */
    int64_t axes[LPS_MAX_RANK];
} reduce_params;

/* Which dims one run reduces. */
typedef struct reduce_plan {
    bool identity;                   /* empty axes with noop_with_empty_axes */
    int rank;
    int64_t kept_dims[LPS_MAX_RANK]; /* input dims with reduced ones set to 1 */
    bool reduced[LPS_MAX_RANK];
    int64_t count;                   /* elements averaged per output */
} reduce_plan;

static lps_status reduce_prepare(lps_op_node *op, lps_error *err)
{
    static const char *const attr_form[] = {"axes", "keepdims", NULL};
    static const char *const input_form[] = {"keepdims", "noop_with_empty_axes", NULL};
    reduce_params p = {true, false, -1, {0}};
    int64_t keepdims = 1, noop = 0;
    bool inputs = op->opset >= REDUCE_AXES_INPUT_OPSET;
    lps_status st = lps_op_check_attrs(op, inputs ? input_form : attr_form, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "keepdims", 1, &keepdims, err);
    if (st == LPS_OK)
        st = lps_op_attr_int(op, "noop_with_empty_axes", 0, &noop, err);
    if (st == LPS_OK && !inputs)
        st = lps_op_attr_ints(op, "axes", p.axes, LPS_MAX_RANK, &p.n_axes, err);
    if (st != LPS_OK)
        return st;
    if (!inputs && op->n_inputs > 1)
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "has %zu inputs; before opset %d axes is an attribute", op->n_inputs,
                           REDUCE_AXES_INPUT_OPSET);
    p.keepdims = keepdims != 0;
    p.noop_with_empty_axes = noop != 0;
    op->params = malloc(sizeof p);
    if (!op->params)
        return lps_op_fail(op, err, LPS_ERR_NOMEM, "out of memory for parameters");
    memcpy(op->params, &p, sizeof p);
    return LPS_OK;
}

/* The axes of this run from the attribute or input 1; *n = 0 when none. */
static lps_status run_axes(const lps_op_node *op, const lps_tensor *const *in, int64_t *axes,
                           int *n, lps_error *err)
{
    const reduce_params *p = op->params;
    const lps_tensor *t = op->n_inputs > REDUCE_IN_AXES ? in[REDUCE_IN_AXES] : NULL;
    *n = 0;
    if (op->opset < REDUCE_AXES_INPUT_OPSET) {
        *n = p->n_axes > 0 ? p->n_axes : 0;
        memcpy(axes, p->axes, sizeof p->axes);
        return LPS_OK;
    }
    if (!t)
        return LPS_OK;
    return lps_op_read_axes(op, t, REDUCE_IN_AXES, axes, n, err);
}

static lps_status make_plan(const lps_op_node *op, const lps_tensor *const *in, reduce_plan *plan,
                            lps_error *err)
{
    const reduce_params *p = op->params;
    const lps_tensor *x = in[0];
    int64_t axes[LPS_MAX_RANK];
    int n = 0;
    lps_status st = lps_op_expect_dtype(op, x, 0, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = run_axes(op, in, axes, &n, err);
    if (st != LPS_OK)
        return st;
    memset(plan, 0, sizeof *plan);
    plan->rank = x->rank;
    plan->identity = n == 0 && p->noop_with_empty_axes;
    for (int i = 0; i < n; i++) {
        if (axes[i] < -x->rank || axes[i] >= x->rank)
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is outside [%d, %d]",
                               (long long)axes[i], -x->rank, x->rank - 1);
        int a = (int)(axes[i] < 0 ? axes[i] + x->rank : axes[i]);
        if (plan->reduced[a])
            return lps_op_fail(op, err, LPS_ERR_INVALID, "axis %lld is repeated",
                               (long long)axes[i]);
        plan->reduced[a] = true;
    }
    plan->count = 1;
    for (int d = 0; d < x->rank; d++) {
        if (n == 0 && !plan->identity)
            plan->reduced[d] = true;
        plan->kept_dims[d] = plan->reduced[d] ? 1 : x->dims[d];
        if (plan->reduced[d])
            plan->count *= x->dims[d];
    }
    return LPS_OK;
}

static lps_status reduce_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                               lps_error *err)
{
    const reduce_params *p = op->params;
    reduce_plan plan;
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    out[0].dtype = LPS_DT_FLOAT;
    out[0].rank = 0;
    for (int d = 0; d < plan.rank; d++)
        if (p->keepdims || !plan.reduced[d])
            out[0].dims[out[0].rank++] = plan.kept_dims[d];
    return LPS_OK;
}

static lps_status reduce_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                 lps_tensor *const *out, lps_error *err)
{
    (void)ctx;
    reduce_plan plan;
    const lps_tensor *x = in[0];
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK)
        return st;
    float *y = lps_tensor_f32(out[0]);
    int64_t n_out = lps_tensor_numel(out[0]);
    if (plan.identity) {
        if (n_out > 0)
            memcpy(y, lps_tensor_f32(x), (size_t)n_out * sizeof *y);
        return LPS_OK;
    }
    /* the mean of no elements is undefined */
    float init = plan.count == 0 ? NAN : 0.0f;
    for (int64_t i = 0; i < n_out; i++)
        y[i] = init;
    if (plan.count == 0)
        return LPS_OK;
    st = lps_bcast_sum_into(y, plan.rank, plan.kept_dims, lps_tensor_f32(x), x->rank, x->dims,
                            1.0f / (float)plan.count, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

static lps_status reduce_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                                  const lps_tensor *const *out, const lps_tensor *const *dout,
                                  lps_tensor *const *din, lps_error *err)
{
    (void)ctx, (void)out;
    reduce_plan plan;
    if (!din[0] || !dout[0])
        return LPS_OK;
    lps_status st = make_plan(op, in, &plan, err);
    if (st != LPS_OK || plan.count == 0)
        return st;
    const lps_tensor *x = in[0];
    /* identity: kept_dims are x's dims and count is 1 */
    st = lps_bcast_expand_into(lps_tensor_f32(din[0]), x->rank, x->dims, lps_tensor_f32(dout[0]),
                               plan.rank, plan.kept_dims, 1.0f / (float)plan.count, err);
    if (st != LPS_OK)
        lps_error_prefix(err, "%s", op->label);
    return st;
}

const lps_op_def lps_op_def_reduce_mean = {
    .name = "ReduceMean",
    .min_opset = LPS_OPSET_MIN,
    .max_opset = LPS_OPSET_MAX,
    .min_inputs = 1,
    .max_inputs = REDUCE_MAX_INPUTS,
    .min_outputs = 1,
    .max_outputs = 1,
    .differentiable = 1u << REDUCE_IN_DATA,
    .prepare = reduce_prepare,
    .shape = reduce_shape,
    .forward = reduce_forward,
    .backward = reduce_backward,
};
