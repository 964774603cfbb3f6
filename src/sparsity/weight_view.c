#include "sparsity/weight_view.h"

#include <stdlib.h>
#include <string.h>

#include "core/name_map.h"
#include "lpsparsify/engine.h"
#include "ops/op.h"

/* Deepest chain of nodes followed back from a weight input; real exports
 * need a few (Slice -> Concat -> Unsqueeze -> Concat). */
#define TRACE_DEPTH_MAX 64

struct lps_view_tracer {
    const lps_graph *g;
    int64_t opset;
    lps_name_map producers;  /* value name -> index of the node writing it */
    int64_t *base;           /* [n_initializers]: code of element 0, -1 unassigned */
    size_t *coded;           /* initializers with a base, in increasing base order */
    size_t n_coded;
    int64_t next_code;
    lps_exec_ctx *ctx;       /* for running view and constant nodes; made on first use */
};

lps_view_tracer *lps_view_tracer_new(const lps_graph *g, int64_t opset, lps_error *err)
{
    lps_view_tracer *t = calloc(1, sizeof *t);
    if (!t) {
        lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
        return NULL;
    }
    t->g = g;
    t->opset = opset;
    t->base = malloc((g->n_initializers + 1) * sizeof *t->base);
    t->coded = malloc((g->n_initializers + 1) * sizeof *t->coded);
    if (!t->base || !t->coded || lps_name_map_init(&t->producers, g->n_nodes, err) != LPS_OK)
        goto fail;
    for (size_t i = 0; i < g->n_initializers; i++)
        t->base[i] = -1;
    for (size_t k = 0; k < g->n_nodes; k++)
        for (size_t j = 0; j < g->nodes[k].n_outputs; j++) {
            const char *out = g->nodes[k].outputs[j];
            /* a value written twice is an invalid graph that compile reports */
            if (out[0] && lps_name_map_get(&t->producers, out) < 0 &&
                lps_name_map_put(&t->producers, out, (int)k, err) != LPS_OK)
                goto fail;
        }
    return t;
fail:
    lps_view_tracer_free(t);
    lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
    return NULL;
}

void lps_view_tracer_free(lps_view_tracer *t)
{
    if (!t)
        return;
    lps_name_map_release(&t->producers);
    lps_exec_ctx_free(t->ctx);
    free(t->base);
    free(t->coded);
    free(t);
}

static lps_status eval(lps_view_tracer *t, const char *name, bool trace, int depth,
                       lps_tensor *out, bool *ok, lps_error *err);

/* Codes of initializer i's elements: its base plus the flat offset. */
static lps_status code_initializer(lps_view_tracer *t, size_t i, lps_tensor *out, lps_error *err)
{
    const lps_tensor *w = &t->g->initializers[i].tensor;
    lps_status st = lps_tensor_alloc(out, LPS_DT_INT64, w->rank, w->dims, err);
    if (st != LPS_OK)
        return st;
    int64_t n = lps_tensor_numel(w);
    if (t->base[i] < 0) {
        t->base[i] = t->next_code;
        t->coded[t->n_coded++] = i;
        t->next_code += n;
    }
    int64_t *c = lps_tensor_i64(out);
    for (int64_t k = 0; k < n; k++)
        c[k] = t->base[i] + k;
    return LPS_OK;
}

/* Runs node k on in[] (NULL for an omitted input) and moves its output
 * `slot` into *out. */
static lps_status run_node(lps_view_tracer *t, size_t k, const lps_tensor *const *in, size_t slot,
                           lps_tensor *out, lps_error *err)
{
    const lps_node *n = &t->g->nodes[k];
    lps_op_node op;
    lps_tensor **outs = calloc(n->n_outputs + 1, sizeof *outs);
    lps_status st = outs ? LPS_OK : lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
    if (st == LPS_OK && !t->ctx && !(t->ctx = lps_exec_ctx_new(NULL, err)))
        st = LPS_ERR_NOMEM;
    if (st != LPS_OK) {
        free(outs);
        return st;
    }
    outs[slot] = out;
    st = lps_op_node_init(&op, n, k, t->opset, err);
    if (st == LPS_OK)
        st = lps_op_run_forward(&op, t->ctx, in, outs, err);
    lps_op_node_release(&op);
    free(outs);
    if (st != LPS_OK)
        lps_tensor_release(out);
    return st;
}

