#include "sparsity/prune.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/par.h"
#include "sparsity/radix_select.h"

/* LPS_ERR_RUNTIME naming the tensor when any of its n values is not finite. */
static lps_status check_finite(const float *x, int64_t n, const char *name, const char *what,
                               lps_error *err)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return lps_fail(err, LPS_ERR_RUNTIME, "tensor '%s': non-finite %s at element %lld",
                            name, what, (long long)i);
    return LPS_OK;
}

lps_status lps_prune_check(const lps_prune_tensor *ts, int n, double global_target,
                           lps_error *err)
{
    if (!(global_target >= 0.0 && global_target <= 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "prune: target sparsity %g outside [0, 1]",
                        global_target);
    for (int t = 0; t < n; t++) {
        const lps_prune_tensor *x = &ts[t];
        const char *name = x->name ? x->name : "?";
        if (!x->name || !x->weight || !x->mask)
            return lps_fail(err, LPS_ERR_INVALID, "prune: tensor %d ('%s') lacks name, weight or mask",
                            t, name);
        if (x->layout.n_rows <= 0 || x->layout.row_len <= 0 ||
            x->layout.n_rows * x->layout.row_len != x->numel)
            return lps_fail(err, LPS_ERR_INVALID,
                            "prune: tensor '%s': %lld rows of %lld do not make %lld weights", name,
                            (long long)x->layout.n_rows, (long long)x->layout.row_len,
                            (long long)x->numel);
        if (x->target != LPS_PRUNE_GLOBAL_TARGET && !(x->target >= 0.0 && x->target <= 1.0))
            return lps_fail(err, LPS_ERR_INVALID, "prune: tensor '%s': target %g outside [0, 1]",
                            name, x->target);
        if (lps_pattern_on(x->pattern) &&
            !lps_pattern_fits(x->pattern, x->layout.row_len, x->taps))
            return lps_fail(err, LPS_ERR_INVALID,
                            "prune: tensor '%s': rows of %lld (%lld per channel) do not split "
                            "into groups of %d channels", name, (long long)x->layout.row_len,
                            (long long)x->taps, x->pattern.m);
    }
    return LPS_OK;
}

void lps_prune_count(const lps_prune_tensor *ts, int n, int64_t *zeros, int64_t *total)
{
    int64_t z = 0, all = 0;
    for (int t = 0; t < n; t++) {
        if (ts[t].excluded)
            continue;
        all += ts[t].numel;
        for (int64_t i = 0; i < ts[t].numel; i++)
            z += ts[t].mask[i] == 0;
    }
    *zeros = z;
    *total = all;
}

/* Whether the tensor is projected alone rather than in the global pool. */
static int own_group(const lps_prune_tensor *t, lps_prune_allocation alloc)
{
    return alloc == LPS_ALLOC_PER_LAYER || t->target != LPS_PRUNE_GLOBAL_TARGET ||
           lps_pattern_on(t->pattern);
}

/* The tensor's own target, or the global one. */
static double target_of(const lps_prune_tensor *t, double global_target)
{
    return t->target == LPS_PRUNE_GLOBAL_TARGET ? global_target : t->target;
}

/* Exact number of zeros for a group of `total` weights at target s. */
static int64_t target_zeros(double s, int64_t total)
{
    return (int64_t)llround(s * (double)total);
}

/* How a group is brought to its count. */
typedef enum project_mode {
    PROJECT_EXACT = 0, /* mask or restore to exactly round(S N) zeros */
    PROJECT_RESET,     /* from scratch: the round(S N) smallest are masked */
    PROJECT_AT_LEAST   /* only mask more, up to round(S N) zeros */
} project_mode;

static int64_t member_zeros(const lps_select_member *m)
{
    int64_t zeros = 0;
    for (int64_t i = 0; i < m->numel; i++)
        zeros += m->mask[i] == 0;
    return zeros;
}

/* Brings one group to `want` zeros as `mode` says. */
static void project_group_to(lps_radix_selector *s, lps_select_member *ms, int n_members,
                             int64_t want, project_mode mode)
{
    int64_t zeros = 0;
    for (int m = 0; m < n_members; m++)
        zeros += member_zeros(&ms[m]);
    if (mode == PROJECT_RESET)
        lps_radix_select_flip(s, ms, n_members, LPS_SELECT_ANY, want, 0);
    else if (zeros < want)
        lps_radix_select_flip(s, ms, n_members, 1, want - zeros, 0);
    else if (zeros > want && mode == PROJECT_EXACT)
        lps_radix_select_flip(s, ms, n_members, 0, zeros - want, 1);
}

/* Brings one group to round(target * N) zeros as `mode` says. */
static void project_group(lps_radix_selector *s, lps_select_member *ms, int n_members,
                          double target, project_mode mode)
{
    int64_t total = 0;
    for (int m = 0; m < n_members; m++)
        total += ms[m].numel;
    project_group_to(s, ms, n_members, target_zeros(target, total), mode);
}

/* Candidate states of a patterned selection (lps_radix_select_flip with cand 1). */
#define PATTERN_MASKED 0
#define PATTERN_CANDIDATE 1
#define PATTERN_KEPT 2

/* Group g of row j of the patterned tensor t: its members' offsets, whether
 * each is active (all when all_active) and their order, active and larger
 * |weight| first (lps_pattern_order). Returns the number masked. */
static int pattern_group(const lps_prune_tensor *t, int64_t j, int64_t g, bool all_active,
                         int64_t *offs, uint8_t *active, int *order)
{
    float score[LPS_PATTERN_MAX_M];
    int masked = 0;
    for (int r = 0; r < t->pattern.m; r++) {
        offs[r] = lps_row_offset(&t->layout, j, lps_pattern_position(t->pattern, t->taps, g, r));
        score[r] = fabsf(t->weight[offs[r]]);
        active[r] = all_active || t->mask[offs[r]];
        masked += !active[r];
    }
    lps_pattern_order(active, score, t->pattern.m, order);
    return masked;
}

/* Marks, in every group of the patterned tensor t, the members that may be
 * masked: active ones among the group's M - N smallest |weight|, fewer by
 * the group's masked count (mode PROJECT_RESET: from a dense mask). Fills
 * state[] (PATTERN_*, numel values) and returns the number of zeros. */
static int64_t pattern_candidates(const lps_prune_tensor *t, project_mode mode, uint8_t *state)
{
    const lps_row_layout *l = &t->layout;
    const lps_pattern p = t->pattern;
    int64_t offs[LPS_PATTERN_MAX_M], zeros = 0;
    uint8_t active[LPS_PATTERN_MAX_M];
    int order[LPS_PATTERN_MAX_M];
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t g = 0; g < l->row_len / p.m; g++) {
            int masked = pattern_group(t, j, g, mode == PROJECT_RESET, offs, active, order);
            /* order: active best first; the last candidates of the actives */
            int room = p.m - p.n - masked, n_active = p.m - masked;
            for (int k = 0; k < p.m; k++) {
                int r = order[k];
                state[offs[r]] = !active[r]                 ? PATTERN_MASKED
                                 : k >= n_active - room     ? PATTERN_CANDIDATE
                                                            : PATTERN_KEPT;
            }
            zeros += masked;
        }
    return zeros;
}

