/* The sequence driver shared by RNN, GRU and LSTM (see rnn.h): input
 * checks, output shapes, forward over both directions and
 * backpropagation through time. GEMMs go through cblas_sgemm. */
#include "ops/rnn.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

/* op->saved[]: the tape between a training forward and backward, and the
 * workspaces of forward and backward (rnn_bufs, and backward's
 * rnn_back.dgh_all), kept between calls so that
 * a training step does not map and fault in megabytes of fresh pages. */
enum { RNN_SAVED_TAPE = 0, RNN_SAVED_WORK = 1, RNN_SAVED_DGH = 2 };

/* Makes t a float tensor of n elements in *data, reusing its storage when
 * it already is one; zeroed when `zero` (new storage always is). Fails
 * (LPS_ERR_NOMEM, naming the node and what) leaving t empty. */
static lps_status keep_floats(lps_op_node *op, lps_tensor *t, int64_t n, bool zero,
                              const char *what, float **data, lps_error *err)
{
    if (t->dtype == LPS_DT_FLOAT && t->data && lps_tensor_numel(t) == (n > 0 ? n : 1)) {
        if (zero)
            memset(t->data, 0, (size_t)n * sizeof(float));
        *data = lps_tensor_f32(t);
        return LPS_OK;
    }
    lps_tensor_release(t);
    int64_t dims[1] = {n > 0 ? n : 1};
    lps_status st = lps_tensor_alloc(t, LPS_DT_FLOAT, 1, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s: %s", op->label, what);
    *data = lps_tensor_f32(t);
    return LPS_OK;
}

/* Sizes of one call, from the inputs. */
typedef struct rnn_dims {
    int64_t seq, batch, input, hidden, dirs;
    int64_t gates, rec;  /* G and rec_gates */
    int64_t gh;          /* G * H: gate rows per direction */
    int64_t width;       /* tape row floats */
    const int32_t *lens; /* sequence_lens, NULL when omitted */
} rnn_dims;

static const lps_tensor *input_of(const lps_op_node *op, const lps_tensor *const *in, int i)
{
    return op->n_inputs > (size_t)i ? in[i] : NULL;
}

/* Fails unless t is float with exactly the dims want[0..rank-1]. */
static lps_status expect_shape(const lps_op_node *op, const lps_tensor *t, int index, int rank,
                               const int64_t *want, lps_error *err)
{
    char got[128], exp[128];
    lps_status st = lps_op_expect_dtype(op, t, index, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    if (t->rank != rank || memcmp(t->dims, want, (size_t)rank * sizeof *want) != 0)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "input %d has shape %s, expected %s", index,
                           lps_shape_str(t->rank, t->dims, got, sizeof got),
                           lps_shape_str(rank, want, exp, sizeof exp));
    return LPS_OK;
}

/* sequence_lens: int32 [batch], each in [0, seq]. */
static lps_status check_lens(const lps_op_node *op, const lps_tensor *t, rnn_dims *d,
                             lps_error *err)
{
    lps_status st = lps_op_expect_dtype(op, t, RNN_IN_SEQ_LENS, LPS_DT_INT32, err);
    if (st != LPS_OK)
        return st;
    if (t->rank != 1 || t->dims[0] != d->batch)
        return lps_op_fail(op, err, LPS_ERR_INVALID, "sequence_lens must be [%lld]",
                           (long long)d->batch);
    d->lens = (const int32_t *)t->data;
    for (int64_t b = 0; b < d->batch; b++)
        if (d->lens[b] < 0 || d->lens[b] > d->seq)
            return lps_op_fail(op, err, LPS_ERR_INVALID,
                               "sequence_lens[%lld] is %d, outside [0, %lld]", (long long)b,
                               (int)d->lens[b], (long long)d->seq);
    return LPS_OK;
}

/* The optional inputs after X, W, R: B, sequence_lens, states, P. */
static lps_status check_optional(const lps_op_node *op, const lps_tensor *const *in, rnn_dims *d,
                                 lps_error *err)
{
    const rnn_params *p = op->params;
    int64_t bias[2] = {d->dirs, 2 * d->gh}, peep[2] = {d->dirs, RNN_PEEPHOLES * d->hidden};
    int64_t state[3] = {d->dirs, d->batch, d->hidden};
    if (p->batch_first)
        state[0] = d->batch, state[1] = d->dirs;
    const lps_tensor *t;
    lps_status st = LPS_OK;
    if ((t = input_of(op, in, RNN_IN_B)))
        st = expect_shape(op, t, RNN_IN_B, 2, bias, err);
    if (st == LPS_OK && (t = input_of(op, in, RNN_IN_SEQ_LENS)))
        st = check_lens(op, t, d, err);
    if (st == LPS_OK && (t = input_of(op, in, RNN_IN_INITIAL_H)))
        st = expect_shape(op, t, RNN_IN_INITIAL_H, 3, state, err);
    if (st == LPS_OK && (t = input_of(op, in, RNN_IN_INITIAL_C)))
        st = expect_shape(op, t, RNN_IN_INITIAL_C, 3, state, err);
    if (st == LPS_OK && (t = input_of(op, in, RNN_IN_P)))
        st = expect_shape(op, t, RNN_IN_P, 2, peep, err);
    return st;
}

/* Fills d from the inputs; fails naming the node on a wrong type or shape
 * and on sizes beyond BLAS's int indexing. */
static lps_status dims_of(const lps_op_node *op, const lps_tensor *const *in, rnn_dims *d,
                          lps_error *err)
{
    const rnn_params *p = op->params;
    const lps_tensor *x = in[RNN_IN_X], *w = in[RNN_IN_W], *r = in[RNN_IN_R];
    char sx[128], sr[128];
    lps_status st = lps_op_expect_dtype(op, x, RNN_IN_X, LPS_DT_FLOAT, err);
    if (st == LPS_OK)
        st = lps_op_expect_dtype(op, r, RNN_IN_R, LPS_DT_FLOAT, err);
    if (st != LPS_OK)
        return st;
    memset(d, 0, sizeof *d);
    d->gates = p->cell->gates;
    d->rec = p->cell->rec_gates(p);
    d->dirs = p->n_dirs;
    if (x->rank != 3 || r->rank != 3 || r->dims[0] != d->dirs || r->dims[1] % d->gates != 0 ||
        r->dims[1] / d->gates != r->dims[2] || (p->hidden_size > 0 && r->dims[2] != p->hidden_size))
        return lps_op_fail(op, err, LPS_ERR_INVALID,
                           "X %s and R %s do not fit %lld direction(s) of %d gates of "
                           "hidden_size %lld",
                           lps_shape_str(x->rank, x->dims, sx, sizeof sx),
                           lps_shape_str(r->rank, r->dims, sr, sizeof sr), (long long)d->dirs,
                           p->cell->gates, (long long)p->hidden_size);
    d->seq = x->dims[p->batch_first ? 1 : 0];
    d->batch = x->dims[p->batch_first ? 0 : 1];
    d->input = x->dims[2];
    d->hidden = r->dims[2];
    d->gh = d->gates * d->hidden;
    d->width = (d->gates + 1 + (p->cell->has_c ? 1 : 0) + p->cell->extra) * d->hidden;
    int64_t wd[3] = {d->dirs, d->gh, d->input};
    st = expect_shape(op, w, RNN_IN_W, 3, wd, err);
    if (st == LPS_OK)
        st = check_optional(op, in, d, err);
    if (st == LPS_OK && (d->seq * d->batch > INT_MAX || d->dirs * d->gh > INT_MAX ||
                         d->input > INT_MAX || d->seq * d->batch * d->dirs * d->width > INT_MAX))
        return lps_op_fail(op, err, LPS_ERR_UNSUPPORTED, "dimensions exceed the BLAS index range");
    return st;
}

lps_status lps_rnn_shape(const lps_op_node *op, const lps_tensor *const *in, lps_shape *out,
                         lps_error *err)
{
    const rnn_params *p = op->params;
    rnn_dims d;
    lps_status st = dims_of(op, in, &d, err);
    if (st != LPS_OK)
        return st;
    for (size_t j = 0; j < op->n_outputs; j++) {
        lps_shape *s = &out[j];
        s->dtype = LPS_DT_FLOAT;
        if (j == RNN_OUT_Y) {
            int64_t y0[4] = {d.seq, d.dirs, d.batch, d.hidden};
            int64_t y1[4] = {d.batch, d.seq, d.dirs, d.hidden};
            s->rank = 4;
            memcpy(s->dims, p->batch_first ? y1 : y0, sizeof y0);
        } else {
            s->rank = 3;
            s->dims[0] = p->batch_first ? d.batch : d.dirs;
            s->dims[1] = p->batch_first ? d.dirs : d.batch;
            s->dims[2] = d.hidden;
        }
    }
    return LPS_OK;
}

/* ---- layout ---- */

/* Row of (time t, batch b) in X viewed as [seq * batch, input]. */
static int64_t x_row(const rnn_params *p, const rnn_dims *d, int64_t t, int64_t b)
{
    return p->batch_first ? b * d->seq + t : t * d->batch + b;
}

/* Offset of (t, dir, b) in Y. */
static int64_t y_offset(const rnn_params *p, const rnn_dims *d, int64_t t, int dir, int64_t b)
{
    int64_t row =
        p->batch_first ? (b * d->seq + t) * d->dirs + dir : (t * d->dirs + dir) * d->batch + b;
    return row * d->hidden;
}

/* Offset of (dir, b) in initial_h / initial_c / Y_h / Y_c. */
static int64_t state_offset(const rnn_params *p, const rnn_dims *d, int dir, int64_t b)
{
    return (p->batch_first ? b * d->dirs + dir : dir * d->batch + b) * d->hidden;
}

/* The time row b reads at step s of direction dir, or -1 once b's
 * sequence has ended. */
static int64_t step_time(const rnn_params *p, const rnn_dims *d, int dir, int64_t s, int64_t b)
{
    int64_t len = d->lens ? d->lens[b] : d->seq;
    if (s >= len)
        return -1;
    bool backwards = p->reverse || dir == 1;
    return backwards ? len - 1 - s : s;
}

/* ---- forward ---- */

/* Buffers of one forward or backward call, in one allocation. */
typedef struct rnn_bufs {
    float *block;
    float *proj;            /* [seq * batch, dirs * G*H]: the input projection, or its gradient */
    float *proj_bias;       /* [dirs * G*H]: the bias row of proj (forward) */
    float *gx, *gh;         /* [batch, G*H], [batch, rec*H] one step's projections (gh: dgh) */
    float *h, *c, *h2, *c2; /* [batch, H] state before / after a step (backward: their grads) */
    float *scratch;         /* [batch, G*H] */
    float *cell_scratch;    /* [batch, H] rnn_step.scratch */
} rnn_bufs;

/* Points u into op's workspace; zeroed when `zero`. */
static lps_status bufs_alloc(lps_op_node *op, const rnn_dims *d, bool zero, rnn_bufs *u,
                             lps_error *err)
{
    int64_t proj = d->seq * d->batch * d->dirs * d->gh, bias_row = d->dirs * d->gh;
    int64_t step = d->batch * d->gh, state = d->batch * d->hidden;
    lps_status st = keep_floats(op, &op->saved[RNN_SAVED_WORK],
                                proj + bias_row + 3 * step + 5 * state, zero, "workspace",
                                &u->block, err);
    if (st != LPS_OK)
        return st;
    u->proj = u->block;
    u->proj_bias = u->proj + proj;
    u->gx = u->proj_bias + bias_row;
    u->gh = u->gx + step;
    u->scratch = u->gh + step;
    u->h = u->scratch + step;
    u->c = u->h + state;
    u->h2 = u->c + state;
    u->c2 = u->h2 + state;
    u->cell_scratch = u->c2 + state;
    return LPS_OK;
}

/* proj = X W^T for all time steps and directions in one GEMM, and the
 * bias row step_inputs adds to it: Wb, plus Rb for gate rows the recurrent
 * GEMM does not cover. */
static void project_inputs(const rnn_dims *d, const lps_tensor *const *in, const lps_tensor *bias,
                           float *proj, float *proj_bias)
{
    int64_t rows = d->seq * d->batch, cols = d->dirs * d->gh;
    for (int64_t k = 0; k < cols; k++) {
        int64_t dir = k / d->gh, g = k % d->gh;
        const float *wb = bias ? lps_tensor_f32(bias) + dir * 2 * d->gh : NULL;
        proj_bias[k] = wb ? wb[g] + (g >= d->rec * d->hidden ? wb[d->gh + g] : 0.0f) : 0.0f;
    }
    if (rows == 0 || cols == 0)
        return;
    if (d->input == 0) {
        memset(proj, 0, (size_t)(rows * cols) * sizeof *proj);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)d->input, 1.0f,
                lps_tensor_f32(in[RNN_IN_X]), lps_rnn_ld(d->input), lps_tensor_f32(in[RNN_IN_W]),
                lps_rnn_ld(d->input), 0.0f, proj, lps_rnn_ld(cols));
}

