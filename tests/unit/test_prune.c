#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/lpsgd.h"
#include "sparsity/prune.h"
#include "test_suite.h"

/* Three tensors: a [20, 30] unit-major, a [30, 10] column-major (Gemm
 * transB=0) and a small [4, 3, 2, 2] conv. */
enum { N_T = 3, N0 = 600, N1 = 300, N2 = 48, N_ALL = N0 + N1 + N2 };

typedef struct fixture {
    float w[N_ALL];
    float g[N_ALL];
    uint8_t mask[N_ALL];
    lps_prune_tensor t[N_T];
} fixture;

static float frand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

static void setup(fixture *f, unsigned seed)
{
    for (int i = 0; i < N_ALL; i++) {
        f->w[i] = frand(&seed);
        f->g[i] = frand(&seed);
    }
    memset(f->mask, 1, sizeof f->mask);
    static const int64_t d0[2] = {20, 30}, d1[2] = {30, 10}, d2[4] = {4, 3, 2, 2};
    static const char *const names[N_T] = {"fc1", "fc2", "conv"};
    lps_row_layout layouts[N_T] = {lps_rows_unit_major(2, d0), lps_rows_column_major(d1),
                                   lps_rows_unit_major(4, d2)};
    int64_t sizes[N_T] = {N0, N1, N2};
    int64_t off = 0;
    for (int t = 0; t < N_T; t++) {
        f->t[t] = (lps_prune_tensor){.name = names[t], .layout = layouts[t], .numel = sizes[t],
                                     .weight = f->w + off, .grad = f->g + off,
                                     .mask = f->mask + off, .target = LPS_PRUNE_GLOBAL_TARGET};
        off += sizes[t];
    }
}

static int64_t zeros_of(const lps_prune_tensor *t)
{
    int64_t z = 0;
    for (int64_t i = 0; i < t->numel; i++)
        z += t->mask[i] == 0;
    return z;
}

/* Every kept |w| of the given tensors is >= every pruned |w|. */
static void assert_magnitude_split(const lps_prune_tensor *ts, int n)
{
    float min_kept = INFINITY, max_pruned = 0.0f;
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < ts[t].numel; i++) {
            float a = fabsf(ts[t].weight[i]);
            if (ts[t].mask[i])
                min_kept = fminf(min_kept, a);
            else
                max_pruned = fmaxf(max_pruned, a);
        }
    ck_assert_float_ge(min_kept, max_pruned);
}

START_TEST(global_projection_hits_exact_count)
{
    static const double targets[] = {0.0, 0.37, 0.9, 0.98, 1.0};
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        fixture f;
        setup(&f, 1u);
        ck_assert_int_eq(lps_project_to_target(f.t, N_T, targets[k], LPS_ALLOC_GLOBAL, NULL), LPS_OK);
        int64_t z, total;
        lps_prune_count(f.t, N_T, &z, &total);
        ck_assert_int_eq(total, N_ALL);
        ck_assert_int_eq(z, llround(targets[k] * N_ALL));
        assert_magnitude_split(f.t, N_T);
    }
}
END_TEST

