#include "train/optim.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "ops/simd.h"

lps_status lps_sgd_config_check(const lps_sgd_config *cfg, lps_error *err)
{
    if (!(cfg->momentum >= 0.0f && cfg->momentum < 1.0f))
        return lps_fail(err, LPS_ERR_INVALID, "sgd: momentum %g outside [0, 1)",
                        (double)cfg->momentum);
    if (cfg->nesterov && cfg->momentum == 0.0f)
        return lps_fail(err, LPS_ERR_INVALID, "sgd: nesterov requires momentum > 0");
    if (!(cfg->weight_decay >= 0.0f) || !isfinite(cfg->weight_decay))
        return lps_fail(err, LPS_ERR_INVALID, "sgd: weight_decay %g must be finite and >= 0",
                        (double)cfg->weight_decay);
    if (cfg->wd_mode != LPS_WD_COUPLED_L2 && cfg->wd_mode != LPS_WD_DECOUPLED)
        return lps_fail(err, LPS_ERR_INVALID, "sgd: unknown weight decay mode %d",
                        (int)cfg->wd_mode);
    return LPS_OK;
}

/* One lps_sgd_step over [begin, end): every weight's update reads and
 * writes only its own w, g and momentum, so the step is cut over the
 * threads (lps_par_elements) and is the same bytes at any thread count.
 * The clearing step (lps_sgd_step_clear) also zeroes g and notes a
 * non-finite updated weight in `nonfinite`, in the same pass. */
typedef struct sgd_job {
    const lps_sgd_config *cfg;
    float lr;
    float *w, *momentum_buf;
    float *g; /* written only by the clearing step */
    atomic_uint nonfinite;
} sgd_job;

/* The bits of a float whose exponent is all ones: Inf or NaN. */
#define FLOAT_EXPONENT_BITS 0x7f800000u

/* 1 when v is Inf or NaN: a test on the bits, which vectorises (isfinite
 * in a loop does not). */
static inline unsigned float_nonfinite(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return (bits & FLOAT_EXPONENT_BITS) == FLOAT_EXPONENT_BITS;
}

/* The update of [begin, end); with `clear` (a constant at each call, so
 * each variant compiles to its own loops) g is zeroed after it is read
 * and the non-finite weights counted. Returns that count's OR (0 without
 * clear). */
static inline unsigned sgd_range(const sgd_job *j, int64_t begin, int64_t end, bool clear)
{
    const float mu = j->cfg->momentum, lr = j->lr;
    const float l2 = j->cfg->wd_mode == LPS_WD_COUPLED_L2 ? j->cfg->weight_decay : 0.0f;
    /* Decoupled decay multiplies w before the gradient step, as AdamW/SGDW do. */
    const float shrink =
        j->cfg->wd_mode == LPS_WD_DECOUPLED ? 1.0f - lr * j->cfg->weight_decay : 1.0f;
    float *restrict w = j->w, *restrict momentum_buf = j->momentum_buf;
    float *restrict g = j->g;
    unsigned bad = 0;
    if (mu == 0.0f) {
        for (int64_t i = begin; i < end; i++) {
            w[i] = shrink * w[i] - lr * (g[i] + l2 * w[i]);
            if (clear) {
                g[i] = 0.0f;
                bad |= float_nonfinite(w[i]);
            }
        }
    } else if (j->cfg->nesterov) {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i] + l2 * w[i];
            momentum_buf[i] = mu * momentum_buf[i] + gi;
            w[i] = shrink * w[i] - lr * (gi + mu * momentum_buf[i]);
            if (clear) {
                g[i] = 0.0f;
                bad |= float_nonfinite(w[i]);
            }
        }
    } else {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i] + l2 * w[i];
            momentum_buf[i] = mu * momentum_buf[i] + gi;
            w[i] = shrink * w[i] - lr * momentum_buf[i];
            if (clear) {
                g[i] = 0.0f;
                bad |= float_nonfinite(w[i]);
            }
        }
    }
    return bad;
}

/* The pieces run in AVX2 where the CPU has it (ops/simd.h, the same bytes
 * as the baseline's): the baseline's 4-lane loop was 10% of a LeNet-300-100
 * training step at batch 64, whose 266,610 weights stay in cache. */
LPS_VECTOR_CLONES
static void sgd_piece(void *arg, int64_t begin, int64_t end)
{
    sgd_range(arg, begin, end, false);
}

