/* Running a compiled plan: input binding, forward with buffer recycling,
 * backward with gradient accumulation, and parameter access. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "engine/plan.h"

size_t lps_plan_n_inputs(const lps_plan *p) { return p->n_inputs; }
const lps_value_info *lps_plan_input_info(const lps_plan *p, size_t i) { return p->input_infos[i]; }
size_t lps_plan_n_outputs(const lps_plan *p) { return p->n_outputs; }
const char *lps_plan_output_name(const lps_plan *p, size_t i)
{
    return p->values[p->output_values[i]].name;
}

static void describe_declared(const lps_value_info *vi, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < vi->rank && used < len; d++) {
        if (vi->dims[d].symbol)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", d ? ", " : "",
                                     vi->dims[d].symbol);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "",
                                     (long long)vi->dims[d].value);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

lps_status lps_plan_set_input(lps_plan *p, size_t i, const lps_tensor *t, lps_error *err)
{
    if (i >= p->n_inputs)
        return lps_fail(err, LPS_ERR_INVALID, "the model has %zu inputs, not %zu", p->n_inputs,
                        i + 1);
    const lps_value_info *vi = p->input_infos[i];
    char want[256], got[256];
    if (vi->dtype != LPS_DT_UNDEFINED && vi->dtype != t->dtype)
        return lps_fail(err, LPS_ERR_INVALID, "input '%s' has type %s, the data is %s", vi->name,
                        lps_dtype_name(vi->dtype), lps_dtype_name(t->dtype));
    if (vi->rank >= 0) {
        bool ok = vi->rank == t->rank;
        for (int d = 0; ok && d < vi->rank; d++)
            if (!vi->dims[d].symbol && vi->dims[d].value >= 0 && vi->dims[d].value != t->dims[d])
                ok = false;
        if (!ok) {
            describe_declared(vi, want, sizeof want);
            return lps_fail(err, LPS_ERR_INVALID, "input '%s' has shape %s, the data has %s",
                            vi->name, want, lps_shape_str(t->rank, t->dims, got, sizeof got));
        }
    }
    lps_value *val = &p->values[p->input_values[i]];
    val->t = *t;
    val->t.owns_data = false;
    return LPS_OK;
}

/* Symbolic dims must agree across inputs ("N" is one number per run). */
static lps_status check_symbols(lps_plan *p, lps_error *err)
{
    size_t n = 0;
    free(p->symbols);
    p->symbols = calloc(p->n_inputs * LPS_MAX_RANK + 1, sizeof *p->symbols);
    if (!p->symbols)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory binding symbolic dims");
    for (size_t i = 0; i < p->n_inputs; i++) {
        const lps_value_info *vi = p->input_infos[i];
        const lps_value *val = &p->values[p->input_values[i]];
        if (val->t.dtype == LPS_DT_UNDEFINED)
            return lps_fail(err, LPS_ERR_INVALID, "input '%s' was not given", vi->name);
        for (int d = 0; d < vi->rank && d < val->t.rank; d++) {
            const char *sym = vi->dims[d].symbol;
            if (!sym)
                continue;
            size_t s = 0;
            while (s < n && strcmp(p->symbols[s].symbol, sym) != 0)
                s++;
            if (s == n) {
                p->symbols[n].symbol = sym;
                p->symbols[n++].value = val->t.dims[d];
            } else if (p->symbols[s].value != val->t.dims[d]) {
                return lps_fail(err, LPS_ERR_INVALID,
                                "input '%s' binds dim '%s' to %lld, another input bound it to %lld",
                                vi->name, sym, (long long)val->t.dims[d],
                                (long long)p->symbols[s].value);
            }
        }
    }
    p->n_symbols = n;
    return LPS_OK;
}

static void pool_put(lps_plan *p, lps_value *val)
{
    if (!val->buf)
        return;
    if (p->n_pool == p->pool_capacity) {
        size_t cap = p->pool_capacity ? 2 * p->pool_capacity : 16;
        void **bufs = realloc(p->pool, cap * sizeof *bufs);
        if (bufs)
            p->pool = bufs;
        size_t *caps = bufs ? realloc(p->pool_caps, cap * sizeof *caps) : NULL;
        if (caps)
            p->pool_caps = caps;
        if (!bufs || !caps) {
            /* Could not grow the pool: keep the buffer with its value instead. */
            return;
        }
        p->pool_capacity = cap;
    }
    p->pool[p->n_pool] = val->buf;
    p->pool_caps[p->n_pool++] = val->buf_cap;
    val->buf = NULL;
    val->buf_cap = 0;
    val->t.data = NULL;
}