/* Sets every group of t to its N largest |weight|, active positions first:
 * the exact projection of a patterned tensor. */
static void pattern_exact(lps_prune_tensor *t)
{
    const lps_row_layout *l = &t->layout;
    const lps_pattern p = t->pattern;
    int64_t offs[LPS_PATTERN_MAX_M];
    uint8_t active[LPS_PATTERN_MAX_M];
    int order[LPS_PATTERN_MAX_M];
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t g = 0; g < l->row_len / p.m; g++) {
            pattern_group(t, j, g, false, offs, active, order);
            for (int k = 0; k < p.m; k++)
                t->mask[offs[order[k]]] = k < p.n;
        }
}

/* Brings the patterned tensor t to round(target * N) zeros as `mode` says,
 * masking only candidates (pattern_candidates, into state: numel bytes);
 * the count is clamped to what the pattern allows. */
static void project_pattern(lps_radix_selector *s, lps_prune_tensor *t, double target, project_mode mode,
                            uint8_t *state)
{
    if (mode == PROJECT_EXACT) {
        pattern_exact(t);
        return;
    }
    int64_t zeros = pattern_candidates(t, mode, state);
    int64_t want = target_zeros(target, t->numel);
    if (mode == PROJECT_RESET || want > zeros) {
        lps_select_member m = {state, t->weight, t->numel};
        lps_radix_select_flip(s, &m, 1, PATTERN_CANDIDATE, mode == PROJECT_RESET ? want : want - zeros,
                        0);
        for (int64_t i = 0; i < t->numel; i++)
            t->mask[i] = state[i] != PATTERN_MASKED;
    }
}