START_TEST(per_layer_projection_hits_each_count)
{
    fixture f;
    setup(&f, 2u);
    /* the layers differ in scale, so a global threshold would not be uniform */
    for (int i = 0; i < N0; i++)
        f.w[i] *= 10.0f;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.8, LPS_ALLOC_PER_LAYER, NULL), LPS_OK);
    for (int t = 0; t < N_T; t++) {
        ck_assert_int_eq(zeros_of(&f.t[t]), llround(0.8 * f.t[t].numel));
        assert_magnitude_split(&f.t[t], 1);
    }
    fixture g;
    setup(&g, 2u);
    for (int i = 0; i < N0; i++)
        g.w[i] *= 10.0f;
    ck_assert_int_eq(lps_project_to_target(g.t, N_T, 0.8, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    ck_assert_int_lt(zeros_of(&g.t[0]), llround(0.8 * N0));
}
END_TEST

START_TEST(selection_resolves_the_low_key_bits)
{
    /* magnitudes one ulp apart share the high 15 key bits */
    fixture f;
    setup(&f, 10u);
    for (int i = 0; i < N_ALL; i++)
        f.w[i] = (i % 3 ? 1.0f : -1.0f) + (float)((i * 37) % 101) * 0x1p-23f;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.31, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    int64_t z, total;
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(z, llround(0.31 * N_ALL));
    assert_magnitude_split(f.t, N_T);
}
END_TEST

START_TEST(ties_are_broken_by_order)
{
    fixture f;
    setup(&f, 3u);
    for (int i = 0; i < N_ALL; i++)
        f.w[i] = (i % 2) ? 0.5f : -0.5f;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.5, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    for (int i = 0; i < N_ALL; i++)
        ck_assert_int_eq(f.mask[i], i < N_ALL / 2 ? 0 : 1);
    /* restoring picks the earliest among equal magnitudes too */
    memset(f.mask, 0, sizeof f.mask);
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.75, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    int64_t restored = N_ALL - llround(0.75 * N_ALL);
    for (int i = 0; i < N_ALL; i++)
        ck_assert_int_eq(f.mask[i], i < restored ? 1 : 0);
}
END_TEST

START_TEST(excluded_and_override_tensors)
{
    fixture f;
    setup(&f, 4u);
    f.t[1].excluded = 1;
    f.t[2].target = 0.5;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.9, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    ck_assert_int_eq(zeros_of(&f.t[0]), llround(0.9 * N0));
    ck_assert_int_eq(zeros_of(&f.t[1]), 0);
    ck_assert_int_eq(zeros_of(&f.t[2]), N2 / 2);
    int64_t z, total;
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(total, N0 + N2);
    ck_assert_int_eq(z, llround(0.9 * N0) + N2 / 2);
}
END_TEST

/* A capped tensor of small magnitudes (a classifier with a large fan-in)
 * that the global ranking would prune almost whole stops at the pool's
 * target; the rest of the pool takes the difference, for the projection,
 * the one-shot pruning and the GMP ramp alike. */
START_TEST(capped_tensor_stops_at_the_global_target)
{
    for (int pass = 0; pass < 3; pass++) {
        fixture f;
        setup(&f, 11u);
        for (int i = N0 + N1; i < N_ALL; i++)
            f.w[i] *= 0.01f;
        f.t[2].keep_share = 1.0;
        const lps_gmp_config gmp = {0.0, 0.2, 0.8, 0};
        const double global = 0.6, ramp = lps_gmp_sparsity(&gmp, global, 50, 100);
        const double target = pass == 2 ? ramp : global;
        lps_status st = pass == 0 ? lps_project_to_target(f.t, N_T, global, LPS_ALLOC_GLOBAL, NULL)
                        : pass == 1 ? lps_magnitude_prune(f.t, N_T, global, LPS_ALLOC_GLOBAL, NULL)
                                    : lps_gmp_update(&gmp, f.t, N_T, global, LPS_ALLOC_GLOBAL, 50,
                                                     100, NULL);
        ck_assert_int_eq(st, LPS_OK);
        ck_assert_double_gt(target, 0.3);
        ck_assert_int_eq(zeros_of(&f.t[2]), llround(target * N2));
        assert_magnitude_split(&f.t[2], 1);
        assert_magnitude_split(f.t, 2);
        int64_t z, total;
        lps_prune_count(f.t, N_T, &z, &total);
        ck_assert_int_eq(z, llround(target * N_ALL));
    }
    /* not binding: the same masks as without the cap */
    fixture a, b;
    setup(&a, 12u);
    setup(&b, 12u);
    b.t[2].keep_share = 1.0;
    ck_assert_int_eq(lps_project_to_target(a.t, N_T, 0.7, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    ck_assert_int_eq(lps_project_to_target(b.t, N_T, 0.7, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    ck_assert_int_le(zeros_of(&b.t[2]), llround(0.7 * N2));
    ck_assert_mem_eq(a.mask, b.mask, N_ALL);
}
END_TEST

/* A layer keeping a share of the pool's density (every layer but the
 * classifier) that the ranking would empty stops at 1 - share (1 - S),
 * while a second, capped at the target, binds too; the rest of the pool
 * takes the difference. */
START_TEST(kept_share_stops_a_layer_short_of_empty)
{
    fixture f;
    setup(&f, 13u);
    for (int i = N0; i < N_ALL; i++)
        f.w[i] *= 0.01f;
    f.t[1].keep_share = 0.5;
    f.t[2].keep_share = 1.0;
    const double global = 0.6;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, global, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    ck_assert_int_eq(zeros_of(&f.t[1]), llround((1.0 - 0.5 * (1.0 - global)) * N1));
    ck_assert_int_eq(zeros_of(&f.t[2]), llround(global * N2));
    assert_magnitude_split(&f.t[1], 1);
    assert_magnitude_split(f.t, 1);
    int64_t z, total;
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(z, llround(global * N_ALL));
}
END_TEST

START_TEST(projection_keeps_the_mask_it_can)
{
    fixture f;
    setup(&f, 5u);
    /* a learned mask that is not magnitude order: prune the first 30% */
    for (int i = 0; i < N_ALL * 3 / 10; i++)
        f.mask[i] = 0;
    uint8_t before[N_ALL];
    memcpy(before, f.mask, sizeof before);
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.5, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    int64_t z, total;
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(z, llround(0.5 * N_ALL));
    for (int i = 0; i < N_ALL; i++)
        if (!before[i])
            ck_assert_int_eq(f.mask[i], 0); /* trimming never restores */
    /* now too sparse: restoring brings back the largest pruned */
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.2, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(z, llround(0.2 * N_ALL));
    /* one-shot magnitude pruning ignores the learned mask */
    ck_assert_int_eq(lps_magnitude_prune(f.t, N_T, 0.6, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(z, llround(0.6 * N_ALL));
    assert_magnitude_split(f.t, N_T);
}
END_TEST

START_TEST(floor_projection_only_masks_more)
{
    fixture f;
    setup(&f, 9u);
    f.t[2].target = 0.5; /* own group: its floor is fraction * 0.5 */
    int64_t z, total;
    /* from dense, half-way up the ramp: each group at fraction * its target */
    ck_assert_int_eq(lps_project_at_least(f.t, N_T, 0.8, LPS_ALLOC_GLOBAL, 0.5, NULL), LPS_OK);
    ck_assert_int_eq(zeros_of(&f.t[0]) + zeros_of(&f.t[1]), llround(0.4 * (N0 + N1)));
    ck_assert_int_eq(zeros_of(&f.t[2]), llround(0.25 * N2));
    assert_magnitude_split(f.t, 2);
    /* a group already above its floor keeps its mask, nothing is restored */
    for (int i = 0; i < N0; i++)
        f.mask[i] = 0;
    uint8_t before[N_ALL];
    memcpy(before, f.mask, sizeof before);
    ck_assert_int_eq(lps_project_at_least(f.t, N_T, 0.8, LPS_ALLOC_GLOBAL, 0.5, NULL), LPS_OK);
    ck_assert_int_eq(memcmp(before, f.mask, sizeof before), 0);
    /* the full ramp is the target itself */
    ck_assert_int_eq(lps_project_at_least(f.t, N_T, 0.8, LPS_ALLOC_PER_LAYER, 1.0, NULL), LPS_OK);
    for (int t = 0; t < N_T; t++) {
        double want = t == 2 ? 0.5 : 0.8;
        ck_assert_int_ge(zeros_of(&f.t[t]), llround(want * (double)f.t[t].numel));
    }
    ck_assert_int_eq(zeros_of(&f.t[1]), llround(0.8 * N1));
    lps_prune_count(f.t, N_T, &z, &total);
    ck_assert_int_eq(total, N_ALL);
    ck_assert_int_eq(lps_project_at_least(f.t, N_T, 0.8, LPS_ALLOC_GLOBAL, 1.5, NULL),
                     LPS_ERR_INVALID);
}
END_TEST

START_TEST(non_finite_weight_is_an_error_and_changes_nothing)
{
    fixture f;
    setup(&f, 6u);
    f.w[N0 + 7] = NAN;
    lps_error err;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.5, LPS_ALLOC_GLOBAL, &err), LPS_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "fc2"));
    for (int i = 0; i < N_ALL; i++)
        ck_assert_int_eq(f.mask[i], 1);
    f.w[N0 + 7] = 0.0f;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 1.5, LPS_ALLOC_GLOBAL, &err), LPS_ERR_INVALID);
    f.t[0].numel = 7;
    ck_assert_int_eq(lps_project_to_target(f.t, N_T, 0.5, LPS_ALLOC_GLOBAL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "fc1"));
}
END_TEST

START_TEST(drop_uses_row_mean_of_active_weights)
{
    /* [in=4, out=2] column layout: unit 0 is column 0 */
    float w[8] = {1.0f, 0.0f, 1.0f, 0.0f, 0.1f, 0.0f, 5.0f, 0.0f};
    uint8_t mask[8];
    memset(mask, 1, sizeof mask);
    int64_t dims[2] = {4, 2};
    lps_prune_tensor t = {.name = "w", .layout = lps_rows_column_major(dims), .numel = 8,
                          .weight = w, .mask = mask};
    /* unit 0 = {1, 1, 0.1, 5}: mean 1.775; h = 0.5 drops |w| < 0.8875 */
    ck_assert_int_eq(lps_prune_drop(&t, 0.5), 1);
    ck_assert_int_eq(mask[4], 0);
    ck_assert_int_eq(mask[0] & mask[2] & mask[6], 1);
    /* unit 1 is all zero: tau = 0 and nothing is strictly below it */
    ck_assert_int_eq(mask[1] & mask[3] & mask[5] & mask[7], 1);
    /* the mean covers active weights only: {1, 1, 5} now, mean 7/3; h = 0.45 drops 1.0 */
    ck_assert_int_eq(lps_prune_drop(&t, 0.45), 2);
    ck_assert_int_eq(mask[6], 1);
}
END_TEST

START_TEST(grow_picks_largest_row_normalised_gradient)
{
    /* two rows of 4; row 1's gradient is 100x larger but normalised away */
    float w[8] = {0};
    float g[8] = {0.1f, 0.9f, 0.2f, 0.3f, 10.0f, 20.0f, 30.0f, 95.0f};
    uint8_t mask[8] = {0, 0, 0, 1, 0, 0, 0, 1};
    int64_t dims[2] = {2, 4};
    lps_prune_tensor t = {.name = "w", .layout = lps_rows_unit_major(2, dims), .numel = 8,
                          .weight = w, .grad = g, .mask = mask};
    ck_assert_int_eq(lps_prune_grow(&t, 2, NULL), LPS_OK);
    /* normalised: row 0 -> .1/.99 .9/.99 .2/.99; row 1 -> 10/103 20/103 30/103 */
    static const uint8_t expect[8] = {0, 1, 0, 1, 0, 0, 1, 1};
    ck_assert_mem_eq(mask, expect, sizeof expect);
    ck_assert_int_eq(lps_prune_grow(&t, 100, NULL), LPS_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(mask[i], 1);
    t.grad = NULL;
    mask[0] = 0;
    ck_assert_int_eq(lps_prune_grow(&t, 1, NULL), LPS_ERR_INVALID);
}
END_TEST

START_TEST(schedule_phases_and_h)
{
    lps_semiprune_config cfg = lps_semiprune_config_default();
    ck_assert_int_eq(lps_semiprune_config_check(&cfg, NULL), LPS_OK);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 199, 1000), LPS_SEMIPRUNE_DENSE);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 200, 1000), LPS_SEMIPRUNE_UPDATE);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 201, 1000), LPS_SEMIPRUNE_ADAPT);
    /* automatic interval: a 600-step window updates every 6 steps */
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 206, 1000), LPS_SEMIPRUNE_UPDATE);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 240, 1000), LPS_SEMIPRUNE_ADAPT);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 799, 1000), LPS_SEMIPRUNE_ADAPT);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 800, 1000), LPS_SEMIPRUNE_PROJECT);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 801, 1000), LPS_SEMIPRUNE_FROZEN);
    ck_assert_double_eq_tol(lps_semiprune_h(&cfg, 200, 1000), 0.2, 1e-12);
    ck_assert_double_eq_tol(lps_semiprune_h(&cfg, 500, 1000), 0.1, 1e-12);
    ck_assert_double_eq_tol(lps_semiprune_h(&cfg, 800, 1000), 0.0, 1e-12);
    /* a short run (78 steps: window 15 .. 62) updates at every step */
    for (int64_t step = 15; step < 62; step++)
        ck_assert_int_eq(lps_semiprune_phase_at(&cfg, step, 78), LPS_SEMIPRUNE_UPDATE);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 62, 78), LPS_SEMIPRUNE_PROJECT);
    cfg.frequency = 40;
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 240, 1000), LPS_SEMIPRUNE_UPDATE);
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 206, 1000), LPS_SEMIPRUNE_ADAPT);
    cfg.frequency = -1;
    ck_assert_int_eq(lps_semiprune_config_check(&cfg, NULL), LPS_ERR_INVALID);
    cfg.frequency = 0;
    cfg.end = 1.0;
    ck_assert_int_eq(lps_semiprune_phase_at(&cfg, 999, 1000), LPS_SEMIPRUNE_PROJECT);
    cfg.begin = 1.0;
    ck_assert_int_eq(lps_semiprune_config_check(&cfg, NULL), LPS_ERR_INVALID);
}
END_TEST