/* gh = h R[:rec*H]^T + Rb[:rec*H] for one step of direction dir. */
static void recurrent_product(const rnn_dims *d, const lps_tensor *const *in,
                              const lps_tensor *bias, int dir, const float *h, float *gh)
{
    int64_t n = d->rec * d->hidden;
    const float *rb = bias ? lps_tensor_f32(bias) + dir * 2 * d->gh + d->gh : NULL;
    for (int64_t b = 0; b < d->batch; b++) {
        if (rb)
            memcpy(gh + b * n, rb, (size_t)n * sizeof *gh);
        else
            memset(gh + b * n, 0, (size_t)n * sizeof *gh);
    }
    if (d->batch == 0 || n == 0 || d->hidden == 0)
        return;
    const float *r = lps_tensor_f32(in[RNN_IN_R]) + dir * d->gh * d->hidden;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->batch, (int)n, (int)d->hidden,
                1.0f, h, lps_rnn_ld(d->hidden), r, lps_rnn_ld(d->hidden), 1.0f, gh, lps_rnn_ld(n));
}

/* Copies (dir, b) of a state-shaped array (initial_h, dY_h, ...; NULL
 * reads as zeros) into dst [batch, H]. */
static void load_state(const rnn_params *p, const rnn_dims *d, const float *src, int dir,
                       float *dst)
{
    for (int64_t b = 0; b < d->batch; b++) {
        float *row = dst + b * d->hidden;
        if (src)
            memcpy(row, src + state_offset(p, d, dir, b), (size_t)d->hidden * sizeof *row);
        else
            memset(row, 0, (size_t)d->hidden * sizeof *row);
    }
}

