/* A test binary's main(): its Check tests as one table, run with an exit
 * status that is non-zero whenever a test fails.
 *
 * Each row names the test case (TCase) its test runs in and how many times
 * it runs. Rows with the same test case name form one TCase, created in the
 * order the names first appear; runs N > 1 is a loop test over _i = 0..N-1
 * (tcase_add_loop_test), runs 1 a plain test (tcase_add_test). */
#ifndef LPS_TEST_SUITE_H
#define LPS_TEST_SUITE_H

#include <check.h>
#include <stddef.h>

typedef struct test_entry {
    const char *tcase;
    const TTest *test;
    int runs;
} test_entry;

#define TEST_COUNT(table) (sizeof(table) / sizeof((table)[0]))
/* timeout_s for test_run_table: CK_DEFAULT_TIMEOUT (ctest sets it) applies. */
#define TEST_DEFAULT_TIMEOUT 0.0

/* Builds the suite named suite from tests[0..n), runs it once (CK_NORMAL;
 * CK_FORK and the timeouts come from the environment) and frees it.
 * timeout_s > 0 is every test case's timeout (tcase_set_timeout, scaled by
 * CK_TIMEOUT_MULTIPLIER as usual). Returns EXIT_SUCCESS only when every test
 * ran and passed; EXIT_FAILURE when one failed, errored or timed out, and
 * also, with a line on stderr naming the suite, when the table is empty or
 * a row has no test, no test case name or runs < 1. */
int test_run_table(const char *suite, const test_entry *tests, size_t n, double timeout_s);

#endif