/* Update with h0 = 0 (nothing dropped) to observe only the adaptation. */
static double grow_fraction_after(double sparsity, double target)
{
    fixture f;
    setup(&f, 7u);
    for (int i = 0; i < (int)llround(sparsity * N_ALL); i++)
        f.mask[i] = 0;
    lps_semiprune_config cfg = lps_semiprune_config_default();
    cfg.h0 = 0.0;
    lps_semiprune_state st;
    ck_assert_int_eq(lps_semiprune_state_init(&st, N_T, &cfg, NULL), LPS_OK);
    lps_semiprune_stats stats;
    ck_assert_int_eq(lps_semiprune_update(&st, &cfg, f.t, N_T, target, 400, 1000, &stats, NULL),
                     LPS_OK);
    ck_assert_int_eq(stats.dropped, 0);
    double gf = st.pool_grow_fraction;
    lps_semiprune_state_free(&st);
    return gf;
}

START_TEST(grow_fraction_adapts_toward_target)
{
    /* below the target: growing slows below the s/S ratio */
    ck_assert_double_eq_tol(grow_fraction_after(0.45, 0.9), 0.9 * 0.5, 1e-3);
    /* above: growth outpaces dropping */
    double above = grow_fraction_after(0.95, 0.9);
    ck_assert_double_eq_tol(above, 1.1 * 0.95 / 0.9, 1e-3);
    ck_assert_double_gt(above, 1.0);
}
END_TEST

