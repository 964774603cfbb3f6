/* The calibrated one-shot methods on single layers (docs/method.md,
 * "One-shot pruning from calibration"): Wanda's scores against a hand
 * computation, the exact per-layer count of the shared selection, and
 * SparseGPT's weight update reconstructing a layer with correlated inputs
 * better than magnitude pruning with the same count. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/oneshot.h"
#include "sparsity/select.h"
#include "test_suite.h"

/* Prunes W [2, 4] = {4, -3, 1, 0.5; 0.1, -0.1, 1, -1} with ||X_j||^2 =
 * 1, 1, 100, 1 (||X_j|| = 1, 1, 10, 1) and checks the mask against want
 * (pruned weights 0, kept ones unchanged). */
static void wanda_case(bool per_layer, double target, lps_pattern pattern, const uint8_t want[8])
{
    const float w0[8] = {4.0f, -3.0f, 1.0f, 0.5f, 0.1f, -0.1f, 1.0f, -1.0f};
    float w[8];
    uint8_t keep[8];
    const double sq_norm[4] = {1.0, 1.0, 100.0, 1.0};
    memcpy(w, w0, sizeof w);
    lps_oneshot_rows r = {.w = w, .keep = keep, .rows = 2, .cols = 4, .taps = 1,
                          .pattern = pattern, .target = target};
    lps_error err = {0};
    ck_assert_int_eq(lps_wanda_prune(&r, sq_norm, per_layer, &err), LPS_OK);
    for (int k = 0; k < 8; k++) {
        ck_assert_int_eq(keep[k], want[k]);
        ck_assert_float_eq(w[k], keep[k] ? w0[k] : 0.0f);
    }
}

/* Scores |w| * ||X_j|| are
 *   row 0: 4, 3, 10, 0.5   -> prune j = 3, 1 (magnitude alone: 3, 2)
 *   row 1: 0.1, 0.1, 10, 1 -> prune j = 0, 1 */
START_TEST(wanda_scores_by_hand)
{
    wanda_case(false, 0.5, (lps_pattern){0, 0}, (const uint8_t[8]){1, 0, 1, 0, 0, 0, 1, 1});
}
END_TEST

/* Per layer the scores compete across rows: at 0.5 the four lowest are
 * 0.1, 0.1, 0.5 and 1 (row 1, j = 3); at 0.25 both are row 1's, where
 * each row alone would lose one. */
START_TEST(wanda_per_layer_group)
{
    wanda_case(true, 0.5, (lps_pattern){0, 0}, (const uint8_t[8]){1, 1, 1, 0, 0, 0, 1, 0});
    wanda_case(true, 0.25, (lps_pattern){0, 0}, (const uint8_t[8]){1, 1, 1, 1, 0, 0, 1, 1});
}
END_TEST

/* Under 2:4 each row keeps its two best of the group of four, whatever
 * the comparison group: the row-wise choice, not the per-layer one. */
START_TEST(wanda_follows_the_pattern)
{
    wanda_case(true, 0.5, (lps_pattern){2, 4}, (const uint8_t[8]){1, 0, 1, 0, 0, 0, 1, 1});
}
END_TEST

/* Runs of any length add up to round(target * numel) exactly. */
START_TEST(shares_add_up_to_the_layer_count)
{
    const double targets[3] = {0.5, 0.7, 0.93};
    for (int t = 0; t < 3; t++) {
        int64_t total = 0;
        for (int64_t start = 0; start < 1000; start += 7)
            total += lps_select_share(targets[t], start, start + 7 <= 1000 ? 7 : 1000 - start);
        ck_assert_int_eq(total, llround(targets[t] * 1000.0));
    }
    /* ties go to the lower index */
    const float score[4] = {1.0f, 1.0f, 1.0f, 2.0f};
    uint8_t keep[4];
    lps_select_run run = {.rows = 1, .len = 4, .taps = 1};
    lps_error err = {0};
    ck_assert_int_eq(lps_select_keep(score, &run, 2, keep, 4, &err), LPS_OK);
    ck_assert(keep[0] == 0 && keep[1] == 0 && keep[2] == 1 && keep[3] == 1);
    const float nan_score[2] = {1.0f, NAN};
    run.len = 2;
    ck_assert_int_eq(lps_select_keep(nan_score, &run, 1, keep, 2, &err), LPS_ERR_RUNTIME);
}
END_TEST

enum { ROWS = 8, COLS = 48, POS = 512, BASES = 6 };

static float frand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* X [POS, COLS] whose columns mix BASES common factors plus a little
 * noise: strongly correlated inputs, as after a convolution. Returns X^T X. */