/* Copies src [batch, H] into (dir, b) of a state output or gradient,
 * adding when accumulate is set. */
static void store_state(const rnn_params *p, const rnn_dims *d, const float *src, int dir,
                        float *dst, bool accumulate)
{
    for (int64_t b = 0; b < d->batch; b++) {
        float *row = dst + state_offset(p, d, dir, b);
        for (int64_t j = 0; j < d->hidden; j++)
            row[j] = (accumulate ? row[j] : 0.0f) + src[b * d->hidden + j];
    }
}

/* Tape rows of step s of direction dir: one step's rows are reused when
 * the tape holds only one step. */
static float *tape_rows(const rnn_dims *d, float *tape, bool full, int dir, int64_t s)
{
    return full ? tape + (dir * d->seq + s) * d->batch * d->width : tape;
}

/* Points the tape fields of s at rows (see rnn.h). */
static void bind_tape(rnn_step *s, const rnn_dims *d, bool has_c, float *rows)
{
    s->pre = rows;
    s->h_prev = rows + d->gh;
    s->c_prev = has_c ? rows + d->gh + d->hidden : NULL;
    s->extra = rows + d->gh + d->hidden + (has_c ? d->hidden : 0);
    s->ld = d->width;
}

/* What one forward pass reads and writes. */
typedef struct rnn_pass {
    lps_op_node *op;
    const lps_tensor *const *in;
    rnn_dims d;
    rnn_bufs u;
    float *tape;
    bool full_tape;
    float *y, *y_h, *y_c; /* outputs, NULL when not wanted */
} rnn_pass;

