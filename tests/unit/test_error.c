/* Error messages stay one printable line whatever names they quote, and
 * statuses map to the documented exit codes. */
#include <check.h>
#include <stdlib.h>

#include "lpsparsify/error.h"
#include "test_suite.h"

START_TEST(control_characters_in_names_are_replaced)
{
    lps_error err;
    /* An op type taken from a hostile model: newline and a terminal escape. */
    const char *op_type = "Pad\n\x1b[2J\r\x7f";
    ck_assert_int_eq(lps_fail(&err, LPS_ERR_UNSUPPORTED, "node 'n' (%s): not supported", op_type),
                     LPS_ERR_UNSUPPORTED);
    ck_assert_str_eq(err.msg, "node 'n' (Pad??[2J?" "?): not supported");
    ck_assert_int_eq(lps_error_prefix(&err, "m\tx.onnx"), LPS_ERR_UNSUPPORTED);
    ck_assert_str_eq(err.msg, "m?x.onnx: node 'n' (Pad??[2J?" "?): not supported");
    /* Bytes above ASCII (UTF-8 names) are kept. */
    lps_fail(&err, LPS_ERR_INVALID, "tensor '%s'", "gewicht\xc3\xa4");
    ck_assert_str_eq(err.msg, "tensor 'gewicht\xc3\xa4'");
}
END_TEST

START_TEST(statuses_map_to_exit_codes)
{
    ck_assert_int_eq(lps_status_exit_code(LPS_OK), 0);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_INVALID), 2);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_UNSUPPORTED), 2);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_IO), 1);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_NOMEM), 1);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_ACCURACY), 3);
    ck_assert_int_eq(lps_status_exit_code(LPS_ERR_INTERRUPTED), 130);
}
END_TEST

int main(void)
{
    const test_entry tests[] = {
        {"core", control_characters_in_names_are_replaced, 1},
        {"core", statuses_map_to_exit_codes, 1},
    };
    return test_run_table("error", tests, TEST_COUNT(tests), TEST_DEFAULT_TIMEOUT);
}