/* Evaluates the inputs of node k (traced for a view's differentiable
 * inputs, values otherwise) and runs it. */
static lps_status eval_node(lps_view_tracer *t, size_t k, const lps_op_def *def, bool trace,
                            int depth, const char *name, lps_tensor *out, bool *ok,
                            lps_error *err)
{
    const lps_node *n = &t->g->nodes[k];
    lps_tensor *vals = calloc(n->n_inputs + 1, sizeof *vals);
    const lps_tensor **in = calloc(n->n_inputs + 1, sizeof *in);
    lps_status st = vals && in ? LPS_OK
                               : lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
    for (size_t i = 0; st == LPS_OK && *ok && i < n->n_inputs; i++) {
        if (!n->inputs[i][0])
            continue;
        bool coded = trace && lps_op_input_differentiable(def, i);
        st = eval(t, n->inputs[i], coded, depth + 1, &vals[i], ok, err);
        in[i] = &vals[i];
    }
    size_t slot = 0;
    while (slot < n->n_outputs && strcmp(n->outputs[slot], name) != 0)
        slot++;
    if (st == LPS_OK && *ok)
        st = run_node(t, k, in, slot, out, err);
    for (size_t i = 0; vals && i < n->n_inputs; i++)
        lps_tensor_release(&vals[i]);
    free(vals);
    free(in);
    return st;
}

/* Value `name`: with trace, the codes of a float initializer or of a
 * weight view's output; without, the constant value (an initializer, or a
 * node of constant inputs that draws no random numbers). *ok false when
 * it is neither (a graph input, a computed activation). */
static lps_status eval(lps_view_tracer *t, const char *name, bool trace, int depth,
                       lps_tensor *out, bool *ok, lps_error *err)
{
    const lps_initializer *init = lps_graph_find_initializer(t->g, name);
    if (init && trace && init->tensor.dtype == LPS_DT_FLOAT)
        return code_initializer(t, (size_t)(init - t->g->initializers), out, err);
    if (init && !trace)
        return lps_tensor_copy(out, &init->tensor, err);
    int k = init || depth >= TRACE_DEPTH_MAX ? -1 : lps_name_map_get(&t->producers, name);
    const lps_node *n = k >= 0 ? &t->g->nodes[k] : NULL;
    const lps_op_def *def = n ? lps_op_find(n->domain, n->op_type, t->opset) : NULL;
    if (!def || (trace && !def->weight_view) || def->stochastic) {
        *ok = false;
        return LPS_OK;
    }
    return eval_node(t, (size_t)k, def, trace, depth, name, out, ok, err);
}

lps_status lps_view_trace(lps_view_tracer *t, const char *name, lps_tensor *traced, bool *found,
                          lps_error *err)
{
    memset(traced, 0, sizeof *traced);
    *found = true;
    lps_status st = eval(t, name, true, 0, traced, found, err);
    if (st != LPS_OK || !*found) {
        lps_tensor_release(traced);
        *found = false;
    }
    return st;
}

/* The initializer (index into t->coded) whose codes hold `code`. */
static size_t source_of(const lps_view_tracer *t, int64_t code)
{
    size_t lo = 0, hi = t->n_coded;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->base[t->coded[mid]] <= code)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Up to two strided runs of axes (innermost first) of one side of a
 * layout: the rows (count, stride, rows per group, group stride) or the
 * positions (length, stride, block length, block stride). */
typedef struct axis_runs {
    int n;
    int64_t dim[2], stride[2];
} axis_runs;

