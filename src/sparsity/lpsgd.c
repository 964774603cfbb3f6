#include "sparsity/lpsgd.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "sparsity/lanes.h"
#include "sparsity/unitpow.h"

/* Nonzero when row j is the contiguous run [j * row_len, (j+1) * row_len). */
static int rows_contiguous(const lps_row_layout *l)
{
    return lps_rows_simple(l) && l->elem_stride == 1 && l->row_stride == l->row_len;
}

/* Nonzero when unit j is column j of a row-major [row_len, n_rows] tensor. */
static int columns_contiguous(const lps_row_layout *l)
{
    return lps_rows_simple(l) && l->row_stride == 1 && l->elem_stride == l->n_rows;
}

void lps_lpsgd_pack(const lps_lpsgd_state *st, const float *tensor_src, float *packed)
{
    const lps_row_layout *l = &st->layout;
    if (rows_contiguous(l)) {
        memcpy(packed, tensor_src, (size_t)st->numel * sizeof *packed);
        return;
    }
    /* Walk the source in memory order (column layout: position-major). */
    for (int64_t i = 0; i < l->row_len; i++)
        for (int64_t j = 0; j < l->n_rows; j++)
            packed[j * l->row_len + i] = tensor_src[lps_row_offset(l, j, i)];
}

lps_row_layout lps_lpsgd_packed_layout(const lps_lpsgd_state *st)
{
    lps_row_layout l = {.n_rows = st->layout.n_rows, .row_len = st->layout.row_len,
                        .row_stride = st->layout.row_len, .elem_stride = 1};
    return l;
}

/* ||x||_p of one row in double with the max factored out; 0 for a zero row. */
static double row_pnorm(const float *x, int64_t n, double p)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    if (m == 0.0)
        return 0.0;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += pow(fabs((double)x[i]) / m, p);
    return m * pow(sum, 1.0 / p);
}

void lps_lpsgd_free(lps_lpsgd_state *st)
{
    if (!st)
        return;
    free(st->gain);
    free(st->gain_momentum);
    free(st->u);
    free(st->v);
    free(st->momentum);
    free(st->mask);
    free(st->work);
    free(st->dgain);
    memset(st, 0, sizeof *st);
}

lps_status lps_lpsgd_init(lps_lpsgd_state *st, const float *w, lps_row_layout layout,
                          int64_t numel, double p, lps_error *err)
{
    memset(st, 0, sizeof *st);
    if (!(p >= LPS_LPSGD_P_MIN && p <= LPS_LPSGD_P_MAX))
        return lps_fail(err, LPS_ERR_INVALID, "lpsgd: p = %g outside [%g, %g]", p,
                        LPS_LPSGD_P_MIN, LPS_LPSGD_P_MAX);
    if (layout.n_rows <= 0 || layout.row_len <= 0 || layout.n_rows * layout.row_len != numel ||
        !(rows_contiguous(&layout) || columns_contiguous(&layout) || !lps_rows_simple(&layout)))
        return lps_fail(err, LPS_ERR_INVALID,
                        "lpsgd: row layout %lld x %lld (strides %lld, %lld) does not tile %lld "
                        "elements",
                        (long long)layout.n_rows, (long long)layout.row_len,
                        (long long)layout.row_stride, (long long)layout.elem_stride,
                        (long long)numel);
    for (int64_t k = 0; k < numel; k++)
        if (!isfinite(w[k]))
            return lps_fail(err, LPS_ERR_INVALID, "lpsgd: non-finite weight at element %lld",
                            (long long)k);
    size_t rows = (size_t)layout.n_rows;
    size_t n = (size_t)numel;
    st->layout = layout;
    st->numel = numel;
    st->p = p;
    st->q = p / (p - 1.0);
    st->gain = malloc(rows * sizeof *st->gain);
    st->gain_momentum = calloc(rows, sizeof *st->gain_momentum);
    st->dgain = malloc(rows * sizeof *st->dgain);
    st->u = malloc(n * sizeof *st->u);
    st->v = malloc(n * sizeof *st->v);
    st->momentum = calloc(n, sizeof *st->momentum);
    st->mask = malloc(n * sizeof *st->mask);
    st->work = malloc(n * sizeof *st->work);
    if (!st->gain || !st->gain_momentum || !st->dgain || !st->u || !st->v || !st->momentum ||
        !st->mask || !st->work) {
        lps_lpsgd_free(st);
        return lps_fail(err, LPS_ERR_NOMEM, "lpsgd: cannot allocate state for %lld weights",
                        (long long)numel);
    }
    memset(st->mask, 1, n);
    lps_lpsgd_pack(st, w, st->work);
    int64_t len = layout.row_len;
    for (int64_t j = 0; j < layout.n_rows; j++) {
        const float *wr = st->work + j * len;
        float *ur = st->u + j * len;
        float *vr = st->v + j * len;
        double g = row_pnorm(wr, len, p);
        st->gain[j] = (float)g;
        for (int64_t i = 0; i < len; i++) {
            double u = g > 0.0 ? (double)wr[i] / g : 0.0;
            ur[i] = (float)u;
            vr[i] = (float)copysign(pow(fabs(u), p - 1.0), u);
        }
    }
    return LPS_OK;
}