/* Best fit from the pool, so small tensors do not pin large buffers. */
static void *pool_take(lps_plan *p, size_t need, size_t *cap)
{
    size_t best = p->n_pool;
    for (size_t i = 0; i < p->n_pool; i++)
        if (p->pool_caps[i] >= need && (best == p->n_pool || p->pool_caps[i] < p->pool_caps[best]))
            best = i;
    if (best == p->n_pool)
        return NULL;
    void *buf = p->pool[best];
    *cap = p->pool_caps[best];
    p->pool[best] = p->pool[p->n_pool - 1];
    p->pool_caps[best] = p->pool_caps[p->n_pool - 1];
    p->n_pool--;
    return buf;
}

static lps_status shape_tensor(lps_plan *p, lps_value *val, lps_tensor *t, const lps_shape *s,
                               lps_error *err)
{
    int64_t numel = lps_numel_of(s->rank, s->dims);
    size_t esize = lps_dtype_size(s->dtype);
    char shape[128];
    if (numel < 0)
        return lps_fail(err, LPS_ERR_INVALID, "output '%s' would have shape %s", val->name,
                        lps_shape_str(s->rank, s->dims, shape, sizeof shape));
    if (esize == 0)
        return lps_fail(err, LPS_ERR_UNSUPPORTED, "output '%s' has type %s", val->name,
                        lps_dtype_name(s->dtype));
    size_t need = (size_t)numel * esize;
    if (need > val->buf_cap) {
        void *old = val->buf;
        val->buf = NULL;
        val->buf_cap = 0;
        free(old);
        size_t cap = 0;
        void *buf = p->training ? NULL : pool_take(p, need, &cap);
        if (!buf) {
            buf = malloc(need);
            cap = need;
        }
        if (!buf)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory for output '%s' of %zu bytes",
                            val->name, need);
        val->buf = buf;
        val->buf_cap = cap;
    }
    t->dtype = s->dtype;
    t->rank = s->rank;
    memset(t->dims, 0, sizeof t->dims);
    memcpy(t->dims, s->dims, (size_t)s->rank * sizeof *t->dims);
    t->data = need ? val->buf : NULL;
    t->nbytes = need;
    t->owns_data = false;
    return LPS_OK;
}

/* Makes output 0 of an aliases_input node a view of input 0's storage
 * (docs/architecture.md, "Views"): true when done. A graph output or kept
 * value stays a copy, since the caller may read it after input 0's buffer
 * is recycled or after the caller's own input tensor is gone. */
static bool view_output(lps_plan *p, lps_plan_node *n, const lps_shape *s)
{
    if (!n->def->aliases_input || n->op.n_outputs != 1 || n->out[0] < 0 || !n->in_t[0])
        return false;
    lps_value *val = &p->values[n->out[0]];
    const lps_tensor *src = n->in_t[0];
    int64_t numel = lps_numel_of(s->rank, s->dims);
    if (val->is_output || s->dtype != src->dtype || numel < 0 ||
        (size_t)numel * lps_dtype_size(s->dtype) != src->nbytes)
        return false;
    lps_tensor *t = &val->t;
    t->dtype = s->dtype;
    t->rank = s->rank;
    memset(t->dims, 0, sizeof t->dims);
    memcpy(t->dims, s->dims, (size_t)s->rank * sizeof *t->dims);
    t->data = src->data;
    t->nbytes = src->nbytes;
    t->owns_data = false;
    n->out_t[0] = t;
    return true;
}