START_TEST(semi_pruning_run_then_projection)
{
    fixture f;
    setup(&f, 8u);
    lps_semiprune_config cfg = lps_semiprune_config_default();
    lps_semiprune_state st;
    ck_assert_int_eq(lps_semiprune_state_init(&st, N_T, &cfg, NULL), LPS_OK);
    const int64_t total = 2000;
    const double target = 0.9;
    unsigned seed = 99u;
    int64_t first_dropped = -1, first_grown = -1;
    for (int64_t step = 0; step < total; step++) {
        lps_semiprune_phase ph = lps_semiprune_phase_at(&cfg, step, total);
        if (ph == LPS_SEMIPRUNE_UPDATE) {
            for (int i = 0; i < N_ALL; i++)
                f.g[i] = frand(&seed);
            lps_semiprune_stats stats;
            ck_assert_int_eq(lps_semiprune_update(&st, &cfg, f.t, N_T, target, step, total,
                                                  &stats, NULL), LPS_OK);
            if (first_dropped < 0) {
                first_dropped = stats.dropped;
                first_grown = stats.grown;
            }
        } else if (ph == LPS_SEMIPRUNE_PROJECT) {
            int64_t z, all;
            lps_prune_count(f.t, N_T, &z, &all);
            /* static weights: only the early, large-h drops stick */
            ck_assert_int_gt(z, 0);
            ck_assert_int_eq(lps_project_to_target(f.t, N_T, target, LPS_ALLOC_GLOBAL, NULL),
                             LPS_OK);
        }
    }
    /* first update: k = floor(dropped * 0.95) per tensor */
    ck_assert_int_gt(first_dropped, 0);
    ck_assert_int_le(first_grown, (int64_t)floor(first_dropped * 0.95));
    ck_assert_int_gt(first_grown, (int64_t)floor(first_dropped * 0.95) - N_T);
    int64_t z, all;
    lps_prune_count(f.t, N_T, &z, &all);
    ck_assert_int_eq(z, llround(target * N_ALL));
    lps_semiprune_state_free(&st);
    lps_semiprune_state_free(NULL);
}
END_TEST