lps_status lps_lpsgd_hparams_check(const lps_lpsgd_hparams *hp, lps_error *err)
{
    if (!(hp->lr >= 0.0f && hp->lr < LPS_LPSGD_LR_LIMIT))
        return lps_fail(err, LPS_ERR_INVALID, "lpsgd: lr %g outside [0, %g)", (double)hp->lr,
                        LPS_LPSGD_LR_LIMIT);
    if (!(hp->momentum >= 0.0f && hp->momentum < 1.0f))
        return lps_fail(err, LPS_ERR_INVALID, "lpsgd: momentum %g outside [0, 1)",
                        (double)hp->momentum);
    if (hp->nesterov && hp->momentum == 0.0f)
        return lps_fail(err, LPS_ERR_INVALID, "lpsgd: nesterov requires momentum > 0");
    if (hp->freeze_gain)
        return LPS_OK;
    if (!(hp->gain_lr >= 0.0f) || !isfinite(hp->gain_lr))
        return lps_fail(err, LPS_ERR_INVALID, "lpsgd: gain lr %g must be finite and >= 0",
                        (double)hp->gain_lr);
    lps_status st = lps_sgd_config_check(&hp->gain_sgd, err);
    return st == LPS_OK ? LPS_OK : lps_error_prefix(err, "lpsgd gains");
}

/* sum_i t_i^q = sum_i y_i t_i for t_i = |x_i| / max|x| (y_i = t_i^(q-1),
 * written to y unless y is NULL): one power per element serves both the
 * q-norm and, for the latent update, u itself. */
static double row_power_sum(const float *x, float *y, int64_t n, float inv_max, float q_minus_1)
{
    return lps_pow_unit_dot(x, y, n, inv_max, q_minus_1) * inv_max;
}

/* One row's direction pass (row_direction), over which its vectors run. */
typedef struct direction_row {
    float g, mu;
    lps_vec_i nesterov;
    const uint8_t *mask;
    const float *u, *grad;
    float *mom, *d;
} direction_row;

/* row_direction on the LPS_LANES positions from i: writes the momentum
 * and d, raises *vmax to |d|, returns the masked gradient. */
LPS_LANE_FN lps_vec_f direction_lanes(const direction_row *r, int64_t i, lps_vec_f *vmax)
{
    lps_vec_i active = lps_vmask_bytes(r->mask + i);
    lps_vec_f masked = lps_vselect(active, lps_vload(r->grad + i), (lps_vec_f){0});
    lps_vec_f raw = r->g * masked;
    lps_vec_f b = lps_vselect(active, r->mu * lps_vload(r->mom + i) + raw, (lps_vec_f){0});
    lps_vstore(r->mom + i, b);
    lps_vec_f di = lps_vselect(r->nesterov, raw + r->mu * b, b);
    lps_vstore(r->d + i, di);
    *vmax = lps_vmax(lps_vabs(di), *vmax);
    return masked;
}