lps_status lps_plan_run_node(lps_plan *p, lps_plan_node *n, lps_exec_ctx *ctx, lps_error *err)
{
    lps_shape stack_shapes[LPS_OP_MAX_IO];
    lps_shape *shapes = stack_shapes;
    lps_status st = LPS_OK;
    if (n->op.n_outputs > LPS_OP_MAX_IO) {
        shapes = calloc(n->op.n_outputs, sizeof *shapes);
        if (!shapes)
            return lps_fail(err, LPS_ERR_NOMEM, "out of memory running %s", n->op.label);
    }
    memset(shapes, 0, (n->op.n_outputs > LPS_OP_MAX_IO ? n->op.n_outputs : LPS_OP_MAX_IO) *
                          sizeof *shapes);
    for (size_t i = 0; i < n->op.n_inputs; i++)
        n->in_t[i] = n->in[i] >= 0 ? &p->values[n->in[i]].t : NULL;
    st = n->def->shape(&n->op, n->in_t, shapes, err);
    if (st != LPS_OK || view_output(p, n, &shapes[0]))
        goto cleanup;
    for (size_t j = 0; j < n->op.n_outputs; j++) {
        if (n->out[j] >= 0) {
            lps_value *val = &p->values[n->out[j]];
            st = shape_tensor(p, val, &val->t, &shapes[j], err);
            n->out_t[j] = &val->t;
        } else {
            st = lps_tensor_alloc(&n->unused_out[j], shapes[j].dtype, shapes[j].rank,
                                  shapes[j].dims, err);
            n->out_t[j] = &n->unused_out[j];
        }
        if (st != LPS_OK) {
            lps_error_prefix(err, "%s", n->op.label);
            goto cleanup;
        }
    }
    st = n->def->forward(&n->op, ctx, n->in_t, n->out_t, err);
cleanup:
    if (shapes != stack_shapes)
        free(shapes);
    return st;
}

/* A node failure names the node; the caller's message also needs the file. */
static lps_status name_model_file(const lps_plan *p, lps_error *err)
{
    return p->model->path ? lps_error_prefix(err, "%s", p->model->path)
                          : (err ? err->status : LPS_ERR_RUNTIME);
}

/* Whether t equals the copy seen (dtype, shape and bytes). */
static bool same_tensor(const lps_tensor *t, const lps_tensor *seen)
{
    if (t->dtype != seen->dtype || t->rank != seen->rank || t->nbytes != seen->nbytes ||
        memcmp(t->dims, seen->dims, (size_t)t->rank * sizeof *t->dims) != 0)
        return false;
    return t->nbytes == 0 || memcmp(t->data, seen->data, t->nbytes) == 0;
}

/* After a shape source ran: sets *changed when an output differs from the
 * last forward's, and keeps a copy of it for the next comparison. */