/* How a group's target becomes the sparsity a pass selects: scaled (the
 * projections) or along the GMP ramp at a step. */
typedef struct target_map {
    double scale;
    const lps_gmp_config *gmp; /* non-NULL: lps_gmp_sparsity at step of total */
    int64_t step;
    int64_t total;
} target_map;

static double mapped_target(const target_map *map, double target)
{
    return map->gmp ? lps_gmp_sparsity(map->gmp, target, map->step, map->total)
                    : map->scale * target;
}

/* The global pool of one pass: its members in tensor order, and for each
 * its lps_prune_tensor.keep_share and, when that is above 0, a copy of its
 * mask before the pass (else NULL). */
typedef struct pool {
    lps_select_member *ms;
    uint8_t **saved;
    double *share;
    int n;
} pool;

/* Adds tensor t to the pool; returns false when its saved mask cannot be
 * allocated. */
static bool pool_add(pool *p, const lps_prune_tensor *t)
{
    p->ms[p->n] = (lps_select_member){t->mask, t->weight, t->numel};
    p->saved[p->n] = NULL;
    p->share[p->n] = t->keep_share;
    if (t->keep_share > 0.0) {
        p->saved[p->n] = malloc((size_t)t->numel);
        if (!p->saved[p->n])
            return false;
        memcpy(p->saved[p->n], t->mask, (size_t)t->numel);
    }
    p->n++;
    return true;
}

/* The sparsity a member keeping `share` of the pool's density reaches at
 * most at the pool's target (exactly the target for share 1). */
static double cap_sparsity(double share, double target)
{
    return target + (1.0 - share) * (1.0 - target);
}

/* The most zeros a member keeping `share` of the pool's density may have
 * at the pool's target: round(cap_sparsity numel), or its
 * weights that are exactly 0 if more (keeping those active would leave the
 * written model sparser than the count says: torchvision's ViT starts its
 * head at 0, and LpSGD keeps a zero row at 0). */
static int64_t cap_zeros(const lps_select_member *m, double share, double target)
{
    int64_t cap = target_zeros(cap_sparsity(share, target), m->numel);
    int64_t zero_scores = 0;
    for (int64_t i = 0; i < m->numel; i++)
        zero_scores += m->score[i] == 0.0f;
    return cap > zero_scores ? cap : zero_scores;
}

/* Whether pool member k has more zeros than its cap allows. */
static bool over_cap(const pool *p, int k, double target)
{
    if (!p->saved[k])
        return false;
    int64_t zeros = member_zeros(&p->ms[k]);
    return zeros > target_zeros(cap_sparsity(p->share[k], target), p->ms[k].numel) &&
           zeros > cap_zeros(&p->ms[k], p->share[k], target);
}

/* Removes member k from the pool's first n, keeping its slots' buffers. */
static void pool_remove(pool *p, int k, int n)
{
    uint8_t *kept = p->saved[k];
    memmove(p->ms + k, p->ms + k + 1, (size_t)(n - 1 - k) * sizeof *p->ms);
    memmove(p->saved + k, p->saved + k + 1, (size_t)(n - 1 - k) * sizeof *p->saved);
    memmove(p->share + k, p->share + k + 1, (size_t)(n - 1 - k) * sizeof *p->share);
    p->saved[n - 1] = kept; /* still freed with the pool */
}