/* Momentum step on d(loss)/du = g * grad at active positions, in one pass
 * over the row: writes the search direction to d (which may alias grad),
 * stores d(loss)/dg = sum_i u_i mask_i grad_i in st->dgain[j] and returns
 * max |d|. */
LPS_LANE_CLONES
static float row_direction(lps_lpsgd_state *st, const lps_lpsgd_hparams *hp, int64_t j,
                           const float *grad, float *d)
{
    const int64_t n = st->layout.row_len;
    /* Nesterov is a lane mask, not a scalar ?: between vectors: gcc 12
     * compiles that, for AVX-512, to a one-lane k-mask (the look-ahead on
     * lane 0 only). */
    const direction_row r = {st->gain[j], hp->momentum, (lps_vec_i){0} + (hp->nesterov ? -1 : 0),
                             st->mask + j * n, st->u + j * n, grad, st->momentum + j * n, d};
    lps_vec_d dgain = lps_vzero_d();
    lps_vec_f vmax = {0};
    int64_t i = 0;
    for (; i + LPS_BLOCK <= n; i += LPS_BLOCK) {
        lps_vec_f m0 = direction_lanes(&r, i, &vmax);
        lps_vec_f m1 = direction_lanes(&r, i + LPS_LANES, &vmax);
        dgain = lps_vacc_block(dgain, lps_vload(r.u + i), m0, lps_vload(r.u + i + LPS_LANES), m1);
    }
    float dmax = lps_vmax_lanes(vmax);
    for (; i < n; i++) {
        float masked = r.mask[i] ? grad[i] : 0.0f;
        dgain = lps_vacc_first(dgain, (double)r.u[i] * (double)masked);
        float raw = r.g * masked;
        float b = r.mask[i] ? r.mu * r.mom[i] + raw : 0.0f;
        r.mom[i] = b;
        float di = hp->nesterov ? raw + r.mu * b : b;
        d[i] = di;
        float ad = fabsf(di);
        dmax = ad > dmax ? ad : dmax; /* not fmaxf: a libm call without -ffinite-math */
    }
    st->dgain[j] = (float)lps_vsum_d(dgain);
    return dmax;
}

/* Writes row j of the forward-pass weight g * u (masked positions 0) into
 * w, a tensor in st's layout. */
LPS_LANE_CLONES
static void export_row(const lps_lpsgd_state *st, int64_t j, float *w)
{
    const lps_row_layout *l = &st->layout;
    const float g = st->gain[j];
    const float *u = st->u + j * l->row_len;
    const uint8_t *mask = st->mask + j * l->row_len;
    int64_t i = 0;
    for (float *row = w + j * l->row_len; rows_contiguous(l) && i + LPS_LANES <= l->row_len;
         i += LPS_LANES)
        lps_vstore(row + i, lps_vselect(lps_vmask_bytes(mask + i), g * lps_vload(u + i),
                                        (lps_vec_f){0}));
    for (; i < l->row_len; i++)
        w[lps_row_offset(l, j, i)] = mask[i] ? g * u[i] : 0.0f;
}

/* x = (1 - lr) v - c d into d; returns max |x|. */
LPS_LANE_CLONES
static float row_relax(const float *v, float *d, int64_t n, float lr, float c)
{
    lps_vec_f vmax = {0};
    int64_t i = 0;
    for (; i + LPS_LANES <= n; i += LPS_LANES) {
        lps_vec_f x = (1.0f - lr) * lps_vload(v + i) - c * lps_vload(d + i);
        lps_vstore(d + i, x);
        vmax = lps_vmax(lps_vabs(x), vmax);
    }
    float xmax = lps_vmax_lanes(vmax);
    for (; i < n; i++) {
        float x = (1.0f - lr) * v[i] - c * d[i];
        d[i] = x;
        float ax = fabsf(x);
        xmax = ax > xmax ? ax : xmax;
    }
    return xmax;
}

/* The end of row j's update, one pass: v = x inv_norm, u = sign(x) y
 * u_scale (y held in u), and, when w is a rows-contiguous weight row, its
 * export mask ? g u : 0 with the row's new gain g. */
