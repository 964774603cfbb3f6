#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lpsparsify/engine.h"
#include "ops/op.h"

/* Fixed seed so a failing check reproduces exactly. */
#define GRADCHECK_SEED 0x5EEDULL
/* din is pre-filled with this to prove backward accumulates instead of overwriting. */
#define GRADCHECK_PREFILL 1.0f

gradcheck_tol gradcheck_default_tol(void)
{
    gradcheck_tol t = {1e-3, 1e-2, 1e-2f, 0, false};
    return t;
}

typedef struct check_run {
    lps_op_node op;
    lps_exec_ctx *ctx;
    size_t n_inputs;
    const lps_tensor *in[LPS_OP_MAX_IO];
    lps_tensor out[LPS_OP_MAX_IO];
    lps_tensor weights[LPS_OP_MAX_IO]; /* R_j */
    lps_tensor din[LPS_OP_MAX_IO];
} check_run;

static void reset_ctx(check_run *r)
{
    lps_exec_ctx_reseed(r->ctx, GRADCHECK_SEED); /* same dropout mask every forward */
}

static lps_status forward(check_run *r, lps_error *err)
{
    lps_tensor *outs[LPS_OP_MAX_IO];
    for (size_t j = 0; j < r->op.n_outputs; j++)
        outs[j] = &r->out[j];
    reset_ctx(r);
    return lps_op_run_forward(&r->op, r->ctx, r->in, outs, err);
}

static double weighted_loss(const check_run *r)
{
    double sum = 0.0;
    for (size_t j = 0; j < r->op.n_outputs; j++) {
        if (r->out[j].dtype != LPS_DT_FLOAT)
            continue;
        const float *y = lps_tensor_f32(&r->out[j]);
        const float *w = lps_tensor_f32(&r->weights[j]);
        for (int64_t k = 0; k < lps_tensor_numel(&r->out[j]); k++)
            sum += (double)y[k] * (double)w[k];
    }
    return sum;
}

static void fill_uniform(lps_tensor *t, uint64_t *state)
{
    float *x = lps_tensor_f32(t);
    for (int64_t i = 0; i < lps_tensor_numel(t); i++) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        x[i] = (float)((*state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
}

static bool check_input(check_run *r, size_t i, gradcheck_tol tol, char *why, size_t why_len)
{
    lps_error err;
    lps_tensor *x = (lps_tensor *)r->in[i];
    float *xd = lps_tensor_f32(x);
    const float *ana = lps_tensor_f32(&r->din[i]);
    int64_t n = lps_tensor_numel(x);
    int64_t step = (tol.max_points > 0 && n > tol.max_points) ? n / tol.max_points : 1;
    for (int64_t k = 0; k < n; k += step) {
        float saved = xd[k];
        xd[k] = saved + tol.eps;
        if (forward(r, &err) != LPS_OK)
            goto op_failed;
        double plus = weighted_loss(r);
        xd[k] = saved - tol.eps;
        if (forward(r, &err) != LPS_OK)
            goto op_failed;
        double minus = weighted_loss(r);
        xd[k] = saved;
        double num = (plus - minus) / (2.0 * (double)tol.eps);
        double a = (double)ana[k] - GRADCHECK_PREFILL;
        double scale = fabs(num) > fabs(a) ? fabs(num) : fabs(a);
        if (!(fabs(num - a) <= tol.atol + tol.rtol * scale)) {
            snprintf(why, why_len, "input %zu element %lld: numeric %.6g, backward %.6g", i,
                     (long long)k, num, a);
            return false;
        }
    }
    return true;
op_failed:
    snprintf(why, why_len, "forward failed while perturbing: %s", err.msg);
    return false;
}

bool gradcheck_op(const lps_node *node, int64_t opset, lps_tensor *const *inputs, size_t n_inputs,
                  uint32_t check_mask, gradcheck_tol tol, char *why, size_t why_len)
{
    check_run r;
    lps_error err;
    bool ok = false;
    uint64_t state = GRADCHECK_SEED;
    memset(&r, 0, sizeof r);
    lps_run_options run = {.training = tol.training, .bn_batch_stats = tol.training};
    r.n_inputs = n_inputs;
    if (n_inputs > LPS_OP_MAX_IO) {
        snprintf(why, why_len, "too many inputs");
        return false;
    }
    for (size_t i = 0; i < n_inputs; i++)
        r.in[i] = inputs[i];
    if (!(r.ctx = lps_exec_ctx_new(&run, &err)) ||
        lps_op_node_init(&r.op, node, 0, opset, &err) != LPS_OK)
        goto failed;
    const lps_op_def *def = lps_op_get(r.op.kind);
    if (!def->backward) {
        snprintf(why, why_len, "%s has no backward", r.op.label);
        goto cleanup;
    }
    if (forward(&r, &err) != LPS_OK)
        goto failed;
    const lps_tensor *dout[LPS_OP_MAX_IO] = {0};
    lps_tensor *din[LPS_OP_MAX_IO] = {0};
    const lps_tensor *outs[LPS_OP_MAX_IO];
    for (size_t j = 0; j < r.op.n_outputs; j++) {
        outs[j] = &r.out[j];
        if (r.out[j].dtype != LPS_DT_FLOAT)
            continue;
        if (lps_tensor_alloc(&r.weights[j], LPS_DT_FLOAT, r.out[j].rank, r.out[j].dims, &err) !=
            LPS_OK)
            goto failed;
        fill_uniform(&r.weights[j], &state);
        dout[j] = &r.weights[j];
    }
    for (size_t i = 0; i < n_inputs; i++) {
        if (!(check_mask & (1u << i)) || !inputs[i])
            continue;
        if (lps_tensor_alloc(&r.din[i], LPS_DT_FLOAT, inputs[i]->rank, inputs[i]->dims, &err) !=
            LPS_OK)
            goto failed;
        float *d = lps_tensor_f32(&r.din[i]);
        for (int64_t k = 0; k < lps_tensor_numel(&r.din[i]); k++)
            d[k] = GRADCHECK_PREFILL;
        din[i] = &r.din[i];
    }
    reset_ctx(&r);
    if (def->backward(&r.op, r.ctx, r.in, outs, dout, din, &err) != LPS_OK)
        goto failed;
    ok = true;
    for (size_t i = 0; i < n_inputs && ok; i++)
        if (din[i])
            ok = check_input(&r, i, tol, why, why_len);
    goto cleanup;
failed:
    snprintf(why, why_len, "%s", err.msg);
    ok = false;
cleanup:
    for (size_t j = 0; j < LPS_OP_MAX_IO; j++) {
        lps_tensor_release(&r.out[j]);
        lps_tensor_release(&r.weights[j]);
        lps_tensor_release(&r.din[j]);
    }
    lps_op_node_release(&r.op);
    lps_exec_ctx_free(r.ctx);
    return ok;
}