static void runs_to_layout(const axis_runs *r, int64_t *count, int64_t *stride, int64_t *inner,
                           int64_t *outer_stride)
{
    *count = r->n > 0 ? r->dim[0] * (r->n > 1 ? r->dim[1] : 1) : 1;
    *stride = r->n > 0 ? r->stride[0] : 1;
    *inner = r->n > 1 ? r->dim[0] : 0;
    *outer_stride = r->n > 1 ? r->stride[1] : 0;
}

bool lps_view_layout_from_axes(int rank, const int64_t *dims, uint32_t fanin_mask,
                               lps_row_layout *out)
{
    enum { UNITS = 0, FANIN = 1 };
    axis_runs runs[2] = {{0}, {0}}; /* [role] */
    int last_role = -1;
    int64_t stride = 1;
    for (int a = rank - 1; a >= 0; stride *= dims[a], a--) {
        if (dims[a] == 1)
            continue;
        int role = (fanin_mask >> a) & 1u;
        axis_runs *r = &runs[role];
        if (role != last_role) {
            if (r->n == 2)
                return false;
            r->dim[r->n] = 1;
            r->stride[r->n++] = stride;
            last_role = role;
        }
        r->dim[r->n - 1] *= dims[a];
    }
    lps_row_layout l;
    runs_to_layout(&runs[UNITS], &l.n_rows, &l.row_stride, &l.group_rows, &l.group_stride);
    runs_to_layout(&runs[FANIN], &l.row_len, &l.elem_stride, &l.block_len, &l.block_stride);
    *out = l;
    return true;
}

/* Bit a set when position offsets of one row differ along axis a. */
static uint32_t varying_axes(const lps_tensor *w, const int64_t *offsets, int64_t n)
{
    uint32_t mask = 0;
    for (int64_t i = 1; i < n; i++) {
        int64_t a0 = offsets[0], ai = offsets[i];
        for (int a = w->rank - 1; a >= 0; a--) {
            if (a0 % w->dims[a] != ai % w->dims[a])
                mask |= 1u << a;
            a0 /= w->dims[a];
            ai /= w->dims[a];
        }
    }
    return mask;
}

/* Checks that the consumer rows mapped to source src are the rows of
 * *layout, each element of the initializer used exactly once (a view that
 * drops part of it leaves rows the consumer does not define); *in_order
 * when row j is layout row j. */
static lps_status check_rows(const lps_view_tracer *t, const lps_tensor *traced,
                             const lps_row_layout *rows, size_t src, const size_t *row_source,
                             const lps_row_layout *layout, bool *ok, bool *in_order,
                             lps_error *err)
{
    const lps_tensor *w = &t->g->initializers[t->coded[src]].tensor;
    int64_t numel = lps_tensor_numel(w), base = t->base[t->coded[src]];
    int64_t *row_of = malloc((size_t)(numel + 1) * sizeof *row_of);
    unsigned char *seen = calloc((size_t)numel + 1, 1);
    if (!row_of || !seen) {
        free(row_of);
        free(seen);
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
    }
    for (int64_t r = 0; r < layout->n_rows; r++)
        for (int64_t i = 0; i < layout->row_len; i++)
            row_of[lps_row_offset(layout, r, i)] = r;
    const int64_t *code = lps_tensor_i64(traced);
    int64_t used = 0;
    *ok = rows->row_len == layout->row_len;
    *in_order = true;
    for (int64_t j = 0; j < rows->n_rows && *ok; j++) {
        if (row_source[j] != src)
            continue;
        used += rows->row_len;
        int64_t r = row_of[code[lps_row_offset(rows, j, 0)] - base];
        *in_order = *in_order && r == j;
        for (int64_t i = 0; i < rows->row_len && *ok; i++) {
            int64_t off = code[lps_row_offset(rows, j, i)] - base;
            *ok = !seen[off] && row_of[off] == r;
            seen[off] = 1;
        }
    }
    *ok = *ok && used == numel;
    free(row_of);
    free(seen);
    return LPS_OK;
}

/* Positions per input channel of a row over the fan-in axes in
 * fanin_mask: the outermost of them (of size > 1) is the channel axis. */