LPS_LANE_CLONES
static void row_finish(lps_lpsgd_state *st, int64_t j, const float *x, float inv_norm,
                       float u_scale, float *w)
{
    const int64_t n = st->layout.row_len;
    const float g = st->gain[j];
    const uint8_t *mask = st->mask + j * n;
    float *u = st->u + j * n;
    float *v = st->v + j * n;
    const lps_vec_u sign_bit = (lps_vec_u){0} + 0x80000000u;
    int64_t i = 0;
    for (; i + LPS_LANES <= n; i += LPS_LANES) {
        lps_vec_f xi = lps_vload(x + i);
        lps_vstore(v + i, xi * inv_norm);
        /* copysignf: the magnitude's bits with x's sign bit */
        lps_vec_u mag = (lps_vec_u)lps_vabs(lps_vload(u + i) * u_scale);
        lps_vec_f ui = (lps_vec_f)(mag | ((lps_vec_u)xi & sign_bit));
        lps_vstore(u + i, ui);
        if (w)
            lps_vstore(w + i, lps_vselect(lps_vmask_bytes(mask + i), g * ui, (lps_vec_f){0}));
    }
    for (; i < n; i++) {
        v[i] = x[i] * inv_norm;
        u[i] = copysignf(u[i] * u_scale, x[i]);
        if (w)
            w[i] = mask[i] ? g * u[i] : 0.0f;
    }
}

/* The gain's SGD step on st->dgain[j] (element-wise, so the whole-vector
 * step's value). */
static void row_gain_step(lps_lpsgd_state *st, const lps_lpsgd_hparams *hp, int64_t j)
{
    if (!hp->freeze_gain)
        lps_sgd_step(&hp->gain_sgd, hp->gain_lr, 1, st->gain + j, st->dgain + j,
                     st->gain_momentum + j);
}

/* The LpSGD update of row j given its direction d (overwritten with the
 * pre-normalisation x), then its gain's step; w, when not NULL, is a
 * rows-contiguous weight tensor whose row j gets the export. u serves as
 * scratch until its final write. */
static void row_update(lps_lpsgd_state *st, const lps_lpsgd_hparams *hp, int64_t j, float *d,
                       float dmax, float *w)
{
    const int64_t n = st->layout.row_len;
    const float lr = hp->lr;
    const double q = st->q;
    const float q_minus_1 = (float)(q - 1.0);
    float *u = st->u + j * n;
    float c = 0.0f; /* lr / ||d||_q */
    /* A direction below the smallest normal float would overflow 1 / dmax;
     * it carries no usable information, so it counts as no gradient. */
    if (dmax >= FLT_MIN) {
        double s = row_power_sum(d, NULL, n, 1.0f / dmax, q_minus_1);
        c = (float)((double)lr / ((double)dmax * pow(s, 1.0 / q)));
    }
    float xmax = row_relax(st->v + j * n, d, n, lr, c);
    if (xmax < FLT_MIN) {
        /* Only an all-zero v with no gradient gets here (||v||_q = 1 keeps
         * max |v| far above FLT_MIN otherwise): the row is dead. */
        memset(u, 0, (size_t)n * sizeof *u);
        row_gain_step(st, hp, j);
        if (w)
            export_row(st, j, w);
        return;
    }
    /* u = sign(x) (|x| / ||x||_q)^(q-1) = sign(x) y S^(-(q-1)/q), (q-1)/q = 1/p */
    double s = row_power_sum(d, u, n, 1.0f / xmax, q_minus_1);
    const float inv_norm = (float)(1.0 / ((double)xmax * pow(s, 1.0 / q)));
    const float u_scale = (float)pow(s, -1.0 / st->p);
    row_gain_step(st, hp, j);
    row_finish(st, j, d, inv_norm, u_scale, w ? w + j * n : NULL);
}

/* Index of the first non-finite x[k], or -1 when all are finite. Lanes
 * test !(|x| <= FLT_MAX), true for infinities and NaNs; their verdicts are
 * combined once at the end (a horizontal test per block costs more than
 * the test), and only a bad array is searched again for the index. */