/* Brings the pool to round(target * N) zeros. A member with a floor the ranking
 * leaves with more zeros than cap_zeros goes back to its mask before the
 * pass, is brought to cap_zeros alone, and leaves the pool, which is
 * projected again to the rest of the count, until no member is over
 * (docs/method.md, "The classifier under global allocation"). */
static void project_pool(lps_radix_selector *s, pool *p, double target, project_mode mode)
{
    int64_t total = 0;
    for (int m = 0; m < p->n; m++)
        total += p->ms[m].numel;
    int64_t want = target_zeros(target, total);
    int n = p->n;
    while (n > 0) {
        project_group_to(s, p->ms, n, want, mode);
        int over = 0;
        while (over < n && !over_cap(p, over, target))
            over++;
        if (over == n)
            return;
        lps_select_member alone = p->ms[over];
        memcpy(alone.mask, p->saved[over], (size_t)alone.numel);
        project_group_to(s, &alone, 1, cap_zeros(&alone, p->share[over], target), mode);
        want = want > member_zeros(&alone) ? want - member_zeros(&alone) : 0;
        pool_remove(p, over, n);
        n--;
    }
}

static void pool_release(pool *p, int n_slots)
{
    if (p->saved)
        for (int m = 0; m < n_slots; m++)
            free(p->saved[m]);
    free(p->saved);
    free(p->share);
    free(p->ms);
}

/* Shared body of projection, one-shot pruning and GMP updates. */
static lps_status project_all(lps_prune_tensor *ts, int n, double global_target,
                              lps_prune_allocation alloc, project_mode mode,
                              const target_map *map, lps_error *err)
{
    lps_status status = lps_prune_check(ts, n, global_target, err);
    if (status != LPS_OK)
        return status;
    for (int t = 0; t < n; t++)
        if (!ts[t].excluded) {
            status = check_finite(ts[t].weight, ts[t].numel, ts[t].name, "weight", err);
            if (status != LPS_OK)
                return status;
        }
    lps_radix_selector *s = lps_radix_selector_new(err);
    if (!s)
        return LPS_ERR_NOMEM;
    int64_t pattern_numel = 1;
    for (int t = 0; t < n; t++)
        if (!ts[t].excluded && lps_pattern_on(ts[t].pattern) && ts[t].numel > pattern_numel)
            pattern_numel = ts[t].numel;
    size_t slots = (size_t)(n > 0 ? n : 1);
    pool p = {malloc(slots * sizeof *p.ms), calloc(slots, sizeof *p.saved),
              malloc(slots * sizeof *p.share), 0};
    uint8_t *state = malloc((size_t)pattern_numel);
    status = p.ms && p.saved && p.share && state ? LPS_OK : LPS_ERR_NOMEM;
    for (int t = 0; t < n && status == LPS_OK; t++)
        if (!ts[t].excluded && !lps_pattern_on(ts[t].pattern) && !own_group(&ts[t], alloc) &&
            !pool_add(&p, &ts[t]))
            status = LPS_ERR_NOMEM;
    if (status != LPS_OK) {
        status = lps_fail(err, LPS_ERR_NOMEM, "prune: cannot allocate %d tensor entries", n);
        goto cleanup;
    }
    for (int t = 0; t < n; t++) {
        if (ts[t].excluded)
            continue;
        lps_select_member m = {ts[t].mask, ts[t].weight, ts[t].numel};
        if (lps_pattern_on(ts[t].pattern))
            project_pattern(s, &ts[t], mapped_target(map, target_of(&ts[t], global_target)),
                            mode, state);
        else if (own_group(&ts[t], alloc))
            project_group(s, &m, 1, mapped_target(map, target_of(&ts[t], global_target)), mode);
    }
    if (p.n > 0)
        project_pool(s, &p, mapped_target(map, global_target), mode);
cleanup:
    pool_release(&p, (int)slots);
    free(state);
    lps_radix_selector_free(s);
    return status;
}

lps_status lps_project_to_target(lps_prune_tensor *ts, int n, double global_target,
                                 lps_prune_allocation alloc, lps_error *err)
{
    const target_map map = {1.0, NULL, 0, 0};
    return project_all(ts, n, global_target, alloc, PROJECT_EXACT, &map, err);
}

