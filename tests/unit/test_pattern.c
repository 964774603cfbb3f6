#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/pattern.h"
#include "sparsity/prune.h"
#include "test_suite.h"

/* A conv weight [OUT, C, 3] (rows contiguous, 3 taps per channel) and a
 * Gemm transB=0 weight [IN, COLS] (column rows, strided positions). */
enum { OUT = 6, C = 8, TAPS = 3, IN = 16, COLS = 5, NC = OUT * C * TAPS, NG = IN * COLS };

static float frand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

typedef struct fixture {
    float w[NC + NG];
    uint8_t mask[NC + NG];
    lps_prune_tensor t[2];
} fixture;

static void setup(fixture *f, unsigned seed, lps_pattern p)
{
    for (int i = 0; i < NC + NG; i++)
        f->w[i] = frand(&seed);
    memset(f->mask, 1, sizeof f->mask);
    static const int64_t dc[3] = {OUT, C, TAPS}, dg[2] = {IN, COLS};
    double s = lps_pattern_sparsity(p);
    f->t[0] = (lps_prune_tensor){.name = "conv", .layout = lps_rows_unit_major(3, dc),
                                 .numel = NC, .weight = f->w, .mask = f->mask, .target = s,
                                 .pattern = p, .taps = TAPS};
    f->t[1] = (lps_prune_tensor){.name = "gemm", .layout = lps_rows_column_major(dg),
                                 .numel = NG, .weight = f->w + NC, .mask = f->mask + NC,
                                 .target = s, .pattern = p, .taps = 1};
}

/* Walks every group of t (independently of lps_pattern_position: the
 * members are channels c0..c0+m-1 at one tap) and returns the largest
 * number of masked members; *zeros gets the total. */
static int worst_group(const lps_prune_tensor *t, int64_t *zeros)
{
    const lps_row_layout *l = &t->layout;
    int64_t channels = l->row_len / t->taps;
    int worst = 0;
    *zeros = 0;
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t tap = 0; tap < t->taps; tap++)
            for (int64_t c0 = 0; c0 < channels; c0 += t->pattern.m) {
                int masked = 0;
                for (int r = 0; r < t->pattern.m; r++)
                    masked += !t->mask[lps_row_offset(l, j, (c0 + r) * t->taps + tap)];
                worst = masked > worst ? masked : worst;
                *zeros += masked;
            }
    return worst;
}

/* In every group, each kept |w| >= each masked |w|. */
static void assert_group_magnitude(const lps_prune_tensor *t)
{
    const lps_row_layout *l = &t->layout;
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t g = 0; g < l->row_len / t->pattern.m; g++) {
            float min_kept = INFINITY, max_masked = 0.0f;
            for (int r = 0; r < t->pattern.m; r++) {
                int64_t o = lps_row_offset(l, j, lps_pattern_position(t->pattern, t->taps, g, r));
                if (t->mask[o])
                    min_kept = fminf(min_kept, fabsf(t->weight[o]));
                else
                    max_masked = fmaxf(max_masked, fabsf(t->weight[o]));
            }
            ck_assert_float_ge(min_kept, max_masked);
        }
}