/* Gathers step s's projected rows and saves the state into the tape. */
static void step_inputs(rnn_pass *ps, rnn_step *s, int dir, int64_t step)
{
    const rnn_params *p = ps->op->params;
    const rnn_dims *d = &ps->d;
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(p, d, dir, step, b);
        const float *src =
            ps->u.proj + x_row(p, d, t < 0 ? 0 : t, b) * d->dirs * d->gh + dir * d->gh;
        lps_rnn_add_rows(ps->u.gx + b * d->gh, src, ps->u.proj_bias + dir * d->gh, d->gh);
        memcpy((float *)s->h_prev + b * d->width, ps->u.h + b * d->hidden,
               (size_t)d->hidden * sizeof(float));
        if (s->c_prev)
            memcpy((float *)s->c_prev + b * d->width, ps->u.c + b * d->hidden,
                   (size_t)d->hidden * sizeof(float));
    }
}

/* After a step: rows whose sequence ended keep their state; the others
 * write Y. Then the new state becomes the current one. */
static void step_outputs(rnn_pass *ps, int dir, int64_t step)
{
    const rnn_params *p = ps->op->params;
    const rnn_dims *d = &ps->d;
    size_t row_bytes = (size_t)d->hidden * sizeof(float);
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(p, d, dir, step, b), o = b * d->hidden;
        if (t < 0) {
            memcpy(ps->u.h2 + o, ps->u.h + o, row_bytes);
            memcpy(ps->u.c2 + o, ps->u.c + o, row_bytes);
        } else if (ps->y) {
            memcpy(ps->y + y_offset(p, d, t, dir, b), ps->u.h2 + o, row_bytes);
        }
    }
    float *h = ps->u.h, *c = ps->u.c;
    ps->u.h = ps->u.h2, ps->u.c = ps->u.c2;
    ps->u.h2 = h, ps->u.c2 = c;
}