static lps_status note_shape_source(lps_plan_node *n, const lps_plan *p, bool *changed,
                                    lps_error *err)
{
    for (size_t j = 0; j < n->op.n_outputs; j++) {
        const lps_tensor *t = n->out[j] >= 0 ? &p->values[n->out[j]].t : &n->unused_out[j];
        if (same_tensor(t, &n->seen[j]))
            continue;
        *changed = true;
        lps_tensor_release(&n->seen[j]);
        lps_status st = lps_tensor_copy(&n->seen[j], t, err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

/* Runs the schedule. Shape dependents are skipped while no source's
 * outputs changed since the last successful forward (docs/architecture.md,
 * "Shape folding"); sources come before their dependents in the schedule,
 * so one flag raised by the first changed source suffices. */
static lps_status run_schedule(lps_plan *p, lps_exec_ctx *ctx, lps_error *err)
{
    lps_status st;
    bool shapes_changed = !p->shape_cache_valid;
    p->shape_cache_valid = false;
    p->n_last_run = 0;
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (n->absorbed || (n->shape_role == LPS_SHAPE_DEPENDENT && !shapes_changed))
            continue;
        for (size_t i = 0; i < n->op.n_inputs; i++)
            if (n->in[i] >= 0 && p->values[n->in[i]].t.dtype == LPS_DT_UNDEFINED)
                return lps_op_fail(&n->op, err, LPS_ERR_RUNTIME, "input '%s' has no value",
                                   p->values[n->in[i]].name);
        st = lps_plan_run_node(p, n, ctx, err);
        if (st == LPS_OK && n->shape_role == LPS_SHAPE_SOURCE)
            st = note_shape_source(n, p, &shapes_changed, err);
        if (st != LPS_OK)
            return st;
        p->n_last_run++;
        if (p->training)
            continue;
        for (size_t i = 0; i < n->op.n_inputs; i++) {
            const lps_value *val = n->in[i] >= 0 ? &p->values[n->in[i]] : NULL;
            if (val && val->kind == LPS_VALUE_TEMP && !val->is_output && !val->shape_derived &&
                val->last_reader == (int)s)
                pool_put(p, &p->values[n->in[i]]);
        }
    }
    p->shape_cache_valid = true;
    return LPS_OK;
}

lps_status lps_plan_forward(lps_plan *p, lps_exec_ctx *ctx, lps_error *err)
{
    lps_status st = check_symbols(p, err);
    if (st != LPS_OK)
        return st;
    if (run_schedule(p, ctx, err) != LPS_OK)
        return name_model_file(p, err);
    p->ran = true;
    return LPS_OK;
}

const lps_tensor *lps_plan_output(const lps_plan *p, size_t i)
{
    if (!p->ran || i >= p->n_outputs)
        return NULL;
    return &p->values[p->output_values[i]].t;
}

int lps_plan_find_value(const lps_plan *p, const char *name)
{
    return lps_name_map_get(&p->names, name);
}

void lps_plan_keep_value(lps_plan *p, int id)
{
    if (id < 0 || (size_t)id >= p->n_values)
        return;
    lps_plan_channels_first(p, id);
    lps_plan_unfuse_value(p, id);
    p->values[id].is_output = true;
    lps_plan_liveness(p);
}

const lps_tensor *lps_plan_value(const lps_plan *p, int id)
{
    if (id < 0 || (size_t)id >= p->n_values || p->values[id].t.dtype == LPS_DT_UNDEFINED)
        return NULL;
    return &p->values[id].t;
}

int lps_plan_logits_value(lps_plan *p, size_t output)
{
    if (output >= p->n_outputs)
        return -1;
    int id = p->output_values[output];
    int producer = p->values[id].producer;
    if (producer < 0)
        return id;
    const lps_plan_node *n = &p->nodes[producer];
    if (!n->def->logits_passthrough || n->op.n_inputs < 1 || n->in[0] < 0)
        return id;
    lps_plan_keep_value(p, n->in[0]);
    return n->in[0];
}

/* Makes val->grad a zeroed tensor shaped like val->t, unless it already
 * holds this backward's gradient. PARAM grads are views that accumulate.
 * The zeroing is cut over the threads (lps_par_zero): an activation's
 * gradient is megabytes at batch 64, and zeroing it alone on one thread
 * was the largest serial part of a residual CNN's backward
 * (docs/architecture.md, "Threads"). */
static lps_status ensure_grad(lps_value *val, lps_error *err)
{
    if (val->kind == LPS_VALUE_PARAM || val->grad_live)
        return LPS_OK;
    lps_status st =
        lps_tensor_alloc_uninit(&val->grad, LPS_DT_FLOAT, val->t.rank, val->t.dims, err);
    if (st != LPS_OK)
        return st;
    lps_par_zero(lps_tensor_f32(&val->grad), val->grad.nbytes / sizeof(float));
    val->grad_live = true;
    return LPS_OK;
}

/* Whether node n's backward may write input i's gradient whole instead of
 * adding to a zeroed one (lps_op_def.overwrites_fresh_grad): the op says
 * so, no gradient reached the value yet in this backward, it is no
 * parameter (those accumulate in the plan's buffer), and no other input
 * of n is the same value (which the op would then add to). */
static bool grad_can_be_fresh(const lps_plan *p, const lps_plan_node *n, size_t i)
{
    const lps_value *val = &p->values[n->in[i]];
    if (i >= 32 || !(n->def->overwrites_fresh_grad & (1u << i)) || val->grad_live ||
        val->kind == LPS_VALUE_PARAM)
        return false;
    for (size_t j = 0; j < n->op.n_inputs; j++)
        if (j != i && n->in[j] == n->in[i])
            return false;
    return true;
}

/* ensure_grad, or for a fresh gradient (grad_can_be_fresh) the buffer
 * unzeroed and marked in n->op.din_fresh. */
static lps_status ensure_input_grad(lps_plan *p, lps_plan_node *n, size_t i, lps_error *err)
{
    lps_value *val = &p->values[n->in[i]];
    if (!grad_can_be_fresh(p, n, i))
        return ensure_grad(val, err);
    lps_status st =
        lps_tensor_alloc_uninit(&val->grad, LPS_DT_FLOAT, val->t.rank, val->t.dims, err);
    if (st != LPS_OK)
        return st;
    val->grad_live = true;
    n->op.din_fresh |= 1u << i;
    return LPS_OK;
}

static lps_status backward_nodes(lps_plan *p, lps_exec_ctx *ctx, int seed,
                                 const lps_tensor *dseed, lps_error *err);

lps_status lps_plan_backward(lps_plan *p, lps_exec_ctx *ctx, int seed, const lps_tensor *dseed,
                             lps_error *err)
{
    lps_status st = backward_nodes(p, ctx, seed, dseed, err);
    return st == LPS_OK ? LPS_OK : name_model_file(p, err);
}

static lps_status backward_nodes(lps_plan *p, lps_exec_ctx *ctx, int seed,
                                 const lps_tensor *dseed, lps_error *err)
{
    if (!p->training)
        return lps_fail(err, LPS_ERR_RUNTIME, "backward needs a plan compiled for training");
    if (!p->ran || seed < 0 || (size_t)seed >= p->n_values)
        return lps_fail(err, LPS_ERR_RUNTIME, "backward needs a forward run and a valid seed");
    for (size_t v = 0; v < p->n_values; v++)
        p->values[v].grad_live = false;
    lps_value *sv = &p->values[seed];
    if (!sv->needs_grad)
        return LPS_OK;
    if (lps_tensor_numel(dseed) != lps_tensor_numel(&sv->t))
        return lps_fail(err, LPS_ERR_RUNTIME, "seed gradient for '%s' has the wrong size",
                        sv->name);
    lps_status st = ensure_grad(sv, err);
    if (st != LPS_OK)
        return st;
    memcpy(sv->grad.data, dseed->data, sv->grad.nbytes);
    for (size_t s = p->n_schedule; s-- > 0;) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (n->absorbed)
            continue;
        bool any = false;
        for (size_t j = 0; j < n->op.n_outputs; j++) {
            int v = n->out[j];
            n->dout_t[j] = (v >= 0 && p->values[v].grad_live) ? &p->values[v].grad : NULL;
            any = any || n->dout_t[j];
        }
        if (!any)
            continue;
        bool wants = false;
        n->op.din_fresh = 0;
        for (size_t i = 0; i < n->op.n_inputs; i++) {
            int v = n->in[i];
            n->din_t[i] = NULL;
            n->in_t[i] = v >= 0 ? &p->values[v].t : NULL;
            /* Gradients exist on float values only: an integer or bool input
             * (a Cast's source, Where's mask, an index) receives none. */
            if (v < 0 || !lps_op_input_differentiable(n->def, i) ||
                !p->values[v].needs_grad || p->values[v].t.dtype != LPS_DT_FLOAT)
                continue;
            st = ensure_input_grad(p, n, i, err);
            if (st != LPS_OK)
                return st;
            n->din_t[i] = &p->values[v].grad;
            wants = true;
        }
        if (!wants)
            continue;
        if (!n->def->backward)
            return lps_op_fail(&n->op, err, LPS_ERR_UNSUPPORTED, "has no backward pass");
        for (size_t j = 0; j < n->op.n_outputs; j++)
            n->out_t[j] = n->out[j] >= 0 ? &p->values[n->out[j]].t : &n->unused_out[j];
        st = n->def->backward(&n->op, ctx, n->in_t, (const lps_tensor *const *)n->out_t,
                              n->dout_t, n->din_t, err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

void lps_plan_zero_grads(lps_plan *p)
{
    if (p->grad_data)
        lps_par_zero(p->grad_data, p->param_floats);
}

size_t lps_plan_n_params(const lps_plan *p) { return p->n_params; }
const lps_param *lps_plan_param(const lps_plan *p, size_t i) { return &p->params[i]; }

float *lps_plan_param_data(lps_plan *p, size_t *n)
{
    if (n)
        *n = p->param_floats;
    return p->param_data;
}

float *lps_plan_grad_data(lps_plan *p, size_t *n)
{
    if (n)
        *n = p->param_floats;
    return p->grad_data;
}

lps_status lps_plan_write_params(const lps_plan *p, lps_model *m, lps_error *err)
{
    for (size_t k = 0; k < p->n_params; k++) {
        const lps_param *prm = &p->params[k];
        if (prm->initializer >= m->graph.n_initializers)
            return lps_fail(err, LPS_ERR_RUNTIME, "parameter '%s' is not in this model", prm->name);
        lps_initializer *init = &m->graph.initializers[prm->initializer];
        if ((size_t)lps_tensor_numel(&init->tensor) != prm->numel ||
            init->tensor.dtype != LPS_DT_FLOAT)
            return lps_fail(err, LPS_ERR_RUNTIME, "initializer '%s' changed shape", prm->name);
        if (prm->numel)
            memcpy(init->tensor.data, p->param_data + prm->offset, prm->numel * sizeof(float));
        init->modified = true;
    }
    return LPS_OK;
}

void lps_plan_release_runtime(lps_plan *p)
{
    for (size_t v = 0; v < p->n_values; v++) {
        lps_value *val = &p->values[v];
        free(val->buf);
        val->buf = NULL;
        if (val->kind != LPS_VALUE_PARAM)
            lps_tensor_release(&val->grad);
    }
    for (size_t k = 0; k < p->n_nodes; k++)
        for (size_t j = 0; j < p->nodes[k].op.n_outputs; j++) {
            if (p->nodes[k].unused_out)
                lps_tensor_release(&p->nodes[k].unused_out[j]);
            if (p->nodes[k].seen)
                lps_tensor_release(&p->nodes[k].seen[j]);
        }
    p->shape_cache_valid = false;
    for (size_t i = 0; i < p->n_pool; i++)
        free(p->pool[i]);
    free(p->pool);
    free(p->pool_caps);
    p->pool = NULL;
    p->pool_caps = NULL;
    p->n_pool = p->pool_capacity = 0;
}

/* Runs n's update_state on the initializers its state inputs read, when
 * all of them are initializers (state computed in-graph has nothing to
 * keep), and marks them modified. */
static lps_status update_node_state(lps_plan *p, lps_plan_node *n, lps_model *m, lps_error *err)
{
    lps_tensor *state[LPS_OP_MAX_IO] = {0};
    for (size_t i = 0; i < n->op.n_inputs && i < LPS_OP_MAX_IO; i++) {
        if (!(n->def->state_inputs & (1u << i)))
            continue;
        if (n->in[i] < 0 || p->values[n->in[i]].initializer < 0)
            return LPS_OK;
        state[i] = &m->graph.initializers[p->values[n->in[i]].initializer].tensor;
    }
    lps_status st = n->def->update_state(&n->op, state, err);
    for (size_t i = 0; i < LPS_OP_MAX_IO && st == LPS_OK; i++)
        if (state[i])
            m->graph.initializers[p->values[n->in[i]].initializer].modified = true;
    return st;
}

lps_status lps_plan_update_state(lps_plan *p, lps_model *m, lps_error *err)
{
    for (size_t s = 0; s < p->n_schedule; s++) {
        lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!n->def->update_state)
            continue;
        lps_status st = update_node_state(p, n, m, err);
        if (st != LPS_OK)
            return st;
    }
    return LPS_OK;
}

lps_status lps_plan_each_state(const lps_plan *p, lps_model *m,
                               lps_status (*fn)(lps_tensor *t, void *user, lps_error *err),
                               void *user, lps_error *err)
{
    for (size_t s = 0; s < p->n_schedule; s++) {
        const lps_plan_node *n = &p->nodes[p->schedule[s]];
        if (!n->def->update_state)
            continue;
        for (size_t i = 0; i < n->op.n_inputs && i < LPS_OP_MAX_IO; i++) {
            if (!(n->def->state_inputs & (1u << i)) || n->in[i] < 0 ||
                p->values[n->in[i]].initializer < 0)
                continue;
            lps_status st = fn(&m->graph.initializers[p->values[n->in[i]].initializer].tensor,
                               user, err);
            if (st != LPS_OK)
                return st;
        }
    }
    return LPS_OK;
}