START_TEST(parse_accepts_n_of_m_only)
{
    lps_pattern p = {0, 0};
    ck_assert_int_eq(lps_pattern_parse("2:4", &p, NULL), LPS_OK);
    ck_assert_int_eq(p.n, 2);
    ck_assert_int_eq(p.m, 4);
    ck_assert_double_eq(lps_pattern_sparsity(p), 0.5);
    ck_assert_int_eq(lps_pattern_parse("1:8", &p, NULL), LPS_OK);
    ck_assert_double_eq(lps_pattern_sparsity(p), 0.875);
    static const char *const bad[] = {"4:4", "0:4", "2:", ":4", "2:4x", "2:33", "2-4", "", " 2:4",
                                      "-1:4", "2:+4"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        lps_error err = {0};
        p = (lps_pattern){3, 7};
        ck_assert_int_eq(lps_pattern_parse(bad[k], &p, &err), LPS_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not N:M"));
        ck_assert_int_eq(p.n, 3); /* unchanged on failure */
    }
}
END_TEST

START_TEST(fits_needs_whole_channel_groups)
{
    lps_pattern p = {2, 4};
    ck_assert(lps_pattern_fits(p, 8 * 9, 9));
    ck_assert(!lps_pattern_fits(p, 3 * 9, 9));  /* RGB input conv */
    ck_assert(!lps_pattern_fits(p, 1 * 9, 9));  /* depthwise */
    ck_assert(!lps_pattern_fits(p, 10, 1));
    ck_assert(!lps_pattern_fits((lps_pattern){0, 0}, 8, 1));
}
END_TEST

START_TEST(row_mask_keeps_the_best_of_each_group_at_each_tap)
{
    /* 8 channels x 2 taps: position c * 2 + t */
    float score[16];
    uint8_t mask[16];
    for (int c = 0; c < 8; c++) {
        score[c * 2] = (float)c;          /* tap 0: increasing */
        score[c * 2 + 1] = (float)(8 - c); /* tap 1: decreasing */
    }
    score[1] = score[3] = 100.0f; /* tap 1 ties in the first group: lower channel wins */
    score[5] = 100.0f;
    lps_pattern_row_mask((lps_pattern){2, 4}, 2, score, 16, mask);
    static const uint8_t want[16] = {0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0};
    for (int i = 0; i < 16; i++)
        ck_assert_msg(mask[i] == want[i], "position %d: %d", i, mask[i]);
}
END_TEST

START_TEST(magnitude_prune_makes_the_pattern)
{
    static const lps_pattern ps[] = {{2, 4}, {4, 8}, {1, 4}};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        fixture f;
        setup(&f, 5u + (unsigned)k, ps[k]);
        ck_assert_int_eq(lps_magnitude_prune(f.t, 2, 0.5, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
        for (int t = 0; t < 2; t++) {
            int64_t zeros;
            ck_assert_int_eq(worst_group(&f.t[t], &zeros), ps[k].m - ps[k].n);
            ck_assert_int_eq(zeros, f.t[t].numel * (ps[k].m - ps[k].n) / ps[k].m);
            assert_group_magnitude(&f.t[t]);
        }
    }
}
END_TEST

START_TEST(ramp_and_floor_stay_inside_the_pattern)
{
    fixture f;
    lps_pattern p = {2, 4};
    setup(&f, 9u, p);
    /* a GMP ramp point: 30% of the weights, no group beyond 2 zeros */
    lps_gmp_config ramp = {0.0, 0.0, 1.0, 1};
    for (int64_t step = 0; step < 10; step++) {
        ck_assert_int_eq(lps_gmp_update(&ramp, f.t, 2, 0.5, LPS_ALLOC_GLOBAL, step, 10, NULL),
                         LPS_OK);
        double s = lps_gmp_sparsity(&ramp, 0.5, step, 10);
        for (int t = 0; t < 2; t++) {
            int64_t zeros;
            ck_assert_int_le(worst_group(&f.t[t], &zeros), 2);
            ck_assert_int_eq(zeros, llround(s * (double)f.t[t].numel));
        }
    }
    /* the floor only masks more, and only in groups with room: earlier
     * unstructured drops (channels 0-2 at tap 0: 3 zeros in a group, and
     * channel 4 at tap 1) stay, and no new zero lands in a group at 2 or more */
    setup(&f, 11u, p);
    for (int j = 0; j < OUT; j++) {
        for (int c = 0; c < 3; c++)
            f.mask[j * C * TAPS + c * TAPS] = 0;
        f.mask[j * C * TAPS + 4 * TAPS + 1] = 0;
    }
    uint8_t before_mask[NC];
    memcpy(before_mask, f.mask, NC);
    int64_t before, after;
    int worst_before = worst_group(&f.t[0], &before);
    ck_assert_int_eq(worst_before, 3);
    ck_assert_int_eq(lps_project_at_least(f.t, 1, 0.5, LPS_ALLOC_GLOBAL, 0.9, NULL), LPS_OK);
    ck_assert_int_eq(worst_group(&f.t[0], &after), 3);
    ck_assert_int_eq(before, 4 * OUT);
    ck_assert_int_eq(after, llround(0.45 * NC));
    const lps_row_layout *l = &f.t[0].layout;
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t g = 0; g < l->row_len / 4; g++) {
            int was = 0, now = 0;
            for (int r = 0; r < 4; r++) {
                int64_t o = lps_row_offset(l, j, lps_pattern_position(p, TAPS, g, r));
                ck_assert(before_mask[o] || !f.mask[o]); /* never restored */
                was += !before_mask[o];
                now += !f.mask[o];
            }
            ck_assert(was >= 2 ? now == was : now <= 2);
        }
}
END_TEST

START_TEST(exact_projection_prefers_active_positions)
{
    fixture f;
    lps_pattern p = {2, 4};
    setup(&f, 13u, p);
    unsigned seed = 3u;
    for (int i = 0; i < NC + NG; i++)
        f.mask[i] = frand(&seed) > -0.1f;
    uint8_t before[NC + NG];
    memcpy(before, f.mask, sizeof before);
    ck_assert_int_eq(lps_project_to_target(f.t, 2, 0.5, LPS_ALLOC_GLOBAL, NULL), LPS_OK);
    for (int t = 0; t < 2; t++) {
        int64_t zeros;
        ck_assert_int_eq(worst_group(&f.t[t], &zeros), 2);
        ck_assert_int_eq(zeros, f.t[t].numel / 2);
    }
    /* a group with >= 2 active members keeps only previously active ones */
    const lps_row_layout *l = &f.t[0].layout;
    for (int64_t j = 0; j < l->n_rows; j++)
        for (int64_t g = 0; g < l->row_len / 4; g++) {
            int active = 0;
            int64_t o[4];
            for (int r = 0; r < 4; r++) {
                o[r] = lps_row_offset(l, j, lps_pattern_position(p, TAPS, g, r));
                active += before[o[r]];
            }
            for (int r = 0; r < 4 && active >= 2; r++)
                ck_assert(!f.mask[o[r]] || before[o[r]]);
        }
}
END_TEST

START_TEST(check_refuses_a_pattern_the_rows_do_not_fit)
{
    fixture f;
    setup(&f, 1u, (lps_pattern){2, 4});
    f.t[0].taps = 6; /* 24 positions: 4 channels of 6, fine */
    ck_assert_int_eq(lps_prune_check(f.t, 2, 0.5, NULL), LPS_OK);
    f.t[1].taps = 8; /* 16 positions: 2 channels of 8, not a multiple of 4 */
    lps_error err = {0};
    ck_assert_int_eq(lps_magnitude_prune(f.t, 2, 0.5, LPS_ALLOC_GLOBAL, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'gemm'"));
    for (int i = 0; i < NC + NG; i++)
        ck_assert_int_eq(f.mask[i], 1);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", parse_accepts_n_of_m_only, 1},
        {"core", fits_needs_whole_channel_groups, 1},
        {"core", row_mask_keeps_the_best_of_each_group_at_each_tap, 1},
        {"core", magnitude_prune_makes_the_pattern, 1},
        {"core", ramp_and_floor_stay_inside_the_pattern, 1},
        {"core", exact_projection_prefers_active_positions, 1},
        {"core", check_refuses_a_pattern_the_rows_do_not_fit, 1},
    };
    return test_run_table("pattern", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