LPS_VECTOR_CLONES
static void sgd_clear_piece(void *arg, int64_t begin, int64_t end)
{
    sgd_job *j = arg;
    if (sgd_range(j, begin, end, true))
        atomic_fetch_or_explicit(&j->nonfinite, 1u, memory_order_relaxed);
}

void lps_sgd_step(const lps_sgd_config *cfg, float lr, int64_t n, float *w, const float *g,
                  float *momentum_buf)
{
    /* sgd_piece only reads g */
    sgd_job job = {cfg, lr, w, momentum_buf, (float *)g, 0};
    /* w, g and the momentum read, w and the momentum written */
    lps_par_elements(n, cfg->momentum == 0.0f ? 3.0 : 5.0, sgd_piece, &job);
}

bool lps_sgd_step_clear(const lps_sgd_config *cfg, float lr, int64_t n, float *w, float *g,
                        float *momentum_buf)
{
    sgd_job job = {cfg, lr, w, momentum_buf, g, 0};
    /* as lps_sgd_step, and g written */
    lps_par_elements(n, cfg->momentum == 0.0f ? 4.0 : 6.0, sgd_clear_piece, &job);
    return atomic_load_explicit(&job.nonfinite, memory_order_relaxed) == 0;
}

/* What an item of lps_finite_clear weighs for the thread split: the
 * check and the zeroing apart measured 83 and 55 us a step over
 * LeNet-300-100's 266,610 parameters on a loaded core (docs/benchmarks.md,
 * "Default run, ninth round"), 0.5 ns an item, what 13 floats of a
 * streaming pass weigh at LPS_PAR_FLOPS_PER_FLOAT. */
#define FINITE_CLEAR_FLOATS_PER_ITEM 13.0

static void finite_clear_piece(void *arg, int64_t begin, int64_t end)
{
    sgd_job *j = arg;
    const float *restrict w = j->w;
    float *restrict g = j->g;
    unsigned bad = 0;
    for (int64_t i = begin; i < end; i++) {
        g[i] = 0.0f;
        bad |= float_nonfinite(w[i]);
    }
    if (bad)
        atomic_fetch_or_explicit(&j->nonfinite, 1u, memory_order_relaxed);
}

bool lps_finite_clear(const float *w, float *g, int64_t n)
{
    /* finite_clear_piece only reads w */
    sgd_job job = {NULL, 0.0f, (float *)w, NULL, g, 0};
    lps_par_elements(n, FINITE_CLEAR_FLOATS_PER_ITEM, finite_clear_piece, &job);
    return atomic_load_explicit(&job.nonfinite, memory_order_relaxed) == 0;
}

double lps_grad_global_norm(int n_bufs, float *const *bufs, const int64_t *lens)
{
    double sum = 0.0;
    for (int b = 0; b < n_bufs; b++)
        for (int64_t i = 0; i < lens[b]; i++)
            sum += (double)bufs[b][i] * (double)bufs[b][i];
    return sqrt(sum);
}

double lps_clip_grad_global_norm(int n_bufs, float *const *bufs, const int64_t *lens,
                                 double max_norm)
{
    double norm = lps_grad_global_norm(n_bufs, bufs, lens);
    if (!isfinite(norm) || norm <= max_norm)
        return norm;
    float scale = (float)(max_norm / norm);
    for (int b = 0; b < n_bufs; b++)
        for (int64_t i = 0; i < lens[b]; i++)
            bufs[b][i] *= scale;
    return norm;
}