LPS_LANE_CLONES
static int64_t first_non_finite(const float *x, int64_t n)
{
    lps_vec_i finite = (lps_vec_i){0} - 1;
    int64_t k = 0;
    for (; k + LPS_LANES <= n; k += LPS_LANES)
        finite &= lps_vabs(lps_vload(x + k)) <= FLT_MAX;
    for (k = lps_vall(finite) ? k : 0; k < n; k++)
        if (!isfinite(x[k]))
            return k;
    return -1;
}

/* Floating-point operations of one weight in a step, for the thread split
 * (core/par.h): the two powers' log2 and exp2 polynomials (about 30 each)
 * and the direction and update around them. */
#define LPSGD_FLOPS_PER_WEIGHT 80

/* Rows [begin, end) of one layer's step; each row reads and writes only
 * its own state, gain and (with w) weight row, so the result does not
 * depend on the cut. A row's gain takes its SGD step right after the row
 * (the step is element-wise, so this is the whole-vector step's value),
 * which lets the row be exported while it is in cache. */
static void step_rows(lps_lpsgd_state *st, const lps_lpsgd_hparams *hp, const float *grad,
                      float *w, int64_t begin, int64_t end)
{
    const int64_t n = st->layout.row_len;
    /* A rows-contiguous weight gets its rows written by the update's last
     * pass; another layout is scattered after it. */
    const int contiguous = rows_contiguous(&st->layout);
    const int fused_export = w && contiguous;
    for (int64_t j = begin; j < end; j++) {
        /* The direction overwrites the gradient's row where that was packed
         * into st->work; otherwise every row of the range reuses the
         * range's first row of st->work, which stays in cache while the
         * step streams the state (docs/method.md, "LpSGD"). */
        float *d = st->work + (contiguous ? begin : j) * n;
        float dmax = row_direction(st, hp, j, grad + j * n, d);
        row_update(st, hp, j, d, dmax, fused_export ? w : NULL);
        if (w && !fused_export)
            export_row(st, j, w);
    }
}

/* One lps_lpsgd_step_layers call: its layers, and whether a chunk found
 * a non-finite gradient. */
typedef struct layers_job {
    int n;
    lps_lpsgd_layer_fn layer;
    void *user;
    atomic_int bad;
} layers_job;

/* A layer's gradient in row order: grad_w itself, or its copy packed into
 * st->work before the region. */
static const float *row_grad(const lps_lpsgd_layer_step *L)
{
    return rows_contiguous(&L->st->layout) ? L->grad_w : L->st->work;
}

/* The rows [*begin, *end) of layer l that chunk `chunk` of n_chunks
 * takes: each layer's rows are cut on their own (lps_par_range), as their
 * costs per weight differ (the power's integer path and its log2/exp2
 * one, unitpow.c). *L gets the layer. */
static void chunk_rows(const layers_job *job, int l, int chunk, int n_chunks,
                       lps_lpsgd_layer_step *L, int64_t *begin, int64_t *end)
{
    job->layer(job->user, l, L);
    lps_par_range(L->st->layout.n_rows, chunk, n_chunks, begin, end);
}

static void check_chunk(void *arg, int chunk, int n_chunks)
{
    layers_job *job = arg;
    for (int l = 0; l < job->n; l++) {
        lps_lpsgd_layer_step L;
        int64_t begin, end;
        chunk_rows(job, l, chunk, n_chunks, &L, &begin, &end);
        const int64_t n = L.st->layout.row_len;
        if (begin < end && first_non_finite(row_grad(&L) + begin * n, (end - begin) * n) >= 0)
            atomic_store_explicit(&job->bad, 1, memory_order_relaxed);
    }
}

static void update_chunk(void *arg, int chunk, int n_chunks)
{
    layers_job *job = arg;
    /* the phases' barrier orders every check before this load */
    if (atomic_load_explicit(&job->bad, memory_order_relaxed))
        return;
    for (int l = 0; l < job->n; l++) {
        lps_lpsgd_layer_step L;
        int64_t begin, end;
        chunk_rows(job, l, chunk, n_chunks, &L, &begin, &end);
        step_rows(L.st, &L.hp, row_grad(&L), L.w, begin, end);
    }
}