START_TEST(schedule_interval_scales_with_the_run)
{
    /* fixed frequencies are kept */
    ck_assert_int_eq(lps_schedule_interval(40, 0.2, 0.8, 78), 40);
    /* automatic: every step below 2 * LPS_SCHEDULE_MIN_UPDATES window steps */
    ck_assert_int_eq(lps_schedule_interval(0, 0.2, 0.8, 78), 1);
    /* end = 1 clamps to the last step: a window of 2 * MIN steps */
    ck_assert_int_eq(lps_schedule_interval(0, 0.0, 1.0, 2 * LPS_SCHEDULE_MIN_UPDATES + 1), 2);
    ck_assert_int_eq(lps_schedule_interval(0, 0.0, 0.5, 2), 1);
    /* long runs: between MIN and 2 * MIN updates */
    for (int64_t total = 10; total < 100000; total = total * 3 + 1) {
        int64_t window = (int64_t)floor(0.8 * (double)total) - (int64_t)floor(0.2 * (double)total);
        int64_t every = lps_schedule_interval(0, 0.2, 0.8, total);
        ck_assert_int_ge(every, 1);
        if (every > 1) {
            ck_assert_int_ge(window / every, LPS_SCHEDULE_MIN_UPDATES);
            ck_assert_int_lt(window / every, 2 * LPS_SCHEDULE_MIN_UPDATES);
        }
    }
}
END_TEST