/* The fields of a step that stay fixed over direction dir's steps. */
static void step_init(rnn_step *s, const lps_op_node *op, const lps_tensor *const *in,
                      const rnn_dims *d, int dir)
{
    const lps_tensor *peep = input_of(op, in, RNN_IN_P);
    memset(s, 0, sizeof *s);
    s->p = op->params;
    s->dir = dir;
    s->batch = d->batch;
    s->hidden = d->hidden;
    s->r = lps_tensor_f32(in[RNN_IN_R]) + dir * d->gh * d->hidden;
    s->peep = peep ? lps_tensor_f32(peep) + dir * RNN_PEEPHOLES * d->hidden : NULL;
}

/* Runs direction dir over all steps. */
static void run_direction(rnn_pass *ps, int dir)
{
    const rnn_params *p = ps->op->params;
    const rnn_dims *d = &ps->d;
    const lps_tensor *bias = input_of(ps->op, ps->in, RNN_IN_B);
    rnn_step s;
    step_init(&s, ps->op, ps->in, d, dir);
    s.gx = ps->u.gx;
    s.gh = ps->u.gh;
    s.scratch = ps->u.cell_scratch;
    const lps_tensor *h0 = input_of(ps->op, ps->in, RNN_IN_INITIAL_H);
    const lps_tensor *c0 = input_of(ps->op, ps->in, RNN_IN_INITIAL_C);
    load_state(p, d, h0 ? lps_tensor_f32(h0) : NULL, dir, ps->u.h);
    load_state(p, d, c0 ? lps_tensor_f32(c0) : NULL, dir, ps->u.c);
    for (int64_t step = 0; step < d->seq; step++) {
        bind_tape(&s, d, p->cell->has_c, tape_rows(d, ps->tape, ps->full_tape, dir, step));
        step_inputs(ps, &s, dir, step);
        recurrent_product(d, ps->in, bias, dir, ps->u.h, ps->u.gh);
        s.h = ps->u.h2;
        s.c = ps->u.c2;
        p->cell->step_forward(&s);
        step_outputs(ps, dir, step);
    }
    if (ps->y_h)
        store_state(p, d, ps->u.h, dir, ps->y_h, false);
    if (ps->y_c)
        store_state(p, d, ps->u.c, dir, ps->y_c, false);
}

/* The whole forward: projection, then every direction. ps->tape must hold
 * a full tape when ps->full_tape, else one step. */