lps_status lps_lpsgd_step_layers(int n, lps_lpsgd_layer_fn layer, void *user, int *failed,
                                 lps_error *err)
{
    layers_job job = {n, layer, user, 0};
    int64_t rows = 0, weights = 0;
    for (int l = 0; l < n; l++) {
        lps_lpsgd_layer_step L;
        layer(user, l, &L);
        *failed = l;
        lps_status status = lps_lpsgd_hparams_check(&L.hp, err);
        if (status != LPS_OK)
            return status;
        if (!rows_contiguous(&L.st->layout))
            lps_lpsgd_pack(L.st, L.grad_w, L.st->work);
        weights += L.st->numel;
        rows = L.st->layout.n_rows > rows ? L.st->layout.n_rows : rows;
    }
    /* items: the rows of the tallest layer, which every chunk cuts */
    lps_par_for_phases(lps_par_chunks(rows, (double)weights * LPSGD_FLOPS_PER_WEIGHT),
                       check_chunk, update_chunk, &job);
    if (!atomic_load_explicit(&job.bad, memory_order_relaxed))
        return LPS_OK;
    for (int l = 0; l < n; l++) {
        lps_lpsgd_layer_step L;
        layer(user, l, &L);
        int64_t bad = first_non_finite(row_grad(&L), L.st->numel);
        if (bad >= 0) {
            *failed = l;
            return lps_fail(err, LPS_ERR_RUNTIME, "lpsgd: non-finite gradient in row %lld",
                            (long long)(bad / L.st->layout.row_len));
        }
    }
    return lps_fail(err, LPS_ERR_RUNTIME, "lpsgd: non-finite gradient");
}

/* lps_lpsgd_step_export's one layer, for lps_lpsgd_step_layers. */
static void one_layer(void *user, int layer, lps_lpsgd_layer_step *step)
{
    (void)layer;
    *step = *(const lps_lpsgd_layer_step *)user;
}

lps_status lps_lpsgd_step_export(lps_lpsgd_state *st, const float *grad_w,
                                 const lps_lpsgd_hparams *hp, float *w, lps_error *err)
{
    lps_lpsgd_layer_step step = {st, grad_w, *hp, w};
    int failed;
    return lps_lpsgd_step_layers(1, one_layer, &step, &failed, err);
}

lps_status lps_lpsgd_step(lps_lpsgd_state *st, const float *grad_w, const lps_lpsgd_hparams *hp,
                          lps_error *err)
{
    return lps_lpsgd_step_export(st, grad_w, hp, NULL, err);
}

void lps_lpsgd_export(const lps_lpsgd_state *st, float *w)
{
    for (int64_t j = 0; j < st->layout.n_rows; j++)
        export_row(st, j, w);
}

void lps_lpsgd_latent_weight(const lps_lpsgd_state *st, float *out)
{
    const int64_t n = st->layout.row_len;
    for (int64_t j = 0; j < st->layout.n_rows; j++)
        for (int64_t i = 0; i < n; i++)
            out[j * n + i] = st->gain[j] * st->u[j * n + i];
}

/* The buffers a snapshot copies: per-row gains, per-weight floats, the mask. */
static void copy_state(lps_lpsgd_state *dst, const lps_lpsgd_state *src)
{
    size_t rows = (size_t)src->layout.n_rows, n = (size_t)src->numel;
    memcpy(dst->gain, src->gain, rows * sizeof *dst->gain);
    memcpy(dst->gain_momentum, src->gain_momentum, rows * sizeof *dst->gain_momentum);
    memcpy(dst->u, src->u, n * sizeof *dst->u);
    memcpy(dst->v, src->v, n * sizeof *dst->v);
    memcpy(dst->momentum, src->momentum, n * sizeof *dst->momentum);
    memcpy(dst->mask, src->mask, n * sizeof *dst->mask);
}