static int64_t channel_taps(const lps_tensor *w, uint32_t fanin_mask, int64_t row_len)
{
    for (int a = 0; a < w->rank; a++)
        if (((fanin_mask >> a) & 1u) && w->dims[a] > 1)
            return row_len / w->dims[a];
    return 1;
}

/* The layout of source src from the first consumer row j0 it feeds: the
 * axes its positions vary along are the fan-in. */
static lps_status source_layout(const lps_view_tracer *t, const lps_tensor *traced,
                                const lps_row_layout *rows, size_t src, int64_t j0,
                                lps_row_layout *layout, int64_t *taps, bool *ok, lps_error *err)
{
    const lps_tensor *w = &t->g->initializers[t->coded[src]].tensor;
    int64_t *offsets = malloc((size_t)(rows->row_len + 1) * sizeof *offsets);
    if (!offsets)
        return lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
    const int64_t *code = lps_tensor_i64(traced);
    for (int64_t i = 0; i < rows->row_len; i++)
        offsets[i] = code[lps_row_offset(rows, j0, i)] - t->base[t->coded[src]];
    uint32_t fanin = varying_axes(w, offsets, rows->row_len);
    free(offsets);
    *ok = lps_view_layout_from_axes(w->rank, w->dims, fanin, layout);
    *taps = channel_taps(w, fanin, rows->row_len);
    return LPS_OK;
}

/* row_source[j]: the source of consumer row j, or SIZE_MAX when the row
 * mixes initializers (then *ok is false). */
static void assign_rows(const lps_view_tracer *t, const lps_tensor *traced,
                        const lps_row_layout *rows, size_t *row_source, bool *ok)
{
    const int64_t *code = lps_tensor_i64(traced);
    for (int64_t j = 0; j < rows->n_rows && *ok; j++) {
        size_t s = source_of(t, code[lps_row_offset(rows, j, 0)]);
        for (int64_t i = 1; i < rows->row_len && *ok; i++)
            *ok = source_of(t, code[lps_row_offset(rows, j, i)]) == s;
        row_source[j] = s;
    }
}

lps_status lps_view_split_rows(const lps_view_tracer *t, const lps_tensor *traced,
                               const lps_row_layout *rows, const char *label,
                               lps_view_source *out, size_t *n_out, bool *ok, lps_error *err)
{
    lps_status st = LPS_OK;
    *n_out = 0;
    *ok = rows->n_rows > 0 && rows->row_len > 0 && t->n_coded > 0;
    size_t *row_source = malloc((size_t)(rows->n_rows + 1) * sizeof *row_source);
    bool *listed = calloc(t->n_coded + 1, sizeof *listed);
    if (!row_source || !listed) {
        st = lps_fail(err, LPS_ERR_NOMEM, "out of memory tracing weights");
        goto cleanup;
    }
    if (*ok)
        assign_rows(t, traced, rows, row_source, ok);
    for (int64_t j = 0; j < rows->n_rows && *ok && st == LPS_OK; j++) {
        size_t s = row_source[j];
        if (listed[s])
            continue;
        if (*n_out == LPS_VIEW_MAX_SOURCES) {
            st = lps_fail(err, LPS_ERR_UNSUPPORTED,
                          "node '%s': weight gathers rows of more than %d initializers", label,
                          LPS_VIEW_MAX_SOURCES);
            break;
        }
        lps_view_source *v = &out[(*n_out)++];
        listed[s] = true;
        v->init_index = t->coded[s];
        st = source_layout(t, traced, rows, s, j, &v->layout, &v->taps, ok, err);
        if (st == LPS_OK && *ok)
            st = check_rows(t, traced, rows, s, row_source, &v->layout, ok, &v->rows_in_order,
                            err);
    }
    for (size_t k = 0; k < *n_out; k++)
        out[k].rows_in_order = out[k].rows_in_order && *n_out == 1;
cleanup:
    if (st != LPS_OK || !*ok)
        *n_out = 0;
    free(row_source);
    free(listed);
    return st;
}