static lps_status run_forward(rnn_pass *ps, lps_error *err)
{
    const rnn_dims *d = &ps->d;
    lps_status st = bufs_alloc(ps->op, d, false, &ps->u, err);
    if (st != LPS_OK)
        return st;
    project_inputs(d, ps->in, input_of(ps->op, ps->in, RNN_IN_B), ps->u.proj, ps->u.proj_bias);
    if (ps->y)
        memset(ps->y, 0, (size_t)(d->seq * d->dirs * d->batch * d->hidden) * sizeof(float));
    for (int dir = 0; dir < d->dirs; dir++)
        run_direction(ps, dir);
    return LPS_OK;
}

static float *output_data(const lps_op_node *op, lps_tensor *const *out, int j)
{
    return op->n_outputs > (size_t)j && out[j] ? lps_tensor_f32(out[j]) : NULL;
}

lps_status lps_rnn_forward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                           lps_tensor *const *out, lps_error *err)
{
    rnn_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.op = op;
    ps.in = in;
    lps_status st = dims_of(op, in, &ps.d, err);
    if (st != LPS_OK)
        return st;
    lps_tensor *saved = &op->saved[RNN_SAVED_TAPE];
    ps.full_tape = ctx && lps_ctx_training(ctx);
    int64_t steps = ps.full_tape ? ps.d.dirs * ps.d.seq : 1;
    st = keep_floats(op, saved, steps * ps.d.batch * ps.d.width, false, "tape", &ps.tape, err);
    if (st != LPS_OK)
        return st;
    ps.y = output_data(op, out, RNN_OUT_Y);
    ps.y_h = output_data(op, out, RNN_OUT_Y_H);
    ps.y_c = output_data(op, out, RNN_OUT_Y_C);
    st = run_forward(&ps, err);
    if (st != LPS_OK || !ps.full_tape)
        lps_tensor_release(saved);
    return st;
}

/* ---- backward through time ---- */

/* What one backward pass reads and writes. */
typedef struct rnn_back {
    const lps_op_node *op;
    const lps_tensor *const *in;
    rnn_dims d;
    rnn_bufs u; /* proj: dL/d(projection), time-indexed like proj */
    const float *tape;
    float *dgh_all; /* [seq * batch, rec*H]: one direction's dgh, step-indexed */
    const float *dy, *dy_h, *dy_c;
    float *dr, *db, *dpeep, *d_init_h, *d_init_c;
} rnn_back;

/* Makes op->saved hold the full tape of these inputs: kept by a training
 * forward, or recomputed here. */
static lps_status ensure_tape(lps_op_node *op, const lps_tensor *const *in, const rnn_dims *d,
                              lps_error *err)
{
    lps_tensor *saved = &op->saved[RNN_SAVED_TAPE];
    int64_t n = d->dirs * d->seq * d->batch * d->width;
    if (saved->dtype == LPS_DT_FLOAT && lps_tensor_numel(saved) == n)
        return LPS_OK;
    lps_tensor_release(saved);
    int64_t dims[1] = {n};
    lps_status st = lps_tensor_alloc(saved, LPS_DT_FLOAT, 1, dims, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "%s: tape", op->label);
    rnn_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.op = op;
    ps.in = in;
    ps.d = *d;
    ps.tape = lps_tensor_f32(saved);
    ps.full_tape = true;
    return run_forward(&ps, err);
}

/* Before a step: adds dY to the rows still running and parks the gradient
 * of rows whose sequence has ended (they pass it through unchanged). */
static void back_step_inputs(rnn_back *bk, int dir, int64_t step)
{
    const rnn_params *p = bk->op->params;
    const rnn_dims *d = &bk->d;
    float *park_h = bk->u.scratch, *park_c = bk->u.scratch + d->batch * d->hidden;
    size_t row_bytes = (size_t)d->hidden * sizeof(float);
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(p, d, dir, step, b), o = b * d->hidden;
        if (t >= 0 && bk->dy) {
            const float *dy = bk->dy + y_offset(p, d, t, dir, b);
            for (int64_t j = 0; j < d->hidden; j++)
                bk->u.h[o + j] += dy[j];
        } else if (t < 0) {
            memcpy(park_h + o, bk->u.h + o, row_bytes);
            memset(bk->u.h + o, 0, row_bytes);
            if (p->cell->has_c) {
                memcpy(park_c + o, bk->u.c + o, row_bytes);
                memset(bk->u.c + o, 0, row_bytes);
            }
        }
    }
}