lps_status lps_lpsgd_snapshot(const lps_lpsgd_state *src, lps_lpsgd_state *copy, lps_error *err)
{
    size_t rows = (size_t)src->layout.n_rows, n = (size_t)src->numel;
    if (!copy->u) {
        copy->gain = malloc(rows * sizeof *copy->gain);
        copy->gain_momentum = malloc(rows * sizeof *copy->gain_momentum);
        copy->u = malloc(n * sizeof *copy->u);
        copy->v = malloc(n * sizeof *copy->v);
        copy->momentum = malloc(n * sizeof *copy->momentum);
        copy->mask = malloc(n * sizeof *copy->mask);
        if (!copy->gain || !copy->gain_momentum || !copy->u || !copy->v || !copy->momentum ||
            !copy->mask)
            return lps_fail(err, LPS_ERR_NOMEM, "lpsgd: cannot allocate a snapshot of %lld weights",
                            (long long)n);
        copy->layout = src->layout;
        copy->numel = src->numel;
        copy->p = src->p;
        copy->q = src->q;
    }
    copy_state(copy, src);
    return LPS_OK;
}

void lps_lpsgd_restore(lps_lpsgd_state *st, const lps_lpsgd_state *copy)
{
    copy_state(st, copy);
}

lps_status lps_lpsgd_transfer(lps_lpsgd_state *st, lps_ckpt *c, lps_error *err)
{
    size_t rows = (size_t)st->layout.n_rows, n = (size_t)st->numel;
    lps_status st_ = lps_ckpt_floats(c, "lpsgd.gain", st->gain, rows, err);
    if (st_ == LPS_OK)
        st_ = lps_ckpt_floats(c, "lpsgd.gain_momentum", st->gain_momentum, rows, err);
    if (st_ == LPS_OK)
        st_ = lps_ckpt_floats(c, "lpsgd.u", st->u, n, err);
    if (st_ == LPS_OK)
        st_ = lps_ckpt_floats(c, "lpsgd.v", st->v, n, err);
    if (st_ == LPS_OK)
        st_ = lps_ckpt_floats(c, "lpsgd.momentum", st->momentum, n, err);
    if (st_ == LPS_OK)
        st_ = lps_ckpt_bytes(c, "lpsgd.mask", st->mask, n, err);
    for (size_t k = 0; st_ == LPS_OK && lps_ckpt_reading(c) && k < n; k++)
        if (st->mask[k] > 1)
            st_ = lps_fail(err, LPS_ERR_INVALID, "%s: corrupt: a mask holds %u",
                           lps_ckpt_path(c), st->mask[k]);
    return st_;
}

/* Published (target, p) points, anchored at (0, 2). */
#define DEFAULT_P_POINTS 4
static const double DEFAULT_P_TARGETS[DEFAULT_P_POINTS] = {0.0, 0.5, 0.8, 0.9};
static const double DEFAULT_P_MOST[DEFAULT_P_POINTS] = {2.0, 1.3, 1.15, 1.07};
static const double DEFAULT_P_FIRST[DEFAULT_P_POINTS] = {2.0, 1.4, 1.3, 1.2};
static const double DEFAULT_LR_PER_P = 0.015;

double lps_lpsgd_default_p(double target, int first_layer)
{
    const double *ps = first_layer ? DEFAULT_P_FIRST : DEFAULT_P_MOST;
    const double *ts = DEFAULT_P_TARGETS;
    target = target < 0.0 ? 0.0 : (target > 1.0 ? 1.0 : target);
    /* segment containing target; the last one is extended beyond 0.9 */
    int seg = 0;
    while (seg < DEFAULT_P_POINTS - 2 && target > ts[seg + 1])
        seg++;
    double a = (target - ts[seg]) / (ts[seg + 1] - ts[seg]);
    double p = ps[seg] + a * (ps[seg + 1] - ps[seg]);
    return p > LPS_LPSGD_DEFAULT_P_FLOOR ? p : LPS_LPSGD_DEFAULT_P_FLOOR;
}

double lps_lpsgd_default_lr(double p)
{
    return DEFAULT_LR_PER_P * (p - 1.0);
}
