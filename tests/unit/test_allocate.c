#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsity/allocate.h"
#include "test_suite.h"

static const double GRID[] = {0.5, 0.7, 0.9};

static double pruned_fraction(const lps_alloc_curve *c, size_t n, const double *t)
{
    double z = 0.0, all = 0.0;
    for (size_t i = 0; i < n; i++) {
        z += (double)c[i].params * t[i];
        all += (double)c[i].params;
    }
    return z / all;
}

START_TEST(budget_is_met_exactly)
{
    static const double ca[] = {0.01, 0.02, 0.10}, cb[] = {0.05, 0.20, 0.60};
    lps_alloc_curve c[2] = {{1000, 3, GRID, ca}, {100, 3, GRID, cb}};
    double t[2];
    ck_assert_int_eq(lps_allocate_targets(c, 2, 0.6, t, NULL), LPS_OK);
    ck_assert_double_eq_tol(pruned_fraction(c, 2, t), 0.6, 1e-12);
    /* the cheap, large layer takes the budget first */
    ck_assert_double_gt(t[0], t[1]);
}
END_TEST

START_TEST(convex_curves_get_the_cheapest_grid_choice)
{
    /* equal sizes, a global target on the grid: brute force over grid
     * choices (and dense) with the same total */
    static const double ca[] = {0.00, 0.01, 0.30}, cb[] = {0.02, 0.05, 0.08},
                        cc[] = {0.01, 0.10, 0.40};
    lps_alloc_curve c[3] = {{10, 3, GRID, ca}, {10, 3, GRID, cb}, {10, 3, GRID, cc}};
    const double *costs[3] = {ca, cb, cc};
    double t[3];
    ck_assert_int_eq(lps_allocate_targets(c, 3, 0.7, t, NULL), LPS_OK);
    double got = 0.0;
    for (int i = 0; i < 3; i++) {
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (fabs(t[i] - GRID[j]) < 1e-12)
                k = j;
        ck_assert_msg(k >= 0 || t[i] == 0.0, "layer %d off the grid: %g", i, t[i]);
        got += k >= 0 ? costs[i][k] : 0.0;
    }
    double best = INFINITY;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int d = 0; d < 3; d++)
                if (fabs(GRID[a] + GRID[b] + GRID[d] - 2.1) < 1e-9)
                    best = fmin(best, ca[a] + cb[b] + cc[d]);
    ck_assert_double_eq_tol(got, best, 1e-12);
}
END_TEST

START_TEST(a_concave_step_is_taken_whole)
{
    /* layer 0 is expensive at 50% but cheap beyond: the look-ahead sees
     * that 90% costs little more than 50% */
    static const double ca[] = {0.10, 0.10, 0.11}, cb[] = {0.02, 0.15, 0.50};
    lps_alloc_curve c[2] = {{100, 3, GRID, ca}, {100, 3, GRID, cb}};
    double t[2];
    ck_assert_int_eq(lps_allocate_targets(c, 2, 0.7, t, NULL), LPS_OK);
    ck_assert_double_eq_tol(t[0], 0.9, 1e-12);
    ck_assert_double_eq_tol(t[1], 0.5, 1e-12);
}
END_TEST

START_TEST(unreachable_and_bad_curves_are_errors)
{
    static const double ca[] = {0.0, 0.1, 0.2}, bad_t[] = {0.5, 0.5, 0.9};
    lps_alloc_curve c[1] = {{100, 3, GRID, ca}};
    double t[1] = {-1.0};
    lps_error err = {0};
    ck_assert_int_eq(lps_allocate_targets(c, 1, 0.95, t, &err), LPS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "at most 0.9"));
    ck_assert_double_eq(t[0], -1.0);
    ck_assert_int_eq(lps_allocate_targets(c, 1, 0.0, t, NULL), LPS_ERR_INVALID);
    c[0].target = bad_t;
    ck_assert_int_eq(lps_allocate_targets(c, 1, 0.5, t, NULL), LPS_ERR_INVALID);
    c[0].target = GRID;
    c[0].params = 0;
    ck_assert_int_eq(lps_allocate_targets(c, 1, 0.5, t, NULL), LPS_ERR_INVALID);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", budget_is_met_exactly, 1},
        {"core", convex_curves_get_the_cheapest_grid_choice, 1},
        {"core", a_concave_step_is_taken_whole, 1},
        {"core", unreachable_and_bad_curves_are_errors, 1},
    };
    return test_run_table("allocate", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