/* After a step: parked rows get their gradient back, running rows scatter
 * dgx into the projection gradient, and dh_prev gains dgh R. */
static void back_step_outputs(rnn_back *bk, const rnn_step *s, int dir, int64_t step)
{
    const rnn_params *p = bk->op->params;
    const rnn_dims *d = &bk->d;
    const float *park_h = bk->u.scratch, *park_c = bk->u.scratch + d->batch * d->hidden;
    size_t row_bytes = (size_t)d->hidden * sizeof(float);
    for (int64_t b = 0; b < d->batch; b++) {
        int64_t t = step_time(p, d, dir, step, b), o = b * d->hidden;
        if (t < 0) {
            memcpy(bk->u.h2 + o, park_h + o, row_bytes);
            if (p->cell->has_c)
                memcpy(bk->u.c2 + o, park_c + o, row_bytes);
        } else {
            memcpy(bk->u.proj + x_row(p, d, t, b) * d->dirs * d->gh + dir * d->gh,
                   s->dgx + b * d->gh, (size_t)d->gh * sizeof(float));
        }
    }
    int64_t n = d->rec * d->hidden;
    if (d->batch > 0 && n > 0 && d->hidden > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d->batch, (int)d->hidden,
                    (int)n, 1.0f, s->dgh, lps_rnn_ld(n), s->r, lps_rnn_ld(d->hidden), 1.0f,
                    bk->u.h2, lps_rnn_ld(d->hidden));
    float *h = bk->u.h, *c = bk->u.c;
    bk->u.h = bk->u.h2, bk->u.c = bk->u.c2;
    bk->u.h2 = h, bk->u.c2 = c;
}

/* dR[:rec*H] += dgh^T h_prev over all steps, and dRb[:rec*H] += sum dgh. */
static void recurrent_weight_grads(rnn_back *bk, int dir)
{
    const rnn_dims *d = &bk->d;
    int64_t rows = d->seq * d->batch, n = d->rec * d->hidden;
    const float *h_prev = bk->tape + dir * rows * d->width + d->gh;
    if (bk->dr && rows > 0 && n > 0 && d->hidden > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)d->hidden, (int)rows,
                    1.0f, bk->dgh_all, lps_rnn_ld(n), h_prev, lps_rnn_ld(d->width), 1.0f,
                    bk->dr + dir * d->gh * d->hidden, lps_rnn_ld(d->hidden));
    if (!bk->db)
        return;
    float *rb = bk->db + dir * 2 * d->gh + d->gh;
    for (int64_t i = 0; i < rows; i++)
        lps_rnn_acc_rows(rb, bk->dgh_all + i * n, n);
}

/* Backpropagates direction dir from its last step to its first. */
static void back_direction(rnn_back *bk, int dir)
{
    const rnn_params *p = bk->op->params;
    const rnn_dims *d = &bk->d;
    rnn_step s;
    step_init(&s, bk->op, bk->in, d, dir);
    s.dr = bk->dr ? bk->dr + dir * d->gh * d->hidden : NULL;
    s.dpeep = bk->dpeep ? bk->dpeep + dir * RNN_PEEPHOLES * d->hidden : NULL;
    s.dgx = bk->u.gx;
    s.scratch = bk->u.cell_scratch;
    load_state(p, d, bk->dy_h, dir, bk->u.h);
    load_state(p, d, bk->dy_c, dir, bk->u.c);
    for (int64_t step = d->seq; step-- > 0;) {
        bind_tape(&s, d, p->cell->has_c, (float *)tape_rows(d, (float *)bk->tape, true, dir, step));
        s.dgh = bk->dgh_all + step * d->batch * d->rec * d->hidden;
        back_step_inputs(bk, dir, step);
        s.dh = bk->u.h;
        s.dc = p->cell->has_c ? bk->u.c : NULL;
        s.dh_prev = bk->u.h2;
        s.dc_prev = p->cell->has_c ? bk->u.c2 : NULL;
        p->cell->step_backward(&s);
        back_step_outputs(bk, &s, dir, step);
    }
    if (bk->d_init_h)
        store_state(p, d, bk->u.h, dir, bk->d_init_h, true);
    if (bk->d_init_c)
        store_state(p, d, bk->u.c, dir, bk->d_init_c, true);
    recurrent_weight_grads(bk, dir);
}