START_TEST(gmp_schedule_and_update)
{
    lps_gmp_config cfg = {.initial_sparsity = 0.0, .begin = 0.0, .end = 0.8, .frequency = 10};
    ck_assert_int_eq(lps_gmp_config_check(&cfg, NULL), LPS_OK);
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 0, 1000), 0.0, 1e-12);
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 400, 1000), 0.9 * (1.0 - 0.125), 1e-12);
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 800, 1000), 0.9, 1e-12);
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 999, 1000), 0.9, 1e-12);
    ck_assert(lps_gmp_due(&cfg, 0, 1000));
    ck_assert(lps_gmp_due(&cfg, 790, 1000));
    ck_assert(!lps_gmp_due(&cfg, 795, 1000));
    ck_assert(lps_gmp_due(&cfg, 800, 1000));
    ck_assert(!lps_gmp_due(&cfg, 810, 1000));
    cfg.initial_sparsity = 0.2;
    cfg.begin = 0.5;
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 100, 1000), 0.2, 1e-12);
    ck_assert_double_eq_tol(lps_gmp_sparsity(&cfg, 0.9, 650, 1000), 0.9 - 0.7 * 0.125, 1e-12);

    fixture f;
    setup(&f, 9u);
    f.t[2].target = 0.5;
    ck_assert_int_eq(lps_gmp_update(&cfg, f.t, N_T, 0.9, LPS_ALLOC_PER_LAYER, 650, 1000, NULL),
                     LPS_OK);
    double s_t = lps_gmp_sparsity(&cfg, 0.9, 650, 1000);
    ck_assert_int_eq(zeros_of(&f.t[0]), llround(s_t * N0));
    ck_assert_int_eq(zeros_of(&f.t[1]), llround(s_t * N1));
    ck_assert_int_eq(zeros_of(&f.t[2]), llround(lps_gmp_sparsity(&cfg, 0.5, 650, 1000) * N2));
    for (int t = 0; t < N_T; t++)
        assert_magnitude_split(&f.t[t], 1);
    /* global allocation: one threshold over the tensors without their own target */
    setup(&f, 11u);
    f.t[2].target = 0.5;
    for (int i = N0; i < N0 + N1; i++)
        f.w[i] *= 0.1f; /* the second tensor is much smaller: it takes most of the zeros */
    ck_assert_int_eq(lps_gmp_update(&cfg, f.t, N_T, 0.9, LPS_ALLOC_GLOBAL, 650, 1000, NULL),
                     LPS_OK);
    ck_assert_int_eq(zeros_of(&f.t[0]) + zeros_of(&f.t[1]), llround(s_t * (N0 + N1)));
    ck_assert_int_eq(zeros_of(&f.t[1]), N1);
    ck_assert_int_eq(zeros_of(&f.t[2]), llround(lps_gmp_sparsity(&cfg, 0.5, 650, 1000) * N2));
    assert_magnitude_split(f.t, 2);
}
END_TEST