lps_status lps_project_at_least(lps_prune_tensor *ts, int n, double global_target,
                                lps_prune_allocation alloc, double fraction, lps_error *err)
{
    if (!(fraction >= 0.0 && fraction <= 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "prune: floor fraction %g outside [0, 1]", fraction);
    const target_map map = {fraction, NULL, 0, 0};
    return project_all(ts, n, global_target, alloc, PROJECT_AT_LEAST, &map, err);
}

lps_status lps_magnitude_prune(lps_prune_tensor *ts, int n, double global_target,
                               lps_prune_allocation alloc, lps_error *err)
{
    const target_map map = {1.0, NULL, 0, 0};
    return project_all(ts, n, global_target, alloc, PROJECT_RESET, &map, err);
}

/* ---- semi-pruning ---- */

static const int64_t SEMIPRUNE_FREQUENCY = 0; /* automatic */
static const double SEMIPRUNE_BEGIN = 0.2;
static const double SEMIPRUNE_END = 0.8;
static const double SEMIPRUNE_H0 = 0.2;
static const double SEMIPRUNE_D = 0.1;
static const double SEMIPRUNE_GROW0 = 0.95;

lps_semiprune_config lps_semiprune_config_default(void)
{
    lps_semiprune_config c = {SEMIPRUNE_FREQUENCY, SEMIPRUNE_BEGIN, SEMIPRUNE_END,
                              SEMIPRUNE_H0,        SEMIPRUNE_D,     SEMIPRUNE_GROW0};
    return c;
}

lps_status lps_semiprune_config_check(const lps_semiprune_config *cfg, lps_error *err)
{
    if (cfg->frequency < 0)
        return lps_fail(err, LPS_ERR_INVALID, "semi-pruning: frequency %lld must be >= 0",
                        (long long)cfg->frequency);
    if (!(cfg->begin >= 0.0 && cfg->begin < cfg->end && cfg->end <= 1.0))
        return lps_fail(err, LPS_ERR_INVALID,
                        "semi-pruning: need 0 <= begin < end <= 1, got begin %g end %g",
                        cfg->begin, cfg->end);
    if (!(cfg->h0 >= 0.0 && cfg->h0 < 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "semi-pruning: h0 %g outside [0, 1)", cfg->h0);
    if (!(cfg->d > 0.0 && cfg->d < 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "semi-pruning: d %g outside (0, 1)", cfg->d);
    if (!(cfg->grow_fraction0 > 0.0) || !isfinite(cfg->grow_fraction0))
        return lps_fail(err, LPS_ERR_INVALID, "semi-pruning: grow fraction %g must be > 0",
                        cfg->grow_fraction0);
    return LPS_OK;
}

/* floor(fraction * total), clamped to the last step. */
static int64_t step_at(double fraction, int64_t total_steps)
{
    int64_t s = (int64_t)floor(fraction * (double)total_steps);
    return s < total_steps - 1 ? s : total_steps - 1;
}

int64_t lps_schedule_interval(int64_t frequency, double begin, double end, int64_t total_steps)
{
    if (frequency > 0)
        return frequency;
    int64_t window = step_at(end, total_steps) - step_at(begin, total_steps);
    int64_t every = window / LPS_SCHEDULE_MIN_UPDATES;
    return every > 1 ? every : 1;
}

lps_semiprune_phase lps_semiprune_phase_at(const lps_semiprune_config *cfg, int64_t step,
                                           int64_t total_steps)
{
    int64_t first = step_at(cfg->begin, total_steps);
    int64_t last = step_at(cfg->end, total_steps);
    if (step == last)
        return LPS_SEMIPRUNE_PROJECT;
    if (step > last)
        return LPS_SEMIPRUNE_FROZEN;
    if (step < first)
        return LPS_SEMIPRUNE_DENSE;
    int64_t every = lps_schedule_interval(cfg->frequency, cfg->begin, cfg->end, total_steps);
    return (step - first) % every == 0 ? LPS_SEMIPRUNE_UPDATE : LPS_SEMIPRUNE_ADAPT;
}

double lps_semiprune_h(const lps_semiprune_config *cfg, int64_t step, int64_t total_steps)
{
    double t = total_steps > 0 ? (double)step / (double)total_steps : 0.0;
    if (t <= cfg->begin)
        return cfg->h0;
    if (t >= cfg->end)
        return 0.0;
    return cfg->h0 * 0.5 * (1.0 + cos(M_PI * (t - cfg->begin) / (cfg->end - cfg->begin)));
}

lps_status lps_semiprune_state_init(lps_semiprune_state *st, int n_tensors,
                                    const lps_semiprune_config *cfg, lps_error *err)
{
    st->n_tensors = n_tensors;
    st->pool_grow_fraction = cfg->grow_fraction0;
    st->grow_fraction = malloc((size_t)(n_tensors > 0 ? n_tensors : 1) * sizeof *st->grow_fraction);
    if (!st->grow_fraction)
        return lps_fail(err, LPS_ERR_NOMEM, "semi-pruning: cannot allocate state for %d tensors",
                        n_tensors);
    for (int t = 0; t < n_tensors; t++)
        st->grow_fraction[t] = cfg->grow_fraction0;
    return LPS_OK;
}

lps_status lps_semiprune_state_transfer(lps_semiprune_state *st, lps_ckpt *c, lps_error *err)
{
    lps_status s = lps_ckpt_f64(c, "semiprune.pool_grow_fraction", &st->pool_grow_fraction, err);
    return s != LPS_OK ? s
                       : lps_ckpt_doubles(c, "semiprune.grow_fraction", st->grow_fraction,
                                          (size_t)st->n_tensors, err);
}

void lps_semiprune_state_free(lps_semiprune_state *st)
{
    if (!st)
        return;
    free(st->grow_fraction);
    st->grow_fraction = NULL;
    st->n_tensors = 0;
}

/* Most chunks a row pass of the drop and grow steps is cut into: the
 * per-chunk counts live in the job. */
#define ROW_PASS_MAX_CHUNKS 64
/* What one weight of the drop step (two passes over the row, the first a
 * chain of double additions) or of the grow step's scores weighs against
 * LPS_PAR_MIN_FLOPS: about 1.5 ns, what 64 flops of one core's sgemm take,
 * so LeNet-300-100's first layer is cut and its last two are not. */
#define ROW_PASS_FLOPS_PER_WEIGHT 64.0

/* Offset of position i of row j, the progression of a simple layout
 * (base the row's first offset) without the general layout's divisions. */
static int64_t row_at(const lps_row_layout *l, bool simple, int64_t base, int64_t j, int64_t i)
{
    return simple ? base + i * l->elem_stride : lps_row_offset(l, j, i);
}

/* The drop step on row j (lps_prune_drop); returns the number dropped.
 * Branch-free: adding 0.0 for a masked position leaves the (non-negative)
 * sum's bits as they were, so the threshold is the one of the sum over the
 * active positions in order. */
static int64_t drop_row(lps_prune_tensor *t, int64_t j, double h)
{
    const lps_row_layout *l = &t->layout;
    const bool simple = lps_rows_simple(l);
    const int64_t base = lps_row_offset(l, j, 0);
    double sum = 0.0;
    int64_t active = 0, dropped = 0;
    for (int64_t i = 0; i < l->row_len; i++) {
        int64_t k = row_at(l, simple, base, j, i);
        bool on = t->mask[k] != 0;
        sum += on ? fabs((double)t->weight[k]) : 0.0;
        active += on;
    }
    if (active == 0)
        return 0;
    double tau = h * sum / (double)active;
    for (int64_t i = 0; i < l->row_len; i++) {
        int64_t k = row_at(l, simple, base, j, i);
        bool drop = t->mask[k] && fabs((double)t->weight[k]) < tau;
        t->mask[k] = drop ? 0 : t->mask[k];
        dropped += drop;
    }
    return dropped;
}

/* The grow step's scores of row j: |grad| / ||grad row||_2 (0 for a zero
 * row), written at the row's offsets of score. */
static void grow_score_row(const lps_prune_tensor *t, int64_t j, float *score)
{
    const lps_row_layout *l = &t->layout;
    const bool simple = lps_rows_simple(l);
    const int64_t base = lps_row_offset(l, j, 0);
    double sq = 0.0;
    for (int64_t i = 0; i < l->row_len; i++) {
        double g = t->grad[row_at(l, simple, base, j, i)];
        sq += g * g;
    }
    double inv = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
    for (int64_t i = 0; i < l->row_len; i++) {
        int64_t o = row_at(l, simple, base, j, i);
        score[o] = (float)(fabs((double)t->grad[o]) * inv);
    }
}

/* A drop step (score NULL) or the grow step's scores over rows, cut into
 * chunks of rows; every row is computed alone, so the result is the same
 * at any cut. */
typedef struct row_pass {
    lps_prune_tensor *t;
    double h;
    float *score;
    int64_t dropped[ROW_PASS_MAX_CHUNKS];
} row_pass;

static void row_pass_chunk(void *arg, int chunk, int n_chunks)
{
    row_pass *job = arg;
    int64_t begin, end, dropped = 0;
    lps_par_range(job->t->layout.n_rows, chunk, n_chunks, &begin, &end);
    for (int64_t j = begin; j < end; j++) {
        if (job->score)
            grow_score_row(job->t, j, job->score);
        else
            dropped += drop_row(job->t, j, job->h);
    }
    job->dropped[chunk] = dropped;
}

/* Runs the row pass over all of job->t's rows; returns the number dropped. */
static int64_t row_pass_run(row_pass *job)
{
    int n_chunks = lps_par_chunks(job->t->layout.n_rows,
                                  (double)job->t->numel * ROW_PASS_FLOPS_PER_WEIGHT);
    if (n_chunks > ROW_PASS_MAX_CHUNKS)
        n_chunks = ROW_PASS_MAX_CHUNKS;
    lps_par_for(n_chunks, row_pass_chunk, job);
    int64_t dropped = 0;
    for (int c = 0; c < n_chunks; c++)
        dropped += job->dropped[c];
    return dropped;
}

int64_t lps_prune_drop(lps_prune_tensor *t, double h)
{
    row_pass job = {.t = t, .h = h};
    return row_pass_run(&job);
}

lps_status lps_prune_grow(lps_prune_tensor *t, int64_t k, lps_error *err)
{
    if (k <= 0)
        return LPS_OK;
    if (!t->grad)
        return lps_fail(err, LPS_ERR_INVALID, "tensor '%s': grow step needs the gradient", t->name);
    lps_status status = check_finite(t->grad, t->numel, t->name, "gradient", err);
    if (status != LPS_OK)
        return status;
    float *score = malloc((size_t)t->numel * sizeof *score);
    lps_radix_selector *s = score ? lps_radix_selector_new(err) : NULL;
    if (!s) {
        free(score);
        return lps_fail(err, LPS_ERR_NOMEM, "tensor '%s': cannot allocate grow scores", t->name);
    }
    row_pass job = {.t = t, .score = score};
    row_pass_run(&job);
    lps_select_member m = {t->mask, score, t->numel};
    lps_radix_select_flip(s, &m, 1, 0, k, 1);
    lps_radix_selector_free(s);
    free(score);
    return LPS_OK;
}

/* Grow fraction after an update of a group at sparsity s with target S. */
static double adapt_grow_fraction(double s, double target, double h, double d)
{
    double ratio = s / target;
    return s < target * (1.0 - 0.5 * h) ? (1.0 - d) * ratio : (1.0 + d) * ratio;
}

lps_status lps_semiprune_update(lps_semiprune_state *st, const lps_semiprune_config *cfg,
                                lps_prune_tensor *ts, int n, double global_target,
                                int64_t step, int64_t total_steps, lps_semiprune_stats *stats,
                                lps_error *err)
{
    lps_status status = lps_prune_check(ts, n, global_target, err);
    if (status != LPS_OK)
        return status;
    if (n != st->n_tensors)
        return lps_fail(err, LPS_ERR_INVALID,
                        "semi-pruning: state was made for %d tensors, got %d", st->n_tensors, n);
    const double h = lps_semiprune_h(cfg, step, total_steps);
    int64_t dropped = 0, grown = 0;
    for (int t = 0; t < n; t++) {
        lps_prune_tensor *x = &ts[t];
        double target = target_of(x, global_target);
        if (x->excluded || target == 0.0)
            continue;
        int own = own_group(x, LPS_ALLOC_GLOBAL);
        double gf = own ? st->grow_fraction[t] : st->pool_grow_fraction;
        int64_t d = lps_prune_drop(x, h);
        int64_t k = (int64_t)floor((double)d * gf);
        int64_t zeros = 0;
        for (int64_t i = 0; i < x->numel; i++)
            zeros += x->mask[i] == 0;
        k = k < zeros ? k : zeros;
        status = lps_prune_grow(x, k, err);
        if (status != LPS_OK)
            return status;
        dropped += d;
        grown += k;
    }
    /* adapt every group from its sparsity after this update */
    int64_t pool_zeros = 0, pool_total = 0;
    for (int t = 0; t < n; t++) {
        lps_prune_tensor *x = &ts[t];
        if (x->excluded)
            continue;
        int64_t z, all;
        lps_prune_count(x, 1, &z, &all);
        if (own_group(x, LPS_ALLOC_GLOBAL)) {
            if (x->target > 0.0)
                st->grow_fraction[t] =
                    adapt_grow_fraction((double)z / (double)all, x->target, h, cfg->d);
        } else {
            pool_zeros += z;
            pool_total += all;
        }
    }
    if (pool_total > 0 && global_target > 0.0)
        st->pool_grow_fraction = adapt_grow_fraction((double)pool_zeros / (double)pool_total,
                                                     global_target, h, cfg->d);
    if (stats) {
        stats->dropped = dropped;
        stats->grown = grown;
        stats->h = h;
        lps_prune_count(ts, n, &stats->zeros, &stats->total);
    }
    return LPS_OK;
}

/* ---- gradual magnitude pruning ---- */

lps_status lps_gmp_config_check(const lps_gmp_config *cfg, lps_error *err)
{
    if (cfg->frequency < 0)
        return lps_fail(err, LPS_ERR_INVALID, "gmp: frequency %lld must be >= 0",
                        (long long)cfg->frequency);
    if (!(cfg->begin >= 0.0 && cfg->begin < cfg->end && cfg->end <= 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "gmp: need 0 <= begin < end <= 1, got begin %g end %g",
                        cfg->begin, cfg->end);
    if (!(cfg->initial_sparsity >= 0.0 && cfg->initial_sparsity < 1.0))
        return lps_fail(err, LPS_ERR_INVALID, "gmp: initial sparsity %g outside [0, 1)",
                        cfg->initial_sparsity);
    return LPS_OK;
}

double lps_gmp_sparsity(const lps_gmp_config *cfg, double target, int64_t step,
                        int64_t total_steps)
{
    int64_t t0 = step_at(cfg->begin, total_steps);
    int64_t t1 = step_at(cfg->end, total_steps);
    if (step < t0)
        return cfg->initial_sparsity;
    if (step >= t1)
        return target;
    double r = 1.0 - (double)(step - t0) / (double)(t1 - t0);
    return target + (cfg->initial_sparsity - target) * r * r * r;
}

int lps_gmp_due(const lps_gmp_config *cfg, int64_t step, int64_t total_steps)
{
    int64_t t0 = step_at(cfg->begin, total_steps);
    int64_t t1 = step_at(cfg->end, total_steps);
    int64_t every = lps_schedule_interval(cfg->frequency, cfg->begin, cfg->end, total_steps);
    return step == t1 || (step >= t0 && step < t1 && (step - t0) % every == 0);
}

lps_status lps_gmp_update(const lps_gmp_config *cfg, lps_prune_tensor *ts, int n,
                          double global_target, lps_prune_allocation alloc, int64_t step,
                          int64_t total_steps, lps_error *err)
{
    const target_map map = {1.0, cfg, step, total_steps};
    return project_all(ts, n, global_target, alloc, PROJECT_RESET, &map, err);
}