static float *correlated_xxt(unsigned seed)
{
    float *x = malloc(sizeof(float) * POS * COLS), *mix = malloc(sizeof(float) * BASES * COLS);
    float *xxt = calloc(COLS * COLS, sizeof(float));
    ck_assert(x && mix && xxt);
    for (int k = 0; k < BASES * COLS; k++)
        mix[k] = frand(&seed);
    for (int p = 0; p < POS; p++) {
        float base[BASES];
        for (int b = 0; b < BASES; b++)
            base[b] = frand(&seed);
        for (int j = 0; j < COLS; j++) {
            float v = 0.05f * frand(&seed);
            for (int b = 0; b < BASES; b++)
                v += base[b] * mix[b * COLS + j];
            x[p * COLS + j] = v;
        }
    }
    for (int p = 0; p < POS; p++)
        for (int i = 0; i < COLS; i++)
            for (int j = 0; j < COLS; j++)
                xxt[i * COLS + j] += x[p * COLS + i] * x[p * COLS + j];
    free(x);
    free(mix);
    return xxt;
}

static double recon(const float *w0, const float *w, const float *xxt)
{
    double num2, den2;
    lps_oneshot_recon_terms(w0, w, ROWS, COLS, xxt, &num2, &den2);
    return sqrt(num2 / den2);
}

/* Magnitude and SparseGPT under the same pattern (m == 0: unstructured):
 * SparseGPT keeps the count (every group of 4 at 2 zeros under 2:4) and
 * reconstructs the layer clearly better. */
static void sparsegpt_vs_magnitude(lps_pattern pattern)
{
    unsigned seed = 99;
    float *xxt = correlated_xxt(seed);
    float w0[ROWS * COLS], mag[ROWS * COLS], gpt[ROWS * COLS], score[ROWS * COLS];
    uint8_t keep[ROWS * COLS];
    lps_error err = {0};
    for (int k = 0; k < ROWS * COLS; k++)
        w0[k] = frand(&seed);
    memcpy(mag, w0, sizeof w0);
    memcpy(gpt, w0, sizeof w0);
    for (int k = 0; k < ROWS * COLS; k++)
        score[k] = fabsf(w0[k]);
    lps_select_run run = {.rows = ROWS, .len = COLS, .taps = 1, .pattern = pattern};
    ck_assert_int_eq(lps_select_keep(score, &run, ROWS * COLS / 2, keep, COLS, &err), LPS_OK);
    for (int k = 0; k < ROWS * COLS; k++)
        if (!keep[k])
            mag[k] = 0.0f;
    /* blocks of 16 columns: the lazy update across blocks is exercised */
    lps_sparsegpt_config cfg = {16, LPS_SPARSEGPT_DEFAULT_DAMP};
    lps_oneshot_rows r = {.w = gpt, .keep = keep, .rows = ROWS, .cols = COLS, .taps = 1,
                          .pattern = pattern, .target = 0.5};
    ck_assert_int_eq(lps_sparsegpt_prune(&r, xxt, POS, &cfg, &err), LPS_OK);
    int zeros = 0;
    for (int k = 0; k < ROWS * COLS; k++) {
        zeros += gpt[k] == 0.0f;
        ck_assert(keep[k] || gpt[k] == 0.0f);
    }
    ck_assert_int_eq(zeros, ROWS * COLS / 2);
    for (int g = 0; lps_pattern_on(pattern) && g < ROWS * COLS / 4; g++)
        ck_assert_int_eq((gpt[4 * g] == 0.0f) + (gpt[4 * g + 1] == 0.0f) + (gpt[4 * g + 2] == 0.0f) +
                             (gpt[4 * g + 3] == 0.0f), 2);
    double e_mag = recon(w0, mag, xxt), e_gpt = recon(w0, gpt, xxt);
    /* the OBS update compensates a good part of the error (0.10 vs 0.17 here) */
    ck_assert_msg(e_gpt < 0.75 * e_mag, "sparsegpt %g vs magnitude %g", e_gpt, e_mag);
    free(xxt);
}

START_TEST(sparsegpt_reconstructs_better_than_magnitude)
{
    sparsegpt_vs_magnitude((lps_pattern){0, 0});
}
END_TEST

START_TEST(sparsegpt_reconstructs_better_under_2_4)
{
    sparsegpt_vs_magnitude((lps_pattern){2, 4});
}
END_TEST

/* A Hessian LAPACK cannot factor (non-finite activations) is an error. */
START_TEST(sparsegpt_refuses_a_non_finite_hessian)
{
    float xxt[4] = {1.0f, NAN, NAN, 1.0f}, w[2] = {1.0f, 2.0f};
    uint8_t keep[2];
    lps_sparsegpt_config cfg = {LPS_SPARSEGPT_DEFAULT_BLOCK, LPS_SPARSEGPT_DEFAULT_DAMP};
    lps_oneshot_rows r = {.w = w, .keep = keep, .rows = 1, .cols = 2, .taps = 1, .target = 0.5};
    lps_error err = {0};
    ck_assert_int_ne(lps_sparsegpt_prune(&r, xxt, 4, &cfg, &err), LPS_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "Hessian"));
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", wanda_scores_by_hand, 1},
        {"core", wanda_per_layer_group, 1},
        {"core", shares_add_up_to_the_layer_count, 1},
        {"core", wanda_follows_the_pattern, 1},
        {"core", sparsegpt_reconstructs_better_than_magnitude, 1},
        {"core", sparsegpt_reconstructs_better_under_2_4, 1},
        {"core", sparsegpt_refuses_a_non_finite_hessian, 1},
    };
    return test_run_table("oneshot", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