START_TEST(lpsgd_tensor_through_the_packed_view)
{
    /* Gemm transB=0 weight [in = 30, out = 10]: LpSGD keeps it in row order;
     * the prune view uses the packed layout and export lands in tensor layout. */
    int64_t dims[2] = {30, 10};
    float w[N1], latent[N1], out[N1];
    unsigned seed = 21u;
    for (int i = 0; i < N1; i++)
        w[i] = frand(&seed);
    lps_lpsgd_state st;
    ck_assert_int_eq(lps_lpsgd_init(&st, w, lps_rows_column_major(dims), N1, 1.2, NULL), LPS_OK);
    lps_lpsgd_latent_weight(&st, latent);
    lps_prune_tensor t = {.name = "fc", .layout = lps_lpsgd_packed_layout(&st), .numel = N1,
                          .weight = latent, .mask = st.mask, .target = LPS_PRUNE_GLOBAL_TARGET};
    ck_assert_int_eq(lps_magnitude_prune(&t, 1, 0.7, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    lps_lpsgd_export(&st, out);
    int zeros = 0;
    float min_kept = INFINITY, max_pruned = 0.0f;
    for (int i = 0; i < N1; i++) {
        zeros += out[i] == 0.0f;
        if (out[i] == 0.0f)
            max_pruned = fmaxf(max_pruned, fabsf(w[i]));
        else
            min_kept = fminf(min_kept, fabsf(w[i]));
    }
    ck_assert_int_eq(zeros, 210);
    ck_assert_float_ge(min_kept, max_pruned); /* the same weights, in tensor layout */
    lps_lpsgd_free(&st);
}
END_TEST

/* Big enough for the selections and row passes to be cut over two
 * threads (the cut of the pool falls inside the second tensor). */
enum { BIG_ROWS0 = 100, BIG_ROWS1 = 500, BIG_LEN = 500, BIG0 = BIG_ROWS0 * BIG_LEN,
       BIG_ALL = (BIG_ROWS0 + BIG_ROWS1) * BIG_LEN, BIG_LEVELS = 16, BIG_GROW = 1000 };

typedef struct big_result {
    uint8_t pruned[BIG_ALL], dropped[BIG_ALL], grown[BIG_ALL];
    int64_t n_dropped;
} big_result;

/* Magnitude pruning to 60% over the pool, a drop and a grow step, at the
 * given thread count; magnitudes on 16 levels, so the threshold level
 * holds thousands of ties. */
static void big_selections(int threads, float *w, float *g, uint8_t *mask, big_result *r)
{
    for (int i = 0; i < BIG_ALL; i++) {
        w[i] = (float)(((int64_t)i * 7919) % BIG_LEVELS) / BIG_LEVELS - 0.5f;
        g[i] = (float)(((int64_t)i * 104729) % BIG_LEVELS) / BIG_LEVELS - 0.5f;
    }
    memset(mask, 1, BIG_ALL);
    const int64_t d0[2] = {BIG_ROWS0, BIG_LEN}, d1[2] = {BIG_ROWS1, BIG_LEN};
    lps_prune_tensor t[2] = {
        {.name = "a", .layout = lps_rows_unit_major(2, d0), .numel = BIG0, .weight = w,
         .grad = g, .mask = mask, .target = LPS_PRUNE_GLOBAL_TARGET},
        {.name = "b", .layout = lps_rows_unit_major(2, d1), .numel = BIG_ALL - BIG0,
         .weight = w + BIG0, .grad = g + BIG0, .mask = mask + BIG0,
         .target = LPS_PRUNE_GLOBAL_TARGET}};
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    ck_assert_int_eq(lps_magnitude_prune(t, 2, 0.6, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    memcpy(r->pruned, mask, BIG_ALL);
    memset(mask, 1, BIG_ALL);
    r->n_dropped = lps_prune_drop(&t[1], 0.9);
    memcpy(r->dropped, mask, BIG_ALL);
    ck_assert_int_eq(lps_prune_grow(&t[1], BIG_GROW, NULL), LPS_OK);
    memcpy(r->grown, mask, BIG_ALL);
    omp_set_num_threads(saved);
}

START_TEST(selections_do_not_depend_on_threads)
{
    float *w = malloc(BIG_ALL * sizeof *w), *g = malloc(BIG_ALL * sizeof *g);
    uint8_t *mask = malloc(BIG_ALL);
    big_result *one = malloc(sizeof *one), *two = malloc(sizeof *two);
    ck_assert(w && g && mask && one && two);
    big_selections(1, w, g, mask, one);
    big_selections(2, w, g, mask, two);
    ck_assert_int_eq(memcmp(one->pruned, two->pruned, BIG_ALL), 0);
    ck_assert_int_eq(memcmp(one->dropped, two->dropped, BIG_ALL), 0);
    ck_assert_int_eq(memcmp(one->grown, two->grown, BIG_ALL), 0);
    ck_assert_int_eq(one->n_dropped, two->n_dropped);
    ck_assert_int_gt(one->n_dropped, 0);
    /* the threshold level's ties are pruned in pool order: once one is
     * kept, every later one is */
    int64_t zeros = 0;
    float level = 0.0f;
    for (int i = 0; i < BIG_ALL; i++)
        if (!two->pruned[i]) {
            zeros++;
            level = fmaxf(level, fabsf(w[i]));
        }
    ck_assert_int_eq(zeros, llround(0.6 * BIG_ALL));
    bool kept_tie = false;
    for (int i = 0; i < BIG_ALL; i++) {
        float a = fabsf(w[i]);
        ck_assert(a < level ? !two->pruned[i] : a > level ? two->pruned[i] : true);
        if (a == level && two->pruned[i])
            kept_tie = true;
        else if (a == level)
            ck_assert_msg(!kept_tie, "tie %d pruned after a kept one", i);
    }
    ck_assert(kept_tie);
    free(w);
    free(g);
    free(mask);
    free(one);
    free(two);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", global_projection_hits_exact_count, 1},
        {"core", per_layer_projection_hits_each_count, 1},
        {"core", selection_resolves_the_low_key_bits, 1},
        {"core", ties_are_broken_by_order, 1},
        {"core", excluded_and_override_tensors, 1},
        {"core", capped_tensor_stops_at_the_global_target, 1},
        {"core", kept_share_stops_a_layer_short_of_empty, 1},
        {"core", projection_keeps_the_mask_it_can, 1},
        {"core", non_finite_weight_is_an_error_and_changes_nothing, 1},
        {"core", drop_uses_row_mean_of_active_weights, 1},
        {"core", grow_picks_largest_row_normalised_gradient, 1},
        {"core", schedule_phases_and_h, 1},
        {"core", grow_fraction_adapts_toward_target, 1},
        {"core", semi_pruning_run_then_projection, 1},
        {"core", schedule_interval_scales_with_the_run, 1},
        {"core", gmp_schedule_and_update, 1},
        {"core", floor_projection_only_masks_more, 1},
        {"core", lpsgd_tensor_through_the_packed_view, 1},
        {"core", selections_do_not_depend_on_threads, 1},
    };
    return test_run_table("prune", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