lps_status lps_lr_schedule_check(const lps_lr_schedule *s, lps_error *err)
{
    if (!(s->base_lr > 0.0) || !isfinite(s->base_lr))
        return lps_fail(err, LPS_ERR_INVALID, "lr schedule: base lr %g must be finite and > 0",
                        s->base_lr);
    switch (s->kind) {
    case LPS_LR_CONSTANT:
        return LPS_OK;
    case LPS_LR_COSINE:
    case LPS_LR_LINEAR:
        if (!(s->final_lr >= 0.0) || !isfinite(s->final_lr))
            return lps_fail(err, LPS_ERR_INVALID,
                            "lr schedule: final lr %g must be finite and >= 0", s->final_lr);
        return LPS_OK;
    case LPS_LR_PIECEWISE:
        if (s->n_points < 1 || s->n_points > LPS_LR_MAX_POINTS)
            return lps_fail(err, LPS_ERR_INVALID,
                            "lr schedule: %d points, expected 1 to %d", s->n_points,
                            LPS_LR_MAX_POINTS);
        for (int i = 0; i < s->n_points; i++) {
            const lps_lr_point *pt = &s->points[i];
            if (!(pt->fraction >= 0.0 && pt->fraction <= 1.0))
                return lps_fail(err, LPS_ERR_INVALID,
                                "lr schedule: point %d fraction %g outside [0, 1]", i,
                                pt->fraction);
            if (!(pt->multiplier >= 0.0) || !isfinite(pt->multiplier))
                return lps_fail(err, LPS_ERR_INVALID,
                                "lr schedule: point %d multiplier %g must be finite and >= 0",
                                i, pt->multiplier);
            if (i > 0 && !(pt->fraction > s->points[i - 1].fraction))
                return lps_fail(err, LPS_ERR_INVALID,
                                "lr schedule: point %d fraction %g not above the previous %g", i,
                                pt->fraction, s->points[i - 1].fraction);
        }
        return LPS_OK;
    }
    return lps_fail(err, LPS_ERR_INVALID, "lr schedule: unknown kind %d", (int)s->kind);
}

/* Parses one decimal number at *p, advancing *p past it. Returns 0 on
 * success, -1 when no finite number starts there. */
static int parse_number(const char **p, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(*p, &end);
    if (end == *p || errno != 0 || !isfinite(v))
        return -1;
    *p = end;
    *out = v;
    return 0;
}

lps_status lps_lr_points_parse(lps_lr_schedule *s, const char *text, lps_error *err)
{
    lps_lr_point pts[LPS_LR_MAX_POINTS];
    int n = 0;
    const char *p = text;
    for (;;) {
        if (n == LPS_LR_MAX_POINTS)
            return lps_fail(err, LPS_ERR_INVALID, "lr points '%s': more than %d points", text,
                            LPS_LR_MAX_POINTS);
        if (parse_number(&p, &pts[n].fraction) != 0 || *p != ':')
            return lps_fail(err, LPS_ERR_INVALID,
                            "lr points '%s': expected FRACTION:MULTIPLIER at '%s'", text, p);
        p++;
        if (parse_number(&p, &pts[n].multiplier) != 0)
            return lps_fail(err, LPS_ERR_INVALID,
                            "lr points '%s': expected a multiplier at '%s'", text, p);
        n++;
        if (*p == '\0')
            break;
        if (*p != ',')
            return lps_fail(err, LPS_ERR_INVALID, "lr points '%s': unexpected '%s'", text, p);
        p++;
    }
    lps_lr_schedule tmp = *s;
    tmp.kind = LPS_LR_PIECEWISE;
    tmp.n_points = n;
    memcpy(tmp.points, pts, (size_t)n * sizeof pts[0]);
    /* Validate the points only; base_lr may legitimately be set later. */
    double saved_base = tmp.base_lr;
    tmp.base_lr = 1.0;
    lps_status st = lps_lr_schedule_check(&tmp, err);
    if (st != LPS_OK)
        return lps_error_prefix(err, "lr points '%s'", text);
    tmp.base_lr = saved_base;
    *s = tmp;
    return LPS_OK;
}

/* Multiplier of the piecewise-linear curve at fraction t. */
static double piecewise_multiplier(const lps_lr_schedule *s, double t)
{
    const lps_lr_point *pts = s->points;
    if (t <= pts[0].fraction)
        return pts[0].multiplier;
    for (int i = 1; i < s->n_points; i++) {
        if (t <= pts[i].fraction) {
            double a = (t - pts[i - 1].fraction) / (pts[i].fraction - pts[i - 1].fraction);
            return pts[i - 1].multiplier + a * (pts[i].multiplier - pts[i - 1].multiplier);
        }
    }
    return pts[s->n_points - 1].multiplier;
}

double lps_lr_at(const lps_lr_schedule *s, int64_t step, int64_t total_steps)
{
    double t = total_steps > 0 ? (double)step / (double)total_steps : 0.0;
    t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
    switch (s->kind) {
    case LPS_LR_CONSTANT:
        return s->base_lr;
    case LPS_LR_COSINE:
        return s->final_lr + (s->base_lr - s->final_lr) * 0.5 * (1.0 + cos(M_PI * t));
    case LPS_LR_LINEAR:
        return s->base_lr + (s->final_lr - s->base_lr) * t;
    case LPS_LR_PIECEWISE:
        return s->base_lr * piecewise_multiplier(s, t);
    }
    return s->base_lr;
}