/* dX += dP W, dW += dP^T X, dWb (and dRb past rec_gates) += sum dP, where
 * dP is the gradient of the projection. */
static void input_grads(rnn_back *bk, lps_tensor *const *din)
{
    const rnn_dims *d = &bk->d;
    int64_t rows = d->seq * d->batch, cols = d->dirs * d->gh;
    const float *dp = bk->u.proj;
    bool any = rows > 0 && cols > 0 && d->input > 0;
    if (din[RNN_IN_X] && any)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)d->input, (int)cols,
                    1.0f, dp, lps_rnn_ld(cols), lps_tensor_f32(bk->in[RNN_IN_W]),
                    lps_rnn_ld(d->input), 1.0f, lps_tensor_f32(din[RNN_IN_X]),
                    lps_rnn_ld(d->input));
    if (din[RNN_IN_W] && any)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, (int)d->input, (int)rows,
                    1.0f, dp, lps_rnn_ld(cols), lps_tensor_f32(bk->in[RNN_IN_X]),
                    lps_rnn_ld(d->input), 1.0f, lps_tensor_f32(din[RNN_IN_W]),
                    lps_rnn_ld(d->input));
    if (!bk->db)
        return;
    int64_t rec = d->rec * d->hidden;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t dir = 0; dir < d->dirs; dir++) {
            const float *v = dp + i * cols + dir * d->gh;
            float *wb = bk->db + dir * 2 * d->gh;
            lps_rnn_acc_rows(wb, v, d->gh);
            lps_rnn_acc_rows(wb + d->gh + rec, v + rec, d->gh - rec);
        }
}

static float *grad_data(const lps_op_node *op, const lps_tensor *const *in, lps_tensor *const *din,
                        int i)
{
    return input_of(op, in, i) && din[i] ? lps_tensor_f32(din[i]) : NULL;
}

static const float *dout_data(const lps_op_node *op, const lps_tensor *const *dout, int j)
{
    return op->n_outputs > (size_t)j && dout[j] ? lps_tensor_f32(dout[j]) : NULL;
}

lps_status lps_rnn_backward(lps_op_node *op, lps_exec_ctx *ctx, const lps_tensor *const *in,
                            const lps_tensor *const *out, const lps_tensor *const *dout,
                            lps_tensor *const *din, lps_error *err)
{
    (void)ctx;
    (void)out;
    rnn_back bk;
    memset(&bk, 0, sizeof bk);
    bk.op = op;
    bk.in = in;
    lps_status st = dims_of(op, in, &bk.d, err);
    if (st == LPS_OK)
        st = ensure_tape(op, in, &bk.d, err);
    if (st == LPS_OK)
        st = bufs_alloc(op, &bk.d, true, &bk.u, err);
    if (st != LPS_OK)
        return st;
    bk.tape = lps_tensor_f32(&op->saved[RNN_SAVED_TAPE]);
    st = keep_floats(op, &op->saved[RNN_SAVED_DGH], bk.d.seq * bk.d.batch * bk.d.rec * bk.d.hidden,
                     false, "gradient workspace", &bk.dgh_all, err);
    if (st != LPS_OK)
        return st;
    bk.dy = dout_data(op, dout, RNN_OUT_Y);
    bk.dy_h = dout_data(op, dout, RNN_OUT_Y_H);
    bk.dy_c = dout_data(op, dout, RNN_OUT_Y_C);
    bk.dr = grad_data(op, in, din, RNN_IN_R);
    bk.db = grad_data(op, in, din, RNN_IN_B);
    bk.dpeep = grad_data(op, in, din, RNN_IN_P);
    bk.d_init_h = grad_data(op, in, din, RNN_IN_INITIAL_H);
    bk.d_init_c = grad_data(op, in, din, RNN_IN_INITIAL_C);
    for (int dir = 0; dir < bk.d.dirs; dir++)
        back_direction(&bk, dir);
    input_grads(&bk, din);
    return LPS_OK;
}
