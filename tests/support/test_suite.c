#include "test_suite.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A table that would run nothing must not pass. */
static bool table_is_valid(const char *suite, const test_entry *tests, size_t n)
{
    if (n == 0) {
        fprintf(stderr, "%s: the test table is empty\n", suite);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!tests[i].tcase || !tests[i].test || tests[i].runs < 1) {
            fprintf(stderr, "%s: test table row %zu needs a test case name, a test and runs >= 1\n",
                    suite, i);
            return false;
        }
    return true;
}

/* The TCase of row i: the one made for the first row of the same name. */
static TCase *tcase_of(Suite *s, const test_entry *tests, TCase **made, size_t i,
                       double timeout_s)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(tests[j].tcase, tests[i].tcase) == 0)
            return made[j];
    TCase *tc = tcase_create(tests[i].tcase);
    if (timeout_s > 0)
        tcase_set_timeout(tc, timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

int test_run_table(const char *suite, const test_entry *tests, size_t n, double timeout_s)
{
    if (!table_is_valid(suite, tests, n))
        return EXIT_FAILURE;
    TCase **made = malloc(n * sizeof *made);
    if (!made) {
        fprintf(stderr, "%s: out of memory building the suite\n", suite);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create(suite);
    for (size_t i = 0; i < n; i++) {
        made[i] = tcase_of(s, tests, made, i, timeout_s);
        tcase_add_loop_test(made[i], tests[i].test, 0, tests[i].runs);
    }
    free(made);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
